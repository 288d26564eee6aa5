import type { Kysely } from 'kysely';
import type { Config, ReplicaMode } from '../config.js';
import { FatalError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { TableChange } from './db/change-notifier.js';
import type { CoreDatabase } from './db/schema.js';
import type { RouteHandler } from './http/server.js';
import type { Reject } from './ingest/reject.js';
import type { SourceStatus } from './status/source-status.js';
import type { Supersede } from './writer/superseded-rows.js';

/**
 * What a feed is to the core: one definition, exported by `src/feeds/<feed>/feed.ts` and listed in
 * `src/feeds/index.ts`. The composition root loops over the enabled definitions; nothing in
 * `src/core/` names a feed.
 *
 * Methods here are written in method syntax on purpose: a `TableSpec<ListingRow>` is then usable
 * where a `TableSpec<unknown>` is listed (method parameters are checked bivariantly).
 */

/** A long-running upstream connection. start() returns at once; stop() closes gracefully and resolves when done. */
export interface Connector {
  start(): void;
  stop(): Promise<void>;
}

/** One table a feed writes through the core's batching writer. */
export interface TableSpec<Row> {
  /** The table: names its writer in logs and metrics, and its spool folder. */
  readonly name: string;
  /** What one row is, for reject reasons: "database refused the <rowKind> (SQLSTATE …): …", "client could not encode the <rowKind>: …". */
  readonly rowKind: string;
  /** Rows with the same key in one batch are merged (one upsert cannot touch a row twice). Absent: kept as they are. */
  readonly collapse?: {
    key(row: Row): string;
    merge(older: Row, newer: Row): Row;
    /**
     * For a table whose rows can carry their key's whole state: a spool replay then skips the rows a
     * newer whole row of their key, later in the spool, makes moot (superseded-rows.ts).
     */
    readonly supersede?: Supersede<Row>;
  };
  /** Batches in flight at once (default 2). */
  readonly maxInFlight?: number;
  /**
   * Rows of this table are copies of events another table of the feed counts and admits (e.g. a
   * history of them): not counted as received or written again, and added as they are.
   */
  readonly copy?: boolean;
  /**
   * Write every row in one statement or transaction. Must be idempotent: a retry may repeat a commit.
   * Returns what it changed, per table (RETURNING: rows inserted or updated, not duplicates or stale
   * events), for change notifications; `db` is then a transaction the notifications join.
   */
  write(db: Kysely<CoreDatabase>, rows: Row[]): Promise<readonly TableChange[] | void>;
  /**
   * Called once the transaction of a `write` has committed, with what it returned: work that must
   * see the commit (e.g. a table derived from this one, updated later and apart from the write).
   * Never called for an attempt that rolled back. Must not throw.
   */
  committed?(changes: readonly TableChange[]): void;
  /** The row as one line of JSON for the spool, read back with JSON.parse; absent: JSON.stringify. */
  encode?(row: Row): string;
  /**
   * Bytes [start, end) of a spool segment (one line `encode` wrote, or one an older version wrote)
   * back as the row; absent: JSON.parse. May keep views of `bytes` instead of copying.
   */
  decode?(bytes: Buffer, start: number, end: number): Row;
  /** The row's size in memory (bytes of payload, an estimate is fine) for BUFFER_MAX_BYTES. */
  sizeOf(row: Row): number;
  /** The row's own event time (ms since the epoch) for the lag histogram; null when it has none. */
  eventTimeMs(row: Row): number | null;
  /**
   * The row as text for `ingest_rejects.raw`, when the database refuses it: the event(s) it came from
   * exactly as received, so that the feed's `reparse` reads the same rows back from it.
   */
  describe(row: Row): string;
  /** The row's upstream event id or dedupe key, for `ingest_rejects.event_id`; absent: none. */
  eventId?(row: Row): string | undefined;
}

/** An HTTP route a feed adds to the operations server (e.g. a webhook). */
export interface FeedRoute {
  readonly method: string;
  readonly path: string;
  readonly handler: RouteHandler;
}

/** What a feed gets from the core. Every count and log line it needs goes through here. */
export interface FeedContext {
  readonly source: string;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly status: SourceStatus;
  readonly reconnect: { readonly baseMs: number; readonly maxMs: number };
  /** The database, for what a feed reads or writes beside its tables' writers. */
  readonly db: Kysely<CoreDatabase>;
  /**
   * Write rows now, outside the batching writer (a webhook answers only after its commit), with the
   * same change notifications as the writer's. Resolves with what changed; rejects as `table.write`.
   */
  writeNow<Row>(table: TableSpec<Row>, rows: Row[]): Promise<readonly TableChange[]>;
  /** Aborted when the daemon stops. */
  readonly signal: AbortSignal;
  /** True once the database has its schema (migrations applied). Writers wait on it by themselves. */
  ready(): boolean;
  /**
   * Count rows as received and hand them to the table's batching writer; returns the rows admitted
   * (those not too far in the future). Never waits: reading a socket never pauses for a write.
   */
  add<Row>(table: TableSpec<Row>, rows: readonly Row[]): readonly Row[];
  /**
   * The rows whose own time is not too far in the future (EVENT_TIME_MAX_SKEW_MS); the others become
   * rejects. `add` applies it; a route that writes directly calls it first.
   */
  admit<Row>(table: TableSpec<Row>, rows: readonly Row[]): readonly Row[];
  /** Count what could not be used and store it in ingest_rejects. */
  reject(rejects: readonly Reject[]): void;
  /** Rows committed outside the writer: counted and timed as the writer counts and times its own. */
  written<Row>(table: TableSpec<Row>, rows: readonly Row[]): void;
}

/** What a feed runs on this replica, given the configuration. */
export interface FeedPlan {
  /** `one`: only the replica holding the feed's advisory lock runs it; `all`: every replica does. */
  readonly replicas: ReplicaMode;
  /** Opens the upstream connection; called again for each leadership term. Absent: routes only. */
  connect?(ctx: FeedContext): Connector;
  /** HTTP routes, served once migrations are applied. */
  routes?(ctx: FeedContext): readonly FeedRoute[];
  /** Upkeep of the feed's tables (e.g. purging old rows), run on every replica once migrations are applied. */
  readonly tasks?: readonly PeriodicTask[];
}

/**
 * A job the core runs every `intervalMs` (the first run one interval after start, or at once with
 * `runAtStart`), never two at
 * once. It must be safe on several replicas at the same time and must not hold locks the writers
 * wait for. A failure is logged and the next run tries again.
 */
export interface PeriodicTask {
  readonly name: string;
  readonly intervalMs: number;
  /** Run once as soon as migrations are applied, then every interval. */
  readonly runAtStart?: boolean;
  run(ctx: FeedContext, signal: AbortSignal): Promise<void>;
}

/** A stored reject's raw text read again by its feed's parser: rows for the tables' own writes, or why not. */
export type Reparsed =
  | { readonly rows: ReadonlyArray<{ readonly table: TableSpec<unknown>; readonly rows: readonly unknown[] }> }
  | { readonly reject: string };

export interface FeedDefinition {
  /** `ingest_status.source`, the `source` label of every metric, `ingest_rejects.source`. */
  readonly source: string;
  /** Second key of the feed's advisory lock (the first is tributary's namespace). Unique among feeds. */
  readonly lockId: number;
  /** Every table the feed writes through the batching writer. */
  readonly tables: readonly TableSpec<unknown>[];
  /** What runs from this configuration; undefined when the feed is not configured. */
  plan(config: Config): FeedPlan | undefined;
  /**
   * `npm run rejects -- replay`: a stored reject's `raw` (an event or frame as received, or a refused
   * row's `describe`) through the feed's own parser, into the rows its live path would hand to which
   * tables (as the configuration says: e.g. a history table only when it is on); `{ reject }` when
   * the parser refuses it again. Pure, never throws. Absent: the feed's rejects are not replayed.
   */
  reparse?(raw: string, opts: { readonly config: Config; readonly receivedAtMs: number }): Reparsed;
}

/** Two feeds sharing a source name or a lock id would silently share state: refuse to start. */
export function checkFeedDefinitions(feeds: readonly FeedDefinition[]): void {
  const sources = new Set<string>();
  const lockIds = new Map<number, string>();
  for (const f of feeds) {
    if (sources.has(f.source)) throw new FatalError('FEED_DUPLICATE_SOURCE', `two feeds are named "${f.source}"`);
    sources.add(f.source);
    if (!Number.isInteger(f.lockId) || f.lockId < 1 || f.lockId > 0x7fff_ffff) {
      throw new FatalError('FEED_LOCK_ID', `feed "${f.source}" has lock id ${f.lockId}; it must be an integer from 1 to 2^31-1`);
    }
    const other = lockIds.get(f.lockId);
    if (other !== undefined) throw new FatalError('FEED_LOCK_ID', `feeds "${other}" and "${f.source}" share lock id ${f.lockId}`);
    lockIds.set(f.lockId, f.source);
  }
}
