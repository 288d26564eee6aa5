import type { PeriodicTask, TableSpec } from '../../core/feed.js';
import { dayOf, dayPartitionUpkeep, ensureDayPartitions, forgetDayPartitions } from './day-partitions.js';
import { insertListingEvents } from './history-store.js';
import type { ListingRow } from './listing-row.js';
import { listingsTable } from './listings-table.js';
import type { BptfTables } from './tables.js';

/**
 * BPTF_HISTORY: bptf_listing_events, one row per event; the same rows the listings table gets, before
 * merging. A row's day partition is made on its first write; an old event (a replayed spool) may make
 * a partition retention then drops within the hour.
 */
export const listingEventsTable: TableSpec<ListingRow> = {
  name: 'bptf_listing_events',
  rowKind: 'listing event',
  copy: true,
  // The same event twice in a batch (a reconnect's overlap) is one row.
  collapse: { key: (r) => r.eventId, merge: (older) => older },
  write: async (db, rows) => {
    const tdb = db.withTables<BptfTables>();
    const days = new Set(rows.map((r) => dayOf(r.eventTimeMs)));
    await ensureDayPartitions(tdb, 'bptf_listing_events', days);
    try {
      return [await insertListingEvents(tdb, rows)];
    } catch (err) {
      // 23514: no partition for a row (one dropped by hand). Not the row's fault: make them again, once.
      if ((err as { code?: string }).code !== '23514') throw err;
      forgetDayPartitions('bptf_listing_events');
      await ensureDayPartitions(tdb, 'bptf_listing_events', days);
      return [await insertListingEvents(tdb, rows)];
    }
  },
  // Rows as bptf_listings has them: measured, spooled and described the same way.
  sizeOf: listingsTable.sizeOf,
  encode: listingsTable.encode,
  decode: listingsTable.decode,
  eventTimeMs: listingsTable.eventTimeMs,
  describe: listingsTable.describe,
};

/**
 * Hourly: make the partitions of today and the next DAYS_AHEAD days, drop those wholly older than
 * HISTORY_RETENTION_DAYS. `now` is for tests (ms).
 */
export function historyPartitions(retentionDays: number, opts: { intervalMs?: number; now?: () => number } = {}): PeriodicTask {
  return dayPartitionUpkeep('bptf_listing_events', 'HISTORY_RETENTION_DAYS', retentionDays, opts);
}
