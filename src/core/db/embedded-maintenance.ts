import type pg from 'pg';

/** How often Maintenance looks at the WAL (ms): at 7 000 events/s, 64MB of WAL take about 3 s. */
const WAL_CHECK_EVERY_MS = 5_000;
/** How often it looks at the tables' dead rows (ms); autovacuum's default is 60 s. */
const TABLES_CHECK_EVERY_MS = 30_000;
/** A checkpoint once this much WAL has been written since the last one (bytes; half of max_wal_size). */
const CHECKPOINT_AFTER_WAL_BYTES = 64 * 1024 * 1024;
/** ...or once the last one is this old (s) and at least CHECKPOINT_AFTER_S_MIN_BYTES were written since (checkpoint_timeout's default). */
const CHECKPOINT_AFTER_S = 300;
const CHECKPOINT_AFTER_S_MIN_BYTES = 1024 * 1024;

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type Log = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;

/**
 * What a Postgres server's background processes would do, which single-user Postgres never does:
 * - autovacuum: without VACUUM, every update leaves its old row version behind for good, and the
 *   planner never gets statistics. Same thresholds as autovacuum's defaults (dead rows over 50 + 20 %
 *   of the live ones; ANALYZE after 50 + 10 % of them changed).
 * - the checkpointer: without checkpoints, WAL is never recycled (pg_wal grows by all the data ever
 *   written) and a restart after a crash replays all of it.
 * 600 000 updates of 5 000 listings without these left a 405 MB table with 527 000 dead rows and
 * 1.3 GB of WAL (1.8 GB on disk); with them, 172 MB and 128 MB (320 MB on disk).
 * Through a connection of its own, so PGlite's queue keeps these out of a client's transaction.
 * Each statement holds the database while it runs, as any statement does on PGlite.
 */
export class Maintenance {
  readonly #url: string;
  readonly #log: Log;
  #client: pg.Client | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #tablesCheckedAt = Date.now();
  #stopped = false;

  constructor(url: string, log: Log) {
    this.#url = url;
    this.#log = log;
  }

  start(): void {
    this.#timer = setInterval(() => {
      const tables = Date.now() - this.#tablesCheckedAt >= TABLES_CHECK_EVERY_MS;
      if (tables) this.#tablesCheckedAt = Date.now();
      this.#running ??= this.run({ tables })
        .catch((err: unknown) => this.#log('warn', 'embedded database maintenance failed', { err: String(err) }))
        .finally(() => (this.#running = undefined));
    }, WAL_CHECK_EVERY_MS);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#running;
    await this.#client?.end().catch(() => undefined);
  }

  async #connect(): Promise<pg.Client> {
    if (this.#client) return this.#client;
    // Loaded on first use, seconds after start: not on the path to the database's first answer.
    const { default: { Client } } = await import('pg');
    const c = new Client({ connectionString: this.#url, application_name: 'tributary-embedded-maintenance' });
    c.on('error', () => (this.#client = undefined));
    await c.connect();
    this.#client = c;
    return c;
  }

  /** VACUUM or ANALYZE the tables that need it (with `tables`), then a checkpoint if one is due. */
  async run(opts: { tables: boolean }): Promise<void> {
    const c = await this.#connect();
    if (opts.tables) await this.#tables(c);
    const wal = await c.query<{ bytes: string; age_s: string }>(`
      SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), redo_lsn)::bigint AS bytes, extract(epoch FROM now() - checkpoint_time) AS age_s
      FROM pg_control_checkpoint()`);
    const bytes = Number(wal.rows[0]?.bytes ?? 0);
    const ageS = Number(wal.rows[0]?.age_s ?? 0);
    if (!this.#stopped && (bytes >= CHECKPOINT_AFTER_WAL_BYTES || (ageS >= CHECKPOINT_AFTER_S && bytes >= CHECKPOINT_AFTER_S_MIN_BYTES))) {
      const started = Date.now();
      await c.query('CHECKPOINT');
      this.#log('debug', 'embedded database checkpoint', { wal_bytes: bytes, ms: Date.now() - started });
    }
  }

  async #tables(c: pg.Client): Promise<void> {
    const tables = await c.query<{ name: string; live: string; dead: string; changed: string }>(`
      SELECT format('%I.%I', schemaname, relname) AS name, n_live_tup AS live, n_dead_tup AS dead, n_mod_since_analyze AS changed
      FROM pg_stat_user_tables`);
    for (const t of tables.rows) {
      if (this.#stopped) return;
      const live = Number(t.live);
      const statement =
        Number(t.dead) > 50 + 0.2 * live ? `VACUUM (ANALYZE) ${t.name}` : Number(t.changed) > 50 + 0.1 * live ? `ANALYZE ${t.name}` : undefined;
      if (!statement) continue;
      const started = Date.now();
      await c.query(statement);
      this.#log('debug', 'embedded database maintenance', { statement, dead: Number(t.dead), live, ms: Date.now() - started });
    }
  }
}
