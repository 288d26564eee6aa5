import { constants } from 'node:os';
import { RetryableError } from '../../errors.js';

/**
 * Errors of a write, classified by what the writer must do. Only what may pass later is retried;
 * everything else is a bad row, isolated by splitting its batch and set aside in ingest_rejects, so
 * that no error can stop a feed by being retried forever.
 *
 * - `retry`: the database or the connection to it is away or busy, and the same rows may pass later:
 *   - our own RetryableError (e.g. migrations not applied yet);
 *   - a SQLSTATE of class 08 (connection), 40 (serialization failure, deadlock), 53 (insufficient
 *     resources: disk full, out of memory, too many connections), 57 (operator intervention: admin
 *     or crash shutdown, cannot connect now, statement timeout), 58 (system error: I/O), or 55P03 /
 *     55006 (a lock or object in use);
 *   - a socket error (ECONNREFUSED, ECONNRESET, ETIMEDOUT, a DNS failure …);
 *   - the errors the pg driver raises itself, without a SQLSTATE, when a connection is lost or slow.
 * - `bad_row`: everything else: any other SQLSTATE (22 data exception such as 22P05, a \u0000 in
 *   JSON; 23 integrity; 54 program limit …) and any other error (e.g. a RangeError from encoding a
 *   payload nested too deep), which the same rows would meet again on every attempt.
 */
export type PgErrorAction = 'bad_row' | 'retry';

const RETRYABLE_CLASSES = new Set(['08', '40', '53', '57', '58']);
const RETRYABLE_STATES = new Set(['55P03', '55006']);
/** Socket and DNS errors: the errno names, plus getaddrinfo's codes (not errno values). */
const NETWORK_CODES = new Set([...Object.keys(constants.errno), 'ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL']);
/** Messages of the pg driver's own connection errors (pg and pg-pool raise them with no code). */
const DRIVER_CONNECTION_ERROR =
  /^(Connection terminated|Query read timeout|timeout exceeded when trying to connect|timeout expired|Client has encountered a connection error|Client was closed and is not queryable|Received unexpected \w+ message from backend)/;
const SQLSTATE = /^[0-9A-Z]{5}$/;

export function classifyPgError(error: unknown): PgErrorAction {
  if (typeof error !== 'object' || error === null) return 'bad_row';
  if (error instanceof RetryableError) return 'retry'; // ours, e.g. MigrationsPendingError
  const code = 'code' in error ? String(error.code) : '';
  if (NETWORK_CODES.has(code)) return 'retry';
  if (SQLSTATE.test(code)) return RETRYABLE_CLASSES.has(code.slice(0, 2)) || RETRYABLE_STATES.has(code) ? 'retry' : 'bad_row';
  const message = error instanceof Error ? error.message : '';
  return DRIVER_CONNECTION_ERROR.test(message) ? 'retry' : 'bad_row';
}
