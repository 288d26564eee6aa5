import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultInstanceId } from '../../src/config.js';
import { FakeBptfServer } from '../../src/simulator/bptf-server.js';
import { makeListingUpdate } from '../../src/simulator/bptf-events.js';
import { startTestApp } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { waitFor } from '../helpers/wait-for.js';

/** Log lines at warn (40) or above. */
function warnings(logs: readonly string[]): string[] {
  return logs
    .flatMap((chunk) => chunk.split('\n'))
    .filter((line) => {
      try {
        return (JSON.parse(line) as { level: number }).level >= 40;
      } catch {
        return false;
      }
    });
}

describe('a healthy start, and restarts of one installation', () => {
  let tdb: TestDatabase;
  let server: FakeBptfServer;

  beforeAll(async () => {
    tdb = await createTestDatabase(); // not migrated: the first start migrates it
    server = new FakeBptfServer();
    await server.start();
  });
  afterAll(async () => {
    await server?.stop();
    await tdb?.close();
  });

  it('logs nothing at warn or above, on a new database and on a migrated one; three restarts keep one ingest_status row per feed; rows silent for 7 days go', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tributary-healthy-'));
    // INSTANCE_ID unset: its default names the installation (host and DATA_DIR), not the process.
    const env = { DATABASE_URL: tdb.url, BPTF_ENABLED: 'true', BPTF_URL: server.url, DATA_DIR: dataDir, INSTANCE_ID: undefined, LOG_LEVEL: 'info' };
    for (let run = 0; run < 3; run++) {
      const app = await startTestApp(env);
      try {
        await waitFor(() => app.statuses.get('bptf')?.state === 'connected', 'connected');
        server.sendEvents([makeListingUpdate(run, { timeSec: Math.floor(Date.now() / 1000) })]);
        await waitFor(() => app.statuses.get('bptf')?.eventsWritten === 1, 'the event written');
        // The start line says where the status page is.
        expect(app.logs.join('')).toContain(`"status_page":"http://127.0.0.1:${app.httpPort}/","msg":"tributary started"`);
      } finally {
        await app.stop();
      }
      expect(warnings(app.logs), `run ${run + 1} (${run === 0 ? 'a new database' : 'a migrated one'})`).toEqual([]);
      // An instance stopped 8 days ago: the next start removes its row (7 days are kept).
      if (run === 0) await tdb.pool.query("INSERT INTO ingest_status (source, instance, state, updated_at) VALUES ('bptf', 'gone-host-1234', 'stopped', now() - interval '8 days')");
    }
    // The three runs shared this process (and its pid): the row's name says whose it is.
    const rows = await tdb.db.selectFrom('ingest_status').select(['source', 'instance']).execute();
    expect(rows).toEqual([{ source: 'bptf', instance: defaultInstanceId(dataDir) }]);
    expect(defaultInstanceId(dataDir)).not.toContain(String(process.pid));
  }, 60_000);
});
