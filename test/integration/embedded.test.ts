import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeBptfServer } from '../../src/simulator/bptf-server.js';
import { makeListingUpdate } from '../../src/simulator/bptf-events.js';
import { startTestApp } from '../helpers/app.js';
import { waitFor } from '../helpers/wait-for.js';

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

describe('embedded database (no DATABASE_URL)', () => {
  let dataDir: string;
  let server: FakeBptfServer;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'tributary-embedded-'));
    server = new FakeBptfServer();
    await server.start();
  });
  afterAll(async () => {
    await server?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('runs end to end on PGlite, serves psql-compatible connections, and keeps data across restarts', async () => {
    const port = await freePort();
    const env = { DATABASE_URL: undefined, DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(port), BPTF_ENABLED: 'true', BPTF_URL: server.url };
    let app = await startTestApp(env);
    try {
      await server.waitForConnections(1);
      server.sendEvents(Array.from({ length: 50 }, (_, i) => makeListingUpdate(i, { timeSec: 1_765_500_000 })));
      // Any Postgres client can connect to the embedded server, as psql would.
      const client = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
      await client.connect();
      try {
        await waitFor(async () => Number((await client.query('SELECT count(*) AS n FROM bptf_listings')).rows[0].n) === 50, '50 listings in PGlite');
      } finally {
        await client.end();
      }
    } finally {
      await app.stop();
    }
    app = await startTestApp(env);
    try {
      const r = await app.database!.pool.query('SELECT count(*) AS n FROM bptf_listings');
      expect(Number(r.rows[0].n)).toBe(50);
    } finally {
      await app.stop();
    }
    // Creates an embedded database and opens it again: several seconds each, more when test files share 2 cores.
  }, 90_000);
});
