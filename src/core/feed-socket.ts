import type { Connector, FeedContext } from './feed.js';
import { ReconnectingSocket, type ReconnectingSocketOptions } from './transport/reconnecting-socket.js';

/** What a feed says about its socket; the rest comes from its context. */
export type FeedSocketOptions = Omit<ReconnectingSocketOptions, 'source' | 'logger' | 'reconnect' | 'onState' | 'onReconnect' | 'onError' | 'signal'>;

/**
 * A feed's connection: a ReconnectingSocket wired to the feed's context once for every feed (its
 * logger, backoff, connection state, reconnect count, and the time of the last frame received).
 */
export function feedSocket(ctx: FeedContext, options: FeedSocketOptions): Connector {
  const { status } = ctx;
  const socket = new ReconnectingSocket({
    source: ctx.source,
    logger: ctx.logger,
    reconnect: ctx.reconnect,
    onState: (state, error) => status.setState(state, error),
    onReconnect: () => status.reconnecting(),
    onError: (message) => status.noteError(message, 'connection'),
    // The daemon's stop closes every socket at once (with a handshake), even before the feed's runner gets to it.
    signal: ctx.signal,
    ...options,
    createSession: () => {
      const session = options.createSession();
      return {
        ...session,
        onMessage(data, isBinary, control) {
          status.messageReceived();
          session.onMessage(data, isBinary, control);
        },
      };
    },
  });
  return { start: () => socket.start(), stop: () => socket.stop() };
}
