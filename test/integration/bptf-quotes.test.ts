/**
 * BPTF_QUOTES: bptf_quotes from listings built by hand, written through bptf_listings' own write and
 * its commit hook (as the core calls them), the quotes recomputed by a running recomputer:
 * eligibility, the quote (best buy and sell, counts, ids, the tie rule, deletes full and id-only, a
 * SKU's last listing), the order property, the key rate's rules, the blocklist, and
 * bptf_quote_history (one row per change of a price).
 */
import fc from 'fast-check';
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CoreDatabase } from '../../src/core/db/schema.js';
import { listingsTable } from '../../src/feeds/bptf/listings-table.js';
import { mergeListingRows, toListingRow, type ListingRow } from '../../src/feeds/bptf/listing-row.js';
import { parseBptfFrame } from '../../src/feeds/bptf/parse.js';
import { quoteRecomputer, quoteRecomputeTask } from '../../src/feeds/bptf/quote-recompute.js';
import { KEY_RATE_HOLD_MS, quoteRefresh } from '../../src/feeds/bptf/quote-refresh.js';
import { useQuotes } from '../../src/feeds/bptf/quotes.js';
import { createLogger } from '../../src/logger.js';
import { makeObjectId } from '../../src/simulator/object-id.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { fakeFeedContext } from '../helpers/feed-context.js';
import { waitFor } from '../helpers/wait-for.js';
import type { BptfQuotesTable } from '../../src/feeds/bptf/tables.js';

const T0 = Math.floor(Date.now() / 1000) - 3_600;
const HAT = { defindex: 378, quality: { id: 6 }, craftable: true };
const KEY = { defindex: 5021, quality: { id: 6 }, craftable: true };
const BOT = { client: 'TF2Autobot' };

interface ListingSpec {
  readonly intent?: 'buy' | 'sell';
  readonly item?: Record<string, unknown> | null;
  readonly currencies?: Record<string, unknown>;
  readonly bot?: boolean;
  /** null: the payload has no steamid. */
  readonly steamid?: string | null;
  readonly appid?: number;
  /** Unix seconds. */
  readonly bumpedAt?: number;
}

type Event = { id: string; event: string; payload: Record<string, unknown> };

let counter = 0;
/** A listing-update at `t` (Unix s) for listing `id`. */
function update(id: string, t: number, s: ListingSpec): Event {
  const payload: Record<string, unknown> = {
    id,
    steamid: s.steamid ?? '76561198000000001',
    appid: s.appid ?? 440,
    intent: s.intent ?? 'sell',
    currencies: s.currencies ?? { metal: 10 },
    // Never read by the quotes: they use currencies.
    value: { raw: 999_999 },
    listedAt: t,
    bumpedAt: s.bumpedAt ?? t,
  };
  if (s.item !== null) payload.item = { appid: 440, ...(s.item ?? HAT) };
  if (s.bot) payload.userAgent = BOT;
  if (s.steamid === null) delete payload.steamid;
  return { id: makeObjectId(t, counter++), event: 'listing-update', payload };
}

function idOnlyDelete(id: string, t: number): Event {
  return { id: makeObjectId(t, counter++), event: 'listing-delete', payload: { id } };
}

function fullDelete(id: string, t: number, s: ListingSpec): Event {
  return { ...update(id, t, s), event: 'listing-delete' };
}

function rowsOf(events: readonly Event[]): ListingRow[] {
  const frame = parseBptfFrame(JSON.stringify(events));
  expect(frame.rejects).toEqual([]);
  return frame.listings.map(toListingRow);
}

/** A quote row as these tests compare it: every column but the two timestamps. */
type Quote = Omit<BptfQuotesTable, 'changed_at' | 'updated_at'>;

describe('bptf_quotes', () => {
  let tdb: TestDatabase;
  let db: Kysely<CoreDatabase>;
  /** The SKUs of the recomputer's changes since the last write() (its context's writeNow, as the core's). */
  const changed: string[] = [];
  const stop = new AbortController();
  let recomputing: Promise<void> | undefined;
  beforeAll(async () => {
    tdb = await createTestDatabase();
    await tdb.migrate();
    db = tdb.db as unknown as Kysely<CoreDatabase>;
    useQuotes(true);
    const { ctx } = fakeFeedContext('bptf', { logger: createLogger('silent'), db });
    const own = ctx.writeNow;
    ctx.writeNow = async (table, rows) => {
      const changes = await own(table, rows);
      for (const c of changes) if (c.table === 'bptf_quotes') changed.push(...c.ids);
      return changes;
    };
    // Every few ms rather than 200: the tests write batch after batch.
    recomputing = quoteRecomputeTask({ intervalMs: 5 }).run(ctx, stop.signal);
    await quoteRecomputer.recomputed();
  });
  afterAll(async () => {
    stop.abort();
    await recomputing;
    await tdb?.close();
  });
  beforeEach(async () => {
    await sql`TRUNCATE bptf_listings, bptf_quotes, bptf_quote_history, bptf_key_rate, bptf_blocked_steamids, bptf_quote_blocklist_applied`.execute(db);
  });

  /**
   * Write events as one batch does: merged per listing (newest wins), sorted by id, committed, handed
   * to the recomputer; with `settle` (the default) waits for its quotes and returns the quote SKUs
   * that changed.
   */
  async function write(events: readonly Event[], settle = true): Promise<string[]> {
    const byId = new Map<string, ListingRow>();
    for (const r of rowsOf(events)) {
      const prev = byId.get(r.id);
      byId.set(r.id, prev ? mergeListingRows(prev, r) : r);
    }
    const rows = [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const changes = (await listingsTable.write(db, rows)) ?? [];
    // Only bptf_listings' own change: the quotes are the recomputer's.
    expect(changes.map((c) => c.table)).toEqual(['bptf_listings']);
    listingsTable.committed?.(changes);
    if (!settle) return [];
    await quoteRecomputer.recomputed();
    return changed.splice(0).sort();
  }

  async function quotes(): Promise<Quote[]> {
    const r = await sql<Quote>`
      SELECT sku, buy_ref::text, buy_listing_id, buy_count, sell_ref::text, sell_listing_id, sell_count,
             bot_buy_ref::text, bot_sell_ref::text, key_rate_ref::text
      FROM bptf_quotes ORDER BY sku`.execute(db);
    return r.rows;
  }

  async function quote(sku: string): Promise<Quote | undefined> {
    return (await quotes()).find((q) => q.sku === sku);
  }

  async function history(): Promise<Array<{ sku: string; buy_ref: string | null; sell_ref: string | null }>> {
    const r = await sql<{ sku: string; buy_ref: string | null; sell_ref: string | null }>`
      SELECT sku, buy_ref::text, sell_ref::text FROM bptf_quote_history ORDER BY at, sku`.execute(db);
    return r.rows;
  }

  async function refresh(now = Date.now()): Promise<void> {
    const { ctx } = fakeFeedContext('bptf', { logger: createLogger('silent'), db });
    await quoteRefresh({ now: () => now }).run(ctx, new AbortController().signal);
  }

  it('counts only eligible listings: not deleted, non-TF2, USD-priced, spelled or blocklisted ones', async () => {
    await sql`INSERT INTO bptf_blocked_steamids (steamid, reason) VALUES ('76561198000000666', 'scammer')`.execute(db);
    await write([
      update('ok', T0, { currencies: { metal: 20 } }),
      update('deleted', T0, { currencies: { metal: 1 } }),
      update('dota', T0, { currencies: { metal: 2 }, appid: 570 }),
      update('usd', T0, { currencies: { usd: 3 } }),
      update('usd-and-metal', T0, { currencies: { metal: 3, usd: 1 } }),
      update('spelled', T0, { currencies: { metal: 4 }, item: { ...HAT, spells: [{ name: 'Exorcism' }] } }),
      update('blocked', T0, { currencies: { metal: 5 }, steamid: '76561198000000666' }),
      update('no-item', T0, { currencies: { metal: 6 }, item: null }),
      // Priced in keys while there is no key rate.
      update('keys', T0, { currencies: { keys: 1 } }),
    ]);
    await write([fullDelete('deleted', T0 + 1, { currencies: { metal: 1 } })]);
    expect(await quotes()).toEqual([
      { sku: '378;6', buy_ref: null, buy_listing_id: null, buy_count: 0, sell_ref: '20', sell_listing_id: 'ok', sell_count: 1, bot_buy_ref: null, bot_sell_ref: null, key_rate_ref: null },
    ]);
  });

  it('counts a listing without a steamid while the blocklist holds others', async () => {
    await sql`INSERT INTO bptf_blocked_steamids (steamid, reason) VALUES ('76561198000000666', 'scammer')`.execute(db);
    await write([update('anonymous', T0, { currencies: { metal: 7 }, steamid: null }), update('blocked', T0, { currencies: { metal: 5 }, steamid: '76561198000000666' })]);
    expect(await quotes()).toEqual([
      { sku: '378;6', buy_ref: null, buy_listing_id: null, buy_count: 0, sell_ref: '7', sell_listing_id: 'anonymous', sell_count: 1, bot_buy_ref: null, bot_sell_ref: null, key_rate_ref: null },
    ]);
    const stored = await sql<{ steamid: string | null }>`SELECT steamid FROM bptf_listings WHERE id = 'anonymous'`.execute(db);
    expect(stored.rows).toEqual([{ steamid: null }]);
  });

  it('stores quotable exactly as the eligibility test it replaced reads the listing', async () => {
    // The jsonb test a recompute ran on every listing before quotable was stored (its listing-only
    // part), over arbitrary currencies, items, intents and apps: the two never disagree.
    // Weighted toward the eligible shape, so that both answers come up often.
    const value = fc.oneof(
      { arbitrary: fc.oneof(fc.integer({ min: -5, max: 100 }), fc.double({ min: 0, max: 100, noNaN: true })), weight: 6 },
      { arbitrary: fc.constantFrom<unknown>(null, '1', {}, []), weight: 1 },
    );
    const currencies = fc.oneof(
      { arbitrary: fc.record({ keys: value, metal: value }, { requiredKeys: [] }), weight: 6 },
      { arbitrary: fc.record({ keys: value, metal: value, usd: value }, { requiredKeys: ['usd'] }), weight: 1 },
      { arbitrary: fc.constantFrom<unknown>([], null, '5 ref'), weight: 1 },
    );
    const seen = new Set<boolean>();
    const spells = fc.constantFrom<unknown>(undefined, [], [{ name: 'Exorcism' }], {}, { a: 1 }, null);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ currencies, spells, intent: fc.constantFrom('buy', 'sell', 'trade'), appid: fc.constantFrom(440, 440, 570), item: fc.constantFrom(true, true, false) }), { minLength: 1, maxLength: 20 }),
        async (specs) => {
          await sql`TRUNCATE bptf_listings`.execute(db);
          const events = specs.map((x, i) => {
            const e = update(`q${i}`, T0, { intent: x.intent as 'buy', appid: x.appid, item: x.item ? { ...HAT, ...(x.spells === undefined ? {} : { spells: x.spells }) } : null });
            e.payload.currencies = x.currencies;
            return e;
          });
          await write(events, false);
          const r = await sql<{ id: string; quotable: boolean; before: boolean }>`
            SELECT id, quotable, coalesce(appid = 440 AND sku IS NOT NULL AND intent IN ('buy', 'sell')
              AND spelled IS NOT TRUE AND (price_keys IS NOT NULL OR price_metal IS NOT NULL)
              AND (currencies - 'keys' - 'metal') = '{}'::jsonb
              AND (price_keys IS NOT NULL OR NOT currencies ? 'keys')
              AND (price_metal IS NOT NULL OR NOT currencies ? 'metal'), false) AS before
            FROM bptf_listings ORDER BY id`.execute(db);
          expect(r.rows).toHaveLength(specs.length);
          for (const row of r.rows) {
            expect(row.quotable, row.id).toBe(row.before);
            seen.add(row.quotable);
          }
        },
      ),
      { numRuns: 40 },
    );
    // The generator reaches both answers.
    expect([...seen].sort()).toEqual([false, true]);
  });

  it('sets the bot columns from bot listings only', async () => {
    await write([
      update('human-sell', T0, { intent: 'sell', currencies: { metal: 10 } }),
      update('bot-sell', T0, { intent: 'sell', currencies: { metal: 12 }, bot: true }),
      update('human-buy', T0, { intent: 'buy', currencies: { metal: 9 } }),
      update('bot-buy', T0, { intent: 'buy', currencies: { metal: 8 }, bot: true }),
    ]);
    expect(await quote('378;6')).toEqual({
      sku: '378;6', buy_ref: '9', buy_listing_id: 'human-buy', buy_count: 2, sell_ref: '10', sell_listing_id: 'human-sell', sell_count: 2,
      bot_buy_ref: '8', bot_sell_ref: '12', key_rate_ref: null,
    });
    await write([update('h2', T0 + 1, { intent: 'buy', currencies: { metal: 7 } })]);
    // A human listing below the best changes the count, not the bot columns.
    expect((await quote('378;6'))?.bot_buy_ref).toBe('8');
    expect((await quote('378;6'))?.buy_count).toBe(3);
  });

  it('takes the highest buy and lowest sell, ties to the listing bumped last, and moves when the best goes or is outbid', async () => {
    await write([
      update('s-old', T0, { currencies: { metal: 10 }, bumpedAt: T0 - 100 }),
      update('s-new', T0, { currencies: { metal: 10 }, bumpedAt: T0 - 10 }),
      update('s-high', T0, { currencies: { metal: 11 } }),
      update('b-1', T0, { intent: 'buy', currencies: { metal: 5 } }),
      update('b-2', T0, { intent: 'buy', currencies: { metal: 4.55 } }),
    ]);
    let q = await quote('378;6');
    expect([q?.sell_ref, q?.sell_listing_id, q?.sell_count, q?.buy_ref, q?.buy_listing_id, q?.buy_count]).toEqual(['10', 's-new', 3, '5', 'b-1', 2]);
    // The best sell goes by a full delete, then the next by an id-only delete (its SKU from the stored row).
    await write([fullDelete('s-new', T0 + 1, { currencies: { metal: 10 } })]);
    expect((await quote('378;6'))?.sell_listing_id).toBe('s-old');
    expect(await write([idOnlyDelete('s-old', T0 + 2)])).toEqual(['378;6']);
    q = await quote('378;6');
    expect([q?.sell_ref, q?.sell_listing_id, q?.sell_count]).toEqual(['11', 's-high', 1]);
    // Outbid.
    await write([update('b-3', T0 + 3, { intent: 'buy', currencies: { metal: 5.11 } })]);
    q = await quote('378;6');
    expect([q?.buy_ref, q?.buy_listing_id, q?.buy_count]).toEqual(['5.11', 'b-3', 3]);
    // The SKU's last listings go: its row goes.
    await write([idOnlyDelete('s-high', T0 + 4), idOnlyDelete('b-1', T0 + 4), idOnlyDelete('b-2', T0 + 4), fullDelete('b-3', T0 + 4, { intent: 'buy' })]);
    expect(await quotes()).toEqual([]);
  });

  it('moves a listing whose item changed from its old SKU to its new one', async () => {
    await write([update('x', T0, { currencies: { metal: 3 } })]);
    expect(await write([update('x', T0 + 1, { currencies: { metal: 3 }, item: KEY })])).toEqual(['378;6', '5021;6']);
    expect((await quotes()).map((q) => q.sku)).toEqual(['5021;6']);
  });

  it('adds one history row per change of a price, none for an event that changed no quote', async () => {
    await write([update('a', T0, { currencies: { metal: 10 } })]);
    await write([update('b', T0 + 1, { currencies: { metal: 12 } })]); // not the best: count only
    await write([update('a', T0, { currencies: { metal: 10 } })]); // a duplicate: nothing
    await write([update('c', T0 + 2, { currencies: { metal: 9 } })]); // a new best
    await write([update('a', T0 + 3, { currencies: { metal: 10 }, steamid: '76561198000000002' })]); // changes no quote
    await write([idOnlyDelete('c', T0 + 4)]); // back to 10
    await write([idOnlyDelete('a', T0 + 5), idOnlyDelete('b', T0 + 5)]); // gone
    expect(await history()).toEqual([
      { sku: '378;6', buy_ref: null, sell_ref: '10' },
      { sku: '378;6', buy_ref: null, sell_ref: '9' },
      { sku: '378;6', buy_ref: null, sell_ref: '10' },
      { sku: '378;6', buy_ref: null, sell_ref: null },
    ]);
  });

  it('is the same quote whatever the order, duplication and batching of the same events', async () => {
    const skus = [HAT, KEY, { defindex: 205, quality: { id: 11 }, craftable: true }];
    const events: Event[] = [];
    for (let i = 0; i < 30; i++) {
      const spec = (k: number): ListingSpec => ({
        intent: i % 3 === 0 ? 'buy' : 'sell',
        item: skus[(i + k) % 3] as Record<string, unknown>,
        currencies: { metal: 1 + ((i * 7 + k * 3) % 11) },
        bot: (i + k) % 2 === 0,
        bumpedAt: T0 - ((i * 13 + k) % 5),
      });
      events.push(update(`l${i}`, T0, spec(0)), update(`l${i}`, T0 + 1, spec(1)));
      if (i % 4 === 0) events.push(idOnlyDelete(`l${i}`, T0 + 2));
      if (i % 8 === 0) events.push(update(`l${i}`, T0 + 3, spec(2)));
    }
    // The reference: every event once, in order, one per batch.
    for (const e of events) await write([e]);
    const expected = await quotes();
    expect(expected.length).toBe(3);

    await fc.assert(
      fc.asyncProperty(
        fc.shuffledSubarray(events, { minLength: events.length, maxLength: events.length }),
        fc.array(fc.integer({ min: 0, max: events.length - 1 }), { maxLength: 20 }),
        fc.integer({ min: 1, max: 15 }),
        // Each batch's quotes settled before the next batch, or many batches coalesced into recomputes.
        fc.boolean(),
        async (shuffled, dupes, size, settleEach) => {
          await sql`TRUNCATE bptf_listings, bptf_quotes, bptf_quote_history`.execute(db);
          const stream = [...shuffled, ...dupes.map((i) => events[i] as Event)];
          for (let i = 0; i < stream.length; i += size) await write(stream.slice(i, i + size), settleEach);
          await quoteRecomputer.recomputed();
          changed.splice(0);
          expect(await quotes()).toEqual(expected);
        },
      ),
      { numRuns: 25, seed: 24 },
    );
    // 25 runs take about 10 s on the embedded database alone, and three times that with the whole
    // suite on 2 cores (a fresh clone's npm test timed out at the default 30 s once).
  }, 120_000);

  it('takes the key rate from three bot sell listings of the key, ignores one odd listing and a 40 % jump until it holds 10 minutes', async () => {
    const keySell = (id: string, t: number, metal: number, bot = true) => update(id, t, { item: KEY, currencies: { metal }, bot });
    await write([keySell('k1', T0, 60), keySell('k2', T0, 60), keySell('k3', T0, 60), keySell('k4', T0, 61), keySell('human', T0, 50, false)]);
    const now = Date.now();
    await refresh(now);
    const rate = async () => (await sql<{ ref: string; source: string }>`SELECT ref::text, source FROM bptf_key_rate`.execute(db)).rows;
    expect(await rate()).toEqual([{ ref: '60', source: 'stream' }]);

    // One odd bot listing (a typo) is alone at its price.
    await write([keySell('odd', T0 + 1, 45)]);
    await refresh(now + 1_000);
    expect(await rate()).toEqual([{ ref: '60', source: 'stream' }]);
    await write([idOnlyDelete('odd', T0 + 2)]);

    // A jump of 40 %: three bots at 84, every listing at 60 gone.
    await write([keySell('j1', T0 + 3, 84), keySell('j2', T0 + 3, 84), keySell('j3', T0 + 3, 84), idOnlyDelete('k1', T0 + 3), idOnlyDelete('k2', T0 + 3), idOnlyDelete('k3', T0 + 3), idOnlyDelete('k4', T0 + 3)]);
    await refresh(now + 2_000);
    expect(await rate()).toEqual([{ ref: '60', source: 'stream' }]);
    await refresh(now + 2_000 + KEY_RATE_HOLD_MS - 1_000);
    expect(await rate()).toEqual([{ ref: '60', source: 'stream' }]);
    await refresh(now + 2_000 + KEY_RATE_HOLD_MS);
    expect(await rate()).toEqual([{ ref: '84', source: 'stream' }]);

    // A manual rate is never overwritten.
    await sql`UPDATE bptf_key_rate SET ref = 70, source = 'manual'`.execute(db);
    await refresh(now + 3 * KEY_RATE_HOLD_MS);
    expect(await rate()).toEqual([{ ref: '70', source: 'manual' }]);
  });

  it('takes the lowest bot listing when no price has three', async () => {
    await write([update('k1', T0, { item: KEY, currencies: { metal: 61 }, bot: true }), update('k2', T0, { item: KEY, currencies: { metal: 62 }, bot: true })]);
    await refresh();
    expect((await sql<{ ref: string }>`SELECT ref::text FROM bptf_key_rate`.execute(db)).rows).toEqual([{ ref: '61' }]);
  });

  it('recomputes quotes priced in keys after a key rate change, and values keys at the rate', async () => {
    await sql`INSERT INTO bptf_key_rate (ref, source) VALUES (50, 'manual')`.execute(db);
    await write([update('a', T0, { currencies: { keys: 2, metal: 5 } }), update('b', T0, { currencies: { metal: 100 }, item: KEY })]);
    expect((await quote('378;6'))?.sell_ref).toBe('105');
    expect((await quote('378;6'))?.key_rate_ref).toBe('50');
    // Metal only: no rate used.
    expect((await quote('5021;6'))?.key_rate_ref).toBeNull();
    await sql`UPDATE bptf_key_rate SET ref = 60`.execute(db);
    await refresh();
    expect((await quote('378;6'))?.sell_ref).toBe('125');
    expect((await quote('378;6'))?.key_rate_ref).toBe('60');
    expect(await history()).toEqual([
      { sku: '378;6', buy_ref: null, sell_ref: '105' },
      { sku: '5021;6', buy_ref: null, sell_ref: '100' },
      { sku: '378;6', buy_ref: null, sell_ref: '125' },
    ]);
    // No rate at all (deleted by hand): listings priced in keys are not eligible.
    await sql`DELETE FROM bptf_key_rate`.execute(db);
    await refresh();
    expect(await quote('378;6')).toBeUndefined();
  });

  it('follows the blocklist: blocklisting removes a user’s listings from the quotes, unblocking brings them back', async () => {
    const bad = '76561198000000666';
    await write([update('good', T0, { currencies: { metal: 10 } }), update('bad', T0, { currencies: { metal: 1 }, steamid: bad })]);
    expect((await quote('378;6'))?.sell_listing_id).toBe('bad');
    await sql`INSERT INTO bptf_blocked_steamids (steamid) VALUES (${bad})`.execute(db);
    await refresh();
    expect((await quote('378;6'))?.sell_listing_id).toBe('good');
    await sql`DELETE FROM bptf_blocked_steamids`.execute(db);
    await refresh();
    expect((await quote('378;6'))?.sell_listing_id).toBe('bad');
  });

  it('keeps nothing with BPTF_QUOTES=false', async () => {
    useQuotes(false);
    try {
      expect(await write([update('a', T0, { currencies: { metal: 10 } })])).toEqual([]);
      expect(await quotes()).toEqual([]);
      expect(await history()).toEqual([]);
    } finally {
      useQuotes(true);
    }
  });

  // Last: they stop the recomputer.
  it('recomputes in the write’s own transaction while no recomputer runs (a rejects replay, a stop)', async () => {
    stop.abort();
    await recomputing;
    const changes = (await listingsTable.write(db, rowsOf([update('a', T0, { currencies: { metal: 10 } })]))) ?? [];
    expect(changes.map((c) => [c.table, c.ids])).toEqual([['bptf_listings', ['a']], ['bptf_quotes', ['378;6']]]);
    expect((await quote('378;6'))?.sell_ref).toBe('10');
  });

  it('catches up at start with listings whose quotes were never recomputed (a crash before the recompute)', async () => {
    // Listings committed while nothing recomputed their quotes: the state a crash leaves.
    useQuotes(false);
    try {
      await listingsTable.write(db, rowsOf([update('a', T0, { currencies: { metal: 10 } }), update('k', T0, { currencies: { metal: 60 }, item: KEY })]));
    } finally {
      useQuotes(true);
    }
    expect(await quotes()).toEqual([]);
    const again = new AbortController();
    const { ctx } = fakeFeedContext('bptf', { logger: createLogger('silent'), db });
    const run = quoteRecomputeTask({ intervalMs: 5 }).run(ctx, again.signal);
    try {
      await waitFor(async () => ((await quotes()).length === 2 ? true : undefined), 'the quotes caught up');
      expect((await quotes()).map((q) => [q.sku, q.sell_ref])).toEqual([['378;6', '10'], ['5021;6', '60']]);
    } finally {
      again.abort();
      await run;
    }
  });
});
