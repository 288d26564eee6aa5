import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeBptfServer } from '../../src/simulator/bptf-server.js';
import { makeListingUpdate } from '../../src/simulator/bptf-events.js';
import { count, createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { spawnDaemon } from '../helpers/daemon-process.js';

describe('lifecycle of the real process', () => {
  let tdb: TestDatabase;
  let server: FakeBptfServer;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    server = new FakeBptfServer();
    await server.start();
  });
  afterAll(async () => {
    await server?.stop();
    await tdb?.close();
  });

  it('SIGTERM right after a burst: every event is stored, the socket closes with 1000, exit code 0', async () => {
    // A long batch wait so that the burst is still buffered when the signal lands.
    const daemon = spawnDaemon({ DATABASE_URL: tdb.url, BPTF_ENABLED: 'true', BPTF_URL: server.url, BATCH_MAX_WAIT_MS: '5000' });
    try {
      await server.waitForConnections(1, 20_000);
      const burst = Array.from({ length: 3000 }, (_, i) => makeListingUpdate(i, { timeSec: 1_765_400_000 + (i % 7) }));
      for (let i = 0; i < burst.length; i += 100) server.sendEvents(burst.slice(i, i + 100));
      daemon.child.kill('SIGTERM');
      const code = await daemon.exited;
      expect(code, daemon.output()).toBe(0);
      expect(await count(tdb.db, 'bptf_listings')).toBe(3000);
      expect(server.closeCodes).toContain(1000);
      const status = await tdb.db.selectFrom('ingest_status').selectAll().where('source', '=', 'bptf').executeTakeFirstOrThrow();
      expect(status.state).toBe('stopped');
      expect(Number(status.events_written)).toBe(3000);
    } finally {
      daemon.child.kill('SIGKILL');
    }
  });

  it('a bad variable stops start-up with one line naming it, and exit code 1', async () => {
    const daemon = spawnDaemon({ BATCH_MAX_EVENTS: 'many', TRADEPOST_API_KEY: 'tp_live_do_not_print_me' });
    expect(await daemon.exited).toBe(1);
    const lines = daemon.output().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/BATCH_MAX_EVENTS/);
    expect(daemon.output()).not.toContain('tp_live_do_not_print_me');
  });
});
