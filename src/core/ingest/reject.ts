import { randomUUID } from 'node:crypto';

/** What could not be used: becomes a row of ingest_rejects. */
export interface Reject {
  readonly source: string;
  readonly reason: string;
  /** The frame or element as received, truncated to RAW_MAX_CHARS. */
  readonly raw: string;
  readonly receivedAt: number;
  /** The upstream event's id or dedupe key, when one could be read (ingest_rejects.event_id). */
  readonly eventId?: string;
}

/**
 * A reject on its way to ingest_rejects: `key` is made once, when the reject is handed to the store
 * (FeedContext.reject), before the writer can copy it to the spool; every copy carries it (it is a
 * plain field, so it survives the spool's JSON), and the insert skips a key already stored. Parsers
 * stay pure: the key is not theirs to make.
 */
export interface StoredReject extends Reject {
  /** Unique per reject (a UUID). Absent only on a spool line written before keys existed. */
  readonly key: string;
}

export function withKey(reject: Reject): StoredReject {
  return { ...reject, key: randomUUID() };
}

/** ingest_rejects.raw keeps the first 64 KiB of a frame: enough to debug, bounded in size. */
export const RAW_MAX_CHARS = 64 * 1024;

/** Reasons and event ids are bounded too (characters): they quote input. */
const REASON_MAX_CHARS = 1000;
const EVENT_ID_MAX_CHARS = 200;

export function makeReject(source: string, reason: string, raw: string | Buffer, receivedAt = Date.now(), eventId?: string): Reject {
  const text = typeof raw === 'string' ? raw.slice(0, RAW_MAX_CHARS) : raw.subarray(0, RAW_MAX_CHARS * 4).toString('utf8').slice(0, RAW_MAX_CHARS);
  // Postgres text cannot hold NUL; keep the reject storable whatever arrived (reasons quote input too).
  const reject = { source, reason: escapeNul(reason.slice(0, REASON_MAX_CHARS)), raw: escapeNul(text).slice(0, RAW_MAX_CHARS), receivedAt };
  return eventId === undefined ? reject : { ...reject, eventId: escapeNul(eventId.slice(0, EVENT_ID_MAX_CHARS)) };
}

/** Postgres text cannot hold NUL: write it as the JSON escape instead. */
function escapeNul(text: string): string {
  return text.replaceAll('\u0000', '\\u0000');
}

const SQLSTATE = /^[0-9A-Z]{5}$/;

/**
 * Who refused a row, for `ingest_rejects.reason`: the database (the error carries a SQLSTATE), or the
 * client, which could not encode it for the database (no SQLSTATE: e.g. a RangeError from
 * JSON.stringify of a payload nested deeper than the stack). `rowKind` is the TableSpec's.
 */
export function refusalReason(rowKind: string, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : '';
  return SQLSTATE.test(code) ? `database refused the ${rowKind} (SQLSTATE ${code}): ${message}` : `client could not encode the ${rowKind}: ${message}`;
}

/**
 * JSON.stringify that never throws. Parsed JSON has no cycles, but nesting deep enough to overflow the
 * stack does occur in hostile input; the fallback must not recurse either (String([[[…]]]) would).
 */
export function safeStringify(value: unknown): string {
  try {
    return JSON.stringify(value) ?? 'undefined';
  } catch (error) {
    return `[unserialisable ${Array.isArray(value) ? 'array' : typeof value}: ${(error as Error).message}]`;
  }
}
