import { describe, expect, it } from 'vitest';
import { classifyWriteError } from '../../src/core/db/pg-errors.js';
import { MigrationsPendingError } from '../../src/core/db/migrate.js';

const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('classifyWriteError: whose fault a write error is', () => {
  it.each([
    ['08006 connection failure', withCode('08006')],
    ['40001 serialization failure', withCode('40001')],
    ['40P01 deadlock', withCode('40P01')],
    ['53100 disk full', withCode('53100')],
    ['57P01 admin shutdown', withCode('57P01')],
    ['57014 statement timeout or cancel', withCode('57014')],
    ['58030 I/O error', withCode('58030')],
    ['55P03 lock not available', withCode('55P03')],
    ['55006 object in use', withCode('55006')],
    ['25P02 transaction aborted by an earlier error (a cancel)', withCode('25P02')],
    ['ECONNREFUSED', withCode('ECONNREFUSED')],
    ['ECONNRESET', withCode('ECONNRESET')],
    ['EPIPE', withCode('EPIPE')],
    ['ENOTFOUND (DNS)', withCode('ENOTFOUND')],
    ['pg: Connection terminated unexpectedly', new Error('Connection terminated unexpectedly')],
    ['pg: Query read timeout', new Error('Query read timeout')],
    ['pg-pool: timeout exceeded when trying to connect', new Error('timeout exceeded when trying to connect')],
    ['pg-pool: Connection terminated due to connection timeout', new Error('Connection terminated due to connection timeout')],
    ['migrations not applied yet', new MigrationsPendingError()],
  ])('transient: %s', (_name, error) => {
    expect(classifyWriteError(error).scope).toBe('transient');
  });

  it.each([
    ['25006 read-only transaction (a failover)', '25006'],
    ['42501 insufficient privilege', '42501'],
    ['42P01 undefined table', '42P01'],
    ['42703 undefined column', '42703'],
    ['42883 undefined function', '42883'],
    ['28P01 invalid password', '28P01'],
    ['28000 invalid authorization', '28000'],
    ['3D000 no such database', '3D000'],
  ])('database refusing, never the rows: %s', (_name, code) => {
    expect(classifyWriteError(withCode(code))).toEqual({ scope: 'refusing', sqlstate: code });
  });

  it.each([
    ['22P05 NUL in JSON', withCode('22P05')],
    ['22021 invalid byte sequence', withCode('22021')],
    ['23505 unique violation', withCode('23505')],
    ['54000 program limit (nesting too deep)', withCode('54000')],
    ['a RangeError from encoding', new RangeError('Maximum call stack size exceeded')],
  ])("the row's: %s", (_name, error) => {
    expect(classifyWriteError(error).scope).toBe('row');
  });

  it.each([
    ['XX000 internal error', withCode('XX000')],
    ['42P10 invalid column reference', withCode('42P10')],
    ['a TypeError', new TypeError('Cannot read properties of undefined')],
    ['a Node error code that is not a socket error', withCode('ERR_OUT_OF_RANGE')],
    ['a thrown string', 'boom'],
    ['null', null],
  ])('unknown, for the canary to decide: %s', (_name, error) => {
    expect(classifyWriteError(error).scope).toBe('unknown');
  });
});
