/**
 * The bench's own database: dropped and created again for every phase, so each phase starts from
 * the same empty, freshly migrated table, on the same server the daemon writes to.
 */
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { migrateToLatest } from '../src/core/db/migrate.js';
import type { Database } from '../src/feeds/index.js';
import { createLogger } from '../src/logger.js';
import type { ExpectedRow } from './workload.js';

export const DEFAULT_SERVER_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

export interface BenchDb {
  readonly url: string;
  readonly db: Kysely<Database>;
  readonly pool: pg.Pool;
  close(): Promise<void>;
}

/** `serverUrl` with its database replaced by `name`. */
export function databaseUrl(serverUrl: string, name: string): string {
  const u = new URL(serverUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

async function admin<T>(serverUrl: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  // Connect to the maintenance database: the bench database itself is the one being dropped.
  const c = new pg.Client({ connectionString: databaseUrl(serverUrl, 'postgres'), application_name: 'tributary-bench' });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Drop `name` (closing anyone's connections to it) and create it empty. Returns its URL. */
export async function recreateDatabase(serverUrl: string, name: string): Promise<string> {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bench: bad database name ${name}`);
  await admin(serverUrl, async (c) => {
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await c.query(`CREATE DATABASE ${name}`);
  });
  return databaseUrl(serverUrl, name);
}

export async function dropDatabase(serverUrl: string, name: string): Promise<void> {
  await admin(serverUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
}

export function openDb(url: string, poolMax: number): BenchDb {
  const pool = new pg.Pool({ connectionString: url, max: poolMax, application_name: 'tributary-bench' });
  pool.on('error', () => undefined);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return { url, db, pool, close: () => db.destroy() };
}

/** The daemon's own migrations: the same table (fillfactor, indexes) the daemon writes to. */
export async function migrate(b: BenchDb): Promise<void> {
  await migrateToLatest(b, createLogger('silent'));
}

/** Flush dirty pages so one phase's checkpoint does not land in the next one's timing. */
export async function checkpoint(b: BenchDb): Promise<void> {
  await sql`CHECKPOINT`.execute(b.db).catch(() => undefined); // needs superuser or pg_checkpoint
}

export async function walLsn(b: BenchDb): Promise<string> {
  const r = await sql<{ lsn: string }>`SELECT pg_current_wal_lsn()::text AS lsn`.execute(b.db);
  return r.rows[0]?.lsn ?? '0/0';
}

export async function walBytesSince(b: BenchDb, lsn: string): Promise<number> {
  const r = await sql<{ n: string }>`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), ${lsn}::pg_lsn)::bigint AS n`.execute(b.db);
  return Number(r.rows[0]?.n ?? 0);
}

export interface TableStats {
  rows: number;
  /** Share of updates that were HOT (no index entries written). */
  hotShare: number | null;
  updates: number;
  tableMb: number;
  /** Average stored size of `payload` (after compression), bytes. */
  avgPayloadBytes: number | null;
}

export async function tableStats(b: BenchDb): Promise<TableStats> {
  // Statistics are sent by backends at transaction end; give the collector a moment.
  await sql`SELECT pg_stat_force_next_flush()`.execute(b.db).catch(() => undefined);
  const s = await sql<{ upd: string; hot: string; mb: string }>`
    SELECT n_tup_upd AS upd, n_tup_hot_upd AS hot, pg_total_relation_size('bptf_listings') / 1048576.0 AS mb
    FROM pg_stat_user_tables WHERE relname = 'bptf_listings'`.execute(b.db);
  const c = await sql<{ n: string; avg: string | null }>`
    SELECT count(*) AS n, avg(pg_column_size(payload)) AS avg FROM bptf_listings`.execute(b.db);
  const upd = Number(s.rows[0]?.upd ?? 0);
  const hot = Number(s.rows[0]?.hot ?? 0);
  return {
    rows: Number(c.rows[0]?.n ?? 0),
    updates: upd,
    hotShare: upd > 0 ? hot / upd : null,
    tableMb: Number(s.rows[0]?.mb ?? 0),
    avgPayloadBytes: c.rows[0]?.avg == null ? null : Math.round(Number(c.rows[0].avg)),
  };
}

/** Rows whose event_id is not the newest event the workload sent for them (0 = nothing lost). */
export async function countWrongRows(b: BenchDb, finalEventIds: ReadonlyMap<string, string>): Promise<{ missing: number; wrong: number }> {
  const ids = [...finalEventIds.keys()];
  const eventIds = ids.map((id) => finalEventIds.get(id) as string);
  const r = await sql<{ missing: string; wrong: string }>`
    SELECT count(*) FILTER (WHERE t.id IS NULL) AS missing,
           count(*) FILTER (WHERE t.id IS NOT NULL AND t.event_id <> e.event_id) AS wrong
    FROM unnest(${ids}::text[], ${eventIds}::text[]) AS e(id, event_id)
    LEFT JOIN bptf_listings t ON t.id = e.id`.execute(b.db);
  return { missing: Number(r.rows[0]?.missing ?? 0), wrong: Number(r.rows[0]?.wrong ?? 0) };
}

export interface ServerInfo {
  version: string;
  settings: Record<string, string>;
}

const SETTINGS = [
  'shared_buffers',
  'synchronous_commit',
  'fsync',
  'full_page_writes',
  'wal_compression',
  'max_wal_size',
  'checkpoint_timeout',
  'default_toast_compression',
  'autovacuum',
  'work_mem',
  'max_connections',
];

export async function serverInfo(b: BenchDb): Promise<ServerInfo> {
  const v = await sql<{ v: string }>`SELECT version() AS v`.execute(b.db);
  const s = await sql<{ name: string; value: string }>`
    SELECT name, current_setting(name) AS value FROM pg_settings WHERE name = ANY(${SETTINGS}::text[]) ORDER BY name`.execute(b.db);
  const settings: Record<string, string> = {};
  for (const r of s.rows) settings[r.name] = r.value;
  return { version: v.rows[0]?.v ?? 'unknown', settings };
}

/** What differs between bptf_listings and the state the workload must end in (all 0: every row right). */
export interface FinalStateCheck {
  /** Listings expected (one row each). */
  expected: number;
  missing: number;
  /** Rows of listings no event was sent for. */
  unexpected: number;
  /** event_id, deleted_at or payload_event_id not the newest event's. */
  wrongEvent: number;
  /** The right events, but payload differs (compared as jsonb) from the one that event carried. */
  wrongPayload: number;
  /** missing + unexpected + wrongEvent + wrongPayload. */
  wrongRows: number;
}

/** Something `pg.Client` and `pg.Pool` both are: the check runs on either (the embedded database is reached by a client). */
interface Queryable {
  query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

/**
 * Every row against its expected final state (workload `finalRows`), in chunks of 2 000 listings
 * (a chunk's payload texts are about 5 MB of parameters).
 */
export async function checkFinalState(q: Queryable, finalRows: ReadonlyMap<string, ExpectedRow>): Promise<FinalStateCheck> {
  const all = [...finalRows.entries()];
  let missing = 0;
  let wrongEvent = 0;
  let wrongPayload = 0;
  for (let i = 0; i < all.length; i += 2000) {
    const chunk = all.slice(i, i + 2000);
    const r = await q.query<{ missing: string; wrong_event: string; wrong_payload: string }>(
      `SELECT count(*) FILTER (WHERE t.id IS NULL) AS missing,
              count(*) FILTER (WHERE t.id IS NOT NULL AND (t.event_id <> e.event_id OR (t.deleted_at IS NOT NULL) <> e.deleted
                                                           OR t.payload_event_id IS DISTINCT FROM e.payload_event_id)) AS wrong_event,
              count(*) FILTER (WHERE t.id IS NOT NULL AND t.event_id = e.event_id AND (t.deleted_at IS NOT NULL) = e.deleted
                                     AND t.payload_event_id IS NOT DISTINCT FROM e.payload_event_id
                                     AND e.payload IS NOT NULL AND t.payload <> e.payload::jsonb) AS wrong_payload
       FROM unnest($1::text[], $2::text[], $3::bool[], $4::text[], $5::text[]) AS e(id, event_id, deleted, payload_event_id, payload)
       LEFT JOIN bptf_listings t ON t.id = e.id`,
      [chunk.map(([id]) => id), chunk.map(([, r]) => r.eventId), chunk.map(([, r]) => r.deleted), chunk.map(([, r]) => r.payloadEventId), chunk.map(([, r]) => r.payload)],
    );
    missing += Number(r.rows[0]?.missing ?? 0);
    wrongEvent += Number(r.rows[0]?.wrong_event ?? 0);
    wrongPayload += Number(r.rows[0]?.wrong_payload ?? 0);
  }
  const total = await q.query<{ n: string }>('SELECT count(*) AS n FROM bptf_listings');
  const unexpected = Math.max(0, Number(total.rows[0]?.n ?? 0) - (all.length - missing));
  return { expected: all.length, missing, unexpected, wrongEvent, wrongPayload, wrongRows: missing + unexpected + wrongEvent + wrongPayload };
}
