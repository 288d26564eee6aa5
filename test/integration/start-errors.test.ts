import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { FatalError } from '../../src/errors.js';
import { createLogger } from '../../src/logger.js';
import { startTestApp, TEST_ENV } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { waitFor } from '../helpers/wait-for.js';

describe('what a new user meets at start', () => {
  let tdb: TestDatabase;
  beforeAll(async () => {
    tdb = await createTestDatabase();
  });
  afterAll(async () => {
    await tdb?.close();
  });

  it('a port already in use is a one-line error naming HTTP_PORT', async () => {
    const squatter = createServer();
    await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r));
    const port = (squatter.address() as { port: number }).port;
    const config = loadConfig({ ...TEST_ENV, DATABASE_URL: tdb.url, HTTP_PORT: String(port), DATA_DIR: mkdtempSync(join(tmpdir(), 'tributary-port-')) });
    const app = createApp(config, createLogger('silent'));
    try {
      const err = await app.start().then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(FatalError);
      expect((err as Error).message).toBe(`HTTP_PORT ${port} on 127.0.0.1 is already in use by another process; set HTTP_PORT to a free port`);
    } finally {
      await app.stop();
      squatter.close();
    }
  });

  it('last_error says why the feed cannot connect, and socket errors are logged as errors (type, message, code)', async () => {
    const app = await startTestApp({ DATABASE_URL: tdb.url, BPTF_ENABLED: 'true', BPTF_URL: 'ws://127.0.0.1:1/events' });
    try {
      await waitFor(() => /ECONNREFUSED 127\.0\.0\.1:1/.test(app.statuses.get('bptf')?.lastError ?? ''), 'last_error with the cause');
      const line = app.logs.find((l) => l.includes('"msg":"socket error"'));
      expect(line).toMatch(/"err":\{"type":"Error","message":"connect ECONNREFUSED 127\.0\.0\.1:1"/);
      expect(line).toMatch(/"code":"ECONNREFUSED"/);
    } finally {
      await app.stop();
    }
  });

  it('tributary_database_up reflects a probe that runs on its own, without /readyz being called', async () => {
    const app = await startTestApp({ DATABASE_URL: tdb.url });
    try {
      await waitFor(async () => /^tributary_database_up 1$/m.test(await (await fetch(`http://127.0.0.1:${app.httpPort}/metrics`)).text()), 'database_up 1');
    } finally {
      await app.stop();
    }
  });
});
