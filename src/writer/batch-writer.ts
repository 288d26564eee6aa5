/**
 * BatchWriter: holds rows for one table (or a group of tables written in one transaction) and
 * writes them in batches. Connectors call add() from their message handlers; add() never waits, so
 * reading a socket never pauses or drops while a write is in flight.
 *
 * States (of the writer as a whole):
 *   IDLE      nothing held.
 *   FILLING   rows buffered; a timer is armed to fire BATCH_MAX_WAIT_MS after the oldest buffered row arrived.
 *   WRITING   1..maxInFlight batches in flight; intake continues into the buffer meanwhile.
 *   RETRYING  a batch failed with a retryable error (database down, connection cut, timeout): it stays
 *             in flight and is retried with exponential backoff + full jitter (retry.baseMs..retry.maxMs)
 *             until it is written. Its rows are never dropped; they keep their place in the budget.
 *   DRAINING  stop() was called: the timer is ignored, everything buffered is written as fast as allowed.
 *   STOPPED   drain finished (or its deadline passed: rows still unwritten go to onAbandon).
 *
 * Transitions:
 *   add()                       IDLE -> FILLING; dispatch at once when the buffer holds maxEvents rows.
 *   timer fires                 FILLING -> WRITING with up to maxEvents of the oldest rows.
 *   write succeeds              release the rows' budget; dispatch again if more rows are due.
 *   write fails, retryable      -> RETRYING (same rows, same batch).
 *   write fails, bad data       the batch is split in halves until the offending row is alone; that
 *                               row goes to onBadRow (it becomes an ingest_rejects row), the rest is written.
 *   stop(deadline)              -> DRAINING -> STOPPED.
 *
 * Memory is bounded by the shared BufferBudget (BUFFER_MAX_EVENTS over all writers); rows that do
 * not fit go to onOverflow, which counts and logs them (and may spill them to disk).
 *
 * Inside a batch, rows with the same key are collapsed with `merge` (one Postgres upsert statement
 * cannot touch one row twice) and sorted by key (concurrent batches locking rows in different orders
 * could deadlock). Correctness never depends on batch order: the SQL itself only lets newer data win.
 */
import { classifyPgError } from '../db/pg-errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { backoffDelay } from '../util/backoff.js';
import { delay } from '../util/delay.js';
import type { BufferBudget } from './buffer-budget.js';

export interface BatchWriterOptions<T> {
  /** Label for logs and metrics, e.g. 'bptf_listings'. */
  readonly name: string;
  readonly maxEvents: number;
  /** Longest time (ms) a buffered row waits before its batch is dispatched. */
  readonly maxWaitMs: number;
  /** Batches written concurrently (default 2: one building on the server while the next is sent). */
  readonly maxInFlight?: number;
  /** Backoff between retries of a failed batch (ms). */
  readonly retry: { readonly baseMs: number; readonly maxMs: number };
  readonly budget: BufferBudget;
  readonly collapse?: { key(row: T): string; merge(older: T, newer: T): T };
  /** Write every row in one statement or transaction. Must be idempotent: a retry may repeat a commit. */
  readonly write: (rows: T[]) => Promise<void>;
  /** Called after a commit with the rows as added (before collapsing). */
  readonly onWritten?: (rows: readonly T[]) => void;
  readonly onBadRow: (row: T, error: unknown) => void;
  readonly onOverflow: (rows: T[]) => void;
  /** Rows still unwritten when a drain's deadline passed. */
  readonly onAbandon?: (rows: T[]) => void;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

type State = 'running' | 'draining' | 'stopped';

export class BatchWriter<T> {
  readonly #o: BatchWriterOptions<T>;
  readonly #maxInFlight: number;
  #pending: T[] = [];
  /** Arrival time (ms) of each pending row, parallel to #pending. */
  #arrivals: number[] = [];
  #inFlight = 0;
  #inFlightRows = 0;
  #timer: NodeJS.Timeout | undefined;
  #state: State = 'running';
  #idleWaiters: Array<() => void> = [];
  /** Aborted when a drain's deadline passes: retry loops give up and hand their rows to onAbandon. */
  readonly #hardStop = new AbortController();
  #consecutiveFailures = 0;

  constructor(options: BatchWriterOptions<T>) {
    this.#o = options;
    this.#maxInFlight = options.maxInFlight ?? 2;
  }

  get name(): string {
    return this.#o.name;
  }

  /** Rows held in memory: buffered plus in flight. */
  get held(): number {
    return this.#pending.length + this.#inFlightRows;
  }

  /** True while at least one write has failed and not yet succeeded since. */
  get failing(): boolean {
    return this.#consecutiveFailures > 0;
  }

  add(rows: readonly T[]): void {
    if (rows.length === 0) return;
    if (this.#state === 'stopped') {
      this.#o.onOverflow([...rows]);
      return;
    }
    const fit = this.#o.budget.reserve(rows.length);
    const now = Date.now();
    for (let i = 0; i < fit; i++) {
      this.#pending.push(rows[i] as T);
      this.#arrivals.push(now);
    }
    if (fit < rows.length) this.#o.onOverflow(rows.slice(fit));
    this.#gauge();
    this.#pump();
  }

  /** Resolves when nothing is buffered or in flight. */
  whenIdle(): Promise<void> {
    if (this.held === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Write everything buffered and stop. When `deadline` aborts first, the rows still unwritten are
   * handed to onAbandon and the returned count says how many.
   */
  async drain(deadline?: AbortSignal): Promise<number> {
    if (this.#state === 'running') this.#state = 'draining';
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#pump();
    const onDeadline = () => this.#hardStop.abort();
    deadline?.addEventListener('abort', onDeadline, { once: true });
    if (deadline?.aborted) onDeadline();
    try {
      await Promise.race([
        this.whenIdle(),
        new Promise<void>((resolve) => this.#hardStop.signal.addEventListener('abort', () => resolve(), { once: true })),
      ]);
    } finally {
      deadline?.removeEventListener('abort', onDeadline);
    }
    this.#state = 'stopped';
    let abandoned = 0;
    if (this.#pending.length > 0) {
      const rows = this.#pending.splice(0);
      this.#arrivals = [];
      this.#o.budget.release(rows.length);
      abandoned += rows.length;
      this.#o.onAbandon?.(rows);
    }
    // Batches still retrying hand their rows to onAbandon themselves when #hardStop aborts.
    await this.whenIdle();
    this.#gauge();
    return abandoned;
  }

  #pump(): void {
    while (this.#inFlight < this.#maxInFlight && this.#pending.length > 0) {
      const due =
        this.#state !== 'running' ||
        this.#pending.length >= this.#o.maxEvents ||
        Date.now() - (this.#arrivals[0] ?? 0) >= this.#o.maxWaitMs;
      if (!due) break;
      const batch = this.#pending.splice(0, this.#o.maxEvents);
      this.#arrivals.splice(0, batch.length);
      this.#inFlight++;
      this.#inFlightRows += batch.length;
      void this.#runBatch(batch);
    }
    this.#armTimer();
  }

  #armTimer(): void {
    if (this.#timer || this.#pending.length === 0 || this.#state !== 'running') return;
    if (this.#inFlight >= this.#maxInFlight) return; // a completing batch pumps again
    const wait = Math.max(0, (this.#arrivals[0] ?? Date.now()) + this.#o.maxWaitMs - Date.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#pump();
    }, wait);
  }

  async #runBatch(batch: T[]): Promise<void> {
    try {
      const rows = this.#collapse(batch);
      const ok = await this.#writeIsolating(rows);
      if (ok) this.#o.onWritten?.(batch);
    } catch (error) {
      // Only a bug in a callback can land here; never let it become an unhandled rejection.
      this.#o.logger.error({ err: error, writer: this.#o.name }, 'batch writer callback failed');
    } finally {
      this.#o.budget.release(batch.length);
      this.#inFlight--;
      this.#inFlightRows -= batch.length;
      this.#gauge();
      this.#pump();
      if (this.held === 0) for (const resolve of this.#idleWaiters.splice(0)) resolve();
    }
  }

  /** Write `rows`; on a data error split them until the bad rows are alone. False when abandoned. */
  async #writeIsolating(rows: T[]): Promise<boolean> {
    const outcome = await this.#writeWithRetry(rows);
    if (outcome === 'abandoned') return false;
    if (outcome === 'ok') return true;
    if (rows.length === 1) {
      this.#o.onBadRow(rows[0] as T, outcome.error);
      return true;
    }
    const half = Math.ceil(rows.length / 2);
    const first = await this.#writeIsolating(rows.slice(0, half));
    const second = await this.#writeIsolating(rows.slice(half));
    return first && second;
  }

  async #writeWithRetry(rows: T[]): Promise<'ok' | 'abandoned' | { error: unknown }> {
    for (let attempt = 0; ; attempt++) {
      if (this.#hardStop.signal.aborted) {
        this.#o.onAbandon?.(rows);
        return 'abandoned';
      }
      const end = this.#o.metrics.batchWriteDuration.startTimer({ writer: this.#o.name });
      try {
        await this.#o.write(rows);
        end();
        if (this.#consecutiveFailures > 0) {
          this.#o.logger.info({ writer: this.#o.name, failures: this.#consecutiveFailures }, 'writes recovered');
        }
        this.#consecutiveFailures = 0;
        return 'ok';
      } catch (error) {
        if (classifyPgError(error) === 'bad_row') return { error };
        this.#consecutiveFailures++;
        this.#o.metrics.writeFailures.inc({ writer: this.#o.name });
        const wait = backoffDelay(attempt, this.#o.retry.baseMs, this.#o.retry.maxMs);
        // Log the first failure and then every tenth, so an outage is visible but does not flood.
        if (this.#consecutiveFailures === 1 || this.#consecutiveFailures % 10 === 0) {
          this.#o.logger.warn(
            { err: error, writer: this.#o.name, rows: rows.length, attempt, retry_in_ms: wait, held: this.held },
            'batch write failed; retrying',
          );
        }
        await delay(wait, this.#hardStop.signal);
      }
    }
  }

  #collapse(batch: T[]): T[] {
    const c = this.#o.collapse;
    if (!c) return batch;
    const byKey = new Map<string, T>();
    for (const row of batch) {
      const key = c.key(row);
      const prev = byKey.get(key);
      byKey.set(key, prev === undefined ? row : c.merge(prev, row));
    }
    const keys = [...byKey.keys()].sort();
    return keys.map((k) => byKey.get(k) as T);
  }

  #gauge(): void {
    this.#o.metrics.bufferEvents.set({ writer: this.#o.name }, this.held);
  }
}
