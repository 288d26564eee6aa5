/**
 * Events made on the fly, for runs too long to build beforehand (the embedded bench grows the table to
 * 500 000 rows: 600 000 events, 1.3 GB of frames). workload.ts builds each event with the simulator's
 * generator (about 100 µs each, too slow to keep up with the daemon while it runs); here a few hundred
 * events of that generator are serialized once as templates, and each event is a template with its
 * listing id and event id put in (about 2 µs). Payloads are therefore real-size and real-shaped
 * (2–3 KiB, compressed by Postgres as real ones are), only repeated.
 *
 * Mix as in workload.ts: of the events that are not inserts of new listings, 90 % are updates and
 * 10 % deletes, of which 30 % carry only `payload.id`. Event ids grow by one per event (eventId), so
 * a later event of a listing is always the newer one and is applied.
 */
import { listingIdFor, makeListingDelete, makeListingUpdate, mulberry32 } from '../src/simulator/bptf-events.js';
import { eventId } from './workload.js';

const TEMPLATES = 256;
const DELETE_SHARE = 0.1;
const PARTIAL_DELETE_SHARE = 0.3;
/** Placeholders that cannot occur in a generated event (and that JSON.stringify leaves as they are). */
const EVENT_ID = '@@EVENT_ID@@';
const LISTING_ID = '@@LISTING_ID@@';

type Kind = 'update' | 'delete' | 'partial';

/** A serialized event cut around its event id and listing id, UTF-8: [before, between, after]. */
type Template = readonly [Buffer, Buffer, Buffer];

function cut(event: { id: string; payload: Record<string, unknown> }): Template {
  const json = JSON.stringify({ ...event, id: EVENT_ID, payload: { ...event.payload, id: LISTING_ID } });
  const [head, rest] = json.split(`"${EVENT_ID}"`) as [string, string];
  const [mid, tail] = rest.split(`"${LISTING_ID}"`) as [string, string];
  if (tail === undefined) throw new Error('bench: the event id must come before payload.id in a serialized event');
  return [Buffer.from(head), Buffer.from(mid), Buffer.from(tail)];
}

export class EventStream {
  readonly #timeSec: number;
  readonly #rand: () => number;
  readonly #templates: Record<Kind, Template[]> = { update: [], delete: [], partial: [] };
  readonly #ids = new Map<number, string>();
  #seq = 0;
  /** Newest event id of every listing sent so far (its row must end with it). */
  readonly finalEventIds = new Map<string, string>();
  bytes = 0;

  constructor(opts: { seed?: number; timeSec?: number } = {}) {
    this.#timeSec = opts.timeSec ?? Math.floor(Date.now() / 1000);
    this.#rand = mulberry32(opts.seed ?? 20261123);
    for (let i = 0; i < TEMPLATES; i++) {
      this.#templates.update.push(cut(makeListingUpdate(i, { timeSec: this.#timeSec, seed: i })));
      this.#templates.delete.push(cut(makeListingDelete(i, { timeSec: this.#timeSec, seed: i })));
      this.#templates.partial.push(cut(makeListingDelete(i, { timeSec: this.#timeSec, partial: true })));
    }
  }

  get events(): number {
    return this.#seq;
  }

  /** Listing ids are the simulator's (both backpack.tf shapes); cached, as buy-order ids cost an md5. */
  listingId(index: number): string {
    let id = this.#ids.get(index);
    if (id === undefined) {
      id = listingIdFor(index);
      this.#ids.set(index, id);
    }
    return id;
  }

  /** Written straight into one Buffer per frame: joining 100 strings of 2 KiB and encoding them cost 50-90 µs an event. */
  #frame(events: readonly (readonly [number, Kind])[]): Buffer {
    const parts: [Template, string, string][] = [];
    let size = 1 + events.length; // [ , ... ]
    for (const [index, kind] of events) {
      const t = this.#templates[kind][(index * 7 + this.#seq) % TEMPLATES] as Template;
      const id = eventId(this.#timeSec, this.#seq++);
      const listing = this.listingId(index);
      this.finalEventIds.set(listing, id);
      parts.push([t, id, listing]);
      size += t[0].length + t[1].length + t[2].length + id.length + listing.length + 4;
    }
    const data = Buffer.allocUnsafe(size);
    let at = 0;
    for (const [i, [t, id, listing]] of parts.entries()) {
      data[at++] = i === 0 ? 0x5b : 0x2c; // [ or ,
      at += t[0].copy(data, at);
      at += data.write(`"${id}"`, at, 'latin1');
      at += t[1].copy(data, at);
      at += data.write(`"${listing}"`, at, 'latin1');
      at += t[2].copy(data, at);
    }
    data[at++] = 0x5d; // ]
    this.bytes += at;
    return data.subarray(0, at);
  }

  /** A frame of updates of listings `from`, `from + 1`, ... (`count` of them): new rows when they do not exist yet. */
  inserts(from: number, count: number): Buffer {
    const events: [number, Kind][] = [];
    for (let k = 0; k < count; k++) events.push([from + k, 'update']);
    return this.#frame(events);
  }

  /** A frame of `count` events over listings [0, listings), uniformly: 90 % updates, 10 % deletes. */
  mixed(listings: number, count: number): Buffer {
    const events: [number, Kind][] = [];
    for (let k = 0; k < count; k++) {
      const index = Math.floor(this.#rand() * listings);
      events.push([index, this.#rand() >= DELETE_SHARE ? 'update' : this.#rand() < PARTIAL_DELETE_SHARE ? 'partial' : 'delete']);
    }
    return this.#frame(events);
  }
}
