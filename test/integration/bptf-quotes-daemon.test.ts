/**
 * BPTF_QUOTES end to end: the daemon on a fake backpack.tf, a LISTEN client on NOTIFY_CHANNEL. A
 * quote follows its listing's commit within 1 s and its notification names exactly the SKUs whose
 * quote changed;
 * a key-rate change and a blocklist change reach their quotes through the background refresh (its
 * interval shortened to 200 ms here; 10 s in the product, well within the contract's 60 s).
 */
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { bptfFeed, createBptfFeed } from '../../src/feeds/bptf/feed.js';
import { quoteRecomputer } from '../../src/feeds/bptf/quote-recompute.js';
import { QUOTE_REFRESH_INTERVAL_MS } from '../../src/feeds/bptf/quote-refresh.js';
import { FakeBptfServer } from '../../src/simulator/bptf-server.js';
import type { BptfEvent } from '../../src/simulator/bptf-events.js';
import { makeObjectId } from '../../src/simulator/object-id.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { waitFor } from '../helpers/wait-for.js';

const CHANNEL = 'quotes_changed';
const T0 = Math.floor(Date.now() / 1000) - 600;
const HAT = { appid: 440, defindex: 378, quality: { id: 6 }, craftable: true };
const SHOTGUN = { appid: 440, defindex: 199, quality: { id: 6 }, craftable: true };

let counter = 0;
function update(id: string, t: number, item: object, currencies: object, steamid = '76561198000000001'): BptfEvent {
  return {
    id: makeObjectId(t, counter++),
    event: 'listing-update',
    payload: { id, steamid, appid: 440, intent: 'sell', currencies, listedAt: t, bumpedAt: t, item, userAgent: { client: 'bot' } },
  };
}

interface Note {
  table: string;
  source: string;
  ids: string[];
}

describe('bptf_quotes in the daemon', () => {
  let tdb: TestDatabase;
  let server: FakeBptfServer;
  let app: TestApp;
  let listener: pg.Client;
  const heard: Note[] = [];

  beforeAll(async () => {
    tdb = await createTestDatabase();
    server = new FakeBptfServer();
    await server.start();
    app = await startTestApp({ DATABASE_URL: tdb.url, BPTF_ENABLED: 'true', BPTF_URL: server.url, NOTIFY_CHANNEL: CHANNEL }, [
      createBptfFeed({ quoteRefreshIntervalMs: 200 }),
    ]);
    await server.waitForConnections(1);
    listener = new pg.Client({ connectionString: tdb.url });
    await listener.connect();
    listener.on('notification', (n) => {
      if (n.channel === CHANNEL && n.payload !== undefined) heard.push(JSON.parse(n.payload) as Note);
    });
    await listener.query(`LISTEN ${CHANNEL}`);
  });
  afterAll(async () => {
    await listener?.end();
    await app?.stop();
    await server?.stop();
    await tdb?.close();
  });

  /** The notifications heard so far, once the quotes of every listing committed so far are (the daemon's recomputer is this process's). */
  async function drain(): Promise<Note[]> {
    await quoteRecomputer.recomputed();
    await listener.query('SELECT 1');
    return heard.splice(0);
  }

  async function sellRef(sku: string): Promise<string | null | undefined> {
    const r = await sql<{ sell_ref: string | null }>`SELECT sell_ref::text FROM bptf_quotes WHERE sku = ${sku}`.execute(tdb.db);
    return r.rows[0]?.sell_ref;
  }

  async function written(n: number): Promise<void> {
    await waitFor(() => (app.statuses.get('bptf')?.eventsWritten ?? 0) >= n, `${n} events written`);
  }

  it('commits a quote within 1 s of its listing and notifies exactly the SKUs whose quote changed', async () => {
    await waitFor(async () => ((await tdb.db.selectFrom('kysely_migration' as never).selectAll().execute()).length > 0 ? true : undefined), 'migrations');
    server.sendEvents([update('a', T0, HAT, { metal: 10 }), update('b', T0, SHOTGUN, { metal: 2 })]);
    // The listings' notification is heard only after the commit that holds the quotes too.
    const first = await waitFor(async () => {
      const notes = heard.filter((n) => n.table === 'bptf_listings');
      return notes.length > 0 ? notes : undefined;
    }, 'the listings notified');
    expect(first.flatMap((n) => n.ids).sort()).toEqual(['a', 'b']);
    // The contract: a quote reflects a committed listing within one second.
    await waitFor(async () => ((await sellRef('378;6')) === '10' && (await sellRef('199;6')) === '2' ? true : undefined), 'the quotes', 1_000);
    await written(2);
    let notes = await drain();
    expect(notes.filter((n) => n.table === 'bptf_quotes').flatMap((n) => n.ids).sort()).toEqual(['199;6', '378;6']);
    expect(notes.every((n) => n.source === 'bptf')).toBe(true);

    // A duplicate (no listing changed), and a change of a listing that moves no quote (its owner).
    server.sendEvents([update('a', T0, HAT, { metal: 10 })]);
    server.sendEvents([update('b', T0 + 1, SHOTGUN, { metal: 2 }, '76561198000000002')]);
    await written(4);
    notes = await drain();
    expect(notes.map((n) => n.table)).toEqual(['bptf_listings']);

    // A new best sell of the hat only.
    server.sendEvents([update('c', T0 + 2, HAT, { metal: 9 }), update('d', T0 + 2, SHOTGUN, { metal: 2 }, '76561198000000003')]);
    await written(6);
    notes = await drain();
    // The shotgun's count changed: its quote row did too.
    expect(notes.filter((n) => n.table === 'bptf_quotes').flatMap((n) => n.ids).sort()).toEqual(['199;6', '378;6']);
    const history = await sql<{ sku: string; sell_ref: string }>`SELECT sku, sell_ref::text FROM bptf_quote_history ORDER BY at, sku`.execute(tdb.db);
    // One row per change of a price: the shotgun's count moved, not its price.
    expect(history.rows).toEqual([
      { sku: '199;6', sell_ref: '2' },
      { sku: '378;6', sell_ref: '10' },
      { sku: '378;6', sell_ref: '9' },
    ]);
  });

  it('follows a key rate change within the refresh interval, and notifies it', async () => {
    await sql`INSERT INTO bptf_key_rate (ref, source) VALUES (50, 'manual')`.execute(tdb.db);
    server.sendEvents([update('k', T0 + 3, SHOTGUN, { keys: 1 })]);
    await written(7);
    expect(await sellRef('199;6')).toBe('2');
    // Before the change: the refresh (every 200 ms here) may notify it while a drain after it waits.
    await drain();
    await sql`UPDATE bptf_key_rate SET ref = 1.5`.execute(tdb.db);
    await waitFor(async () => ((await sellRef('199;6')) === '1.5' ? true : undefined), 'the quote at the new rate', 60_000);
    await waitFor(async () => ((await drain()).some((n) => n.table === 'bptf_quotes' && n.ids.includes('199;6')) ? true : undefined), 'its notification');
  });

  it('drops a blocklisted user’s listings from the quotes within the refresh interval', async () => {
    expect(await sellRef('378;6')).toBe('9');
    await sql`INSERT INTO bptf_blocked_steamids (steamid, reason) VALUES ('76561198000000001', 'test')`.execute(tdb.db);
    await waitFor(async () => ((await sellRef('378;6')) === undefined ? true : undefined), 'the hat quote gone', 60_000);
    // The shotgun keeps the listings of other users.
    expect(await sellRef('199;6')).toBe('2');
  });

  it('runs the refresh every 10 s (well within 60 s), and nothing of it with BPTF_QUOTES=false', () => {
    const names = (env: Record<string, string>) => bptfFeed.plan(loadConfig(env))?.tasks?.map((t) => [t.name, t.intervalMs]);
    expect(names({})).toEqual(expect.arrayContaining([['bptf quote refresh', QUOTE_REFRESH_INTERVAL_MS], ['bptf_quote_history partitions', 3_600_000]]));
    expect(QUOTE_REFRESH_INTERVAL_MS).toBeLessThanOrEqual(10_000);
    expect(names({ BPTF_QUOTES: 'false' })?.map((n) => n[0])).not.toContain('bptf quote refresh');
    // plan() above set the process-wide switch: back to this app's setting.
    bptfFeed.plan(loadConfig({}));
  });
});
