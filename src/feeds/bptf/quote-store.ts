import { sql, type Kysely } from 'kysely';
import type { TableChange } from '../../core/db/change-notifier.js';
import type { BptfTables } from './tables.js';

/**
 * The SQL of bptf_quotes (the contract's "The market in SQL"): eligibility, the recompute of a set
 * of SKUs, the key rate and the blocklist as the quotes reflect it.
 *
 * Concurrency: a recompute of a SKU first takes a transaction advisory lock on it (first key
 * QUOTE_LOCK_NAMESPACE, second hashtext(sku)) in a statement of its own, and only then reads the
 * listings, in a new statement. In READ COMMITTED that statement's snapshot sees every transaction
 * that recomputed the SKU before (they committed to release the lock), so two recomputes of one SKU
 * (two replicas, the refresh and the recomputer) are serialized and never write one change twice.
 * Recomputes wait for the lock, in hash order (no deadlock among them).
 *
 * Ingestion never waits: its upsert only tries the same lock in shared mode (store.ts) and goes on
 * either way. Held, the shared lock makes a recompute wait for the listings' commit; refused, a
 * recompute holds or waits for it already, so it took its dirty SKUs before the upsert returned
 * and the upsert's SKUs are recomputed by the next one (quote-recompute.ts).
 */

/** First key of the quote locks: "bpqt" in ASCII; not tributary's feed-lock namespace, so never the same lock. */
export const QUOTE_LOCK_NAMESPACE = 0x62707174;

/** The key item: its metal-only bot sell listings make the key rate. */
export const KEY_SKU = '5021;6';

/** Wait for the quote locks of `skus` (sorted, in the transaction `db` is). */
export async function lockQuotes<DB extends BptfTables>(db: Kysely<DB>, skus: readonly string[]): Promise<void> {
  if (skus.length === 0) return;
  await sql`
    SELECT pg_advisory_xact_lock(${QUOTE_LOCK_NAMESPACE}, k)
    FROM (SELECT DISTINCT hashtext(s) AS k FROM unnest(${skus}::text[]) AS s ORDER BY k) AS ks`.execute(db);
}

/**
 * Give the rest of the transaction `db` is (a recompute) QUOTE_WORK_MEM. A recompute holds every
 * eligible listing of its SKUs (about 100 bytes each) for two passes; past the server's work_mem
 * (4 MB by default: about 40,000 listings) they went to a temporary file and back on every run. With
 * the bench's 42,000 live listings in 11 SKUs, a run took 4-15 % longer.
 */
export async function recomputeMemory<DB extends BptfTables>(db: Kysely<DB>): Promise<void> {
  await sql`SELECT set_config('work_mem', ${QUOTE_WORK_MEM}, true)`.execute(db);
}

/** work_mem of a quote recompute's transaction: 1,000 SKUs of a few hundred listings each stay in memory. */
const QUOTE_WORK_MEM = '32MB';

/** Set, or roll back to, the savepoint the quote recompute starts from. */
export async function savepoint<DB extends BptfTables>(db: Kysely<DB>, action: 'set' | 'rollback'): Promise<void> {
  await (action === 'set' ? sql`SAVEPOINT bptf_quotes` : sql`ROLLBACK TO SAVEPOINT bptf_quotes`).execute(db);
}

/**
 * An eligible listing (alias `l`, with the key rate as `rate.ref`): live, `quotable` (its own part:
 * TF2, a SKU, a buy or a sell, priced in keys and/or metal only with numbers, not spelled; a stored
 * column the daemon writes with the payload, listing-columns.ts), its owner not blocklisted, and priced in keys only
 * while a key rate exists.
 *
 * The blocklist test is a NOT IN, which Postgres runs as one hash of the blocklist per statement
 * (a "hashed SubPlan"), where NOT EXISTS became an anti join that probed the blocklist's index once
 * per listing: a fifth of a recompute's time (bench: 98 -> 80 ms for 44,000 listings in 11 SKUs,
 * with the blocklist empty). The hash is built once per statement, so a blocklist of 100,000
 * SteamIDs costs more than it saves (72 against 62 ms); one kept by hand holds hundreds. steamid is
 * the blocklist's primary key, never null; a listing without a steamid is tested apart, as NOT IN
 * would make it null (not eligible) where NOT EXISTS kept it.
 */
const ELIGIBLE = sql`
  l.deleted_at IS NULL AND l.quotable
  AND (coalesce(l.price_keys, 0) = 0 OR rate.ref IS NOT NULL)
  AND (l.steamid IS NULL OR l.steamid NOT IN (SELECT b.steamid FROM bptf_blocked_steamids b))`;

/**
 * Recompute the quotes of `skus` (each once) from their eligible listings, in the caller's
 * transaction and after lockQuotes: upsert those that changed, delete those left
 * without an eligible listing, and add a bptf_quote_history row for each change of a price (a
 * deleted quote's row has null prices and zero counts). `changedAtMs[i]` is the event time (ms) of
 * the listing event behind SKU i's recompute, or null (a key-rate or blocklist change: now()).
 * Returns the SKUs whose quote changed, for the notification. The history partitions of those
 * times must exist.
 *
 * The best buy is the highest value, the best sell the lowest; ties go to the listing bumped last,
 * then to the smaller id ("C" collation), so the quote depends on the listings only, never on the
 * order their events came in. Values in refined are exact (numeric): metal + keys × rate.
 *
 * Cost: every eligible listing of the SKUs is read once. The bench's 11 SKUs (31,000 live listings)
 * took about 95 ms of backend CPU per recompute, down from 140 ms with the jsonb eligibility test, a
 * join with the SKU list and ordered array_aggs.
 */
export async function recomputeQuotes<DB extends BptfTables>(db: Kysely<DB>, skus: readonly string[], changedAtMs: readonly (number | null)[]): Promise<TableChange> {
  if (skus.length === 0) return { table: 'bptf_quotes', ids: [], eventTimesMs: [] };
  const r = await sql<{ sku: string; t: number }>`
    WITH touched AS (
      SELECT s.sku, coalesce(to_timestamp(s.at / 1000), now()) AS at
      FROM unnest(${skus}::text[], ${changedAtMs}::float8[]) AS s(sku, at)
    ),
    rate AS (SELECT (SELECT ref FROM bptf_key_rate LIMIT 1) AS ref),
    elig AS (
      SELECT l.sku, l.intent, l.id, l.automatic, l.bumped_at, coalesce(l.price_keys, 0) <> 0 AS in_keys,
             -- Metal alone keeps its own scale (10, not 10.00).
             CASE WHEN coalesce(l.price_keys, 0) = 0 THEN coalesce(l.price_metal, 0) ELSE coalesce(l.price_metal, 0) + l.price_keys * rate.ref END AS v
      -- = ANY, not a join with touched: the planner reads an array's length, not an unnest's, and with
      -- a join it once chose a nested loop that compared every listing with every SKU (half the run).
      FROM bptf_listings l CROSS JOIN rate
      WHERE l.sku = ANY(${skus}::text[]) AND ${ELIGIBLE}
    ),
    -- Prices and counts in one hashed pass (no sort); then the ties are broken among the listings at
    -- the best price only (a few rows), where an ordered array_agg sorted every eligible listing twice.
    agg AS (
      SELECT sku,
        max(v) FILTER (WHERE intent = 'buy') AS buy_ref,
        (count(*) FILTER (WHERE intent = 'buy'))::int AS buy_count,
        min(v) FILTER (WHERE intent = 'sell') AS sell_ref,
        (count(*) FILTER (WHERE intent = 'sell'))::int AS sell_count,
        max(v) FILTER (WHERE intent = 'buy' AND automatic) AS bot_buy_ref,
        min(v) FILTER (WHERE intent = 'sell' AND automatic) AS bot_sell_ref,
        CASE WHEN bool_or(in_keys) THEN (SELECT ref FROM rate) END AS key_rate_ref
      FROM elig GROUP BY sku
    ),
    best AS (
      SELECT DISTINCT ON (e.sku, e.intent) e.sku, e.intent, e.id
      FROM elig e JOIN agg a ON a.sku = e.sku AND e.v = CASE WHEN e.intent = 'buy' THEN a.buy_ref ELSE a.sell_ref END
      ORDER BY e.sku, e.intent, e.bumped_at DESC NULLS LAST, e.id COLLATE "C"
    ),
    q AS (
      SELECT a.sku, a.buy_ref, b.id AS buy_listing_id, a.buy_count, a.sell_ref, s.id AS sell_listing_id, a.sell_count,
             a.bot_buy_ref, a.bot_sell_ref, a.key_rate_ref
      FROM agg a
      LEFT JOIN best b ON b.sku = a.sku AND b.intent = 'buy'
      LEFT JOIN best s ON s.sku = a.sku AND s.intent = 'sell'
    ),
    old AS (SELECT o.* FROM bptf_quotes o JOIN touched t USING (sku)),
    diff AS (
      SELECT q.*, t.at,
             o.sku IS NULL OR (q.buy_ref, q.sell_ref, q.bot_buy_ref, q.bot_sell_ref)
               IS DISTINCT FROM (o.buy_ref, o.sell_ref, o.bot_buy_ref, o.bot_sell_ref) AS moved
      FROM q JOIN touched t USING (sku) LEFT JOIN old o USING (sku)
      WHERE o.sku IS NULL
         OR (q.buy_ref, q.buy_listing_id, q.buy_count, q.sell_ref, q.sell_listing_id, q.sell_count, q.bot_buy_ref, q.bot_sell_ref, q.key_rate_ref)
            IS DISTINCT FROM (o.buy_ref, o.buy_listing_id, o.buy_count, o.sell_ref, o.sell_listing_id, o.sell_count, o.bot_buy_ref, o.bot_sell_ref, o.key_rate_ref)
    ),
    up AS (
      INSERT INTO bptf_quotes AS x (sku, buy_ref, buy_listing_id, buy_count, sell_ref, sell_listing_id, sell_count,
                                    bot_buy_ref, bot_sell_ref, key_rate_ref, changed_at, updated_at)
      SELECT sku, buy_ref, buy_listing_id, buy_count, sell_ref, sell_listing_id, sell_count,
             bot_buy_ref, bot_sell_ref, key_rate_ref, at, now()
      FROM diff
      ON CONFLICT (sku) DO UPDATE SET
        buy_ref = excluded.buy_ref, buy_listing_id = excluded.buy_listing_id, buy_count = excluded.buy_count,
        sell_ref = excluded.sell_ref, sell_listing_id = excluded.sell_listing_id, sell_count = excluded.sell_count,
        bot_buy_ref = excluded.bot_buy_ref, bot_sell_ref = excluded.bot_sell_ref, key_rate_ref = excluded.key_rate_ref,
        changed_at = excluded.changed_at, updated_at = now()
      RETURNING x.sku, x.changed_at
    ),
    gone AS (
      DELETE FROM bptf_quotes x USING touched t
      WHERE x.sku = t.sku AND NOT EXISTS (SELECT 1 FROM q WHERE q.sku = x.sku)
      RETURNING x.sku, t.at AS changed_at
    ),
    history AS (
      INSERT INTO bptf_quote_history (sku, at, buy_ref, sell_ref, bot_buy_ref, bot_sell_ref, buy_count, sell_count)
      SELECT sku, at, buy_ref, sell_ref, bot_buy_ref, bot_sell_ref, buy_count, sell_count FROM diff WHERE moved
      UNION ALL
      SELECT sku, changed_at, NULL, NULL, NULL, NULL, 0, 0 FROM gone
    )
    SELECT sku, extract(epoch FROM changed_at)::float8 * 1000 AS t FROM up
    UNION ALL
    SELECT sku, extract(epoch FROM changed_at)::float8 * 1000 AS t FROM gone
  `.execute(db);
  return { table: 'bptf_quotes', ids: r.rows.map((x) => x.sku), eventTimesMs: r.rows.map((x) => x.t) };
}

/** The key rate row as the refresh reads it (numbers in refined; times in ms). */
export interface KeyRateState {
  readonly ref: number;
  readonly source: 'stream' | 'manual';
  readonly pendingRef: number | null;
  readonly pendingSinceMs: number | null;
  readonly sweptRef: string | null;
  /** `ref` as stored (numeric text): what quotes' key_rate_ref is compared with. */
  readonly refText: string;
}

/** The key rate row, locked until the caller's transaction ends; undefined when there is none. */
export async function readKeyRateForUpdate<DB extends BptfTables>(db: Kysely<DB>): Promise<KeyRateState | undefined> {
  const r = await sql<{ ref: string; source: 'stream' | 'manual'; pending_ref: string | null; pending_ms: number | null; swept_ref: string | null }>`
    SELECT ref::text AS ref, source, pending_ref::text AS pending_ref,
           extract(epoch FROM pending_since)::float8 * 1000 AS pending_ms, swept_ref::text AS swept_ref
    FROM bptf_key_rate LIMIT 1 FOR UPDATE`.execute(db);
  const row = r.rows[0];
  if (!row) return undefined;
  return {
    ref: Number(row.ref),
    refText: row.ref,
    source: row.source,
    pendingRef: row.pending_ref === null ? null : Number(row.pending_ref),
    pendingSinceMs: row.pending_ms,
    sweptRef: row.swept_ref,
  };
}

/**
 * The key rate the stream says (refined), or null when no listing makes one: the lowest metal-only
 * price at which at least three eligible bot sell listings of the key stand, else the lowest such
 * listing. One odd listing (a typo, a dump) is alone at its price, so it does not move the rate.
 */
export async function streamKeyRate<DB extends BptfTables>(db: Kysely<DB>): Promise<string | null> {
  const r = await sql<{ ref: string | null }>`
    WITH rate AS (SELECT NULL::numeric AS ref),
    prices AS (
      SELECT l.price_metal AS p, count(*) AS n
      FROM bptf_listings l CROSS JOIN rate
      WHERE l.sku = ${KEY_SKU} AND l.intent = 'sell' AND l.automatic AND ${ELIGIBLE}
        AND coalesce(l.price_keys, 0) = 0 AND l.price_metal > 0
      GROUP BY l.price_metal
    )
    SELECT coalesce((SELECT min(p) FROM prices WHERE n >= 3), (SELECT min(p) FROM prices))::text AS ref`.execute(db);
  return r.rows[0]?.ref ?? null;
}

/** Set the key rate from the stream (a first row, or a stream row; a manual row is never touched). */
export async function writeStreamKeyRate<DB extends BptfTables>(db: Kysely<DB>, ref: string, pending: { ref: number; sinceMs: number } | null): Promise<void> {
  await sql`
    INSERT INTO bptf_key_rate (ref, source, updated_at, pending_ref, pending_since) VALUES (${ref}::numeric, 'stream', now(), ${pending?.ref ?? null}, ${pending ? new Date(pending.sinceMs) : null})
    ON CONFLICT ((true)) DO UPDATE SET ref = excluded.ref, updated_at = CASE WHEN bptf_key_rate.ref <> excluded.ref THEN now() ELSE bptf_key_rate.updated_at END,
      pending_ref = excluded.pending_ref, pending_since = excluded.pending_since
    WHERE bptf_key_rate.source = 'stream'`.execute(db);
}

/** Record that every keys-priced quote now uses `ref` (the sweep after a rate change is done). */
export async function markKeyRateSwept<DB extends BptfTables>(db: Kysely<DB>, ref: string | null): Promise<void> {
  await sql`UPDATE bptf_key_rate SET swept_ref = ${ref}::numeric WHERE ref = ${ref}::numeric`.execute(db);
}

/** The current key rate as stored (numeric text) and the rate the last sweep brought quotes to. */
export async function keyRateSweepState<DB extends BptfTables>(db: Kysely<DB>): Promise<{ ref: string | null; sweptRef: string | null }> {
  const r = await sql<{ ref: string; swept_ref: string | null }>`SELECT ref::text AS ref, swept_ref::text AS swept_ref FROM bptf_key_rate LIMIT 1`.execute(db);
  const row = r.rows[0];
  return { ref: row?.ref ?? null, sweptRef: row?.swept_ref ?? null };
}

/**
 * The next `limit` SKUs after `after` (in "C" order) of live listings priced in keys: the quotes a
 * key rate change may move. Walks the (sku, intent) index.
 */
export async function keysPricedSkus<DB extends BptfTables>(db: Kysely<DB>, after: string, limit: number): Promise<string[]> {
  const r = await sql<{ sku: string }>`
    SELECT DISTINCT sku COLLATE "C" AS sku FROM bptf_listings
    WHERE sku COLLATE "C" > ${after} AND deleted_at IS NULL AND coalesce(price_keys, 0) <> 0
    ORDER BY 1 LIMIT ${limit}`.execute(db);
  return r.rows.map((x) => x.sku);
}

/**
 * Quotes that still use a rate other than `ref` (a sweep that met a locked SKU, a rate deleted by
 * hand): they are recomputed too.
 */
export async function quotesOffRate<DB extends BptfTables>(db: Kysely<DB>, ref: string | null, limit: number): Promise<string[]> {
  const r = await sql<{ sku: string }>`
    SELECT sku FROM bptf_quotes WHERE key_rate_ref IS NOT NULL AND key_rate_ref IS DISTINCT FROM ${ref}::numeric LIMIT ${limit}`.execute(db);
  return r.rows.map((x) => x.sku);
}

/** SteamIDs blocklisted or unblocked since the quotes last reflected the blocklist. */
export async function blocklistChanges<DB extends BptfTables>(db: Kysely<DB>): Promise<{ added: string[]; removed: string[] }> {
  const r = await sql<{ steamid: string; added: boolean }>`
    SELECT b.steamid, true AS added FROM bptf_blocked_steamids b
    WHERE NOT EXISTS (SELECT 1 FROM bptf_quote_blocklist_applied a WHERE a.steamid = b.steamid)
    UNION ALL
    SELECT a.steamid, false FROM bptf_quote_blocklist_applied a
    WHERE NOT EXISTS (SELECT 1 FROM bptf_blocked_steamids b WHERE b.steamid = a.steamid)`.execute(db);
  return { added: r.rows.filter((x) => x.added).map((x) => x.steamid), removed: r.rows.filter((x) => !x.added).map((x) => x.steamid) };
}

/** The SKUs of the live listings of `steamids`: the quotes a blocklist change of theirs may move. */
export async function skusOfSteamids<DB extends BptfTables>(db: Kysely<DB>, steamids: readonly string[]): Promise<string[]> {
  if (steamids.length === 0) return [];
  const r = await sql<{ sku: string }>`
    SELECT DISTINCT sku FROM bptf_listings WHERE steamid = ANY(${steamids}::text[]) AND sku IS NOT NULL AND deleted_at IS NULL`.execute(db);
  return r.rows.map((x) => x.sku);
}

/** The quotes now reflect these blocklist changes. */
export async function applyBlocklistChanges<DB extends BptfTables>(db: Kysely<DB>, changes: { added: readonly string[]; removed: readonly string[] }): Promise<void> {
  if (changes.added.length > 0) {
    await sql`INSERT INTO bptf_quote_blocklist_applied (steamid) SELECT unnest(${changes.added}::text[]) ON CONFLICT DO NOTHING`.execute(db);
  }
  if (changes.removed.length > 0) {
    await sql`DELETE FROM bptf_quote_blocklist_applied WHERE steamid = ANY(${changes.removed}::text[])`.execute(db);
  }
}
