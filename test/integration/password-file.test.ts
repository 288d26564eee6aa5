import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listingIdFor, makeListingUpdate } from '../../src/simulator/bptf-events.js';
import { FakeBptfServer } from '../../src/simulator/bptf-server.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { spawnDaemon } from '../helpers/daemon-process.js';
import { PrivateCluster, privateClusterUnavailable } from '../helpers/private-cluster.js';
import { waitFor } from '../helpers/wait-for.js';

const ROLE = 'tributary_app';
const DATABASE = 'tributary';
const PASSWORD_A = 'pw-A-first-9f3c';
const PASSWORD_B = 'pw-B-rotated-71d2';

const unavailable = privateClusterUnavailable();

// A Postgres of the test's own: the shared test database has no password authentication to rotate.
(unavailable ? describe.skip : describe)(`DATABASE_PASSWORD_FILE${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let cluster: PrivateCluster;
  let server: FakeBptfServer;
  let app: TestApp | undefined;
  let secretDir: string;
  let nextListing = 0;

  const sendNew = (n: number) => {
    const events = Array.from({ length: n }, () => makeListingUpdate(nextListing++, { timeSec: 1_765_600_000 }));
    expect(server.sendEvents(events)).toBe(true);
  };
  const db = <R extends Record<string, unknown>>(sql: string, params: unknown[] = []) => cluster.query<R>(sql, params, DATABASE);
  const listings = async () => Number((await db<{ n: string }>('SELECT count(*) AS n FROM bptf_listings'))[0]?.n ?? 0);

  beforeAll(async () => {
    cluster = await PrivateCluster.start();
    await cluster.psql(`CREATE ROLE ${ROLE} LOGIN PASSWORD '${PASSWORD_A}'`);
    await cluster.psql(`CREATE DATABASE ${DATABASE} OWNER ${ROLE}`);
    secretDir = mkdtempSync(join(tmpdir(), 'tributary-secret-'));
    server = new FakeBptfServer();
    await server.start();
  });
  afterAll(async () => {
    await app?.stop();
    await server?.stop();
    await cluster?.stop();
    if (secretDir) rmSync(secretDir, { recursive: true, force: true });
  });

  it('reads the password for every new connection: a rotation (ALTER ROLE, new file, sessions ended) loses and rejects nothing', async () => {
    const file = join(secretDir, 'db_password');
    writeFileSync(file, `${PASSWORD_A}\n`);
    app = await startTestApp({
      // No password in the URL: the file's is the only one.
      DATABASE_URL: cluster.url(ROLE, undefined, DATABASE),
      DATABASE_PASSWORD_FILE: file,
      BPTF_ENABLED: 'true',
      BPTF_URL: server.url,
      // The feed's leader lock is a session too (BPTF_REPLICAS=one): it must log in again with the new password.
      BPTF_REPLICAS: 'one',
    });
    await waitFor(() => app!.statuses.get('bptf')?.state === 'connected', 'connected');
    sendNew(50);
    await waitFor(async () => (await listings()) === 50, 'the first 50 written with password A', 20_000);

    const stream = setInterval(() => sendNew(10), 50);
    let terminatedAt = 0;
    try {
      await waitFor(() => nextListing >= 200, 'the stream running');
      // The rotation: the role's password changes, the secret file follows, and the sessions logged in
      // with the old one are ended (as a pooler or an operator would): every new connection needs B.
      await cluster.psql(`ALTER ROLE ${ROLE} PASSWORD '${PASSWORD_B}'`);
      writeFileSync(file, `${PASSWORD_B}\n`);
      terminatedAt = Date.now();
      const ended = await cluster.query<{ pid: number }>('SELECT pg_terminate_backend(pid) AS ended, pid FROM pg_stat_activity WHERE usename = $1', [ROLE]);
      expect(ended.length).toBeGreaterThanOrEqual(2); // the pool's and the lock's
      // Events keep coming for a while after.
      const until = nextListing + 400;
      await waitFor(() => nextListing >= until, 'the stream after the rotation', 20_000);
    } finally {
      clearInterval(stream);
    }
    const sent = nextListing;
    await waitFor(async () => (await listings()) === sent, `all ${sent} listings written`, 30_000);
    const ids = (await db<{ id: string }>('SELECT id FROM bptf_listings')).map((r) => r.id).sort();
    expect(ids).toEqual(Array.from({ length: sent }, (_, i) => listingIdFor(i)).sort());
    expect(await db('SELECT * FROM ingest_rejects')).toEqual([]);

    // Both kinds of session logged in again, with B: the pool's and the feed lock's.
    await waitFor(async () => {
      const sessions = await cluster.query<{ application_name: string }>(
        "SELECT application_name FROM pg_stat_activity WHERE usename = $1 AND backend_start > to_timestamp($2 / 1000.0)",
        [ROLE, terminatedAt],
      );
      const names = new Set(sessions.map((s) => s.application_name));
      return names.has('tributary') && names.has('tributary-lock-bptf');
    }, 'new sessions of the pool and of the lock');
    expect(app.statuses.get('bptf')?.state).toBe('connected');
    const logs = app.logs.join('');
    expect(logs.includes(PASSWORD_A) || logs.includes(PASSWORD_B), 'a password in the logs').toBe(false);
  }, 90_000);

  it('a password file gone for a while (a secret being replaced): writes wait, then resume; nothing lost or rejected', async () => {
    const file = join(secretDir, 'db_password');
    rmSync(file);
    await cluster.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [ROLE]);
    const first = nextListing;
    for (let i = 0; i < 20; i++) sendNew(10);
    await waitFor(() => /ENOENT/.test(app!.statuses.get('bptf')?.lastError ?? ''), 'last_error names the unreadable file');
    expect(await listings()).toBeLessThan(nextListing);
    writeFileSync(file, `${PASSWORD_B}\n`);
    await waitFor(async () => (await listings()) === nextListing, `the ${nextListing - first} held events written once the file is back`, 30_000);
    expect(await db('SELECT * FROM ingest_rejects')).toEqual([]);
  }, 60_000);
});

describe('DATABASE_PASSWORD_FILE at start', () => {
  it('a file that cannot be read stops the daemon with one line naming the variable, exit 1', async () => {
    const missing = join(tmpdir(), 'tributary-no-such-dir', 'db_password');
    const daemon = spawnDaemon({ DATABASE_URL: 'postgres://app@127.0.0.1:1/tributary', DATABASE_PASSWORD_FILE: missing });
    expect(await daemon.exited).toBe(1);
    expect(daemon.output()).toBe('tributary: invalid configuration: DATABASE_PASSWORD_FILE cannot be read (ENOENT)\n');
  });
});
