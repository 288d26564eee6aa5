import { Kysely, PostgresDialect, sql, type PostgresPool, type PostgresPoolClient } from 'kysely';
import pg from 'pg';
import type { Logger } from '../../logger.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded.js';
import { passwordFromFile, type PasswordSource } from './password-file.js';
import { pgConnection } from './pg-connection.js';
import type { CoreDatabase } from './schema.js';

export interface DatabaseHandle {
  readonly db: Kysely<CoreDatabase>;
  readonly pool: pg.Pool;
  /** Connection string in use (the embedded server's when DATABASE_URL is unset). May hold a password: log with redactUrl. */
  readonly url: string;
  readonly embedded: boolean;
  /** DATABASE_PASSWORD_FILE's reader, for other sessions on this database (the leader lock); undefined: the URL's password. */
  readonly password: PasswordSource | undefined;
  /** Destroy the pool, then stop the embedded server if there is one. */
  close(): Promise<void>;
}

export async function connectDatabase(opts: {
  databaseUrl: string | undefined;
  /** DATABASE_PASSWORD_FILE: read for every new connection; overrides the URL's password (not for the embedded database). */
  databasePasswordFile?: string | undefined;
  dataDir: string;
  /** EMBEDDED_PG_HOST; default 127.0.0.1. */
  embeddedPgHost?: string;
  embeddedPgPort: number;
  /** EMBEDDED_QUERY_TIMEOUT_MS (ms), for an embedded database started here. */
  embeddedQueryTimeoutMs?: number;
  logger: Logger;
  /** Bound on one statement (ms): a hung write fails and is retried instead of stalling the writer forever. */
  databaseTimeoutMs?: number;
  poolMax?: number;
  /** The embedded database, already starting (main.ts starts it early); else started here when databaseUrl is unset. */
  embedded?: Promise<EmbeddedPostgres>;
}): Promise<DatabaseHandle> {
  const timeoutMs = opts.databaseTimeoutMs ?? 30_000;
  let embedded: EmbeddedPostgres | undefined;
  let url = opts.databaseUrl;
  if (!url) {
    embedded = await (opts.embedded ?? startEmbeddedPostgres({ dataDir: opts.dataDir, host: opts.embeddedPgHost, port: opts.embeddedPgPort, queryTimeoutMs: opts.embeddedQueryTimeoutMs, logger: opts.logger }));
    url = embedded.url;
  }
  const password = !embedded && opts.databasePasswordFile ? passwordFromFile(opts.databasePasswordFile) : undefined;
  const pool = new pg.Pool({
    ...pgConnection(url, password),
    // PGlite executes one statement at a time, so more connections would only queue inside it.
    max: embedded ? 2 : (opts.poolMax ?? 6),
    connectionTimeoutMillis: Math.min(timeoutMs, 10_000),
    idleTimeoutMillis: 30_000,
    // Client-side bound too: a server that stops answering (network hang) never reports statement_timeout.
    query_timeout: timeoutMs + 1_000,
    statement_timeout: embedded ? undefined : timeoutMs,
    application_name: 'tributary',
    keepAlive: true,
  });
  // An idle client losing its connection (database restart) must not crash the process; the
  // pool replaces it on next use, and the writer retries.
  pool.on('error', (err) => opts.logger.warn({ err }, 'idle database connection failed'));
  // pg-pool listens for errors only on idle clients; a checked-out client whose connection dies between
  // two queries would emit an unhandled 'error' and crash the process. Its queries fail and are retried.
  pool.on('connect', (client) => client.on('error', (err) => opts.logger.warn({ err }, 'database connection lost')));
  const readOnly = readOnlyReporter(pool, opts.logger);
  const db = new Kysely<CoreDatabase>({ dialect: new PostgresDialect({ pool: discardingReadOnly(pool, readOnly) }) });
  let closed = false;
  return {
    db,
    pool,
    url,
    embedded: embedded !== undefined,
    password,
    async close() {
      if (closed) return;
      closed = true;
      await db.destroy();
      await embedded?.close();
    },
  };
}

/** At most one pg_is_in_recovery() question (and its log line) this often (ms) while writes meet 25006. */
const READ_ONLY_CHECK_MS = 30_000;

/**
 * Kysely's view of the pool, with two differences: a connection is discarded when released, not
 * reused, when
 * - its server answered 25006 (read-only transaction): after a failover, a pooled connection can
 *   still sit on the demoted server (or go through a proxy that kept it), and every write on it would
 *   fail however long the new primary has been up; a new connection finds the new primary;
 * - a transaction on it may still be open: its COMMIT or ROLLBACK failed (a cancel, 57014, can land on it), or
 *   a statement met 25P02 (a transaction aborted and never ended). Such a connection holds the
 *   aborted transaction's row locks: reused, every statement on it fails, and the other write slot
 *   waits on those locks until its statement timeout, with nothing written meanwhile.
 */
function discardingReadOnly(pool: pg.Pool, onReadOnly: () => void): PostgresPool {
  return {
    async connect(): Promise<PostgresPoolClient> {
      const client = await pool.connect();
      let discard: string | undefined;
      const query = ((...args: Parameters<pg.PoolClient['query']>) => {
        const result = (client.query as (...a: unknown[]) => unknown)(...args);
        if (!(result instanceof Promise)) return result; // a cursor
        return result.catch((err: unknown) => {
          const code = (err as { code?: unknown }).code;
          if (code === '25006') {
            discard = 'the server is read-only (25006)';
            onReadOnly();
          } else if (code === '25P02') discard = 'a transaction on it was aborted and never ended (25P02)';
          else if (typeof args[0] === 'string' && /^\s*(rollback|commit)\b/i.test(args[0])) discard = `its ${args[0].trim().toUpperCase()} failed`;
          throw err;
        });
      }) as PostgresPoolClient['query'];
      return {
        query,
        release: () => client.release(discard ? new Error(`${discard}: connection discarded`) : undefined),
      };
    },
    end: () => pool.end(),
  };
}

/**
 * Asks a read-only server (on a fresh connection) whether it is in recovery, and logs the answer: a
 * standby means a failover left us on the old primary or a replica, else the database itself was set
 * read-only (default_transaction_read_only, a storage quota). At most once every READ_ONLY_CHECK_MS.
 */
function readOnlyReporter(pool: pg.Pool, logger: Logger): () => void {
  let last = 0;
  return () => {
    if (Date.now() - last < READ_ONLY_CHECK_MS) return;
    last = Date.now();
    pool
      .query<{ recovery: boolean }>('SELECT pg_is_in_recovery() AS recovery')
      .then((r) =>
        logger.warn(
          { in_recovery: r.rows[0]?.recovery },
          r.rows[0]?.recovery
            ? 'the database server is a standby in recovery (a failover?): writes wait for a primary'
            : 'the database is read-only (default_transaction_read_only or a quota): writes wait until it accepts them',
        ),
      )
      .catch((err: unknown) => logger.debug({ err }, 'could not ask the database whether it is in recovery'));
  };
}

/** The cheapest question a database answers: for readiness and for noticing the end of an outage. */
export async function pingDatabase(db: Kysely<CoreDatabase>): Promise<void> {
  await sql`SELECT 1`.execute(db);
}
