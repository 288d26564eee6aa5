import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BatchWriter, type BatchWriterOptions } from '../../src/core/writer/batch-writer.js';
import { outageSettings, outageSpool } from '../helpers/batch-writer.js';
import { waitFor } from '../helpers/wait-for.js';

/**
 * The writer through outages, with a real spool: the replay never stalls, a database that hangs is
 * an outage, and nothing is dropped while memory has room.
 */
type Row = { k: string; v: number };
const refused = () => Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' });

function setup(over: Partial<BatchWriterOptions<Row>> & Pick<BatchWriterOptions<Row>, 'write'>, dir = mkdtempSync(join(tmpdir(), 'writer-outage-'))) {
  const spool = outageSpool<Row>(dir);
  const dropped: Row[] = [];
  const bad: Row[] = [];
  const w = new BatchWriter<Row>({
    ...outageSettings(),
    onBadRow: (r) => bad.push(r),
    onOverflow: (rows) => dropped.push(...rows),
    spool,
    spillAfterMs: 100,
    ...over,
  });
  return { w, spool, dir, dropped, bad };
}

const rows = (from: number, n: number): Row[] => Array.from({ length: n }, (_, i) => ({ k: `k${from + i}`, v: from + i }));
const segments = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.ndjson'));

describe('BatchWriter through outages', () => {
  it('a replay interrupted by failing writes (its rows back on disk) replays again once writes pass: the spool never stalls', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'writer-outage-'));
    const earlier = outageSpool<Row>(dir);
    expect(earlier.append(rows(0, 200))).toEqual([]);
    earlier.close(); // an earlier run's spool
    let failUntil = Date.now() + 1_500; // far past spillAfterMs: the replayed rows go back to disk
    const written = new Set<string>();
    const { w } = setup(
      {
        write: async (batch) => {
          if (Date.now() < failUntil) throw refused();
          for (const r of batch) written.add(r.k);
        },
      },
      dir,
    );
    await waitFor(() => written.size === 200, 'every spooled row written', 10_000);
    await waitFor(() => segments(dir).length === 0, 'the spool emptied', 10_000);
    failUntil = 0;
    await w.drain();
  });

  it('writes a replayed segment at once, not after maxWaitMs: its rows waited on disk already', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'writer-outage-'));
    const earlier = outageSpool<Row>(dir);
    expect(earlier.append(rows(0, 30))).toEqual([]);
    earlier.close();
    const written = new Set<string>();
    const started = Date.now();
    // A batch of 1,000 rows or 10 s: 30 rows of a live feed would wait the 10 s.
    const { w } = setup({ maxEvents: 1_000, maxWaitMs: 10_000, write: async (batch) => void batch.forEach((r) => written.add(r.k)) }, dir);
    await waitFor(() => written.size === 30, 'the replayed rows written', 10_000);
    expect(Date.now() - started).toBeLessThan(5_000);
    await w.drain();
  });

  it('rows of a replay that went back to disk while their batch was in flight are counted once, as replayed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'writer-outage-'));
    const earlier = outageSpool<Row>(dir);
    expect(earlier.append(rows(0, 200))).toEqual([]);
    earlier.close(); // an earlier run's spool
    // Failing far past spillAfterMs: the rows waiting in memory go back to disk while two batches are in flight.
    let failUntil = Date.now() + 1_500;
    const counted = { written: 0, replayed: 0 };
    const { w } = setup(
      {
        write: async () => {
          if (Date.now() < failUntil) throw refused();
        },
        onWritten: (written, replayed) => {
          counted.written += written.length;
          counted.replayed += replayed.length;
        },
      },
      dir,
    );
    await waitFor(() => segments(dir).length === 0, 'the spool emptied', 10_000);
    failUntil = 0;
    await w.drain();
    expect(counted).toEqual({ written: 0, replayed: 200 });
  });

  it('a write that hangs without failing is an outage: held rows reach the spool within about a second', async () => {
    let release: () => void = () => undefined;
    const hung = new Promise<void>((r) => (release = r));
    const written: Row[] = [];
    const { w, dir, dropped } = setup({
      write: async (batch) => {
        await hung;
        written.push(...batch);
      },
    });
    w.add(rows(0, 50));
    const t0 = Date.now();
    await waitFor(() => segments(dir).length > 0, 'held rows copied to the spool', 3_000, 20);
    expect(Date.now() - t0).toBeLessThan(1_500);
    release();
    await waitFor(() => new Set(written.map((r) => r.k)).size === 50, 'every row written after the hang', 5_000);
    expect(dropped).toEqual([]);
    await w.drain();
  });

  it('a spool the disk refuses during an outage drops nothing while memory has room; every row is written after', async () => {
    let failUntil = Date.now() + 1_200;
    const written = new Set<string>();
    const { w, dir, dropped } = setup({
      write: async (batch) => {
        if (Date.now() < failUntil) throw refused();
        for (const r of batch) written.add(r.k);
      },
    });
    // The spool's folder becomes a file: every new segment fails (ENOTDIR).
    rmSync(dir, { recursive: true });
    writeFileSync(dir, 'not a folder');
    for (let i = 0; i < 10; i++) w.add(rows(i * 30, 30));
    await waitFor(() => written.size === 300, 'every row written once the database is back', 10_000);
    expect(dropped).toEqual([]);
    failUntil = 0;
    await w.drain();
    rmSync(dir, { force: true });
  });
});

describe('BatchWriter replaying a spool of several segments', () => {
  it('keeps its write slots busy: no moment without a batch in flight until the spool is written', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'writer-replay-'));
    // Five segments of 1,000 rows: each Spool closed seals its segment, as five earlier runs would.
    for (let s = 0; s < 5; s++) {
      const earlier = outageSpool<Row>(dir);
      expect(earlier.append(rows(s * 1_000, 1_000))).toEqual([]);
      earlier.close();
    }
    expect(segments(dir)).toHaveLength(5);
    const written = new Set<string>();
    let inFlight = 0;
    let idleMoments = 0;
    const { w } = setup(
      {
        maxEvents: 100,
        write: async (batch) => {
          inFlight++;
          await new Promise((r) => setTimeout(r, 2));
          for (const r of batch) written.add(r.k);
          inFlight--;
          // Both slots empty while rows are still to be written: a gap in the replay.
          if (inFlight === 0 && written.size < 5_000) idleMoments++;
        },
      },
      dir,
    );
    await waitFor(() => written.size === 5_000, 'every spooled row written', 20_000);
    await waitFor(() => segments(dir).length === 0, 'the spool emptied', 5_000);
    expect(idleMoments).toBe(0);
    await w.drain();
  });

  it('writes that are merely slow (each batch in flight past spillAfterMs) never send a replay back to disk: the spool drains', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'writer-slow-'));
    // Segments far larger than what the write slots take in one spill check (250 ms).
    for (let s = 0; s < 2; s++) {
      const earlier = outageSpool<Row>(dir);
      expect(earlier.append(rows(s * 3_000, 3_000))).toEqual([]);
      earlier.close();
    }
    const written = new Set<string>();
    const { w } = setup(
      {
        maxEvents: 100,
        // Every write takes longer than spillAfterMs (100 ms): the writer sees a database that does not answer.
        write: async (batch) => {
          await new Promise((r) => setTimeout(r, 120));
          for (const r of batch) written.add(r.k);
        },
      },
      dir,
    );
    await waitFor(() => written.size === 6_000, 'every spooled row written', 20_000);
    await waitFor(() => segments(dir).length === 0, 'the spool emptied', 10_000);
    await w.drain();
  });
});

describe('BatchWriter stopping with rows in its spool', () => {
  /** Five segments of 300 rows in `dir`, as five earlier runs would leave them. */
  function earlierSpool(dir: string): void {
    for (let s = 0; s < 5; s++) {
      const earlier = outageSpool<Row>(dir);
      expect(earlier.append(rows(s * 300, 300))).toEqual([]);
      earlier.close();
    }
  }

  it('with the database up, writes what the spool holds before it stops, segment after segment', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'writer-stop-'));
    earlierSpool(dir);
    const written = new Set<string>();
    const { w, dropped } = setup({ write: async (batch) => void batch.forEach((r) => written.add(r.k)) }, dir);
    // Drained in the turn it was made: no replay has started while it ran.
    const abandoned = await w.drain(AbortSignal.timeout(10_000), AbortSignal.timeout(5_000));
    expect(abandoned).toBe(0);
    expect(written.size).toBe(1_500);
    expect(segments(dir)).toEqual([]);
    expect(dropped).toEqual([]);
  });

  it('without a replay window, or past it, leaves the spool on disk for the next start', async () => {
    for (const replayUntil of [undefined, AbortSignal.abort()]) {
      const dir = mkdtempSync(join(tmpdir(), 'writer-stop-'));
      earlierSpool(dir);
      const written: Row[] = [];
      const { w } = setup({ write: async (batch) => void written.push(...batch) }, dir);
      expect(await w.drain(AbortSignal.timeout(10_000), replayUntil)).toBe(0);
      expect(written).toEqual([]);
      expect(segments(dir)).toHaveLength(5);
    }
  });

  it('while writes fail, stops at its deadline and keeps the spool whole for the next start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'writer-stop-'));
    earlierSpool(dir);
    let calls = 0;
    const { w, dropped } = setup(
      {
        write: async () => {
          calls++;
          throw refused();
        },
      },
      dir,
    );
    w.add(rows(10_000, 5)); // a batch that fails and keeps failing
    const started = Date.now();
    expect(await w.drain(AbortSignal.timeout(300), AbortSignal.timeout(5_000))).toBe(0);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(calls).toBeGreaterThan(0);
    expect(dropped).toEqual([]);
    // The five segments, and the failing batch's rows saved beside them.
    const after = outageSpool<Row>(dir);
    const kept: Row[] = [];
    for (let taken = after.takeOldest(); taken; taken = after.takeOldest()) kept.push(...taken.rows);
    expect(new Set(kept.map((r) => r.k)).size).toBe(1_505);
  });
});
