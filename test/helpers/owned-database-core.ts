// Free of vitest, so that a script outside the suite (bench/faults.ts) can use it too;
// owned-database.ts adds what the suite provides (its server's URL).
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * A database owned by an ordinary login role of its own, on the real server the suite uses
 * (`TEST_DATABASE_URL` in the tests). The daemon connects as that role (`url`) and applies the migrations itself,
 * so it owns its tables: grants and `default_transaction_read_only` apply to it, which they would not
 * to a superuser. The test's own statements (the faults, the checks) run as the superuser.
 *
 * Not for the embedded database (one user, no roles): skip the file there (`ownedDatabaseSupported`).
 */
export interface OwnedDatabase {
  /** The owner role, e.g. `trib_1a2b3c4d` (LOGIN, no password: the server trusts 127.0.0.1). */
  readonly role: string;
  /** The database's name. */
  readonly name: string;
  /** A URL naming the owner role: what the daemon's DATABASE_URL is (or points at through a proxy). */
  readonly url: string;
  /** The superuser's URL of the server's own database (for a session the test keeps open). */
  readonly serverUrl: string;
  /** Run SQL as the superuser inside this database, in a session of its own (closed after). */
  query<R extends object = Record<string, unknown>>(text: string, values?: unknown[]): Promise<R[]>;
  /** Run SQL as the superuser in the server's own database (ALTER DATABASE, pg_stat_activity, …). */
  admin<R extends object = Record<string, unknown>>(text: string, values?: unknown[]): Promise<R[]>;
  /** End every session in this database (but the caller's). */
  terminateSessions(): Promise<void>;
  /** Drop the database (WITH (FORCE)), then the role. */
  drop(): Promise<void>;
}

async function run<R extends object>(url: string, text: string, values?: unknown[]): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  // A session ended from outside (pg_terminate_backend) while idle must not crash the test process.
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** `serverUrl`: a superuser's URL of a real server (roles and grants: not the embedded database). */
export async function createOwnedDatabaseOn(serverUrl: string): Promise<OwnedDatabase> {
  const suffix = randomBytes(4).toString('hex');
  const role = `trib_${suffix}`;
  const name = `trib_faults_${process.pid}_${suffix}`;
  await run(serverUrl, `CREATE ROLE ${role} LOGIN`);
  await run(serverUrl, `CREATE DATABASE ${name} OWNER ${role}`);
  const asRole = new URL(serverUrl);
  asRole.username = role;
  asRole.password = '';
  asRole.pathname = `/${name}`;
  const asSuper = new URL(serverUrl);
  asSuper.pathname = `/${name}`;
  const superUrl = asSuper.toString();
  const terminateSessions = async () => {
    await run(serverUrl, 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
  };
  return {
    role,
    name,
    url: asRole.toString(),
    serverUrl,
    query: (text, values) => run(superUrl, text, values),
    admin: (text, values) => run(serverUrl, text, values),
    terminateSessions,
    async drop() {
      await run(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await run(serverUrl, `DROP ROLE IF EXISTS ${role}`);
    },
  };
}
