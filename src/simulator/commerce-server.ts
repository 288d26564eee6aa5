/**
 * A fake store backend (its documentation's "WebSocket Real-time Updates") on loopback: a REST login
 * that sets session cookies, and a cookie-authenticated WebSocket at `/ws`.
 *
 * Flow a client must follow: POST JSON credentials to /api/auth/login -> keep EVERY cookie
 * of the `Set-Cookie` headers -> upgrade /ws with them in `Cookie` -> receive `connected` ->
 * `subscribe` per channel -> events `{event, data, timestamp}` for subscribed channels.
 *
 * Choices the documentation leaves open (it names none of these):
 * - login path `/api/auth/login`, cookie `connect.sid` (express-session's default name, value
 *   in its `s%3A<id>.<signature>` shape) plus `csrf`; by default the upgrade needs BOTH, so
 *   a client that keeps only the first Set-Cookie fails the way it would against a stricter
 *   backend (`requireAllCookies: false` relaxes this);
 * - a missing/invalid session on upgrade is `HTTP/1.1 401 Unauthorized` and the TCP socket is
 *   destroyed; an expired session on an open socket is a close with 1008 "Session expired";
 * - `unsubscribe` is answered with `{"type":"unsubscribed","channel":C}`; an unknown `type`
 *   with `{"type":"error","message":"Unknown message type: T"}`;
 * - sessions survive `restartAbruptly()` (a persistent session store); only
 *   `expireSessions()` invalidates them.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { RawData, WebSocket } from 'ws';
import { RestartableServer, refuseUpgrade } from './restartable-server.js';
import { Waiters } from './waiters.js';

export const COMMERCE_CHANNELS = [
  'order_changes',
  'product_changes',
  'customer_changes',
  'shipment_changes',
  'transaction_changes',
] as const;

export type CommerceEntity = 'order' | 'product' | 'customer' | 'shipment' | 'transaction';
export type CommerceAction = 'created' | 'updated' | 'deleted';

export type FakeCommerceServerOptions = {
  /** TCP port; 0 (default) picks an ephemeral one, kept across restartAbruptly(). */
  port?: number;
  /** Bind address; default 127.0.0.1. */
  host?: string;
  /** Accounts that can log in; user ids are their 1-based position. */
  users?: { email: string; password: string }[];
  /** JSON field names of the login body; default `{ username: 'email', password: 'password' }`. */
  loginFields?: { username: string; password: string };
  /** Upgrade requires the `csrf` cookie as well as `connect.sid`; default true. */
  requireAllCookies?: boolean;
};

type Session = { userId: number; email: string; csrf: string };

const LOGIN_PATH = '/api/auth/login';
const WS_PATH = '/ws';
const SESSION_COOKIE = 'connect.sid';
const CSRF_COOKIE = 'csrf';
/** Login bodies larger than this are refused with 413 (bytes). */
const MAX_LOGIN_BODY_BYTES = 64 * 1024;
/** RFC 6455 "policy violation": used by the backend when the session is gone. */
const CLOSE_POLICY_VIOLATION = 1008;

/** ws delivers a Buffer, an ArrayBuffer or fragments depending on binaryType; all become UTF-8 text. */
function rawToText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parses a `Cookie` header into name -> raw value (values are compared as sent, not decoded). */
function parseCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    cookies.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  return cookies;
}

export class FakeCommerceServer {
  private readonly server: RestartableServer;
  private readonly users: { email: string; password: string }[];
  private readonly loginFields: { username: string; password: string };
  private readonly requireAllCookies: boolean;
  /** Signs session ids like express-session does; random per server, so cookies are unforgeable. */
  private readonly secret = randomBytes(16);
  /** connect.sid cookie value -> session. */
  private readonly sessions = new Map<string, Session>();
  private readonly clients = new Map<WebSocket, Set<string>>();
  private readonly waiters = new Waiters('FakeCommerceServer');

  /** Successful logins. */
  logins = 0;
  /** Rejected logins (bad credentials or body). */
  loginFailures = 0;
  /** `{"type":"ping"}` messages received. */
  pings = 0;
  /** `subscribe` messages received (valid channel or not) since construction. */
  subscribeMessages = 0;
  /** Upgrades accepted since construction (across restarts). */
  totalConnections = 0;
  /** Upgrades refused with 401. */
  unauthorizedUpgrades = 0;
  /** Headers of the last upgrade request, accepted or not. */
  lastUpgradeHeaders: IncomingHttpHeaders | undefined;
  /** Close code of every client socket that ended. */
  readonly closeCodes: number[] = [];

  constructor(opts: FakeCommerceServerOptions = {}) {
    this.server = new RestartableServer(opts.host ?? '127.0.0.1', opts.port ?? 0, {
      wsOptions: { perMessageDeflate: false },
      onRequest: (req, res) => this.onRequest(req, res),
      onUpgrade: (req, socket, accept) => {
        this.lastUpgradeHeaders = req.headers;
        const path = new URL(req.url ?? '/', 'http://localhost').pathname;
        if (path !== WS_PATH) return refuseUpgrade(socket, '404 Not Found', '{"error":"Not found"}');
        const session = this.sessionFor(req.headers.cookie);
        if (!session) {
          this.unauthorizedUpgrades++;
          this.waiters.notify();
          return refuseUpgrade(socket, '401 Unauthorized', '{"error":"Unauthorized"}');
        }
        accept((ws) => this.attach(ws, session));
      },
      // terminate(): no close frame, as a crashing server would. Sessions survive.
      onShutdown: () => {
        for (const ws of this.clients.keys()) ws.terminate();
      },
    });
    this.users = opts.users ?? [];
    this.loginFields = opts.loginFields ?? { username: 'email', password: 'password' };
    this.requireAllCookies = opts.requireAllCookies ?? true;
  }

  get port(): number {
    return this.server.port;
  }

  get wsUrl(): string {
    return `ws://${this.server.host}:${this.server.port}${WS_PATH}`;
  }

  get loginUrl(): string {
    return `http://${this.server.host}:${this.server.port}${LOGIN_PATH}`;
  }

  /** Currently open client sockets. */
  get connections(): number {
    let open = 0;
    for (const ws of this.clients.keys()) if (ws.readyState === ws.OPEN) open++;
    return open;
  }

  /** Channels subscribed by each currently open connection, in connection order. */
  get subscriptions(): string[][] {
    return [...this.clients.values()].map((channels) => [...channels]);
  }

  async start(): Promise<void> {
    await this.server.start();
  }

  async stop(): Promise<void> {
    await this.server.stop();
    this.waiters.notify();
  }

  /** Drops every socket without a close frame and listens again on the same port; sessions survive. */
  async restartAbruptly(): Promise<void> {
    await this.server.restartAbruptly();
  }

  /** Invalidates every session and closes every socket with 1008 "Session expired". */
  expireSessions(): void {
    this.sessions.clear();
    for (const ws of this.clients.keys()) {
      if (ws.readyState === ws.OPEN) ws.close(CLOSE_POLICY_VIOLATION, 'Session expired');
    }
  }

  /**
   * Sends `{event, data, timestamp}` to every socket subscribed to the entity's channel
   * (`order:updated` -> `order_changes`). `timestamp` is ISO-8601, default now.
   * Returns how many sockets got it (0 for an event of an unknown entity).
   */
  emit(event: string, data: Record<string, unknown>, timestamp?: string): number {
    const channel = `${event.split(':')[0] ?? ''}_changes`;
    if (!(COMMERCE_CHANNELS as readonly string[]).includes(channel)) return 0;
    const frame = JSON.stringify({ event, data, timestamp: timestamp ?? new Date().toISOString() });
    let n = 0;
    for (const [ws, channels] of this.clients) {
      if (ws.readyState !== ws.OPEN || !channels.has(channel)) continue;
      ws.send(frame);
      n++;
    }
    return n;
  }

  /** Resolves once `subscribeMessages >= n`. */
  async waitForSubscriptions(n: number, timeoutMs = 10_000): Promise<void> {
    await this.waiters.until(() => this.subscribeMessages >= n, timeoutMs, () => `${n} subscribe messages (have ${this.subscribeMessages})`);
  }

  /** Resolves once `totalConnections >= n`. */
  async waitForConnections(n: number, timeoutMs = 10_000): Promise<void> {
    await this.waiters.until(() => this.totalConnections >= n, timeoutMs, () => `${n} connections (have ${this.totalConnections})`);
  }

  /** Resolves once `logins >= n`. */
  async waitForLogins(n: number, timeoutMs = 10_000): Promise<void> {
    await this.waiters.until(() => this.logins >= n, timeoutMs, () => `${n} logins (have ${this.logins})`);
  }

  private sessionFor(cookieHeader: string | undefined): Session | undefined {
    const cookies = parseCookies(cookieHeader);
    const sid = cookies.get(SESSION_COOKIE);
    const session = sid === undefined ? undefined : this.sessions.get(sid);
    if (!session) return undefined;
    if (this.requireAllCookies && cookies.get(CSRF_COOKIE) !== session.csrf) return undefined;
    return session;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path !== LOGIN_PATH) return sendJson(res, 404, { error: 'Not found' });
    if (req.method !== 'POST') return sendJson(res, 405, { error: 'Method not allowed' });
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_LOGIN_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => {
      if (tooLarge) {
        this.loginFailures++;
        return sendJson(res, 413, { error: 'Payload too large' });
      }
      this.onLogin(Buffer.concat(chunks).toString('utf8'), res);
    });
  }

  private onLogin(body: string, res: ServerResponse): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      this.loginFailures++;
      this.waiters.notify();
      return sendJson(res, 400, { error: 'Invalid JSON' });
    }
    const username = isRecord(parsed) ? parsed[this.loginFields.username] : undefined;
    const password = isRecord(parsed) ? parsed[this.loginFields.password] : undefined;
    const index = this.users.findIndex((u) => u.email === username && u.password === password);
    const user = this.users[index];
    if (!user) {
      this.loginFailures++;
      this.waiters.notify();
      return sendJson(res, 401, { error: 'Invalid credentials' });
    }
    const id = randomBytes(24).toString('base64url');
    const signature = createHmac('sha256', this.secret).update(id).digest('base64').replace(/=+$/, '');
    // express-session's cookie value: "s:" + id + "." + signature, URL-encoded.
    const sid = encodeURIComponent(`s:${id}.${signature}`);
    const csrf = randomBytes(18).toString('hex');
    this.sessions.set(sid, { userId: index + 1, email: user.email, csrf });
    this.logins++;
    this.waiters.notify();
    res.setHeader('Set-Cookie', [`${SESSION_COOKIE}=${sid}; Path=/; HttpOnly`, `${CSRF_COOKIE}=${csrf}; Path=/`]);
    sendJson(res, 200, {
      user: { id: index + 1, email: user.email, name: user.email.split('@')[0] ?? user.email, role: 'admin' },
    });
  }

  private attach(ws: WebSocket, session: Session): void {
    const channels = new Set<string>();
    this.clients.set(ws, channels);
    this.totalConnections++;
    ws.on('message', (data: RawData) => {
      try {
        this.onMessage(ws, channels, data);
      } finally {
        this.waiters.notify();
      }
    });
    ws.on('error', () => {
      // A client reset shows up here; the close handler does the bookkeeping.
    });
    ws.on('close', (code: number) => {
      this.clients.delete(ws);
      this.closeCodes.push(code);
      this.waiters.notify();
    });
    ws.send(JSON.stringify({ type: 'connected', message: 'WebSocket connection established', userId: session.userId }));
    this.waiters.notify();
  }

  private onMessage(ws: WebSocket, channels: Set<string>, data: RawData): void {
    const text = rawToText(data);
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      return this.send(ws, { type: 'error', message: 'Invalid message' });
    }
    if (!isRecord(msg) || typeof msg.type !== 'string') return this.send(ws, { type: 'error', message: 'Invalid message' });
    const channel = msg.channel;
    switch (msg.type) {
      case 'subscribe':
        this.subscribeMessages++;
        if (typeof channel !== 'string' || !(COMMERCE_CHANNELS as readonly string[]).includes(channel)) {
          return this.send(ws, { type: 'error', message: `Unknown channel: ${String(channel)}` });
        }
        channels.add(channel);
        return this.send(ws, { type: 'subscribed', channel });
      case 'unsubscribe':
        if (typeof channel !== 'string' || !(COMMERCE_CHANNELS as readonly string[]).includes(channel)) {
          return this.send(ws, { type: 'error', message: `Unknown channel: ${String(channel)}` });
        }
        channels.delete(channel);
        return this.send(ws, { type: 'unsubscribed', channel });
      case 'ping':
        this.pings++;
        return this.send(ws, { type: 'pong' });
      default:
        return this.send(ws, { type: 'error', message: `Unknown message type: ${msg.type}` });
    }
  }

  private send(ws: WebSocket, msg: Record<string, unknown>): void {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

// ---------------------------------------------------------------------------------------
// Event factory
// ---------------------------------------------------------------------------------------

const FIRST_NAMES = ['John', 'Maria', 'Wei', 'Aisha', 'Lukas', 'Sofia', 'Kenji', 'Fatima'] as const;
const LAST_NAMES = ['Doe', 'Garcia', 'Chen', 'Khan', 'Müller', 'Rossi', 'Tanaka', 'Okafor'] as const;
const PRODUCTS = ['Wireless Mouse', 'Mechanical Keyboard', 'USB-C Hub', '27" Monitor', 'Laptop Stand', 'Webcam HD'] as const;
const ORDER_STATUSES = ['pending', 'processing', 'shipped', 'delivered', 'cancelled'] as const;
const PAYMENT_STATUSES = ['pending', 'paid', 'paid', 'refunded'] as const;
const SHIPMENT_STATUSES = ['label_created', 'shipped', 'in_transit', 'delivered'] as const;
const CARRIERS = ['UPS', 'FedEx', 'DHL', 'USPS'] as const;
const TX_STATUSES = ['pending', 'completed', 'failed', 'refunded'] as const;

function at<T>(list: readonly T[], i: number): T {
  const value = list[Math.abs(i) % list.length];
  if (value === undefined) throw new Error('at: empty list');
  return value;
}

/** Money with 2 decimals, as the documentation's `99.99`. */
function money(cents: number): number {
  return Math.round(cents) / 100;
}

/**
 * A store event like the documentation's examples: `created` carries the full record, `updated` the
 * full record plus `changed_fields` (values equal to the record's), `deleted` the id and
 * the record's natural key (the documentation shows no delete payload; this is our guess, so a
 * consumer must need nothing beyond `id`). Deterministic in (entity, action, id, i):
 * `i` is the revision, so successive updates of one id change its state.
 */
export function makeCommerceEvent(
  entity: CommerceEntity,
  action: CommerceAction,
  id: number,
  i: number,
): { event: string; data: Record<string, unknown> } {
  const event = `${entity}:${action}`;
  const revision = action === 'created' ? 0 : i;
  let record: Record<string, unknown>;
  let changed: Record<string, unknown>;
  let naturalKey: string;
  switch (entity) {
    case 'order': {
      record = {
        id,
        order_number: `ORD-${1_769_000_000_000 + id * 7_919}`,
        status: action === 'created' ? 'pending' : at(ORDER_STATUSES, revision),
        payment_status: action === 'created' ? 'pending' : at(PAYMENT_STATUSES, revision),
        total: money(999 + ((id * 2_654_435) % 50_000)),
        customer_id: 1 + (id % 500),
        currency: 'USD',
      };
      changed = { status: record.status, payment_status: record.payment_status };
      naturalKey = 'order_number';
      break;
    }
    case 'product': {
      record = {
        id,
        name: `${at(PRODUCTS, id)} ${String.fromCharCode(65 + (id % 26))}${id}`,
        sku: `SKU-${String(id).padStart(5, '0')}`,
        status: action === 'deleted' ? 'archived' : 'published',
        price: money(1_999 + ((id * 7_777 + revision * 150) % 20_000)),
        stock: Math.max(0, 100 - revision * 3 - (id % 17)),
      };
      changed = { price: record.price, stock: record.stock };
      naturalKey = 'sku';
      break;
    }
    case 'customer': {
      const first = at(FIRST_NAMES, id);
      const last = at(LAST_NAMES, id * 3 + 1);
      const email = revision % 2 === 0
        ? `${first.toLowerCase()}.${id}@example.com`
        : `${first.toLowerCase()}.${last.toLowerCase().replace('ü', 'ue')}${id}@example.org`;
      record = { id, email, first_name: first, last_name: last };
      changed = { email };
      naturalKey = 'email';
      break;
    }
    case 'shipment': {
      const status = action === 'created' ? 'label_created' : at(SHIPMENT_STATUSES, revision);
      record = {
        id,
        order_id: 1 + ((id * 13) % 10_000),
        tracking_number: `TRACK${String(100_000 + id * 37).padStart(6, '0')}`,
        status,
        carrier: at(CARRIERS, id),
      };
      changed = { status, tracking_number: record.tracking_number };
      naturalKey = 'tracking_number';
      break;
    }
    case 'transaction': {
      record = {
        id,
        order_id: 1 + ((id * 7) % 10_000),
        type: id % 10 === 0 ? 'refund' : 'payment',
        status: action === 'created' ? 'pending' : at(TX_STATUSES, revision),
        amount: money(999 + ((id * 2_654_435) % 50_000)),
        gateway: id % 3 === 0 ? 'paypal' : 'stripe',
      };
      changed = { status: record.status };
      naturalKey = 'order_id';
      break;
    }
  }
  if (action === 'created') return { event, data: record };
  if (action === 'updated') return { event, data: { ...record, changed_fields: changed } };
  return { event, data: { id, [naturalKey]: record[naturalKey] } };
}
