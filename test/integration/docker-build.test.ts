/**
 * The image, built without a Docker engine: the files the Dockerfile's build stage copies go into
 * a temporary directory, which then runs the same steps (`npm ci`, shared with the checkout's own
 * install; `npm run build`, incremental on the suite's build; `npm prune --omit=dev`, the embedded
 * database's template) and starts the image's CMD, `node dist/src/main.js`, with only the production
 * dependencies, on the embedded database. It must report healthy and ready, and exit 0 on SIGTERM.
 * Slow (build, prune, a new database), hence the long timeout.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait-for.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
/** What the build stage copies (checked against the Dockerfile below). */
const COPIED = ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'src', 'migrations'];

/** A TCP port free right now on loopback. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

async function getStatus(url: string): Promise<number> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

const dirs: string[] = [];
let daemon: ChildProcess | undefined;
afterAll(async () => {
  // Only if the test timed out with the daemon still running.
  if (daemon && daemon.exitCode === null && daemon.signalCode === null) daemon.kill('SIGKILL');
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('the Docker image, built and run without an engine', () => {
  it('copies what the Dockerfile copies', async () => {
    const dockerfile = await readFile(join(root, 'Dockerfile'), 'utf8');
    const buildStage = dockerfile.split(/^FROM\s/m)[1] ?? '';
    const sources = [...buildStage.matchAll(/^COPY\s+(?!--from)(.+)$/gm)].flatMap((m) => (m[1] ?? '').trim().split(/\s+/).slice(0, -1));
    expect([...sources].sort()).toEqual([...COPIED].sort());
  });

  it('installs, builds, prunes, starts healthy and ready on the embedded database, and exits 0 on SIGTERM', async () => {
    const app = await mkdtemp(join(tmpdir(), 'tributary-image-'));
    const data = await mkdtemp(join(tmpdir(), 'tributary-image-data-'));
    dirs.push(app, data);
    for (const path of COPIED) await cp(join(root, path), join(app, path), { recursive: true });

    // NODE_ENV=production (vitest sets "test") would make npm skip the compiler.
    const npmEnv = { ...process.env };
    delete npmEnv.NODE_ENV;
    const npm = (args: string[]) => run('npm', args, { cwd: app, env: npmEnv, maxBuffer: 64 * 1024 * 1024 });
    // The Dockerfile's `npm ci` (package.json and the lock only) is what CI runs on the checkout itself
    // before this test: its result is shared here, copied (3 s, where a second `npm ci` took 20 s and
    // 26 s of CPU), without the checkout's caches (the embedded template is made below, as in the image).
    await cp(join(root, 'node_modules'), join(app, 'node_modules'), {
      recursive: true,
      verbatimSymlinks: true,
      filter: (source) => source !== join(root, 'node_modules', '.cache'),
    });
    // The suite's own build of the same sources (test/global-setup.ts, `npm run build`'s config) is
    // copied in first: the build step then recompiles only what differs (nothing: 2 s instead of a
    // third compile of 8 s of CPU) and still fails on a source the copy lacks.
    await cp(join(root, 'dist'), join(app, 'dist'), { recursive: true });
    await npm(['run', 'build']);
    await npm(['prune', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline']);
    expect(existsSync(join(app, 'node_modules', 'typescript')), 'dev dependencies pruned').toBe(false);
    expect(existsSync(join(app, 'dist', 'src', 'main.js'))).toBe(true);
    await run(process.execPath, ['dist/src/core/db/embedded-process.js', 'template'], { cwd: app, env: npmEnv });

    const httpPort = await freePort();
    const pgPort = await freePort();
    let output = '';
    // The image's environment (NODE_ENV, DATA_DIR; HTTP_HOST and EMBEDDED_PG_HOST stay on loopback here), no DATABASE_URL.
    const child = spawn(process.execPath, ['dist/src/main.js'], {
      cwd: app,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? app,
        NODE_ENV: 'production',
        DATA_DIR: data,
        HTTP_HOST: '127.0.0.1',
        EMBEDDED_PG_HOST: '127.0.0.1',
        HTTP_PORT: String(httpPort),
        EMBEDDED_PG_PORT: String(pgPort),
        BPTF_ENABLED: 'false',
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    daemon = child;
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
    try {
      const base = `http://127.0.0.1:${httpPort}`;
      await waitFor(async () => (await getStatus(`${base}/healthz`)) === 200, 'GET /healthz to answer 200', 60_000, 200);
      await waitFor(async () => (await getStatus(`${base}/readyz`)) === 200, 'GET /readyz to answer 200', 60_000, 200);
      expect(existsSync(join(data, 'pglite')), 'embedded database in DATA_DIR').toBe(true);
      expect(output, 'a copy of the template made at build').toContain('created the embedded database from its template');
    } catch (error) {
      throw new Error(`${error instanceof Error ? error.message : String(error)}\ndaemon output:\n${output}`);
    } finally {
      child.kill('SIGTERM');
    }
    const code = await exited;
    expect(code, output).toBe(0);
    expect(output).toContain('tributary stopped');
  }, 240_000);
});
