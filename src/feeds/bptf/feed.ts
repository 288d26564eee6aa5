import type { FeedDefinition } from '../../core/feed.js';
import { historyPartitions, listingEventsTable } from './history.js';
import { listingsTable } from './listings-table.js';
import { SOURCE } from './parse.js';
import { createBptfConnector } from './session.js';
import { tombstonePurge } from './tombstone-purge.js';

/** backpack.tf's events socket: the current state of every listing, in bptf_listings. */
export const bptfFeed: FeedDefinition = {
  source: SOURCE,
  lockId: 1,
  // The history table's writer idles unless BPTF_HISTORY is on.
  tables: [listingsTable, listingEventsTable],
  plan(config) {
    const b = config.bptf;
    if (!b.enabled) return undefined;
    return {
      replicas: b.replicas,
      connect: (ctx) => createBptfConnector({ url: b.url, stallMs: b.stallMs, history: b.history }, ctx),
      tasks: [
        ...(b.tombstoneRetentionDays > 0 ? [tombstonePurge(b.tombstoneRetentionDays)] : []),
        ...(b.history ? [historyPartitions(b.historyRetentionDays)] : []),
      ],
    };
  },
};
