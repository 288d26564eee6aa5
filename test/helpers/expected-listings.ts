import { isDeepStrictEqual } from 'node:util';
import type { BptfEvent } from '../../src/simulator/bptf-events.js';

/**
 * The final state of `bptf_listings` computed independently of the daemon, from the events a test
 * sent: for each listing id (`payload.id`), the event with the greatest (event time, event id),
 * where the time is the id's first 4 bytes and ids compare as strings in "C" collation (the
 * contract's ordering rule). Only `listing-update` events are expected here (the streams of these
 * tests send no deletes): the row's `event_id` is that event's id and its `payload` that event's payload.
 */
export function expectedListings(events: Iterable<BptfEvent>): Map<string, BptfEvent> {
  const byListing = new Map<string, BptfEvent>();
  for (const e of events) {
    if (e.event !== 'listing-update') throw new Error(`expectedListings: only listing-update events are modelled, got ${e.event}`);
    const id = String(e.payload.id);
    const held = byListing.get(id);
    if (!held || isNewer(e.id, held.id)) byListing.set(id, e);
  }
  return byListing;
}

/** Seconds of an ObjectId (its first 4 bytes). */
function seconds(eventId: string): number {
  return Number.parseInt(eventId.slice(0, 8), 16);
}

/** (time, id) of `a` greater than that of `b`; ids compared code unit by code unit, as "C" collation does for ASCII. */
export function isNewer(a: string, b: string): boolean {
  const ta = seconds(a);
  const tb = seconds(b);
  if (ta !== tb) return ta > tb;
  return a > b;
}

/** A row of bptf_listings as these checks read it. */
export interface ListingRowState {
  readonly id: string;
  readonly event_id: string;
  readonly payload: unknown;
}

/** What differs between the table and the expected state; all zeros and no examples when they agree. */
export interface ListingsDiff {
  /** Listings expected. */
  readonly expected: number;
  /** Expected listings that have no row. */
  readonly missing: number;
  /** Rows of listings no event was sent for. */
  readonly unexpected: number;
  /** Rows whose event_id is not the expected event's (an older or unknown event won). */
  readonly wrongEventId: number;
  /** Rows with the right event_id whose payload differs from that event's payload. */
  readonly wrongPayload: number;
  /** Up to five examples, to read in a failure message. */
  readonly examples: string[];
}

/** The diff that means "exactly as expected". */
export function noDiff(expected: number): ListingsDiff {
  return { expected, missing: 0, unexpected: 0, wrongEventId: 0, wrongPayload: 0, examples: [] };
}

/** Compare the rows with the expected state exactly: every listing, its event_id and its payload. */
export function diffListings(rows: readonly ListingRowState[], expected: ReadonlyMap<string, BptfEvent>): ListingsDiff {
  const examples: string[] = [];
  const note = (s: string) => void (examples.length < 5 && examples.push(s));
  let unexpected = 0;
  let wrongEventId = 0;
  let wrongPayload = 0;
  const seen = new Set<string>();
  for (const row of rows) {
    const e = expected.get(row.id);
    if (!e) {
      unexpected++;
      note(`unexpected row ${row.id} (event ${row.event_id})`);
      continue;
    }
    seen.add(row.id);
    if (row.event_id !== e.id) {
      wrongEventId++;
      note(`${row.id}: event_id ${row.event_id}, expected ${e.id}`);
    } else if (!isDeepStrictEqual(row.payload, e.payload)) {
      wrongPayload++;
      note(`${row.id}: payload differs from that of event ${e.id}`);
    }
  }
  const missing = countMissing(expected, seen, note);
  return { expected: expected.size, missing, unexpected, wrongEventId, wrongPayload, examples };
}

/**
 * For a crash that may lose the last moments: every listing of `mustHave` (the expected state of the
 * events that had to survive) has a row at least as new as its expected event, and every row (of any
 * listing) holds an event that was sent for it (`sent`, by event id), with exactly that event's payload.
 */
export function diffListingsAtLeast(
  rows: readonly ListingRowState[],
  mustHave: ReadonlyMap<string, BptfEvent>,
  sent: ReadonlyMap<string, BptfEvent>,
): ListingsDiff {
  const examples: string[] = [];
  const note = (s: string) => void (examples.length < 5 && examples.push(s));
  let unexpected = 0;
  let wrongEventId = 0;
  let wrongPayload = 0;
  const seen = new Set<string>();
  for (const row of rows) {
    seen.add(row.id);
    const e = sent.get(row.event_id);
    if (!e || String(e.payload.id) !== row.id) {
      unexpected++;
      note(`row ${row.id} holds event ${row.event_id}, which was not sent for it`);
      continue;
    }
    if (!isDeepStrictEqual(row.payload, e.payload)) {
      wrongPayload++;
      note(`${row.id}: payload differs from that of event ${e.id}`);
    }
    const want = mustHave.get(row.id);
    if (want && want.id !== row.event_id && !isNewer(row.event_id, want.id)) {
      wrongEventId++;
      note(`${row.id}: event_id ${row.event_id} is older than ${want.id}, which was sent before the crash window`);
    }
  }
  const missing = countMissing(mustHave, seen, note);
  return { expected: mustHave.size, missing, unexpected, wrongEventId, wrongPayload, examples };
}

/** Listings of `expected` that have no row (`seen`: the ids that do), each noted. */
function countMissing(expected: ReadonlyMap<string, BptfEvent>, seen: ReadonlySet<string>, note: (s: string) => void): number {
  let missing = 0;
  for (const [id, e] of expected) {
    if (seen.has(id)) continue;
    missing++;
    note(`missing ${id} (event ${e.id})`);
  }
  return missing;
}
