import WebSocket from 'ws';
import { AuthError, UpstreamConfigError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { backoffDelay } from '../../util/backoff.js';
import { delay } from '../../util/delay.js';

/**
 * The connection core every connector runs on: a WebSocket client that reconnects forever.
 *
 * - Backoff: exponential with full jitter between reconnect.baseMs and reconnect.maxMs; the attempt
 *   count resets once a connection has stayed up for STABLE_AFTER_MS without the session failing it.
 *   A failure typed AuthError (state auth_failed) or UpstreamConfigError (state config_error) waits
 *   the maximum backoff: hammering does not fix a bad key or a bad setting.
 * - Liveness: a protocol ping every pingIntervalMs, and terminate() when its pong has not come back by
 *   the next ping; plus an optional silence watchdog (stallMs) for sockets that stay open but stop
 *   sending data (a pong does not count as data).
 * - Shutdown: aborting `signal` closes the socket with a close handshake (code 1000); messages that
 *   arrive before the server's close reply are still delivered to the session. After closeTimeoutMs
 *   without one the socket is terminated: each message restarts that wait (the server is still
 *   delivering what it sent before our close frame, which a busy daemon reads late), up to twice
 *   closeTimeoutMs in all. A session that fails closes the same way before the reconnect.
 *
 * Protocol logic lives in the Session a connector creates for each connection; this file knows
 * nothing about any upstream's messages.
 */

export const CONNECTION_STATES = ['connecting', 'connected', 'backoff', 'auth_failed', 'config_error', 'stopped'] as const;
export type ConnectionState = (typeof CONNECTION_STATES)[number];

/** The upstream refused us, not the network: a retry soon cannot help, so wait the maximum. */
function waitsMaximum(error: Error | undefined): boolean {
  return error instanceof AuthError || error instanceof UpstreamConfigError;
}

/** The state a failure leaves the connection in while it waits to reconnect. */
function stateAfter(error: Error | undefined): ConnectionState {
  if (error instanceof AuthError) return 'auth_failed';
  if (error instanceof UpstreamConfigError) return 'config_error';
  return 'backoff';
}

/** What a session may do with its connection. */
export interface SessionControl {
  /** JSON-encode and send. Silently skipped when the socket is not open. */
  send(message: unknown): void;
  /** The session is established (authenticated, subscribed): state becomes `connected`. */
  ready(): void;
  /** Reset the silence watchdog without a data frame (e.g. an application-level ping). */
  alive(): void;
  /**
   * Drop this connection and reconnect after backoff. An AuthError or UpstreamConfigError sets the
   * matching state and waits the maximum backoff; anything else (a plain reason) the usual backoff.
   */
  fail(reason: string | Error): void;
  /** The connection stays up, but the upstream refused part of our settings: state config_error. */
  degraded(error: UpstreamConfigError): void;
  readonly logger: Logger;
}

export interface Session {
  onOpen(control: SessionControl): void;
  /** One frame. Must not throw; a throw is logged and the frame is lost, so parsers never throw. */
  onMessage(data: Buffer, isBinary: boolean, control: SessionControl): void;
  /** Called once per connection with the close code, after the socket closed. */
  onClose?(code: number, reason: string): void;
}

export interface PreparedConnection {
  readonly url: string;
  readonly headers?: Record<string, string>;
}

export interface ReconnectingSocketOptions {
  readonly source: string;
  readonly logger: Logger;
  readonly reconnect: { readonly baseMs: number; readonly maxMs: number };
  /** Called before every connection attempt, e.g. to log in. A throw counts as a failed attempt (typed as for SessionControl.fail). */
  readonly prepare: (signal: AbortSignal) => Promise<PreparedConnection>;
  readonly createSession: () => Session;
  readonly onState: (state: ConnectionState, error?: string) => void;
  readonly onReconnect?: () => void;
  /** The upgrade was answered with an HTTP status instead of 101 (e.g. 401: the session cookie is gone). */
  readonly onUpgradeRejected?: (statusCode: number) => void;
  /** A connection error (refused, DNS, TLS, reset …), for `last_error`: the state alone does not say why. */
  readonly onError?: (message: string) => void;
  /** No data frame for this long (ms): terminate and reconnect. Unset: no watchdog. */
  readonly stallMs?: number;
  readonly pingIntervalMs?: number;
  readonly handshakeTimeoutMs?: number;
  readonly closeTimeoutMs?: number;
  /** Largest frame accepted (bytes); some upstreams send frames over 1 MiB. */
  readonly maxPayload?: number;
  /** Aborting it stops the socket like stop() (close handshake, no more reconnects). */
  readonly signal?: AbortSignal;
}

/** A connection that lasted this long (ms) resets the backoff attempt count. */
export const STABLE_AFTER_MS = 10_000;
const DEFAULT_PING_INTERVAL_MS = 30_000;
const DEFAULT_HANDSHAKE_TIMEOUT_MS = 15_000;
const DEFAULT_CLOSE_TIMEOUT_MS = 3_000;
const DEFAULT_MAX_PAYLOAD = 256 * 1024 * 1024;

interface Outcome {
  /** The session failed the connection (limit notice, auth error) or it never opened. */
  failed: boolean;
  /** Why, when the session or prepare() said so with an error: decides the state and the wait. */
  error?: Error;
  stable: boolean;
}

export class ReconnectingSocket {
  readonly #o: ReconnectingSocketOptions;
  readonly #abort = new AbortController();
  #loop: Promise<void> | undefined;
  #closeCurrent: (() => void) | undefined;
  /** Socket errors since the last socket that opened: only the first is logged with its stack. */
  #socketErrors = 0;

  readonly #onAbort = () => void this.stop();

  constructor(options: ReconnectingSocketOptions) {
    this.#o = options;
    options.signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  start(): void {
    this.#loop ??= this.#run().catch((err: unknown) => {
      this.#o.logger.error({ err }, 'connection loop crashed');
    });
  }

  /** Close with a handshake, wait for the server's reply (bounded), stop reconnecting. */
  async stop(): Promise<void> {
    // A socket per leadership term: a long-lived signal must not collect one listener per term.
    this.#o.signal?.removeEventListener('abort', this.#onAbort);
    this.#abort.abort();
    this.#closeCurrent?.();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const { logger, reconnect } = this.#o;
    const signal = this.#abort.signal;
    let attempt = 0;
    while (!signal.aborted) {
      this.#o.onState('connecting');
      let outcome: Outcome;
      try {
        const prepared = await this.#o.prepare(signal);
        if (signal.aborted) break;
        outcome = await this.#connectOnce(prepared);
      } catch (err) {
        const error = err instanceof Error ? err : new Error(String(err));
        logger[waitsMaximum(error) ? 'error' : 'warn']({ err: error }, 'could not prepare the connection');
        this.#o.onError?.(error.message);
        this.#o.onState(stateAfter(error), error.message);
        outcome = { failed: true, error, stable: false };
      }
      if (signal.aborted) break;
      attempt = outcome.stable && !outcome.failed ? 0 : attempt + 1;
      const wait = waitsMaximum(outcome.error) ? reconnect.maxMs : backoffDelay(attempt, reconnect.baseMs, reconnect.maxMs);
      this.#o.onState(stateAfter(outcome.error));
      this.#o.onReconnect?.();
      logger.info({ attempt, delay_ms: wait }, 'reconnecting after delay');
      await delay(wait, signal);
    }
    this.#o.onState('stopped');
  }

  #connectOnce(prepared: PreparedConnection): Promise<Outcome> {
    const o = this.#o;
    const logger = o.logger;
    return new Promise<Outcome>((resolve) => {
      const ws = new WebSocket(prepared.url, {
        headers: prepared.headers,
        handshakeTimeout: o.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
        maxPayload: o.maxPayload ?? DEFAULT_MAX_PAYLOAD,
        // Off: permessage-deflate's native zlib memory is known to grow without bound under a high message rate.
        perMessageDeflate: false,
      });
      const outcome: Outcome = { failed: false, stable: false };
      let openedAt = 0;
      let pingTimer: NodeJS.Timeout | undefined;
      let stallTimer: NodeJS.Timeout | undefined;
      let closeTimer: NodeJS.Timeout | undefined;
      let awaitingPong = false;
      let settled = false;
      const session = o.createSession();

      const armStall = () => {
        if (!o.stallMs) return;
        clearTimeout(stallTimer);
        stallTimer = setTimeout(() => {
          // A liveness failure, not the session's: a connection that was stable before it went
          // silent still resets the backoff (the close handler judges by how long it was up).
          logger.warn({ stall_ms: o.stallMs }, 'no data from upstream; dropping the socket');
          ws.terminate();
        }, o.stallMs);
      };

      const control: SessionControl = {
        logger,
        send(message) {
          if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
        },
        ready() {
          o.onState('connected');
        },
        alive: armStall,
        degraded(error) {
          o.onState(stateAfter(error), error.message);
        },
        fail(reason) {
          outcome.failed = true;
          if (reason instanceof Error) {
            // The first typed failure decides the state and the wait.
            outcome.error ??= reason;
            o.onState(stateAfter(outcome.error), reason.message);
          }
          logger.warn({ reason: reason instanceof Error ? reason.message : reason }, 'session failed; reconnecting');
          if (ws.readyState === WebSocket.OPEN) beginClose('reconnecting');
          else ws.terminate();
        },
      };

      const closeTimeoutMs = o.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
      /** When our close began (ms: a shutdown's, or a failed session's); 0: not closing. */
      let closingSince = 0;
      /** Messages delivered so far on this socket. */
      let messages = 0;
      /**
       * The wait for the close reply ran out. An event loop that was busy past the wait
       * (a long batch, a loaded machine) runs its expired timers before it reads the socket again, so
       * frames already received would be cut off unread: the socket is terminated a turn later, after
       * that read, unless a message came in it (which extends the wait, within its bound).
       */
      const expireClose = () => {
        const seen = messages;
        setImmediate(() => {
          if (messages === seen) ws.terminate();
        });
      };
      /** Send our close frame and wait for the reply, reading what comes first (see extendClose and expireClose). */
      const beginClose = (reason: string) => {
        ws.close(1000, reason);
        closingSince = Date.now();
        closeTimer ??= setTimeout(expireClose, closeTimeoutMs);
      };
      this.#closeCurrent = () => {
        if (ws.readyState === WebSocket.OPEN) beginClose('shutting down');
        else if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      };
      /** A message during our close: wait closeTimeoutMs more for the reply, within twice closeTimeoutMs in all. */
      const extendClose = () => {
        if (closingSince === 0 || !closeTimer) return;
        clearTimeout(closeTimer);
        const left = closingSince + 2 * closeTimeoutMs - Date.now();
        // Past the bound, no more turns: whatever keeps coming, the stop ends.
        closeTimer = left > 0 ? setTimeout(expireClose, Math.min(closeTimeoutMs, left)) : setTimeout(() => ws.terminate(), 0);
      };
      if (this.#abort.signal.aborted) this.#closeCurrent();

      ws.on('unexpected-response', (_req, res) => {
        logger.warn({ status: res.statusCode }, 'upgrade rejected by upstream');
        o.onUpgradeRejected?.(res.statusCode ?? 0);
        outcome.failed = true;
        res.resume();
        ws.terminate();
      });
      ws.on('open', () => {
        openedAt = Date.now();
        this.#socketErrors = 0;
        logger.info('socket open');
        armStall();
        pingTimer = setInterval(() => {
          if (awaitingPong) {
            // A liveness failure, as with the stall watchdog above.
            logger.warn('no pong to the last ping; terminating the socket');
            ws.terminate();
            return;
          }
          awaitingPong = true;
          ws.ping();
        }, o.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS);
        pingTimer.unref();
        try {
          session.onOpen(control);
        } catch (err) {
          logger.error({ err }, 'session open handler failed');
        }
      });
      ws.on('pong', () => {
        awaitingPong = false;
      });
      ws.on('message', (data, isBinary) => {
        messages++;
        armStall();
        extendClose();
        const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(new Uint8Array(data));
        try {
          session.onMessage(buf, isBinary, control);
        } catch (err) {
          logger.error({ err }, 'session message handler failed');
        }
      });
      ws.on('error', (err) => {
        // The first error of a run of them with its stack (pino's serializer: type, message, code,
        // stack); the same upstream refusing every reconnect then says only what and how often.
        this.#socketErrors++;
        if (this.#socketErrors === 1) logger.warn({ err }, 'socket error');
        else logger.warn({ error: err.message, code: (err as NodeJS.ErrnoException).code, in_a_row: this.#socketErrors }, 'socket error');
        o.onError?.(err.message);
      });
      ws.on('close', (code, reasonBuf) => {
        clearInterval(pingTimer);
        clearTimeout(stallTimer);
        clearTimeout(closeTimer);
        this.#closeCurrent = undefined;
        const reason = reasonBuf.toString('utf8').slice(0, 200);
        if (openedAt === 0) outcome.failed = true;
        else outcome.stable = Date.now() - openedAt >= STABLE_AFTER_MS;
        logger.info({ code, reason, up_ms: openedAt ? Date.now() - openedAt : 0 }, 'socket closed');
        try {
          session.onClose?.(code, reason);
        } catch (err) {
          logger.error({ err }, 'session close handler failed');
        }
        if (!settled) {
          settled = true;
          resolve(outcome);
        }
      });
    });
  }
}
