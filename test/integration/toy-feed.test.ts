import { sql } from 'kysely';
import { WebSocketServer, type WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { FatalError } from '../../src/errors.js';
import { FEEDS } from '../../src/feeds/index.js';
import { createLogger } from '../../src/logger.js';
import { startTestApp, TEST_ENV, type TestApp } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { waitFor } from '../helpers/wait-for.js';
import { makeToyFeed } from '../toy-feed/feed.js';

/** The toy upstream: answers the hello with a welcome, then sends whatever the test broadcasts. */
async function startToyServer() {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((r) => wss.once('listening', r));
  const clients = new Set<WebSocket>();
  const closeCodes: number[] = [];
  wss.on('connection', (ws) => {
    ws.on('message', (data) => {
      if (JSON.parse(String(data)).hello !== 'toy') return;
      clients.add(ws);
      ws.send(JSON.stringify({ welcome: true }));
    });
    ws.on('close', (code) => {
      clients.delete(ws);
      closeCodes.push(code);
    });
  });
  return {
    url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}`,
    clients,
    closeCodes,
    broadcast: (frame: string) => clients.forEach((c) => c.send(frame)),
    stop: () => new Promise((r) => wss.close(r)),
  };
}

describe('a fourth feed, defined only in the tests, on the real core', () => {
  let tdb: TestDatabase;
  let server: Awaited<ReturnType<typeof startToyServer>>;
  let app: TestApp;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    // A real feed ships a migration; the toy's table is made here so no core file changes.
    await sql`CREATE TABLE toy_events (id text PRIMARY KEY, at timestamptz NOT NULL, text text NOT NULL)`.execute(tdb.db);
    server = await startToyServer();
    app = await startTestApp({ DATABASE_URL: tdb.url, LOG_PROGRESS_MS: '200' }, [makeToyFeed(server.url)]);
    await waitFor(() => app.statuses.get('toy')?.state === 'connected', 'the toy session ready');
  });
  afterAll(async () => {
    await app?.stop();
    await server?.stop();
    await tdb?.close();
  });

  it('writes its rows, stores its rejects and refused rows, and shows in status, metrics, /readyz and its own route', async () => {
    const now = Date.now();
    for (let i = 0; i < 50; i++) server.broadcast(JSON.stringify({ id: `t${i}`, at: now - i, text: `event ${i}` }));
    for (let i = 0; i < 5; i++) server.broadcast(JSON.stringify({ id: `t${i}`, at: now - i, text: `event ${i}` })); // duplicates
    server.broadcast('not json');
    server.broadcast(JSON.stringify({ something: 'else' }));
    // Postgres text cannot hold NUL: the database refuses this row alone, the others are written.
    server.broadcast(JSON.stringify({ id: 'nul', at: now, text: 'a\u0000b' }));

    const rows = () => sql<{ n: string }>`SELECT count(*) AS n FROM toy_events`.execute(tdb.db).then((r) => Number(r.rows[0]?.n));
    const rejects = () =>
      tdb.db.selectFrom('ingest_rejects').select(['reason', 'raw']).where('source', '=', 'toy').orderBy('id').execute();
    await waitFor(async () => (await rows()) === 50 && (await rejects()).length === 3, '50 rows and 3 rejects');
    const reasons = (await rejects()).map((r) => r.reason);
    expect(reasons).toEqual(expect.arrayContaining(['invalid JSON', 'not a toy event']));
    expect(reasons.find((r) => /^database refused the toy event \(SQLSTATE 22[0-9A-Z]{3}\): /.test(r)), reasons.join(' | ')).toBeDefined();

    const metrics = await (await fetch(`http://127.0.0.1:${app.httpPort}/metrics`)).text();
    expect(metrics).toMatch(/tributary_events_received_total\{source="toy"\} 56/);
    expect(metrics).toMatch(/tributary_events_rejected_total\{source="toy"\} 3/);
    expect(metrics).toMatch(/tributary_events_written_total\{source="toy"\} 55/);
    expect(metrics).toMatch(/tributary_ingest_lag_seconds_count\{source="toy"\} 55/);
    expect(metrics).toMatch(/tributary_leader\{source="toy"\} 1/);

    const ready = (await (await fetch(`http://127.0.0.1:${app.httpPort}/readyz`)).json()) as { sources: Record<string, unknown> };
    expect(ready.sources).toEqual({ toy: { state: 'connected', leader: true } });
    expect(await (await fetch(`http://127.0.0.1:${app.httpPort}/toy/ping`)).text()).toBe('pong from toy');

    await waitFor(
      async () => (await tdb.db.selectFrom('ingest_status').selectAll().where('source', '=', 'toy').executeTakeFirst())?.events_written === '55',
      'ingest_status for the toy feed',
    );
    // LOG_PROGRESS_MS: a progress line per feed, with what was written since the previous one.
    const progress = app.logs.filter((l) => l.includes('"msg":"progress"') && l.includes('"source":"toy"')).map((l) => JSON.parse(l) as { written: number; lag_ms: number | null; state: string });
    expect(progress.reduce((n, p) => n + p.written, 0)).toBe(55);
    expect(progress.at(-1)).toMatchObject({ state: 'connected', lag_ms: expect.any(Number) });
  });

  it('closes its socket with a handshake on stop', async () => {
    await app.stop();
    expect(server.closeCodes).toContain(1000);
  });
});

describe('feed definitions', () => {
  const config = loadConfig({ ...TEST_ENV });
  const logger = createLogger('silent');

  it('refuses two feeds that share a lock id, naming both', () => {
    const a = makeToyFeed('ws://127.0.0.1:1', 7);
    const b = { ...makeToyFeed('ws://127.0.0.1:1', 7), source: 'toy2' };
    expect(() => createApp(config, logger, [a, b])).toThrow(FatalError);
    expect(() => createApp(config, logger, [a, b])).toThrow(/"toy" and "toy2" share lock id 7/);
  });

  it('refuses two feeds with one name, and a lock id that is not a positive int4', () => {
    expect(() => createApp(config, logger, [makeToyFeed('ws://x', 1), makeToyFeed('ws://x', 2)])).toThrow(/two feeds are named "toy"/);
    expect(() => createApp(config, logger, [makeToyFeed('ws://x', 0)])).toThrow(/lock id 0/);
  });

  it("the product's feeds have distinct lock ids", () => {
    expect(new Set(FEEDS.map((f) => f.lockId)).size).toBe(FEEDS.length);
  });
});
