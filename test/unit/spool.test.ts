import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { createMetrics } from '../../src/metrics.js';
import { BatchWriter, type BatchWriterOptions } from '../../src/core/writer/batch-writer.js';
import { BufferBudget } from '../../src/core/writer/buffer-budget.js';
import { Spool, SpoolBudget, type SpoolDrop } from '../../src/core/writer/spool.js';
import { waitFor } from '../helpers/wait-for.js';

type Row = { k: string; v: number };
const logger = createLogger('silent');
const newSpool = (dir: string, maxBytes = 10_000_000) => new Spool<Row>({ dir, budget: new SpoolBudget(maxBytes), fsyncIntervalMs: 10, logger });

describe('Spool', () => {
  it('appends, survives a restart, replays oldest first and deletes acked segments', () => {
    const dir = mkdtempSync(join(tmpdir(), 'spool-'));
    const a = newSpool(dir);
    expect(a.append([{ k: 'a', v: 1 }])).toEqual([]);
    a.close(); // seals segment 1
    const b = newSpool(dir); // a new process
    expect(b.isEmpty).toBe(false);
    b.append([{ k: 'b', v: 2 }]);
    const first = b.takeOldest()!;
    expect(first.rows).toEqual([{ k: 'a', v: 1 }]);
    b.ack(first.segment);
    const second = b.takeOldest()!;
    expect(second.rows).toEqual([{ k: 'b', v: 2 }]);
    b.ack(second.segment);
    expect(b.isEmpty).toBe(true);
    expect(b.takeOldest()).toBeUndefined();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('returns a row that cannot be encoded instead of throwing, and keeps the others', () => {
    const dir = mkdtempSync(join(tmpdir(), 'spool-'));
    const s = newSpool(dir);
    let deep: unknown = {};
    for (let i = 0; i < 100_000; i++) deep = { d: deep };
    const poison = { k: 'deep', v: deep } as unknown as Row;
    const drops = s.append([{ k: 'a', v: 1 }, poison, { k: 'b', v: 2 }]);
    expect(drops).toEqual([{ rows: [poison], reason: 'unencodable', error: expect.stringMatching(/call stack/) }]);
    s.close();
    expect(newSpool(dir).takeOldest()?.rows).toEqual([
      { k: 'a', v: 1 },
      { k: 'b', v: 2 },
    ]);
  });

  it('refuses rows past SPOOL_MAX_BYTES and returns them', () => {
    const s = newSpool(mkdtempSync(join(tmpdir(), 'spool-')), 60);
    const rows = Array.from({ length: 5 }, (_, i) => ({ k: `k${i}`, v: i })); // ~17 bytes a line
    const drops = s.append(rows);
    expect(drops.map((d) => [d.reason, d.rows.length])).toEqual([['spool_full', 2]]);
    expect(s.bytes).toBeLessThanOrEqual(60);
  });

  it('a write the disk refuses drops those rows by reason, never throws, and writing resumes once the disk is back', () => {
    const dir = mkdtempSync(join(tmpdir(), 'spool-'));
    const s = newSpool(dir);
    rmSync(dir, { recursive: true }); // the segment cannot be created: ENOENT
    const drops = s.append([{ k: 'a', v: 1 }, { k: 'b', v: 2 }]);
    expect(drops).toEqual([{ rows: [{ k: 'a', v: 1 }, { k: 'b', v: 2 }], reason: 'spool_write_failed', error: expect.stringMatching(/^ENOENT: /) }]);
    expect(s.bytes).toBe(0);
    mkdirSync(dir);
    expect(s.append([{ k: 'c', v: 3 }])).toEqual([]);
    expect(s.takeOldest()?.rows).toEqual([{ k: 'c', v: 3 }]);
  });

  // A real full disk: a 64 KiB tmpfs (needs root and mount, as this machine and its CI have).
  const tmpfs = mkdtempSync(join(tmpdir(), 'spool-tmpfs-'));
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', tmpfs]).status === 0;
  afterAll(() => {
    if (mounted) spawnSync('umount', [tmpfs]);
  });
  it.skipIf(!mounted)('on a full disk (ENOSPC) keeps what fit, drops the rest by reason, and never throws', () => {
    const s = newSpool(tmpfs);
    const rows = Array.from({ length: 200 }, (_, i) => ({ k: `k${i}`, v: i, pad: 'x'.repeat(1_000) }) as unknown as Row);
    const drops = rows.flatMap((row) => s.append([row]));
    expect(drops.length).toBeGreaterThan(100);
    expect(drops.every((d) => d.reason === 'spool_write_failed' && /^ENOSPC: /.test(d.error ?? ''))).toBe(true);
    s.close();
    const kept = newSpool(tmpfs).takeOldest()?.rows ?? [];
    // Every row counted once, kept or dropped: a write the disk cut short is taken off the file whole.
    expect(kept.length + drops.reduce((n, d) => n + d.rows.length, 0)).toBe(200);
    expect(kept.length).toBeGreaterThan(30);
  });

  it.skipIf(!mounted)('on a full disk, rows appended many at a time (chunks of many lines, a write cut short): each kept or counted dropped, none torn', () => {
    for (const f of readdirSync(tmpfs)) rmSync(join(tmpfs, f), { recursive: true, force: true });
    const s = newSpool(tmpfs);
    const rows = Array.from({ length: 300 }, (_, i) => ({ k: `k${i}`, v: i, pad: 'y'.repeat(700 + (i % 7) * 50) }) as unknown as Row);
    const drops: SpoolDrop<Row>[] = [];
    for (let i = 0; i < rows.length; i += 60) drops.push(...s.append(rows.slice(i, i + 60)));
    const dropped = drops.reduce((n, d) => n + d.rows.length, 0);
    expect(dropped).toBeGreaterThan(0);
    s.close();
    const reader = newSpool(tmpfs);
    const kept: Row[] = [];
    for (let seg = reader.takeOldest(); seg; seg = reader.takeOldest()) kept.push(...seg.rows);
    expect(kept.length + dropped).toBe(300);
    expect(new Set([...kept.map((r) => r.k), ...drops.flatMap((d) => d.rows.map((r) => r.k))]).size).toBe(300);
  });

  it('skips a torn last line left by a crash mid-append', () => {
    const dir = mkdtempSync(join(tmpdir(), 'spool-'));
    writeFileSync(join(dir, '000000000001.ndjson'), '{"k":"a","v":1}\n{"k":"b","v');
    const s = newSpool(dir);
    expect(s.takeOldest()!.rows).toEqual([{ k: 'a', v: 1 }]);
  });

  it('reads back every row of a segment whatever its lines size: lines across read chunks, one line of megabytes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'spool-'));
    const a = newSpool(dir, 100_000_000);
    // Lines of 1..4,000 bytes (many straddle a 128 KiB read), then one of 1 MiB in the middle.
    const rows: Row[] = Array.from({ length: 3_000 }, (_, i) => ({ k: `k${i}`.padEnd(1 + ((i * 7919) % 4_000), '.'), v: i }));
    rows.splice(1_500, 0, { k: 'big'.padEnd(1024 * 1024, 'x'), v: -1 });
    expect(a.append(rows)).toEqual([]);
    a.close();
    const taken = newSpool(dir, 100_000_000).takeOldest()!;
    expect(taken.segment.bytes).toBeGreaterThan(6 * 1024 * 1024);
    expect(taken.rows).toEqual(rows);
  });
});

describe('BatchWriter with a spool', () => {
  /** A writer on a spool in a new directory, against a database that is down until `db.up` is set. */
  function spooledWriter(over: Partial<BatchWriterOptions<Row>>) {
    const dir = mkdtempSync(join(tmpdir(), 'spool-'));
    const db = { up: false, written: new Map<string, number>() };
    const dropped: Row[] = [];
    const w = new BatchWriter<Row>({
      name: 't',
      maxEvents: 50,
      maxWaitMs: 5,
      retry: { baseMs: 1, maxMs: 10 },
      budget: new BufferBudget(100),
      logger,
      metrics: createMetrics(),
      spool: newSpool(dir),
      write: async (rows) => {
        if (!db.up) throw Object.assign(new Error('down'), { code: 'ECONNREFUSED' });
        for (const r of rows) db.written.set(r.k, r.v);
      },
      onBadRow: () => {},
      // Collected, not asserted here: the writer catches and logs a callback's throw.
      onOverflow: (rows) => dropped.push(...rows),
      ...over,
    });
    return { w, dir, db, written: db.written, dropped };
  }

  it('spills past the memory budget to disk and writes everything once the database is back', async () => {
    const { w, dir, db, written, dropped } = spooledWriter({});
    for (let i = 0; i < 1000; i++) w.add([{ k: `k${i}`, v: i }]);
    expect(w.held).toBe(100);
    expect(readdirSync(dir).length).toBeGreaterThan(0);
    db.up = true;
    await waitFor(() => written.size === 1000, 'all 1000 rows written', 10_000);
    await waitFor(() => readdirSync(dir).length === 0, 'replayed segments deleted');
    expect(dropped).toEqual([]);
  });

  it('while writes fail, puts every row held over a second on disk (buffered ones and batches in flight), so a crash loses about a second', async () => {
    const { w, dir, db, written, dropped } = spooledWriter({ retry: { baseMs: 50, maxMs: 200 }, budget: new BufferBudget(10_000), spillAfterMs: 300 });
    for (let i = 0; i < 500; i++) w.add([{ k: `k${i}`, v: i }]); // well under the memory budget
    // A crash now would find every row on disk: a new process's spool holds all 500.
    await waitFor(() => {
      const seen = new Set<string>();
      for (let s = newSpool(dir), seg = s.takeOldest(); seg; seg = s.takeOldest()) for (const r of seg.rows) seen.add(r.k);
      return seen.size === 500;
    }, 'all 500 rows on disk', 5_000);
    // Only the batches in flight are still also in memory.
    expect(w.held).toBeLessThanOrEqual(100);
    db.up = true;
    await waitFor(() => written.size === 500, 'all 500 rows written', 10_000);
    await waitFor(() => readdirSync(dir).length === 0, 'replayed segments deleted', 10_000);
    expect(dropped).toEqual([]);
  });

  it('saves rows still unwritten at the drain deadline to the spool, for the next start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spool-'));
    const lost: Row[] = [];
    const make = (write: (rows: Row[]) => Promise<void>) =>
      new BatchWriter<Row>({
        name: 't',
        maxEvents: 10,
        maxWaitMs: 5,
        retry: { baseMs: 1, maxMs: 10 },
        budget: new BufferBudget(1000),
        logger,
        metrics: createMetrics(),
        spool: newSpool(dir),
        write,
        onBadRow: () => {},
        // Collected, not asserted here: the writer catches and logs a callback's throw.
        onOverflow: (rows) => lost.push(...rows),
        onAbandon: (rows) => lost.push(...rows),
      });
    const down = make(async () => {
      throw Object.assign(new Error('down'), { code: 'ECONNREFUSED' });
    });
    down.add(Array.from({ length: 25 }, (_, i) => ({ k: `k${i}`, v: i })));
    expect(await down.drain(AbortSignal.timeout(100))).toBe(0);
    const written: Row[] = [];
    make(async (rows) => void written.push(...rows)); // a restart with the database back
    await waitFor(() => written.length === 25, 'the spooled rows replayed at start-up');
    await waitFor(() => readdirSync(dir).length === 0, 'the segment deleted');
    expect(lost).toEqual([]);
  });
});
