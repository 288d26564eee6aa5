import { sql, type Kysely } from 'kysely';
import type { TableChange } from '../../core/db/change-notifier.js';
import type { ListingRow } from './listing-row.js';
import { withListingDocument } from './store.js';
import type { BptfTables } from './tables.js';

/** The tables partitioned by day (on a timestamptz column) that the daemon keeps partitions of. */
export type DayPartitionedTable = 'bptf_listing_events' | 'bptf_quote_history';

/** A day partition's name: <table>_pYYYYMMDD (UTC), e.g. bptf_listing_events_p20261208. */
export function partitionName(dayStartMs: number, table: DayPartitionedTable = 'bptf_listing_events'): string {
  return `${table}_p${new Date(dayStartMs).toISOString().slice(0, 10).replaceAll('-', '')}`;
}

/** Create the partition of the UTC day starting at `dayStartMs`, unless it exists. */
export async function createDayPartition<DB extends BptfTables>(
  db: Kysely<DB>,
  dayStartMs: number,
  table: DayPartitionedTable = 'bptf_listing_events',
): Promise<void> {
  const from = new Date(dayStartMs).toISOString();
  const to = new Date(dayStartMs + 86_400_000).toISOString();
  try {
    await sql`CREATE TABLE IF NOT EXISTS ${sql.table(partitionName(dayStartMs, table))} PARTITION OF ${sql.table(table)} FOR VALUES FROM (${sql.lit(from)}) TO (${sql.lit(to)})`.execute(db);
  } catch (err) {
    // Another writer or replica created it between the check and the create.
    if ((err as { code?: string }).code !== '42P07' && (err as { code?: string }).code !== '23505') throw err;
  }
}

/** The day partitions that exist, as the UTC day each starts (ms). */
export async function dayPartitions<DB extends BptfTables>(db: Kysely<DB>, table: DayPartitionedTable = 'bptf_listing_events'): Promise<number[]> {
  const r = await sql<{ name: string }>`
    SELECT c.relname AS name FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
    WHERE p.relname = ${table}`.execute(db);
  const pattern = new RegExp(`^${table}_p(\\d{4})(\\d{2})(\\d{2})$`);
  return r.rows.flatMap(({ name }) => {
    const m = pattern.exec(name);
    return m ? [Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))] : [];
  });
}

export async function dropDayPartition<DB extends BptfTables>(
  db: Kysely<DB>,
  dayStartMs: number,
  table: DayPartitionedTable = 'bptf_listing_events',
): Promise<void> {
  await sql`DROP TABLE IF EXISTS ${sql.table(partitionName(dayStartMs, table))}`.execute(db);
}

/**
 * Insert the events, each once (a duplicate of a stored event is skipped), in one statement from the
 * same jsonb document as bptf_listings' upsert, prices included (the daemon's, as in bptf_listings).
 * A delete that carried only the listing id is stored with a null payload (and null prices). Returns
 * the events stored, for notifications.
 */
export async function insertListingEvents<DB extends BptfTables>(db: Kysely<DB>, rows: readonly ListingRow[]): Promise<TableChange> {
  const r = await withListingDocument(rows, (u) =>
    sql<{ id: string; t: number }>`
      INSERT INTO bptf_listing_events (event_id, event_time, listing_id, kind, sku, intent, steamid, price_keys, price_metal, value_raw, payload)
      SELECT u.event_id, to_timestamp(u.event_time), u.id, CASE WHEN u.deleted THEN 'delete' ELSE 'update' END,
             u.sku, u.intent, u.steamid, u.price_keys, u.price_metal, u.value_raw, CASE WHEN u.payload_event_id IS NOT NULL THEN u.payload END
      FROM (${u}) AS u
      ON CONFLICT (event_time, event_id) DO NOTHING
      RETURNING event_id AS id, extract(epoch FROM event_time)::float8 * 1000 AS t
    `.execute(db),
  );
  return { table: 'bptf_listing_events', ids: r.rows.map((x) => x.id), eventTimesMs: r.rows.map((x) => x.t) };
}
