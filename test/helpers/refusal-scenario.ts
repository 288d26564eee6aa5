import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { FakeBptfServer } from '../../src/simulator/bptf-server.js';
import { startTestApp, type TestApp } from './app.js';
import { diffListings, expectedListings, noDiff } from './expected-listings.js';
import { bptfRejects, holdUntil, metricsText, metricValue, readListings, readyz } from './faults.js';
import { ListingStream } from './listing-stream.js';
import { createOwnedDatabase, type OwnedDatabase } from './owned-database.js';
import type { RefusalFault } from './refusal-faults.js';
import { waitFor } from './wait-for.js';

export type { RefusalFault } from './refusal-faults.js';

/** How long every fault holds: far past the writer's 1 s spill and any retry timer. */
export const FAULT_HOLD_MS = 20_000;
/** The contract's "writes resume by themselves": /readyz is 200 again within this long after the fix. */
export const RECOVERY_MS = 10_000;

/** What the daemon shows while refusing: built so that a failure prints all of it. */
export interface RefusalSnapshot {
  readyz: number;
  body: { database: unknown; sqlstate: unknown; reason: unknown };
  /** app.statuses.get('bptf').lastError */
  lastError: string | null | undefined;
  /** tributary_database_refusing{sqlstate="…"} */
  refusingGauge: number | undefined;
  /** bptf's ingest_status row, where it can be written during the fault. */
  statusRow?: { state: unknown; last_error: unknown };
  /** ingest_rejects rows for bptf: every event sent is valid, so always 0. */
  rejects: number;
}

export async function refusalSnapshot(app: TestApp, db: OwnedDatabase, fault: RefusalFault): Promise<RefusalSnapshot> {
  const r = await readyz(app.httpPort);
  const metrics = await metricsText(app.httpPort);
  const snapshot: RefusalSnapshot = {
    readyz: r.status,
    body: { database: r.body?.database, sqlstate: r.body?.sqlstate, reason: r.body?.reason },
    lastError: app.statuses.get('bptf')?.lastError,
    refusingGauge: metricValue(metrics, 'tributary_database_refusing', `sqlstate="${fault.sqlstate}"`),
    rejects: await bptfRejects(db),
  };
  if (fault.statusRowWritable) {
    const rows = await db.query<{ state: string; last_error: string | null }>(
      "SELECT state, last_error FROM ingest_status WHERE source = 'bptf' AND instance = 'test'",
    );
    snapshot.statusRow = { state: rows[0]?.state, last_error: rows[0]?.last_error };
  }
  return snapshot;
}

/** The contract's "database refusing" for this fault: /readyz, last_error, the gauge, the status row, and no reject. */
export function refusingExpected(fault: RefusalFault): RefusalSnapshot {
  const nonEmpty = expect.stringMatching(/\S/) as unknown as string;
  return {
    readyz: 503,
    body: { database: 'refusing', sqlstate: fault.sqlstate, reason: nonEmpty },
    lastError: nonEmpty,
    refusingGauge: 1,
    ...(fault.statusRowWritable && { statusRow: { state: 'db_refusing', last_error: nonEmpty } }),
    rejects: 0,
  };
}

/**
 * For a describe block: a database owned by a role of its own, a fake backpack.tf server, and
 * `run(fault)`, one whole scenario: the daemon (in process, as that role) under a steady stream,
 * the fault held FAULT_HOLD_MS, the fix, and the checks. Whatever happens, afterEach removes a
 * fault left applied, stops the stream and the app, and empties the tables for the next test.
 */
export function useRefusalScenarios(): { run(fault: RefusalFault, env?: Record<string, string>): Promise<void> } {
  let db: OwnedDatabase;
  let server: FakeBptfServer;
  let app: TestApp | undefined;
  let stream: ListingStream | undefined;
  let pendingFix: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    db = await createOwnedDatabase();
    server = new FakeBptfServer();
    await server.start();
  });
  afterEach(async () => {
    stream?.stop();
    stream = undefined;
    const fix = pendingFix;
    pendingFix = undefined;
    await fix?.().catch((e: unknown) => console.error('could not remove the fault:', e));
    await app?.stop();
    app = undefined;
    await db.query('TRUNCATE bptf_listings, ingest_rejects, ingest_status').catch(() => undefined);
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  async function run(fault: RefusalFault, env: Record<string, string> = {}): Promise<void> {
    const dataDir = mkdtempSync(join(tmpdir(), 'tributary-refusing-'));
    app = await startTestApp({ DATABASE_URL: db.url, BPTF_ENABLED: 'true', BPTF_URL: server.url, DATA_DIR: dataDir, ...env });
    const a = app;
    await waitFor(() => a.statuses.get('bptf')?.state === 'connected', 'connected');
    await waitFor(async () => (await readyz(a.httpPort)).status === 200, '/readyz 200 before the fault (migrations applied as the owner role)');
    // The premise: the daemon's role owns its tables and is no superuser, so grants and read-only apply to it.
    expect(await db.query("SELECT tableowner AS owner FROM pg_tables WHERE tablename = 'bptf_listings'")).toEqual([{ owner: db.role }]);
    expect(await db.query('SELECT rolsuper FROM pg_roles WHERE rolname = $1', [db.role])).toEqual([{ rolsuper: false }]);

    const s = (stream = new ListingStream(server));
    s.start();
    await waitFor(async () => (await db.query("SELECT 1 FROM bptf_listings LIMIT 1")).length > 0, 'listings written before the fault');

    await fault.apply(db);
    pendingFix = () => fault.fix(db);
    const faultAt = Date.now();
    const refusing = refusingExpected(fault);
    // The refusal shows while the stream goes on …
    await expect
      .poll(() => refusalSnapshot(a, db, fault), { timeout: 15_000, interval: 250, message: `database refusing (${fault.sqlstate}) shown` })
      .toEqual(refusing);
    // … and still does when the fault has held far past any internal timer.
    await holdUntil(faultAt, FAULT_HOLD_MS, `the ${FAULT_HOLD_MS} ms fault`);
    expect(await refusalSnapshot(a, db, fault), `still refusing (${fault.sqlstate}) after ${FAULT_HOLD_MS} ms`).toEqual(refusing);

    await fault.fix(db);
    pendingFix = undefined;
    const fixedAt = Date.now();
    await expect
      .poll(async () => (await readyz(a.httpPort)).status, { timeout: RECOVERY_MS, interval: 100, message: `/readyz 200 within ${RECOVERY_MS} ms of the fix` })
      .toBe(200);
    await holdUntil(fixedAt, 3_000, 'streaming on after the fix');
    s.stop();

    const expected = expectedListings(s.events());
    await expect
      .poll(async () => diffListings(await readListings(db), expected), { timeout: 30_000, interval: 500, message: 'bptf_listings equals the expected final state (event_id, payload)' })
      .toEqual(noDiff(expected.size));
    expect(await bptfRejects(db), 'valid events in ingest_rejects').toBe(0);
    expect(s.undelivered, 'frames sent while the daemon had no socket open (the feed must never stop)').toBe(0);
  }

  return { run };
}
