import { makeReject } from '../../core/ingest/reject.js';
import { isListingId, type ParsedFrame } from './listing-event.js';
import { normalizeObjectId, objectIdTimeMs } from './object-id.js';
import { ReceivedElement, ReceivedFrame } from './received.js';
import { scanFrame } from './scanner.js';

/**
 * Pure parser for backpack.tf events frames: raw frame in, listing events, notices and rejects out.
 * Never throws. Accepts a JSON array of events (the batched format) or a single event object (the
 * old event-per-frame format); an empty frame yields nothing.
 *
 * Two paths, one behaviour:
 * - The fast path (scanner.ts; frames received as bytes, the daemon's case) scans the UTF-8 bytes once
 *   without building the events' object trees: it checks that the whole frame is valid JSON, reads the
 *   few fields the pipeline needs, and keeps each payload as the bytes received (`ListingEvent.raw`),
 *   so the writer can hand them to Postgres without parsing and re-serializing them. `payload` is then
 *   parsed only if someone reads it. It accepts only frames made entirely of well-formed listing events.
 * - Anything else (a string, invalid JSON or UTF-8, other events, a bad id or payload, an escaped key,
 *   a number JSON.stringify might write differently) goes to the JSON.parse path below, which defines
 *   the behaviour. For every frame it accepts, the fast path gives the same events, and the payload
 *   stored from its bytes is the same JSON value (see skipNumber in scanner.ts for the one nuance).
 */

export const SOURCE = 'bptf';

/**
 * Both spellings: one public client quotes the docs as `client-limit-exceeeded`. These are also the
 * known values of the `event` label of tributary_events_ignored_total; any other name counts as `other`.
 */
export const LIMIT_EVENTS: ReadonlySet<string> = new Set(['client-limit-exceeded', 'client-limit-exceeeded', 'buffer-limit-exceeded']);

export function parseBptfFrame(data: Buffer | string, receivedAt = Date.now()): ParsedFrame {
  if (typeof data !== 'string') {
    const fast = scanFrame(data);
    if (fast) return fast;
  }
  return parseFrameSlow(data, receivedAt);
}

// -- the JSON.parse path (defines the behaviour) ----------------------------------------------

/** The JSON.parse path alone, whatever `data` is (exported so tests can hold the fast path to it). */
export function parseFrameSlow(data: Buffer | string, receivedAt = Date.now()): ParsedFrame {
  const out: ParsedFrame = { listings: [], notices: [], rejects: [] };
  const text = typeof data === 'string' ? data : data.toString('utf8');
  if (text.trim().length === 0) return out;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    out.rejects.push(makeReject(SOURCE, `invalid JSON: ${(error as Error).message}`, text, receivedAt));
    return out;
  }
  // Each event's text as received, found only if a reject or a refused row asks for it.
  const frame = new ReceivedFrame(text);
  if (Array.isArray(json)) {
    for (let i = 0; i < json.length; i++) parseEvent(json[i], new ReceivedElement(frame, i), out, receivedAt);
  } else if (json !== null && typeof json === 'object') {
    parseEvent(json, new ReceivedElement(frame, 0), out, receivedAt);
  } else {
    out.rejects.push(makeReject(SOURCE, 'frame is neither an array nor an object', text, receivedAt));
  }
  return out;
}

function parseEvent(element: unknown, received: ReceivedElement, out: ParsedFrame, receivedAt: number): void {
  // A reject keeps the element's text as received and, when it has a well-formed id, that id.
  const reject = (reason: string, eventId?: string) => out.rejects.push(makeReject(SOURCE, reason, received.receivedText(), receivedAt, eventId));
  if (element === null || typeof element !== 'object' || Array.isArray(element)) {
    reject('event is not an object');
    return;
  }
  const e = element as Record<string, unknown>;
  const eventId = normalizeObjectId(e.id);
  const event = e.event;
  if (typeof event !== 'string') {
    reject('event has no "event" name', eventId);
    return;
  }
  if (event !== 'listing-update' && event !== 'listing-delete') {
    if (LIMIT_EVENTS.has(event)) out.notices.push({ kind: 'limit', event });
    else {
      out.notices.push({ kind: 'unknown', event: event.slice(0, 100) });
      reject(`unknown event "${event.slice(0, 100)}"`, eventId);
    }
    return;
  }
  if (!eventId) {
    reject('event id is not a 24-hex ObjectId');
    return;
  }
  const payload = e.payload;
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
    reject('payload is not an object', eventId);
    return;
  }
  const p = payload as Record<string, unknown>;
  const listingId = p.id;
  if (!isListingId(listingId)) {
    reject('payload.id is missing or not a string', eventId);
    return;
  }
  const kind = event === 'listing-update' ? 'update' : 'delete';
  // A delete may carry the whole listing or only its id; an update must carry more than its id to be useful,
  // but it is still an update of that listing, so it is kept rather than rejected.
  const partial = kind === 'delete' && Object.keys(p).every((k) => k === 'id');
  out.listings.push({ kind, eventId, eventTimeMs: objectIdTimeMs(eventId), listingId, payload: p, partial, received });
}
