/**
 * `npx tsx bench/quote-sweep.ts [--listings 50000]`: with BPTF_QUOTES, how long recomputing quotes takes
 * on a table of the bench's generated listings (database `tributary_quote_sweep`, dropped at the end):
 * 1. every quote from nothing (what the recomputer's catch-up at start does), 500 SKUs per transaction;
 * 2. after a key-rate change, the refresh's sweep of every quote priced in keys, as the daemon runs it.
 */
import { parseArgs } from 'node:util';
import { sql, type Kysely } from 'kysely';
import type { CoreDatabase } from '../src/core/db/schema.js';
import { toListingRow } from '../src/feeds/bptf/listing-row.js';
import { parseBptfFrame } from '../src/feeds/bptf/parse.js';
import { quoteRecomputeTable } from '../src/feeds/bptf/quote-recompute.js';
import { quoteRefresh } from '../src/feeds/bptf/quote-refresh.js';
import { upsertListings } from '../src/feeds/bptf/store.js';
import type { BptfTables } from '../src/feeds/bptf/tables.js';
import { createLogger } from '../src/logger.js';
import { fakeFeedContext } from '../test/helpers/feed-context.js';
import { DEFAULT_SERVER_URL, dropDatabase, migrate, openDb, recreateDatabase } from './db.js';
import { buildWorkload } from './workload.js';

const { values } = parseArgs({ options: { listings: { type: 'string' } } });
const listings = Number(values.listings ?? 50_000);
const NAME = 'tributary_quote_sweep';
const serverUrl = process.env.DATABASE_URL ?? DEFAULT_SERVER_URL;
const b = openDb(await recreateDatabase(serverUrl, NAME), 4);
try {
  await migrate(b);
  const db = b.db as unknown as Kysely<CoreDatabase>;
  // Three events per listing: nearly every listing is touched, a tenth deleted, as in the firehose.
  const w = buildWorkload({ events: listings * 3, listings, frameSize: 1_000 });
  for (const f of w.frames) await upsertListings(db.withTables<BptfTables>(), parseBptfFrame(f.data).listings.map(toListingRow).sort((x, y) => (x.id < y.id ? -1 : 1)).filter((r, i, a) => i === 0 || a[i - 1]?.id !== r.id));
  await sql`VACUUM ANALYZE bptf_listings`.execute(db);
  const stats = (
    await sql<{ live: number; skus: number; keyed: number }>`
      SELECT count(*)::int AS live, count(DISTINCT sku)::int AS skus, count(*) FILTER (WHERE coalesce(price_keys, 0) <> 0)::int AS keyed
      FROM bptf_listings WHERE deleted_at IS NULL`.execute(db)
  ).rows[0];
  console.log(`listings: ${JSON.stringify(stats)}`);
  await sql`INSERT INTO bptf_key_rate (ref, source) VALUES (60, 'manual')`.execute(db);

  const { ctx } = fakeFeedContext('bptf', { logger: createLogger('silent'), db });
  const skus = (await sql<{ sku: string }>`SELECT DISTINCT sku FROM bptf_listings WHERE sku IS NOT NULL ORDER BY 1`.execute(db)).rows.map((r) => r.sku);
  let t = performance.now();
  let changed = 0;
  for (let i = 0; i < skus.length; i += 500) {
    const batch = skus.slice(i, i + 500);
    for (const c of await ctx.writeNow(quoteRecomputeTable, [{ skus: batch, times: batch.map(() => null) }])) changed += c.ids.length;
  }
  console.log(`every quote from nothing: ${skus.length} SKUs, ${changed} quotes written, ${Math.round(performance.now() - t)} ms`);

  for (const ref of [61, 75]) {
    await sql`UPDATE bptf_key_rate SET ref = ${ref}`.execute(db);
    const before = Number((await sql<{ n: number }>`SELECT count(*)::int AS n FROM bptf_quote_history`.execute(db)).rows[0]?.n);
    t = performance.now();
    await quoteRefresh().run(ctx, new AbortController().signal);
    const ms = Math.round(performance.now() - t);
    const after = Number((await sql<{ n: number }>`SELECT count(*)::int AS n FROM bptf_quote_history`.execute(db)).rows[0]?.n);
    const off = (await sql<{ n: number }>`SELECT count(*)::int AS n FROM bptf_quotes WHERE key_rate_ref IS NOT NULL AND key_rate_ref <> ${ref}`.execute(db)).rows[0]?.n;
    console.log(`key rate -> ${ref}: the refresh's sweep took ${ms} ms (${after - before} price changes; quotes still at another rate: ${off})`);
  }
} finally {
  await b.close();
  await dropDatabase(serverUrl, NAME);
}
