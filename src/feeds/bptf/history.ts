import type { PeriodicTask, TableSpec } from '../../core/feed.js';
import { createDayPartition, dayPartitions, dropDayPartition, insertListingEvents } from './history-store.js';
import type { ListingRow } from './listing-row.js';
import { listingsTable } from './listings-table.js';
import type { BptfTables } from './tables.js';

const DAY_MS = 86_400_000;
/** Partitions made ahead of the clock (days), so a day's first events never wait for one. */
const DAYS_AHEAD = 2;

function dayOf(ms: number): number {
  return Math.floor(ms / DAY_MS) * DAY_MS;
}

/**
 * Day partitions known to exist, so a batch creates only the ones it is the first to need. Process-
 * wide on purpose: every writer of the table shares the answer; a partition dropped by retention is
 * removed from it, and one dropped by hand makes the next insert fail, be retried and recreate it.
 */
const knownDays = new Set<number>();

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
    const ensure = async () => {
      for (const day of days) {
        if (knownDays.has(day)) continue;
        await createDayPartition(tdb, day);
        knownDays.add(day);
      }
    };
    await ensure();
    try {
      return [await insertListingEvents(tdb, rows)];
    } catch (err) {
      // 23514: no partition for a row (one dropped by hand). Not the row's fault: make them again, once.
      if ((err as { code?: string }).code !== '23514') throw err;
      knownDays.clear();
      await ensure();
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
  const now = opts.now ?? Date.now;
  return {
    name: 'bptf history partitions',
    intervalMs: opts.intervalMs ?? 60 * 60_000,
    runAtStart: true,
    async run(ctx) {
      const db = ctx.db.withTables<BptfTables>();
      const today = dayOf(now());
      for (let d = 0; d <= DAYS_AHEAD; d++) {
        await createDayPartition(db, today + d * DAY_MS);
        knownDays.add(today + d * DAY_MS);
      }
      const oldest = today - retentionDays * DAY_MS;
      for (const day of await dayPartitions(db)) {
        if (day >= oldest) continue;
        await dropDayPartition(db, day);
        knownDays.delete(day);
        ctx.logger.info({ day: new Date(day).toISOString().slice(0, 10) }, 'dropped a bptf_listing_events partition past HISTORY_RETENTION_DAYS');
      }
    },
  };
}
