import { sql, type Kysely } from 'kysely';
import { Summary, type Registry } from 'prom-client';
import type { TableChange } from '../../core/db/change-notifier.js';
import type { FeedContext, PeriodicTask, TableSpec } from '../../core/feed.js';
import { dayOf, ensureDayPartitions, forgetDayPartitions } from './day-partitions.js';
import { lockQuotes, recomputeMemory, recomputeQuotes, savepoint } from './quote-store.js';
import type { BptfTables } from './tables.js';

/**
 * The live half of BPTF_QUOTES: the quotes of the SKUs that committed listings touched, recomputed
 * apart from ingestion's transactions, so a batch's write costs one statement and no lock.
 *
 * bptf_listings' write returns the SKUs its changed listings touch (their new and stored SKU);
 * once that transaction has committed, the core hands them over (TableSpec.committed) and they are
 * marked dirty here. A recompute runs at most every QUOTE_RECOMPUTE_INTERVAL_MS, one at a time per
 * process: it takes every SKU dirty so far and recomputes them set-based (recomputeQuotes), with their
 * history rows and the notification, in transactions of its own. SKUs marked while it runs wait for
 * the next one, so a slow recompute makes the next one larger, never a queue of them.
 *
 * Correctness: a SKU is marked only after the listings' commit, so the recompute that takes it reads
 * them. Across replicas (and with the refresh) recomputes of one SKU are serialized by its lock and
 * each reads the listings after taking it (quote-store.ts), so they agree and write a change once.
 *
 * Without a running recomputer (the process stopping, a `rejects replay`, a test calling the
 * table's write alone) bptf_listings' write recomputes in its own transaction, as before. What a
 * process loses at a crash (SKUs marked and not yet recomputed, at most one interval and a run) is
 * recomputed by the catch-up every recomputer starts with: every SKU, in bounded batches.
 */

/** Most often a recompute runs (ms): a quote follows its listing within this, the wait for a run in progress and the run (well under 1 s). */
export const QUOTE_RECOMPUTE_INTERVAL_MS = 200;
/**
 * A run that took long waits longer for the next: RUN_SHARE times its own duration from its start
 * (so recomputes hold one database connection at most 40 % of the time), at most
 * QUOTE_RECOMPUTE_MAX_INTERVAL_MS. Under the bench's firehose (11 hot SKUs, 31,000 listings) a run
 * took 150-180 ms, and at one every 200 ms the recompute held a connection busy three quarters of the
 * time for quotes that only need to follow within a second; at a few ms a run (ordinary traffic)
 * the interval stays QUOTE_RECOMPUTE_INTERVAL_MS.
 */
const RUN_SHARE = 2.5;
/** Longest pause from one run's start to the next (ms): with the run's own time, well within the contract's second. */
export const QUOTE_RECOMPUTE_MAX_INTERVAL_MS = 400;
/** SKUs per recompute transaction: bounds its locks and its statement. */
const RECOMPUTE_BATCH = 1_000;
/** SKUs per batch of the start's catch-up (each waits for its recompute: the catch-up never floods). */
const CATCH_UP_BATCH = 500;
/** After a failed recompute (the database away), its SKUs are tried again this much later (ms). */
const RETRY_MS = 1_000;
/** At most one warning per this long (ms) while recomputes fail. */
const WARN_EVERY_MS = 60_000;

/** A recompute job: SKUs, each with the newest event time (ms) of the events behind it, or null (now()). */
export interface QuoteJob {
  readonly skus: readonly string[];
  readonly times: readonly (number | null)[];
}

/**
 * recomputeQuotes, and if a history partition this process believed in is gone (23514: dropped by
 * hand or by another replica's retention, for an old event's day), make it again and recompute once
 * more, from a savepoint: what the transaction wrote before stays, and the rows are never taken for
 * bad ones (23 is the row's class).
 */
async function recomputeWithHistory<DB extends BptfTables>(
  trx: Kysely<DB>,
  skus: readonly string[],
  times: readonly (number | null)[],
  days: ReadonlySet<number>,
): Promise<TableChange> {
  await savepoint(trx, 'set');
  try {
    return await recomputeQuotes(trx, skus, times);
  } catch (err) {
    if ((err as { code?: string }).code !== '23514') throw err;
    await savepoint(trx, 'rollback');
    forgetDayPartitions('bptf_quote_history');
    await ensureDayPartitions(trx, 'bptf_quote_history', days);
    return recomputeQuotes(trx, skus, times);
  }
}

/** Recompute `skus` (any order, each once) in the transaction `trx` is: partitions, locks, quotes. */
export async function recomputeLocked<DB extends BptfTables>(trx: Kysely<DB>, skus: readonly string[], times: readonly (number | null)[]): Promise<TableChange> {
  const order = skus.map((_, i) => i).sort((a, b) => ((skus[a] as string) < (skus[b] as string) ? -1 : 1));
  const list = order.map((i) => skus[i] as string);
  const at = order.map((i) => times[i] ?? null);
  // now() of the database, give or take the clocks' skew (1 min): both days around midnight.
  const now = Date.now();
  const days = new Set(at.map((t) => dayOf(t ?? now)));
  if (at.includes(null)) for (const d of [now - 60_000, now + 60_000]) days.add(dayOf(d));
  // Before the locks: a partition made here locks the history table until this commit.
  await ensureDayPartitions(trx, 'bptf_quote_history', days);
  await recomputeMemory(trx);
  await lockQuotes(trx, list);
  return recomputeWithHistory(trx, list, at, days);
}

/** Run `f` in a transaction: `db` itself when it is one (the core's, with its notifications), else a new one. */
export function inTransaction<DB extends BptfTables, T>(db: Kysely<DB>, f: (trx: Kysely<DB>) => Promise<T>): Promise<T> {
  return db.isTransaction ? f(db) : db.transaction().execute(f);
}

/**
 * Recomputes as a table the core writes with its change notifications (ctx.writeNow): the
 * recomputer's and the refresh's (a key-rate or blocklist change). Each waits for the SKUs' locks,
 * which only other recomputes hold, briefly.
 */
export const quoteRecomputeTable: TableSpec<QuoteJob> = {
  name: 'bptf_quotes',
  rowKind: 'quote recompute',
  write: (db, jobs) =>
    inTransaction(db.withTables<BptfTables>(), async (trx) => {
      const newest = new Map<string, number | null>();
      for (const j of jobs) {
        j.skus.forEach((s, i) => {
          const t = j.times[i] ?? null;
          const had = newest.get(s);
          newest.set(s, had === undefined ? t : had === null || t === null ? (had ?? t) : Math.max(had, t));
        });
      }
      return [await recomputeLocked(trx, [...newest.keys()], [...newest.values()])];
    }),
  sizeOf: (j) => j.skus.length * 16,
  eventTimeMs: () => null,
  describe: (j) => JSON.stringify({ skus: j.skus }),
};

interface Dirty {
  /** Newest event time (ms) of the committed events behind the mark; null: none (the catch-up), now(). */
  t: number | null;
  /** When it was first marked (ms, this process's clock): the delay is measured from here. */
  markedAt: number;
}

export class QuoteRecomputer {
  #dirty = new Map<string, Dirty>();
  #ctx: FeedContext | undefined;
  /** The last context, for the SKUs marked while the process stops (see attach). */
  #lastCtx: FeedContext | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #lastStartMs = Number.NEGATIVE_INFINITY;
  /** How long the last run took (ms). */
  #lastRunMs = 0;
  #retryAtMs = 0;
  #lastWarnMs = Number.NEGATIVE_INFINITY;
  /** Waiting for the next run (they asked while SKUs were dirty), and for the run in progress. */
  #forNext: Array<() => void> = [];
  #forCurrent: Array<() => void> = [];
  #delay: Summary | undefined;
  /** Least time (ms) from the start of one run to the start of the next. */
  intervalMs = QUOTE_RECOMPUTE_INTERVAL_MS;

  /** When the last run started (ms, Date.now()): the time the next run's earliest start is counted from. */
  get lastStartMs(): number {
    return this.#lastStartMs;
  }

  /** True while a recomputer task runs: bptf_listings' write then leaves its quotes to it. */
  get attached(): boolean {
    return this.#ctx !== undefined;
  }

  /** Mark SKUs whose listings committed (SKU -> newest event time, ms; null: unknown, now()). */
  mark(skus: ReadonlyMap<string, number | null>): void {
    if (skus.size === 0) return;
    const now = Date.now();
    for (const [sku, t] of skus) this.#merge(sku, { t, markedAt: now });
    this.#schedule();
  }

  #merge(sku: string, d: Dirty): void {
    const had = this.#dirty.get(sku);
    if (!had) this.#dirty.set(sku, { ...d });
    else {
      had.t = had.t === null ? d.t : d.t === null ? had.t : Math.max(had.t, d.t);
      had.markedAt = Math.min(had.markedAt, d.markedAt);
    }
  }

  #schedule(): void {
    if (this.#timer || this.#running || this.#dirty.size === 0) return;
    const ctx = this.#ctx ?? this.#lastCtx;
    if (!ctx) return;
    // Stopping: at once (the database closes soon after the writers drain).
    const gap = Math.max(this.intervalMs, Math.min(QUOTE_RECOMPUTE_MAX_INTERVAL_MS, RUN_SHARE * this.#lastRunMs));
    const at = this.#ctx ? Math.max(this.#lastStartMs + gap, this.#retryAtMs) : 0;
    const fire = () => {
      // A timer is measured from the event loop's cached time, which a long turn of the loop leaves
      // behind the clock: it can fire a few ms before `at` (CI saw a run start 48 ms after the last
      // with a 50 ms interval). Then wait out the rest.
      const early = at - Date.now();
      if (early > 0) {
        this.#timer = setTimeout(fire, early);
        this.#timer.unref();
        return;
      }
      this.#timer = undefined;
      this.#forCurrent = this.#forNext;
      this.#forNext = [];
      this.#running = this.#run(ctx).then((ok) => {
        this.#running = undefined;
        this.#lastRunMs = Date.now() - this.#lastStartMs;
        const waiting = this.#forCurrent.splice(0);
        if (ok) for (const f of waiting) f();
        else this.#forNext.push(...waiting);
        this.#schedule();
      });
    };
    this.#timer = setTimeout(fire, Math.max(0, at - Date.now()));
    this.#timer.unref();
  }

  /** Take every dirty SKU and recompute them, RECOMPUTE_BATCH per transaction; on a failure, they stay dirty. */
  async #run(ctx: FeedContext): Promise<boolean> {
    this.#lastStartMs = Date.now();
    const taken = this.#dirty;
    this.#dirty = new Map();
    const skus = [...taken.keys()].sort();
    for (let i = 0; i < skus.length; i += RECOMPUTE_BATCH) {
      const batch = skus.slice(i, i + RECOMPUTE_BATCH);
      try {
        await ctx.writeNow(quoteRecomputeTable, [{ skus: batch, times: batch.map((s) => taken.get(s)?.t ?? null) }]);
      } catch (err) {
        for (const s of skus.slice(i)) this.#merge(s, taken.get(s) as Dirty);
        this.#retryAtMs = Date.now() + RETRY_MS;
        if (Date.now() - this.#lastWarnMs >= WARN_EVERY_MS) {
          this.#lastWarnMs = Date.now();
          ctx.logger.warn({ err, skus: this.#dirty.size }, 'quote recompute failed; its SKUs are tried again');
        }
        return false;
      }
      const done = Date.now();
      for (const s of batch) this.#delay?.observe((done - (taken.get(s) as Dirty).markedAt) / 1000);
    }
    return true;
  }

  /**
   * Resolves once every SKU marked before the call has been recomputed (a run that took it
   * succeeded): the catch-up's back-pressure, and tests. Never, while no recomputer is attached.
   */
  recomputed(): Promise<void> {
    if (this.#dirty.size > 0) return new Promise((resolve) => this.#forNext.push(resolve));
    if (this.#running) return new Promise((resolve) => this.#forCurrent.push(resolve));
    return Promise.resolve();
  }

  /**
   * Recompute for this context until `signal` aborts: first every SKU (the catch-up after a crash),
   * then whatever is marked. On abort, new writes recompute their quotes themselves; SKUs marked
   * from writes already under way are still recomputed, at once.
   */
  async attach(ctx: FeedContext, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    this.#ctx = ctx;
    this.#lastCtx = ctx;
    this.#delay ??= delaySummary(ctx.metrics.registry);
    const stopped = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    try {
      await catchUp(this, ctx, signal);
      await stopped;
    } finally {
      this.#ctx = undefined;
      if (this.#timer) {
        clearTimeout(this.#timer);
        this.#timer = undefined;
      }
      this.#schedule();
    }
  }
}

/** The recompute delay: from a listing's commit (a little before: its SKU's first mark) to its quote's. */
function delaySummary(registry: Registry): Summary {
  const name = 'tributary_quote_delay_seconds';
  const had = registry.getSingleMetric(name);
  if (had) return had as Summary;
  return new Summary({
    name,
    help: 'Seconds from the commit of listings to the commit of their SKUs’ recomputed quotes (BPTF_QUOTES).',
    percentiles: [0.5, 0.9, 0.99, 1],
    registers: [registry],
  });
}

/** Every SKU (of a live listing or a quote), marked CATCH_UP_BATCH at a time, each batch recomputed before the next. */
async function catchUp(r: QuoteRecomputer, ctx: FeedContext, signal: AbortSignal): Promise<void> {
  const db = ctx.db.withTables<BptfTables>();
  const started = Date.now();
  let after = '';
  let count = 0;
  while (!signal.aborted) {
    const rows = await sql<{ sku: string }>`
      SELECT sku FROM (
        SELECT DISTINCT sku COLLATE "C" AS sku FROM bptf_listings WHERE sku COLLATE "C" > ${after} AND deleted_at IS NULL
        UNION SELECT sku COLLATE "C" FROM bptf_quotes WHERE sku COLLATE "C" > ${after}
      ) AS s ORDER BY 1 LIMIT ${CATCH_UP_BATCH}`.execute(db);
    if (rows.rows.length === 0) break;
    // The listings' event times are not read here: a change found now is dated now().
    r.mark(new Map(rows.rows.map((x) => [x.sku, null])));
    await r.recomputed();
    count += rows.rows.length;
    after = (rows.rows[rows.rows.length - 1] as { sku: string }).sku;
  }
  if (count > 0) ctx.logger.info({ skus: count, ms: Date.now() - started }, 'quotes caught up with the listings');
}

/** The one recomputer of this process (bptf_listings' write is a module-level table, like useQuotes). */
export const quoteRecomputer = new QuoteRecomputer();

/**
 * The recomputer as a task: started once migrations are applied, it runs until the daemon stops
 * (its interval is only the pause before a start again after a failed catch-up). `intervalMs`:
 * the recomputer's (tests shorten it).
 */
export function quoteRecomputeTask(opts: { intervalMs?: number } = {}, r: QuoteRecomputer = quoteRecomputer): PeriodicTask {
  const intervalMs = opts.intervalMs ?? QUOTE_RECOMPUTE_INTERVAL_MS;
  return {
    name: 'bptf quote recompute',
    intervalMs: 1_000,
    runAtStart: true,
    run: (ctx, signal) => {
      r.intervalMs = intervalMs;
      return r.attach(ctx, signal);
    },
  };
}
