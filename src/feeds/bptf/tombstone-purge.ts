import type { PeriodicTask } from '../../core/feed.js';
import { delay } from '../../util/delay.js';
import { purgeTombstones } from './store.js';
import type { BptfTables } from './tables.js';

/** How often the purge runs (ms). Tombstones are counted in days: hourly keeps the table within an hour of its retention. */
export const PURGE_INTERVAL_MS = 60 * 60_000;
/** Rows per DELETE: each statement is short, so the writers never wait long on it. */
export const PURGE_BATCH = 1_000;
/** Pause between two batches (ms): a large first purge leaves the database to ingestion in between. */
const PURGE_PAUSE_MS = 100;

/**
 * TOMBSTONE_RETENTION_DAYS: deleted listings whose delete is older than the retention are removed, in
 * batches of PURGE_BATCH until none is left, and counted in tributary_rows_purged_total. A listing
 * revived after its purge simply comes back as a new row (its update is newer than any delete).
 */
export function tombstonePurge(retentionDays: number, opts: { intervalMs?: number; batch?: number } = {}): PeriodicTask {
  const batch = opts.batch ?? PURGE_BATCH;
  return {
    name: 'bptf tombstone purge',
    intervalMs: opts.intervalMs ?? PURGE_INTERVAL_MS,
    async run(ctx, signal) {
      const db = ctx.db.withTables<BptfTables>();
      const before = new Date(Date.now() - retentionDays * 86_400_000);
      let total = 0;
      for (;;) {
        const n = await purgeTombstones(db, before, batch);
        total += n;
        ctx.metrics.rowsPurged.inc({ table: 'bptf_listings' }, n);
        if (n < batch || signal.aborted) break;
        await delay(PURGE_PAUSE_MS, signal);
      }
      if (total > 0) ctx.logger.info({ purged: total, older_than: before.toISOString() }, 'purged old bptf_listings tombstones');
    },
  };
}
