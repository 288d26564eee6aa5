/**
 * Start-up figures of `npm start` as a user meets it: `node scripts/run.mjs start` (what the npm
 * script runs, without npm's own ~0.3 s) from an empty working directory, timed from spawn to the
 * first 200 of GET /readyz (database up, migrations applied), then to exit after SIGTERM.
 *
 * Cases: an external Postgres (DATABASE_URL); the embedded database in a new DATA_DIR, then the
 * same DATA_DIR again; a bad variable (spawn to exit, with the line naming it). A stale build is
 * compiled before the rounds (run.mjs does it on the first start), so they time current builds.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, freePort } from './daemon.js';
import { DEFAULT_SERVER_URL, dropDatabase, recreateDatabase } from './db.js';

export interface StartupFigures {
  /** Spawn to the first 200 of /readyz (ms), best and median of the rounds. */
  readonly externalReadyMs: Stat;
  readonly embeddedNewReadyMs: Stat;
  readonly embeddedExistingReadyMs: Stat;
  /** SIGTERM to exit (ms), external database. */
  readonly stopMs: Stat;
  /** Spawn to exit for a bad variable (ms), and the line it printed. */
  readonly configErrorMs: Stat;
  readonly configErrorLine: string;
}

export interface Stat {
  readonly best: number;
  readonly median: number;
}

function stat(xs: number[]): Stat {
  const s = [...xs].sort((a, b) => a - b);
  return { best: s[0] ?? NaN, median: s[Math.floor((s.length - 1) / 2)] ?? NaN };
}

interface Run {
  readonly readyMs: number;
  readonly stopMs: number;
}

async function startOnce(env: Record<string, string>, timeoutMs = 60_000): Promise<Run> {
  const port = await freePort();
  const cwd = mkdtempSync(join(tmpdir(), 'tributary-startup-cwd-'));
  const started = performance.now();
  const child = spawn(process.execPath, [join(ROOT, 'scripts', 'run.mjs'), 'start'], {
    cwd,
    env: { PATH: process.env.PATH ?? '', HTTP_PORT: String(port), LOG_LEVEL: 'warn', BPTF_ENABLED: 'false', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    for (;;) {
      if (performance.now() - started > timeoutMs) throw new Error(`bench: not ready within ${timeoutMs} ms:\n${err.slice(-2000)}`);
      if (child.exitCode !== null) throw new Error(`bench: the daemon exited (${child.exitCode}) before it was ready:\n${err.slice(-2000)}`);
      const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    const readyMs = performance.now() - started;
    const stopAt = performance.now();
    child.kill('SIGTERM');
    await exited;
    return { readyMs, stopMs: performance.now() - stopAt };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(cwd, { recursive: true, force: true });
  }
}

async function configError(): Promise<{ ms: number; line: string }> {
  const started = performance.now();
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'run.mjs'), 'start'], {
    cwd: tmpdir(),
    env: { PATH: process.env.PATH ?? '', HTTP_PORT: 'eighty' },
    encoding: 'utf8',
  });
  const line = `${r.stderr}${r.stdout}`.trim().split('\n').find((l) => l.includes('HTTP_PORT')) ?? `${r.stderr}${r.stdout}`.trim();
  return { ms: performance.now() - started, line };
}

export async function runStartup(o: { serverUrl: string; rounds: number; log: (line: string) => void }): Promise<StartupFigures> {
  // A start with a bad variable compiles a stale build first (run.mjs), then exits: the rounds then
  // measure starts of a current build, as users meet them after the first.
  await configError();
  const dbName = 'tributary_bench_startup';
  const url = await recreateDatabase(o.serverUrl, dbName);
  const external: number[] = [];
  const stops: number[] = [];
  const embeddedNew: number[] = [];
  const embeddedExisting: number[] = [];
  const errors: number[] = [];
  let errorLine = '';
  try {
    // One start to migrate the database: later rounds meet an existing schema, as a restart does.
    await startOnce({ DATABASE_URL: url, DATA_DIR: mkdtempSync(join(tmpdir(), 'tributary-startup-data-')) });
    for (let i = 0; i < o.rounds; i++) {
      const dataDir = mkdtempSync(join(tmpdir(), 'tributary-startup-data-'));
      try {
        const ext = await startOnce({ DATABASE_URL: url, DATA_DIR: dataDir });
        external.push(ext.readyMs);
        stops.push(ext.stopMs);
        const embeddedPort = String(await freePort());
        embeddedNew.push((await startOnce({ DATA_DIR: dataDir, EMBEDDED_PG_PORT: embeddedPort })).readyMs);
        embeddedExisting.push((await startOnce({ DATA_DIR: dataDir, EMBEDDED_PG_PORT: embeddedPort })).readyMs);
        const e = await configError();
        errors.push(e.ms);
        errorLine = e.line;
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
      o.log(`  startup round ${i + 1}/${o.rounds}: external ${external.at(-1)?.toFixed(0)} ms, embedded new ${embeddedNew.at(-1)?.toFixed(0)} ms, existing ${embeddedExisting.at(-1)?.toFixed(0)} ms, config error ${errors.at(-1)?.toFixed(0)} ms`);
    }
  } finally {
    await dropDatabase(o.serverUrl, dbName);
  }
  return {
    externalReadyMs: stat(external),
    embeddedNewReadyMs: stat(embeddedNew),
    embeddedExistingReadyMs: stat(embeddedExisting),
    stopMs: stat(stops),
    configErrorMs: stat(errors),
    configErrorLine: errorLine,
  };
}

function fmt(s: Stat): string {
  return `${Math.round(s.best)} ms (median ${Math.round(s.median)} ms)`;
}

/** `npm run bench:startup [-- rounds]`: the figures, best and median of the rounds (default 3). */
async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 3);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error('usage: npm run bench:startup [-- <rounds>]');
  const log = (line: string) => console.log(`${new Date().toISOString().slice(11, 19)} ${line}`);
  const f = await runStartup({ serverUrl: process.env.BENCH_DATABASE_URL ?? DEFAULT_SERVER_URL, rounds, log });
  console.log(`
npm start, spawn to GET /readyz 200            best (median) of ${rounds}
  external Postgres (DATABASE_URL)             ${fmt(f.externalReadyMs)}     target <= 1,000 ms
  embedded, new DATA_DIR                       ${fmt(f.embeddedNewReadyMs)}     target <= 5,000 ms
  embedded, existing DATA_DIR                  ${fmt(f.embeddedExistingReadyMs)}     target <= 1,500 ms
  SIGTERM to exit (external)                   ${fmt(f.stopMs)}
  a bad variable, spawn to exit                ${fmt(f.configErrorMs)}     target <= 1,000 ms
    ${f.configErrorLine}`);
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '')) {
  main().catch((err: unknown) => {
    console.error(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  });
}
