import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../../src/core/db/embedded.js';
import { EMBEDDED_SETTINGS, serveEmbedded, type EmbeddedServer } from '../../src/core/db/embedded-process.js';
import { copyTemplate, saveTemplate, templateDir } from '../../src/core/db/embedded-template.js';
import { FatalError } from '../../src/errors.js';
import { createLogger } from '../../src/logger.js';
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

/** A fresh DATA_DIR and a started fake backpack.tf for the tests of the describe that calls it. */
function dataDirAndBptf(): { dataDir: string; server: FakeBptfServer } {
  const fixture = { dataDir: '', server: new FakeBptfServer() };
  beforeAll(async () => {
    fixture.dataDir = await mkdtemp(join(tmpdir(), 'tributary-embedded-'));
    await fixture.server.start();
  });
  afterAll(async () => {
    await fixture.server.stop();
    await rm(fixture.dataDir, { recursive: true, force: true });
  });
  return fixture;
}

describe('embedded database (no DATABASE_URL)', () => {
  const fixture = dataDirAndBptf();

  it('runs end to end on PGlite, serves psql-compatible connections, and keeps data across restarts', async () => {
    const port = await freePort();
    const env = { DATABASE_URL: undefined, DATA_DIR: fixture.dataDir, EMBEDDED_PG_PORT: String(port), BPTF_ENABLED: 'true', BPTF_URL: fixture.server.url };
    let app = await startTestApp(env);
    try {
      await fixture.server.waitForConnections(1);
      fixture.server.sendEvents(Array.from({ length: 50 }, (_, i) => makeListingUpdate(i, { timeSec: 1_765_500_000 })));
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

/** This machine's first IPv4 address that is not loopback (a container's or a host's own), if any. */
const outsideAddress = Object.values(networkInterfaces())
  .flat()
  .find((a) => a?.family === 'IPv4' && !a.internal)?.address;

describe('EMBEDDED_PG_HOST: the address the embedded database listens on', () => {
  /** Connects as psql would, to `host`; the error's code (ECONNREFUSED…) when it fails, else 'connected'. */
  async function connectTo(host: string, port: number): Promise<string> {
    const client = new pg.Client({ connectionString: `postgres://postgres@${host}:${port}/postgres`, connectionTimeoutMillis: 5000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return 'connected';
    } catch (err) {
      return (err as NodeJS.ErrnoException).code ?? String(err);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  it.for<{ label: string; host: string | undefined; outside: string }>([
    { label: '0.0.0.0', host: '0.0.0.0', outside: 'connected' },
    { label: 'the default (127.0.0.1)', host: undefined, outside: 'ECONNREFUSED' },
  ])("with $label, a connection on this machine's non-loopback address gives $outside; loopback always serves", { timeout: 60_000 }, async ({ host, outside }, ctx) => {
    ctx.skip(outsideAddress === undefined, 'this machine has no IPv4 address besides loopback, so no address tells 0.0.0.0 from 127.0.0.1');
    const dataDir = await mkdtemp(join(tmpdir(), 'tributary-embedded-'));
    const port = await freePort();
    // Through the configuration, as the Docker image sets it; unset is the default (127.0.0.1).
    const app = await startTestApp({ DATABASE_URL: undefined, DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(port), EMBEDDED_PG_HOST: host });
    try {
      expect(await connectTo(outsideAddress ?? '', port)).toBe(outside);
      expect(await connectTo('127.0.0.1', port)).toBe('connected');
      // The daemon's own connections reach it on loopback whichever address it listens on.
      expect(app.database?.url).toBe(`postgres://postgres@127.0.0.1:${port}/postgres`);
    } finally {
      await app.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('says which variable to change: a port in use on that address, or an address this machine does not have', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'tributary-embedded-'));
    const squatter = createServer();
    await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r));
    const port = (squatter.address() as { port: number }).port;
    const start = (host: string, p: number) =>
      startEmbeddedPostgres({ dataDir, host, port: p, logger: createLogger('silent') }).then(
        async (db) => (await db.close(), undefined),
        (e: unknown) => e as FatalError,
      );
    try {
      const inUse = await start('127.0.0.1', port);
      expect(inUse).toBeInstanceOf(FatalError);
      expect(inUse?.message).toBe(`EMBEDDED_PG_PORT ${port} on 127.0.0.1 is already in use by another process; set EMBEDDED_PG_PORT to a free port`);
      // 203.0.113.0/24 is reserved for documentation: no machine's interface has it.
      const foreign = await start('203.0.113.1', 0);
      expect(foreign).toBeInstanceOf(FatalError);
      expect(foreign?.code).toBe('EMBEDDED_PG_HOST_UNAVAILABLE');
      expect(foreign?.message).toMatch(/^EMBEDDED_PG_HOST 203\.0\.113\.1 is not an address of this machine/);
    } finally {
      squatter.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('a client\'s long statement on the embedded database (EMBEDDED_QUERY_TIMEOUT_MS)', () => {
  const fixture = dataDirAndBptf();

  it('is ended at the timeout; /readyz answers meanwhile and ingestion resumes', async () => {
    const timeoutMs = 2000;
    const port = await freePort();
    const app = await startTestApp({
      DATABASE_URL: undefined,
      DATA_DIR: fixture.dataDir,
      EMBEDDED_PG_PORT: String(port),
      EMBEDDED_QUERY_TIMEOUT_MS: String(timeoutMs),
      BPTF_ENABLED: 'true',
      BPTF_URL: fixture.server.url,
    });
    const client = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres`, application_name: 'psql' });
    client.on('error', () => undefined); // its connection is closed with the statement
    try {
      await fixture.server.waitForConnections(1);
      fixture.server.sendEvents(Array.from({ length: 20 }, (_, i) => makeListingUpdate(i, { timeSec: 1_765_500_000 })));
      await waitFor(async () => Number((await app.database!.pool.query('SELECT count(*) AS n FROM bptf_listings')).rows[0].n) === 20, '20 listings before');
      await client.connect();
      const started = Date.now();
      const sleeping = client.query('SELECT pg_sleep(30)').then(
        () => ({ ok: true, ms: Date.now() - started }),
        () => ({ ok: false, ms: Date.now() - started }),
      );
      // Events that arrive while the statement holds the database are written once it is gone.
      await new Promise((r) => setTimeout(r, 300));
      fixture.server.sendEvents(Array.from({ length: 20 }, (_, i) => makeListingUpdate(20 + i, { timeSec: 1_765_500_000 })));
      // The HTTP endpoints answer from memory: /readyz, and the status page and its JSON.
      const answers: Record<string, number[]> = { '/readyz': [], '/': [], '/status.json': [] };
      while (Date.now() - started < timeoutMs - 300) {
        for (const [path, times] of Object.entries(answers)) {
          const t = Date.now();
          const r = await fetch(`http://127.0.0.1:${app.httpPort}${path}`);
          await r.text();
          times.push(Date.now() - t);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      for (const [path, times] of Object.entries(answers)) {
        expect(times.length, JSON.stringify(answers)).toBeGreaterThanOrEqual(2);
        // Answered from memory: within 200 ms as a rule (the median: a busy two-core machine stalls an
        // event loop past 200 ms now and then), and never near an answer that waited for the held
        // database, which would take until the statement's end (the first, about 1.7 s).
        const sorted = [...times].sort((a, b) => a - b);
        expect(sorted[Math.floor(sorted.length / 2)], `${path} answer times (ms): ${times.join(', ')}`).toBeLessThanOrEqual(200);
        expect(Math.max(...times), `${path} answer times (ms): ${times.join(', ')}`).toBeLessThan(1_000);
      }
      const ended = await sleeping;
      expect(ended.ok).toBe(false);
      // Ended at the timeout, not after 30 s (slack: the watchdog's timer and the process's end, on busy cores).
      expect(ended.ms).toBeGreaterThanOrEqual(timeoutMs);
      expect(ended.ms).toBeLessThan(timeoutMs + 3000);
      await waitFor(
        async () => Number((await app.database!.pool.query('SELECT count(*) AS n FROM bptf_listings')).rows[0].n) === 40,
        '40 listings: the events sent during the statement are written',
        30_000,
      );
      expect(app.logs.some((l) => l.includes('ran past EMBEDDED_QUERY_TIMEOUT_MS'))).toBe(true);
    } finally {
      await client.end().catch(() => undefined);
      await app.stop();
    }
  }, 90_000);

  it('closes another connection idle in its transaction past the timeout, and rolls that transaction back', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tributary-embedded-'));
    copyTemplate(join(dir, 'pglite'));
    const served = await serveEmbedded({ dataDir: dir, port: 0, watch: { started: async () => undefined, ended: () => undefined, holdTimeoutMs: 500 } });
    const url = `postgres://postgres@127.0.0.1:${served.port}/postgres`;
    const idle = new pg.Client({ connectionString: url, application_name: 'psql' });
    const own = new pg.Client({ connectionString: url, application_name: 'tributary' });
    const idleError = new Promise<Error>((resolve) => idle.on('error', resolve));
    try {
      await idle.connect();
      await own.connect();
      await own.query('CREATE TABLE held (x int)');
      await idle.query('BEGIN');
      await idle.query('INSERT INTO held VALUES (1)');
      // The daemon's statement waits for the idle transaction, then runs once it is closed.
      const started = Date.now();
      const rows = (await own.query('SELECT count(*)::int AS n FROM held')).rows;
      expect(rows).toEqual([{ n: 0 }]);
      expect(Date.now() - started).toBeGreaterThanOrEqual(400);
      expect(Date.now() - started).toBeLessThan(5000);
      expect(((await idleError) as Error & { code?: string }).code).toBe('25P03');
    } finally {
      await idle.end().catch(() => undefined);
      await own.end();
      await served.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('leaves the daemon\'s own connections untimed', async () => {
    const db = await startEmbeddedPostgres({ dataDir: fixture.dataDir, port: await freePort(), queryTimeoutMs: 500, logger: createLogger('silent') });
    const c = new pg.Client({ connectionString: db.url, application_name: 'tributary-test' });
    await c.connect();
    try {
      await c.query('SELECT pg_sleep(1.2)');
    } finally {
      await c.end();
      await db.close();
    }
  }, 60_000);
});

describe('the embedded database process', () => {
  it('runs with the embedded settings, in a process of its own, started again when it dies', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'tributary-embedded-'));
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
        done();
      },
    });
    const db = await startEmbeddedPostgres({ dataDir, port: await freePort(), logger: createLogger('debug', sink) });
    const query = async (sql: string) => {
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      try {
        return (await c.query(sql)).rows;
      } finally {
        await c.end();
      }
    };
    try {
      for (const [name, value] of Object.entries(EMBEDDED_SETTINGS)) expect((await query(`SHOW ${name}`))[0], name).toEqual({ [name]: value });
      const pid = lines.find((l) => l.msg === 'embedded database ready (PGlite)')?.pid as number;
      expect(pid).toBeGreaterThan(0);
      expect(pid).not.toBe(process.pid);
      process.kill(pid, 'SIGKILL');
      await waitFor(() => lines.some((l) => l.msg === 'embedded database restarted'), 'the embedded database restarted', 30_000);
      expect(await query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
    } finally {
      await db.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('the embedded database server (one session, several connections)', () => {
  let dataDir: string;
  let server: EmbeddedServer;
  const clients: pg.Client[] = [];
  const connect = async () => {
    const c = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${server.port}/postgres` });
    c.on('error', () => undefined); // the test that cuts a connection
    await c.connect();
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'tributary-embedded-'));
    copyTemplate(join(dataDir, 'pglite')); // when the installation has one: seconds of initdb saved
    server = await serveEmbedded({ dataDir, port: 0 });
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    await server?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("keeps another connection's statements out of a transaction until it ends", async () => {
    const [a, b] = [await connect(), await connect()];
    await a.query('CREATE TABLE tx_test (v int)');
    await a.query('BEGIN');
    await a.query('INSERT INTO tx_test VALUES (1)');
    let seen: number | undefined;
    const other = b.query<{ n: number }>('SELECT count(*)::int AS n FROM tx_test').then((r) => (seen = r.rows[0]?.n));
    await new Promise((r) => setTimeout(r, 200));
    expect(seen).toBeUndefined();
    await a.query('INSERT INTO tx_test VALUES (2)');
    await a.query('COMMIT');
    await other;
    expect(seen).toBe(2);
  });

  it('rolls back the transaction of a connection that goes away, and serves a large message whole', async () => {
    const [a, b] = [await connect(), await connect()];
    await a.query('CREATE TABLE gone_test (v int)');
    await a.query('BEGIN');
    await a.query('INSERT INTO gone_test VALUES (1)');
    (a as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    await waitFor(async () => (await b.query<{ n: number }>('SELECT count(*)::int AS n FROM gone_test')).rows[0]?.n === 0, 'the rollback');
    const big = 'x'.repeat(5_000_000); // about 80 chunks of 64 KiB
    expect((await b.query<{ n: number }>('SELECT length($1::text) AS n', [big])).rows[0]?.n).toBe(big.length);
  });

  it("delivers a NOTIFY to each connection that LISTENs to its channel, and to no other", async () => {
    const [listener, quoted, other, notifier] = [await connect(), await connect(), await connect(), await connect()];
    const heard = new Map<pg.Client, string[]>([[listener, []], [quoted, []], [other, []]]);
    for (const [c, list] of heard) c.on('notification', (n) => list.push(`${n.channel}:${n.payload ?? ''}`));
    await listener.query('LISTEN Changes');
    await quoted.query('LISTEN "Other Channel"');
    await other.query('LISTEN elsewhere; UNLISTEN elsewhere');
    await notifier.query("SELECT pg_notify('changes', 'one')");
    await notifier.query(`BEGIN; NOTIFY "Other Channel", 'two'; NOTIFY changes, 'three'; COMMIT`);
    await notifier.query("NOTIFY elsewhere, 'four'");
    // A query on each delivers what is pending first.
    for (const c of heard.keys()) await c.query('SELECT 1');
    expect(heard.get(listener)).toEqual(['changes:one', 'changes:three']);
    expect(heard.get(quoted)).toEqual(['Other Channel:two']);
    expect(heard.get(other)).toEqual([]);
  });

  it('vacuums a table with many dead rows (single-user Postgres has no autovacuum)', async () => {
    const c = await connect();
    await c.query('CREATE TABLE vacuum_test (id int PRIMARY KEY, v int)');
    await c.query('INSERT INTO vacuum_test SELECT g, 0 FROM generate_series(1, 1000) g');
    await c.query('UPDATE vacuum_test SET v = 1');
    await c.query('UPDATE vacuum_test SET v = 2');
    await c.query('SELECT pg_stat_force_next_flush()');
    await server.maintain();
    const r = await c.query<{ vacuums: string; dead: string }>(
      `SELECT vacuum_count AS vacuums, n_dead_tup AS dead FROM pg_stat_user_tables WHERE relname = 'vacuum_test'`,
    );
    expect(Number(r.rows[0]?.vacuums)).toBeGreaterThanOrEqual(1);
    expect(Number(r.rows[0]?.dead)).toBe(0);
  });
});

describe('new databases from a template', () => {
  it('keeps a closed database as the template and makes whole, working copies of it', async () => {
    const root = await mkdtemp(join(tmpdir(), 'tributary-template-'));
    try {
      copyTemplate(join(root, 'a', 'pglite')); // when the installation has one: seconds of initdb saved
      const a = await serveEmbedded({ dataDir: join(root, 'a'), port: 0 });
      const c = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${a.port}/postgres` });
      await c.connect();
      await c.query('CREATE TABLE kept (v int); INSERT INTO kept VALUES (7)');
      await c.end();
      await a.close();

      const template = join(root, 'template');
      saveTemplate(join(root, 'a', 'pglite'), template);
      expect(existsSync(join(template, 'PG_VERSION'))).toBe(true);
      saveTemplate(join(root, 'missing'), template); // one exists: left alone
      expect(copyTemplate(join(root, 'none', 'pglite'), join(root, 'no-template'))).toBe(false);
      expect(copyTemplate(join(root, 'b', 'pglite'), template)).toBe(true);
      expect(readdirSync(join(root, 'b'))).toEqual(['pglite']); // no partial copy left behind
      // The template readable by all (the Docker image's is made by root and copied by `node`), a
      // database its owner's only, as initdb makes one.
      for (const [dir, want] of [
        [template, { dir: 0o755, file: 0o644 }],
        [join(root, 'b', 'pglite'), { dir: 0o700, file: 0o600 }],
      ] as const) {
        expect(statSync(dir).mode & 0o777, dir).toBe(want.dir);
        expect(statSync(join(dir, 'global')).mode & 0o777, `${dir}/global`).toBe(want.dir);
        expect(statSync(join(dir, 'PG_VERSION')).mode & 0o777, `${dir}/PG_VERSION`).toBe(want.file);
        expect(statSync(join(dir, 'global', 'pg_control')).mode & 0o777, `${dir}/global/pg_control`).toBe(want.file);
      }

      const b = await serveEmbedded({ dataDir: join(root, 'b'), port: 0 });
      const d = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${b.port}/postgres` });
      await d.connect();
      expect((await d.query<{ v: number }>('SELECT v FROM kept')).rows).toEqual([{ v: 7 }]);
      await d.end();
      await b.close();
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it("keeps the installation's first database as its template, and the daemon copies it for a new DATA_DIR", async () => {
    const template = templateDir();
    expect(template).toContain(join('node_modules', '.cache', 'tributary', 'pglite-'));
    const root = await mkdtemp(join(tmpdir(), 'tributary-embedded-'));
    const lines: string[] = [];
    const logger = createLogger('info', new Writable({ write: (chunk: Buffer, _e, cb) => (lines.push(chunk.toString()), cb()) }));
    try {
      // The first creation on this installation (if none was made yet) saves the template...
      await (await startEmbeddedPostgres({ dataDir: join(root, 'a'), port: 0, logger })).close();
      expect(existsSync(join(template as string, 'PG_VERSION'))).toBe(true);
      // ...which the next new DATA_DIR copies.
      lines.length = 0;
      await (await startEmbeddedPostgres({ dataDir: join(root, 'b'), port: 0, logger })).close();
      expect(lines.join('')).toContain('created the embedded database from its template');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
