/**
 * bptf_listings' trader columns end to end, on the real captured events: sku (computed by the
 * daemon), price_keys and price_metal (numbers from currencies), automatic (a bot's listing), and
 * the (sku, intent) index serving "live listings of this SKU".
 */
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import captured from '../fixtures/bptf-captured-events.json' with { type: 'json' };
import { useBptfDaemon } from '../helpers/bptf-daemon.js';
import { waitFor } from '../helpers/wait-for.js';

describe('bptf_listings sku and prices', () => {
  const h = useBptfDaemon();

  it('stores the SKU, the price as numbers and whether a bot manages the listing', async () => {
    h.server.sendFrame(JSON.stringify(captured));
    const rows = await waitFor(async () => {
      const r = await sql<{ id: string; sku: string | null; price_keys: string | null; price_metal: string | null; automatic: boolean; deleted: boolean }>`
        SELECT id, sku, price_keys, price_metal, automatic, deleted_at IS NOT NULL AS deleted FROM bptf_listings ORDER BY id`.execute(h.tdb.db);
      return r.rows.length === 3 ? r.rows : undefined;
    }, 'three listings');
    // Values written by hand from the fixture: numeric comes back as text, exactly as sent.
    expect(rows).toEqual([
      { id: '440_76561199072611396_26b1c3911028c585c5bb08dd3a9b16b7', sku: '30329;5;u70', price_keys: '1975', price_metal: null, automatic: true, deleted: false },
      { id: '440_76561199103740298_605f67acc80a9b35345514725f0e2a5f', sku: '30238;6', price_keys: '21', price_metal: '21.77', automatic: true, deleted: true },
      { id: '440_76561199193412191_95998e17b14e51852c1e88bb4350d181', sku: '15085;11;w1;pk60', price_keys: '2', price_metal: '5.77', automatic: true, deleted: false },
    ]);
  });

  it('finds the cheapest live sell or buy of a SKU through the (sku, intent) index', async () => {
    // Three rows: a sequential scan would win on cost, so rule it out (on one connection: SET is per session).
    const plan = await h.tdb.db.connection().execute(async (conn) => {
      await sql`SET enable_seqscan = off`.execute(conn);
      return sql<{ 'QUERY PLAN': string }>`
        EXPLAIN SELECT id FROM bptf_listings WHERE sku = '15085;11;w1;pk60' AND intent = 'buy' AND deleted_at IS NULL
        ORDER BY price_keys DESC, price_metal DESC LIMIT 1`.execute(conn);
    });
    expect(plan.rows.map((r) => r['QUERY PLAN']).join('\n')).toContain('bptf_listings_sku_intent_idx');
  });
});
