/**
 * When the database says no (CONTRACT.md, "failure rules, round three"): a read-only database and
 * revoked privileges are the "database refusing" scope. Never a reject: every event is held and
 * written once the cause is gone, while /readyz, last_error, the gauge and (where it can be written)
 * ingest_status say why. The daemon runs as the ordinary role that owns its database: a superuser
 * would ignore both faults.
 */
import { describe, it } from 'vitest';
import { ownedDatabaseSupported } from '../helpers/owned-database.js';
import { READ_ONLY, READ_ONLY_ENV, REVOKED_ALL, REVOKED_LISTINGS } from '../helpers/refusal-faults.js';
import { useRefusalScenarios } from '../helpers/refusal-scenario.js';

describe.skipIf(!ownedDatabaseSupported())('the database refuses writes: held, never rejected', () => {
  const { run } = useRefusalScenarios();

  it('a read-only database (25006): 503 refusing while it lasts, then every event written', async () => {
    // BPTF_REPLICAS=all: no feed lock decides (READ_ONLY_ENV says why).
    await run(READ_ONLY, READ_ONLY_ENV);
  }, 90_000);

  it('INSERT and UPDATE revoked on every table (42501): 503 refusing while it lasts, then every event written', async () => {
    await run(REVOKED_ALL);
  }, 90_000);

  it('INSERT and UPDATE revoked on bptf_listings alone (42501): ingest_status says db_refusing, then every event written', async () => {
    await run(REVOKED_LISTINGS);
  }, 90_000);
});
