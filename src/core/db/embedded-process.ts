import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { PGlite } from '@electric-sql/pglite';
import { Maintenance, type Log, type LogLevel } from './embedded-maintenance.js';
import { saveTemplate, templateDir } from './embedded-template.js';
import { WireServer, type ForeignStatementWatch } from './embedded-wire-server.js';
import { reachableHost } from '../../util/reachable-host.js';

/**
 * The embedded database's process: PGlite (Postgres compiled to WebAssembly) with its files in
 * `DATA_DIR/pglite`, served on EMBEDDED_PG_HOST (127.0.0.1 by default) with the Postgres wire protocol. The daemon
 * starts it (embedded.ts) as `node <this file> init|serve <dataDir> <port> [<query timeout, ms> [<host>]]` and talks
 * to it over IPC (ready, logs, close). `node <this file> template` makes the template of new databases (embedded-template.ts).
 */

/**
 * Postgres settings of the embedded database, passed as `-c` (over postgresql.conf and ALTER SYSTEM).
 * PGlite keeps Postgres's defaults, sized for a server, and runs Postgres in single-user mode, which
 * has no background processes (no checkpointer, no autovacuum: see Maintenance). Its shared memory
 * lives in the WebAssembly heap, which never shrinks: a buffer touched once stays resident.
 */
export const EMBEDDED_SETTINGS: Readonly<Record<string, string>> = {
  // 128MB by default, resident from the start. With 16MB the write rate at 10 000 rows was less than
  // half that with 32MB (the listings table's indexes and hot pages no longer fit).
  shared_buffers: '32MB',
  // One session: 100 sized the lock and process tables for 100 backends (2MB of shared memory).
  max_connections: '8',
  // The most a VACUUM (or CREATE INDEX) uses at once: 64MB by default, resident once touched.
  maintenance_work_mem: '16MB',
  // PGlite runs with fsync off (its -F): a crash of the machine can already lose or tear pages, a
  // crash of the process cannot (each write has reached the OS). Full-page images guard against the
  // first only; without them the WAL was 2.8 times smaller (a checkpoint every 10 000 upserts) and
  // the CPU per upsert 9 % lower.
  full_page_writes: 'off',
  // A new WAL segment is not filled with zeros first (16MB written before each 16MB of WAL).
  wal_init_zero: 'off',
  // WAL kept for reuse after a checkpoint, which Maintenance requests every 64MB of WAL.
  max_wal_size: '128MB',
  min_wal_size: '32MB',
};

export interface EmbeddedServer {
  readonly port: number;
  /** Where a client on this machine reaches it (the daemon, psql): loopback when it listens on every interface. */
  readonly url: string;
  /** Run Maintenance once now, tables and WAL (with `log`, it also runs on its own schedule). */
  maintain(): Promise<void>;
  close(): Promise<void>;
}

export class EmbeddedPortInUseError extends Error {}
/** The host is not an address of this machine (EADDRNOTAVAIL) or a name that does not resolve (ENOTFOUND). */
export class EmbeddedHostUnavailableError extends Error {}

/** Where a client on this machine reaches the database listening on `host`:`port`. */
export function embeddedUrl(host: string, port: number): string {
  return `postgres://postgres@${reachableHost(host)}:${port}/postgres`;
}

/**
 * Open (or create) the database in `dataDir/pglite` and serve it on `host` (127.0.0.1 by default) at
 * `port` (0: any free port).
 */
export async function serveEmbedded(opts: {
  dataDir: string;
  port: number;
  host?: string;
  log?: Log;
  watch?: ForeignStatementWatch;
}): Promise<EmbeddedServer> {
  const host = opts.host ?? '127.0.0.1';
  const dir = join(opts.dataDir, 'pglite');
  await mkdir(dir, { recursive: true });
  const db = await PGlite.create({
    dataDir: dir,
    startParams: [...PGlite.defaultStartParams, ...Object.entries(EMBEDDED_SETTINGS).flatMap(([k, v]) => ['-c', `${k}=${v}`])],
  });
  // PGlite runs one query at a time; several connections are allowed so `psql` can join the daemon.
  const server = new WireServer(db, 16, opts.watch);
  let port: number;
  try {
    port = await server.listen(opts.port, host);
  } catch (error) {
    await db.close();
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new EmbeddedPortInUseError(`port ${opts.port} on ${host} in use`);
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') throw new EmbeddedHostUnavailableError(`${host}: ${code}`);
    throw error;
  }
  const url = embeddedUrl(host, port);
  const maintenance = new Maintenance(url, opts.log ?? (() => undefined));
  if (opts.log) maintenance.start();
  return {
    port,
    url,
    maintain: () => maintenance.run({ tables: true }),
    async close() {
      await maintenance.stop();
      await server.close();
      await db.close();
    },
  };
}

/** Create the database in `dataDir/pglite` (initdb), close it, and keep it as the template if there is none. */
async function create(dataDir: string): Promise<void> {
  await (await serveEmbedded({ dataDir, port: 0 })).close();
  saveTemplate(join(dataDir, 'pglite'));
}

/** Messages from this process to the daemon (IPC). */
export type EmbeddedMessage =
  | { readonly type: 'ready'; readonly port: number; readonly url: string }
  | { readonly type: 'failed'; readonly code: 'EMBEDDED_PG_PORT_IN_USE' | 'EMBEDDED_PG_HOST_UNAVAILABLE' | 'START_FAILED'; readonly message: string }
  | { readonly type: 'log'; readonly level: LogLevel; readonly msg: string; readonly fields?: Record<string, unknown> }
  /** PGlite starts (true) or ends (false) running a statement of a connection that is not the daemon's. */
  | { readonly type: 'foreign'; readonly running: boolean };

async function main(): Promise<void> {
  // One thread, not one per core, compiles Postgres's hot WebAssembly functions with V8's optimizing
  // compiler: 20 MB less RSS at the real rate, compiled a little later. (The baseline compiler alone,
  // --liftoff-only, took 25 MB more off, but cost a third more CPU per event: the write rate fell
  // below that of PGlite inside the daemon.) Set here, before the module is compiled: a flag that a
  // later V8 does not know is then ignored, where on the command line it would stop Node from starting.
  setFlagsFromString('--wasm-num-compilation-tasks=1');
  const [mode, dataDir, port, queryTimeoutMs, host] = process.argv.slice(2) as [string, string, string, string | undefined, string | undefined];
  const send = (m: EmbeddedMessage) => {
    if (process.connected) process.send?.(m);
  };
  if (mode === 'init') {
    // Creating a database runs initdb in two throwaway WebAssembly instances: 400-600 MB, of which
    // about 150 MB stayed resident after they were collected. Here, in a process that then exits;
    // the result becomes the template of the next ones (embedded-template.ts).
    if (!existsSync(join(dataDir, 'pglite', 'PG_VERSION'))) await create(dataDir);
    process.exit(0);
  }
  if (mode === 'template') {
    // The Docker image's build: make the template now, so that the container's first start copies it.
    const template = templateDir();
    if (!template) throw new Error('no place for the embedded database template (PGlite is not under node_modules)');
    if (!existsSync(template)) {
      const tmp = await mkdtemp(join(tmpdir(), 'tributary-template-'));
      await create(tmp);
      await rm(tmp, { recursive: true, force: true });
    }
    process.exit(existsSync(join(template, 'PG_VERSION')) ? 0 : 1);
  }
  // A stop signal reaches this process too (same process group: Ctrl-C): the daemon still has its last
  // batches to write here, and says when to close (or, if it dies, the IPC channel closes).
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => undefined);
  let server: EmbeddedServer | undefined;
  let closing = false;
  const close = async () => {
    if (closing) return;
    closing = true;
    await server?.close().catch(() => undefined);
    process.exit(0);
  };
  process.on('disconnect', () => void close());
  process.on('message', (m: { type?: string }) => {
    if (m.type === 'close') void close();
  });
  try {
    // The daemon times another connection's statements (EMBEDDED_QUERY_TIMEOUT_MS): while one runs,
    // this process's event loop is blocked, so the start is said before it, and once written to the
    // channel (the callback), so that the daemon has heard it whatever happens next.
    const watch: ForeignStatementWatch = {
      started: () =>
        new Promise<void>((resolve) => {
          if (!process.connected || !process.send) resolve();
          else process.send({ type: 'foreign', running: true } satisfies EmbeddedMessage, undefined, {}, () => resolve());
        }),
      ended: () => send({ type: 'foreign', running: false }),
      holdTimeoutMs: Number(queryTimeoutMs ?? 5000),
    };
    server = await serveEmbedded({ dataDir, port: Number(port), host, log: (level, msg, fields) => send({ type: 'log', level, msg, fields }), watch });
  } catch (err) {
    const code =
      err instanceof EmbeddedPortInUseError ? 'EMBEDDED_PG_PORT_IN_USE' : err instanceof EmbeddedHostUnavailableError ? 'EMBEDDED_PG_HOST_UNAVAILABLE' : 'START_FAILED';
    send({ type: 'failed', code, message: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  }
  if (closing) return;
  send({ type: 'ready', port: server.port, url: server.url });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) void main();
