import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import type { FeedDefinition } from '../../src/core/feed.js';
import { createLogger, type Logger } from '../../src/logger.js';

export interface TestApp extends App {
  /** Every log line written so far, as text (to assert that secrets never appear). */
  readonly logs: string[];
  readonly logger: Logger;
}

/** Fast settings for tests: small backoff, short batches, an ephemeral HTTP port. */
export const TEST_ENV = {
  HTTP_PORT: '0',
  LOG_LEVEL: 'debug',
  RECONNECT_BASE_MS: '20',
  RECONNECT_MAX_MS: '200',
  BATCH_MAX_WAIT_MS: '20',
  BPTF_ENABLED: 'false',
  INSTANCE_ID: 'test',
} as const;

/** `feeds`: the definitions to run instead of the product's list (e.g. a test's own toy feed). */
export async function startTestApp(env: Record<string, string | undefined>, feeds?: readonly FeedDefinition[]): Promise<TestApp> {
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(chunk.toString('utf8'));
      if (process.env.TEST_LOGS) process.stderr.write(chunk);
      done();
    },
  });
  // Each app gets its own DATA_DIR unless the test shares one on purpose (the spool lives there).
  const config = loadConfig({ ...TEST_ENV, DATA_DIR: mkdtempSync(join(tmpdir(), 'tributary-test-')), ...env });
  const logger = createLogger(config.logLevel, sink);
  const app = createApp(config, logger, feeds);
  await app.start();
  return Object.assign(app, { logs, logger });
}
