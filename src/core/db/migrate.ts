import { Migrator, type Kysely, type MigrationResultSet } from 'kysely';
import type pg from 'pg';
import { migrations } from '../../../migrations/index.js';
import { RetryableError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { backoffDelay } from '../../util/backoff.js';
import { delay } from '../../util/delay.js';

/**
 * A write attempted before the migrations ran (the database has not answered since start): retried
 * like any outage, so feeds can read, buffer and spool from the first second.
 */
export class MigrationsPendingError extends RetryableError {
  constructor() {
    super('MIGRATIONS_PENDING', 'migrations are not applied yet: waiting for the database');
  }
}

/** Advisory lock key that serialises migrations across processes ("tributary" in ASCII, truncated). */
const MIGRATION_LOCK_KEY = 0x7472_6962;

/**
 * Apply every pending migration. Safe when several processes start at once: besides the Migrator's own
 * lock, the whole run (including the creation of Kysely's bookkeeping tables, which can race) happens
 * under a session advisory lock on a dedicated connection.
 */
export async function migrateToLatest(
  // Kysely's Migrator takes Kysely<any>: migrations are frozen in time and know no app schema type.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  { db, pool }: { readonly db: Kysely<any>; readonly pool: pg.Pool },
  logger: Logger,
): Promise<void> {
  const client = await pool.connect();
  let result: MigrationResultSet;
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
      result = await migrator.migrateToLatest();
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    }
  } finally {
    client.release();
  }
  for (const r of result.results ?? []) {
    if (r.status === 'Success') logger.info({ migration: r.migrationName }, 'migration applied');
    else if (r.status === 'Error') logger.error({ migration: r.migrationName }, 'migration failed');
  }
  if (result.error) {
    throw new RetryableError('MIGRATION_FAILED', `migrations failed: ${String((result.error as Error).message ?? result.error)}`, {
      cause: result.error,
    });
  }
}

/**
 * Migrations before anything is written: retried with backoff while the database is unreachable,
 * until `signal` aborts (then it returns false). The first failure is logged with its stack, the
 * later ones as one line each.
 */
export async function migrateWithRetry(
  handle: Parameters<typeof migrateToLatest>[0],
  logger: Logger,
  retry: { readonly baseMs: number; readonly maxMs: number; readonly signal: AbortSignal },
): Promise<boolean> {
  for (let attempt = 0; !retry.signal.aborted; attempt++) {
    try {
      await migrateToLatest(handle, logger);
      return true;
    } catch (err) {
      if (retry.signal.aborted) break;
      const wait = backoffDelay(attempt, retry.baseMs, retry.maxMs);
      if (attempt === 0) logger.error({ err, retry_in_ms: wait }, 'could not apply migrations; retrying');
      else logger.warn({ error: (err as Error).message, attempt, retry_in_ms: wait }, 'could not apply migrations; retrying');
      await delay(wait, retry.signal);
    }
  }
  return false;
}
