import type { ListingEvent, RawPayload } from './listing-event.js';
import type { Supersede } from '../../core/writer/superseded-rows.js';
import { normalizeObjectId, objectIdTimeMs } from './object-id.js';
import { ReceivedEvents, type ReceivedEvent } from './received.js';

/**
 * One listing's pending change: the newest event seen (which decides event_id, event_time and
 * deleted_at) and the newest full payload seen (which decides payload and the extracted columns).
 * The two are tracked apart because a delete may carry only `payload.id`; merging keeps the
 * newest of each, so the result does not depend on the order events arrive in.
 */
export interface ListingRow {
  readonly id: string;
  readonly eventId: string;
  readonly eventTimeMs: number;
  readonly deleted: boolean;
  /** Id of the event whose payload this is; null when only id-only deletes were seen. */
  readonly payloadEventId: string | null;
  readonly payload: Record<string, unknown>;
  /**
   * The payload as received and its extracted columns, when the parser kept them (its fast path).
   * Writers use these instead of `payload`, which is then parsed only if something reads it.
   */
  readonly raw?: RawPayload;
  /**
   * The event(s) the row came from, exactly as received, for ingest_rejects.raw if the row is refused.
   * In memory only: a row read back from the spool has none (listingsTable.describe rebuilds the event).
   */
  readonly received?: ReceivedEvent;
}

/** A row whose payload stays as received bytes until something reads `payload`. */
class RawListingRow implements ListingRow {
  #payload: Record<string, unknown> | undefined;
  constructor(
    readonly id: string,
    readonly eventId: string,
    readonly eventTimeMs: number,
    readonly deleted: boolean,
    readonly payloadEventId: string | null,
    readonly raw: RawPayload,
    readonly received?: ReceivedEvent,
  ) {}

  get payload(): Record<string, unknown> {
    const { frame, start, end } = this.raw;
    return (this.#payload ??= JSON.parse(frame.toString('utf8', start, end)) as Record<string, unknown>);
  }

  /** Serialized (e.g. to the disk spool) as the plain row: payload included, the frame not. */
  toJSON(): Omit<ListingRow, 'raw'> {
    const { id, eventId, eventTimeMs, deleted, payloadEventId, payload } = this;
    return { id, eventId, eventTimeMs, deleted, payloadEventId, payload };
  }
}

/**
 * The row as the spool keeps it (what toJSON gives plus the extracted columns; JSON.parse reads it
 * back as a plain row), built without parsing a payload kept as received: its bytes are copied in.
 * Past a memory budget the spool takes thousands of rows a second, and parsing each payload only to
 * encode it again was most of that cost. The payload comes last, so decodeListingRow can find it.
 */
export function encodeListingRow(r: ListingRow): string {
  const raw = r.raw;
  if (!raw) return JSON.stringify(r);
  const payload = raw.frame.toString('utf8', raw.start, raw.end);
  // The spool is one row per line: a payload with a raw line break (whitespace between its tokens) takes the slow way.
  if (payload.includes('\n')) return JSON.stringify(r);
  const payloadEventId = r.payloadEventId === null ? 'null' : JSON.stringify(r.payloadEventId);
  return `{"id":${JSON.stringify(r.id)},"eventId":${JSON.stringify(r.eventId)},"eventTimeMs":${r.eventTimeMs},"deleted":${r.deleted},"payloadEventId":${payloadEventId},"columns":${JSON.stringify(raw.columns)}${PAYLOAD_KEY_TEXT}${payload}}`;
}

const PAYLOAD_KEY_TEXT = ',"payload":';
const PAYLOAD_KEY = Buffer.from(PAYLOAD_KEY_TEXT);

/** The fields before the payload in a line encodeListingRow wrote. */
interface SpooledHead {
  id: unknown;
  eventId: unknown;
  eventTimeMs: unknown;
  deleted: unknown;
  payloadEventId: unknown;
  columns?: unknown;
}

/**
 * A spool line back as a row. A line encodeListingRow wrote with columns becomes a row whose payload
 * stays as bytes of the segment (only the short head is parsed): replaying a segment as parsed
 * objects took several times its size in heap. Any other line (an older version's, or a row that
 * had no raw payload) is parsed whole.
 */
export function decodeListingRow(bytes: Buffer, start: number, end: number): ListingRow {
  // A JSON string escapes every quote it holds, so the first `,"payload":` is the key itself.
  const at = bytes.indexOf(PAYLOAD_KEY, start);
  if (at > start && at < end && bytes[end - 1] === 0x7d) {
    const h = JSON.parse(`${bytes.toString('utf8', start, at)}}`) as SpooledHead;
    if (
      typeof h.id === 'string' &&
      typeof h.eventId === 'string' &&
      typeof h.eventTimeMs === 'number' &&
      typeof h.deleted === 'boolean' &&
      (h.payloadEventId === null || typeof h.payloadEventId === 'string') &&
      typeof h.columns === 'object' &&
      h.columns !== null &&
      // Lines of versions before the quote columns (2026_12_08_003) lack them: parsed whole below, their
      // columns are extracted again.
      typeof (h.columns as Partial<RawPayload['columns']>).quotable === 'boolean'
    ) {
      const raw: RawPayload = { frame: bytes, start: at + PAYLOAD_KEY.length, end: end - 1, columns: h.columns as RawPayload['columns'] };
      return new RawListingRow(h.id, h.eventId, h.eventTimeMs, h.deleted, h.payloadEventId, raw);
    }
  }
  return JSON.parse(bytes.toString('utf8', start, end)) as ListingRow;
}

export function toListingRow(e: ListingEvent): ListingRow {
  const payloadEventId = e.partial ? null : e.eventId;
  if (e.raw) return new RawListingRow(e.listingId, e.eventId, e.eventTimeMs, e.kind === 'delete', payloadEventId, e.raw, e.received);
  return {
    id: e.listingId,
    eventId: e.eventId,
    eventTimeMs: e.eventTimeMs,
    deleted: e.kind === 'delete',
    payloadEventId,
    payload: e.payload,
    received: e.received,
  };
}

/** The contract's order: (event_time, event_id), ids compared byte-wise ("C" collation). */
export function isNewerEvent(a: { eventTimeMs: number; eventId: string }, b: { eventTimeMs: number; eventId: string }): boolean {
  return a.eventTimeMs > b.eventTimeMs || (a.eventTimeMs === b.eventTimeMs && a.eventId > b.eventId);
}

/**
 * A row whose newest event carried its own payload decides both parts of the listing's state (the
 * event part and the payload part, see store.ts): any row older in both is moot once it is written.
 * Its order is its event id: a normalized ObjectId (object-id.ts) whose first 8 hex digits are the
 * event time, so that string order is the contract's (event_time, event_id) order. The id itself,
 * shared with the row, is what the writer keeps per listing: 5 MB for 50,000 listings, where a
 * padded time joined to the id took 13 MB.
 */
export const supersedeListingRows: Supersede<ListingRow> = {
  wholeOrder: (r) =>
    r.payloadEventId === r.eventId && normalizeObjectId(r.eventId) === r.eventId && objectIdTimeMs(r.eventId) === r.eventTimeMs ? r.eventId : undefined,
  isOlder: (r, order) => isNewerEvent({ eventTimeMs: objectIdTimeMs(order), eventId: order }, r) && (r.payloadEventId === null || order > r.payloadEventId),
};

export function mergeListingRows(a: ListingRow, b: ListingRow): ListingRow {
  const event = isNewerEvent(b, a) ? b : a;
  const payloadFrom = b.payloadEventId !== null && (a.payloadEventId === null || b.payloadEventId > a.payloadEventId) ? b : a;
  if (event === payloadFrom) return event;
  // Two events make this row (an id-only delete after a full payload): a refusal keeps both, in the
  // order received, as a frame the parser reads back into the same merged row.
  const received = payloadFrom.received && event.received ? new ReceivedEvents([payloadFrom.received, event.received]) : undefined;
  if (payloadFrom.raw) return new RawListingRow(a.id, event.eventId, event.eventTimeMs, event.deleted, payloadFrom.payloadEventId, payloadFrom.raw, received);
  return {
    id: a.id,
    eventId: event.eventId,
    eventTimeMs: event.eventTimeMs,
    deleted: event.deleted,
    payloadEventId: payloadFrom.payloadEventId,
    payload: payloadFrom.payload,
    received,
  };
}
