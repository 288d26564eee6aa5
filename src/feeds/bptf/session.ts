import type { IngestContext } from '../../core/feed-context.js';
import { reportRejects } from '../../core/feed-context.js';
import type { BatchWriter } from '../../core/writer/batch-writer.js';
import type { Connector } from '../../core/connector.js';
import { ReconnectingSocket, type Session } from '../../core/transport/reconnecting-socket.js';
import { toListingRow, type ListingRow } from './listing-row.js';
import { parseBptfFrame, SOURCE } from './parse.js';

export interface BptfConnectorOptions {
  readonly url: string;
  /** No frame for this long (ms): drop the socket and reconnect. */
  readonly stallMs: number;
}

/**
 * backpack.tf events: no auth, one connection per IP, batched frames (requested with the
 * `batch-test: true` header), no replay of missed events. Limit notices mean "reconnect later".
 */
export function createBptfConnector(opts: BptfConnectorOptions, ctx: IngestContext, listings: BatchWriter<ListingRow>): Connector {
  const { logger, metrics, status } = ctx;
  const seenUnknown = new Set<string>();

  const session = (): Session => ({
    onOpen(control) {
      control.ready();
    },
    onMessage(data, _isBinary, control) {
      status.messageReceived();
      const frame = parseBptfFrame(data);
      if (frame.listings.length > 0) {
        status.eventsParsed(frame.listings.length);
        listings.add(frame.listings.map(toListingRow));
      }
      reportRejects(ctx, frame.rejects);
      for (const notice of frame.notices) {
        metrics.eventsIgnored.inc({ source: SOURCE, event: notice.event });
        if (notice.kind === 'limit') {
          logger.warn({ event: notice.event }, 'backpack.tf reports a limit (another connection from this IP?); reconnecting with backoff');
          control.fail(notice.event);
        } else if (!seenUnknown.has(notice.event) && seenUnknown.size < 100) {
          seenUnknown.add(notice.event);
          logger.warn({ event: notice.event }, 'unknown backpack.tf event (stored in ingest_rejects)');
        }
      }
    },
  });

  const socket = new ReconnectingSocket({
    source: SOURCE,
    logger,
    reconnect: ctx.reconnect,
    stallMs: opts.stallMs,
    prepare: async () => ({ url: opts.url, headers: { 'batch-test': 'true' } }),
    createSession: session,
    onState: (state, error) => status.setState(state, error),
    onReconnect: () => status.reconnecting(),
  });

  return {
    source: SOURCE,
    start: () => socket.start(),
    stop: () => socket.stop(),
  };
}
