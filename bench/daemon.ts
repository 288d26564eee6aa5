/**
 * The daemon under test, as a child process: the real entry point, compiled (`tsc -p tsconfig.build.json`,
 * as `npm start` runs it) into a private directory so the bench never touches ./dist, or from the
 * TypeScript sources through tsx (`--daemon tsx`, as the tests spawn it).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/**
 * This checkout's tag (8 hex digits of its path). Several checkouts (git worktrees) may share one
 * node_modules and one Postgres: each builds into a directory of its own, and benchmarks in a
 * database of its own, or one would run another's daemon, or drop the database another is using.
 */
export const CHECKOUT_TAG = createHash('sha1').update(ROOT).digest('hex').slice(0, 8);
const BUILD_DIR = join(ROOT, 'node_modules', '.cache', 'tributary-bench', CHECKOUT_TAG, 'dist');
const STAMP = join(BUILD_DIR, '.built');

export type DaemonMode = 'compiled' | 'tsx';

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/** Compile src/ and migrations/ unless the last build is newer than every source file. Returns ms spent. */
export function buildDaemon(log: (line: string) => void): number {
  const sources = Math.max(newestMtime(join(ROOT, 'src')), newestMtime(join(ROOT, 'migrations')));
  if (existsSync(STAMP) && statSync(STAMP).mtimeMs > sources) return 0;
  const started = Date.now();
  mkdirSync(BUILD_DIR, { recursive: true });
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(
    process.execPath,
    [tsc, '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', BUILD_DIR, '--incremental', '--tsBuildInfoFile', join(BUILD_DIR, '.tsbuildinfo')],
    { cwd: ROOT, encoding: 'utf8' },
  );
  if (!existsSync(join(BUILD_DIR, 'src', 'main.js'))) throw new Error(`bench: could not compile the daemon:\n${r.stdout}${r.stderr}`);
  // tsc emits even with type errors (someone else's edit in progress); say so and go on.
  if (r.status !== 0) log(`warning: tsc reported errors; benchmarking the emitted JS anyway:\n${r.stdout.split('\n').slice(0, 5).join('\n')}`);
  writeFileSync(STAMP, new Date().toISOString());
  return Date.now() - started;
}

/** A TCP port free right now on loopback (for the daemon's HTTP server, so /metrics can be read). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolvePort(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

export interface DaemonOptions {
  readonly mode: DaemonMode;
  /** Undefined: the daemon runs its embedded database (set DATA_DIR and EMBEDDED_PG_PORT in `env`). */
  readonly databaseUrl: string | undefined;
  readonly bptfUrl: string;
  readonly httpPort: number;
  /** Extra environment (BATCH_MAX_EVENTS, ...). */
  readonly env?: Record<string, string>;
  /** Write a V8 CPU profile (.cpuprofile) into this directory on exit. */
  readonly cpuProfileDir?: string;
  /** Another compiled main.js to run instead (e.g. a build of an older version, for before/after figures). */
  readonly entry?: string;
}

export interface Daemon {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly output: () => string;
  /** SIGTERM (graceful stop), then SIGKILL after `timeoutMs`. Resolves with the exit code or signal. */
  stop(timeoutMs?: number): Promise<number | string>;
  readonly exited: Promise<number | string>;
}

/**
 * Resolves once `server` sees the daemon's first connection: the daemon connects upstream last, so
 * its database is open and migrated by then. Rejects with the daemon's output if it exits first.
 */
export async function daemonConnected(daemon: Daemon, server: { waitForConnections(n: number, timeoutMs: number): Promise<void> }, timeoutMs: number): Promise<void> {
  await Promise.race([
    server.waitForConnections(1, timeoutMs),
    daemon.exited.then((code) => {
      throw new Error(`bench: the daemon exited (${code}) before connecting:\n${daemon.output().slice(-4000)}`);
    }),
  ]);
}

/** Children still running: killed if the bench itself exits early (error, watchdog, Ctrl-C). */
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export function startDaemon(o: DaemonOptions): Daemon {
  const nodeArgs: string[] = [];
  if (o.cpuProfileDir) {
    mkdirSync(o.cpuProfileDir, { recursive: true });
    nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${o.cpuProfileDir}`);
  }
  // For a look inside the daemon (bench/README.md): e.g. BENCH_DAEMON_NODE_ARGS=--trace-gc BENCH_DAEMON_LOG=/tmp/gc.log.
  const extraArgs = process.env.BENCH_DAEMON_NODE_ARGS?.trim();
  if (extraArgs) nodeArgs.push(...extraArgs.split(/\s+/));
  const entry = o.entry
    ? [resolve(o.entry)]
    : o.mode === 'compiled'
      ? [join(BUILD_DIR, 'src', 'main.js')]
      : ['--import', fileURLToPath(import.meta.resolve('tsx')), join(ROOT, 'src', 'main.ts')];
  // cwd: the build directory, so a developer's ./.env is not loaded into the bench's daemon.
  const child = spawn(process.execPath, [...nodeArgs, ...entry], {
    cwd: o.entry ? dirname(resolve(o.entry)) : o.mode === 'compiled' ? BUILD_DIR : ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      ...(o.databaseUrl === undefined ? {} : { DATABASE_URL: o.databaseUrl }),
      BPTF_URL: o.bptfUrl,
      HTTP_PORT: String(o.httpPort),
      LOG_LEVEL: 'warn',
      INSTANCE_ID: 'bench',
      ...o.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (d: Buffer) => {
    out += d.toString();
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const logFile = process.env.BENCH_DAEMON_LOG;
  if (logFile) child.stdout?.on('data', (d: Buffer) => appendFileSync(logFile, d));
  live.add(child);
  const exited = new Promise<number | string>((res) =>
    child.on('exit', (code, signal) => {
      live.delete(child);
      res(code ?? signal ?? -1);
    }),
  );
  if (child.pid === undefined) throw new Error('bench: could not start the daemon');
  return {
    child,
    pid: child.pid,
    output: () => out,
    exited,
    async stop(timeoutMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** Counters, and the buffer and spool gauges (events, bytes), from the daemon's /metrics (summed over labels). */
export async function scrapeMetrics(port: number): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(tributary_(?:events_\w+_total|write_failures_total|batch_write_duration_seconds_(?:sum|count)|spool_bytes|buffer_events))(?:\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
    if (m) out[m[1] as string] = (out[m[1] as string] ?? 0) + Number(m[2]);
    // BPTF_QUOTES: the delay from the listings' commit to their quotes' (a summary: its quantiles, in s).
    const q = /^tributary_quote_delay_seconds\{quantile="([0-9.]+)"\} ([0-9.e+-]+)$/.exec(line);
    if (q) out[`tributary_quote_delay_seconds_q${q[1] as string}`] = Number(q[2]);
  }
  return out;
}
