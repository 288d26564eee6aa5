import { isUtf8 } from 'node:buffer';
import { makeReject, safeStringify, type Reject } from '../../core/ingest/reject.js';
import { extractListingColumns, type ListingColumns } from './listing-row.js';
import { normalizeObjectId, objectIdTimeMs } from './object-id.js';

/**
 * Pure parser for backpack.tf events frames: raw frame in, listing events, notices and rejects out.
 * Never throws. Accepts a JSON array of events (the batched format) or a single event object (the
 * old event-per-frame format); an empty frame yields nothing.
 *
 * Two paths, one behaviour:
 * - The fast path (frames received as bytes, the daemon's case) scans the UTF-8 bytes once without
 *   building the events' object trees: it checks that the whole frame is valid JSON, reads the few
 *   fields the pipeline needs, and keeps each payload as the bytes received (`ListingEvent.raw`), so
 *   the writer can hand them to Postgres without parsing and re-serializing them. `payload` is then
 *   parsed only if someone reads it. It accepts only frames made entirely of well-formed listing events.
 * - Anything else (a string, invalid JSON or UTF-8, other events, a bad id or payload, an escaped key,
 *   a number JSON.stringify might write differently) goes to the original JSON.parse path, which
 *   defines the behaviour. For every frame it accepts, the fast path gives the same events, and the
 *   payload stored from its bytes is the same JSON value (see skipNumber for the one nuance).
 */

export const SOURCE = 'bptf';

export interface ListingEvent {
  readonly kind: 'update' | 'delete';
  /** 24 lower-case hex characters. */
  readonly eventId: string;
  /** From the id's first 4 bytes, ms since the epoch. */
  readonly eventTimeMs: number;
  readonly listingId: string;
  /** The listing as received. For a delete that carries only `payload.id`, `partial` is true. */
  readonly payload: Record<string, unknown>;
  readonly partial: boolean;
  /** Set by the fast path: the payload exactly as received, and the columns extracted from it. */
  readonly raw?: RawPayload;
}

/**
 * A payload kept as received: bytes [start, end) of `frame` (UTF-8 JSON text of the payload object),
 * and the columns extracted from it. Offsets rather than a Buffer view: one object less per event.
 * No `currencies`: the writer reads that column from the stored payload.
 */
export interface RawPayload {
  readonly frame: Buffer;
  readonly start: number;
  readonly end: number;
  readonly columns: RawColumns;
}

export type RawColumns = Omit<ListingColumns, 'currencies'>;

/** The payload's JSON text as a string. */
export function rawPayloadText(raw: RawPayload): string {
  return raw.frame.toString('utf8', raw.start, raw.end);
}

/** A well-formed event that is not a listing. `limit` events mean the server wants us to reconnect. */
export interface Notice {
  readonly kind: 'limit' | 'unknown';
  readonly event: string;
}

export interface ParsedFrame {
  readonly listings: ListingEvent[];
  readonly notices: Notice[];
  readonly rejects: Reject[];
}

/** Both spellings: one public client quotes the docs as `client-limit-exceeeded`. */
const LIMIT_EVENTS = new Set(['client-limit-exceeded', 'client-limit-exceeeded', 'buffer-limit-exceeded']);

export function parseBptfFrame(data: Buffer | string, receivedAt = Date.now()): ParsedFrame {
  if (typeof data !== 'string') {
    const fast = scanFrame(data);
    if (fast) return fast;
  }
  return parseFrameSlow(data, receivedAt);
}

// -- the JSON.parse path (defines the behaviour) ----------------------------------------------

function parseFrameSlow(data: Buffer | string, receivedAt: number): ParsedFrame {
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
  if (Array.isArray(json)) {
    for (const element of json) parseEvent(element, out, receivedAt);
  } else if (json !== null && typeof json === 'object') {
    parseEvent(json, out, receivedAt);
  } else {
    out.rejects.push(makeReject(SOURCE, 'frame is neither an array nor an object', text, receivedAt));
  }
  return out;
}

function parseEvent(element: unknown, out: ParsedFrame, receivedAt: number): void {
  if (element === null || typeof element !== 'object' || Array.isArray(element)) {
    out.rejects.push(makeReject(SOURCE, 'event is not an object', safeStringify(element), receivedAt));
    return;
  }
  const e = element as Record<string, unknown>;
  const event = e.event;
  if (typeof event !== 'string') {
    out.rejects.push(makeReject(SOURCE, 'event has no "event" name', safeStringify(e), receivedAt));
    return;
  }
  if (event !== 'listing-update' && event !== 'listing-delete') {
    if (LIMIT_EVENTS.has(event)) out.notices.push({ kind: 'limit', event });
    else {
      out.notices.push({ kind: 'unknown', event: event.slice(0, 100) });
      out.rejects.push(makeReject(SOURCE, `unknown event "${event.slice(0, 100)}"`, safeStringify(e), receivedAt));
    }
    return;
  }
  const eventId = normalizeObjectId(e.id);
  if (!eventId) {
    out.rejects.push(makeReject(SOURCE, 'event id is not a 24-hex ObjectId', safeStringify(e), receivedAt));
    return;
  }
  const payload = e.payload;
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
    out.rejects.push(makeReject(SOURCE, 'payload is not an object', safeStringify(e), receivedAt));
    return;
  }
  const p = payload as Record<string, unknown>;
  const listingId = p.id;
  if (!isListingId(listingId)) {
    out.rejects.push(makeReject(SOURCE, 'payload.id is missing or not a string', safeStringify(e), receivedAt));
    return;
  }
  const kind = event === 'listing-update' ? 'update' : 'delete';
  // A delete may carry the whole listing or only its id; an update must carry more than its id to be useful,
  // but it is still an update of that listing, so it is kept rather than rejected.
  const partial = kind === 'delete' && Object.keys(p).every((k) => k === 'id');
  out.listings.push({ kind, eventId, eventTimeMs: objectIdTimeMs(eventId), listingId, payload: p, partial });
}

function isListingId(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= 512;
}

// -- the fast path ----------------------------------------------------------------------------

/** A listing event from the fast path: `payload` is parsed from the received bytes on first read. */
class ScannedListingEvent implements ListingEvent, RawPayload {
  #payload: Record<string, unknown> | undefined;
  constructor(
    readonly kind: 'update' | 'delete',
    readonly eventId: string,
    readonly eventTimeMs: number,
    readonly listingId: string,
    readonly partial: boolean,
    readonly frame: Buffer,
    readonly start: number,
    readonly end: number,
    readonly columns: RawColumns,
  ) {}

  get raw(): RawPayload {
    return this;
  }

  get payload(): Record<string, unknown> {
    return (this.#payload ??= JSON.parse(rawPayloadText(this)) as Record<string, unknown>);
  }

  /** Serialized as the JSON.parse path's event: payload included, the frame not. */
  toJSON(): Omit<ListingEvent, 'raw'> {
    const { kind, eventId, eventTimeMs, listingId, payload, partial } = this;
    return { kind, eventId, eventTimeMs, listingId, payload, partial };
  }
}

/** Thrown inside the scanner to abandon the fast path; never escapes scanFrame. */
const BAIL = new Error('bptf fast path: not a plain listing frame');

// Value types the scanner reports.
const T_ABSENT = 0;
const T_STRING = 1;
const T_NUMBER = 2;
const T_OBJECT = 3;
const T_ARRAY = 4;
const T_TRUE = 5;
const T_FALSE = 6;
const T_NULL = 7;

// Payload fields the pipeline reads (slots of Scanner#spans).
const F_ID = 0;
const F_STEAMID = 1;
const F_APPID = 2;
const F_INTENT = 3;
const F_ITEM = 4;
const F_ITEM_NAME = 5;
const F_VALUE = 6;
const F_VALUE_RAW = 7;
const F_LISTED_AT = 8;
const F_TIMESTAMP = 9;
const F_BUMPED_AT = 10;
const F_BUMP = 11;
const F_EVENT = 12;
const F_EVENT_ID = 13;
const SLOTS = 14;
/** Per slot: start, end, type, flags (1: string has escapes, 2: string has non-ASCII bytes). */
const SLOT_WIDTH = 4;

const KEY_ID = Buffer.from('id');
const KEY_STEAMID = Buffer.from('steamid');
const KEY_APPID = Buffer.from('appid');
const KEY_INTENT = Buffer.from('intent');
const KEY_ITEM = Buffer.from('item');
const KEY_VALUE = Buffer.from('value');
const KEY_LISTED_AT = Buffer.from('listedAt');
const KEY_TIMESTAMP = Buffer.from('timestamp');
const KEY_BUMPED_AT = Buffer.from('bumpedAt');
const KEY_BUMP = Buffer.from('bump');
const KEY_EVENT = Buffer.from('event');
const KEY_PAYLOAD = Buffer.from('payload');
const KEY_NAME = Buffer.from('name');
const KEY_RAW = Buffer.from('raw');
const LISTING_UPDATE = Buffer.from('listing-update');
const LISTING_DELETE = Buffer.from('listing-delete');

/** Bytes that end the fast loop inside a string: '"', '\\', control characters, non-ASCII. */
const STRING_STOP = new Uint8Array(256);
for (let c = 0; c < 256; c++) STRING_STOP[c] = c === 0x22 || c === 0x5c || c < 0x20 || c >= 0x80 ? 1 : 0;
const HEX = new Uint8Array(256);
for (const c of Buffer.from('0123456789abcdefABCDEF')) HEX[c] = 1;

/** Deepest nesting the fast path follows (JSON.parse goes deeper; deeper frames take its path). */
const MAX_DEPTH = 512;
/** Open containers ('{' or '[') of the value being skipped. Scans never overlap, so these are shared. */
const STACK = new Uint8Array(MAX_DEPTH);
/** Flags of the last string skipped (see SLOT_WIDTH). */
let stringFlags = 0;
/** Type of the last value skipped. */
let valueType = T_ABSENT;

function scanFrame(b: Buffer): ParsedFrame | undefined {
  // Invalid UTF-8 is decoded with replacement characters by the JSON.parse path; leave it that way.
  if (!isUtf8(b)) return undefined;
  try {
    return new Scanner(b).frame();
  } catch {
    // BAIL, or anything unexpected: the JSON.parse path decides.
    return undefined;
  }
}

// The scanning functions below take the bytes and a position, and return the position after what
// they consumed; they throw BAIL on anything the fast path does not accept. Out-of-range reads give
// undefined, which fails every comparison, so the end of the buffer needs few explicit checks.

function skipWs(b: Buffer, p: number): number {
  let c = b[p];
  while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = b[++p];
  return p;
}

/** The string whose opening quote is at p. Sets stringFlags. */
function skipString(b: Buffer, p: number, n: number): number {
  p++;
  let flags = 0;
  for (;;) {
    while (p < n && STRING_STOP[b[p] as number] === 0) p++;
    if (p >= n) throw BAIL;
    const c = b[p] as number;
    if (c === 0x22) {
      stringFlags = flags;
      return p + 1;
    }
    if (c === 0x5c) {
      flags |= 1;
      const d = b[p + 1];
      if (d === 0x75) {
        if (!HEX[b[p + 2] as number] || !HEX[b[p + 3] as number] || !HEX[b[p + 4] as number] || !HEX[b[p + 5] as number]) throw BAIL;
        p += 6;
      } else if (d === 0x22 || d === 0x5c || d === 0x2f || d === 0x62 || d === 0x66 || d === 0x6e || d === 0x72 || d === 0x74) {
        p += 2;
      } else throw BAIL;
    } else if (c >= 0x80) {
      flags |= 2; // valid UTF-8 (checked up front): every byte of a multi-byte character is >= 0x80
      p++;
    } else throw BAIL; // a raw control character
  }
}

/**
 * The number at p. The payload is stored from the received bytes, and it must be the jsonb the
 * JSON.parse path (parse, then JSON.stringify) would store. A number with at most 15 significant
 * digits, no exponent and no trailing fractional zero always is: JSON.stringify writes the same digits
 * (at most in exponent notation, which Postgres reads as the same numeric). 16 or 17 digits are
 * accepted as received: they are what JSON.stringify writes whenever the sender wrote them with
 * JSON.stringify or any shortest round-trip printer (checking each one cost a quarter of the daemon's
 * CPU), and in any case they read back as the same double. Anything else (an exponent, a trailing
 * fractional zero, more than 17 digits) takes the JSON.parse path.
 */
function skipNumber(b: Buffer, p: number): number {
  let c = b[p] as number;
  if (c === 0x2d) c = b[++p] as number;
  // Digits of the integer and fraction parts, and the index of the first non-zero one.
  let count = 0;
  let firstNonZero = -1;
  if (c === 0x30) {
    c = b[++p] as number;
    count++;
  } else if (c >= 0x31 && c <= 0x39) {
    do {
      if (firstNonZero < 0 && c !== 0x30) firstNonZero = count;
      count++;
      c = b[++p] as number;
    } while (c >= 0x30 && c <= 0x39);
  } else throw BAIL;
  let canonical = true;
  if (c === 0x2e) {
    c = b[++p] as number;
    if (!(c >= 0x30 && c <= 0x39)) throw BAIL;
    do {
      if (firstNonZero < 0 && c !== 0x30) firstNonZero = count;
      count++;
      c = b[++p] as number;
    } while (c >= 0x30 && c <= 0x39);
    if (b[p - 1] === 0x30) canonical = false;
  }
  if (c === 0x65 || c === 0x45) {
    canonical = false;
    c = b[++p] as number;
    if (c === 0x2b || c === 0x2d) c = b[++p] as number;
    if (!(c >= 0x30 && c <= 0x39)) throw BAIL;
    do c = b[++p] as number;
    while (c >= 0x30 && c <= 0x39);
  }
  if (!canonical || (firstNonZero >= 0 && count - firstNonZero > 17)) throw BAIL;
  return p;
}

/** The string, number or literal at p, whose first byte is c. Sets valueType. */
function skipScalar(b: Buffer, p: number, n: number, c: number): number {
  if (c === 0x22) {
    valueType = T_STRING;
    return skipString(b, p, n);
  }
  if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
    valueType = T_NUMBER;
    return skipNumber(b, p);
  }
  if (c === 0x74 && b[p + 1] === 0x72 && b[p + 2] === 0x75 && b[p + 3] === 0x65) {
    valueType = T_TRUE;
    return p + 4;
  }
  if (c === 0x66 && b[p + 1] === 0x61 && b[p + 2] === 0x6c && b[p + 3] === 0x73 && b[p + 4] === 0x65) {
    valueType = T_FALSE;
    return p + 5;
  }
  if (c === 0x6e && b[p + 1] === 0x75 && b[p + 2] === 0x6c && b[p + 3] === 0x6c) {
    valueType = T_NULL;
    return p + 4;
  }
  throw BAIL;
}

/** Any JSON value at p (validated, not built), nested containers in one loop with an explicit stack. Sets valueType. */
function skipValue(b: Buffer, p: number, n: number): number {
  const first = b[p] as number;
  if (first !== 0x7b && first !== 0x5b) return skipScalar(b, p, n, first);
  let depth = 0;
  STACK[depth++] = first;
  p++;
  let opened = true;
  for (;;) {
    let c = b[p] as number;
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = b[(p = skipWs(b, p))] as number;
    const top = STACK[depth - 1];
    if (opened && c === (top === 0x7b ? 0x7d : 0x5d)) {
      // An empty container: a complete value.
      p++;
      depth--;
    } else {
      if (top === 0x7b) {
        if (c !== 0x22) throw BAIL;
        p = skipString(b, p, n);
        if (b[p] !== 0x3a) {
          p = skipWs(b, p);
          if (b[p] !== 0x3a) throw BAIL;
        }
        c = b[++p] as number;
        if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = b[(p = skipWs(b, p))] as number;
      }
      if (c === 0x7b || c === 0x5b) {
        if (depth === MAX_DEPTH) throw BAIL;
        STACK[depth++] = c;
        p++;
        opened = true;
        continue;
      }
      p = skipScalar(b, p, n, c);
    }
    opened = false;
    // After a value: a comma continues the innermost container; closers end one or more.
    for (;;) {
      if (depth === 0) {
        valueType = first === 0x7b ? T_OBJECT : T_ARRAY;
        return p;
      }
      let d = b[p];
      if (d === 0x20 || d === 0x0a || d === 0x0d || d === 0x09) d = b[(p = skipWs(b, p))];
      p++;
      if (d === 0x2c) break;
      if (d !== (STACK[depth - 1] === 0x7b ? 0x7d : 0x5d)) throw BAIL;
      depth--;
    }
  }
}

/** The payload field a key (bytes [ks, ke), no escapes) names: its slot, or -1. */
function payloadSlot(b: Buffer, ks: number, ke: number): number {
  switch (ke - ks) {
    case 2:
      return equals(b, ks, KEY_ID) ? F_ID : -1;
    case 4:
      return equals(b, ks, KEY_ITEM) ? F_ITEM : equals(b, ks, KEY_BUMP) ? F_BUMP : -1;
    case 5:
      return equals(b, ks, KEY_APPID) ? F_APPID : equals(b, ks, KEY_VALUE) ? F_VALUE : -1;
    case 6:
      return equals(b, ks, KEY_INTENT) ? F_INTENT : -1;
    case 7:
      return equals(b, ks, KEY_STEAMID) ? F_STEAMID : -1;
    case 8:
      return equals(b, ks, KEY_LISTED_AT) ? F_LISTED_AT : equals(b, ks, KEY_BUMPED_AT) ? F_BUMPED_AT : -1;
    case 9:
      return equals(b, ks, KEY_TIMESTAMP) ? F_TIMESTAMP : -1;
    default:
      return -1;
  }
}

/** Whether bytes at `start` are `key` (the caller checked the length). */
function equals(b: Buffer, start: number, key: Buffer): boolean {
  for (let i = 0; i < key.length; i++) if (b[start + i] !== key[i]) return false;
  return true;
}

function recordSpan(spans: Int32Array, slot: number, start: number, end: number, type: number, flags: number): void {
  const i = slot * SLOT_WIDTH;
  spans[i] = start;
  spans[i + 1] = end;
  spans[i + 2] = type;
  spans[i + 3] = flags;
}

/** Whether the last payload skipped has "id" as its only key. */
let payloadOnlyId = true;

/**
 * The payload object at p: the loop of skipValue, which also records in `spans` the members the
 * pipeline reads (keys of the payload, and `name` of `item`, `raw` of `value`). The last of duplicate
 * keys wins, as in JSON.parse. Keys with escapes where keys are compared: bail.
 */
function skipPayload(b: Buffer, p: number, n: number, spans: Int32Array): number {
  for (let slot = 0; slot < F_EVENT; slot++) spans[slot * SLOT_WIDTH + 2] = T_ABSENT;
  let onlyId = true;
  // The payload member being recorded (from `outerFrom`), and inside item / value, the nested one.
  let outerSlot = -1;
  let outerFrom = -1;
  let innerKey: Buffer | undefined;
  let innerSlot = -1;
  let innerFrom = -1;
  let depth = 1;
  STACK[0] = 0x7b;
  p++;
  let opened = true;
  for (;;) {
    let c = b[p] as number;
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = b[(p = skipWs(b, p))] as number;
    const top = STACK[depth - 1];
    if (opened && c === (top === 0x7b ? 0x7d : 0x5d)) {
      p++;
      depth--;
    } else {
      if (top === 0x7b) {
        if (c !== 0x22) throw BAIL;
        const ks = p + 1;
        p = skipString(b, p, n);
        const escaped = (stringFlags & 1) !== 0;
        const ke = p - 1;
        if (b[p] !== 0x3a) {
          p = skipWs(b, p);
          if (b[p] !== 0x3a) throw BAIL;
        }
        c = b[++p] as number;
        if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = b[(p = skipWs(b, p))] as number;
        if (depth === 1) {
          if (escaped) throw BAIL;
          outerSlot = payloadSlot(b, ks, ke);
          outerFrom = outerSlot >= 0 ? p : -1;
          if (outerSlot !== F_ID) onlyId = false;
          innerKey = undefined;
          if (outerSlot === F_ITEM || outerSlot === F_VALUE) {
            // A later duplicate replaces the whole object, nested field included.
            innerSlot = outerSlot === F_ITEM ? F_ITEM_NAME : F_VALUE_RAW;
            spans[innerSlot * SLOT_WIDTH + 2] = T_ABSENT;
            if (c === 0x7b) innerKey = outerSlot === F_ITEM ? KEY_NAME : KEY_RAW;
          }
        } else if (depth === 2 && innerKey !== undefined) {
          if (escaped) throw BAIL;
          innerFrom = ke - ks === innerKey.length && equals(b, ks, innerKey) ? p : -1;
        }
      }
      if (c === 0x7b || c === 0x5b) {
        if (depth === MAX_DEPTH) throw BAIL;
        STACK[depth++] = c;
        p++;
        opened = true;
        continue;
      }
      const from = p;
      p = skipScalar(b, p, n, c);
      if (depth === 1 && outerFrom >= 0) {
        recordSpan(spans, outerSlot, from, p, valueType, valueType === T_STRING ? stringFlags : 0);
        outerFrom = -1;
      } else if (depth === 2 && innerFrom >= 0) {
        recordSpan(spans, innerSlot, from, p, valueType, valueType === T_STRING ? stringFlags : 0);
        innerFrom = -1;
      }
    }
    opened = false;
    for (;;) {
      // A container member just ended.
      if (depth === 2 && innerFrom >= 0) {
        recordSpan(spans, innerSlot, innerFrom, p, b[innerFrom] === 0x7b ? T_OBJECT : T_ARRAY, 0);
        innerFrom = -1;
      } else if (depth === 1 && outerFrom >= 0) {
        recordSpan(spans, outerSlot, outerFrom, p, b[outerFrom] === 0x7b ? T_OBJECT : T_ARRAY, 0);
        outerFrom = -1;
      }
      if (depth === 0) {
        payloadOnlyId = onlyId;
        return p;
      }
      let d = b[p];
      if (d === 0x20 || d === 0x0a || d === 0x0d || d === 0x09) d = b[(p = skipWs(b, p))];
      p++;
      if (d === 0x2c) break;
      if (d !== (STACK[depth - 1] === 0x7b ? 0x7d : 0x5d)) throw BAIL;
      depth--;
    }
  }
}

/** 10^0 .. 10^22: every one exactly a double. */
const POW10 = Array.from({ length: 23 }, (_, k) => Number(`1e${k}`));

/** One frame's scan: the event loop of the fast path, and turning recorded spans into values. */
class Scanner {
  readonly b: Buffer;
  readonly n: number;
  p = 0;
  /** Per slot: start, end, type, string flags of a recorded value. */
  readonly spans = new Int32Array(SLOTS * SLOT_WIDTH);
  // The current event's payload: bytes [payloadStart, payloadEnd), and whether its only key is "id".
  payloadStart = -1;
  payloadEnd = -1;
  onlyId = true;

  constructor(b: Buffer) {
    this.b = b;
    this.n = b.length;
  }

  frame(): ParsedFrame {
    const out: ParsedFrame = { listings: [], notices: [], rejects: [] };
    const b = this.b;
    this.p = skipWs(b, 0);
    // An empty (or only-whitespace) frame: the JSON.parse path knows which whitespace trim() removes.
    if (this.p >= this.n) throw BAIL;
    const c = b[this.p];
    if (c === 0x5b) {
      this.p = skipWs(b, this.p + 1);
      if (b[this.p] === 0x5d) this.p++;
      else {
        for (;;) {
          this.p = skipWs(b, this.p);
          out.listings.push(this.event());
          this.p = skipWs(b, this.p);
          const d = b[this.p++];
          if (d === 0x2c) continue;
          if (d === 0x5d) break;
          throw BAIL;
        }
      }
    } else if (c === 0x7b) {
      out.listings.push(this.event());
    } else throw BAIL;
    if (skipWs(b, this.p) !== this.n) throw BAIL;
    return out;
  }

  /** Skip the value at the cursor; returns its type. */
  value(): number {
    this.p = skipValue(this.b, this.p, this.n);
    return valueType;
  }

  /** The value at the cursor, recorded in `slot`. */
  record(slot: number): void {
    const s = this.spans;
    const i = slot * SLOT_WIDTH;
    s[i] = this.p;
    this.p = skipValue(this.b, this.p, this.n);
    s[i + 1] = this.p;
    s[i + 2] = valueType;
    s[i + 3] = valueType === T_STRING ? stringFlags : 0;
  }

  /** The event object at the cursor, its members recorded. Keys with escapes are not compared byte-wise: bail. */
  members(): void {
    const b = this.b;
    if (b[this.p] !== 0x7b) throw BAIL;
    let p = skipWs(b, this.p + 1);
    if (b[p] === 0x7d) {
      this.p = p + 1;
      return;
    }
    for (;;) {
      p = skipWs(b, p);
      if (b[p] !== 0x22) throw BAIL;
      const ks = p + 1;
      p = skipString(b, p, this.n);
      if (stringFlags & 1) throw BAIL;
      const ke = p - 1;
      p = skipWs(b, p);
      if (b[p] !== 0x3a) throw BAIL;
      this.p = skipWs(b, p + 1);
      this.eventMember(ks, ke);
      p = skipWs(b, this.p);
      const d = b[p++];
      if (d === 0x2c) continue;
      if (d === 0x7d) {
        this.p = p;
        return;
      }
      throw BAIL;
    }
  }

  is(start: number, end: number, key: Buffer): boolean {
    if (end - start !== key.length) return false;
    const b = this.b;
    for (let i = 0; i < key.length; i++) if (b[start + i] !== key[i]) return false;
    return true;
  }

  eventMember(ks: number, ke: number): void {
    if (this.is(ks, ke, KEY_EVENT)) this.record(F_EVENT);
    else if (this.is(ks, ke, KEY_ID)) this.record(F_EVENT_ID);
    else if (this.is(ks, ke, KEY_PAYLOAD)) {
      // The last `payload` wins, as in JSON.parse; its fields are recorded afresh.
      if (this.b[this.p] !== 0x7b) throw BAIL;
      this.payloadStart = this.p;
      this.p = skipPayload(this.b, this.p, this.n, this.spans);
      this.payloadEnd = this.p;
      this.onlyId = payloadOnlyId;
    } else this.value();
  }

  event(): ListingEvent {
    if (this.b[this.p] !== 0x7b) throw BAIL;
    const s = this.spans;
    s[F_EVENT * SLOT_WIDTH + 2] = T_ABSENT;
    s[F_EVENT_ID * SLOT_WIDTH + 2] = T_ABSENT;
    this.payloadStart = -1;
    this.members();

    const eventName = this.slotBytes(F_EVENT);
    const kind = eventName === LISTING_UPDATE ? 'update' : eventName === LISTING_DELETE ? 'delete' : undefined;
    if (!kind || this.payloadStart < 0) throw BAIL;
    const eventId = this.slotType(F_EVENT_ID) === T_STRING ? normalizeObjectId(this.slotString(F_EVENT_ID)) : undefined;
    if (!eventId) throw BAIL;
    const listingId = this.slotType(F_ID) === T_STRING ? this.slotString(F_ID) : undefined;
    if (!isListingId(listingId)) throw BAIL;

    const columns = extractListingColumns({
      steamid: this.slotValue(F_STEAMID),
      appid: this.slotValue(F_APPID),
      intent: this.slotValue(F_INTENT),
      item: this.slotType(F_ITEM) === T_OBJECT ? { name: this.slotValue(F_ITEM_NAME) } : this.slotValue(F_ITEM),
      value: this.slotType(F_VALUE) === T_OBJECT ? { raw: this.slotValue(F_VALUE_RAW) } : this.slotValue(F_VALUE),
      listedAt: this.slotValue(F_LISTED_AT),
      timestamp: this.slotValue(F_TIMESTAMP),
      bumpedAt: this.slotValue(F_BUMPED_AT),
      bump: this.slotValue(F_BUMP),
    });
    const partial = kind === 'delete' && this.onlyId;
    return new ScannedListingEvent(kind, eventId, objectIdTimeMs(eventId), listingId, partial, this.b, this.payloadStart, this.payloadEnd, columns);
  }

  slotType(slot: number): number {
    return this.spans[slot * SLOT_WIDTH + 2] as number;
  }

  /** A recorded plain string's bytes compared with listing event names; undefined for anything else. */
  slotBytes(slot: number): Buffer | undefined {
    const i = slot * SLOT_WIDTH;
    const s = this.spans;
    if (s[i + 2] !== T_STRING || s[i + 3] !== 0) return undefined;
    const start = (s[i] as number) + 1;
    const end = (s[i + 1] as number) - 1;
    if (this.is(start, end, LISTING_UPDATE)) return LISTING_UPDATE;
    if (this.is(start, end, LISTING_DELETE)) return LISTING_DELETE;
    return undefined;
  }

  slotString(slot: number): string {
    const i = slot * SLOT_WIDTH;
    const s = this.spans;
    const start = s[i] as number;
    const end = s[i + 1] as number;
    const flags = s[i + 3] as number;
    if (flags & 1) return JSON.parse(this.b.toString('utf8', start, end)) as string;
    return this.b.toString(flags & 2 ? 'utf8' : 'latin1', start + 1, end - 1);
  }

  /**
   * The number in bytes [start, end) (validated by skipNumber: no exponent). With at most 15
   * significant digits and 22 decimals, mantissa / 10^decimals is exact in both operands, so the one
   * rounding of the division gives what Number(text) gives; otherwise Number(text).
   */
  slotNumber(start: number, end: number): number {
    const b = this.b;
    let p = start;
    const negative = b[p] === 0x2d;
    if (negative) p++;
    let mantissa = 0;
    let digits = 0;
    let decimals = -1;
    for (; p < end; p++) {
      const c = b[p] as number;
      if (c === 0x2e) decimals = 0;
      else {
        mantissa = mantissa * 10 + (c - 0x30);
        if (mantissa !== 0) digits++;
        if (decimals >= 0) decimals++;
      }
    }
    if (digits > 15 || decimals > 22) return Number(b.toString('latin1', start, end));
    const v = decimals > 0 ? mantissa / (POW10[decimals] as number) : mantissa;
    return negative ? -v : v;
  }

  /**
   * The recorded value as JSON.parse would give it, except objects and arrays, which are stood in for
   * by empty ones: extractListingColumns only asks what type they are.
   */
  slotValue(slot: number): unknown {
    const i = slot * SLOT_WIDTH;
    const s = this.spans;
    switch (s[i + 2]) {
      case T_STRING:
        return this.slotString(slot);
      case T_NUMBER:
        return this.slotNumber(s[i] as number, s[i + 1] as number);
      case T_OBJECT:
        return {};
      case T_ARRAY:
        return [];
      case T_TRUE:
        return true;
      case T_FALSE:
        return false;
      case T_NULL:
        return null;
      default:
        return undefined;
    }
  }
}
