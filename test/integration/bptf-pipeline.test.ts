import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeBptfServer } from '../../src/simulator/bptf-server.js';
import { makeListingDelete, makeListingUpdate, mulberry32, type BptfEvent } from '../../src/simulator/bptf-events.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { count, createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { useBptfDaemon } from '../helpers/bptf-daemon.js';
import { waitFor } from '../helpers/wait-for.js';

/** An ObjectId with a chosen time (s) and a chosen tail, so tests control same-second order. */
const oid = (timeSec: number, tail: number) => timeSec.toString(16).padStart(8, '0') + tail.toString(16).padStart(16, '0');

interface Expected {
  eventId: string;
  deleted: boolean;
  payload: Record<string, unknown>;
}

/** The contract's rule, computed independently of the daemon: newest (time, id) wins; newest full payload is kept. */
function expectedState(events: BptfEvent[]): Map<string, Expected> {
  const out = new Map<string, Expected & { payloadEventId: string | null }>();
  for (const e of events) {
    const listingId = String(e.payload.id);
    const full = Object.keys(e.payload).some((k) => k !== 'id');
    const cur = out.get(listingId) ?? { eventId: '', deleted: false, payload: { id: listingId }, payloadEventId: null };
    if (e.id > cur.eventId) {
      cur.eventId = e.id;
      cur.deleted = e.event === 'listing-delete';
    }
    if (full && (cur.payloadEventId === null || e.id > cur.payloadEventId)) {
      cur.payloadEventId = e.id;
      cur.payload = e.payload;
    }
    out.set(listingId, cur);
  }
  return out;
}

describe('backpack.tf feed end to end', () => {
  let tdb: TestDatabase;
  let server: FakeBptfServer;
  let app: TestApp;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    server = new FakeBptfServer();
    await server.start();
    app = await startTestApp({
      DATABASE_URL: tdb.url,
      BPTF_ENABLED: 'true',
      BPTF_URL: server.url,
      BATCH_MAX_EVENTS: '200',
    });
    await server.waitForConnections(1);
  });

  afterAll(async () => {
    await app?.stop();
    await server?.stop();
    await tdb?.close();
  });

  it('asks for batched frames with the batch-test header', () => {
    expect(server.lastRequestHeaders?.['batch-test']).toBe('true');
  });

  it('ends in exactly the state the ordering rule gives, whatever the delivery order', async () => {
    // Deterministic, so a failure can be replayed.
    const rand = mulberry32(42);
    const base = 1_765_000_000;
    const events: BptfEvent[] = [];
    const listings = 300;
    for (let i = 0; i < listings; i++) {
      const n = 1 + Math.floor(rand() * 6);
      for (let j = 0; j < n; j++) {
        // Few distinct seconds, so several events of one listing share a second and only the id tail orders them.
        const timeSec = base + Math.floor(rand() * 3);
        const id = oid(timeSec, Math.floor(rand() * 2 ** 40));
        const roll = rand();
        const e =
          roll < 0.2
            ? makeListingDelete(i, { timeSec, partial: true })
            : roll < 0.35
              ? makeListingDelete(i, { timeSec, seed: j })
              : makeListingUpdate(i, { timeSec, seed: j, price: Math.floor(rand() * 1000) });
        events.push({ ...e, id });
      }
    }
    // Make sure the interesting cases exist: a revival (update newer than a delete) and an id-only delete as the newest event.
    events.push({ ...makeListingDelete(0, { timeSec: base + 5, partial: true }), id: oid(base + 5, 1) });
    events.push({ ...makeListingUpdate(0, { timeSec: base + 6, seed: 99 }), id: oid(base + 6, 1) });
    events.push({ ...makeListingDelete(1, { timeSec: base + 7, partial: true }), id: oid(base + 7, 1) });

    const delivered = [...events, ...events.filter(() => rand() < 0.25)];
    for (let i = delivered.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [delivered[i], delivered[j]] = [delivered[j]!, delivered[i]!];
    }
    for (let i = 0; i < delivered.length; ) {
      const size = 1 + Math.floor(rand() * 40);
      const chunk = delivered.slice(i, i + size);
      i += size;
      if (chunk.length === 1 && rand() < 0.5) server.sendFrame(JSON.stringify(chunk[0]));
      else server.sendEvents(chunk);
    }

    const expected = expectedState(events);
    expect(expected.size).toBe(listings);
    expect(expected.get(events[0]!.payload.id as string)?.deleted).toBe(false);

    const rows = await waitFor(async () => {
      const r = await tdb.db.selectFrom('bptf_listings').selectAll().execute();
      const done = r.length === expected.size && r.every((row) => expected.get(row.id)?.eventId === row.event_id);
      return done ? r : undefined;
    }, 'every listing to reach its final event');

    for (const row of rows) {
      const exp = expected.get(row.id)!;
      const time = new Date(Number.parseInt(exp.eventId.slice(0, 8), 16) * 1000);
      expect(row.event_time).toEqual(time);
      expect(row.deleted_at).toEqual(exp.deleted ? time : null);
      expect(row.payload).toEqual(exp.payload);
      const p = exp.payload as { steamid?: string; appid?: number; intent?: string; item?: { name?: string }; currencies?: unknown; value?: { raw?: number }; listedAt?: number; bumpedAt?: number };
      expect(row.steamid).toBe(p.steamid ?? null);
      expect(row.appid).toBe(p.appid ?? null);
      expect(row.intent).toBe(p.intent ?? null);
      expect(row.item_name).toBe(p.item?.name ?? null);
      expect(row.currencies).toEqual(p.currencies ?? null);
      expect(row.value_raw).toBe(p.value?.raw ?? null);
      expect(row.listed_at).toEqual(p.listedAt === undefined ? null : new Date(p.listedAt * 1000));
      expect(row.bumped_at).toEqual(p.bumpedAt === undefined ? null : new Date(p.bumpedAt * 1000));
    }
  });

  it('stores malformed frames in ingest_rejects and keeps the good events of the same stream', async () => {
    const before = await count(tdb.db, 'ingest_rejects');
    server.sendFrame('{"truncated": ');
    server.sendFrame('');
    server.sendEvents([makeListingUpdate(5000, { timeSec: 1_765_100_000 })]);
    await waitFor(async () => (await count(tdb.db, 'ingest_rejects')) === before + 1, 'the reject row');
    await waitFor(
      () => tdb.db.selectFrom('bptf_listings').select('id').where('item_name', 'is not', null).where('event_time', '=', new Date(1_765_100_000_000)).executeTakeFirst(),
      'the good event after the bad frame',
    );
    const reject = await tdb.db.selectFrom('ingest_rejects').selectAll().orderBy('id', 'desc').executeTakeFirstOrThrow();
    expect(reject.source).toBe('bptf');
    expect(reject.raw).toBe('{"truncated": ');
    expect(reject.reason).toMatch(/invalid JSON/);
  });

  it('ingests a 3 MiB frame', async () => {
    const events = Array.from({ length: 1600 }, (_, i) => makeListingUpdate(10_000 + i, { timeSec: 1_765_200_000 }));
    const frame = JSON.stringify(events);
    expect(frame.length).toBeGreaterThan(3 * 1024 * 1024);
    server.sendFrame(frame);
    await waitFor(
      async () => Number((await sql<{ n: string }>`SELECT count(*) AS n FROM bptf_listings WHERE event_time = to_timestamp(1765200000)`.execute(tdb.db)).rows[0]?.n) === 1600,
      'all 1600 listings of the big frame',
    );
  });

  it('reconnects after the server restarts abruptly, and later events arrive', async () => {
    const connections = server.totalConnections;
    await server.restartAbruptly();
    await server.waitForConnections(connections + 1);
    server.sendEvents([makeListingUpdate(20_000, { timeSec: 1_765_300_000 })]);
    await waitFor(() => tdb.db.selectFrom('bptf_listings').select('id').where('event_time', '=', new Date(1_765_300_000_000)).executeTakeFirst(), 'the event after the restart');
    expect(app.statuses.get('bptf')?.reconnects).toBeGreaterThan(0);
  });

  it('reports status in ingest_status, /readyz and /metrics', async () => {
    const base = `http://127.0.0.1:${app.httpPort}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ ready: true, sources: { bptf: { state: 'connected' } } });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    for (const name of [
      'tributary_events_received_total{source="bptf"}',
      'tributary_events_written_total{source="bptf"}',
      'tributary_events_rejected_total{source="bptf"}',
      'tributary_reconnects_total{source="bptf"}',
      'tributary_connection_state{source="bptf",state="connected"} 1',
      'tributary_buffer_events',
      'tributary_batch_write_duration_seconds_bucket',
      'tributary_ingest_lag_seconds_bucket',
    ]) {
      expect(metrics).toContain(name);
    }
    const status = await waitFor(
      // Refreshed every 5 s: wait for a snapshot taken after the reconnects of the tests above.
      () =>
        tdb.db
          .selectFrom('ingest_status')
          .selectAll()
          .where('source', '=', 'bptf')
          .where('events_written', '>', '0')
          .where('reconnects', '>', '0')
          .where('state', '=', 'connected')
          .executeTakeFirst(),
      'the ingest_status row',
    );
    expect(status).toMatchObject({ instance: 'test', state: 'connected', is_leader: true });
    expect(Number(status.events_received)).toBeGreaterThan(0);
    expect(Number(status.reconnects)).toBeGreaterThan(0);
  });
});

// Its own daemon: with a 1.5 s watchdog, a busy machine can drop the socket of a daemon that is only
// slow to read a pong, and frames sent meanwhile are lost (as backpack.tf would lose them), which
// the delivery-order test above must not meet.
describe('backpack.tf feed: the silence watchdog', () => {
  const h = useBptfDaemon({ BPTF_STALL_MS: '1500' });

  it('drops a socket that stays open but goes silent, and reconnects', async () => {
    const connections = h.server.totalConnections;
    h.server.silence(true);
    await h.server.waitForConnections(connections + 1); // BPTF_STALL_MS = 1500
    h.server.silence(false);
    h.server.sendEvents([makeListingUpdate(20_001, { timeSec: 1_765_300_001 })]);
    await waitFor(() => h.tdb.db.selectFrom('bptf_listings').select('id').where('event_time', '=', new Date(1_765_300_001_000)).executeTakeFirst(), 'the event after the stall');
    expect(h.app.statuses.get('bptf')?.reconnects).toBeGreaterThan(0);
  });
});
