import type { Kysely } from 'kysely';
import type { CoreDatabase } from '../../core/db/schema.js';
import type { FeedContext, PeriodicTask } from '../../core/feed.js';
import {
  applyBlocklistChanges,
  blocklistChanges,
  keyRateSweepState,
  keysPricedSkus,
  markKeyRateSwept,
  quotesOffRate,
  readKeyRateForUpdate,
  skusOfSteamids,
  streamKeyRate,
  writeStreamKeyRate,
} from './quote-store.js';
import { quoteRecomputeTable } from './quote-recompute.js';
import type { BptfTables } from './tables.js';

/** How often the refresh runs (ms): a key-rate or blocklist change reaches its quotes within this and a run's time, well under 60 s. */
export const QUOTE_REFRESH_INTERVAL_MS = 10_000;
/** SKUs recomputed per transaction: each one short, so the live recomputer's locks are never behind a long one. */
export const QUOTE_REFRESH_BATCH = 500;
/** A stream rate more than this far (fraction) from the current one is ignored until it has held HOLD_MS. */
export const KEY_RATE_MAX_MOVE = 0.3;
/** How long (ms) a move over KEY_RATE_MAX_MOVE must hold before it is taken. */
export const KEY_RATE_HOLD_MS = 10 * 60_000;

/**
 * The background half of BPTF_QUOTES, every `intervalMs` on every replica (each step is safe to run
 * twice at once):
 * 1. the key rate from the stream (quote-store.streamKeyRate), with the 30 % rule; a manual rate is
 *    never touched;
 * 2. after a rate change, every quote priced in keys recomputed (in SKU order, QUOTE_REFRESH_BATCH per
 *    transaction) until all use the new rate;
 * 3. after a blocklist change, the quotes of the SKUs the added or removed SteamIDs list.
 * Quotes are written through ctx.writeNow, so their notifications go out with the commit. `now` (ms)
 * is the clock of the 30 % rule, for tests.
 */
export function quoteRefresh(opts: { intervalMs?: number; batch?: number; now?: () => number } = {}): PeriodicTask {
  const now = opts.now ?? Date.now;
  const batch = opts.batch ?? QUOTE_REFRESH_BATCH;
  return {
    name: 'bptf quote refresh',
    intervalMs: opts.intervalMs ?? QUOTE_REFRESH_INTERVAL_MS,
    runAtStart: true,
    async run(ctx, signal) {
      const db = ctx.db.withTables<BptfTables>();
      await updateKeyRate(ctx, db, now());
      await sweepKeyRate(ctx, db, batch, signal);
      await applyBlocklist(ctx, db, batch, signal);
    },
  };
}

async function updateKeyRate(ctx: FeedContext, db: Kysely<CoreDatabase & BptfTables>, nowMs: number): Promise<void> {
  await db.transaction().execute(async (trx: Kysely<CoreDatabase & BptfTables>) => {
    const cur = await readKeyRateForUpdate(trx);
    if (cur?.source === 'manual') return;
    const candidate = await streamKeyRate(trx);
    if (candidate === null) return;
    const c = Number(candidate);
    if (!cur) {
      await writeStreamKeyRate(trx, candidate, null);
      ctx.logger.info({ ref: c }, 'key rate from the stream');
      return;
    }
    if (Math.abs(c - cur.ref) / cur.ref <= KEY_RATE_MAX_MOVE) {
      if (candidate !== cur.refText || cur.pendingRef !== null) await writeStreamKeyRate(trx, candidate, null);
      return;
    }
    // A large move: taken once it has held (near the level first seen) for KEY_RATE_HOLD_MS.
    const holding = cur.pendingRef !== null && cur.pendingSinceMs !== null && Math.abs(c - cur.pendingRef) / cur.pendingRef <= KEY_RATE_MAX_MOVE;
    if (holding && nowMs - (cur.pendingSinceMs ?? nowMs) >= KEY_RATE_HOLD_MS) {
      await writeStreamKeyRate(trx, candidate, null);
      ctx.logger.info({ from: cur.ref, ref: c }, 'key rate moved more than 30 % and held for 10 minutes: taken');
      return;
    }
    if (holding) return;
    await writeStreamKeyRate(trx, cur.refText, { ref: c, sinceMs: nowMs });
    ctx.logger.info({ ref: cur.ref, ignored: c }, 'key rate from the stream moved more than 30 %: ignored unless it holds for 10 minutes');
  });
}

/**
 * Recompute `skus` in batches, at now() (the listings did not change: the rate or blocklist did); true
 * when every one was done. Each batch waits for its SKUs' locks, which only other recomputes hold,
 * never ingestion.
 */
async function refreshSkus(ctx: FeedContext, skus: readonly string[], batch: number, signal: AbortSignal): Promise<boolean> {
  for (let i = 0; i < skus.length && !signal.aborted; i += batch) {
    const todo = skus.slice(i, i + batch);
    await ctx.writeNow(quoteRecomputeTable, [{ skus: todo, times: todo.map(() => null) }]);
  }
  return !signal.aborted;
}

async function sweepKeyRate(ctx: FeedContext, db: Kysely<CoreDatabase & BptfTables>, batch: number, signal: AbortSignal): Promise<void> {
  const { ref, sweptRef } = await keyRateSweepState(db);
  let complete = true;
  if (ref !== null && ref !== sweptRef) {
    const started = Date.now();
    let after = '';
    let count = 0;
    for (;;) {
      const skus = await keysPricedSkus(db, after, batch);
      if (skus.length === 0 || signal.aborted) break;
      complete = (await refreshSkus(ctx, skus, batch, signal)) && complete;
      count += skus.length;
      after = skus[skus.length - 1] as string;
    }
    ctx.logger.info({ ref: Number(ref), skus: count, ms: Date.now() - started }, 'quotes priced in keys recomputed at the new key rate');
  }
  // Quotes still at another rate: a SKU that became keys-priced during the sweep, a rate a user deleted.
  for (let round = 0; round < 100 && !signal.aborted; round++) {
    const off = await quotesOffRate(db, ref, batch);
    if (off.length === 0) break;
    complete = (await refreshSkus(ctx, off, batch, signal)) && complete;
  }
  if (complete && ref !== null && ref !== sweptRef && !signal.aborted) await markKeyRateSwept(db, ref);
}

async function applyBlocklist(ctx: FeedContext, db: Kysely<CoreDatabase & BptfTables>, batch: number, signal: AbortSignal): Promise<void> {
  const changes = await blocklistChanges(db);
  if (changes.added.length === 0 && changes.removed.length === 0) return;
  const skus = (await skusOfSteamids(db, [...changes.added, ...changes.removed])).sort();
  if (await refreshSkus(ctx, skus, batch, signal)) {
    await applyBlocklistChanges(db, changes);
    ctx.logger.info({ blocked: changes.added.length, unblocked: changes.removed.length, skus: skus.length }, 'quotes follow the blocklist');
  }
}
