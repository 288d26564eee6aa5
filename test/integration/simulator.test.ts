/**
 * The fake upstreams in src/simulator/, exercised with raw `ws` clients (no daemon), so a
 * failing daemon test can trust that the fake speaks the protocol; and the simulator's run
 * (startSimulation, the CLI's --write-env, the README examples sent to new clients).
 *
 * No fixed sleeps: every wait is for a message, a close, a server counter, or a file.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { ClientOptions, RawData } from 'ws';
import {
  EXAMPLE_ITEM_NAME, EXAMPLE_LISTING_INDEXES, EXAMPLE_STEAMID, listingIdFor, makeListingDelete, makeListingUpdate,
} from '../../src/simulator/bptf-events.js';
import { FakeBptfServer } from '../../src/simulator/bptf-server.js';
import { FakeCommerceServer, makeCommerceEvent } from '../../src/simulator/commerce-server.js';
import { makeObjectId, objectIdSeconds } from '../../src/simulator/object-id.js';
import { parseConfig, SIM_API_KEY, SIM_USER, startSimulation, UsageError, type SimulatorConfig } from '../../src/simulator/simulation.js';
import { FakeTradePostServer, makeTradePostPayload, makeWebhookBody } from '../../src/simulator/tradepost-server.js';
import { EXAMPLE_CONVERSATION_ID, EXAMPLE_ORDER_ID, EXAMPLE_REJECT_FRAME } from '../../src/simulator/traffic.js';

/** Bound for every wait in this file (ms); a healthy run needs a small fraction of it. */
const WAIT_MS = 3_000;

type Closed = { code: number; reason: string };

/** A raw client that queues incoming text frames so tests can await them in order. */
class TestClient {
  readonly ws: WebSocket;
  readonly opened: Promise<void>;
  readonly closed: Promise<Closed>;
  private readonly queue: string[] = [];
  private readonly wakeups: (() => void)[] = [];

  constructor(url: string, opts: ClientOptions = {}) {
    this.ws = new WebSocket(url, opts);
    this.ws.on('message', (data: RawData) => {
      this.queue.push(Buffer.isBuffer(data) ? data.toString('utf8') : String(data));
      for (const wake of this.wakeups.splice(0)) wake();
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    this.closed = new Promise((resolve) => {
      this.ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() }));
    });
    // Tests that expect a failed handshake assert on `opened`; avoid unhandled rejections otherwise.
    this.opened.catch(() => undefined);
    this.ws.on('error', () => undefined);
  }

  /** Next text frame, raw. */
  async nextRaw(timeoutMs = WAIT_MS): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (this.queue.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('TestClient: no message within timeout');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wakeups.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.queue.shift() as string;
  }

  /** Next frame parsed as JSON. */
  async next(timeoutMs = WAIT_MS): Promise<Record<string, unknown>> {
    return JSON.parse(await this.nextRaw(timeoutMs)) as Record<string, unknown>;
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }
}

/** Resolves when `cond()` holds; polls every 10 ms. */
async function until(cond: () => boolean, what: string, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

function client(url: string, opts?: ClientOptions): TestClient {
  const c = new TestClient(url, opts);
  cleanups.push(() => c.ws.terminate());
  return c;
}

async function started<T extends { start(): Promise<void>; stop(): Promise<void> }>(server: T): Promise<T> {
  await server.start();
  cleanups.push(() => server.stop());
  return server;
}

describe('event factories', () => {
  it('makes ObjectIds with the time in the first 4 bytes, a fixed process part and a wrapping counter', () => {
    const a = makeObjectId(1_765_043_832);
    const b = makeObjectId(1_765_043_832);
    expect(a).toMatch(/^[0-9a-f]{24}$/);
    expect(a.slice(0, 8)).toBe('69346e78');
    expect(objectIdSeconds(a)).toBe(1_765_043_832);
    expect(b.slice(8, 18)).toBe(a.slice(8, 18));
    expect(a).not.toBe(b);
    expect(makeObjectId(0, 0xffffff).slice(18)).toBe('ffffff');
    expect(makeObjectId(0, 0x1000000).slice(18)).toBe('000000');
    expect(() => makeObjectId(-1)).toThrow(RangeError);
  });

  it('makes deterministic, realistic listing events of 2-3 KiB', () => {
    expect(listingIdFor(7)).toBe(listingIdFor(7));
    const ids = Array.from({ length: 200 }, (_, i) => listingIdFor(i));
    expect(new Set(ids).size).toBe(200);
    expect(ids.some((id) => /^440_7656119\d{10}_[0-9a-f]{32}$/.test(id))).toBe(true);
    expect(ids.some((id) => /^440_\d+$/.test(id))).toBe(true);

    const update = makeListingUpdate(3, { timeSec: 1_765_043_832, price: 100 });
    expect(update.event).toBe('listing-update');
    expect(objectIdSeconds(update.id)).toBe(1_765_043_832);
    expect(update.payload).toMatchObject({ id: listingIdFor(3), appid: 440, status: 'active', value: { raw: 100 } });
    expect(update.payload.item).toHaveProperty('name');
    expect(update.payload.user).toHaveProperty('id', update.payload.steamid);
    const sizes = Array.from({ length: 100 }, (_, i) => Buffer.byteLength(JSON.stringify(makeListingUpdate(i, { timeSec: 1e9 }))));
    const median = [...sizes].sort((x, y) => x - y)[50] ?? 0;
    expect(median).toBeGreaterThan(2_000);
    expect(Math.max(...sizes)).toBeLessThan(3_072);

    const full = makeListingDelete(3, { timeSec: 1_765_043_900 });
    expect(full.event).toBe('listing-delete');
    expect(full.payload).toMatchObject({ id: listingIdFor(3), status: 'active' });
    expect(makeListingDelete(3, { timeSec: 1_765_043_900, partial: true }).payload).toEqual({ id: listingIdFor(3) });
  });

  it('makes TradePost payloads and webhook envelopes shaped like TradePost\'s documentation', () => {
    const p = makeTradePostPayload('BID_REQUEST', 'conv-1', 0);
    expect(p).toMatchObject({ conversation_id: 'conv-1', asset_type: expect.any(String), reference_id: expect.any(String) });
    for (const key of ['external_ids', 'asset_details', 'config_details', 'item_details']) expect(p).toHaveProperty(key);
    const body = makeWebhookBody('BID_REQUEST', p, { sentAtSec: 1_736_614_800 });
    expect(body).toMatchObject({
      msg_type: 'BID_REQUEST', sent_at: 1_736_614_800, source_id: 'tradepost_auction_service', destination_id: 'partner_demo',
    });
    expect(body.msg_id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('makes store events like the store backend\'s documentation, updates with changed_fields', () => {
    const e = makeCommerceEvent('order', 'updated', 123, 1);
    expect(e.event).toBe('order:updated');
    expect(e.data).toMatchObject({ id: 123, currency: 'USD', changed_fields: { status: expect.any(String) } });
    expect(makeCommerceEvent('product', 'created', 5, 0).data).not.toHaveProperty('changed_fields');
    expect(makeCommerceEvent('shipment', 'deleted', 9, 2).data).toHaveProperty('id', 9);
  });
});

describe('FakeBptfServer', () => {
  it('sends array frames to every client and records the batch-test header', async () => {
    const server = await started(new FakeBptfServer());
    expect(server.url).toBe(`ws://127.0.0.1:${server.port}/events`);
    const c = client(server.url, { headers: { 'batch-test': 'true' } });
    await c.opened;
    await server.waitForConnections(1);
    expect(server.lastRequestHeaders?.['batch-test']).toBe('true');
    expect(server.connections).toBe(1);

    const events = [0, 1, 2].map((i) => makeListingUpdate(i, { timeSec: Math.floor(Date.now() / 1000) }));
    expect(server.sendEvents(events)).toBe(true);
    const frame: unknown = JSON.parse(await c.nextRaw());
    expect(Array.isArray(frame)).toBe(true);
    expect(frame).toEqual(events);

    expect(server.sendFrame('')).toBe(true);
    expect(await c.nextRaw()).toBe('');
    server.sendFrame(JSON.stringify(events[0]));
    expect(await c.next()).toMatchObject({ event: 'listing-update' });

    c.ws.close(1000, 'bye');
    await c.closed;
    await until(() => server.closeCodes.includes(1000), 'close code 1000 on the server');
    expect(server.connections).toBe(0);
  });

  it('restartAbruptly drops clients without a close frame and accepts new ones on the same port', async () => {
    const server = await started(new FakeBptfServer());
    const port = server.port;
    const first = client(server.url);
    await first.opened;
    await server.restartAbruptly();
    expect((await first.closed).code).toBe(1006);
    expect(server.port).toBe(port);

    const second = client(server.url);
    await second.opened;
    await server.waitForConnections(2);
    expect(server.totalConnections).toBe(2);
    server.sendEvents([makeListingDelete(1, { timeSec: 1_765_043_832, partial: true })]);
    expect(await second.nextRaw()).toContain('listing-delete');
  });

  it('silence() stops frames and withholds pongs on an open socket', async () => {
    const server = await started(new FakeBptfServer());
    const c = client(server.url);
    await c.opened;
    await server.waitForConnections(1);
    const pongs: string[] = [];
    c.ws.on('pong', (data: Buffer) => pongs.push(data.toString()));

    server.silence(true);
    expect(server.sendEvents([makeListingUpdate(1, { timeSec: 1e9 })])).toBe(false);
    c.ws.ping('during-silence');
    await until(() => server.pingsReceived === 1, 'the server to receive the first ping');
    server.silence(false);
    c.ws.ping('after-silence');
    await until(() => pongs.length > 0, 'a pong');
    // The pings are handled in order, so had the first been answered it would be first here.
    expect(pongs).toEqual(['after-silence']);
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('waitForConnections rejects with a clear error on timeout', async () => {
    const server = await started(new FakeBptfServer());
    await expect(server.waitForConnections(1, 50)).rejects.toThrow(/timed out after 50 ms waiting for 1 connections/);
  });
});

describe('FakeTradePostServer', () => {
  it('authenticates, subscribes and delivers events by room', async () => {
    const server = await started(new FakeTradePostServer({ apiKeys: ['good'] }));
    expect(server.url).toBe(`ws://127.0.0.1:${server.port}/ws`);
    const c = client(server.url);
    await c.opened;

    c.send({ msg_type: 'subscribe', payload: { rooms: ['BID_REQUEST'] } });
    expect(await c.next()).toMatchObject({ msg_type: 'error', payload: { code: 'AUTH_REQUIRED' } });

    c.send({ msg_type: 'authenticate', payload: { token: 'good' } });
    const auth = await c.next();
    expect(auth).toMatchObject({ msg_type: 'authenticated', payload: { auth_method: 'api_key' } });
    expect(auth.sent_at).toEqual(expect.any(Number));
    expect((auth.payload as Record<string, unknown>).account_id).toMatch(/^[0-9a-f-]{36}$/);

    c.send({ msg_type: 'subscribe', payload: { rooms: ['BID_REQUEST', 'AUCTION_RESULT'] } });
    expect(await c.next()).toMatchObject({ msg_type: 'subscribed', payload: { rooms: ['BID_REQUEST', 'AUCTION_RESULT'] } });
    await server.waitForSubscribed(1);

    const payload = makeTradePostPayload('BID_REQUEST', 'conv-1', 0);
    expect(server.publish('BID_REQUEST', payload, { sentAt: 1_704_067_200_000 })).toBe(1);
    expect(await c.next()).toEqual({ msg_type: 'BID_REQUEST', sent_at: 1_704_067_200_000, payload });
    expect(server.publish('PAYMENT_FAILED', {})).toBe(0);

    c.send({ msg_type: 'subscribe', payload: { rooms: ['ALL'] } });
    await c.next();
    expect(server.publish('PAYMENT_FAILED', { conversation_id: 'x' })).toBe(1);
    expect(await c.next()).toMatchObject({ msg_type: 'PAYMENT_FAILED' });
    expect(server.authAttempts).toBe(1);
  });

  it('rejects bad keys with the documented codes and closes with 1008', async () => {
    const server = await started(new FakeTradePostServer({ apiKeys: ['good'], inactiveKeys: ['old'], expiredKeys: ['exp'] }));
    for (const [token, code] of [['nope', 'AUTH_INVALID_API_KEY'], ['old', 'AUTH_API_KEY_INACTIVE'], ['exp', 'AUTH_API_KEY_EXPIRED']]) {
      const c = client(server.url);
      await c.opened;
      c.send({ msg_type: 'authenticate', payload: { token } });
      const err = await c.next();
      expect(err).toMatchObject({ msg_type: 'error', payload: { code } });
      expect(err.sent_at).toEqual(expect.any(Number));
      expect((await c.closed).code).toBe(1008);
    }
    expect(server.authAttempts).toBe(3);

    server.rejectAuth = true;
    const c = client(server.url);
    await c.opened;
    c.send({ msg_type: 'authenticate', payload: { token: 'good' } });
    expect(await c.next()).toMatchObject({ payload: { error: 'Invalid API key', code: 'AUTH_INVALID_API_KEY' } });
  });

  it('answers malformed messages and unknown rooms with error codes', async () => {
    const server = await started(new FakeTradePostServer({ apiKeys: ['good'] }));
    const c = client(server.url);
    await c.opened;
    c.send('not json');
    expect(await c.next()).toMatchObject({ msg_type: 'error', payload: { code: 'INVALID_JSON' } });
    c.send({ payload: {} });
    expect(await c.next()).toMatchObject({ msg_type: 'error', payload: { code: 'INVALID_MESSAGE' } });

    c.send({ msg_type: 'authenticate', payload: { token: 'good' } });
    await c.next();
    c.send({ msg_type: 'subscribe', payload: { rooms: ['BID_REQUEST', 'NOPE'] } });
    const invalid = await c.next();
    expect(invalid).toMatchObject({ msg_type: 'error', payload: { code: 'INVALID_ROOM' } });
    expect((invalid.payload as Record<string, unknown>).error).toContain('NOPE');
    expect(await c.next()).toMatchObject({ msg_type: 'subscribed', payload: { rooms: ['BID_REQUEST'] } });

    c.send({ msg_type: 'subscribe', payload: { rooms: ['NOPE'] } });
    expect(await c.next()).toMatchObject({ payload: { code: 'INVALID_ROOM' } });
    expect(await c.next()).toMatchObject({ payload: { code: 'NO_VALID_ROOMS' } });
    // Every parsed message; the non-JSON frame is not among them.
    expect(server.received).toHaveLength(4);
  });

  it('pings, keeps clients that pong and drops those that do not', async () => {
    // A ping every 100 ms, and 2 s to answer one: the polite client answers on this process's event
    // loop, which a busy two-core machine can stall for longer than 200 ms; the silent one is
    // dropped all the same, 2 s after its first ping.
    const server = await started(new FakeTradePostServer({ apiKeys: ['good'], pingIntervalMs: 100, pongTimeoutMs: 2000 }));
    const polite = client(server.url);
    const silent = client(server.url);
    await Promise.all([polite.opened, silent.opened]);
    polite.ws.on('message', (data: RawData) => {
      if ((JSON.parse(String(data)) as { msg_type?: string }).msg_type === 'ping') polite.send({ msg_type: 'pong' });
    });

    const ping = await silent.next();
    expect(ping).toEqual({ msg_type: 'ping', sent_at: expect.any(Number) });
    expect((await silent.closed).code).toBe(1006);
    expect(server.droppedForNoPong).toBe(1);

    // The polite client, connected as long as the silent one, survives several more ping rounds.
    const pingsAtDrop = server.pingsSent;
    await until(() => server.pingsSent >= pingsAtDrop + 4, 'four more pings');
    expect(polite.ws.readyState).toBe(WebSocket.OPEN);
    expect(server.droppedForNoPong).toBe(1);
    expect(server.pongsReceived).toBeGreaterThanOrEqual(4);
  });

  it('restartAbruptly drops clients and listens again on the same port', async () => {
    const server = await started(new FakeTradePostServer({ apiKeys: ['good'] }));
    const first = client(server.url);
    await first.opened;
    await server.restartAbruptly();
    expect((await first.closed).code).toBe(1006);
    const second = client(server.url);
    await second.opened;
    second.send({ msg_type: 'authenticate', payload: { token: 'good' } });
    expect(await second.next()).toMatchObject({ msg_type: 'authenticated' });
    expect(server.totalConnections).toBe(2);
  });
});

describe('FakeCommerceServer', () => {
  const users = [{ email: 'demo@example.com', password: 'demo' }];

  async function login(server: FakeCommerceServer, body: Record<string, unknown>): Promise<{ status: number; cookies: string[]; json: unknown }> {
    const res = await fetch(server.loginUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, cookies: res.headers.getSetCookie(), json: await res.json() };
  }

  /** `Set-Cookie` values -> a `Cookie` header (name=value pairs only). */
  function cookieHeader(setCookies: string[]): string {
    return setCookies.map((c) => c.split(';')[0]).join('; ');
  }

  it('logs in with cookies, refuses upgrades without them, and greets with connected', async () => {
    const server = await started(new FakeCommerceServer({ users }));
    const bad = await login(server, { email: 'demo@example.com', password: 'wrong' });
    expect(bad).toMatchObject({ status: 401, json: { error: 'Invalid credentials' } });
    expect(server.loginFailures).toBe(1);

    const ok = await login(server, { email: 'demo@example.com', password: 'demo' });
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ user: { id: 1, email: 'demo@example.com' } });
    expect(ok.cookies).toHaveLength(2);
    expect(ok.cookies[0]).toMatch(/^connect\.sid=s%3A[^;]+; Path=\/; HttpOnly$/);
    expect(server.logins).toBe(1);

    const anonymous = client(server.wsUrl);
    await expect(anonymous.opened).rejects.toThrow(/401/);
    // Only the first cookie kept: still refused, the client must keep every Set-Cookie.
    const partial = client(server.wsUrl, { headers: { cookie: cookieHeader(ok.cookies.slice(0, 1)) } });
    await expect(partial.opened).rejects.toThrow(/401/);
    expect(server.unauthorizedUpgrades).toBe(2);

    const c = client(server.wsUrl, { headers: { cookie: cookieHeader(ok.cookies) } });
    await c.opened;
    expect(await c.next()).toEqual({ type: 'connected', message: 'WebSocket connection established', userId: 1 });
    expect(server.lastUpgradeHeaders?.cookie).toContain('connect.sid=');
  });

  it('subscribes, delivers events by channel, answers pings, and expires sessions with 1008', async () => {
    const server = await started(new FakeCommerceServer({ users, loginFields: { username: 'username', password: 'pass' } }));
    const ok = await login(server, { username: 'demo@example.com', pass: 'demo' });
    expect(ok.status).toBe(200);
    const cookie = cookieHeader(ok.cookies);
    const c = client(server.wsUrl, { headers: { cookie } });
    await c.opened;
    await c.next(); // connected

    c.send({ type: 'subscribe', channel: 'order_changes' });
    expect(await c.next()).toEqual({ type: 'subscribed', channel: 'order_changes' });
    c.send({ type: 'subscribe', channel: 'gossip' });
    expect(await c.next()).toEqual({ type: 'error', message: 'Unknown channel: gossip' });
    await server.waitForSubscriptions(2);
    expect(server.subscriptions).toEqual([['order_changes']]);

    c.send({ type: 'ping' });
    expect(await c.next()).toEqual({ type: 'pong' });
    expect(server.pings).toBe(1);
    c.send('{oops');
    expect(await c.next()).toEqual({ type: 'error', message: 'Invalid message' });

    const { event, data } = makeCommerceEvent('order', 'updated', 123, 1);
    expect(server.emit(event, data, '2026-01-25T10:30:00.000Z')).toBe(1);
    expect(await c.next()).toEqual({ event: 'order:updated', data, timestamp: '2026-01-25T10:30:00.000Z' });
    expect(server.emit('product:created', makeCommerceEvent('product', 'created', 1, 0).data)).toBe(0);

    server.expireSessions();
    expect(await c.closed).toEqual({ code: 1008, reason: 'Session expired' });
    const stale = client(server.wsUrl, { headers: { cookie } });
    await expect(stale.opened).rejects.toThrow(/401/);
  });

  it('restartAbruptly keeps sessions and the port', async () => {
    const server = await started(new FakeCommerceServer({ users }));
    const cookie = cookieHeader((await login(server, { email: 'demo@example.com', password: 'demo' })).cookies);
    const first = client(server.wsUrl, { headers: { cookie } });
    await first.opened;
    await server.restartAbruptly();
    expect((await first.closed).code).toBe(1006);
    const second = client(server.wsUrl, { headers: { cookie } });
    await second.opened;
    expect(await second.next()).toMatchObject({ type: 'connected' });
    expect(server.totalConnections).toBe(2);
  });
});

// -- the simulator's run ------------------------------------------------------------------

/** The env lines' names, in the order the simulator prints them. */
const ENV_NAMES = [
  'BPTF_URL', 'TRADEPOST_URL', 'TRADEPOST_API_KEY', 'COMMERCE_WS_URL', 'COMMERCE_LOGIN_URL', 'COMMERCE_USERNAME', 'COMMERCE_PASSWORD',
];

/** `NAME=value` lines -> object; throws on any other line, so a half-written file fails loudly. */
function parseEnvLines(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const m = /^([A-Z_]+)=(.+)$/.exec(line);
    if (!m?.[1] || m[2] === undefined) throw new Error(`not an env line: ${JSON.stringify(line)}`);
    env[m[1]] = m[2];
  }
  return env;
}

/** A config as the CLI builds it; no traffic unless asked, so raw clients see only what a test expects. */
function simConfig(...argv: string[]): SimulatorConfig {
  const config = parseConfig(['--bptf-rate', '0', '--tradepost-rate', '0', '--commerce-rate', '0', ...argv]);
  if (!config) throw new Error('unexpected --help');
  return config;
}

/** Proves every fake the env names is listening and speaks its protocol (loopback only). */
async function expectListening(env: Record<string, string>): Promise<void> {
  for (const name of ['BPTF_URL', 'TRADEPOST_URL', 'COMMERCE_WS_URL', 'COMMERCE_LOGIN_URL']) {
    expect(new URL(env[name] ?? '').hostname, name).toBe('127.0.0.1');
  }
  await client(env.BPTF_URL ?? '').opened;
  const tp = client(env.TRADEPOST_URL ?? '');
  await tp.opened;
  tp.send({ msg_type: 'authenticate', payload: { token: env.TRADEPOST_API_KEY } });
  expect(await tp.next()).toMatchObject({ msg_type: 'authenticated' });
  const res = await fetch(env.COMMERCE_LOGIN_URL ?? '', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: env.COMMERCE_USERNAME, password: env.COMMERCE_PASSWORD }),
  });
  expect(res.status).toBe(200);
}

function tempEnvFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-sim-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, '.env.sim');
}

describe('simulator command line', () => {
  it('parses --write-env and --no-examples; examples are on by default', () => {
    expect(parseConfig([])).toMatchObject({ envFile: undefined, traffic: { examples: true, bptfRate: 50 } });
    expect(parseConfig(['--write-env', '.env.sim', '--no-examples'])).toMatchObject({ envFile: '.env.sim', traffic: { examples: false } });
    expect(() => parseConfig(['--write-env', ' '])).toThrow(UsageError);
    expect(() => parseConfig(['--write-env'])).toThrow(UsageError);
    // Node itself claims --env-file (see parseConfig); when it lets one through, point at --write-env.
    expect(() => parseConfig(['--env-file', '.env.sim'])).toThrow(/use --write-env/);
    expect(() => parseConfig(['--env-file=.env.sim'])).toThrow(/use --write-env/);
  });
});

describe('startSimulation --write-env', () => {
  it('deletes a stale file before starting, writes the whole file once every fake listens, deletes it on stop', async () => {
    const file = tempEnvFile();
    // A previous run's file, naming a port nobody listens on.
    writeFileSync(file, 'BPTF_URL=ws://127.0.0.1:1/events\n');
    writeFileSync(`${file}.tmp`, 'BPTF_URL=ws://127.0.0.1:1/ev');
    const starting = startSimulation(simConfig('--write-env', file), () => undefined);
    // Synchronously, before any server was created: gone, so nothing can pick it up meanwhile.
    expect(existsSync(file)).toBe(false);
    expect(existsSync(`${file}.tmp`)).toBe(false);
    const sim = await starting;
    let stopped = false;
    cleanups.push(() => (stopped ? undefined : sim.stop()));

    const text = readFileSync(file, 'utf8');
    expect(text).toBe(sim.env);
    const env = parseEnvLines(text);
    expect(Object.keys(env)).toEqual(ENV_NAMES);
    expect(env).toMatchObject({ BPTF_URL: sim.bptf.url, TRADEPOST_API_KEY: SIM_API_KEY, COMMERCE_USERNAME: SIM_USER.email });
    expect(existsSync(`${file}.tmp`)).toBe(false);
    await expectListening(env);

    await sim.stop();
    stopped = true;
    expect(existsSync(file)).toBe(false);
  });

  it('writes no file when a fake cannot listen, and the stale one is gone all the same', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
    const file = tempEnvFile();
    writeFileSync(file, 'BPTF_URL=ws://127.0.0.1:1/events\n');
    const port = (blocker.address() as AddressInfo).port;
    await expect(startSimulation(simConfig('--write-env', file, '--commerce-port', String(port)), () => undefined)).rejects.toThrow(/EADDRINUSE/);
    expect(existsSync(file)).toBe(false);
  });

  it('on stop, leaves a file that another run has written since', async () => {
    const file = tempEnvFile();
    const sim = await startSimulation(simConfig('--write-env', file), () => undefined);
    writeFileSync(file, 'BPTF_URL=ws://127.0.0.1:9/events\n');
    await sim.stop();
    expect(readFileSync(file, 'utf8')).toBe('BPTF_URL=ws://127.0.0.1:9/events\n');
  });

  // With no file at the path (the usual case: the last run deleted it) and with one a killed run left.
  it.each([['no file', undefined], ['a stale file', 'STALE=1\n']])('the CLI, starting with %s: the file appears whole once the fakes listen, matches stdout, and is deleted on SIGINT', async (_, stale) => {
    const file = tempEnvFile();
    if (stale !== undefined) writeFileSync(file, stale);
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/simulator/main.ts', '--write-env', file, '--bptf-rate', '0', '--tradepost-rate', '0', '--commerce-rate', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
    cleanups.push(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));

    // Every version of the file seen while the simulator starts: the stale one, none, or the final one.
    const seen = new Set<string>();
    // tsx compiles the simulator first: allow it several seconds (ms).
    await until(() => {
      try {
        seen.add(readFileSync(file, 'utf8'));
      } catch {
        seen.add('(absent)');
      }
      return stdout.includes('COMMERCE_PASSWORD=') && stdout.endsWith('\n');
    }, `the simulator's env lines on stdout (stderr: ${stderr})`, 15_000);
    expect(readFileSync(file, 'utf8')).toBe(stdout);
    if (stale !== undefined) seen.delete(stale);
    seen.delete('(absent)');
    expect([...seen].filter((text) => text !== stdout)).toEqual([]);
    await expectListening(parseEnvLines(stdout));

    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(existsSync(file)).toBe(false);
  });
});

describe('the README\'s daemon command', () => {
  it('cannot start before the env file exists: node --env-file=<missing> exits 9 without running anything', async () => {
    const missing = tempEnvFile();
    // `-e` instead of scripts/run.mjs: should Node ever run regardless, nothing connects anywhere.
    const child = spawn(process.execPath, [`--env-file=${missing}`, '-e', 'process.stdout.write("ran")'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code).toBe(9);
    expect(output).toContain(`${missing}: not found`);
  });
});

describe('README examples sent to new clients', () => {
  it('pins the example listings, conversation and order to what the README queries look up', () => {
    const teamCaptain = makeListingUpdate(0, { timeSec: 1_765_043_832 }).payload;
    expect(teamCaptain).toMatchObject({ steamid: EXAMPLE_STEAMID, intent: 'sell', item: { name: EXAMPLE_ITEM_NAME } });
    expect(makeListingUpdate(1, { timeSec: 1_765_043_832 }).payload).toMatchObject({ steamid: EXAMPLE_STEAMID, intent: 'buy' });
    expect(listingIdFor(1)).toMatch(new RegExp(`^440_${EXAMPLE_STEAMID}_[0-9a-f]{32}$`));
    // The example conversation's fixed script is an auction's, so its reference_type must be AUCTION.
    expect(makeTradePostPayload('BID_REQUEST', EXAMPLE_CONVERSATION_ID, 0)).toMatchObject({ reference_type: 'AUCTION' });
  });

  it('backpack.tf: each new client gets the example listings, then one malformed frame', async () => {
    const sim = await startSimulation(simConfig(), () => undefined);
    cleanups.push(() => sim.stop());
    const expectExamples = async (c: TestClient): Promise<void> => {
      const frame = JSON.parse(await c.nextRaw()) as { event: string; payload: { id: string } }[];
      expect(frame.map((e) => [e.event, e.payload.id])).toEqual(EXAMPLE_LISTING_INDEXES.map((i) => ['listing-update', listingIdFor(i)]));
      expect(await c.nextRaw()).toBe(EXAMPLE_REJECT_FRAME);
    };
    const first = client(sim.bptf.url);
    await expectExamples(first);
    const second = client(sim.bptf.url);
    await expectExamples(second);
    // Sent to every open client: the first gets them again too.
    await expectExamples(first);
  });

  it('TradePost: a new subscriber\'s first message opens the example conversation', async () => {
    const sim = await startSimulation(simConfig('--tradepost-rate', '20'), () => undefined);
    cleanups.push(() => sim.stop());
    const c = client(sim.tradepost.url);
    await c.opened;
    c.send({ msg_type: 'authenticate', payload: { token: SIM_API_KEY } });
    await c.next();
    c.send({ msg_type: 'subscribe', payload: { rooms: ['ALL'] } });
    expect(await c.next()).toMatchObject({ msg_type: 'subscribed' });
    expect(await c.next()).toEqual({
      msg_type: 'BID_REQUEST', sent_at: expect.any(Number), payload: makeTradePostPayload('BID_REQUEST', EXAMPLE_CONVERSATION_ID, 0),
    });
  });

  it('store: a new order subscriber\'s first event is about the example order', async () => {
    const sim = await startSimulation(simConfig('--commerce-rate', '20'), () => undefined);
    cleanups.push(() => sim.stop());
    const res = await fetch(sim.commerce.loginUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(SIM_USER),
    });
    const c = client(sim.commerce.wsUrl, { headers: { cookie: res.headers.getSetCookie().map((v) => v.split(';')[0]).join('; ') } });
    expect(await c.next()).toMatchObject({ type: 'connected' });
    c.send({ type: 'subscribe', channel: 'order_changes' });
    expect(await c.next()).toEqual({ type: 'subscribed', channel: 'order_changes' });
    const first = await c.next();
    expect(first.event).toMatch(/^order:(created|updated)$/);
    expect(first.data).toMatchObject({ id: EXAMPLE_ORDER_ID });
  });
});
