import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeListingUpdate } from '../../src/simulator/bptf-events.js';
import { FakeBptfServer } from '../../src/simulator/bptf-server.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { count, createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { waitFor } from '../helpers/wait-for.js';

/** A listing whose payload nests `depth` levels deep: JSON.parse takes it, re-encoding it throws RangeError. */
function deepListing(index: number, depth: number): string {
  const e = makeListingUpdate(index, { timeSec: 1_765_700_000 });
  const json = JSON.stringify(e);
  const nest = '{"n":'.repeat(depth) + '1' + '}'.repeat(depth);
  // Put the nesting inside the payload (after its opening brace).
  return json.replace('"payload":{', `"payload":{"deep":${nest},`);
}

describe('poison events: an event that can never be written stops nothing', () => {
  let tdb: TestDatabase;
  let server: FakeBptfServer;
  let app: TestApp;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    server = new FakeBptfServer();
    await server.start();
    app = await startTestApp({ DATABASE_URL: tdb.url, BPTF_ENABLED: 'true', BPTF_URL: server.url });
    await server.waitForConnections(1);
  });
  afterAll(async () => {
    await app?.stop();
    await server?.stop();
    await tdb?.close();
  });

  it('three deeply nested events inside three frames of valid ones: every valid event written, the three rejected, ready again, a clean stop', async () => {
    const valid = 150;
    for (let f = 0; f < 3; f++) {
      const events = Array.from({ length: valid / 3 }, (_, i) => JSON.stringify(makeListingUpdate(f * 1000 + i, { timeSec: 1_765_700_000 })));
      events.splice(25, 0, deepListing(9_000 + f, 6_000));
      server.sendFrame(`[${events.join(',')}]`);
    }
    await waitFor(async () => (await count(tdb.db, 'bptf_listings')) === valid, `${valid} valid listings`);
    const rejects = await waitFor(async () => {
      const rows = await tdb.db.selectFrom('ingest_rejects').select(['reason', 'raw']).where('source', '=', 'bptf').execute();
      return rows.length === 3 ? rows : undefined;
    }, 'three rejects');
    for (const r of rejects) expect(r.reason).toMatch(/^database refused the listing: .*call stack/i);
    await waitFor(async () => (await fetch(`http://127.0.0.1:${app.httpPort}/readyz`)).status === 200, '/readyz 200');
    const metrics = await (await fetch(`http://127.0.0.1:${app.httpPort}/metrics`)).text();
    expect(metrics).toMatch(/tributary_events_rejected_total\{source="bptf"\} 3/);
    expect(metrics).toMatch(/tributary_events_written_total\{source="bptf"\} 150/);
    await app.stop(); // resolves: no error escapes the drain
    expect(app.logs.join('')).not.toMatch(/"level":(50|60).*shutdown step failed/);
  });
});
