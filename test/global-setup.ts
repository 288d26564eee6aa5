import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A server URL where tests may CREATE DATABASE, or the embedded one (`embedded: true`). */
    databaseUrl: string;
    /** Embedded: one database per worker (VITEST_POOL_ID 1 takes the first). */
    databaseUrls: string[];
    embedded: boolean;
  }
}

/**
 * Brings dist/ up to date, as `npm start` would (scripts/run.mjs: compiles only what changed), once
 * for the whole suite: the tests of the compiled code (daemon processes, `npm start`, the Docker
 * image, the compose file's paths) share it instead of compiling four times on two cores.
 */
function build(): void {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const r = spawnSync(process.execPath, ['scripts/run.mjs', 'build'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`the build (node scripts/run.mjs build) failed: exit ${r.status ?? r.signal}`);
}

/**
 * Chooses the Postgres the whole suite uses. Order: TEST_DATABASE_URL; Testcontainers when TEST_DOCKER=1
 * (vitest.config.ts sets it after probing for a Docker engine, unless the user set it); the embedded PGlite.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  build();
  const url = process.env.TEST_DATABASE_URL;
  if (url) {
    project.provide('databaseUrl', url);
    project.provide('embedded', false);
    return async () => {};
  }
  if (process.env.TEST_DOCKER === '1') {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const container = await new PostgreSqlContainer('postgres:16-alpine').start();
    project.provide('databaseUrl', container.getConnectionUri());
    project.provide('embedded', false);
    return async () => {
      await container.stop();
    };
  }
  // The embedded database holds one session's worth of state (one database, one schema reset per
  // file), so each worker gets one of its own: the daemon's own embedded database process. The first
  // is started alone: created (or copied) first, it becomes the installation's template when there
  // was none (embedded-template.ts), which the others then copy.
  const { mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { startEmbeddedPostgres } = await import('../src/core/db/embedded.js');
  const { createLogger } = await import('../src/logger.js');
  const logger = createLogger('silent');
  const workers = Number(project.config.maxWorkers) || 1;
  const root = await mkdtemp(join(tmpdir(), 'tributary-test-pglite-'));
  const dirs = Array.from({ length: workers }, (_, i) => join(root, String(i + 1)));
  const first = await startEmbeddedPostgres({ dataDir: dirs[0] as string, port: 0, logger });
  const servers = [first, ...(await Promise.all(dirs.slice(1).map((dataDir) => startEmbeddedPostgres({ dataDir, port: 0, logger }))))];
  project.provide('databaseUrls', servers.map((s) => s.url));
  project.provide('databaseUrl', servers[0]?.url as string);
  project.provide('embedded', true);
  return async () => {
    await Promise.all(servers.map((s) => s.close()));
    await rm(root, { recursive: true, force: true });
  };
}

