import type { Connector, FeedContext } from '../../core/feed.js';
import { feedSocket } from '../../core/feed-socket.js';
import type { Session } from '../../core/transport/reconnecting-socket.js';
import { AuthError } from '../../errors.js';
import { eventsTable } from './events-table.js';
import { cookieNames, login } from './login.js';
import { parseCommerceFrame, SOURCE } from './parse.js';

export interface CommerceConnectorOptions {
  readonly wsUrl: string;
  /** Either a ready `Cookie` value … */
  readonly cookie?: string;
  /** … or credentials for the REST login. */
  readonly login?: {
    readonly url: string;
    readonly username: string;
    readonly password: string;
    readonly fields: readonly [string, string];
  };
  readonly channels: readonly string[];
  /** Interval (ms) of the application ping `{"type":"ping"}`; the backend's documented clients use 25 s. */
  readonly pingIntervalMs?: number;
}

export const DEFAULT_PING_INTERVAL_MS = 25_000;

/** WebSocket close code 1008 (policy violation): the backend's "session gone", per its WebSocket documentation. */
const CLOSE_POLICY_VIOLATION = 1008;

/**
 * The store backend: REST login -> session cookies -> upgrade /ws with them -> `connected`
 * greeting -> one subscribe per channel (connected). A `{"type":"ping"}` goes out every
 * pingIntervalMs; a ping still unanswered when the next one is due fails the connection.
 *
 * The cookie is cached between attempts. A 401/403 on the upgrade or a close with 1008 means the
 * session is gone: the cookie is dropped and the next attempt logs in again (after the usual
 * backoff). A configured COMMERCE_COOKIE cannot be refreshed: it is retried, once per maximum
 * backoff, with an error in the log and state auth_failed.
 */
export function createCommerceConnector(opts: CommerceConnectorOptions, ctx: FeedContext): Connector {
  const { logger, metrics } = ctx;
  const pingIntervalMs = opts.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS;
  /** The session cookie in use; undefined: log in before the next attempt. */
  let cookie: string | undefined = opts.cookie;
  /** The configured cookie was refused: the next attempt waits the maximum backoff first. */
  let staticCookieRefused = false;

  const sessionGone = (why: string) => {
    if (opts.cookie !== undefined) {
      logger.error({ why }, 'the store no longer accepts COMMERCE_COOKIE; set a fresh one (or use COMMERCE_LOGIN_URL with credentials)');
      staticCookieRefused = true;
      return;
    }
    if (cookie !== undefined) logger.info({ why }, 'store session is gone; logging in again before the next attempt');
    cookie = undefined;
  };

  async function prepare(signal: AbortSignal) {
    if (staticCookieRefused) {
      staticCookieRefused = false;
      throw new AuthError('COOKIE_REFUSED', 'the store refused COMMERCE_COOKIE');
    }
    if (cookie === undefined) {
      const l = opts.login;
      if (!l) throw new Error('no COMMERCE_COOKIE and no login configured');
      cookie = await login({ url: l.url, username: l.username, password: l.password, fields: l.fields, signal });
      logger.info({ cookies: cookieNames(cookie) }, 'logged in to the store');
    }
    return { url: opts.wsUrl, headers: { cookie } };
  }

  const session = (): Session => {
    let greeted = false;
    let awaitingPong = false;
    let pingTimer: NodeJS.Timeout | undefined;
    return {
      onOpen(control) {
        pingTimer = setInterval(() => {
          if (!greeted) return control.fail('no "connected" greeting from the store');
          if (awaitingPong) return control.fail(`no pong within ${pingIntervalMs} ms`);
          awaitingPong = true;
          control.send({ type: 'ping' });
        }, pingIntervalMs);
        pingTimer.unref();
      },
      onMessage(data, _isBinary, control) {
        const m = parseCommerceFrame(data);
        switch (m.kind) {
          case 'connected':
            greeted = true;
            for (const channel of opts.channels) control.send({ type: 'subscribe', channel });
            logger.info({ user_id: m.userId, channels: opts.channels }, 'store greeted; subscribed to channels');
            control.ready();
            return;
          case 'pong':
            awaitingPong = false;
            control.alive();
            return;
          case 'subscribed':
          case 'unsubscribed':
            logger.debug({ channel: m.channel }, `store ${m.kind}`);
            return;
          case 'error':
            metrics.eventsIgnored.inc({ source: SOURCE, event: 'error' });
            logger.warn({ error: m.message }, 'the store reported an error');
            return;
          case 'event':
            ctx.add(eventsTable, [m.row]);
            return;
          case 'reject':
            ctx.reject([m.reject]);
            return;
        }
      },
      onClose(code) {
        clearInterval(pingTimer);
        if (code === CLOSE_POLICY_VIOLATION) sessionGone('closed with 1008');
      },
    };
  };

  return feedSocket(ctx, {
    // A safety net behind the ping: pongs count as life (control.alive), so this fires only when
    // the socket stays open but nothing at all comes back for three ping intervals.
    stallMs: pingIntervalMs * 3,
    prepare,
    createSession: session,
    onUpgradeRejected: (statusCode) => {
      if (statusCode === 401 || statusCode === 403) sessionGone(`upgrade answered HTTP ${statusCode}`);
    },
  });
}
