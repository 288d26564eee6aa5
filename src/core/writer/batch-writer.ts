/**
 * BatchWriter: holds rows for one table (or a group of tables written in one transaction) and
 * writes them in batches. Connectors call add() from their message handlers; add() never waits, so
 * reading a socket never pauses or drops while a write is in flight.
 *
 * States (`#state`):
 *   running   add() buffers rows. A batch of up to maxEvents of the oldest rows is dispatched when a
 *             write slot is free and either maxEvents rows are buffered or the oldest has waited
 *             maxWaitMs (a timer is armed for that moment). Up to maxInFlight batches are written at
 *             once; the slots are a p-queue with that concurrency.
 *   draining  drain() was called: every buffered row is due at once. The spool is still replayed while
 *             writes succeed, until the drain's `replayUntil` aborts (the daemon gives it a few seconds of
 *             its stop): a stop with the database up writes what the spool holds, rather than leaving it
 *             to a next start that may be long in coming. What is not written then stays on disk.
 *   stopped   the drain finished, or its deadline passed: rows still unwritten are appended to the
 *             spool (or, without room there, handed to onAbandon). add() hands rows to onOverflow.
 *
 * What happens to a batch (in any state):
 *   written             its rows' budget is released, onWritten is called, the next batch may start.
 *   transient failure   (database down, connection cut, timeout, cancel: see classifyWriteError) it keeps
 *                       its slot and is retried with exponential backoff + full jitter (retry.baseMs..retry.maxMs)
 *                       until written, or until a drain's deadline passes (then its rows are abandoned as above).
 *   database refusing   (read-only, a privilege or a table gone, authentication) the rows are not at fault:
 *                       held like a transient failure, retried forever at refusingRetry's backoff, and
 *                       reported (onRefusing, an error line at most every REFUSING_LOG_MS) until a write passes.
 *   the row's fault     (a data exception, an integrity or program limit, an event the client cannot encode)
 *                       the batch is split in halves until each offending row is alone; that row goes to
 *                       onBadRow (it becomes an ingest_rejects row), the rest is written.
 *   unclassified        a canary write decides: it fails too, the database is refusing; it passes, the row is.
 *
 * Memory is bounded by the shared BufferBudget (BUFFER_MAX_EVENTS and BUFFER_MAX_BYTES over all writers). Rows that do not
 * fit go to the writer's Spool on disk (when it has one) and, past SPOOL_MAX_BYTES, to onOverflow,
 * which counts and logs them. While writes fail, or a write has gone unanswered for spillAfterMs (a
 * database that hangs), rows from the socket held for more than spillAfterMs (1 s) are put on disk as
 * well (buffered ones move there, batches in flight get a copy), so a crash during an outage loses at
 * most about a second of events; rows the spool cannot take then stay in memory, which still has room
 * for them. While running, with memory below half full and writes succeeding, the oldest spool
 * segments are loaded (up to MAX_REPLAYS: the next is read while the current one is written) and their
 * rows are written like any others, less those a newer row of their key later in the spool makes moot
 * (with `collapse.supersede`: superseded-rows.ts); a segment is deleted once all of them are committed,
 * and put back for a later replay when a shutdown leaves any of them unwritten.
 *
 * Inside a batch, rows with the same key are collapsed with `merge` (one Postgres upsert statement
 * cannot touch one row twice) and sorted by key (concurrent batches locking rows in different orders
 * could deadlock). Correctness never depends on batch order: the SQL itself only lets newer data win.
 */
import PQueue from 'p-queue';
import { classifyWriteError, type ClassifiedError } from '../db/pg-errors.js';
import { RetryableError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { Metrics } from '../../metrics.js';
import { backoffDelay } from '../../util/backoff.js';
import { delay } from '../../util/delay.js';
import type { BufferBudget } from './buffer-budget.js';
import type { DropReason, Spool, SpoolDrop, SpoolSegment } from './spool.js';
import { SupersededRows, type Supersede } from './superseded-rows.js';

export interface BatchWriterOptions<T> {
  /** The table: the `writer` label of metrics (the logger is expected to carry it already). */
  readonly name: string;
  readonly maxEvents: number;
  /** Longest time (ms) a buffered row waits before its batch is dispatched. */
  readonly maxWaitMs: number;
  /** Batches written concurrently (default 2: one building on the server while the next is sent). */
  readonly maxInFlight?: number;
  /** Backoff between retries of a failed batch (ms). */
  readonly retry: { readonly baseMs: number; readonly maxMs: number };
  /** Backoff between retries while the database refuses writes (ms; default `retry`). */
  readonly refusingRetry?: { readonly baseMs: number; readonly maxMs: number };
  /**
   * A small write every healthy database accepts: asked after an error whose scope is unknown. It
   * fails too: the database is refusing and the rows are held; it passes: the row is at fault.
   * Without one, such an error is the row's.
   */
  readonly canary?: () => Promise<void>;
  /** A write passed after failed ones: the outage (or refusal) is over. */
  readonly onRecovered?: () => void;
  /** The database started refusing this writer's writes (a Refusal), or accepts them again (undefined). */
  readonly onRefusing?: (refusal: Refusal | undefined) => void;
  readonly budget: BufferBudget;
  /** Rows with the same key in a batch are merged; with `supersede`, a replay skips rows a newer one in the spool makes moot (superseded-rows.ts). */
  readonly collapse?: { key(row: T): string; merge(older: T, newer: T): T; readonly supersede?: Supersede<T> };
  /** Write every row in one statement or transaction. Must be idempotent: a retry may repeat a commit. */
  readonly write: (rows: T[]) => Promise<void>;
  /**
   * Called after a commit with the rows as added (before collapsing), less any the database refused,
   * each counted once: `rows` were received by this run; `replayed` came from a spool an earlier run
   * left; spool copies of batches of this run are in neither (their batch counted them), nor are
   * rows of a replayed segment that went back to disk meanwhile (its next replay counts them all).
   */
  readonly onWritten?: (rows: readonly T[], replayed: readonly T[]) => void;
  readonly onBadRow: (row: T, error: unknown) => void;
  /** The first failed write of an outage (it will be retried): its error, for `last_error`. */
  readonly onWriteError?: (message: string) => void;
  /** Rows that neither memory nor the spool could keep, and why (they are lost: count and log them). */
  readonly onOverflow: (rows: T[], reason: DropReason, error?: string) => void;
  /** Rows still unwritten when a drain's deadline passed and the spool could not take them. */
  readonly onAbandon?: (rows: T[], reason: DropReason, error?: string) => void;
  /** A row's size in memory (bytes of payload, estimated) for BUFFER_MAX_BYTES; absent: 0. */
  readonly sizeOf?: (row: T) => number;
  /** On-disk overflow; without one, rows past the memory budget go straight to onOverflow. */
  readonly spool?: Spool<T>;
  /** While writes fail, rows held longer than this (ms) are put on disk too (default 1 s): what a crash can lose. */
  readonly spillAfterMs?: number;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

type State = 'running' | 'draining' | 'stopped';

/** Why the database refuses writes, since when. */
export interface Refusal {
  readonly sqlstate: string;
  readonly reason: string;
  readonly since: Date;
}

/** At most one error line this often (ms) while the database refuses writes. */
const REFUSING_LOG_MS = 30_000;

/** While writes fail, rows held in memory only for longer than this (ms) are put on disk: what a crash can lose. */
const SPILL_AFTER_MS = 1_000;
/** Spool segments replayed at once: the next is read while the current one is written (two 8 MiB segments at most). */
const MAX_REPLAYS = 2;
/** A spool that cannot be replayed yet (memory over half full, writes failing) is looked at again this often (ms). */
const REPLAY_RETRY_MS = 250;
/** How often (ms) that is checked while writes fail. */
const SPILL_CHECK_MS = 250;
/** After the spool refused rows (disk full, permissions), spilling is tried again this much later (ms). */
const SPOOL_RETRY_MS = 5_000;

/** A spool segment being replayed: deleted once `outstanding` reaches 0, kept if any of its rows is abandoned. */
interface Replay<T> {
  readonly segment: SpoolSegment;
  outstanding: number;
  abandoned: boolean;
  /** Its rows that a newer row in the spool makes moot: not written, counted as written when the segment is done. */
  readonly moot: readonly T[];
}

export class BatchWriter<T> {
  readonly #o: BatchWriterOptions<T>;
  readonly #maxInFlight: number;
  #pending: T[] = [];
  /** Arrival time (ms) of each pending row, parallel to #pending. */
  #arrivals: number[] = [];
  /** Size (bytes, from sizeOf) of each pending row, parallel to #pending. */
  #sizes: number[] = [];
  /** The replay each pending row came from (undefined for rows from the socket), parallel to #pending. */
  #origins: Array<Replay<T> | undefined> = [];
  /** Spool segments being replayed, oldest first: at most MAX_REPLAYS at once. */
  readonly #replays = new Set<Replay<T>>();
  /** The write slots: one running task per batch in flight. */
  readonly #slots: PQueue;
  #inFlightRows = 0;
  #timer: NodeJS.Timeout | undefined;
  #state: State = 'running';
  #idleWaiters: Array<() => void> = [];
  /** Aborted when a drain's deadline passes: retry loops give up and hand their rows to onAbandon. */
  readonly #hardStop = new AbortController();
  #consecutiveFailures = 0;
  /** Batches being written, with when each started (ms): an outage copies the old ones to the spool. */
  readonly #inFlight = new Map<T[], { readonly origins: Array<Replay<T> | undefined>; readonly since: number }>();
  /** Batches whose rows already have a copy in the spool (made while they were retrying). */
  readonly #copied = new WeakSet<T[]>();
  #spillTimer: NodeJS.Timeout | undefined;
  #refusal: Refusal | undefined;
  #refusingLoggedAt = 0;
  /** Armed while the spool holds rows that cannot be replayed yet (see #maybeReplay). */
  #replayTimer: NodeJS.Timeout | undefined;
  /** Aborted (and replaced) by retryNow(): wakes the batches waiting out an outage's backoff. */
  #wake = new AbortController();
  /** Batches waiting out a backoff after a connection error or another transient one from the database. */
  #waitingOutage = 0;
  /** When the spool last refused rows this writer tried to spill (ms): they stay in memory a while. */
  #spoolRefusedAt = 0;
  /** Per key, the newest whole row in the spool: a replay skips the rows it makes moot. */
  readonly #superseded: SupersededRows<T> | undefined;
  /** Set while the rows of a spool an earlier run left are being noted in #superseded: no replay starts meanwhile. */
  #noting: Promise<void> | undefined;
  /** While draining: spool replays may start until this aborts (drain's `replayUntil`); none without one. */
  #replayUntil: AbortSignal | undefined;

  constructor(options: BatchWriterOptions<T>) {
    this.#o = options;
    this.#maxInFlight = options.maxInFlight ?? 2;
    this.#slots = new PQueue({ concurrency: this.#maxInFlight });
    const c = options.collapse;
    this.#superseded = c?.supersede ? new SupersededRows(c.key, c.supersede) : undefined;
    // A finished batch frees its slot only after its task settled: the next batch is dispatched then.
    this.#slots.on('next', () => this.#pump());
    // A spool left by an earlier run starts replaying as soon as the loop is free; with a `supersede`,
    // once its rows are noted (they were noted in the run that spooled them, which is gone).
    const spool = options.spool;
    if (spool && !spool.isEmpty) {
      const superseded = this.#superseded;
      if (superseded && spool.earlierSegments.length > 0) {
        this.#noting = this.#noteEarlier(spool, superseded).finally(() => {
          this.#noting = undefined;
          this.#pump();
        });
      } else setImmediate(() => this.#pump());
    }
  }

  get name(): string {
    return this.#o.name;
  }

  /** Rows held in memory: buffered plus in flight. */
  get held(): number {
    return this.#pending.length + this.#inFlightRows;
  }

  /**
   * When the oldest event this writer holds in memory arrived (ms since epoch); undefined when it holds
   * none. A batch being written counts from its first attempt, which is at most maxWaitMs after its
   * oldest event arrived.
   */
  get oldestWaitingAt(): number | undefined {
    let oldest = this.#arrivals[0] ?? Number.POSITIVE_INFINITY;
    for (const { since } of this.#inFlight.values()) oldest = Math.min(oldest, since);
    return Number.isFinite(oldest) ? oldest : undefined;
  }

  /** True while at least one write has failed and not yet succeeded since. */
  get failing(): boolean {
    return this.#consecutiveFailures > 0;
  }

  /** True while a batch waits out a transient database error's backoff: retryNow() would retry it at once. */
  get waitingOutage(): boolean {
    return this.#waitingOutage > 0;
  }

  /**
   * The database answers again (a probe passed, or the migrations are applied): retry the batches
   * waiting out a transient failure now, rather than at the end of a backoff of up to seconds.
   */
  retryNow(): void {
    this.#wake.abort();
    this.#wake = new AbortController();
  }

  /** Why the database refuses this writer's writes, while it does. */
  get refusal(): Refusal | undefined {
    return this.#refusal;
  }

  /** True while a batch has been in flight for longer than spillAfterMs: the database does not answer. */
  #stalled(now = Date.now()): boolean {
    const cutoff = now - (this.#o.spillAfterMs ?? SPILL_AFTER_MS);
    for (const { since } of this.#inFlight.values()) if (since <= cutoff) return true;
    return false;
  }

  add(rows: readonly T[]): void {
    if (rows.length === 0) return;
    if (this.#state === 'stopped') {
      this.#o.onOverflow([...rows], 'shutdown');
      return;
    }
    const sizeOf = this.#o.sizeOf;
    const sizes = sizeOf ? rows.map(sizeOf) : new Array<number>(rows.length).fill(0);
    const fit = this.#o.budget.reserve(sizes);
    const now = Date.now();
    for (let i = 0; i < fit; i++) {
      this.#pending.push(rows[i] as T);
      this.#sizes.push(sizes[i] as number);
      this.#arrivals.push(now);
      this.#origins.push(undefined);
    }
    if (fit < rows.length) this.#overflow(rows.slice(fit));
    this.#gauge();
    this.#pump();
  }

  #overflow(rows: T[]): void {
    if (!this.#o.spool) return this.#o.onOverflow(rows, 'memory_full');
    for (const d of this.#spoolAppend(this.#o.spool, rows)) this.#o.onOverflow(d.rows, d.reason, d.error);
  }

  /** Resolves when nothing is buffered or in flight. */
  whenIdle(): Promise<void> {
    if (this.held === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Write everything buffered and stop. When `deadline` aborts first, the rows still unwritten are
   * handed to onAbandon and the returned count says how many. With `replayUntil`, the spool is
   * written too, segment by segment while writes succeed, until it aborts; a segment being written
   * when the deadline passes goes back to disk whole, for the next start.
   */
  async drain(deadline?: AbortSignal, replayUntil?: AbortSignal): Promise<number> {
    if (this.#state === 'running') this.#state = 'draining';
    this.#replayUntil = replayUntil;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#pump();
    const onDeadline = () => this.#hardStop.abort();
    deadline?.addEventListener('abort', onDeadline, { once: true });
    if (deadline?.aborted) onDeadline();
    try {
      await Promise.race([
        this.#drained(),
        new Promise<void>((resolve) => this.#hardStop.signal.addEventListener('abort', () => resolve(), { once: true })),
      ]);
    } finally {
      deadline?.removeEventListener('abort', onDeadline);
    }
    this.#state = 'stopped';
    clearTimeout(this.#replayTimer);
    this.#replayTimer = undefined;
    clearInterval(this.#spillTimer);
    this.#spillTimer = undefined;
    let abandoned = 0;
    if (this.#pending.length > 0) {
      const rows = this.#pending.splice(0);
      const origins = this.#origins.splice(0);
      this.#arrivals = [];
      this.#o.budget.release(rows.length, sum(this.#sizes.splice(0)));
      abandoned += this.#abandon(rows, origins);
    }
    // Batches still retrying abandon their rows themselves when #hardStop aborts.
    await this.#slots.onIdle();
    this.#o.spool?.close();
    this.#gauge();
    return abandoned;
  }

  /**
   * Resolves once nothing is held and the drain replays no more of the spool: it is empty, writes
   * fail (an outage: the spool waits for the next start), or `replayUntil` aborted.
   */
  async #drained(): Promise<void> {
    for (;;) {
      await this.whenIdle();
      const spool = this.#o.spool;
      if (!spool || spool.isEmpty || !this.#mayReplay() || this.#consecutiveFailures > 0) return;
      const bytes = spool.bytes;
      this.#pump();
      if (this.held > 0) continue;
      // A segment went without a write (all its rows moot, or unreadable): the next one, after the
      // sockets' turn. Nothing started (memory still held by another writer, an earlier run's spool
      // being noted): look again shortly, until the replay window or the deadline ends.
      if (spool.bytes < bytes) await new Promise((resolve) => setImmediate(resolve));
      else await delay(REPLAY_RETRY_MS, AbortSignal.any([this.#hardStop.signal, this.#replayUntil as AbortSignal]));
    }
  }

  /** Spool replays start while running, and while draining until the drain's `replayUntil` aborts. */
  #mayReplay(): boolean {
    if (this.#state === 'running') return true;
    return this.#state === 'draining' && this.#replayUntil !== undefined && !this.#replayUntil.aborted && !this.#hardStop.signal.aborted;
  }

  #pump(): void {
    while (this.#slots.pending < this.#maxInFlight && this.#pending.length > 0) {
      // Rows from a replay waited on disk already: waiting maxWaitMs more for a fuller batch only held
      // the replay's segment (and the next one's load) back; with most rows of a segment moot, a
      // replay of 64 segments spent 7 s in those waits.
      const due =
        this.#state !== 'running' ||
        this.#pending.length >= this.#o.maxEvents ||
        this.#origins[0] !== undefined ||
        Date.now() - (this.#arrivals[0] ?? 0) >= this.#o.maxWaitMs;
      if (!due) break;
      const batch = this.#pending.splice(0, this.#o.maxEvents);
      this.#arrivals.splice(0, batch.length);
      const origins = this.#origins.splice(0, batch.length);
      const bytes = sum(this.#sizes.splice(0, batch.length));
      this.#inFlightRows += batch.length;
      // Starts at once (a slot is free); #runBatch never rejects.
      void this.#slots.add(() => this.#runBatch(batch, origins, bytes));
    }
    this.#maybeReplay();
    this.#armTimer();
  }

  /**
   * Load the oldest spool segment when memory is below half full and writes are succeeding, and the
   * rows waiting would not fill the write slots' next batches: the next segment is read while the
   * current one is written, so the slots never run empty at a segment's end while the spool holds rows.
   */
  #maybeReplay(): void {
    const spool = this.#o.spool;
    if (!spool || spool.isEmpty || !this.#mayReplay() || this.#noting) return;
    // Whatever stands in the way may pass without any event of this writer's (the memory budget is
    // shared: another writer's rows free it), so look again shortly rather than wait for one.
    if (this.#replays.size >= MAX_REPLAYS || this.#pending.length >= this.#o.maxEvents * this.#maxInFlight || this.#consecutiveFailures > 0 || !this.#o.budget.roomToReplay || this.#stalled()) {
      this.#replayTimer ??= setTimeout(() => {
        this.#replayTimer = undefined;
        this.#pump();
      }, REPLAY_RETRY_MS).unref();
      return;
    }
    const taken = spool.takeOldest();
    if (!taken) return;
    if (taken.rows.length === 0) {
      spool.ack(taken.segment);
      return;
    }
    const { kept, moot } = this.#superseded?.split(taken.rows) ?? { kept: taken.rows, moot: [] };
    const replay: Replay<T> = { segment: taken.segment, outstanding: kept.length, abandoned: false, moot };
    this.#o.logger.debug({ rows: kept.length, moot: moot.length, bytes: taken.segment.bytes }, 'replaying a spool segment');
    if (kept.length === 0) {
      this.#done(replay);
      // The next segment on the next turn of the loop: a run of wholly moot segments (each read and
      // decoded here, 8 MiB) must not hold the sockets and /readyz for all of them at once.
      setImmediate(() => this.#pump());
      return;
    }
    this.#replays.add(replay);
    // The segment was sized to fit; it may overshoot the memory budget by at most one segment.
    const sizeOf = this.#o.sizeOf;
    const sizes = sizeOf ? kept.map(sizeOf) : new Array<number>(kept.length).fill(0);
    this.#o.budget.force(kept.length, sum(sizes));
    const now = Date.now();
    for (const [i, row] of kept.entries()) {
      this.#pending.push(row);
      this.#sizes.push(sizes[i] as number);
      this.#arrivals.push(now);
      this.#origins.push(replay);
    }
    this.#gauge();
    this.#pump();
  }

  /** Settle the replays of rows that were committed (or rejected as bad): delete finished segments. */
  #settle(origins: ReadonlyArray<Replay<T> | undefined>): void {
    for (const r of origins) {
      if (!r) continue;
      r.outstanding--;
      if (r.outstanding === 0) {
        this.#replays.delete(r);
        if (!r.abandoned) this.#done(r);
      }
    }
  }

  /**
   * Every row of a replayed segment is committed (or refused as bad): delete it, and count its moot
   * rows as written (by its kind, as #committed counts the others). With the spool empty, nothing
   * noted for skipping is on disk any more.
   */
  #done(r: Replay<T>): void {
    const spool = this.#o.spool;
    spool?.ack(r.segment);
    if (r.moot.length > 0 && r.segment.kind !== 'copy') {
      const moot = r.moot as T[];
      this.#o.onWritten?.(r.segment.kind === 'earlier' ? [] : moot, r.segment.kind === 'earlier' ? moot : []);
    }
    if (spool?.isEmpty && this.#replays.size === 0) this.#superseded?.clear();
  }

  /**
   * Rows that will not be written from memory: rows from the socket go to the spool (or onAbandon
   * without one) unless a copy is there already; rows from a replayed segment are still on disk, so
   * the segment is kept for a later replay.
   */
  #abandon(rows: T[], origins: ReadonlyArray<Replay<T> | undefined>, onDiskAlready = false): number {
    const fresh: T[] = [];
    rows.forEach((row, i) => {
      const r = origins[i];
      if (!r) fresh.push(row);
      else if (!r.abandoned) {
        // The segment goes back for a later replay, and the next replay may start: without clearing
        // the mark, nothing would replay again until a restart.
        r.abandoned = true;
        this.#o.spool?.release(r.segment);
        this.#replays.delete(r);
      }
    });
    if (fresh.length === 0 || onDiskAlready) return 0;
    const drops = this.#o.spool ? this.#spoolAppend(this.#o.spool, fresh) : [{ rows: fresh, reason: 'shutdown' as const }];
    let lost = 0;
    for (const d of drops) {
      lost += d.rows.length;
      this.#o.onAbandon?.(d.rows, d.reason, d.error);
    }
    if (lost < fresh.length) {
      this.#o.logger.warn({ spooled: fresh.length - lost }, 'unwritten events saved to the spool');
    }
    return lost;
  }

  #armTimer(): void {
    if (this.#timer || this.#pending.length === 0 || this.#state !== 'running') return;
    if (this.#slots.pending >= this.#maxInFlight) return; // a completing batch pumps again
    const wait = Math.max(0, (this.#arrivals[0] ?? Date.now()) + this.#o.maxWaitMs - Date.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#pump();
    }, wait);
  }

  async #runBatch(batch: T[], origins: Array<Replay<T> | undefined>, bytes: number): Promise<void> {
    this.#inFlight.set(batch, { origins, since: Date.now() });
    this.#armSpill(); // a write that goes unanswered is an outage too
    try {
      const rows = this.#collapse(batch);
      const refused: T[] = [];
      const ok = await this.#writeIsolating(rows, refused);
      if (ok) {
        this.#settle(origins);
        const { rows: counted, replayed } = this.#committed(batch, origins, refused);
        this.#o.onWritten?.(counted, replayed);
      } else this.#abandon(batch, origins, this.#copied.has(batch));
    } catch (error) {
      // Only a bug in a callback can land here; never let it become an unhandled rejection.
      this.#o.logger.error({ err: error }, 'batch writer callback failed');
    } finally {
      this.#inFlight.delete(batch);
      this.#o.budget.release(batch.length, bytes);
      this.#inFlightRows -= batch.length;
      this.#gauge();
      if (this.held === 0) for (const resolve of this.#idleWaiters.splice(0)) resolve();
    }
  }

  /**
   * Write `rows`; on a data error split them until the bad rows are alone, and hand each to onBadRow
   * (and to `refused`). False when abandoned.
   */
  async #writeIsolating(rows: T[], refused: T[]): Promise<boolean> {
    const outcome = await this.#writeWithRetry(rows);
    if (outcome === 'abandoned') return false;
    if (outcome === 'ok') return true;
    if (rows.length === 1) {
      refused.push(rows[0] as T);
      this.#o.onBadRow(rows[0] as T, outcome.error);
      return true;
    }
    const half = Math.ceil(rows.length / 2);
    const first = await this.#writeIsolating(rows.slice(0, half), refused);
    const second = await this.#writeIsolating(rows.slice(half), refused);
    return first && second;
  }

  /** The batch's rows (as added) less those the database refused (a refused row may be a merge of several added ones), by where they came from. */
  #committed(batch: readonly T[], origins: ReadonlyArray<Replay<T> | undefined>, refused: readonly T[]): { rows: readonly T[]; replayed: T[] } {
    if (refused.length === 0 && origins.every((o) => o === undefined)) return { rows: batch, replayed: [] };
    const c = this.#o.collapse;
    const refusedKeys = c ? new Set(refused.map((row) => c.key(row))) : undefined;
    const refusedRows = c ? undefined : new Set(refused);
    const rows: T[] = [];
    const replayed: T[] = [];
    batch.forEach((row, i) => {
      if (refusedKeys?.has((c as NonNullable<typeof c>).key(row)) || refusedRows?.has(row)) return;
      const origin = origins[i];
      // A segment that went back to disk while this batch was in flight is replayed again whole,
      // and that replay counts these rows: counted now too, they would count twice.
      if (origin?.segment.kind === 'copy' || origin?.abandoned) return;
      (origin?.segment.kind === 'earlier' ? replayed : rows).push(row);
    });
    return { rows, replayed };
  }

  async #writeWithRetry(rows: T[]): Promise<'ok' | 'abandoned' | { error: unknown }> {
    for (let attempt = 0; ; attempt++) {
      if (this.#hardStop.signal.aborted) return 'abandoned';
      const end = this.#o.metrics.batchWriteDuration.startTimer({ writer: this.#o.name });
      try {
        await this.#o.write(rows);
        end();
        if (this.#consecutiveFailures > 0) {
          this.#o.logger.info({ failures: this.#consecutiveFailures }, 'writes recovered');
          this.#o.onRecovered?.();
        }
        this.#consecutiveFailures = 0;
        this.#setRefusal(undefined);
        return 'ok';
      } catch (error) {
        const verdict = await this.#scope(error);
        if (verdict.scope === 'row') return { error };
        this.#consecutiveFailures++;
        this.#armSpill();
        const message = errorMessage(error);
        // Once per outage: a retry every few seconds must not hide a later, worse error (events dropped).
        if (this.#consecutiveFailures === 1) this.#o.onWriteError?.(message);
        this.#o.metrics.writeFailures.inc({ writer: this.#o.name });
        const refusing = verdict.scope === 'refusing';
        const backoff = refusing ? (this.#o.refusingRetry ?? this.#o.retry) : this.#o.retry;
        const wait = backoffDelay(attempt, backoff.baseMs, backoff.maxMs);
        if (refusing) {
          this.#setRefusal({ sqlstate: verdict.sqlstate ?? 'unknown', reason: message, since: this.#refusal?.since ?? new Date() });
          if (Date.now() - this.#refusingLoggedAt >= REFUSING_LOG_MS) {
            this.#refusingLoggedAt = Date.now();
            this.#o.logger.error(
              { sqlstate: verdict.sqlstate, error: message, held: this.held, spooled_bytes: this.#o.spool?.bytes ?? 0, retry_in_ms: wait },
              'the database refuses writes: holding every event (memory, then spool) and retrying until it accepts them',
            );
          }
        } else if (error instanceof RetryableError) {
          // Ours, e.g. the migrations not applied yet at start: expected, and said once elsewhere.
          this.#o.logger.debug({ reason: message, rows: rows.length, retry_in_ms: wait }, 'batch write waits; retrying');
        } else if (this.#consecutiveFailures === 1 || this.#consecutiveFailures % 10 === 0) {
          // The first failure and then every tenth, so an outage is visible but does not flood.
          this.#o.logger.warn({ err: error, rows: rows.length, attempt, retry_in_ms: wait, held: this.held }, 'batch write failed; retrying');
        }
        // A refusing database is asked again only at its backoff; an outage may end sooner, and a
        // probe then wakes the batches (retryNow). Our own RetryableError (migrations pending)
        // is woken when the migrations are applied.
        if (refusing) await delay(wait, this.#hardStop.signal);
        else {
          const outage = !(error instanceof RetryableError);
          if (outage) this.#waitingOutage++;
          try {
            await delay(wait, AbortSignal.any([this.#hardStop.signal, this.#wake.signal]));
          } finally {
            if (outage) this.#waitingOutage--;
          }
        }
      }
    }
  }

  /** Whose fault a write error is; an unclassified one is decided by the canary. */
  async #scope(error: unknown): Promise<ClassifiedError> {
    const c = classifyWriteError(error);
    if (c.scope !== 'unknown') return c;
    if (!this.#o.canary) return { ...c, scope: 'row' };
    try {
      await this.#o.canary();
      return { ...c, scope: 'row' };
    } catch (canaryError) {
      const cc = classifyWriteError(canaryError);
      // The canary could not reach the database at all: an outage, not a verdict.
      if (cc.scope === 'transient') return cc;
      return { scope: 'refusing', sqlstate: c.sqlstate ?? cc.sqlstate };
    }
  }

  #setRefusal(refusal: Refusal | undefined): void {
    const before = this.#refusal;
    this.#refusal = refusal;
    if (!refusal && before) {
      this.#refusingLoggedAt = 0;
      this.#o.logger.info({ sqlstate: before.sqlstate, refused_for_s: Math.round((Date.now() - before.since.getTime()) / 1000) }, 'the database accepts writes again');
    }
    if (before?.sqlstate !== refusal?.sqlstate || before?.reason !== refusal?.reason) this.#o.onRefusing?.(refusal);
  }

  /**
   * While writes fail or one goes unanswered, check every SPILL_CHECK_MS for rows held in memory
   * only for too long. Armed when a batch starts too: a database that hangs fails nothing.
   */
  #armSpill(): void {
    if (this.#spillTimer || !this.#o.spool || this.#state !== 'running') return;
    this.#spillTimer = setInterval(() => this.#spill(), SPILL_CHECK_MS);
    this.#spillTimer.unref();
  }

  /**
   * During an outage (writes failing, or one unanswered for spillAfterMs), keep what a crash would
   * lose small: buffered rows older than spillAfterMs move to the spool (and leave memory), and
   * batches in flight for that long get a copy there (they stay in flight: the first write that
   * passes ends the outage; the copy is written again on replay, which the idempotent writes make
   * harmless). Rows the spool cannot take stay where they are: memory had room for them, so they are
   * not lost, and nothing is counted dropped; the next check tries again.
   */
  #spill(): void {
    const spool = this.#o.spool;
    if (!spool || this.#state !== 'running') return;
    const now = Date.now();
    if (this.#consecutiveFailures === 0 && !this.#stalled(now)) {
      if (this.#inFlight.size === 0) {
        clearInterval(this.#spillTimer);
        this.#spillTimer = undefined;
      }
      return;
    }
    const cutoff = now - (this.#o.spillAfterMs ?? SPILL_AFTER_MS);
    const spoolRetry = now - this.#spoolRefusedAt >= SPOOL_RETRY_MS;
    // Only rows from the socket move: rows of a replayed segment are on disk already. Sending them
    // back (and the segment with them) gained nothing and, while writes were merely slow (a batch
    // over spillAfterMs), made each replay start over, never finishing a segment.
    const oldFresh = this.#origins.some((o, i) => o === undefined && (this.#arrivals[i] ?? Infinity) <= cutoff);
    if (spoolRetry && oldFresh) {
      const rows = this.#pending.splice(0);
      const origins = this.#origins.splice(0);
      const arrivals = this.#arrivals.splice(0);
      const sizes = this.#sizes.splice(0);
      clearTimeout(this.#timer);
      this.#timer = undefined;
      const kept = new Set<T>();
      for (const d of this.#spoolAppend(spool, rows.filter((_, i) => origins[i] === undefined))) for (const row of d.rows) kept.add(row);
      if (kept.size > 0) this.#spoolRefusedAt = now;
      let released = 0;
      let releasedBytes = 0;
      rows.forEach((row, i) => {
        if (origins[i] !== undefined || kept.has(row)) {
          this.#pending.push(row);
          this.#origins.push(origins[i]);
          this.#arrivals.push(arrivals[i] as number);
          this.#sizes.push(sizes[i] as number);
        } else {
          released++;
          releasedBytes += sizes[i] as number;
        }
      });
      this.#o.budget.release(released, releasedBytes);
      this.#armTimer();
    }
    for (const [batch, { origins, since }] of this.#inFlight) {
      if (!spoolRetry || since > cutoff || this.#copied.has(batch)) continue;
      const fresh = batch.filter((_, i) => origins[i] === undefined);
      // A copy the spool refused is tried again at the next check; the rows are in memory meanwhile.
      if (fresh.length === 0 || this.#spoolAppend(spool, fresh, 'copy').length === 0) this.#copied.add(batch);
      else this.#spoolRefusedAt = now;
    }
    this.#gauge();
  }

  /**
   * Note the rows of the segments an earlier run left, one segment per turn of the event loop (the
   * sockets are read meanwhile). It costs one more read of each segment; the replay then writes
   * about one row per key rather than one per event.
   */
  async #noteEarlier(spool: Spool<T>, superseded: SupersededRows<T>): Promise<void> {
    const started = Date.now();
    const segments = spool.earlierSegments;
    let rows = 0;
    for (const segment of segments) {
      await new Promise((resolve) => setImmediate(resolve));
      if (this.#state !== 'running') return;
      try {
        const read = spool.readRows(segment);
        rows += read.length;
        superseded.note(read);
      } catch {
        // Unreadable now: its replay says so, and skips it.
      }
    }
    this.#o.logger.info({ segments: segments.length, rows, keys: superseded.size, ms: Date.now() - started }, 'read the spool an earlier run left: its events that a newer one makes moot are skipped');
  }

  /** Append to the spool, and note the rows it kept for skipping moot ones at replay. */
  #spoolAppend(spool: Spool<T>, rows: readonly T[], kind?: 'moved' | 'copy'): SpoolDrop<T>[] {
    const drops = spool.append(rows, kind);
    const superseded = this.#superseded;
    if (superseded) {
      if (drops.length === 0) superseded.note(rows);
      else {
        const dropped = new Set<T>();
        for (const d of drops) for (const row of d.rows) dropped.add(row);
        superseded.note(rows.filter((row) => !dropped.has(row)));
      }
    }
    return drops;
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

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function sum(xs: readonly number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return s;
}
