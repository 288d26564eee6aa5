import type { Kysely } from 'kysely';
import type { TableChange } from '../../core/db/change-notifier.js';
import type { TableSpec } from '../../core/feed.js';
import { dayOf, ensureDayPartitions, forgetDayPartitions } from './day-partitions.js';
import type { ListingRow } from './listing-row.js';
import { lockQuotes, recomputeQuotes, savepoint, tryLockQuotes } from './quote-store.js';
import { upsertListings, upsertListingsTouchingSkus } from './store.js';
import type { BptfTables } from './tables.js';

/**
 * BPTF_QUOTES, as the last plan() read it. Process-wide because the listings table's write (a
 * TableSpec, listed before any configuration is read) has no configuration of its own; one process
 * runs one configuration.
 */
let quotesOn = true;

export function useQuotes(on: boolean): void {
  quotesOn = on;
}

/** Run `f` in a transaction: `db` itself when it is one (the core's, with its notifications), else a new one. */
function inTransaction<DB extends BptfTables, T>(db: Kysely<DB>, f: (trx: Kysely<DB>) => Promise<T>): Promise<T> {
  return db.isTransaction ? f(db) : db.transaction().execute(f);
}

/**
 * bptf_listings' write. With BPTF_QUOTES, in the same transaction (so a committed listing and its
 * quote commit together, and the notification names exactly the quotes that changed): the quotes of
 * the SKUs the changed listings touch (their new and their stored SKU) are recomputed, after their
 * locks (quote-store.ts). A duplicate or stale event changes no listing, so it recomputes nothing.
 */
export async function writeListings<DB extends BptfTables>(db: Kysely<DB>, rows: readonly ListingRow[]): Promise<readonly TableChange[]> {
  if (!quotesOn) return upsertListings(db, rows);
  return inTransaction(db, async (trx) => {
    const { change, skus } = await upsertListingsTouchingSkus(trx, rows);
    if (skus.size === 0) return [change];
    const list = [...skus.keys()].sort();
    const times = list.map((s) => skus.get(s) ?? null);
    const days = new Set(times.map((t) => dayOf(t ?? Date.now())));
    // Before the locks: a partition made here locks the history table until this commit.
    await ensureDayPartitions(trx, 'bptf_quote_history', days);
    await lockQuotes(trx, list);
    return [change, await recomputeWithHistory(trx, list, times, days)];
  });
}

/**
 * recomputeQuotes, and if a history partition this process believed in is gone (23514: dropped by
 * hand or by another replica's retention, for an old event's day), make it again and recompute once
 * more, from a savepoint: the listings written before in the transaction stay, and the rows are
 * never taken for bad ones (23 is the row's class).
 */
async function recomputeWithHistory<DB extends BptfTables>(
  trx: Kysely<DB>,
  skus: readonly string[],
  times: readonly (number | null)[],
  days: ReadonlySet<number>,
): Promise<TableChange> {
  await savepoint(trx, 'set');
  try {
    return await recomputeQuotes(trx, skus, times);
  } catch (err) {
    if ((err as { code?: string }).code !== '23514') throw err;
    await savepoint(trx, 'rollback');
    forgetDayPartitions('bptf_quote_history');
    await ensureDayPartitions(trx, 'bptf_quote_history', days);
    return recomputeQuotes(trx, skus, times);
  }
}

/** A background recompute of some SKUs; `skipped` is filled with those another transaction held. */
export interface QuoteJob {
  readonly skus: readonly string[];
  skipped: string[];
}

/**
 * The background recompute (a key-rate or blocklist change) as a table the core writes with its
 * change notifications (ctx.writeNow): each job's SKUs whose lock is free are recomputed at now();
 * the others, which ingestion is recomputing at that moment, are left in `skipped` to try again.
 */
export const quoteRefreshTable: TableSpec<QuoteJob> = {
  name: 'bptf_quotes',
  rowKind: 'quote refresh',
  write: (db, jobs) =>
    inTransaction(db.withTables<BptfTables>(), async (trx) => {
      const skus = [...new Set(jobs.flatMap((j) => j.skus))].sort();
      // now() of the database, give or take the clocks' skew (1 min): both days around midnight.
      const now = Date.now();
      const days = new Set([dayOf(now - 60_000), dayOf(now + 60_000)]);
      await ensureDayPartitions(trx, 'bptf_quote_history', days);
      const held = new Set(await tryLockQuotes(trx, skus));
      for (const j of jobs) j.skipped = j.skus.filter((s) => !held.has(s));
      const mine = skus.filter((s) => held.has(s));
      return [await recomputeWithHistory(trx, mine, mine.map(() => null), days)];
    }),
  sizeOf: (j) => j.skus.length * 16,
  eventTimeMs: () => null,
  describe: (j) => JSON.stringify({ skus: j.skus }),
};
