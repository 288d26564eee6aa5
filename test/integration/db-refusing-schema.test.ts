/**
 * When the database says no (CONTRACT.md, "failure rules, round three"): a table or a column that is
 * gone (42P01, 42703) is the "database refusing" scope, as after a botched manual migration. Never a
 * reject: every event is held and written once the table or column is back, while /readyz,
 * last_error, the gauge and ingest_status say why.
 */
import { describe, it } from 'vitest';
import { ownedDatabaseSupported } from '../helpers/owned-database.js';
import { COLUMN_RENAMED, TABLE_RENAMED } from '../helpers/refusal-faults.js';
import { useRefusalScenarios } from '../helpers/refusal-scenario.js';

describe.skipIf(!ownedDatabaseSupported())('the schema is not what the daemon writes to: held, never rejected', () => {
  const { run } = useRefusalScenarios();

  it('bptf_listings renamed (42P01): ingest_status says db_refusing, then every event written', async () => {
    await run(TABLE_RENAMED);
  }, 90_000);

  it('bptf_listings.payload renamed (42703): ingest_status says db_refusing, then every event written', async () => {
    await run(COLUMN_RENAMED);
  }, 90_000);
});
