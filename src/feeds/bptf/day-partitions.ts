import type { Kysely } from 'kysely';
import type { PeriodicTask } from '../../core/feed.js';
import { createDayPartition, dayPartitions, dropDayPartition, type DayPartitionedTable } from './history-store.js';
import type { BptfTables } from './tables.js';

const DAY_MS = 86_400_000;
/** Partitions made ahead of the clock (days), so a day's first events never wait for one. */
const DAYS_AHEAD = 2;

export function dayOf(ms: number): number {
  return Math.floor(ms / DAY_MS) * DAY_MS;
}

/**
 * Day partitions known to exist, per table, so a batch creates only the ones it is the first to need.
 * Process-wide on purpose: every writer of the table shares the answer; a partition dropped by
 * retention is removed from it, and one dropped by hand makes the next insert fail, be retried and
 * recreate it (forgetDayPartitions).
 */
const knownDaysOf = new Map<DayPartitionedTable, Set<number>>();

function knownDays(table: DayPartitionedTable): Set<number> {
  let known = knownDaysOf.get(table);
  if (!known) knownDaysOf.set(table, (known = new Set()));
  return known;
}

/** Make the day partitions of `table` that `days` (UTC day starts, ms) need and this process has not made or seen. */
export async function ensureDayPartitions<DB extends BptfTables>(db: Kysely<DB>, table: DayPartitionedTable, days: Iterable<number>): Promise<void> {
  const known = knownDays(table);
  for (const day of days) {
    if (known.has(day)) continue;
    await createDayPartition(db, day, table);
    known.add(day);
  }
}

/** After 23514 (no partition for a row: one dropped by hand), believe none exists until made again. */
export function forgetDayPartitions(table: DayPartitionedTable): void {
  knownDays(table).clear();
}

/**
 * Hourly, for one day-partitioned table: make the partitions of today and the next DAYS_AHEAD days,
 * drop those wholly older than `retentionDays` (the variable named `setting`). `now` is for tests (ms).
 */
export function dayPartitionUpkeep(
  table: DayPartitionedTable,
  setting: string,
  retentionDays: number,
  opts: { intervalMs?: number; now?: () => number } = {},
): PeriodicTask {
  const now = opts.now ?? Date.now;
  const known = knownDays(table);
  return {
    name: `${table} partitions`,
    intervalMs: opts.intervalMs ?? 60 * 60_000,
    runAtStart: true,
    async run(ctx) {
      const db = ctx.db.withTables<BptfTables>();
      const today = dayOf(now());
      for (let d = 0; d <= DAYS_AHEAD; d++) {
        await createDayPartition(db, today + d * DAY_MS, table);
        known.add(today + d * DAY_MS);
      }
      const oldest = today - retentionDays * DAY_MS;
      for (const day of await dayPartitions(db, table)) {
        if (day >= oldest) continue;
        await dropDayPartition(db, day, table);
        known.delete(day);
        ctx.logger.info({ day: new Date(day).toISOString().slice(0, 10) }, `dropped a ${table} partition past ${setting}`);
      }
    },
  };
}
