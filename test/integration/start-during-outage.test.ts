import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { makeListingUpdate } from '../../src/simulator/bptf-events.js';
import { makeTradePostPayload, makeWebhookBody } from '../../src/simulator/tradepost-server.js';
import { FakeBptfServer } from '../../src/simulator/bptf-server.js';
import { startTestApp, TEST_ENV, type TestApp } from '../helpers/app.js';
import { count, createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { waitFor } from '../helpers/wait-for.js';

const SECRET = 'a-webhook-secret-of-some-length';

function spoolFiles(dataDir: string): string[] {
  try {
    return readdirSync(join(dataDir, 'spool'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ndjson'));
  } catch {
    return [];
  }
}

describe('a start while the database is unreachable', () => {
  let tdb: TestDatabase;
  let server: FakeBptfServer;
  let proxy: TcpProxy;
  let app: TestApp | undefined;

  beforeAll(async () => {
    tdb = await createTestDatabase(); // not migrated: the daemon must do it once it can
    server = new FakeBptfServer();
    await server.start();
    proxy = TcpProxy.forUrl(tdb.url);
    await proxy.start();
  });
  afterAll(async () => {
    await app?.stop();
    await server?.stop();
    await proxy?.stop();
    await tdb?.close();
  });

  it('connects to the feed anyway, and every event sent during the outage is in the table after it', async () => {
    proxy.cut();
    const dataDir = mkdtempSync(join(tmpdir(), 'tributary-outage-start-'));
    const started = startTestApp({
      DATA_DIR: dataDir,
      DATABASE_URL: proxy.rewrite(tdb.url),
      BPTF_ENABLED: 'true',
      BPTF_URL: server.url,
      DATABASE_TIMEOUT_MS: '1000',
      // Memory holds 1,000: the rest goes to the spool.
      BUFFER_MAX_EVENTS: '1000',
      BATCH_MAX_EVENTS: '200',
    }).then((a) => (app = a));
    await server.waitForConnections(1, 15_000);
    const events = Array.from({ length: 1_500 }, (_, i) => makeListingUpdate(i, { timeSec: 1_765_600_000 }));
    for (let i = 0; i < events.length; i += 50) server.sendEvents(events.slice(i, i + 50));
    // Held while the database is away: 1,000 in memory, the rest on disk.
    await waitFor(() => spoolFiles(dataDir).length > 0, 'events past the memory buffer spooled');
    proxy.restore();
    await started;
    await waitFor(async () => (await count(tdb.db, 'bptf_listings')) === 1_500, '1,500 listings', 30_000);
    expect(await waitFor(async () => (await fetch(`http://127.0.0.1:${app!.httpPort}/readyz`)).status === 200, '/readyz 200')).toBe(true);
  });

  it('answers TradePost webhooks 503 with Retry-After (not 404) until the database is ready, then stores them', async () => {
    proxy.cut();
    const config = loadConfig({
      ...TEST_ENV,
      DATA_DIR: mkdtempSync(join(tmpdir(), 'tributary-outage-hook-')),
      DATABASE_URL: proxy.rewrite(tdb.url),
      DATABASE_TIMEOUT_MS: '1000',
      TRADEPOST_WEBHOOK_SECRET: SECRET,
    });
    const hookApp = createApp(config, createLogger('silent'));
    const started = hookApp.start();
    try {
      const port = await waitFor(() => hookApp.httpPort, 'the HTTP server');
      const body = JSON.stringify(makeWebhookBody('BID_REQUEST', makeTradePostPayload('BID_REQUEST', 'c0ffee00-0000-4000-8000-00000000beef', 0)));
      const post = () => fetch(`http://127.0.0.1:${port}/webhooks/tradepost`, { method: 'POST', headers: { 'x-webhook-secret': SECRET }, body });
      const early = await post();
      expect(early.status).toBe(503);
      expect(early.headers.get('retry-after')).toBe('5');
      proxy.restore();
      await started;
      expect((await post()).status).toBe(200);
    } finally {
      proxy.restore();
      await hookApp.stop();
    }
  });
});
