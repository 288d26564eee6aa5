import { defineConfig } from 'vitest/config';

/**
 * Test database: TEST_DATABASE_URL when set (CI), else a Testcontainers Postgres when Docker answers,
 * else the embedded database (PGlite). PGlite holds one database, so test files then run one at a time.
 */
const sharedEmbedded = !process.env.TEST_DATABASE_URL && process.env.TEST_DOCKER !== '1';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    fileParallelism: !sharedEmbedded,
    maxWorkers: 2,
    reporters: ['default'],
  },
});
