/**
 * When the database says no (CONTRACT.md, "failure rules, round three"): a read-only database and
 * revoked privileges are the "database refusing" scope. Never a reject: every event is held and
 * written once the cause is gone, while /readyz, last_error, the gauge and (where it can be written)
 * ingest_status say why. The daemon runs as the ordinary role that owns its database: a superuser
 * would ignore both faults.
 */
import { describe, it } from 'vitest';
import { ownedDatabaseSupported } from '../helpers/owned-database.js';
import { useRefusalScenarios } from '../helpers/refusal-scenario.js';

describe.skipIf(!ownedDatabaseSupported())('the database refuses writes: held, never rejected', () => {
  const { run } = useRefusalScenarios();

  it('a read-only database (25006): 503 refusing while it lasts, then every event written', async () => {
    await run(
      {
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
      },
      // A singleton feed's leader whose lock session is on a read-only server gives the feed up (the
      // contract, for a failover); with one replica the feed would then stop and events go unreceived.
      // Here the feed runs on every replica, so no lock decides, and every event sent is received.
      { BPTF_REPLICAS: 'all' },
    );
  }, 90_000);

  it('INSERT and UPDATE revoked on every table (42501): 503 refusing while it lasts, then every event written', async () => {
    await run({
      sqlstate: '42501',
      statusRowWritable: false, // ingest_status is revoked too
      apply: (db) => db.query(`REVOKE INSERT, UPDATE ON ALL TABLES IN SCHEMA public FROM ${db.role}`).then(() => undefined),
      fix: (db) => db.query(`GRANT INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO ${db.role}`).then(() => undefined),
    });
  }, 90_000);

  it('INSERT and UPDATE revoked on bptf_listings alone (42501): ingest_status says db_refusing, then every event written', async () => {
    await run({
      sqlstate: '42501',
      statusRowWritable: true,
      apply: (db) => db.query(`REVOKE INSERT, UPDATE ON bptf_listings FROM ${db.role}`).then(() => undefined),
      fix: (db) => db.query(`GRANT INSERT, UPDATE ON bptf_listings TO ${db.role}`).then(() => undefined),
    });
  }, 90_000);
});
