import { sql, type Kysely } from 'kysely';
import { PRICE_KEYS, PRICE_METAL } from './2026_12_01_002_sku_prices.js';

/**
 * bptf_listing_events (BPTF_HISTORY=true): every backpack.tf event once, partitioned by day of its
 * event time so that retention drops whole partitions (no DELETE, no bloat) and a query over a
 * period reads only its days. The partitions themselves are made by the daemon, ahead of time and
 * on demand (src/feeds/bptf/history-partitions.ts); the table is created here whether or not
 * history is on, so turning it on needs no migration. Prices and `automatic` are generated from the
 * payload as in bptf_listings; a delete that carried only the listing id has no payload.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE bptf_listing_events (
      event_id    text NOT NULL,
      event_time  timestamptz NOT NULL,
      listing_id  text NOT NULL,
      kind        text NOT NULL CHECK (kind IN ('update', 'delete')),
      sku         text,
      intent      text,
      steamid     text,
      price_keys  numeric GENERATED ALWAYS AS (${PRICE_KEYS}) STORED,
      price_metal numeric GENERATED ALWAYS AS (${PRICE_METAL}) STORED,
      value_raw   double precision,
      payload     jsonb,
      received_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (event_time, event_id)
    ) PARTITION BY RANGE (event_time)`.execute(db);
  // "A SKU's prices over the last day" and "a listing's history".
  await sql`CREATE INDEX bptf_listing_events_sku_idx ON bptf_listing_events (sku, event_time)`.execute(db);
  await sql`CREATE INDEX bptf_listing_events_listing_idx ON bptf_listing_events (listing_id, event_time)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE bptf_listing_events`.execute(db);
}
