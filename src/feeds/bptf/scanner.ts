import { isUtf8 } from 'node:buffer';
import { extractRawColumns, NumberText, type CurrenciesMembers } from './listing-columns.js';
import { isListingId, rawPayloadText, type ListingEvent, type ParsedFrame, type RawColumns, type RawPayload } from './listing-event.js';
import { normalizeObjectId, objectIdTimeMs } from './object-id.js';
import { SKU_ITEM_FIELDS, skuOf } from './sku.js';
import type { ReceivedEvent } from './received.js';

/**
 * The fast path of the backpack.tf parser (parse.ts holds the JSON.parse path, which defines the
 * behaviour). One scan over a frame's UTF-8 bytes checks that the whole frame is valid JSON without
 * building it, reads the few fields the pipeline needs, and keeps each payload as the bytes received.
 * It accepts only frames made entirely of well-formed listing events, and for those gives the events
 * the JSON.parse path gives; anything else it declines, and the JSON.parse path decides.
 */

/** The frame's listing events; undefined when it is not a plain listing frame (the JSON.parse path decides). */
export function scanFrame(b: Buffer): ParsedFrame | undefined {
  // Invalid UTF-8 is decoded with replacement characters by the JSON.parse path; leave it that way.
  if (!isUtf8(b)) return undefined;
  try {
    return new Scanner(b).frame();
  } catch {
    // BAIL, or anything unexpected: the JSON.parse path decides.
    return undefined;
  }
}

/**
 * A listing event from the fast path: `payload` is parsed from the received bytes on first read, and
 * the whole event's text (bytes [eventStart, eventEnd) of the frame) is made only for a reject.
 */
class ScannedListingEvent implements ListingEvent, RawPayload, ReceivedEvent {
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
    readonly eventStart: number,
    readonly eventEnd: number,
  ) {}

  get raw(): RawPayload {
    return this;
  }

  get received(): ReceivedEvent {
    return this;
  }

  receivedText(): string {
    return this.frame.toString('utf8', this.eventStart, this.eventEnd);
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

// Fields the pipeline reads (slots of Scanner#spans): the payload's, then the event's.
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
const F_CURRENCIES = 12;
const F_USER_AGENT = 13;
const F_EVENT = 14;
const F_EVENT_ID = 15;
const SLOTS = 16;
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
const KEY_CURRENCIES = Buffer.from('currencies');
const KEY_USER_AGENT = Buffer.from('userAgent');
const KEY_KEYS = Buffer.from('keys');
const KEY_METAL = Buffer.from('metal');
const KEY_EVENT = Buffer.from('event');
const KEY_PAYLOAD = Buffer.from('payload');
const KEY_NAME = Buffer.from('name');
const KEY_RAW = Buffer.from('raw');
const LISTING_UPDATE = Buffer.from('listing-update');
const LISTING_DELETE = Buffer.from('listing-delete');

/**
 * The members of `item` the pipeline reads (the SKU's fields, the name, the spells), by key length:
 * [key bytes, key, index in SKU_ITEM_FIELDS or -1].
 */
const ITEM_KEYS = new Map<number, Array<readonly [Buffer, string, number]>>();
for (const key of [...SKU_ITEM_FIELDS, 'name', 'spells']) {
  const bytes = Buffer.from(key);
  ITEM_KEYS.set(bytes.length, [...(ITEM_KEYS.get(bytes.length) ?? []), [bytes, key, SKU_ITEM_FIELDS.indexOf(key)] as const]);
}

/**
 * SKUs by the bytes of the item members skuOf reads (itemMembers): most events are of items seen
 * before, and building the item's SKU object and string was a tenth of the daemon's CPU. Found by a
 * hash of those bytes and compared byte by byte, so that a hit allocates nothing: a string key of
 * them was a fifth of the daemon's garbage (sampled: 1.2 KB an event). Emptied when full (a few MB
 * at most).
 */
interface KnownSku {
  /** The members as `field-index value-bytes NUL`, in the item's order (no JSON text holds a NUL byte). */
  readonly key: Buffer;
  readonly sku: string | null;
  /** The next entry of the same hash. */
  readonly next: KnownSku | undefined;
}
const SKU_BY_MEMBERS = new Map<number, KnownSku>();
let skuCacheEntries = 0;
const SKU_CACHE_SIZE = 10_000;
/** The SKU members of the item being read, as (field index, start, end) triples; reused (scanning is synchronous). */
let skuSpans = new Int32Array(3 * 32);

/** Bytes that end the fast loop inside a string: '"', '\\', control characters, non-ASCII. */
const STRING_STOP = new Uint8Array(256);
for (let c = 0; c < 256; c++) STRING_STOP[c] = c === 0x22 || c === 0x5c || c < 0x20 || c >= 0x80 ? 1 : 0;
const HEX = new Uint8Array(256);
for (const c of Buffer.from('0123456789abcdefABCDEF')) HEX[c] = 1;

/** Deepest nesting the fast path follows (JSON.parse goes deeper; deeper frames take its path). */
const MAX_DEPTH = 512;

/** 10^0 .. 10^22: every one exactly a double. */
const POW10 = Array.from({ length: 23 }, (_, k) => Number(`1e${k}`));

// The scanning functions and methods below take a position and return the position after what they
// consumed; they throw BAIL on anything the fast path does not accept. Out-of-range reads give
// undefined, which fails every comparison, so the end of the buffer needs few explicit checks.

function skipWs(b: Buffer, p: number): number {
  let c = b[p];
  while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = b[++p];
  return p;
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

/**
 * One frame's scan. All its state is here (a Scanner per frame): the cursor, what the last string
 * or value skipped was, the stack of the container walk, and the spans recorded for the current event.
 */
class Scanner {
  readonly b: Buffer;
  readonly n: number;
  p = 0;
  /** Flags of the last string skipped (see SLOT_WIDTH). */
  stringFlags = 0;
  /** Type of the last value skipped. */
  valueType = T_ABSENT;
  /**
   * Open containers ('{' or '[') of the value being walked. Small at first, as most values nest a few
   * levels: a typed array this small is allocated on the JS heap, cheaply, where a MAX_DEPTH one per
   * frame cost a few percent on small frames. `deeper` doubles it when needed.
   */
  stack: Uint8Array = new Uint8Array(32);
  /** Per slot: start, end, type, string flags of a recorded value. */
  readonly spans = new Int32Array(SLOTS * SLOT_WIDTH);
  // The current event's payload: bytes [payloadStart, payloadEnd), and whether its only key is "id".
  payloadStart = -1;
  payloadEnd = -1;
  onlyId = true;
  // While walking a payload, the member being recorded: its slot and first byte (-1: none), for a
  // member of the payload (outer) and for `name` in `item` or `raw` in `value` (inner).
  outerSlot = -1;
  outerFrom = -1;
  innerSlot = -1;
  innerFrom = -1;
  // The member `member` read last: its key's bytes and its value's.
  memberKeyStart = 0;
  memberKeyEnd = 0;
  memberValueStart = 0;
  memberValueEnd = 0;
  /** The current event's SKU when itemMembers found it (undefined: extractRawColumns computes it from the item). */
  itemSku: string | null | undefined;

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

  // -- events ---------------------------------------------------------------------------------

  /** The event object at the cursor, as a listing event; bails on anything else. */
  event(): ListingEvent {
    const eventStart = this.p;
    if (this.b[eventStart] !== 0x7b) throw BAIL;
    const s = this.spans;
    s[F_EVENT * SLOT_WIDTH + 2] = T_ABSENT;
    s[F_EVENT_ID * SLOT_WIDTH + 2] = T_ABSENT;
    this.payloadStart = -1;
    this.members();
    const eventEnd = this.p; // just past the event's closing brace

    const eventName = this.slotBytes(F_EVENT);
    const kind = eventName === LISTING_UPDATE ? 'update' : eventName === LISTING_DELETE ? 'delete' : undefined;
    if (!kind || this.payloadStart < 0) throw BAIL;
    const eventId = this.slotType(F_EVENT_ID) === T_STRING ? normalizeObjectId(this.slotString(F_EVENT_ID)) : undefined;
    if (!eventId) throw BAIL;
    const listingId = this.slotType(F_ID) === T_STRING ? this.slotString(F_ID) : undefined;
    if (!isListingId(listingId)) throw BAIL;

    // The item first: itemObject sets itemSku when it finds the item's SKU, which the columns then take.
    this.itemSku = undefined;
    const item = this.slotType(F_ITEM) === T_OBJECT ? this.itemObject() : this.slotValue(F_ITEM);
    const columns = extractRawColumns({
      steamid: this.slotValue(F_STEAMID),
      appid: this.slotValue(F_APPID),
      intent: this.slotValue(F_INTENT),
      item,
      value: this.slotType(F_VALUE) === T_OBJECT ? { raw: this.slotValue(F_VALUE_RAW) } : this.slotValue(F_VALUE),
      listedAt: this.slotValue(F_LISTED_AT),
      timestamp: this.slotValue(F_TIMESTAMP),
      bumpedAt: this.slotValue(F_BUMPED_AT),
      bump: this.slotValue(F_BUMP),
      currencies: this.slotValue(F_CURRENCIES),
      userAgent: this.slotValue(F_USER_AGENT),
    }, { currencies: this.slotType(F_CURRENCIES) === T_OBJECT ? this.currenciesMembers() : undefined, sku: this.itemSku });
    const partial = kind === 'delete' && this.onlyId;
    return new ScannedListingEvent(kind, eventId, objectIdTimeMs(eventId), listingId, partial, this.b, this.payloadStart, this.payloadEnd, columns, eventStart, eventEnd);
  }

  /** The members of the event object at the cursor, recorded. Keys with escapes are not compared byte-wise: bail. */
  members(): void {
    const b = this.b;
    let p = skipWs(b, this.p + 1);
    if (b[p] === 0x7d) {
      this.p = p + 1;
      return;
    }
    for (;;) {
      p = skipWs(b, p);
      if (b[p] !== 0x22) throw BAIL;
      const ks = p + 1;
      p = this.skipString(p);
      if (this.stringFlags & 1) throw BAIL;
      const ke = p - 1;
      p = skipWs(b, p);
      if (b[p] !== 0x3a) throw BAIL;
      this.p = skipWs(b, p + 1);
      if (this.is(ks, ke, KEY_EVENT)) this.record(F_EVENT);
      else if (this.is(ks, ke, KEY_ID)) this.record(F_EVENT_ID);
      else if (this.is(ks, ke, KEY_PAYLOAD)) this.payload();
      else this.p = this.walk(this.p, 0);
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

  /** The value at the cursor, recorded in `slot`. */
  record(slot: number): void {
    const from = this.p;
    this.p = this.walk(from, 0);
    this.recordSpan(slot, from, this.p, this.valueType);
  }

  /** The payload object at the cursor, its fields recorded afresh: the last `payload` wins, as in JSON.parse. */
  payload(): void {
    if (this.b[this.p] !== 0x7b) throw BAIL;
    const s = this.spans;
    for (let slot = 0; slot < F_EVENT; slot++) s[slot * SLOT_WIDTH + 2] = T_ABSENT;
    this.onlyId = true;
    this.payloadStart = this.p;
    this.p = this.walk(this.p, 1);
    this.payloadEnd = this.p;
  }

  /** Bytes [start, end) are `key`. */
  is(start: number, end: number, key: Buffer): boolean {
    if (end - start !== key.length) return false;
    const b = this.b;
    for (let i = 0; i < key.length; i++) if (b[start + i] !== key[i]) return false;
    return true;
  }

  recordSpan(slot: number, start: number, end: number, type: number): void {
    const s = this.spans;
    const i = slot * SLOT_WIDTH;
    s[i] = start;
    s[i + 1] = end;
    s[i + 2] = type;
    s[i + 3] = type === T_STRING ? this.stringFlags : 0;
  }

  // -- the container walk -----------------------------------------------------------------------

  /**
   * The JSON value at p, validated and not built: nested containers in one loop with an explicit
   * stack. Sets valueType. Object members at a depth of at most `watch` (the outermost container is
   * depth 1) are reported to memberKey when their key is read and to memberEnd when their value ends:
   * `watch` is 0 to only skip the value, and 1 for a payload, which memberKey raises to 2 inside the
   * payload's `item` and `value` objects. The hot loop only compares depth with it.
   */
  walk(p: number, watch: number): number {
    const b = this.b;
    let stack = this.stack;
    const first = b[p] as number;
    if (first !== 0x7b && first !== 0x5b) return this.skipScalar(p, first);
    let depth = 0;
    stack[depth++] = first;
    p++;
    let opened = true;
    for (;;) {
      let c = b[p] as number;
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = b[(p = skipWs(b, p))] as number;
      const top = stack[depth - 1];
      if (opened && c === (top === 0x7b ? 0x7d : 0x5d)) {
        // An empty container: a complete value.
        p++;
        depth--;
      } else {
        if (top === 0x7b) {
          if (c !== 0x22) throw BAIL;
          const ks = p + 1;
          p = this.skipString(p);
          const ke = p - 1;
          if (b[p] !== 0x3a) {
            p = skipWs(b, p);
            if (b[p] !== 0x3a) throw BAIL;
          }
          c = b[++p] as number;
          if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = b[(p = skipWs(b, p))] as number;
          if (depth <= watch) watch = this.memberKey(depth, ks, ke, p);
        }
        if (c === 0x7b || c === 0x5b) {
          if (depth === stack.length) stack = this.deeper();
          stack[depth++] = c;
          p++;
          opened = true;
          continue;
        }
        p = this.skipScalar(p, c);
      }
      opened = false;
      // After a value: a comma continues the innermost container; closers end one or more.
      for (;;) {
        if (depth === 0) {
          this.valueType = first === 0x7b ? T_OBJECT : T_ARRAY;
          return p;
        }
        // A member of the container at `depth` just ended.
        if (depth <= watch) this.memberEnd(depth, p);
        let d = b[p];
        if (d === 0x20 || d === 0x0a || d === 0x0d || d === 0x09) d = b[(p = skipWs(b, p))];
        p++;
        if (d === 0x2c) break;
        if (d !== (stack[depth - 1] === 0x7b ? 0x7d : 0x5d)) throw BAIL;
        depth--;
      }
    }
  }

  /** The stack, twice as deep; bails beyond MAX_DEPTH. */
  deeper(): Uint8Array {
    const old = this.stack;
    if (old.length >= MAX_DEPTH) throw BAIL;
    this.stack = new Uint8Array(old.length * 2);
    this.stack.set(old);
    return this.stack;
  }

  /**
   * A payload walk read the key [ks, ke) of a member whose value starts at `from`, in the payload
   * (depth 1) or in its `item` or `value` object (depth 2): note where a field the pipeline reads
   * starts. Returns the walk's new `watch`. Keys are compared byte-wise, so one with escapes (which
   * could spell a field another way) bails.
   */
  memberKey(depth: number, ks: number, ke: number, from: number): number {
    if (this.stringFlags & 1) throw BAIL;
    if (depth === 2) {
      this.innerFrom = this.is(ks, ke, this.innerSlot === F_ITEM_NAME ? KEY_NAME : KEY_RAW) ? from : -1;
      return 2;
    }
    const slot = this.payloadSlot(ks, ke);
    this.outerSlot = slot;
    this.outerFrom = slot >= 0 ? from : -1;
    if (slot !== F_ID) this.onlyId = false;
    if (slot !== F_ITEM && slot !== F_VALUE) return 1;
    // The last of duplicate keys wins, as in JSON.parse: a later `item` or `value` replaces the whole
    // object, nested field included.
    this.innerSlot = slot === F_ITEM ? F_ITEM_NAME : F_VALUE_RAW;
    this.spans[this.innerSlot * SLOT_WIDTH + 2] = T_ABSENT;
    return this.b[from] === 0x7b ? 2 : 1;
  }

  /** A payload walk finished, at `end`, the value of a member at `depth` (see memberKey): record it if noted. */
  memberEnd(depth: number, end: number): void {
    let slot: number;
    let from: number;
    if (depth === 1) {
      slot = this.outerSlot;
      from = this.outerFrom;
      this.outerFrom = -1;
    } else {
      slot = this.innerSlot;
      from = this.innerFrom;
      this.innerFrom = -1;
    }
    if (from < 0) return;
    // A container, or the scalar just skipped (so valueType and stringFlags are its own).
    const c = this.b[from];
    this.recordSpan(slot, from, end, c === 0x7b ? T_OBJECT : c === 0x5b ? T_ARRAY : this.valueType);
  }

  /** The payload field a key (bytes [ks, ke), no escapes) names: its slot, or -1. */
  payloadSlot(ks: number, ke: number): number {
    switch (ke - ks) {
      case 2:
        return this.is(ks, ke, KEY_ID) ? F_ID : -1;
      case 4:
        return this.is(ks, ke, KEY_ITEM) ? F_ITEM : this.is(ks, ke, KEY_BUMP) ? F_BUMP : -1;
      case 5:
        return this.is(ks, ke, KEY_APPID) ? F_APPID : this.is(ks, ke, KEY_VALUE) ? F_VALUE : -1;
      case 6:
        return this.is(ks, ke, KEY_INTENT) ? F_INTENT : -1;
      case 7:
        return this.is(ks, ke, KEY_STEAMID) ? F_STEAMID : -1;
      case 8:
        return this.is(ks, ke, KEY_LISTED_AT) ? F_LISTED_AT : this.is(ks, ke, KEY_BUMPED_AT) ? F_BUMPED_AT : -1;
      case 9:
        return this.is(ks, ke, KEY_TIMESTAMP) ? F_TIMESTAMP : this.is(ks, ke, KEY_USER_AGENT) ? F_USER_AGENT : -1;
      case 10:
        return this.is(ks, ke, KEY_CURRENCIES) ? F_CURRENCIES : -1;
      default:
        return -1;
    }
  }

  /** The string, number or literal at p, whose first byte is c. Sets valueType. */
  skipScalar(p: number, c: number): number {
    const b = this.b;
    if (c === 0x22) {
      this.valueType = T_STRING;
      return this.skipString(p);
    }
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      this.valueType = T_NUMBER;
      return skipNumber(b, p);
    }
    if (c === 0x74 && b[p + 1] === 0x72 && b[p + 2] === 0x75 && b[p + 3] === 0x65) {
      this.valueType = T_TRUE;
      return p + 4;
    }
    if (c === 0x66 && b[p + 1] === 0x61 && b[p + 2] === 0x6c && b[p + 3] === 0x73 && b[p + 4] === 0x65) {
      this.valueType = T_FALSE;
      return p + 5;
    }
    if (c === 0x6e && b[p + 1] === 0x75 && b[p + 2] === 0x6c && b[p + 3] === 0x6c) {
      this.valueType = T_NULL;
      return p + 4;
    }
    throw BAIL;
  }

  /** The string whose opening quote is at p. Sets stringFlags. */
  skipString(p: number): number {
    const b = this.b;
    const n = this.n;
    p++;
    let flags = 0;
    for (;;) {
      while (p < n && STRING_STOP[b[p] as number] === 0) p++;
      if (p >= n) throw BAIL;
      const c = b[p] as number;
      if (c === 0x22) {
        this.stringFlags = flags;
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

  // -- recorded spans to values -----------------------------------------------------------------

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
   * The payload's `item`, with the members the pipeline reads (ITEM_KEYS) as JSON.parse gives them and
   * no others: its SKU reads a dozen fields at two levels, which the scanner's slots do not follow, and
   * parsing the whole item (half of a payload: prices, image URLs, descriptions) made most of the
   * daemon's garbage. A key with escapes could spell one of those fields, so the whole item is parsed
   * then; were that ever refused, the item's name alone still gives the item_name column.
   */
  itemObject(): unknown {
    const i = F_ITEM * SLOT_WIDTH;
    const start = this.spans[i] as number;
    try {
      return this.itemMembers(start) ?? JSON.parse(this.b.toString('utf8', start, this.spans[i + 1] as number));
    } catch {
      return { name: this.slotValue(F_ITEM_NAME) };
    }
  }

  /**
   * The members of the object at `start` (validated by the payload's walk) that ITEM_KEYS names;
   * undefined when a key has escapes. Sets itemSku: the SKU of the members skuOf reads, found by their
   * bytes (SKU_BY_MEMBERS), those members then left out of the object; else computed from them.
   */
  itemMembers(start: number): Record<string, unknown> | undefined {
    const b = this.b;
    const out: Record<string, unknown> = {};
    let spans = skuSpans;
    let count = 0;
    // FNV-1a over the members' field indexes and value bytes.
    let hash = 0x811c9dc5;
    let p = skipWs(b, start + 1);
    if (b[p] !== 0x7d) {
      for (;;) {
        p = this.member(p);
        if (p < 0) return undefined;
        const found = this.itemKey(this.memberKeyStart, this.memberKeyEnd);
        const { memberValueStart: from, memberValueEnd: end } = this;
        if (found !== undefined) {
          const field = found[2];
          if (field < 0) out[found[1]] = this.valueAt(from, end);
          else {
            if (count === spans.length) {
              spans = new Int32Array(spans.length * 2);
              spans.set(skuSpans);
              skuSpans = spans;
            }
            spans[count++] = field;
            spans[count++] = from;
            spans[count++] = end;
            hash = Math.imul(hash ^ field, 0x01000193);
            for (let i = from; i < end; i++) hash = Math.imul(hash ^ (b[i] as number), 0x01000193);
            hash = Math.imul(hash, 0x01000193); // the NUL after the value
          }
        }
        if (b[p++] === 0x7d) break;
      }
    }
    for (let e = SKU_BY_MEMBERS.get(hash); e !== undefined; e = e.next) {
      if (this.sameMembers(e.key, spans, count)) {
        this.itemSku = e.sku;
        return out;
      }
    }
    const members: Record<string, unknown> = {};
    let keyLength = 0;
    for (let i = 0; i < count; i += 3) {
      const from = spans[i + 1] as number;
      const end = this.walk(from, 0); // again: valueAt reads the type the walk sets
      members[SKU_ITEM_FIELDS[spans[i] as number] as string] = this.valueAt(from, end);
      keyLength += end - from + 2;
    }
    const key = Buffer.allocUnsafe(keyLength);
    let k = 0;
    for (let i = 0; i < count; i += 3) {
      key[k++] = spans[i] as number;
      k += b.copy(key, k, spans[i + 1] as number, spans[i + 2] as number);
      key[k++] = 0;
    }
    const sku = skuOf(members);
    if (skuCacheEntries >= SKU_CACHE_SIZE) {
      SKU_BY_MEMBERS.clear();
      skuCacheEntries = 0;
    }
    SKU_BY_MEMBERS.set(hash, { key, sku, next: SKU_BY_MEMBERS.get(hash) });
    skuCacheEntries++;
    this.itemSku = sku;
    return Object.assign(out, members);
  }

  /** Whether `key` (a KnownSku's) is the `count / 3` members spanned in `spans`, byte for byte. */
  sameMembers(key: Buffer, spans: Int32Array, count: number): boolean {
    const b = this.b;
    let k = 0;
    for (let i = 0; i < count; i += 3) {
      if (key[k++] !== spans[i]) return false;
      const end = spans[i + 2] as number;
      for (let j = spans[i + 1] as number; j < end; j++) if (key[k++] !== b[j]) return false;
      if (key[k++] !== 0) return false;
    }
    return k === key.length;
  }

  /**
   * The payload's `currencies` object (validated by the payload's walk): its `keys` and `metal` as
   * JSON.parse gives them (the last of duplicates), but numbers as the NumberText of their bytes, for
   * the price columns take the text the stored payload has; and whether it has another member. A key
   * with escapes could spell `keys` or `metal` another way: the JSON.parse path decides then.
   */
  currenciesMembers(): CurrenciesMembers {
    const b = this.b;
    let keys: unknown;
    let metal: unknown;
    let others = false;
    let p = skipWs(b, (this.spans[F_CURRENCIES * SLOT_WIDTH] as number) + 1);
    if (b[p] === 0x7d) return { keys, metal, others };
    for (;;) {
      p = this.member(p);
      if (p < 0) throw BAIL;
      const { memberKeyStart: ks, memberKeyEnd: ke, memberValueStart: from, memberValueEnd: end } = this;
      const isKeys = this.is(ks, ke, KEY_KEYS);
      if (isKeys || this.is(ks, ke, KEY_METAL)) {
        const v = this.valueType === T_NUMBER ? new NumberText(b.toString('latin1', from, end)) : this.valueAt(from, end);
        if (isKeys) keys = v;
        else metal = v;
      } else others = true;
      if (b[p++] === 0x7d) return { keys, metal, others };
    }
  }

  /**
   * The member at p (or after whitespace at p) of an object the payload's walk validated: its key's
   * bytes [memberKeyStart, memberKeyEnd) (no quotes) and its value's [memberValueStart, memberValueEnd), walked (so
   * valueType and stringFlags are the value's). Returns where the next ',' or '}' is, or -1 when the key
   * has escapes (it could spell a key another way).
   */
  member(p: number): number {
    const b = this.b;
    p = skipWs(b, p);
    this.memberKeyStart = p + 1;
    p = this.skipString(p);
    if (this.stringFlags & 1) return -1;
    this.memberKeyEnd = p - 1;
    p = skipWs(b, skipWs(b, p) + 1); // past the colon
    this.memberValueStart = p;
    this.memberValueEnd = this.walk(p, 0);
    return skipWs(b, this.memberValueEnd);
  }

  /** The ITEM_KEYS entry that bytes [ks, ke) are, or undefined. */
  itemKey(ks: number, ke: number): readonly [Buffer, string, number] | undefined {
    const candidates = ITEM_KEYS.get(ke - ks);
    if (candidates) for (const entry of candidates) if (this.is(ks, ke, entry[0])) return entry;
    return undefined;
  }

  /** The value in bytes [from, end) that walk just skipped (valueType and stringFlags are its own), as JSON.parse gives it. */
  valueAt(from: number, end: number): unknown {
    const c = this.b[from];
    if (c === 0x7b || c === 0x5b) return JSON.parse(this.b.toString('utf8', from, end));
    switch (this.valueType) {
      case T_STRING:
        if (this.stringFlags & 1) return JSON.parse(this.b.toString('utf8', from, end));
        return this.b.toString(this.stringFlags & 2 ? 'utf8' : 'latin1', from + 1, end - 1);
      case T_NUMBER:
        return this.slotNumber(from, end);
      case T_TRUE:
        return true;
      case T_FALSE:
        return false;
      default:
        return null;
    }
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
