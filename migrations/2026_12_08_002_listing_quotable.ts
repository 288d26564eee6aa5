import { sql, type Kysely } from 'kysely';
import { SPELLED } from './2026_12_08_001_quotes.js';

/**
 * `bptf_listings.quotable`: the part of a quote's eligibility that depends on the listing alone
 * (TF2, a SKU, a buy or a sell, priced in keys and/or metal only and with numbers, not spelled), so a
 * quote's recompute tests one stored boolean per listing instead of taking `currencies` apart with
 * jsonb operators. A recompute reads every live listing of its SKUs several times a second while a
 * listing is written far less often, so the test moved from the read to the write (quote-store.ts
 * gives the recompute's cost).
 *
 * Generated from the same columns and payload paths as `appid`, `sku`, `intent`, `price_keys`,
 * `price_metal` and `spelled` (a generated column cannot read another one, so those two are spelled
 * out again), so it is right on every path that writes a row. Adding it rewrites the table once, as
 * 2026_12_08_001 did. What eligibility still needs at read time: `deleted_at`, the key rate and the
 * blocklist (quote-store.ts).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE bptf_listings ADD COLUMN quotable boolean NOT NULL GENERATED ALWAYS AS (${QUOTABLE}) STORED`.execute(db);
}

/** `quotable`'s expression (exported for 2026_12_08_003 and a test): `spelled`'s spelt out, as a generated column cannot read another. */
export const QUOTABLE = sql`coalesce(
      appid = 440 AND sku IS NOT NULL AND intent IN ('buy', 'sell')
      AND jsonb_typeof(payload -> 'currencies') = 'object'
      AND (payload -> 'currencies') - 'keys' - 'metal' = '{}'::jsonb
      AND (jsonb_typeof(payload #> '{currencies,keys}') = 'number' OR jsonb_typeof(payload #> '{currencies,metal}') = 'number')
      AND coalesce(jsonb_typeof(payload #> '{currencies,keys}'), 'number') = 'number'
      AND coalesce(jsonb_typeof(payload #> '{currencies,metal}'), 'number') = 'number'
      AND NOT ${SPELLED},
      false)`;

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE bptf_listings DROP COLUMN quotable`.execute(db);
}
