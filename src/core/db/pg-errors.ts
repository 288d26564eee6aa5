import { constants } from 'node:os';
import { RetryableError } from '../../errors.js';

/**
 * The scope of a write error: whose fault it is, which decides what the writer does with the rows.
 * Blaming the rows for a database that refuses everything would turn every event into a reject (or
 * lose it when the reject cannot be stored either), so only errors that name the data are the row's.
 *
 * - `transient`: the database or the connection to it is away or busy; the same rows pass later:
 *   - our own RetryableError (e.g. migrations not applied yet);
 *   - SQLSTATE class 08 (connection), 40 (serialization failure, deadlock), 53 (insufficient
 *     resources), 57 (operator intervention: shutdown, cannot connect now, 57014 cancel or statement
 *     timeout), 58 (system error: I/O), 55P03 / 55006 (a lock or object in use);
 *   - a socket or DNS error, and the pg driver's own connection errors (no SQLSTATE).
 * - `refusing`: the database is up but refuses every write until an operator or a failover fixes
 *   it: 25006 (read-only: a failover, a demotion, a quota), 42501 (privilege), 42P01 / 42703 /
 *   42883 (a table, column or function is gone), class 28 (authentication), 3D000 (no database).
 *   The rows are not at fault: they are held and retried forever.
 * - `row`: the data itself: SQLSTATE class 22 (data exception, e.g. 22P05 a \u0000 in JSON), 23
 *   (integrity), 54 (program limit, e.g. nesting too deep), and a RangeError the client raises while
 *   encoding an event (a payload nested too deep for the encoder's stack).
 * - `unknown`: any other SQLSTATE or error: the writer asks a canary write (see BatchWriter) whether
 *   the database accepts writes at all; it decides between `refusing` and `row`.
 */
export type WriteErrorScope = 'transient' | 'refusing' | 'row' | 'unknown';

export interface ClassifiedError {
  readonly scope: WriteErrorScope;
  /** The SQLSTATE when the error carries one (e.g. '25006'). */
  readonly sqlstate?: string;
}

const TRANSIENT_CLASSES = new Set(['08', '40', '53', '57', '58']);
/** 25P02: a statement of a transaction that an earlier error (e.g. a cancel) aborted; the whole transaction is retried. */
const TRANSIENT_STATES = new Set(['55P03', '55006', '25P02']);
const REFUSING_CLASSES = new Set(['28']);
const REFUSING_STATES = new Set(['25006', '42501', '42P01', '42703', '42883', '3D000']);
const ROW_CLASSES = new Set(['22', '23', '54']);
/** Socket and DNS errors: the errno names, plus getaddrinfo's codes (not errno values). */
const NETWORK_CODES = new Set([...Object.keys(constants.errno), 'ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL']);
/** Messages of the pg driver's own connection errors (pg and pg-pool raise them with no code). */
const DRIVER_CONNECTION_ERROR =
  /^(Connection terminated|Query read timeout|timeout exceeded when trying to connect|timeout expired|Client has encountered a connection error|Client was closed and is not queryable|Received unexpected \w+ message from backend)/;
const SQLSTATE = /^[0-9A-Z]{5}$/;

export function classifyWriteError(error: unknown): ClassifiedError {
  if (typeof error !== 'object' || error === null) return { scope: 'unknown' };
  if (error instanceof RetryableError) return { scope: 'transient' }; // ours, e.g. MigrationsPendingError
  const code = 'code' in error ? String(error.code) : '';
  if (NETWORK_CODES.has(code)) return { scope: 'transient' };
  if (SQLSTATE.test(code)) {
    const cls = code.slice(0, 2);
    if (TRANSIENT_CLASSES.has(cls) || TRANSIENT_STATES.has(code)) return { scope: 'transient', sqlstate: code };
    if (REFUSING_CLASSES.has(cls) || REFUSING_STATES.has(code)) return { scope: 'refusing', sqlstate: code };
    if (ROW_CLASSES.has(cls)) return { scope: 'row', sqlstate: code };
    return { scope: 'unknown', sqlstate: code };
  }
  // The client's own encoder overflowing its stack on a deeply nested event: that event's fault.
  if (error instanceof RangeError) return { scope: 'row' };
  const message = error instanceof Error ? error.message : '';
  return DRIVER_CONNECTION_ERROR.test(message) ? { scope: 'transient' } : { scope: 'unknown' };
}

