/**
 * The bench's traffic: a deterministic stream of real-size backpack.tf events (2–3 KiB each, from the
 * simulator's generator), cut into frames and serialized once, before anything is timed.
 *
 * - Listing of each event: uniform over `listings` indexes (mulberry32, fixed seed), so every run
 *   and every phase sees the same sequence.
 * - Mix as in the simulator's traffic model: 90 % updates, 10 % deletes of which 30 % carry only
 *   `payload.id`.
 * - Event ids: ObjectIds built here with one time (`timeSec`) and a counter that grows by one per
 *   event, so a later event of a listing is always newer under the contract's order and is applied.
 *   That is what lets the bench tell from a row's `event_id` which events are committed.
 */
import { makeListingDelete, makeListingUpdate, mulberry32, type BptfEvent } from '../src/simulator/bptf-events.js';

export interface WorkloadOptions {
  readonly events: number;
  readonly listings: number;
  readonly frameSize: number;
  readonly seed?: number;
  /** Event time (Unix seconds) written into every event id; default now. */
  readonly timeSec?: number;
  /**
   * Keep the whole expected final row of every listing (`finalRows`), payload text included: about
   * 2.5 KiB of the bench's memory per listing, so only for the phases that check payloads (outage).
   */
  readonly expectRows?: boolean;
}

/**
 * What a listing's row must hold once every event is written: the event with the greatest (time, id)
 * decides `event_id` and `deleted_at`; the newest event that carried a full payload (an update, or a
 * delete with its payload) decides `payload_event_id` and `payload` (null and unchecked when only
 * id-only deletes were sent for it). Event ids grow with the sequence, so "newest" is "sent last".
 */
export interface ExpectedRow {
  readonly eventId: string;
  readonly deleted: boolean;
  readonly payloadEventId: string | null;
  /** JSON text of that payload (compared as jsonb, so key order and spacing do not matter). */
  readonly payload: string | null;
}

export interface Frame {
  /** JSON array of `frameSize` events, as the server sends it. */
  readonly data: Buffer;
  readonly events: number;
  /** The frame's last event: when its row shows this event id (or a newer one), the frame is committed. */
  readonly probeListingId: string;
  readonly probeEventId: string;
}

export interface Workload {
  readonly frames: readonly Frame[];
  readonly events: number;
  /** Distinct listings touched. */
  readonly listingsTouched: number;
  /** Newest event id of every listing: the state the table must end in. */
  readonly finalEventIds: ReadonlyMap<string, string>;
  /** With `expectRows`: every listing's expected row; otherwise empty. */
  readonly finalRows: ReadonlyMap<string, ExpectedRow>;
  readonly bytes: number;
  readonly updates: number;
  readonly deletes: number;
  readonly partialDeletes: number;
}

const DELETE_SHARE = 0.1;
const PARTIAL_DELETE_SHARE = 0.3;
/** Bytes 4..8 of every bench event id (fixed: one "generator process"). */
const PROCESS_PART = 'be0c4b7e11';

export function eventId(timeSec: number, counter: number): string {
  if (counter > 0xffffff) throw new RangeError('bench: more than 16 777 215 events in one workload');
  return timeSec.toString(16).padStart(8, '0') + PROCESS_PART + counter.toString(16).padStart(6, '0');
}

export function buildWorkload(opts: WorkloadOptions): Workload {
  const rand = mulberry32(opts.seed ?? 20261123);
  const timeSec = opts.timeSec ?? Math.floor(Date.now() / 1000);
  const frames: Frame[] = [];
  const finalEventIds = new Map<string, string>();
  const finalRows = new Map<string, ExpectedRow>();
  let bytes = 0;
  let updates = 0;
  let deletes = 0;
  let partialDeletes = 0;
  for (let start = 0; start < opts.events; start += opts.frameSize) {
    const n = Math.min(opts.frameSize, opts.events - start);
    const batch: BptfEvent[] = [];
    for (let k = 0; k < n; k++) {
      const seq = start + k;
      const index = Math.floor(rand() * opts.listings);
      let e: BptfEvent;
      let partial = false;
      if (rand() < DELETE_SHARE) {
        partial = rand() < PARTIAL_DELETE_SHARE;
        e = makeListingDelete(index, { timeSec, partial, seed: seq });
        deletes++;
        if (partial) partialDeletes++;
      } else {
        e = makeListingUpdate(index, { timeSec, seed: seq });
        updates++;
      }
      e.id = eventId(timeSec, seq);
      const listingId = e.payload.id as string;
      finalEventIds.set(listingId, e.id);
      if (opts.expectRows) {
        const held = finalRows.get(listingId);
        const deleted = e.event === 'listing-delete';
        finalRows.set(
          listingId,
          partial
            ? { eventId: e.id, deleted, payloadEventId: held?.payloadEventId ?? null, payload: held?.payload ?? null }
            : { eventId: e.id, deleted, payloadEventId: e.id, payload: JSON.stringify(e.payload) },
        );
      }
      batch.push(e);
    }
    const data = Buffer.from(JSON.stringify(batch));
    bytes += data.length;
    const last = batch[batch.length - 1] as BptfEvent;
    frames.push({ data, events: n, probeListingId: last.payload.id as string, probeEventId: last.id });
  }
  return { frames, events: opts.events, listingsTouched: finalEventIds.size, finalEventIds, finalRows, bytes, updates, deletes, partialDeletes };
}
