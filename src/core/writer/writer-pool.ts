import { join } from 'node:path';
import type { Logger } from '../../logger.js';
import type { Metrics } from '../../metrics.js';
import { BatchWriter, type BatchWriterOptions } from './batch-writer.js';
import { BufferBudget } from './buffer-budget.js';
import { Spool, SpoolBudget } from './spool.js';

/** How often an open spool segment is fsync'd (ms): what a hard crash can lose of the spool. */
const SPOOL_FSYNC_INTERVAL_MS = 200;
/** Backoff between batch write retries (ms). */
const WRITE_RETRY = { baseMs: 100, maxMs: 5_000 } as const;
/** At most one "events dropped" line per writer this often (ms); the counter has every one. */
const OVERFLOW_LOG_INTERVAL_MS = 10_000;

export interface WriterPoolOptions {
  readonly dataDir: string;
  readonly batch: { readonly maxEvents: number; readonly maxWaitMs: number };
  readonly bufferMaxEvents: number;
  readonly spoolMaxBytes: number;
  readonly metrics: Metrics;
  readonly logger: Logger;
}

/** What a table's writer is told beyond the pool's shared settings. */
export type WriterSpec<T> = Pick<BatchWriterOptions<T>, 'name' | 'collapse' | 'write' | 'onWritten' | 'onBadRow' | 'maxInFlight'>;

/**
 * Every batching writer of the app: they share one memory budget (BUFFER_MAX_EVENTS) and one spool
 * budget (SPOOL_MAX_BYTES), and each spools to `DATA_DIR/spool/<writer>`. Events that neither memory
 * nor the spool can hold are counted per source in tributary_events_dropped_total and logged.
 */
export class WriterPool {
  readonly budget: BufferBudget;
  readonly #spoolBudget: SpoolBudget;
  readonly #o: WriterPoolOptions;
  readonly #writers: Array<{ readonly failing: boolean }> = [];

  constructor(options: WriterPoolOptions) {
    this.#o = options;
    this.budget = new BufferBudget(options.bufferMaxEvents);
    this.#spoolBudget = new SpoolBudget(options.spoolMaxBytes);
  }

  /** True while any writer's last write failed. */
  get failing(): boolean {
    return this.#writers.some((w) => w.failing);
  }

  create<T>(source: string, spec: WriterSpec<T>): BatchWriter<T> {
    const { metrics, spoolMaxBytes, bufferMaxEvents } = this.#o;
    const name = spec.name;
    const log = this.#o.logger.child({ writer: name });
    const spool =
      spoolMaxBytes > 0
        ? new Spool<T>({ dir: join(this.#o.dataDir, 'spool', name), budget: this.#spoolBudget, fsyncIntervalMs: SPOOL_FSYNC_INTERVAL_MS, logger: log })
        : undefined;
    spool?.onChange(() => metrics.spoolBytes.set({ writer: name }, spool.bytes));
    metrics.spoolBytes.set({ writer: name }, spool?.bytes ?? 0);
    let lastOverflowLog = 0;
    const writer = new BatchWriter<T>({
      ...spec,
      spool,
      maxEvents: this.#o.batch.maxEvents,
      maxWaitMs: this.#o.batch.maxWaitMs,
      retry: WRITE_RETRY,
      budget: this.budget,
      logger: log,
      metrics,
      onOverflow: (rows) => {
        metrics.eventsDropped.inc({ source }, rows.length);
        if (Date.now() - lastOverflowLog > OVERFLOW_LOG_INTERVAL_MS) {
          lastOverflowLog = Date.now();
          log.error({ dropped: rows.length, buffer_max_events: bufferMaxEvents, spool_max_bytes: spoolMaxBytes }, 'memory buffer and spool full: events dropped');
        }
      },
      onAbandon: (rows) => {
        metrics.eventsDropped.inc({ source }, rows.length);
        log.error({ count: rows.length }, 'shutdown deadline passed with events unwritten');
      },
    });
    this.#writers.push(writer);
    return writer;
  }
}
