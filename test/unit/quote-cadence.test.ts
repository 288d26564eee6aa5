import { DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler } from 'kysely';
import { describe, expect, it } from 'vitest';
import type { CoreDatabase } from '../../src/core/db/schema.js';
import { QUOTE_RECOMPUTE_MAX_INTERVAL_MS, QuoteRecomputer } from '../../src/feeds/bptf/quote-recompute.js';
import { createLogger } from '../../src/logger.js';
import { fakeFeedContext } from '../helpers/feed-context.js';
import { waitFor } from '../helpers/wait-for.js';

/**
 * The recompute's cadence (quote-recompute.ts): runs start at most every intervalMs while they are
 * short, and a long run waits RUN_SHARE (2.5) times its own duration, at most
 * QUOTE_RECOMPUTE_MAX_INTERVAL_MS, from its start. The recompute's write is a stub that takes a set
 * time; the database answers nothing (the start's catch-up finds no SKU).
 */
interface Gap {
  /** From one run's start to the next's (ms). */
  gap: number;
  /** The first run's duration as the recomputer measures it (ms): a 100 ms timer can read as 99. */
  run: number;
}

async function runStarts(runMs: number, intervalMs: number, runs: number): Promise<Gap[]> {
  const db = new Kysely<CoreDatabase>({
    dialect: {
      createAdapter: () => new PostgresAdapter(),
      createDriver: () => new DummyDriver(),
      createIntrospector: (k) => new PostgresIntrospector(k),
      createQueryCompiler: () => new PostgresQueryCompiler(),
    },
  });
  const { ctx } = fakeFeedContext('bptf', { logger: createLogger('silent'), db });
  const starts: number[] = [];
  const ends: number[] = [];
  const r = new QuoteRecomputer();
  r.intervalMs = intervalMs;
  // Every run finds the SKU dirty again, as under a firehose. A run's start is the recomputer's own
  // reading, which the cadence is counted from: one taken here, later, shortened a gap on a busy
  // machine (47 ms for 50, a pause between the two readings).
  ctx.writeNow = async () => {
    starts.push(r.lastStartMs);
    await new Promise((resolve) => setTimeout(resolve, runMs));
    ends.push(Date.now());
    if (starts.length < runs) r.mark(new Map([['5021;6', Date.now()]]));
    return [];
  };
  const stop = new AbortController();
  const attached = r.attach(ctx, stop.signal);
  r.mark(new Map([['5021;6', Date.now()]]));
  await waitFor(() => starts.length >= runs, `${runs} runs`, 20_000);
  stop.abort();
  await attached;
  return starts.slice(1).map((t, i) => ({ gap: t - (starts[i] as number), run: (ends[i] as number) - (starts[i] as number) }));
}

describe('quote recompute cadence', () => {
  it('starts short runs every intervalMs', async () => {
    const gaps = (await runStarts(5, 50, 6)).map((g) => g.gap);
    // Timers fire late on a busy machine, never early.
    for (const g of gaps) expect(g).toBeGreaterThanOrEqual(50);
    expect(Math.min(...gaps)).toBeLessThan(2.5 * 50);
  });

  it('spaces long runs by 2.5 times their duration, and by no more than the maximum', async () => {
    // 2.5 times the run as measured, which a 100 ms timer can make 99 ms (Date.now's rounding):
    // a gap of 247.5 ms then is the rule kept, not broken. Well above intervalMs either way.
    const gaps = await runStarts(100, 50, 5);
    for (const { gap, run } of gaps) {
      expect(run).toBeGreaterThanOrEqual(98);
      expect(gap).toBeGreaterThanOrEqual(Math.floor(2.5 * run) - 1);
    }
    const capped = (await runStarts(300, 50, 4)).map((g) => g.gap);
    for (const g of capped) expect(g).toBeGreaterThanOrEqual(QUOTE_RECOMPUTE_MAX_INTERVAL_MS - 1);
    // The cap, not 2.5 x 300 ms: the earliest start after it is well before 750 ms.
    expect(Math.min(...capped)).toBeLessThan(700);
  });
});
