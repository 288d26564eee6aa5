import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { createCommerceConnector } from '../../src/feeds/commerce/session.js';
import { fakeFeedContext } from '../helpers/feed-context.js';
import { createLogger } from '../../src/logger.js';
import { COMMERCE_CHANNELS, FakeCommerceServer, makeCommerceEvent, type CommerceEntity } from '../../src/simulator/commerce-server.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { waitFor } from '../helpers/wait-for.js';

const USER = 'ops@example.com';
const PASSWORD = 'pa55word-that-must-never-be-logged';
const ENTITIES: CommerceEntity[] = ['order', 'product', 'customer', 'shipment', 'transaction'];

/** Distinct entity ids per test. */
let nextId = 1000;
const iso = (ms: number) => new Date(ms).toISOString();

async function entity(tdb: TestDatabase, kind: string, id: number) {
  return tdb.db.selectFrom('commerce_entities').selectAll().where('entity', '=', kind).where('entity_id', '=', String(id)).executeTakeFirst();
}

async function eventCount(tdb: TestDatabase, kind: string, id: number): Promise<number> {
  const r = await sql<{ n: string }>`SELECT count(*) AS n FROM commerce_events WHERE entity = ${kind} AND entity_id = ${String(id)}`.execute(tdb.db);
  return Number(r.rows[0]?.n ?? 0);
}

describe('store feed end to end', () => {
  let tdb: TestDatabase;
  let server: FakeCommerceServer;
  let app: TestApp;
  /** Every cookie value the app was ever given (checked against the logs at the end). */
  const cookieValues = new Set<string>();
  const rememberCookies = () => {
    for (const part of (server.lastUpgradeHeaders?.cookie ?? '').split(';')) {
      const v = part.slice(part.indexOf('=') + 1).trim();
      if (v) cookieValues.add(v);
    }
  };

  beforeAll(async () => {
    tdb = await createTestDatabase();
    // Login field names other than the default, to prove COMMERCE_LOGIN_FIELDS is honoured.
    server = new FakeCommerceServer({ users: [{ email: USER, password: PASSWORD }], loginFields: { username: 'login', password: 'secret' } });
    await server.start();
    app = await startTestApp({
      DATABASE_URL: tdb.url,
      COMMERCE_WS_URL: server.wsUrl,
      COMMERCE_LOGIN_URL: server.loginUrl,
      COMMERCE_USERNAME: USER,
      COMMERCE_PASSWORD: PASSWORD,
      COMMERCE_LOGIN_FIELDS: 'login,secret',
    });
    await server.waitForSubscriptions(COMMERCE_CHANNELS.length);
  });

  afterAll(async () => {
    await app?.stop();
    await server?.stop();
    await tdb?.close();
  });

  it('logs in with the configured fields, sends every cookie on the upgrade, subscribes to every channel', async () => {
    expect(server.logins).toBe(1);
    expect(server.loginFailures).toBe(0);
    const cookie = server.lastUpgradeHeaders?.cookie ?? '';
    expect(cookie).toMatch(/(^|; )connect\.sid=s%3A[^;]+/);
    expect(cookie).toMatch(/(^|; )csrf=[0-9a-f]+/);
    rememberCookies();
    expect(server.connections).toBe(1);
    expect([...(server.subscriptions[0] ?? [])].sort()).toEqual([...COMMERCE_CHANNELS].sort());
    await waitFor(() => app.statuses.get('commerce')?.state === 'connected', 'state connected');
  });

  it('stores events of all five entity kinds in both tables', async () => {
    const id = nextId++;
    const t = Date.UTC(2026, 0, 25, 10, 0, 0);
    for (const kind of ENTITIES) {
      const e = makeCommerceEvent(kind, 'updated', id, 3);
      expect(server.emit(e.event, e.data, iso(t))).toBe(1);
    }
    for (const kind of ENTITIES) {
      const row = await waitFor(() => entity(tdb, kind, id), `the ${kind} entity`);
      const e = makeCommerceEvent(kind, 'updated', id, 3);
      const { changed_fields: changed, ...state } = e.data;
      expect(row).toMatchObject({ last_event: `${kind}:updated`, occurred_at: new Date(t), deleted_at: null });
      expect(row.data).toEqual(state);
      const ev = await tdb.db.selectFrom('commerce_events').selectAll().where('entity', '=', kind).where('entity_id', '=', String(id)).executeTakeFirstOrThrow();
      expect(ev).toMatchObject({ event: `${kind}:updated`, action: 'updated', occurred_at: new Date(t) });
      expect(ev.data).toEqual(e.data);
      expect(ev.changed_fields).toEqual(changed);
      expect(ev.dedupe_key).toMatch(/^[0-9a-f]{64}$/);
    }
  });

  it('ends in the newest state when updates arrive out of order, with older keys merged', async () => {
    const id = nextId++;
    const t0 = Date.UTC(2026, 0, 25, 11, 0, 0);
    const created = makeCommerceEvent('order', 'created', id, 0);
    server.emit(created.event, { ...created.data, note: 'gift wrap' }, iso(t0));
    // The newest update first, then an older one: the older must not overwrite.
    server.emit('order:updated', { id, status: 'shipped', changed_fields: { status: 'shipped' } }, iso(t0 + 3_000));
    server.emit('order:updated', { id, status: 'processing', changed_fields: { status: 'processing' } }, iso(t0 + 1_000));
    await waitFor(async () => (await eventCount(tdb, 'order', id)) === 3, 'three events stored');
    const row = await entity(tdb, 'order', id);
    expect(row?.occurred_at).toEqual(new Date(t0 + 3_000));
    expect(row?.data).toEqual({ ...created.data, note: 'gift wrap', status: 'shipped' });

    // One batch holding an event older and one newer than the stored state: the older is skipped,
    // the newer applied on top of the stored data.
    server.emit('order:updated', { id, status: 'pending', older_only: true }, iso(t0 + 2_000));
    server.emit('order:updated', { id, status: 'delivered', tracking: 'T1', changed_fields: { status: 'delivered' } }, iso(t0 + 4_000));
    await waitFor(async () => (await eventCount(tdb, 'order', id)) === 5, 'five events stored');
    const after = await entity(tdb, 'order', id);
    expect(after).toMatchObject({ occurred_at: new Date(t0 + 4_000), last_event: 'order:updated', deleted_at: null });
    expect(after?.data).toEqual({ ...created.data, note: 'gift wrap', status: 'delivered', tracking: 'T1' });
  });

  it('a delete sets deleted_at and keeps the last data; an older update does not revive it, a newer one does', async () => {
    const id = nextId++;
    const t0 = Date.UTC(2026, 0, 25, 12, 0, 0);
    const created = makeCommerceEvent('product', 'created', id, 0);
    const deleted = makeCommerceEvent('product', 'deleted', id, 1);
    server.emit(created.event, created.data, iso(t0));
    server.emit(deleted.event, deleted.data, iso(t0 + 2_000));
    await waitFor(async () => (await entity(tdb, 'product', id))?.deleted_at, 'the delete applied');
    // An update older than the stored delete arrives late: stored as an event, but the entity stays deleted.
    server.emit('product:updated', { id, stock: 1 }, iso(t0 + 1_000));
    await waitFor(async () => (await eventCount(tdb, 'product', id)) === 3, 'three events stored');
    const row = await entity(tdb, 'product', id);
    expect(row).toMatchObject({ last_event: 'product:deleted', occurred_at: new Date(t0 + 2_000), deleted_at: new Date(t0 + 2_000) });
    expect(row?.data).toEqual({ ...created.data, ...deleted.data });

    server.emit('product:updated', { id, stock: 7 }, iso(t0 + 5_000));
    await waitFor(async () => (await entity(tdb, 'product', id))?.deleted_at === null, 'revived by a newer update');
    expect((await entity(tdb, 'product', id))?.data).toMatchObject({ stock: 7, sku: created.data.sku });
  });

  it('stores a duplicate event once, also when it is re-sent after a reconnect', async () => {
    const id = nextId++;
    const ts = iso(Date.UTC(2026, 0, 25, 13, 0, 0));
    const e = makeCommerceEvent('customer', 'updated', id, 1);
    server.emit(e.event, e.data, ts);
    server.emit(e.event, e.data, ts);
    await waitFor(() => entity(tdb, 'customer', id), 'the entity');
    const connections = server.totalConnections;
    await server.restartAbruptly(); // sessions survive this: no new login needed
    await server.waitForConnections(connections + 1);
    await waitFor(() => server.subscriptions[0]?.length === COMMERCE_CHANNELS.length, 'resubscribed');
    const written = app.statuses.get('commerce')!.eventsWritten;
    server.emit(e.event, e.data, ts);
    server.emit('customer:updated', { id, first_name: 'Later' }, iso(Date.UTC(2026, 0, 25, 13, 0, 1)));
    await waitFor(() => app.statuses.get('commerce')!.eventsWritten >= written + 2, 'both committed');
    expect(await eventCount(tdb, 'customer', id)).toBe(2);
    expect(server.logins).toBe(1);
  });

  it('logs in again when the session expires (close 1008), and events flow again', async () => {
    const logins = server.logins;
    const subscribes = server.subscribeMessages;
    server.expireSessions();
    await server.waitForLogins(logins + 1);
    await server.waitForSubscriptions(subscribes + COMMERCE_CHANNELS.length);
    expect(server.closeCodes).toContain(1008);
    rememberCookies();
    const id = nextId++;
    const e = makeCommerceEvent('shipment', 'created', id, 0);
    await waitFor(() => server.emit(e.event, e.data, iso(Date.UTC(2026, 0, 25, 14))) === 1, 'a subscribed socket');
    await waitFor(() => entity(tdb, 'shipment', id), 'the event after the new login');
    expect(app.logs.join('')).toMatch(/store session is gone; logging in again/);
  });

  it('never logs the password or a cookie value', () => {
    const logs = app.logs.join('');
    expect(cookieValues.size).toBeGreaterThanOrEqual(4);
    expect(logs).not.toContain(PASSWORD);
    for (const v of cookieValues) {
      expect(logs).not.toContain(v);
      expect(logs).not.toContain(decodeURIComponent(v));
    }
  });
});

describe('store feed failures', () => {
  let tdb: TestDatabase;
  let server: FakeCommerceServer;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    server = new FakeCommerceServer({ users: [{ email: USER, password: PASSWORD }] });
    await server.start();
  });

  afterAll(async () => {
    await server?.stop();
    await tdb?.close();
  });

  it('a refused login backs off and shows in the status (last_error, backoff), without the password', async () => {
    const wrong = 'wrong-password-never-logged';
    const failures = server.loginFailures;
    const app = await startTestApp({
      DATABASE_URL: tdb.url,
      COMMERCE_WS_URL: server.wsUrl,
      COMMERCE_LOGIN_URL: server.loginUrl,
      COMMERCE_USERNAME: USER,
      COMMERCE_PASSWORD: wrong,
    });
    try {
      await waitFor(() => server.loginFailures >= failures + 2, 'two refused logins');
      const status = app.statuses.get('commerce')!;
      await waitFor(() => status.state === 'backoff', 'state backoff');
      expect(status.lastError).toMatch(/HTTP 401/);
      expect(server.totalConnections).toBe(0);
      // stop() writes ingest_status one last time; last_error survives the state change to stopped.
      await app.stop();
      const row = await tdb.db.selectFrom('ingest_status').selectAll().where('source', '=', 'commerce').executeTakeFirstOrThrow();
      expect(row.last_error).toMatch(/login at http:\/\/127\.0\.0\.1:\d+ answered HTTP 401/);
      expect(Number(row.reconnects)).toBeGreaterThanOrEqual(2);
      const logs = app.logs.join('');
      expect(logs).not.toContain(wrong);
      expect(logs).not.toContain(PASSWORD);
    } finally {
      await app.stop();
    }
  });

  it('a configured COMMERCE_COOKIE that the store refuses (401): an error log, state auth_failed, the cookie never logged', async () => {
    const cookie = 'connect.sid=s%3Astale-cookie-never-logged.sig; csrf=abc123never';
    const rejected = server.unauthorizedUpgrades;
    const app = await startTestApp({ DATABASE_URL: tdb.url, COMMERCE_WS_URL: server.wsUrl, COMMERCE_COOKIE: cookie });
    try {
      await waitFor(() => server.unauthorizedUpgrades >= rejected + 1, 'a refused upgrade');
      expect(server.lastUpgradeHeaders?.cookie).toBe(cookie);
      await waitFor(() => app.statuses.get('commerce')?.state === 'auth_failed', 'state auth_failed');
      await waitFor(() => app.logs.some((l) => l.includes('no longer accepts COMMERCE_COOKIE') && l.includes('"level":50')), 'the error log');
      const logs = app.logs.join('');
      expect(logs).not.toContain('stale-cookie-never-logged');
      expect(logs).not.toContain('abc123never');
      expect(server.logins).toBe(0);
    } finally {
      await app.stop();
    }
  });
});

describe('store connector keepalive', () => {
  /** The connector alone, on a context without the core, with a short ping interval. */
  function harness() {
    const logs: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        logs.push(chunk.toString('utf8'));
        done();
      },
    });
    const { ctx, added: events } = fakeFeedContext('commerce', { logger: createLogger('debug', sink) });
    return { ctx, logs, events };
  }

  it('sends {"type":"ping"} every interval and the answered pings keep the one connection', async () => {
    const server = new FakeCommerceServer({ users: [{ email: USER, password: PASSWORD }] });
    await server.start();
    const h = harness();
    const connector = createCommerceConnector(
      {
        wsUrl: server.wsUrl,
        login: { url: server.loginUrl, username: USER, password: PASSWORD, fields: ['email', 'password'] },
        channels: ['order_changes'],
        // The pong deadline is the next ping, and the fake store answers on this process's event
        // loop: 500 ms between pings leaves a busy two-core machine's stalls room (100 ms did not).
        pingIntervalMs: 500,
      },
      h.ctx,
    );
    connector.start();
    try {
      // Three pings (1.5 s): the second and third go out only because the one before was answered.
      await waitFor(() => server.pings >= 3, 'three pings', 10_000);
      expect(server.totalConnections).toBe(1);
      expect(server.connections).toBe(1);
      expect(h.ctx.status.state).toBe('connected');
      server.emit('order:created', { id: 1, status: 'pending' });
      await waitFor(() => h.events.length === 1, 'the event reaches the writer');
    } finally {
      await connector.stop();
      await server.stop();
    }
  });

  it('drops a connection whose pings go unanswered, and reconnects', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    let connections = 0;
    wss.on('connection', (ws) => {
      connections++;
      ws.send(JSON.stringify({ type: 'connected', message: 'hi', userId: 1 }));
      // Never answers anything.
    });
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
    const h = harness();
    const port = (wss.address() as AddressInfo).port;
    const connector = createCommerceConnector({ wsUrl: `ws://127.0.0.1:${port}/ws`, cookie: 'a=b', channels: ['order_changes'], pingIntervalMs: 100 }, h.ctx);
    connector.start();
    try {
      await waitFor(() => connections >= 2, 'a reconnect after the unanswered ping', 10_000);
      expect(h.logs.join('')).toMatch(/no pong within 100 ms/);
    } finally {
      await connector.stop();
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    }
  });
});
