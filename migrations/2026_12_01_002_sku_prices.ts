import { sql, type Kysely } from 'kysely';

/**
 * What traders query by: `sku` (the item in the form trading bots key prices by, computed by the
 * daemon from the payload's item), the price as numbers, and whether a bot manages the listing.
 *
 * `price_keys`, `price_metal` and `automatic` are generated from the stored payload, so every path
 * that writes a payload (the daemon, a restore, a hand-made fix) keeps them right, and the insert
 * statement does not carry them. Adding them rewrites the table once (a few seconds per million rows,
 * under an exclusive lock). `sku` of listings stored before this migration stays null until their
 * next event, which for a live listing is its next bump.
 *
 * The index serves "live listings of this SKU, by intent" (the cheapest sell, buy orders above a
 * price); such queries add `deleted_at IS NULL`, checked on the rows it finds. It is deliberately not
 * partial on `deleted_at IS NULL`: a column in an index predicate counts as indexed, so every delete
 * and revival (a sixth of the bench's updates) would stop being a HOT update and add an entry to
 * every index; measured, the HOT share fell from 94 % to 79 %. Tombstones are few (they are purged
 * after TOMBSTONE_RETENTION_DAYS), and sku and intent rarely change, so updates stay HOT.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE bptf_listings
      ADD COLUMN sku text,
      ADD COLUMN price_keys numeric GENERATED ALWAYS AS (${PRICE_KEYS}) STORED,
      ADD COLUMN price_metal numeric GENERATED ALWAYS AS (${PRICE_METAL}) STORED,
      ADD COLUMN automatic boolean GENERATED ALWAYS AS (${AUTOMATIC}) STORED`.execute(db);
  await sql`CREATE INDEX bptf_listings_sku_intent_idx ON bptf_listings (sku, intent)`.execute(db);
}

/**
 * The columns' expressions over `payload` (exported: 2026_12_08_003 brings them back in its `down`, and
 * a test holds the daemon's columns, which replaced them, to them).
 */
export const PRICE_KEYS = sql`CASE WHEN jsonb_typeof(payload #> '{currencies,keys}') = 'number' THEN (payload #>> '{currencies,keys}')::numeric END`;
export const PRICE_METAL = sql`CASE WHEN jsonb_typeof(payload #> '{currencies,metal}') = 'number' THEN (payload #>> '{currencies,metal}')::numeric END`;
export const AUTOMATIC = sql`coalesce(jsonb_typeof(payload -> 'userAgent') <> 'null', false)`;

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX bptf_listings_sku_intent_idx`.execute(db);
  await sql`ALTER TABLE bptf_listings DROP COLUMN sku, DROP COLUMN price_keys, DROP COLUMN price_metal, DROP COLUMN automatic`.execute(db);
}
