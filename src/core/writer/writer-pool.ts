import { join } from 'node:path';
import type { Logger } from '../../logger.js';
import type { Metrics } from '../../metrics.js';
import { MigrationsPendingError } from '../db/migrate.js';
import { BatchWriter, type BatchWriterOptions, type Refusal } from './batch-writer.js';
import { BufferBudget } from './buffer-budget.js';
import { Spool, SpoolBudget, type DropReason } from './spool.js';

/** How often an open spool segment is fsync'd (ms): what a hard crash can lose of the spool. */
const SPOOL_FSYNC_INTERVAL_MS = 200;
/** Backoff between batch write retries (ms). */
const WRITE_RETRY = { baseMs: 100, maxMs: 5_000 } as const;
/** At most one "events dropped" line per writer this often (ms); the counter has every one. */
const DROP_LOG_INTERVAL_MS = 10_000;
/**
 * While a writer waits out an outage's backoff (up to WRITE_RETRY.maxMs), the database is probed this
 * often (ms), and the waiting batches are retried as soon as it answers: the first write follows the
 * database's return within about this long, not the backoff.
 */
const RETURN_PROBE_MS = 250;
/** /readyz reports dropping (and not ready) for this long (ms) after the last drop. */
const DROP_VISIBLE_MS = 10_000;

export interface WriterPoolOptions {
  readonly dataDir: string;
  readonly batch: { readonly maxEvents: number; readonly maxWaitMs: number };
  readonly bufferMaxEvents: number;
  readonly bufferMaxBytes: number;
  readonly spoolMaxBytes: number;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** False until the migrations are applied: every write is retried meanwhile (MigrationsPendingError). */
  readonly schemaReady: () => boolean;
  /** Backoff while the database refuses writes (ms): the reconnect backoff. */
  readonly refusingRetry?: { readonly baseMs: number; readonly maxMs: number };
  /** A small write every healthy database accepts (see BatchWriterOptions.canary). */
  readonly canary?: () => Promise<void>;
  /** A cheap question the database answers when it is back (e.g. SELECT 1), asked every RETURN_PROBE_MS during an outage. */
  readonly probe?: () => Promise<void>;
}

/** What a table's writer is told beyond the pool's shared settings. */
export type WriterSpec<T> = Pick<BatchWriterOptions<T>, 'name' | 'collapse' | 'write' | 'onWritten' | 'onBadRow' | 'onWriteError' | 'onRecovered' | 'onRefusing' | 'maxInFlight' | 'sizeOf'> & {
  /** A row as one line of JSON for the spool (default JSON.stringify). */
  readonly encode?: (row: T) => string;
  /** Bytes [start, end) of a spool segment back as a row (default JSON.parse). */
  readonly decode?: (bytes: Buffer, start: number, end: number) => T;
  /** Events of this writer were lost (counted already): e.g. to show the reason in ingest_status.last_error. */
  readonly onDropped?: (message: string) => void;
};

/** The last loss of events, for /readyz. */
export interface DropReport {
  readonly writer: string;
  readonly reason: DropReason;
  readonly error: string | undefined;
  readonly at: Date;
}

/**
 * Every batching writer of the app: they share one memory budget (BUFFER_MAX_EVENTS, BUFFER_MAX_BYTES) and one spool
 * budget (SPOOL_MAX_BYTES), and each spools to `DATA_DIR/spool/<writer>`. Events that neither memory
 * nor the spool can keep are counted by source and reason in tributary_events_dropped_total, logged
 * (at most one error line per writer every 10 s, with the counts), and shown in /readyz.
 */
export class WriterPool {
  readonly budget: BufferBudget;
  readonly #spoolBudget: SpoolBudget;
  readonly #o: WriterPoolOptions;
  readonly #writers: Array<Pick<BatchWriter<unknown>, 'name' | 'failing' | 'refusal' | 'waitingOutage' | 'retryNow' | 'oldestWaitingAt'>> = [];
  #probeTimer: NodeJS.Timeout | undefined;
  #probing = false;
  #lastDrop: DropReport | undefined;
  readonly #spools: Array<Spool<unknown>> = [];
  /** Every SQLSTATE the refusing gauge has shown: set back to 0 when no writer is refused with it. */
  readonly #refusedStates = new Set<string>();

  constructor(options: WriterPoolOptions) {
    this.#o = options;
    this.budget = new BufferBudget(options.bufferMaxEvents, options.bufferMaxBytes);
    this.#spoolBudget = new SpoolBudget(options.spoolMaxBytes);
  }

  /** Bytes in every writer's spool. */
  get spoolBytes(): number {
    return this.#spoolBudget.bytes;
  }

  /** Retry every batch waiting out a transient failure now (e.g. the migrations were just applied). */
  retryNow(): void {
    for (const w of this.#writers) w.retryNow();
  }

  /** Stop the outage probe. */
  stop(): void {
    clearInterval(this.#probeTimer);
    this.#probeTimer = undefined;
  }

  /** During an outage, ask the database every RETURN_PROBE_MS; when it answers, the waiting batches go at once. */
  #probeReturn(): void {
    const probe = this.#o.probe;
    if (!probe || this.#probing || !this.#writers.some((w) => w.waitingOutage)) return;
    this.#probing = true;
    probe().then(
      () => {
        this.#probing = false;
        this.retryNow();
      },
      () => {
        this.#probing = false;
      },
    );
  }

  /** Age of the oldest event waiting in any spool (s); 0 when every spool is empty. */
  get spoolOldestSeconds(): number {
    let oldest = Number.POSITIVE_INFINITY;
    for (const spool of this.#spools) oldest = Math.min(oldest, spool.oldestAt ?? Number.POSITIVE_INFINITY);
    return Number.isFinite(oldest) ? Math.max(0, Math.round((Date.now() - oldest) / 1000)) : 0;
  }

  /** Age of the oldest event waiting to be written, in memory or in a spool (s); 0 when none waits. */
  get oldestWaitingSeconds(): number {
    let oldest = Number.POSITIVE_INFINITY;
    for (const w of this.#writers) oldest = Math.min(oldest, w.oldestWaitingAt ?? Number.POSITIVE_INFINITY);
    for (const spool of this.#spools) oldest = Math.min(oldest, spool.oldestAt ?? Number.POSITIVE_INFINITY);
    return Number.isFinite(oldest) ? Math.max(0, Math.round((Date.now() - oldest) / 1000)) : 0;
  }

  /** True while any writer's last write failed. */
  get failing(): boolean {
    return this.#writers.some((w) => w.failing);
  }

  /** Why the database refuses writes, while it refuses any writer's (the oldest refusal). */
  get refusal(): (Refusal & { readonly writer: string }) | undefined {
    let oldest: (Refusal & { writer: string }) | undefined;
    for (const w of this.#writers) {
      const r = w.refusal;
      if (r && (!oldest || r.since < oldest.since)) oldest = { ...r, writer: w.name };
    }
    return oldest;
  }

  /** tributary_database_refusing{sqlstate}: 1 for each SQLSTATE a writer is refused with now, 0 for the others seen. */
  #refusingGauge(): void {
    const now = new Set<string>();
    for (const w of this.#writers) if (w.refusal) now.add(w.refusal.sqlstate);
    for (const s of now) this.#refusedStates.add(s);
    for (const s of this.#refusedStates) this.#o.metrics.databaseRefusing.set({ sqlstate: s }, now.has(s) ? 1 : 0);
  }

  /** The last loss of events, while it is recent (DROP_VISIBLE_MS): /readyz says why it is not ready. */
  get dropping(): DropReport | undefined {
    const d = this.#lastDrop;
    return d && Date.now() - d.at.getTime() < DROP_VISIBLE_MS ? d : undefined;
  }

  create<T>(source: string, spec: WriterSpec<T>): BatchWriter<T> {
    const { metrics, spoolMaxBytes, bufferMaxEvents } = this.#o;
    const name = spec.name;
    const log = this.#o.logger.child({ writer: name });
    const spool =
      spoolMaxBytes > 0
        ? new Spool<T>({ dir: join(this.#o.dataDir, 'spool', name), budget: this.#spoolBudget, fsyncIntervalMs: SPOOL_FSYNC_INTERVAL_MS, logger: log, encode: spec.encode, decode: spec.decode })
        : undefined;
    if (spool) this.#spools.push(spool as Spool<unknown>);
    spool?.onChange(() => metrics.spoolBytes.set({ writer: name }, spool.bytes));
    metrics.spoolBytes.set({ writer: name }, spool?.bytes ?? 0);
    // Counts by reason since the last log line: one error line per DROP_LOG_INTERVAL_MS at most.
    let unlogged = new Map<string, number>();
    let lastLog = 0;
    const dropped = (rows: T[], reason: DropReason, error?: string) => {
      if (rows.length === 0) return;
      metrics.eventsDropped.inc({ source, reason }, rows.length);
      this.#lastDrop = { writer: name, reason, error, at: new Date() };
      spec.onDropped?.(`${rows.length} events dropped (${reason})${error ? `: ${error}` : ''}`);
      unlogged.set(reason, (unlogged.get(reason) ?? 0) + rows.length);
      if (Date.now() - lastLog >= DROP_LOG_INTERVAL_MS) {
        lastLog = Date.now();
        const counts = Object.fromEntries(unlogged);
        unlogged = new Map();
        log.error(
          { dropped: counts, error, buffer_max_events: bufferMaxEvents, spool_max_bytes: spoolMaxBytes },
          'events dropped: neither the memory buffer nor the spool could keep them',
        );
      }
    };
    const writer = new BatchWriter<T>({
      ...spec,
      // Writers exist from the first second, so feeds can read while the database is away; no
      // write may reach it before its schema does.
      write: async (rows) => {
        if (!this.#o.schemaReady()) throw new MigrationsPendingError();
        await spec.write(rows);
      },
      spool,
      maxEvents: this.#o.batch.maxEvents,
      maxWaitMs: this.#o.batch.maxWaitMs,
      retry: WRITE_RETRY,
      refusingRetry: this.#o.refusingRetry,
      canary: this.#o.canary,
      onRefusing: (refusal) => {
        this.#refusingGauge();
        spec.onRefusing?.(refusal);
      },
      budget: this.budget,
      logger: log,
      metrics,
      onOverflow: dropped,
      onAbandon: dropped,
    });
    this.#writers.push(writer);
    if (this.#o.probe && !this.#probeTimer) {
      this.#probeTimer = setInterval(() => this.#probeReturn(), RETURN_PROBE_MS);
      this.#probeTimer.unref();
    }
    return writer;
  }
}
