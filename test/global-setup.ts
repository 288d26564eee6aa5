import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A server URL where tests may CREATE DATABASE, or the embedded one (`embedded: true`). */
    databaseUrl: string;
    embedded: boolean;
  }
}

/**
 * Chooses the Postgres the whole suite uses. Order: TEST_DATABASE_URL; Testcontainers when TEST_DOCKER=1
 * (vitest.config.ts sets it after probing for a Docker engine, unless the user set it); the embedded PGlite.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
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
  const { mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { PGlite } = await import('@electric-sql/pglite');
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const dir = await mkdtemp(join(tmpdir(), 'tributary-test-pglite-'));
  const db = await PGlite.create({ dataDir: dir });
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 32 });
  await server.start();
  project.provide('databaseUrl', `postgres://postgres@${server.getServerConn()}/postgres`);
  project.provide('embedded', true);
  return async () => {
    await server.stop();
    await db.close();
    await rm(dir, { recursive: true, force: true });
  };
}

