// Free of vitest: the tests (db-refusing*.test.ts) and bench/faults.ts apply the same faults.
import type { OwnedDatabase } from './owned-database-core.js';

/** A way the database says no, applied and removed by the superuser. */
export interface RefusalFault {
  /** The SQLSTATE the daemon's writes get while it holds. */
  readonly sqlstate: string;
  /** Whether the daemon can still write its ingest_status row meanwhile (then it must say db_refusing). */
  readonly statusRowWritable: boolean;
  apply(db: OwnedDatabase): Promise<void>;
  fix(db: OwnedDatabase): Promise<void>;
}

/** A read-only database (25006): the setting, then every session ended so that new ones get it. */
export const READ_ONLY: RefusalFault = {
  sqlstate: '25006',
  statusRowWritable: false, // a read-only database takes no status row either
  async apply(db) {
    await db.admin(`ALTER DATABASE ${db.name} SET default_transaction_read_only = on`);
    await db.terminateSessions();
  },
  async fix(db) {
    await db.admin(`ALTER DATABASE ${db.name} RESET default_transaction_read_only`);
    await db.terminateSessions();
  },
};

/**
 * The daemon's environment for READ_ONLY. A singleton feed's leader whose lock session is on a
 * read-only server gives the feed up (the contract, for a failover); with one replica the feed would
 * then stop and events go unreceived. With the feed on every replica no lock decides, and every
 * event sent is received.
 */
export const READ_ONLY_ENV: Readonly<Record<string, string>> = { BPTF_REPLICAS: 'all' };

/** INSERT and UPDATE revoked on every table (42501). */
export const REVOKED_ALL: RefusalFault = {
  sqlstate: '42501',
  statusRowWritable: false, // ingest_status is revoked too
  apply: (db) => db.query(`REVOKE INSERT, UPDATE ON ALL TABLES IN SCHEMA public FROM ${db.role}`).then(() => undefined),
  fix: (db) => db.query(`GRANT INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO ${db.role}`).then(() => undefined),
};

/** INSERT and UPDATE revoked on bptf_listings alone (42501). */
export const REVOKED_LISTINGS: RefusalFault = {
  sqlstate: '42501',
  statusRowWritable: true,
  apply: (db) => db.query(`REVOKE INSERT, UPDATE ON bptf_listings FROM ${db.role}`).then(() => undefined),
  fix: (db) => db.query(`GRANT INSERT, UPDATE ON bptf_listings TO ${db.role}`).then(() => undefined),
};

/** bptf_listings renamed (42P01), as after a botched manual migration. */
export const TABLE_RENAMED: RefusalFault = {
  sqlstate: '42P01',
  statusRowWritable: true,
  apply: (db) => db.query('ALTER TABLE bptf_listings RENAME TO bptf_listings_away').then(() => undefined),
  fix: (db) => db.query('ALTER TABLE IF EXISTS bptf_listings_away RENAME TO bptf_listings').then(() => undefined),
};

/** bptf_listings.payload renamed (42703). */
export const COLUMN_RENAMED: RefusalFault = {
  sqlstate: '42703',
  statusRowWritable: true,
  apply: (db) => db.query('ALTER TABLE bptf_listings RENAME COLUMN payload TO payload_x').then(() => undefined),
  fix: (db) => db.query('ALTER TABLE bptf_listings RENAME COLUMN payload_x TO payload').then(() => undefined),
};
