import { randomBytes } from 'node:crypto';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { inject } from 'vitest';
import { migrateToLatest } from '../../src/core/db/migrate.js';
import type { Database } from '../../src/feeds/index.js';
import { createLogger } from '../../src/logger.js';

export interface TestDatabase {
  readonly url: string;
  readonly db: Kysely<Database>;
  readonly pool: pg.Pool;
  /** Apply the migrations (the daemon does it itself at start). */
  migrate(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A database of this test file's own: a new database on a real server, or, on the embedded
 * database (one database per worker, whose files run one at a time), the worker's with its schema reset.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const embeddedUrls = inject('embedded') ? inject('databaseUrls') : undefined;
  const serverUrl = embeddedUrls
    ? (embeddedUrls[(Number(process.env.VITEST_POOL_ID ?? 1) - 1) % embeddedUrls.length] as string)
    : inject('databaseUrl');
  let url = serverUrl;
  let dropName: string | undefined;
  if (embeddedUrls) {
    const admin = new pg.Client({ connectionString: serverUrl });
    await admin.connect();
    await admin.query('DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;');
    await admin.end();
  } else {
    dropName = `tributary_test_${process.pid}_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: serverUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${dropName}`);
    await admin.end();
    const u = new URL(serverUrl);
    u.pathname = `/${dropName}`;
    url = u.toString();
  }
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  // pool.end() resolves before its clients' connections have closed; the DROP DATABASE … WITH (FORCE)
  // in close() can then terminate one (57P01), which the pool emits as 'error'. Expected here: ignore.
  pool.on('error', () => undefined);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return {
    url,
    db,
    pool,
    migrate: () => migrateToLatest({ db, pool }, createLogger('silent')),
    async close() {
      await db.destroy();
      if (dropName) {
        const admin = new pg.Client({ connectionString: serverUrl });
        await admin.connect();
        await admin.query(`DROP DATABASE IF EXISTS ${dropName} WITH (FORCE)`).catch(() => undefined);
        await admin.end();
      }
    },
  };
}

export async function count(db: Kysely<Database>, table: keyof Database): Promise<number> {
  const r = await sql<{ n: string }>`SELECT count(*) AS n FROM ${sql.table(table)}`.execute(db);
  return Number(r.rows[0]?.n ?? 0);
}
