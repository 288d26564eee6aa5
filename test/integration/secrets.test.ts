import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { FakeCommerceServer } from '../../src/simulator/commerce-server.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { waitFor } from '../helpers/wait-for.js';

const USER = 'ops@example.com';
/** Written in COMMERCE_LOGIN_URL's userinfo: fetch refuses such a URL and its error text quotes it whole. */
const URL_PASSWORD = 'url-pa55word-never-shown';
const PASSWORD = 'body-pa55word-never-shown';
const COOKIE_VALUE = 'cookie-value-never-shown';

/** Every place a user reads: the status page, /status.json, ingest_status (every column) and every log line. */
async function everythingShown(app: TestApp, tdb: TestDatabase): Promise<Record<string, string>> {
  const base = `http://127.0.0.1:${app.httpPort}`;
  const rows = await sql`SELECT * FROM ingest_status`.execute(tdb.db);
  const gaps = await sql`SELECT * FROM ingest_gaps`.execute(tdb.db);
  return {
    page: await (await fetch(`${base}/`)).text(),
    json: await (await fetch(`${base}/status.json`)).text(),
    readyz: await (await fetch(`${base}/readyz`)).text(),
    ingest_status: JSON.stringify(rows.rows),
    ingest_gaps: JSON.stringify(gaps.rows),
    logs: app.logs.join(''),
  };
}

describe('credentials never shown', () => {
  let tdb: TestDatabase;
  let app: TestApp | undefined;

  beforeAll(async () => {
    tdb = await createTestDatabase();
  });
  afterEach(async () => {
    await app?.stop();
    app = undefined;
  });
  afterAll(async () => {
    await tdb?.close();
  });

  it('a password in COMMERCE_LOGIN_URL, on a login that fails: not on the page, in /status.json, ingest_status or any log line', async () => {
    const server = new FakeCommerceServer({ users: [{ email: USER, password: PASSWORD }] });
    await server.start();
    try {
      const loginUrl = new URL(server.loginUrl);
      loginUrl.username = 'ops';
      loginUrl.password = URL_PASSWORD;
      app = await startTestApp({
        DATABASE_URL: tdb.url,
        COMMERCE_WS_URL: server.wsUrl,
        COMMERCE_LOGIN_URL: loginUrl.toString(),
        COMMERCE_USERNAME: USER,
        COMMERCE_PASSWORD: PASSWORD,
      });
      const status = app.statuses.get('commerce');
      // The error path: the login fails (fetch refuses credentials in a URL) and the feed backs off.
      await waitFor(() => (status?.reconnects ?? 0) >= 2, 'two failed attempts');
      expect(status?.lastError).toMatch(/^login request to http:\/\/127\.0\.0\.1:\d+ failed: .*http:\/\/ops:\*\*\*@127\.0\.0\.1:\d+\/api\/auth\/login/);
      await waitFor(async () => {
        const r = await sql<{ last_error: string | null }>`SELECT last_error FROM ingest_status WHERE source = 'commerce'`.execute(tdb.db);
        return r.rows[0]?.last_error?.includes('ops:***@') ?? false;
      }, 'ingest_status.last_error written (redacted)');
      expect(app.logs.join('')).toContain('ops:***@'); // the error was logged, masked
      const shown = await everythingShown(app, tdb);
      expect(shown.page).toContain('ops:***@');
      expect(shown.json).toContain('ops:***@');
      for (const [where, text] of Object.entries(shown)) {
        expect(text.includes(URL_PASSWORD), `${where} shows the URL's password`).toBe(false);
        expect(text.includes(encodeURIComponent(URL_PASSWORD)), `${where} shows the URL's password`).toBe(false);
        expect(text.includes(PASSWORD), `${where} shows COMMERCE_PASSWORD`).toBe(false);
      }
      expect(server.logins).toBe(0);
    } finally {
      await server.stop();
    }
  });

  it('an upstream that echoes a credential back (an error message, a close reason): masked in every log line', async () => {
    // A store that greets, echoes the cookie it was sent in an error message, then closes with it as the reason.
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => wss.once('listening', resolve));
    let echoes = 0;
    wss.on('connection', (ws, req) => {
      const cookie = req.headers.cookie ?? '';
      ws.send(JSON.stringify({ type: 'connected', userId: 1, message: 'hi' }));
      ws.send(JSON.stringify({ type: 'error', message: `session ${cookie} is not valid` }));
      echoes++;
      ws.close(4000, `bad ${cookie}`.slice(0, 120));
    });
    try {
      app = await startTestApp({
        DATABASE_URL: tdb.url,
        COMMERCE_WS_URL: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/ws`,
        COMMERCE_COOKIE: `connect.sid=${COOKIE_VALUE}`,
      });
      await waitFor(() => echoes >= 2 && app!.logs.some((l) => l.includes('socket closed')), 'the echo received and logged');
      const logs = app.logs.join('');
      expect(logs).toContain('session *** is not valid'); // COMMERCE_COOKIE's whole value is a registered secret
      const shown = await everythingShown(app, tdb);
      for (const [where, text] of Object.entries(shown)) expect(text.includes(COOKIE_VALUE), `${where} shows the cookie`).toBe(false);
    } finally {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    }
  });
});
