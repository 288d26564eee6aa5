/**
 * A fake TradePost TPX socket (`wss://platform-api.tradepost.co/ws`) on loopback, following
 * TradePost's TPX documentation to the letter where it speaks, and making documented choices where it is silent.
 *
 * Per connection: CONNECTED --authenticate(valid key)--> AUTHENTICATED --subscribe--> rooms
 * accumulate. Every envelope from the server is `{msg_type, sent_at (epoch ms), payload?}`.
 *
 * Choices the documentation leaves open (ours, not documented upstream):
 * - an auth failure sends the `error` and then closes the socket with 1008 (policy violation);
 * - `authenticate` without a string `payload.token` is an invalid key (AUTH_INVALID_API_KEY);
 * - a subscribe naming unknown rooms gets INVALID_ROOM (the names are in `error`), and then
 *   `subscribed` with the valid rooms, or NO_VALID_ROOMS when none is left;
 * - JSON that is not an object with a string `msg_type`, or an unknown `msg_type`, gets
 *   INVALID_MESSAGE; a client `ping` is answered with `pong`;
 * - keepalive: a `ping` every `pingIntervalMs` to every socket; a socket that has not sent
 *   `{"msg_type":"pong"}` within `pongTimeoutMs` of a ping is terminated (no close frame).
 */
import { createHash, randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { RawData, WebSocket } from 'ws';
import { RestartableServer, refuseUpgrade } from './restartable-server.js';
import { Waiters } from './waiters.js';

/** Every room TradePost's TPX documentation lists except ALL; these are also the 11 event message types. */
export const TRADEPOST_EVENT_TYPES = [
  'BID_REQUEST',
  'BID_OUTBID',
  'AUCTION_RESULT',
  'CONDITIONAL_BID_APPLIED',
  'CONDITIONAL_BID_STATUS_CHANGE',
  'CONDITIONAL_BID_EXPIRING_SOON',
  'INSTANT_CASH_OFFER_STATUS_CHANGE',
  'TRANSFER_CONFIRMATION_RECEIVED',
  'PAYMENT_CHARGED',
  'PAYMENT_FAILED',
  'PAYMENT_SETTLED',
] as const;

export type TradePostEventType = (typeof TRADEPOST_EVENT_TYPES)[number];

export const TRADEPOST_ROOMS: readonly string[] = [...TRADEPOST_EVENT_TYPES, 'ALL'];

export type TradePostErrorCode =
  | 'AUTH_INVALID_API_KEY'
  | 'AUTH_API_KEY_INACTIVE'
  | 'AUTH_API_KEY_EXPIRED'
  | 'AUTH_REQUIRED'
  | 'NO_VALID_ROOMS'
  | 'INVALID_ROOM'
  | 'INVALID_MESSAGE'
  | 'INVALID_JSON';

export type FakeTradePostServerOptions = {
  /** TCP port; 0 (default) picks an ephemeral one, kept across restartAbruptly(). */
  port?: number;
  /** Bind address; default 127.0.0.1. */
  host?: string;
  /** Keys that authenticate. */
  apiKeys?: string[];
  /** Keys answered with AUTH_API_KEY_INACTIVE. */
  inactiveKeys?: string[];
  /** Keys answered with AUTH_API_KEY_EXPIRED. */
  expiredKeys?: string[];
  /** When true every key is rejected with AUTH_INVALID_API_KEY (also settable later via `rejectAuth`). */
  rejectAuth?: boolean;
  /** Interval between server pings, ms; default 30000 (seed: "Server sends ping every 30 seconds"). */
  pingIntervalMs?: number;
  /** A socket that has not answered a ping with pong within this many ms is dropped; default 30000. */
  pongTimeoutMs?: number;
};

type ClientState = {
  authenticated: boolean;
  accountId: string | undefined;
  rooms: Set<string>;
  /** Pending pong deadline; set when a ping goes out unanswered, cleared by a pong. */
  pongTimer: NodeJS.Timeout | undefined;
};

const WS_PATH = '/ws';
/** RFC 6455 "policy violation": the server refuses this client's credentials. */
const CLOSE_POLICY_VIOLATION = 1008;

const AUTH_ERRORS = {
  AUTH_INVALID_API_KEY: 'Invalid API key',
  AUTH_API_KEY_INACTIVE: 'API key is inactive',
  AUTH_API_KEY_EXPIRED: 'API key has expired',
} as const;

/** ws delivers a Buffer, an ArrayBuffer or fragments depending on binaryType; all become UTF-8 text. */
function rawToText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Stable, UUID-shaped account id per API key, so reconnects see the same account. */
function accountIdFor(key: string): string {
  const h = createHash('sha256').update(`account:${key}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export class FakeTradePostServer {
  private readonly server: RestartableServer;
  private readonly apiKeys: Set<string>;
  private readonly inactiveKeys: Set<string>;
  private readonly expiredKeys: Set<string>;
  private readonly pingIntervalMs: number;
  private readonly pongTimeoutMs: number;
  private pingTimer: NodeJS.Timeout | undefined;
  private readonly clients = new Map<WebSocket, ClientState>();
  private readonly waiters = new Waiters('FakeTradePostServer');

  /** Reject every key with AUTH_INVALID_API_KEY (the `--reject-auth` fault). */
  rejectAuth: boolean;
  /** `authenticate` messages received, valid or not; tests assert a client does not hammer. */
  authAttempts = 0;
  /** Successful authentications. */
  authSuccesses = 0;
  /** Every parsed client message, in arrival order. */
  readonly received: unknown[] = [];
  /** Connections accepted since construction (across restarts). */
  totalConnections = 0;
  /** Completed subscribe requests (a `subscribed` reply sent) since construction. */
  subscribedCount = 0;
  /** Sockets terminated for not answering a ping within `pongTimeoutMs`. */
  droppedForNoPong = 0;
  /** Pings sent, and pongs received. */
  pingsSent = 0;
  pongsReceived = 0;
  /** Close code of every client socket that ended. */
  readonly closeCodes: number[] = [];
  /** Headers of the last accepted upgrade request. */
  lastRequestHeaders: IncomingHttpHeaders | undefined;

  constructor(opts: FakeTradePostServerOptions = {}) {
    this.server = new RestartableServer(opts.host ?? '127.0.0.1', opts.port ?? 0, {
      wsOptions: { perMessageDeflate: false },
      onUpgrade: (req, socket, accept) => {
        const path = new URL(req.url ?? '/', 'http://localhost').pathname;
        if (path !== WS_PATH) return refuseUpgrade(socket, '404 Not Found');
        accept((ws) => this.attach(ws, req));
      },
      onListening: () => {
        this.pingTimer = setInterval(() => this.pingAll(), this.pingIntervalMs);
        this.pingTimer.unref();
      },
      // terminate(): no close frame, as a crashing server would.
      onShutdown: () => {
        if (this.pingTimer) clearInterval(this.pingTimer);
        this.pingTimer = undefined;
        for (const [ws, state] of this.clients) {
          if (state.pongTimer) clearTimeout(state.pongTimer);
          state.pongTimer = undefined;
          ws.terminate();
        }
      },
    });
    this.apiKeys = new Set(opts.apiKeys ?? []);
    this.inactiveKeys = new Set(opts.inactiveKeys ?? []);
    this.expiredKeys = new Set(opts.expiredKeys ?? []);
    this.rejectAuth = opts.rejectAuth ?? false;
    this.pingIntervalMs = opts.pingIntervalMs ?? 30_000;
    this.pongTimeoutMs = opts.pongTimeoutMs ?? 30_000;
  }

  get port(): number {
    return this.server.port;
  }

  get url(): string {
    return `ws://${this.server.host}:${this.server.port}${WS_PATH}`;
  }

  /** Currently open client sockets. */
  get connections(): number {
    let open = 0;
    for (const ws of this.clients.keys()) if (ws.readyState === ws.OPEN) open++;
    return open;
  }

  /** Currently open sockets that have authenticated. */
  get authenticatedConnections(): number {
    let n = 0;
    for (const [ws, state] of this.clients) if (state.authenticated && ws.readyState === ws.OPEN) n++;
    return n;
  }

  async start(): Promise<void> {
    await this.server.start();
  }

  async stop(): Promise<void> {
    await this.server.stop();
    this.waiters.notify();
  }

  /** Drops every socket without a close frame and listens again on the same port. */
  async restartAbruptly(): Promise<void> {
    await this.server.restartAbruptly();
  }

  /**
   * Sends `{msg_type, sent_at, payload}` to every authenticated client subscribed to
   * `msgType` or ALL. `opts.sentAt` is epoch ms (default now). Returns the receiver count.
   */
  publish(msgType: string, payload: Record<string, unknown>, opts: { sentAt?: number } = {}): number {
    const frame = JSON.stringify({ msg_type: msgType, sent_at: opts.sentAt ?? Date.now(), payload });
    let n = 0;
    for (const [ws, state] of this.clients) {
      if (!state.authenticated || ws.readyState !== ws.OPEN) continue;
      if (!state.rooms.has(msgType) && !state.rooms.has('ALL')) continue;
      ws.send(frame);
      n++;
    }
    return n;
  }

  /** Resolves once `subscribedCount >= n` (subscribe requests completed, across all connections). */
  async waitForSubscribed(n: number, timeoutMs = 10_000): Promise<void> {
    await this.waiters.until(() => this.subscribedCount >= n, timeoutMs, () => `${n} subscriptions (have ${this.subscribedCount})`);
  }

  /** Resolves once `totalConnections >= n`. */
  async waitForConnections(n: number, timeoutMs = 10_000): Promise<void> {
    await this.waiters.until(() => this.totalConnections >= n, timeoutMs, () => `${n} connections (have ${this.totalConnections})`);
  }

  /** Resolves once `authAttempts >= n`. */
  async waitForAuthAttempts(n: number, timeoutMs = 10_000): Promise<void> {
    await this.waiters.until(() => this.authAttempts >= n, timeoutMs, () => `${n} auth attempts (have ${this.authAttempts})`);
  }

  private attach(ws: WebSocket, req: IncomingMessage): void {
    const state: ClientState = { authenticated: false, accountId: undefined, rooms: new Set(), pongTimer: undefined };
    this.clients.set(ws, state);
    this.totalConnections++;
    this.lastRequestHeaders = req.headers;
    ws.on('message', (data: RawData) => this.onMessage(ws, state, data));
    ws.on('error', () => {
      // A client reset shows up here; the close handler does the bookkeeping.
    });
    ws.on('close', (code: number) => {
      if (state.pongTimer) clearTimeout(state.pongTimer);
      this.clients.delete(ws);
      this.closeCodes.push(code);
      this.waiters.notify();
    });
    this.waiters.notify();
  }

  private onMessage(ws: WebSocket, state: ClientState, data: RawData): void {
    const text = rawToText(data);
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      this.sendError(ws, 'INVALID_JSON', 'JSON parsing failed');
      return;
    }
    this.received.push(msg);
    try {
      this.dispatch(ws, state, msg);
    } finally {
      this.waiters.notify();
    }
  }

  private dispatch(ws: WebSocket, state: ClientState, msg: unknown): void {
    if (!isRecord(msg) || typeof msg.msg_type !== 'string') {
      this.sendError(ws, 'INVALID_MESSAGE', 'Malformed message: msg_type is required');
      return;
    }
    const payload = isRecord(msg.payload) ? msg.payload : undefined;
    switch (msg.msg_type) {
      case 'authenticate':
        this.onAuthenticate(ws, state, payload);
        break;
      case 'subscribe':
        this.onSubscribe(ws, state, payload);
        break;
      case 'pong':
        this.pongsReceived++;
        if (state.pongTimer) clearTimeout(state.pongTimer);
        state.pongTimer = undefined;
        break;
      case 'ping':
        this.send(ws, { msg_type: 'pong', sent_at: Date.now() });
        break;
      default:
        this.sendError(ws, 'INVALID_MESSAGE', `Unknown msg_type: ${msg.msg_type}`);
    }
  }

  private onAuthenticate(ws: WebSocket, state: ClientState, payload: Record<string, unknown> | undefined): void {
    this.authAttempts++;
    const token = payload?.token;
    const failure = this.authFailure(token);
    if (failure !== undefined) {
      this.sendError(ws, failure, AUTH_ERRORS[failure]);
      state.authenticated = false;
      ws.close(CLOSE_POLICY_VIOLATION, AUTH_ERRORS[failure]);
      return;
    }
    state.authenticated = true;
    state.accountId = accountIdFor(String(token));
    this.authSuccesses++;
    this.send(ws, {
      msg_type: 'authenticated',
      sent_at: Date.now(),
      payload: { account_id: state.accountId, auth_method: 'api_key' },
    });
  }

  /** Why `token` is refused, or undefined when it authenticates. */
  private authFailure(token: unknown): keyof typeof AUTH_ERRORS | undefined {
    if (typeof token !== 'string' || this.rejectAuth) return 'AUTH_INVALID_API_KEY';
    if (this.inactiveKeys.has(token)) return 'AUTH_API_KEY_INACTIVE';
    if (this.expiredKeys.has(token)) return 'AUTH_API_KEY_EXPIRED';
    return this.apiKeys.has(token) ? undefined : 'AUTH_INVALID_API_KEY';
  }

  private onSubscribe(ws: WebSocket, state: ClientState, payload: Record<string, unknown> | undefined): void {
    if (!state.authenticated) {
      this.sendError(ws, 'AUTH_REQUIRED', 'Authentication required before subscription');
      return;
    }
    const rooms = payload?.rooms;
    if (!Array.isArray(rooms) || !rooms.every((r): r is string => typeof r === 'string')) {
      this.sendError(ws, 'INVALID_MESSAGE', 'Malformed message: payload.rooms must be an array of room names');
      return;
    }
    const valid = [...new Set(rooms.filter((r) => TRADEPOST_ROOMS.includes(r)))];
    const unknown = rooms.filter((r) => !TRADEPOST_ROOMS.includes(r));
    if (unknown.length > 0) this.sendError(ws, 'INVALID_ROOM', `Room does not exist: ${unknown.join(', ')}`);
    if (valid.length === 0) {
      this.sendError(ws, 'NO_VALID_ROOMS', 'No valid rooms to subscribe to');
      return;
    }
    for (const room of valid) state.rooms.add(room);
    this.subscribedCount++;
    this.send(ws, { msg_type: 'subscribed', sent_at: Date.now(), payload: { rooms: valid } });
  }

  private pingAll(): void {
    for (const [ws, state] of this.clients) {
      if (ws.readyState !== ws.OPEN) continue;
      this.send(ws, { msg_type: 'ping', sent_at: Date.now() });
      this.pingsSent++;
      // Only the oldest unanswered ping sets the deadline; later pings do not extend it.
      if (state.pongTimer) continue;
      state.pongTimer = setTimeout(() => {
        state.pongTimer = undefined;
        if (ws.readyState !== ws.OPEN) return;
        this.droppedForNoPong++;
        ws.terminate();
      }, this.pongTimeoutMs);
      state.pongTimer.unref();
    }
  }

  private sendError(ws: WebSocket, code: TradePostErrorCode, error: string): void {
    this.send(ws, { msg_type: 'error', sent_at: Date.now(), payload: { error, code } });
  }

  private send(ws: WebSocket, msg: Record<string, unknown>): void {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
  }
}

// ---------------------------------------------------------------------------------------
// Payload factories
// ---------------------------------------------------------------------------------------

const EVENTS = [
  { name: 'Taylor Swift - The Eras Tour', venue: 'MetLife Stadium', tz: -4 },
  { name: 'Beyoncé - Cowboy Carter Tour', venue: 'SoFi Stadium', tz: -7 },
  { name: 'Coldplay - Music of the Spheres', venue: 'Wembley Stadium', tz: 1 },
  { name: 'NBA Finals - Game 4', venue: 'TD Garden', tz: -4 },
  { name: 'Hamilton', venue: 'Richard Rodgers Theatre', tz: -4 },
] as const;

/** UUID-shaped, deterministic in its inputs, so payloads are reproducible. */
function uuidFrom(...parts: (string | number)[]): string {
  const h = createHash('sha256').update(parts.join(':')).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function pickAt<T>(list: readonly T[], i: number): T {
  const value = list[Math.abs(i) % list.length];
  if (value === undefined) throw new Error('pickAt: empty list');
  return value;
}

/**
 * A realistic TPX event payload modelled on the BID_REQUEST example of TradePost's documentation: the fields shared by
 * every message type (conversation_id, reference_*, asset_*, external_ids, config_details,
 * item_details) plus a few type-specific fields. The type-specific names are our guess (the
 * documentation shows only BID_REQUEST); a consumer must store them raw, not depend on them.
 * Deterministic in (msgType, conversationId, i): no clock or randomness is read.
 */
export function makeTradePostPayload(msgType: string, conversationId: string, i: number): Record<string, unknown> {
  // The asset and offer are properties of the conversation, so derive them from its id.
  const c = Number.parseInt(createHash('sha256').update(conversationId).digest('hex').slice(0, 8), 16);
  const event = pickAt(EVENTS, c);
  const eventDate = new Date(Date.UTC(2026, c % 12, 1 + (c % 28), 19 + (c % 3), 30));
  const local = new Date(eventDate.getTime() + event.tz * 3_600_000);
  const quantity = 1 + (c % 4);
  const isOffer = c % 3 === 0;
  const keyIds = Array.from({ length: quantity }, (_, k) => uuidFrom('key', conversationId, k));
  const askCents = 5_000 + (c % 400) * 125;

  const payload: Record<string, unknown> = {
    conversation_id: conversationId,
    reference_type: isOffer ? 'INSTANT_CASH_OFFER' : 'AUCTION',
    reference_id: isOffer ? `ico_${c % 100_000}` : `auc_${c % 100_000}`,
    asset_type: c % 5 === 4 ? 'SEALED_TCG' : 'TICKET',
    external_ids: {
      SEATGEEK: String(17_000_000 + (c % 1_000_000)),
      TICKETMASTER: createHash('md5').update(`tm:${conversationId}`).digest('base64url').slice(0, 14),
    },
    asset_details: {
      id: uuidFrom('asset', conversationId),
      event_name: event.name,
      venue_name: event.venue,
      event_date_utc: eventDate.toISOString().replace('.000Z', 'Z'),
      event_date_local: local.toISOString().slice(0, 19),
    },
    config_details: {
      id: uuidFrom('config', c % 7),
      event_type: c % 2 === 0 ? 'PRIMARY' : 'SECONDARY',
    },
    item_details: {
      key_id: keyIds[0],
      key_ids: keyIds,
      fair_values: c % 2 === 0 ? [] : [{ source: 'SEATGEEK', amount_cents: askCents, currency: 'USD' }],
      section: `Floor ${1 + (c % 3)}`,
      row: String(1 + (c % 30)),
      seat_numbers: Array.from({ length: quantity }, (_, k) => String(1 + k + (c % 20))),
      quantity,
      ticket_type: c % 4 === 0 ? 'PDF' : 'MOBILE',
    },
  };

  // Type-specific additions; amounts in integer cents (USD).
  const bidCents = askCents + i * 250;
  const bidId = uuidFrom('bid', conversationId, i);
  switch (msgType) {
    case 'BID_REQUEST':
      payload.bid_details = { min_bid_cents: askCents, currency: 'USD', expires_at: new Date(eventDate.getTime() - 86_400_000).toISOString() };
      break;
    case 'BID_OUTBID':
      payload.bid_details = { bid_id: bidId, your_bid_cents: bidCents, highest_bid_cents: bidCents + 500, currency: 'USD' };
      break;
    case 'AUCTION_RESULT':
      payload.result = { bid_id: bidId, is_winner: i % 2 === 0, winning_bid_cents: bidCents + 500, currency: 'USD', external_reference_id: `ext_${c % 100_000}` };
      break;
    case 'CONDITIONAL_BID_APPLIED':
    case 'CONDITIONAL_BID_STATUS_CHANGE':
    case 'CONDITIONAL_BID_EXPIRING_SOON':
      payload.conditional_bid = {
        id: uuidFrom('cbid', conversationId),
        status: msgType === 'CONDITIONAL_BID_STATUS_CHANGE' ? pickAt(['ACTIVE', 'PAUSED', 'CANCELLED'], i) : 'ACTIVE',
        max_bid_cents: bidCents + 2_000,
        applied_bid_cents: bidCents,
        expires_at: new Date(eventDate.getTime() - 3_600_000).toISOString(),
      };
      break;
    case 'INSTANT_CASH_OFFER_STATUS_CHANGE':
      payload.offer = { status: pickAt(['PENDING', 'ACCEPTED', 'DECLINED', 'EXPIRED'], i), amount_cents: askCents, currency: 'USD', external_reference_id: `ext_${c % 100_000}` };
      break;
    case 'TRANSFER_CONFIRMATION_RECEIVED':
      payload.transfer = { status: 'RECEIVED', key_ids: keyIds, confirmation_code: `TC${c % 1_000_000}` };
      break;
    case 'PAYMENT_CHARGED':
    case 'PAYMENT_FAILED':
    case 'PAYMENT_SETTLED':
      payload.payment = {
        id: uuidFrom('payment', conversationId),
        status: msgType.slice('PAYMENT_'.length),
        amount_cents: bidCents * quantity,
        currency: 'USD',
        ...(msgType === 'PAYMENT_FAILED' ? { failure_reason: 'card_declined' } : {}),
      };
      break;
    default:
      break;
  }
  return payload;
}

/**
 * The webhook envelope for the same message (TPX webhooks differ from the socket: they add
 * `msg_id`, `source_id`, `destination_id`, and `sent_at` is in SECONDS, not ms).
 */
export function makeWebhookBody(
  msgType: string,
  payload: Record<string, unknown>,
  opts: { msgId?: string; sentAtSec?: number } = {},
): Record<string, unknown> {
  return {
    msg_type: msgType,
    msg_id: opts.msgId ?? randomUUID(),
    sent_at: opts.sentAtSec ?? Math.floor(Date.now() / 1000),
    source_id: 'tradepost_auction_service',
    destination_id: 'partner_demo',
    payload,
  };
}
