import type { Connector, FeedContext } from '../../core/feed.js';
import { feedSocket } from '../../core/feed-socket.js';
import type { Session } from '../../core/transport/reconnecting-socket.js';
import { toListingRow } from './listing-row.js';
import { listingEventsTable } from './history.js';
import { listingsTable } from './listings-table.js';
import { boundedLabel } from '../../util/bounded-label.js';
import { LIMIT_EVENTS, parseBptfFrame, SOURCE } from './parse.js';

export interface BptfConnectorOptions {
  readonly url: string;
  /** No frame for this long (ms): drop the socket and reconnect. */
  readonly stallMs: number;
  /** BPTF_HISTORY: every admitted event also goes to bptf_listing_events. */
  readonly history?: boolean;
}

/**
 * backpack.tf events: no auth, one connection per IP, batched frames (requested with the
 * `batch-test: true` header), no replay of missed events. Limit notices mean "reconnect later".
 */
export function createBptfConnector(opts: BptfConnectorOptions, ctx: FeedContext): Connector {
  const { logger, metrics } = ctx;
  const seenUnknown = new Set<string>();

  const session = (): Session => ({
    onOpen(control) {
      control.ready();
    },
    onMessage(data, _isBinary, control) {
      const frame = parseBptfFrame(data);
      const admitted = ctx.add(listingsTable, frame.listings.map(toListingRow));
      if (opts.history) ctx.add(listingEventsTable, admitted);
      ctx.reject(frame.rejects);
      for (const notice of frame.notices) {
        // The name is the upstream's choice: an unknown one is counted as `other` (one series, not one per name).
        metrics.eventsIgnored.inc({ source: SOURCE, event: boundedLabel(notice.event, LIMIT_EVENTS) });
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

  return feedSocket(ctx, {
    stallMs: opts.stallMs,
    prepare: async () => ({ url: opts.url, headers: { 'batch-test': 'true' } }),
    createSession: session,
  });
}
