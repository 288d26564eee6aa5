import { describe, expect, it } from 'vitest';
import { classifyPgError } from '../../src/core/db/pg-errors.js';

const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('classifyPgError: only what may pass later is retried', () => {
  it.each([
    ['08006 connection failure', withCode('08006')],
    ['40001 serialization failure', withCode('40001')],
    ['40P01 deadlock', withCode('40P01')],
    ['53100 disk full', withCode('53100')],
    ['57P01 admin shutdown', withCode('57P01')],
    ['57014 statement timeout', withCode('57014')],
    ['58030 I/O error', withCode('58030')],
    ['55P03 lock not available', withCode('55P03')],
    ['ECONNREFUSED', withCode('ECONNREFUSED')],
    ['ECONNRESET', withCode('ECONNRESET')],
    ['EPIPE', withCode('EPIPE')],
    ['ENOTFOUND (DNS)', withCode('ENOTFOUND')],
    ['pg: Connection terminated unexpectedly', new Error('Connection terminated unexpectedly')],
    ['pg: Query read timeout', new Error('Query read timeout')],
    ['pg-pool: timeout exceeded when trying to connect', new Error('timeout exceeded when trying to connect')],
    ['pg-pool: Connection terminated due to connection timeout', new Error('Connection terminated due to connection timeout')],
  ])('retries %s', (_name, error) => {
    expect(classifyPgError(error)).toBe('retry');
  });

  it.each([
    ['22P05 NUL in JSON', withCode('22P05')],
    ['22021 invalid byte sequence', withCode('22021')],
    ['23505 unique violation', withCode('23505')],
    ['54000 program limit', withCode('54000')],
    ['42P01 undefined table', withCode('42P01')],
    ['XX000 internal error', withCode('XX000')],
    ['a RangeError from encoding', new RangeError('Maximum call stack size exceeded')],
    ['a TypeError', new TypeError('Cannot read properties of undefined')],
    ['a Node error code that is not a socket error', withCode('ERR_OUT_OF_RANGE')],
    ['a thrown string', 'boom'],
    ['null', null],
  ])('sets aside %s as a bad row', (_name, error) => {
    expect(classifyPgError(error)).toBe('bad_row');
  });
});
