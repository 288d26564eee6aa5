import { afterAll, beforeAll } from 'vitest';
import { FakeBptfServer } from '../../src/simulator/bptf-server.js';
import { startTestApp, type TestApp } from './app.js';
import { createTestDatabase, type TestDatabase } from './database.js';

/**
 * For a describe block: a database of its own, a fake backpack.tf server, and the daemon connected
 * to both (started before the tests, stopped after). Read the fields inside the tests.
 */
export function useBptfDaemon(env: Record<string, string> = {}): { tdb: TestDatabase; server: FakeBptfServer; app: TestApp } {
  const h = {} as { tdb: TestDatabase; server: FakeBptfServer; app: TestApp };
  beforeAll(async () => {
    h.tdb = await createTestDatabase();
    h.server = new FakeBptfServer();
    await h.server.start();
    h.app = await startTestApp({ DATABASE_URL: h.tdb.url, BPTF_ENABLED: 'true', BPTF_URL: h.server.url, ...env });
    await h.server.waitForConnections(1);
  });
  afterAll(async () => {
    await h.app?.stop();
    await h.server?.stop();
    await h.tdb?.close();
  });
  return h;
}
