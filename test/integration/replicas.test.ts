import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FakeBptfServer } from '../../src/simulator/bptf-server.js';
import { makeListingUpdate, type BptfEvent } from '../../src/simulator/bptf-events.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { startTestApp } from '../helpers/app.js';
import { spawnDaemon, type DaemonProcess } from '../helpers/daemon-process.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { waitFor } from '../helpers/wait-for.js';

const oid = (timeSec: number, tail: number) => timeSec.toString(16).padStart(8, '0') + tail.toString(16).padStart(16, '0');

/** Updates of listings 0..n-1 at a given time: newer rounds supersede older ones. */
function round(n: number, timeSec: number): BptfEvent[] {
  return Array.from({ length: n }, (_, i) => ({ ...makeListingUpdate(i, { timeSec, seed: timeSec }), id: oid(timeSec, i) }));
}

async function leaderOf(tdb: TestDatabase): Promise<string | undefined> {
  const rows = await tdb.db.selectFrom('ingest_status').select(['instance', 'is_leader']).where('source', '=', 'bptf').where('is_leader', '=', true).execute();
  return rows.length === 1 ? rows[0]!.instance : undefined;
}

async function appliedAll(tdb: TestDatabase, events: BptfEvent[]): Promise<boolean> {
  const rows = await tdb.db.selectFrom('bptf_listings').select(['id', 'event_id']).execute();
  const byId = new Map(rows.map((r) => [r.id, r.event_id]));
  return events.every((e) => byId.get(String(e.payload.id)) === e.id);
}

// Advisory locks need a real server: the embedded PGlite is a single session, where every lock succeeds.
describe.skipIf(inject('embedded'))('replicas against one database', () => {
  let tdb: TestDatabase;
  let server: FakeBptfServer;
  const daemons: DaemonProcess[] = [];

  beforeAll(async () => {
    tdb = await createTestDatabase();
    await tdb.migrate();
    server = new FakeBptfServer();
    await server.start();
  });
  afterAll(async () => {
    for (const d of daemons) d.child.kill('SIGKILL');
    await server?.stop();
    await tdb?.close();
  });

  it('runs the singleton feed on exactly one replica; when the leader is SIGKILLed another takes over within 10 s', async () => {
    const env = { DATABASE_URL: tdb.url, BPTF_ENABLED: 'true', BPTF_URL: server.url };
    const a = spawnDaemon({ ...env, INSTANCE_ID: 'replica-a' });
    const b = spawnDaemon({ ...env, INSTANCE_ID: 'replica-b' });
    daemons.push(a, b);
    await server.waitForConnections(1, 30_000);
    // Both are up (each serves /healthz) and still only one upstream connection.
    await a.httpPort();
    await b.httpPort();
    const leader = await waitFor(() => leaderOf(tdb), 'one leader in ingest_status', 20_000);
    expect(server.connections).toBe(1);
    expect(server.totalConnections).toBe(1);

    const before = round(300, 1_765_800_000);
    server.sendEvents(before);
    await waitFor(() => appliedAll(tdb, before), 'events before the failover');

    const killedAt = Date.now();
    (leader === 'replica-a' ? a : b).child.kill('SIGKILL');
    await server.waitForConnections(2, 10_000);
    const takeoverMs = Date.now() - killedAt;
    console.info(`replica takeover after SIGKILL: ${takeoverMs} ms`);
    expect(takeoverMs).toBeLessThan(10_000);
    const follower = leader === 'replica-a' ? 'replica-b' : 'replica-a';
    await waitFor(async () => (await leaderOf(tdb)) === follower || (await tdb.db.selectFrom('ingest_status').select('instance').where('instance', '=', follower).where('is_leader', '=', true).executeTakeFirst()), 'the follower marked leader', 15_000);

    const after = round(300, 1_765_800_100);
    server.sendEvents(after);
    await waitFor(() => appliedAll(tdb, after), 'events after the failover');
    expect(server.connections).toBe(1);
    // Release the lock for the next tests.
    const survivor = leader === 'replica-a' ? b : a;
    survivor.child.kill('SIGTERM');
    expect(await survivor.exited).toBe(0);
  }, 90_000);

  it('hot-hot mode: every replica connects, and the table ends exactly as with one', async () => {
    const hot = new FakeBptfServer();
    await hot.start();
    try {
      const env = { DATABASE_URL: tdb.url, BPTF_ENABLED: 'true', BPTF_URL: hot.url, BPTF_REPLICAS: 'all' };
      const a = spawnDaemon({ ...env, INSTANCE_ID: 'hot-a' });
      const b = spawnDaemon({ ...env, INSTANCE_ID: 'hot-b' });
      daemons.push(a, b);
      await hot.waitForConnections(2, 30_000);
      expect(hot.connections).toBe(2);
      // Both replicas receive every frame, shuffled rounds: the newest round must win everywhere.
      const rounds = [round(200, 1_765_900_002), round(200, 1_765_900_000), round(200, 1_765_900_001)];
      for (const r of rounds) hot.sendEvents(r);
      await waitFor(() => appliedAll(tdb, rounds[0]!), 'the newest round applied');
      a.child.kill('SIGTERM');
      b.child.kill('SIGTERM');
      expect(await a.exited).toBe(0);
      expect(await b.exited).toBe(0);
      expect(await appliedAll(tdb, rounds[0]!)).toBe(true);
    } finally {
      await hot.stop();
    }
  }, 90_000);

  it('SIGKILL during a steady stream, then a restart: the daemon reconnects and continues; committed rows stay correct', async () => {
    const steady = new FakeBptfServer();
    await steady.start();
    try {
      const env = { DATABASE_URL: tdb.url, BPTF_ENABLED: 'true', BPTF_URL: steady.url, INSTANCE_ID: 'crashy', BPTF_REPLICAS: 'all' };
      const first = spawnDaemon(env);
      daemons.push(first);
      await steady.waitForConnections(1, 30_000);
      const sent = new Map<string, string>(); // listing id -> newest event id sent
      let t = 1_766_000_000;
      const tick = () => {
        const events = round(50, t++);
        for (const e of events) sent.set(String(e.payload.id), e.id);
        steady.sendEvents(events);
      };
      const stream = setInterval(tick, 20);
      await waitFor(async () => (await tdb.db.selectFrom('bptf_listings').select('id').where('event_time', '>=', new Date(1_766_000_005_000)).executeTakeFirst()), 'some committed rounds');
      first.child.kill('SIGKILL');
      expect(await first.exited).toBe('SIGKILL');
      clearInterval(stream);
      // Whatever was committed is a real, sent state of each listing.
      const committed = await tdb.db.selectFrom('bptf_listings').select(['id', 'event_id']).where('event_time', '>=', new Date(1_766_000_000_000)).execute();
      expect(committed.length).toBeGreaterThan(0);
      for (const r of committed) expect(r.event_id <= sent.get(r.id)!).toBe(true);

      const second = spawnDaemon(env);
      daemons.push(second);
      await steady.waitForConnections(2, 30_000);
      const last = round(50, t + 10);
      steady.sendEvents(last);
      await waitFor(() => appliedAll(tdb, last), 'events after the restart');
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
    } finally {
      await steady.stop();
    }
  }, 90_000);

  it('a leader that loses its database keeps reading, and steps down only when it finds another replica holding the lock', async () => {
    const feed = new FakeBptfServer();
    await feed.start();
    const proxy = TcpProxy.forUrl(tdb.url);
    await proxy.start();
    const env = { BPTF_ENABLED: 'true', BPTF_URL: feed.url, DATABASE_TIMEOUT_MS: '1500' };
    const a = await startTestApp({ ...env, DATABASE_URL: proxy.rewrite(tdb.url), INSTANCE_ID: 'cut-a' });
    try {
      await feed.waitForConnections(1);
      const b = await startTestApp({ ...env, DATABASE_URL: tdb.url, INSTANCE_ID: 'cut-b' });
      try {
        expect(a.statuses.get('bptf')?.isLeader).toBe(true);
        expect(b.statuses.get('bptf')?.isLeader).toBe(false);
        proxy.cut(); // A's lock session dies with its connection, so Postgres frees the lock
        await feed.waitForConnections(2); // B takes over ...
        expect(feed.connections).toBe(2); // ... while A keeps reading: a short, harmless overlap
        expect(a.statuses.get('bptf')?.isLeader).toBe(true);
        const during = round(100, 1_766_100_000);
        feed.sendEvents(during);
        await waitFor(() => a.statuses.get('bptf')!.eventsReceived >= 100, 'A buffering during its outage');
        proxy.restore();
        await waitFor(() => a.statuses.get('bptf')?.isLeader === false, 'A stepping down');
        await waitFor(() => feed.connections === 1, 'only B connected');
        await waitFor(() => appliedAll(tdb, during), 'the overlap events written');
        expect(b.statuses.get('bptf')?.isLeader).toBe(true);
      } finally {
        await b.stop();
      }
    } finally {
      await a.stop();
      await proxy.stop();
      await feed.stop();
    }
  }, 60_000);

  it('a frozen leader (SIGSTOP) is replaced within LEADER_LEASE_MS + 15 s, and after SIGCONT holds no feed connection', async () => {
    const upstream = new FakeBptfServer();
    await upstream.start();
    const env = { DATABASE_URL: tdb.url, BPTF_ENABLED: 'true', BPTF_URL: upstream.url, LEADER_LEASE_MS: '3000' };
    const a = spawnDaemon({ ...env, INSTANCE_ID: 'frozen-a' });
    const b = spawnDaemon({ ...env, INSTANCE_ID: 'frozen-b' });
    daemons.push(a, b);
    try {
      await a.httpPort();
      await b.httpPort();
      await upstream.waitForConnections(1, 30_000);
      const leaderName = await waitFor(async () => {
        const rows = await tdb.db
          .selectFrom('ingest_status')
          .select('instance')
          .where('source', '=', 'bptf')
          .where('is_leader', '=', true)
          .where('instance', 'in', ['frozen-a', 'frozen-b'])
          .execute();
        return rows.length === 1 ? rows[0]!.instance : undefined;
      }, 'one leader of the two', 20_000);
      const [leader, follower] = leaderName === 'frozen-a' ? [a, b] : [b, a];
      leader.child.kill('SIGSTOP');
      const frozenAt = Date.now();
      // Its sockets stay open: only the lease can move the lock.
      await waitFor(() => upstream.totalConnections >= 2, 'the follower connects to the feed', 3_000 + 15_000).catch((err: Error) => {
        throw new Error(`${err.message}; the follower's lock lines: ${follower.output().split('\n').filter((l) => l.includes('leader-lock')).join(' | ')}`);
      });
      const takeoverMs = Date.now() - frozenAt;
      console.log(`frozen leader replaced after ${takeoverMs} ms`);
      expect(takeoverMs).toBeLessThan(3_000 + 15_000);
      expect(follower.output()).toMatch(/has not renewed its lease: ending its lock session/);
      const events = round(30, 1_766_500_000);
      upstream.sendEvents(events);
      await waitFor(() => appliedAll(tdb, events), 'events through the new leader');

      leader.child.kill('SIGCONT');
      await waitFor(() => upstream.connections === 1, 'the old leader closed its feed connection', 20_000);
      expect(leader.output()).toMatch(/stalled past its leader lease: stopping the feed/);
      leader.child.kill('SIGTERM');
      follower.child.kill('SIGTERM');
      expect(await leader.exited).toBe(0);
      expect(await follower.exited).toBe(0);
    } finally {
      a.child.kill('SIGCONT');
      await upstream.stop();
    }
  }, 90_000);
});
