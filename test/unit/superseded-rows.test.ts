import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BatchWriter, type BatchWriterOptions } from '../../src/core/writer/batch-writer.js';
import { BufferBudget } from '../../src/core/writer/buffer-budget.js';
import { SupersededRows, type Supersede } from '../../src/core/writer/superseded-rows.js';
import { mergeListingRows, supersedeListingRows, type ListingRow } from '../../src/feeds/bptf/listing-row.js';
import { outageSettings, outageSpool } from '../helpers/batch-writer.js';
import { waitFor } from '../helpers/wait-for.js';

/**
 * A spool replay skips the rows a newer whole row of their key, later in the spool, makes moot
 * (superseded-rows.ts): the end state is the one writing every row gives, the moot rows are counted
 * as written, and far fewer rows are written.
 */

// -- listings: the moot rows change nothing ------------------------------------------------------

const SECOND = 1_765_000_000;
/** An object id: 4 bytes of Unix seconds, then 8 of counter (hex, lower case, as backpack.tf sends them). */
const objectId = (s: number, n: number) => s.toString(16).padStart(8, '0') + n.toString(16).padStart(16, '0');

const eventArb = fc.record({
  listing: fc.constantFrom('L1', 'L2', 'L3'),
  // Few distinct times and counters: ties on the time, equal ids (a duplicate) and arrival out of order.
  second: fc.integer({ min: 0, max: 3 }),
  n: fc.integer({ min: 0, max: 5 }),
  kind: fc.constantFrom('update', 'update', 'delete-full', 'delete-id-only'),
});

function toRow(e: { listing: string; second: number; n: number; kind: string }): ListingRow {
  const eventId = objectId(SECOND + e.second, e.n);
  const full = e.kind !== 'delete-id-only';
  return {
    id: e.listing,
    eventId,
    eventTimeMs: (SECOND + e.second) * 1000,
    deleted: e.kind !== 'update',
    payloadEventId: full ? eventId : null,
    payload: full ? { id: e.listing, from: eventId } : { id: e.listing },
  };
}

/** The state the table's write gives for these rows in any batching (store.ts): merging them all. */
function endState(rows: readonly ListingRow[]): Map<string, ListingRow> {
  const out = new Map<string, ListingRow>();
  for (const r of rows) {
    const had = out.get(r.id);
    out.set(r.id, had ? mergeListingRows(had, r) : r);
  }
  return out;
}

const plain = (r: ListingRow) => ({ eventId: r.eventId, eventTimeMs: r.eventTimeMs, deleted: r.deleted, payloadEventId: r.payloadEventId, payload: r.payload });

describe('supersedeListingRows', () => {
  it('skipping the rows it calls moot leaves every listing as writing them all does', () => {
    fc.assert(
      fc.property(fc.array(eventArb, { minLength: 1, maxLength: 40 }), fc.array(eventArb, { maxLength: 10 }), (spooled, before) => {
        // `before`: already in the table. `spooled`: in the spool, in the order received.
        const stored = before.map(toRow);
        const rows = spooled.map(toRow);
        const index = new SupersededRows((r: ListingRow) => r.id, supersedeListingRows);
        index.note(rows);
        const { kept, moot } = index.split(rows);
        expect(kept.length + moot.length).toBe(rows.length);
        const all = endState([...stored, ...rows]);
        const some = endState([...stored, ...kept]);
        expect(new Map([...some].map(([k, r]) => [k, plain(r)]))).toEqual(new Map([...all].map(([k, r]) => [k, plain(r)])));
      }),
      { numRuns: 2_000 },
    );
  });

  it('never calls moot the row that decides a listing, nor a newer id-only delete after it', () => {
    const full = toRow({ listing: 'L1', second: 1, n: 0, kind: 'update' });
    const older = toRow({ listing: 'L1', second: 0, n: 9, kind: 'update' });
    const laterDelete = toRow({ listing: 'L1', second: 2, n: 0, kind: 'delete-id-only' });
    const index = new SupersededRows((r: ListingRow) => r.id, supersedeListingRows);
    index.note([older, full, laterDelete]);
    expect(index.split([older, full, laterDelete])).toEqual({ kept: [full, laterDelete], moot: [older] });
  });
});

// -- the writer: a replay writes the newest row per key, counts every row --------------------------

type Row = { k: string; v: number; whole: boolean; pad: string };
const byValue: Supersede<Row> = {
  wholeOrder: (r) => (r.whole ? String(r.v).padStart(10, '0') : undefined),
  isOlder: (r, order) => r.v < Number(order),
};
const refused = () => Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' });
const KEYS = 20;
const segments = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.ndjson'));

/**
 * 600 rows of 40 KB over KEYS keys (three 8 MiB spool segments: the newest row of a key is often in a
 * later segment); one in ten is not whole, and must be written even when older ones are moot.
 */
function backlog(): Row[] {
  const pad = 'x'.repeat(40_000);
  return Array.from({ length: 600 }, (_, v) => ({ k: `k${v % KEYS}`, v, whole: v % 10 !== 3, pad }));
}

/** A writer with `byValue` on a spool in `dir`, whose table keeps each key's newest value (as the listing upsert does); `db.down` fails its writes. */
function supersedingWriter(dir: string, over: Partial<BatchWriterOptions<Row>>) {
  const spool = over.spool ?? outageSpool<Row>(dir);
  const state = new Map<string, number>();
  let written = 0;
  const counted = { rows: 0, replayed: 0 };
  const db = { down: false };
  const w = new BatchWriter<Row>({
    ...outageSettings(),
    collapse: { key: (r) => r.k, merge: (a, b) => (b.v > a.v ? b : a), supersede: byValue },
    write: async (batch) => {
      if (db.down) throw refused();
      written += batch.length;
      for (const r of batch) state.set(r.k, Math.max(state.get(r.k) ?? -1, r.v));
    },
    onWritten: (rows, replayed) => {
      counted.rows += rows.length;
      counted.replayed += replayed.length;
    },
    onBadRow: () => {},
    onOverflow: () => {
      throw new Error('nothing may be dropped');
    },
    spool,
    ...over,
  });
  return { w, db, spool, state, counted, writtenRows: () => written };
}

describe('BatchWriter replay with supersede', () => {
  it('a spool an earlier run left is noted before its replay: the same skips, every row counted as replayed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'writer-supersede-'));
    const earlier = outageSpool<Row>(dir);
    const rows = backlog();
    for (let i = 0; i < rows.length; i += 100) expect(earlier.append(rows.slice(i, i + 100))).toEqual([]);
    earlier.close();
    expect(segments(dir).length).toBeGreaterThanOrEqual(3);
    const t = supersedingWriter(dir, {});
    await waitFor(() => t.counted.replayed === rows.length, 'every row counted as replayed', 20_000);
    await t.w.drain();
    for (let k = 0; k < KEYS; k++) expect(t.state.get(`k${k}`)).toBe(rows.length - KEYS + k);
    expect(t.writtenRows()).toBeLessThan(rows.length / 4);
    expect(t.counted.rows).toBe(0);
    expect(segments(dir)).toEqual([]);
  });

  it('reads the next of a run of wholly moot segments on a later turn of the event loop, not in one go', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'writer-supersede-'));
    const earlier = outageSpool<Row>(dir);
    // One key, every row whole: every segment but the last is moot as a whole.
    const pad = 'x'.repeat(40_000);
    const rows: Row[] = Array.from({ length: 800 }, (_, v) => ({ k: 'k0', v, whole: true, pad }));
    for (let i = 0; i < rows.length; i += 100) expect(earlier.append(rows.slice(i, i + 100))).toEqual([]);
    earlier.close();
    expect(segments(dir).length).toBeGreaterThanOrEqual(4);
    // Turns of the event loop, counted by a setImmediate chain, at each segment taken for replay.
    let turns = 0;
    let counting = true;
    const tick = () => {
      turns++;
      if (counting) setImmediate(tick);
    };
    setImmediate(tick);
    const spool = outageSpool<Row>(dir);
    const takenAt: number[] = [];
    const take = spool.takeOldest.bind(spool);
    spool.takeOldest = () => {
      takenAt.push(turns);
      return take();
    };
    const t = supersedingWriter(dir, { spool });
    await waitFor(() => t.counted.replayed === rows.length, 'every row counted as replayed', 20_000);
    counting = false;
    await t.w.drain();
    expect(t.writtenRows()).toBe(1);
    expect(t.state.get('k0')).toBe(799);
    for (let i = 1; i < takenAt.length; i++) expect(takenAt[i], `segment ${i} taken on a later turn`).toBeGreaterThan(takenAt[i - 1] as number);
  });

  it('after an outage, writes only rows no newer whole row of their key follows; counts all; ends in the same state', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'writer-supersede-'));
    // Memory for 50 rows: the rest of the outage's go to the spool.
    const t = supersedingWriter(dir, { budget: new BufferBudget(50), spillAfterMs: 100 });
    t.db.down = true;
    const rows = backlog();
    for (let i = 0; i < rows.length; i += 100) t.w.add(rows.slice(i, i + 100));
    await waitFor(() => segments(dir).length >= 3, 'the outage filled several spool segments', 10_000);
    t.db.down = false;
    await waitFor(() => t.counted.rows === rows.length, 'every row counted as written', 20_000);
    await t.w.drain();
    for (let k = 0; k < KEYS; k++) expect(t.state.get(`k${k}`)).toBe(rows.length - KEYS + k);
    // Far fewer written than added: most rows were moot (their key's newest whole row came later).
    expect(t.writtenRows()).toBeLessThan(rows.length / 4);
    expect(t.counted.replayed).toBe(0); // this run's rows, not an earlier run's
    expect(segments(dir)).toEqual([]);
  });
});
