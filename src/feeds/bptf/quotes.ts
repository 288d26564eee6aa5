import type { Kysely } from 'kysely';
import type { TableChange } from '../../core/db/change-notifier.js';
import type { ListingRow } from './listing-row.js';
import { inTransaction, quoteRecomputer, recomputeLocked } from './quote-recompute.js';
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

/** bptf_listings' change, with the SKUs whose quotes it touches (SKU -> newest event time, ms) for `listingsCommitted`. */
interface ListingsChange extends TableChange {
  readonly quoteSkus?: ReadonlyMap<string, number>;
}

/**
 * bptf_listings' write. With BPTF_QUOTES it also finds, in the same statement, the SKUs the changed
 * listings touch (their new and their stored SKU). While the recomputer runs (quote-recompute.ts)
 * they go back with the change and are handed to it once the transaction commits
 * (listingsCommitted): the write itself stays one statement. Otherwise (no recomputer: a replay, the
 * process stopping) their quotes are recomputed here, in the same transaction. A duplicate or stale
 * event changes no listing, so it touches no SKU.
 */
export async function writeListings<DB extends BptfTables>(db: Kysely<DB>, rows: readonly ListingRow[]): Promise<readonly TableChange[]> {
  if (!quotesOn) return upsertListings(db, rows);
  if (quoteRecomputer.attached) {
    const { change, skus } = await upsertListingsTouchingSkus(db, rows);
    const out: ListingsChange = { ...change, quoteSkus: skus };
    return [out];
  }
  return inTransaction(db, async (trx) => {
    const { change, skus } = await upsertListingsTouchingSkus(trx, rows);
    if (skus.size === 0) return [change];
    const list = [...skus.keys()];
    return [change, await recomputeLocked(trx, list, list.map((s) => skus.get(s) ?? null))];
  });
}

/** bptf_listings' write committed: the SKUs it touched are the recomputer's (TableSpec.committed). */
export function listingsCommitted(changes: readonly TableChange[]): void {
  for (const c of changes as readonly ListingsChange[]) if (c.quoteSkus) quoteRecomputer.mark(c.quoteSkus);
}
