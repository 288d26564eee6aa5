import type { Connector, FeedContext } from '../../core/feed.js';
import { feedSocket } from '../../core/feed-socket.js';
import type { Session } from '../../core/transport/reconnecting-socket.js';
import { AuthError, UpstreamConfigError } from '../../errors.js';
import { boundedLabel } from '../../util/bounded-label.js';
import { eventsTable } from './events-table.js';
import { parseTradePostFrame, SOURCE } from './parse.js';

export interface TradePostConnectorOptions {
  readonly url: string;
  /** The API key. Sent in the authenticate message only; never logged. */
  readonly apiKey: string;
  readonly rooms: readonly string[];
  /** No frame for this long (ms): the socket is dead. The server pings every 30 s, so 90 s is three missed pings. */
  readonly stallMs?: number;
  /** `subscribed` must arrive this long (ms) after the socket opened, or the attempt is failed and retried. */
  readonly readyTimeoutMs?: number;
}

export const DEFAULT_STALL_MS = 90_000;
export const DEFAULT_READY_TIMEOUT_MS = 30_000;

/** Errors a retry cannot fix soon: wait the maximum backoff (state auth_failed). */
const AUTH_ERRORS = new Set(['AUTH_INVALID_API_KEY', 'AUTH_API_KEY_INACTIVE', 'AUTH_API_KEY_EXPIRED']);
/** The codes TradePost's TPX documentation lists; any other is counted as `error:other`, so a metric label stays bounded. */
const KNOWN_ERRORS: ReadonlySet<string> = new Set([...AUTH_ERRORS, 'AUTH_REQUIRED', 'NO_VALID_ROOMS', 'INVALID_ROOM', 'INVALID_MESSAGE', 'INVALID_JSON']);

/**
 * TradePost TPX: open -> authenticate with the API key -> `authenticated` -> subscribe to the
 * rooms -> `subscribed` (connected). Every server `ping` is answered with a `pong` at once; a
 * socket that sends nothing for stallMs is dropped. Messages are stored once each (tradepost_events).
 */
export function createTradePostConnector(opts: TradePostConnectorOptions, ctx: FeedContext): Connector {
  const { logger, metrics } = ctx;
  const rooms = [...opts.rooms];

  const session = (): Session => {
    let subscribed = false;
    /** INVALID_ROOM arrived: once subscribed to the other rooms, the state still says config_error. */
    let invalidRooms: UpstreamConfigError | undefined;
    let readyTimer: NodeJS.Timeout | undefined;
    return {
      onOpen(control) {
        // The message carries the key: it is sent, never logged.
        control.send({ msg_type: 'authenticate', payload: { token: opts.apiKey } });
        readyTimer = setTimeout(() => {
          if (!subscribed) control.fail('no "subscribed" reply in time after authenticate/subscribe');
        }, opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS);
        readyTimer.unref();
      },
      onMessage(data, _isBinary, control) {
        const m = parseTradePostFrame(data);
        switch (m.kind) {
          case 'ping':
            control.send({ msg_type: 'pong' });
            return;
          case 'pong':
            return;
          case 'authenticated':
            logger.info({ account_id: m.accountId }, 'authenticated; subscribing');
            control.send({ msg_type: 'subscribe', payload: { rooms } });
            return;
          case 'subscribed':
            subscribed = true;
            clearTimeout(readyTimer);
            logger.info({ rooms: m.rooms, requested: rooms }, 'subscribed');
            control.ready();
            if (invalidRooms) control.degraded(invalidRooms);
            return;
          case 'error':
            metrics.eventsIgnored.inc({ source: SOURCE, event: `error:${boundedLabel(m.code, KNOWN_ERRORS)}` });
            if (AUTH_ERRORS.has(m.code)) {
              logger.error({ code: m.code, error: m.message }, 'TradePost refused the API key; retrying only at the maximum backoff (RECONNECT_MAX_MS)');
              control.fail(new AuthError(m.code, `${m.code}: ${m.message}`));
            } else if (m.code === 'NO_VALID_ROOMS') {
              logger.error({ code: m.code, error: m.message, rooms }, 'none of the configured TRADEPOST_ROOMS is accessible; nothing can arrive, retrying at the maximum backoff');
              control.fail(new UpstreamConfigError(m.code, `${m.code}: ${m.message}`));
            } else if (m.code === 'INVALID_ROOM') {
              // The server goes on to subscribe the rooms that exist: keep the connection, show the problem.
              logger.error({ code: m.code, error: m.message, rooms }, 'TRADEPOST_ROOMS names a room that does not exist');
              invalidRooms = new UpstreamConfigError(m.code, `${m.code}: ${m.message}`);
              if (subscribed) control.degraded(invalidRooms);
            } else {
              logger.warn({ code: m.code, error: m.message }, 'TradePost reported an error');
            }
            return;
          case 'event':
            ctx.add(eventsTable, [m.row]);
            return;
          case 'reject':
            ctx.reject([m.reject]);
            return;
        }
      },
      onClose() {
        clearTimeout(readyTimer);
      },
    };
  };

  return feedSocket(ctx, {
    stallMs: opts.stallMs ?? DEFAULT_STALL_MS,
    prepare: async () => ({ url: opts.url }),
    createSession: session,
  });
}
