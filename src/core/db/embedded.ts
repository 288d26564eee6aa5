import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { FatalError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { EmbeddedMessage } from './embedded-process.js';
import { copyTemplate } from './embedded-template.js';

/**
 * The embedded database: PGlite (Postgres compiled to WebAssembly) with its files in
 * `DATA_DIR/pglite`, served on EMBEDDED_PG_HOST:EMBEDDED_PG_PORT (127.0.0.1:54320 by default) with the
 * Postgres wire protocol, so the daemon talks to it through `pg` exactly as to a real server (one code
 * path) and users can `psql` into it.
 *
 * It runs in a process of its own (embedded-process.ts): its memory is its own (and shows as such),
 * it gets Node flags of its own, it executes statements while the daemon reads and parses (two cores
 * instead of one), and a crash of one does not take the other down: the daemon starts it again and
 * buffers meanwhile, as in any database outage.
 */
export interface EmbeddedPostgres {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Node flags of the database's process: a young generation of 1 MB instead of 16. That process
 * allocates little on the JS heap (a few buffers per statement), and the larger one stayed resident
 * (25 MB more RSS at the real rate).
 */
const EMBEDDED_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];

/**
 * glibc's allocator, for the database's process (other allocators ignore these; the user's own
 * environment wins): one arena instead of one per thread, and blocks of 64 KiB or more mapped and
 * given back to the OS when freed instead of kept in the heap. What V8 allocates to compile
 * WebAssembly otherwise stayed resident: the process's RSS at the real rate went from about 205 to
 * 175 MB.
 */
const EMBEDDED_MALLOC_ENV: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: '1',
  MALLOC_MMAP_THRESHOLD_: '65536',
  MALLOC_TRIM_THRESHOLD_: '65536',
};

/** Waits before restarting a database process that died (ms): doubling up to the last. */
const RESTART_DELAYS_MS = [500, 1000, 2000, 5000, 10_000];
/** Longest wait for the database process to close cleanly before it is killed (ms); the daemon's whole stop must fit in 10 s. */
const CLOSE_TIMEOUT_MS = 5000;

const portInUse = (host: string, port: number) =>
  new FatalError('EMBEDDED_PG_PORT_IN_USE', `EMBEDDED_PG_PORT ${port} on ${host} is already in use by another process; set EMBEDDED_PG_PORT to a free port`);
const hostUnavailable = (host: string) =>
  new FatalError(
    'EMBEDDED_PG_HOST_UNAVAILABLE',
    `EMBEDDED_PG_HOST ${host} is not an address of this machine; set EMBEDDED_PG_HOST to one of its addresses, 0.0.0.0 (every interface) or 127.0.0.1`,
  );

/** The entry of the database's process: compiled (.js) next to this file, or the TypeScript source under tsx (tests). */
function childEntry(): { file: string; execArgv: string[] } {
  const ts = fileURLToPath(import.meta.url).endsWith('.ts');
  const file = fileURLToPath(new URL(`./embedded-process.${ts ? 'ts' : 'js'}`, import.meta.url));
  return { file, execArgv: ts ? ['--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href] : [] };
}

function runChild(mode: 'init' | 'serve', dataDir: string, port: number, queryTimeoutMs = 5000, host = '127.0.0.1'): ChildProcess {
  const entry = childEntry();
  return fork(entry.file, [mode, dataDir, String(port), String(queryTimeoutMs), host], {
    execArgv: [...entry.execArgv, ...EMBEDDED_NODE_FLAGS],
    env: { ...EMBEDDED_MALLOC_ENV, ...process.env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'json',
  });
}

const exitOf = (child: ChildProcess) =>
  new Promise<number | string>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode ?? child.signalCode ?? -1);
    else child.once('exit', (code, signal) => resolve(code ?? signal ?? -1));
  });

/** Start the database process and wait until it serves; rejects when it fails or exits first. */
async function serve(
  dataDir: string,
  host: string,
  port: number,
  logger: Logger,
  queryTimeoutMs: number,
): Promise<{ child: ChildProcess; port: number; url: string }> {
  const child = runChild('serve', dataDir, port, queryTimeoutMs, host);
  child.on('message', (m: EmbeddedMessage) => {
    if (m.type === 'log') logger[m.level](m.fields ?? {}, m.msg);
  });
  const served = await new Promise<{ port: number; url: string }>((resolve, reject) => {
    child.on('message', (m: EmbeddedMessage) => {
      if (m.type === 'ready') resolve(m);
      else if (m.type === 'failed') {
        reject(
          m.code === 'EMBEDDED_PG_PORT_IN_USE'
            ? portInUse(host, port)
            : m.code === 'EMBEDDED_PG_HOST_UNAVAILABLE'
              ? hostUnavailable(host)
              : new Error(`embedded database: ${m.message}`),
        );
      }
    });
    void exitOf(child).then((code) => reject(new Error(`embedded database: its process exited (${code}) while starting`)));
  });
  return { child, port: served.port, url: served.url };
}

export async function startEmbeddedPostgres(opts: {
  dataDir: string;
  /** EMBEDDED_PG_HOST: the address to listen on; default 127.0.0.1. */
  host?: string;
  port: number;
  logger: Logger;
  /** EMBEDDED_QUERY_TIMEOUT_MS: the longest a statement of a connection that is not the daemon's runs (ms); default 5000. */
  queryTimeoutMs?: number;
}): Promise<EmbeddedPostgres> {
  const started = Date.now();
  const host = opts.host ?? '127.0.0.1';
  const queryTimeoutMs = opts.queryTimeoutMs ?? 5000;
  /** The process ended because a client's statement ran past the timeout: restarted at once, no error logged. */
  let timedOut: ChildProcess | undefined;
  // PGlite is one session running one statement at a time, inside the process's event loop: a
  // client's long statement (psql's pg_sleep(30), a dashboard's scan) holds every write meanwhile,
  // and neither Postgres's statement_timeout (its timer never fires while WebAssembly runs) nor a
  // cancel request can end it. Ending the process can: the daemon's own statements are never inside
  // a transaction while another connection's runs (the wire server keeps them apart), so nothing is
  // lost; its writes fail, are retried, and the database is started again from its files.
  const watch = (c: ChildProcess) => {
    let timer: NodeJS.Timeout | undefined;
    c.on('message', (m: EmbeddedMessage) => {
      if (m.type !== 'foreign') return;
      clearTimeout(timer);
      timer = !m.running
        ? undefined
        : setTimeout(() => {
            opts.logger.warn(
              { timeoutMs: queryTimeoutMs, pid: c.pid },
              "a client's statement on the embedded database ran past EMBEDDED_QUERY_TIMEOUT_MS; restarting the database to end it (that client's connection closes)",
            );
            timedOut = c;
            c.kill('SIGKILL');
          }, queryTimeoutMs);
    });
    void exitOf(c).then(() => clearTimeout(timer));
  };
  const dir = join(opts.dataDir, 'pglite');
  if (!existsSync(join(dir, 'PG_VERSION'))) {
    let copied = false;
    try {
      copied = copyTemplate(dir);
    } catch (err) {
      opts.logger.warn({ err, dir }, 'could not copy the embedded database template; creating the database instead');
    }
    if (copied) {
      opts.logger.info({ dir }, 'created the embedded database from its template (first start in this DATA_DIR)');
    } else {
      // Said at once: creating a database takes a few seconds, which would otherwise look like a hang.
      opts.logger.info({ dir }, 'creating the embedded database (first start in this DATA_DIR; a few seconds)');
      const code = await exitOf(runChild('init', opts.dataDir, 0));
      if (code !== 0) throw new Error(`embedded database: creating it in ${dir} failed (exit ${code})`);
    }
  }
  const first = await serve(opts.dataDir, host, opts.port, opts.logger, queryTimeoutMs);
  const port = first.port;
  let child = first.child;
  watch(child);
  opts.logger.info({ host, port, pid: child.pid, ms: Date.now() - started }, 'embedded database ready (PGlite)');

  let closing = false;
  let restarting: Promise<void> | undefined;
  // A database process that dies is started again on the same port; meanwhile writes fail and are
  // retried (spooled), as when an external Postgres goes away.
  const supervise = (c: ChildProcess) =>
    void exitOf(c).then((code) => {
      if (closing) return;
      const ended = c === timedOut;
      if (!ended) opts.logger.error({ code, pid: c.pid }, 'the embedded database process exited; restarting it');
      restarting = (async () => {
        for (let attempt = 0; !closing; attempt++) {
          const wait = ended && attempt === 0 ? 0 : RESTART_DELAYS_MS[Math.min(attempt, RESTART_DELAYS_MS.length - 1)];
          await new Promise((r) => setTimeout(r, wait));
          if (closing) return;
          try {
            ({ child } = await serve(opts.dataDir, host, port, opts.logger, queryTimeoutMs));
            watch(child);
            opts.logger.info({ port, pid: child.pid }, 'embedded database restarted');
            supervise(child);
            return;
          } catch (err) {
            opts.logger.error({ err }, 'could not restart the embedded database; trying again');
          }
        }
      })().finally(() => (restarting = undefined));
    });
  supervise(child);

  return {
    url: first.url,
    port,
    async close() {
      if (closing) return;
      closing = true;
      await restarting;
      if (child.exitCode !== null || child.signalCode !== null) return;
      // Closing writes a last checkpoint; past the timeout, the next start replays the WAL instead.
      child.send({ type: 'close' });
      const timer = setTimeout(() => child.kill('SIGKILL'), CLOSE_TIMEOUT_MS);
      await exitOf(child);
      clearTimeout(timer);
    },
  };
}
