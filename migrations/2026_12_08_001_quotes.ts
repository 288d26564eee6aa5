import { sql, type Kysely } from 'kysely';

/**
 * The market in SQL (BPTF_QUOTES): live per-SKU quotes of backpack.tf listings.
 *
 * - `bptf_listings.spelled`, generated from the stored payload like the prices (so every path that
 *   writes a payload keeps it right); adding it rewrites the table once, as 2026_12_01_002 did.
 * - `bptf_blocked_steamids`: the users' blocklist; `bptf_quote_blocklist_applied` is the blocklist as
 *   the quotes reflect it, so the daemon finds what changed by comparing the two (no trigger on a
 *   table users write, and a TRUNCATE or a restore is noticed as well as an INSERT).
 * - `bptf_key_rate`: one row (the unique index on a constant). `pending_ref`/`pending_since` hold a
 *   move of more than 30 % while it has not yet held 10 minutes; `swept_ref` is the rate every
 *   keys-priced quote has been brought to (a rate change starts a sweep until they are equal).
 * - `bptf_quotes`, and `bptf_quote_history` partitioned by day on `at` (partitions are made by the
 *   daemon, ahead of time and on demand, and dropped whole after QUOTE_HISTORY_RETENTION_DAYS). Two
 *   changes of one SKU can share an `at` (event times are whole seconds), so it has no primary key.
 *
 * The tables exist whether or not BPTF_QUOTES is on, so turning it on needs no migration.
 */
/** `spelled`'s expression over `payload` (exported for 2026_12_08_002, 2026_12_08_003 and a test). */
export const SPELLED = sql`CASE jsonb_typeof(payload #> '{item,spells}')
        WHEN 'array' THEN jsonb_array_length(payload #> '{item,spells}') > 0
        WHEN 'object' THEN payload #> '{item,spells}' <> '{}'::jsonb
        ELSE false
      END`;

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE bptf_listings ADD COLUMN spelled boolean GENERATED ALWAYS AS (${SPELLED}) STORED`.execute(db);
  await sql`
    CREATE TABLE bptf_blocked_steamids (
      steamid  text PRIMARY KEY,
      reason   text,
      added_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
  await sql`CREATE TABLE bptf_quote_blocklist_applied (steamid text PRIMARY KEY)`.execute(db);
  await sql`
    CREATE TABLE bptf_key_rate (
      ref           numeric NOT NULL CHECK (ref > 0),
      source        text NOT NULL DEFAULT 'manual' CHECK (source IN ('stream', 'manual')),
      updated_at    timestamptz NOT NULL DEFAULT now(),
      pending_ref   numeric,
      pending_since timestamptz,
      swept_ref     numeric
    )`.execute(db);
  await sql`CREATE UNIQUE INDEX bptf_key_rate_one_row ON bptf_key_rate ((true))`.execute(db);
  await sql`
    CREATE TABLE bptf_quotes (
      sku             text PRIMARY KEY,
      buy_ref         numeric,
      buy_listing_id  text,
      buy_count       int NOT NULL,
      sell_ref        numeric,
      sell_listing_id text,
      sell_count      int NOT NULL,
      bot_buy_ref     numeric,
      bot_sell_ref    numeric,
      key_rate_ref    numeric,
      changed_at      timestamptz NOT NULL,
      updated_at      timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
  await sql`
    CREATE TABLE bptf_quote_history (
      sku          text NOT NULL,
      at           timestamptz NOT NULL,
      buy_ref      numeric,
      sell_ref     numeric,
      bot_buy_ref  numeric,
      bot_sell_ref numeric,
      buy_count    int NOT NULL,
      sell_count   int NOT NULL
    ) PARTITION BY RANGE (at)`.execute(db);
  // "A quote's last day".
  await sql`CREATE INDEX bptf_quote_history_sku_idx ON bptf_quote_history (sku, at)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE bptf_quote_history`.execute(db);
  await sql`DROP TABLE bptf_quotes`.execute(db);
  await sql`DROP TABLE bptf_key_rate`.execute(db);
  await sql`DROP TABLE bptf_quote_blocklist_applied`.execute(db);
  await sql`DROP TABLE bptf_blocked_steamids`.execute(db);
  await sql`ALTER TABLE bptf_listings DROP COLUMN spelled`.execute(db);
}
