import { sql, type Kysely } from 'kysely';
import { setCompression } from './2026_12_01_001_payload_lz4.js';

/**
 * bptf_listing_events' payload with lz4, as bptf_listings' since 2026_12_01_001 (which came before
 * this table and so left it with the default, pglz). Every event BPTF_HISTORY stores compresses one
 * 2-3 KiB payload. On a partitioned table the setting applies to the partitions made after it, so
 * the ones that exist are set too. A server without lz4 keeps pglz (setCompression).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  for (const table of await tables(db)) await setCompression(db, table, 'payload', 'lz4');
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of await tables(db)) await setCompression(db, table, 'payload', 'pglz');
}

/** bptf_listing_events and its partitions. */
async function tables(db: Kysely<unknown>): Promise<string[]> {
  const r = await sql<{ name: string }>`
    SELECT c.relname AS name FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
    WHERE p.relname = 'bptf_listing_events'`.execute(db);
  return ['bptf_listing_events', ...r.rows.map((x) => x.name)];
}
