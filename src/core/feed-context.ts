import type { Kysely } from 'kysely';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { notificationPayloads, notify, type TableChange } from './db/change-notifier.js';
import type { CoreDatabase } from './db/schema.js';
import type { FeedContext, FeedDefinition, TableSpec } from './feed.js';
import { makeReject, refusalReason, withKey, type Reject, type StoredReject } from './ingest/reject.js';
import type { SourceStatus } from './status/source-status.js';
import type { BatchWriter } from './writer/batch-writer.js';
import type { WriterPool } from './writer/writer-pool.js';

/** For this long (ms) after events were dropped, last_error keeps saying so rather than "write failed". */
const DROP_OUTRANKS_MS = 60_000;

export interface FeedContextDeps {
  readonly db: Kysely<CoreDatabase>;
  readonly writers: WriterPool;
  /** The ingest_rejects writer every feed shares. */
  readonly rejects: BatchWriter<StoredReject>;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly status: SourceStatus;
  readonly reconnect: { readonly baseMs: number; readonly maxMs: number };
  readonly signal: AbortSignal;
  /** True once the migrations are applied (the writers wait for it by themselves; routes ask). */
  readonly schemaReady: () => boolean;
  /** An event time further than this (ms) ahead of the wall clock makes the row a reject. */
  readonly eventTimeMaxSkewMs: number;
  /** NOTIFY_CHANNEL: where committed changes are announced; empty: no notifications. */
  readonly notifyChannel: string;
}

/**
 * A feed's context and the writers of its tables. The bookkeeping of every feed is here, once:
 * events received and written (status and metrics), ingest lag, rejects (counted and stored), and
 * rows the database refused (rejects with the reason).
 */
export function createFeedContext(def: FeedDefinition, deps: FeedContextDeps): { ctx: FeedContext; writers: BatchWriter<unknown>[] } {
  const { metrics, status, logger } = deps;
  const source = def.source;
  // Bound once, not looked up by label for each of the thousands of rows in a batch.
  const lag = metrics.ingestLag.labels({ source });
  const rejected = metrics.eventsRejected.labels({ source });

  const reject = (rejects: readonly Reject[]): void => {
    if (rejects.length === 0) return;
    rejected.inc(rejects.length);
    // Each reject's key is made here, once, before the writer can copy it to the spool.
    deps.rejects.add(rejects.map(withKey));
    logger.debug({ count: rejects.length, reason: rejects[0]?.reason }, 'rejected input');
  };

  /** Rows whose own time is not in the future (beyond the skew); the others become rejects. */
  const admit = <Row>(table: TableSpec<Row>, rows: readonly Row[]): readonly Row[] => {
    const limit = Date.now() + deps.eventTimeMaxSkewMs;
    let future: Row[] | undefined;
    for (const row of rows) {
      const t = table.eventTimeMs(row);
      if (t !== null && t > limit) (future ??= []).push(row);
    }
    if (!future) return rows;
    reject(
      future.map((row) =>
        makeReject(
          source,
          `event time ${isoOrRaw(table.eventTimeMs(row))} is more than ${deps.eventTimeMaxSkewMs} ms ahead of the clock (EVENT_TIME_MAX_SKEW_MS)`,
          table.describe(row),
          undefined,
          table.eventId?.(row),
        ),
      ),
    );
    const out = new Set(future);
    return rows.filter((row) => !out.has(row));
  };

  const written = <Row>(table: TableSpec<Row>, rows: readonly Row[]): void => {
    status.written(rows.length);
    const now = Date.now();
    let last: number | null = null;
    for (const row of rows) {
      const t = table.eventTimeMs(row);
      if (t === null) continue;
      last = Math.max(0, now - t);
      lag.observe(last / 1000);
    }
    if (last !== null) status.lastLagMs = last;
  };

  // The write, then (once it committed) the table's own follow-up.
  const writeAndNotify = async <Row>(table: TableSpec<Row>, rows: Row[]): Promise<readonly TableChange[]> => {
    const changes = await writeThenNotify(table, rows);
    table.committed?.(changes);
    return changes;
  };
  // The write and its notifications in one transaction: Postgres delivers them at the commit, so a
  // listener hears of exactly what was committed, once (a rolled-back attempt sends nothing).
  const writeThenNotify = async <Row>(table: TableSpec<Row>, rows: Row[]): Promise<readonly TableChange[]> => {
    if (!deps.notifyChannel) return (await table.write(deps.db, rows)) ?? [];
    return deps.db.transaction().execute(async (trx) => {
      const changes = (await table.write(trx, rows)) ?? [];
      const payloads: string[] = [];
      for (const change of changes) {
        const out = notificationPayloads(source, change);
        payloads.push(...out.payloads);
        if (out.skipped.length > 0) deps.logger.warn({ table: change.table, ids: out.skipped.length }, 'ids too long for a notification were left out of it');
      }
      await notify(trx, deps.notifyChannel, payloads);
      return changes;
    });
  };

  let lastDropAt = 0;
  // The tables whose writes the database refuses now, and why: the source shows `db_refusing` while any is.
  const refused = new Map<string, string>();
  const byTable = new Map<TableSpec<unknown>, BatchWriter<unknown>>();
  for (const table of def.tables) {
    const writer = deps.writers.create<unknown>(source, {
      name: table.name,
      maxInFlight: table.maxInFlight,
      sizeOf: table.sizeOf.bind(table),
      encode: table.encode?.bind(table),
      decode: table.decode?.bind(table),
      collapse: table.collapse,
      write: async (rows) => {
        await writeAndNotify(table, rows);
      },
      onWritten: (rows, replayed) => {
        if (table.copy) return;
        written(table, rows);
        status.replayed(replayed.length);
      },
      onBadRow: (row, err) => reject([makeReject(source, refusalReason(table.rowKind, err), table.describe(row), undefined, table.eventId?.(row))]),
      onDropped: (message) => {
        lastDropAt = Date.now();
        status.noteError(`${table.name}: ${message}`);
      },
      onRecovered: () => status.clearError('write'),
      onRefusing: (refusal) => {
        if (refusal) refused.set(table.name, `${table.name}: the database refuses writes (SQLSTATE ${refusal.sqlstate}), events are held: ${refusal.reason}`);
        else refused.delete(table.name);
        status.setRefusing(refused.values().next().value ?? null);
      },
      // Lost events outrank a write being retried: the drop stays in last_error for a while.
      onWriteError: (message) => {
        if (Date.now() - lastDropAt > DROP_OUTRANKS_MS) status.noteError(`${table.name}: write failed (retrying): ${message}`, 'write');
      },
    });
    byTable.set(table, writer);
  }

  const ctx: FeedContext = {
    source,
    logger,
    metrics,
    status,
    reconnect: deps.reconnect,
    db: deps.db,
    signal: deps.signal,
    ready: deps.schemaReady,
    writeNow: writeAndNotify,
    add<Row>(table: TableSpec<Row>, rows: readonly Row[]): readonly Row[] {
      if (rows.length === 0) return rows;
      const writer = byTable.get(table as TableSpec<unknown>);
      if (!writer) throw new Error(`feed "${source}" writes to ${table.name}, which its definition does not list in tables`);
      if (table.copy) {
        writer.add(rows);
        return rows;
      }
      status.eventsParsed(rows.length);
      const admitted = admit(table, rows);
      writer.add(admitted);
      return admitted;
    },
    admit,
    reject,
    written,
  };
  return { ctx, writers: [...byTable.values()] };
}

function isoOrRaw(ms: number | null): string {
  const d = new Date(ms ?? Number.NaN);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
}
