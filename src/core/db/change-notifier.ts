import { sql, type QueryExecutorProvider } from 'kysely';
import { plainInJsonString } from '../../util/json-string.js';

/**
 * The rows of one table a write actually inserted or updated (from RETURNING, so duplicates and
 * stale events are not in it): their primary keys as text, and each one's event time (ms since
 * the epoch; null when the row has none), in the same order.
 */
export interface TableChange {
  readonly table: string;
  readonly ids: readonly string[];
  readonly eventTimesMs: readonly (number | null)[];
}

/** Postgres refuses a NOTIFY payload of 8000 bytes or more. */
export const NOTIFY_PAYLOAD_MAX_BYTES = 7_999;

/**
 * The NOTIFY payloads for one table's change: `{"table","source","ids","max_event_time"}`, as few
 * as fit under NOTIFY_PAYLOAD_MAX_BYTES each, ids in the order given. `max_event_time` is the newest
 * event time among that payload's ids (ISO 8601; null when none has one). An id too long to fit
 * in a payload even alone is left out and returned in `skipped`.
 */
export function notificationPayloads(source: string, change: TableChange): { payloads: string[]; skipped: string[] } {
  const payloads: string[] = [];
  const skipped: string[] = [];
  // The payload without ids, with the longest max_event_time text: the size every payload starts at.
  const base = Buffer.byteLength(JSON.stringify({ table: change.table, source, ids: [], max_event_time: '+000000-01-01T00:00:00.000Z' }));
  let ids: string[] = [];
  let max: number | null = null;
  let bytes = base;
  const flush = () => {
    if (ids.length === 0) return;
    const maxEventTime = max === null ? null : new Date(max).toISOString();
    payloads.push(JSON.stringify({ table: change.table, source, ids, max_event_time: maxEventTime }));
    ids = [];
    max = null;
    bytes = base;
  };
  change.ids.forEach((id, i) => {
    const size = jsonStringBytes(id) + 1; // and its comma
    if (base + size > NOTIFY_PAYLOAD_MAX_BYTES) {
      skipped.push(id);
      return;
    }
    if (bytes + size > NOTIFY_PAYLOAD_MAX_BYTES) flush();
    ids.push(id);
    bytes += size;
    const t = change.eventTimesMs[i] ?? null;
    if (t !== null && Number.isFinite(t) && (max === null || t > max)) max = t;
  });
  flush();
  return { payloads, skipped };
}

/** Bytes of `s` as a JSON string. Counted for a plain ASCII id (the common case) without writing it: a batch has thousands. */
function jsonStringBytes(s: string): number {
  for (let i = 0; i < s.length; i++) if (!plainInJsonString(s.charCodeAt(i))) return Buffer.byteLength(JSON.stringify(s));
  return s.length + 2;
}

/**
 * Queue the payloads on `channel` in the caller's transaction: Postgres delivers them when it
 * commits and drops them when it rolls back, so a listener hears of exactly the committed changes.
 * One statement, whatever the number of payloads.
 */
export async function notify(db: QueryExecutorProvider, channel: string, payloads: readonly string[]): Promise<void> {
  if (payloads.length === 0) return;
  // The payloads as one JSON array text: the driver's text[] literal escaped every quote of each payload
  // with a regular expression (a batch's payloads are 100-300 KB of JSON).
  await sql`SELECT pg_notify(${channel}, p) FROM json_array_elements_text(${JSON.stringify(payloads)}::json) WITH ORDINALITY AS n(p, i) ORDER BY i`.execute(db);
}
