/**
 * The limit: the same rows the daemon would write, straight into the same (freshly migrated) table,
 * no socket and no parsing: ListingRow objects are built from the workload's frames while the clock
 * is stopped, cut into batches of BATCH_MAX_EVENTS events, collapsed by listing id and sorted exactly
 * as BatchWriter does. `concurrency` batches are in flight at once (the daemon's writer allows 2).
 * Rate is counted in events (before collapsing), as the daemon's is.
 *
 * Rows are built afresh for every run, right before its clock starts (then the bench process is
 * quieted, see gc.ts): reusing rows built for an earlier run made the bench's own CPU per row triple
 * (6 -> 16 µs, the collector's background marking, which the driver's multi-MB messages start often),
 * a cost of the bench, not of the statement.
 */
import { mergeListingRows, toListingRow, type ListingRow } from '../src/feeds/bptf/listing-row.js';
import { parseBptfFrame } from '../src/feeds/bptf/parse.js';
import { sql } from 'kysely';
import { checkpoint, migrate, openDb, recreateDatabase, tableStats, walBytesSince, walLsn, type TableStats } from './db.js';
import { settle } from './gc.js';
import { cpuSecondsOf, machineCpu } from './rss.js';
import type { Shape } from './shapes.js';
import type { Workload } from './workload.js';

export interface Batch {
  readonly events: number;
  readonly rows: ListingRow[];
}

/** What BatchWriter does to a batch: collapse rows with the same key, sort by key. */
export function collapse(rows: readonly ListingRow[]): ListingRow[] {
  const byKey = new Map<string, ListingRow>();
  for (const row of rows) {
    const prev = byKey.get(row.id);
    byKey.set(row.id, prev === undefined ? row : mergeListingRows(prev, row));
  }
  return [...byKey.keys()].sort().map((k) => byKey.get(k) as ListingRow);
}

/**
 * Rows as the daemon's writer gets them (from parseBptfFrame, so they carry the received payload
 * bytes). With `parsePayloads`, their payload objects are parsed here too, before the clock starts,
 * so that shapes which read `row.payload` (every shape but `repository`) are timed as the code they
 * stand for ran: on rows that already held a parsed payload.
 */
export function buildBatches(frames: Workload['frames'], batchSize: number, parsePayloads: boolean): Batch[] {
  const batches: Batch[] = [];
  let pending: ListingRow[] = [];
  const flush = () => {
    if (pending.length === 0) return;
    batches.push({ events: pending.length, rows: collapse(pending) });
    pending = [];
  };
  for (const frame of frames) {
    for (const e of parseBptfFrame(frame.data).listings) {
      const row = toListingRow(e);
      if (parsePayloads) void row.payload;
      pending.push(row);
      if (pending.length === batchSize) flush();
    }
  }
  flush();
  return batches;
}

/** Statements run after the migrations, to try a table change (e.g. a future migration) without editing migrations/. */
export const TABLE_VARIANTS: Record<string, readonly string[]> = {
  default: [],
  // The migrations store payload with lz4 (where the server has it); pglz is the table before that migration.
  pglz: ['ALTER TABLE bptf_listings ALTER COLUMN payload SET COMPRESSION pglz'],
  'inline-uncompressed': ['ALTER TABLE bptf_listings SET (toast_tuple_target = 8160)'],
  fillfactor100: ['ALTER TABLE bptf_listings SET (fillfactor = 100)'],
  fillfactor50: ['ALTER TABLE bptf_listings SET (fillfactor = 50)'],
};

export interface LimitRun {
  readonly shape: string;
  readonly concurrency: number;
  readonly table: string;
  readonly events: number;
  readonly eventsPerS: number;
  readonly elapsedMs: number;
  readonly walMb: number;
  readonly stats: TableStats;
  /** CPU per event (µs): the bench process (building statements, the driver) and the Postgres backends. */
  readonly clientCpuUsPerEvent: number;
  readonly postgresCpuUsPerEvent: number;
  /** Share of all CPUs busy during the run (everything on the machine). */
  readonly machineBusy: number;
}

export interface LimitOptions {
  readonly serverUrl: string;
  readonly dbName: string;
  readonly workload: Workload;
  readonly batchSize: number;
  readonly shape: Shape;
  readonly concurrency: number;
  readonly table?: string;
}

/**
 * Concurrent upserts of batches sharing listings can deadlock in Postgres now and then (seen with the
 * COPY shape); the daemon's writer retries such a batch, and so does the limit (the write is idempotent).
 */
async function writeRetrying(write: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (attempt >= 5 || (code !== '40P01' && code !== '40001')) throw err;
    }
  }
}

export async function runLimit(o: LimitOptions): Promise<LimitRun> {
  const url = await recreateDatabase(o.serverUrl, o.dbName);
  const b = openDb(url, o.concurrency + 1);
  try {
    await migrate(b);
    const table = o.table ?? 'default';
    for (const statement of TABLE_VARIANTS[table] ?? []) await b.pool.query(statement);
    // Open every connection before the clock starts.
    await Promise.all(Array.from({ length: o.concurrency }, () => b.pool.query('SELECT 1')));
    await checkpoint(b);
    const lsn = await walLsn(b);
    const backends = (
      await sql<{ pid: number }>`SELECT pid FROM pg_stat_activity WHERE datname = ${o.dbName}`.execute(b.db)
    ).rows.map((r) => r.pid);
    const batches = buildBatches(o.workload.frames, o.batchSize, o.shape.readsPayload);
    await settle();
    const pg0 = cpuSecondsOf(backends);
    const client0 = process.cpuUsage();
    const machine0 = machineCpu();
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: o.concurrency }, async () => {
        while (next < batches.length) {
          const batch = batches[next++] as Batch;
          await writeRetrying(() => o.shape.write(b, batch.rows));
        }
      }),
    );
    const elapsedMs = performance.now() - started;
    const client = process.cpuUsage(client0);
    const machine1 = machineCpu();
    const pgCpu = cpuSecondsOf(backends) - pg0;
    const events = batches.reduce((sum, x) => sum + x.events, 0);
    return {
      shape: o.shape.name,
      concurrency: o.concurrency,
      table,
      events,
      eventsPerS: (events / elapsedMs) * 1000,
      elapsedMs,
      walMb: (await walBytesSince(b, lsn)) / 1048576,
      stats: await tableStats(b),
      clientCpuUsPerEvent: (client.user + client.system) / events,
      postgresCpuUsPerEvent: (pgCpu * 1e6) / events,
      machineBusy: (machine1.busy - machine0.busy) / Math.max(1, machine1.total - machine0.total),
    };
  } finally {
    await b.close();
  }
}
