import { bool, int, replicas, wsUrl, type ReplicaMode } from '../../core/env-vars.js';
import { defineFeedConfig } from '../../core/feed-config.js';

/** backpack.tf's settings: `config.feeds.bptf`. Durations are milliseconds. */
export interface BptfSettings {
  readonly enabled: boolean;
  readonly url: string;
  readonly stallMs: number;
  readonly replicas: ReplicaMode;
  /** Tombstones older than this (days) are purged; 0 keeps them. */
  readonly tombstoneRetentionDays: number;
  /** BPTF_HISTORY: every event also in bptf_listing_events, kept this many days. */
  readonly history: boolean;
  readonly historyRetentionDays: number;
  /** BPTF_QUOTES: keep bptf_quotes (live per-SKU quotes) and bptf_quote_history. */
  readonly quotes: boolean;
  /** Days of bptf_quote_history kept (whole daily partitions). */
  readonly quoteHistoryRetentionDays: number;
}

/** backpack.tf needs no credentials: it has no secret. */
export const bptfConfig = defineFeedConfig({
  feed: 'bptf',
  env: {
    BPTF_ENABLED: bool.default(true),
    BPTF_URL: wsUrl.default('wss://ws.backpack.tf/events'),
    BPTF_STALL_MS: int(100).default(60_000),
    BPTF_REPLICAS: replicas.default('one'),
    BPTF_HISTORY: bool.default(false),
    HISTORY_RETENTION_DAYS: int(1, 36_500).default(7),
    TOMBSTONE_RETENTION_DAYS: int(0, 36_500).default(14),
    BPTF_QUOTES: bool.default(true),
    QUOTE_HISTORY_RETENTION_DAYS: int(1, 36_500).default(90),
  },
  settings: (e): BptfSettings => ({
    enabled: e.BPTF_ENABLED,
    url: e.BPTF_URL,
    stallMs: e.BPTF_STALL_MS,
    replicas: e.BPTF_REPLICAS,
    tombstoneRetentionDays: e.TOMBSTONE_RETENTION_DAYS,
    history: e.BPTF_HISTORY,
    historyRetentionDays: e.HISTORY_RETENTION_DAYS,
    quotes: e.BPTF_QUOTES,
    quoteHistoryRetentionDays: e.QUOTE_HISTORY_RETENTION_DAYS,
  }),
  secrets: () => [],
});
