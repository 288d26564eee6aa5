import { cpSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { FakeBptfServer } from '../../src/simulator/bptf-server.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { count, createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { waitFor } from '../helpers/wait-for.js';

/**
 * An upgrade during an outage: the spool a previous release (d3bb8d3) wrote while its database was
 * away (test/fixtures/spool-d3bb8d3, see its README) is written whole by this release, also when the
 * migrations of the new, empty database wait several seconds for their lock, so the replay starts
 * before the schema is there.
 */
/** The embedded database (the suite without TEST_DATABASE_URL or Docker): see the migrations' lock below. */
const embedded = inject('embedded');
const FIXTURE = join(import.meta.dirname, '../fixtures/spool-d3bb8d3');
/** The advisory lock migrateToLatest takes (src/core/db/migrate.ts): holding it holds the migrations back. */
const MIGRATION_LOCK_KEY = 0x7472_6962;
/** How long the migrations are held back once the daemon waits for their lock. */
const MIGRATION_HOLD_MS = 5_000;

interface BptfEvent {
  id: string;
  event: string;
  payload: Record<string, unknown>;
}

interface Expected {
  /** The newest event by (ObjectId time, id): decides event_id and deleted_at. */
  event: BptfEvent;
  /** The newest event with a full payload, by id: decides payload and payload_event_id. */
  full: BptfEvent;
}

const events = JSON.parse(readFileSync(join(FIXTURE, 'events.json'), 'utf8')) as BptfEvent[];
const isIdOnly = (e: BptfEvent) => e.event === 'listing-delete' && Object.keys(e.payload).length === 1;
const seconds = (id: string) => Number.parseInt(id.slice(0, 8), 16);
const newer = (a: BptfEvent, b: BptfEvent) => seconds(a.id) > seconds(b.id) || (seconds(a.id) === seconds(b.id) && a.id > b.id);

/** The final state per listing id, computed from the events alone (the contract's order, not the daemon's code). */
function expectedState(): Map<string, Expected> {
  const byEvent = new Map<string, BptfEvent>();
  const byFull = new Map<string, BptfEvent>();
  for (const e of events) {
    const id = e.payload.id as string;
    const prev = byEvent.get(id);
    if (!prev || newer(e, prev)) byEvent.set(id, e);
    const prevFull = byFull.get(id);
    if (!isIdOnly(e) && (!prevFull || e.id > prevFull.id)) byFull.set(id, e);
  }
  return new Map([...byEvent].map(([id, event]) => [id, { event, full: byFull.get(id) as BptfEvent }]));
}

function spoolLines(dir: string): number {
  return spoolFiles(dir).reduce((n, f) => n + readFileSync(join(dir, 'spool', f), 'utf8').split('\n').filter(Boolean).length, 0);
}

function spoolFiles(dataDir: string): string[] {
  try {
    return readdirSync(join(dataDir, 'spool'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ndjson'));
  } catch {
    return [];
  }
}

describe('upgrade from d3bb8d3 with a spool', () => {
  let tdb: TestDatabase | undefined;
  let app: TestApp | undefined;
  let server: FakeBptfServer | undefined;
  afterEach(async () => {
    await app?.stop();
    app = undefined;
    await server?.stop();
    server = undefined;
    await tdb?.close();
    tdb = undefined;
  });

  it('the fixture holds new listings, later updates, stale updates, full and id-only deletes', () => {
    const expected = expectedState();
    const winners = [...expected.values()].map((x) => x.event);
    expect(events.length).toBeGreaterThanOrEqual(200);
    expect(spoolLines(FIXTURE)).toBe(events.length);
    expect(winners.filter((e) => e.event === 'listing-update' && events.some((o) => o !== e && o.payload.id === e.payload.id)).length).toBeGreaterThan(0);
    expect(winners.filter((e) => e.event === 'listing-delete' && isIdOnly(e)).length).toBeGreaterThan(0);
    expect(winners.filter((e) => e.event === 'listing-delete' && !isIdOnly(e)).length).toBeGreaterThan(0);
    // Events that lose to a newer one received before them.
    expect(events.some((e, i) => events.slice(0, i).some((o) => o.payload.id === e.payload.id && newer(o, e)))).toBe(true);
  });

  async function upgrade(env: Record<string, string>): Promise<void> {
    const dataDir = mkdtempSync(join(tmpdir(), 'tributary-upgrade-'));
    cpSync(join(FIXTURE, 'spool'), join(dataDir, 'spool'), { recursive: true });
    const replayable = spoolLines(dataDir);
    tdb = await createTestDatabase(); // empty: the daemon migrates it

    // Batches of 25: the spool is larger than what the two batches in flight hold (a real outage's
    // spool is megabytes), so most of the replay waits in memory, then on disk again, meanwhile.
    // Tombstones kept whatever the fixture's age.
    const appEnv = { DATABASE_URL: tdb.url, DATA_DIR: dataDir, BATCH_MAX_EVENTS: '25', TOMBSTONE_RETENTION_DAYS: '0', ...env };
    if (embedded) {
      // The embedded database runs one session's statements at a time: another connection holding
      // the migrations' lock would stop the daemon's own session, so the migrations run unheld.
      app = await startTestApp(appEnv);
    } else {
      // Hold the migrations' lock so that the daemon starts, reads its spool and tries to write it
      // before the schema exists.
      const locker = new pg.Client({ connectionString: tdb.url });
      await locker.connect();
      try {
        await locker.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
        const starting = startTestApp(appEnv);
        starting.catch(() => undefined); // awaited below; not unhandled while the lock is held
        await waitFor(
          async () => (await locker.query(`SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND NOT granted`, [MIGRATION_LOCK_KEY])).rowCount,
          'the daemon waiting for the migrations lock',
        );
        // A duration, not a condition: the migrations are to take several seconds while the replay runs.
        await new Promise((r) => setTimeout(r, MIGRATION_HOLD_MS));
        await locker.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
        app = await starting;
      } finally {
        await locker.end();
      }
    }

    const a = app;
    // The case under test: the replay began while the migrations were still held back.
    const at = (msg: string) => a.logs.findIndex((l) => l.includes(`"msg":"${msg}"`));
    expect(at('replaying a spool segment')).toBeGreaterThanOrEqual(0);
    if (!embedded) expect(at('replaying a spool segment')).toBeLessThan(at('migration applied'));
    await waitFor(() => spoolFiles(dataDir).length === 0, 'the spool written and deleted', 30_000);
    await waitFor(async () => (await fetch(`http://127.0.0.1:${a.httpPort}/readyz`)).status === 200, '/readyz 200', 15_000);

    const expected = expectedState();
    const { rows } = await tdb.pool.query<{ id: string; event_id: string; payload_event_id: string | null; deleted: boolean; payload: unknown }>(
      'SELECT id, event_id, payload_event_id, deleted_at IS NOT NULL AS deleted, payload FROM bptf_listings',
    );
    const got = new Map(rows.map((r) => [r.id, r]));
    expect([...got.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [id, x] of expected) {
      expect({ id, ...got.get(id) }).toEqual({
        id,
        event_id: x.event.id,
        payload_event_id: x.full.id,
        deleted: x.event.event === 'listing-delete',
        payload: x.full.payload,
      });
    }
    expect(await count(tdb.db, 'ingest_rejects')).toBe(0);
    const status = a.statuses.get('bptf');
    if (status) expect(status.eventsReplayed).toBe(replayable);
  }

  /** What the start does meanwhile: a server's migrations are held back; the embedded database's run unheld. */
  const migrations = embedded ? 'migrations unheld (embedded database)' : `migrations held ${MIGRATION_HOLD_MS / 1000} s`;

  it(`a spool of the previous release is written whole while its feed runs; ${migrations}`, async () => {
    server = new FakeBptfServer();
    await server.start();
    await upgrade({ BPTF_ENABLED: 'true', BPTF_URL: server.url });
  }, 60_000);

  it(`a spool of the previous release is written whole with its feed disabled; ${migrations}`, async () => {
    await upgrade({ BPTF_ENABLED: 'false' });
  }, 60_000);
});
