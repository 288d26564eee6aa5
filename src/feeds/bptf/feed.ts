import type { FeedDefinition } from '../../core/feed.js';
import { dayPartitionUpkeep } from './day-partitions.js';
import { historyPartitions, listingEventsTable } from './history.js';
import { toListingRow } from './listing-row.js';
import { listingsTable } from './listings-table.js';
import { parseBptfFrame, SOURCE } from './parse.js';
import { quoteRecomputeTask } from './quote-recompute.js';
import { quoteRefresh } from './quote-refresh.js';
import { useQuotes } from './quotes.js';
import { createBptfConnector } from './session.js';
import { tombstonePurge } from './tombstone-purge.js';

/** Settings tests change: the quote refresh's and recomputer's intervals (ms) and the clock of the key-rate rule (ms). */
export interface BptfFeedOptions {
  readonly quoteRefreshIntervalMs?: number;
  readonly quoteRecomputeIntervalMs?: number;
  readonly now?: () => number;
}

/**
 * backpack.tf's events socket: the current state of every listing, in bptf_listings, and with
 * BPTF_QUOTES the per-SKU quotes (bptf_quotes, bptf_quote_history): recomputed after the listings'
 * commits by the recompute task, and after key-rate and blocklist changes by the refresh.
 */
export function createBptfFeed(opts: BptfFeedOptions = {}): FeedDefinition {
  return {
    source: SOURCE,
    lockId: 1,
    // The history table's writer idles unless BPTF_HISTORY is on.
    tables: [listingsTable, listingEventsTable],
    plan(config) {
      const b = config.feeds.bptf;
      // Spooled listings of a run with the feed on are still written, with or without their quotes.
      useQuotes(b.quotes);
      if (!b.enabled) return undefined;
      return {
        replicas: b.replicas,
        connect: (ctx) => createBptfConnector({ url: b.url, stallMs: b.stallMs, history: b.history }, ctx),
        tasks: [
          ...(b.tombstoneRetentionDays > 0 ? [tombstonePurge(b.tombstoneRetentionDays)] : []),
          ...(b.history ? [historyPartitions(b.historyRetentionDays)] : []),
          ...(b.quotes
            ? [
                quoteRecomputeTask({ intervalMs: opts.quoteRecomputeIntervalMs }),
                quoteRefresh({ intervalMs: opts.quoteRefreshIntervalMs, now: opts.now }),
                dayPartitionUpkeep('bptf_quote_history', 'QUOTE_HISTORY_RETENTION_DAYS', b.quoteHistoryRetentionDays),
              ]
            : []),
        ],
      };
    },
    reparse(raw, { config, receivedAtMs }) {
      // As the session does: the frame's listings to bptf_listings (and, with BPTF_HISTORY, its history).
      const frame = parseBptfFrame(Buffer.from(raw), receivedAtMs);
      const refused = frame.rejects[0];
      if (refused) return { reject: refused.reason };
      if (frame.listings.length === 0) return { reject: 'no listing event in it' };
      const rows = frame.listings.map(toListingRow);
      return { rows: [{ table: listingsTable, rows }, ...(config.feeds.bptf.history ? [{ table: listingEventsTable, rows }] : [])] };
    },
  };
}

export const bptfFeed: FeedDefinition = createBptfFeed();
