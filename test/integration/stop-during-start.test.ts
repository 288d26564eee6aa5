import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { TEST_ENV } from '../helpers/app.js';
import { waitFor } from '../helpers/wait-for.js';

describe('one lifecycle', () => {
  it('a stop while migrations wait for an unreachable database is prompt, and start ends without an error', async () => {
    const logs: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        logs.push(chunk.toString('utf8'));
        done();
      },
    });
    // Nothing listens on port 1. The migration retry would wait up to 10 s between attempts.
    const config = loadConfig({
      ...TEST_ENV,
      DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none',
      DATA_DIR: mkdtempSync(join(tmpdir(), 'tributary-test-')),
      RECONNECT_BASE_MS: '10000',
      RECONNECT_MAX_MS: '60000',
    });
    const app = createApp(config, createLogger('debug', sink));
    let startError: unknown = 'pending';
    const started = app.start().then(
      () => (startError = undefined),
      (err: unknown) => (startError = err),
    );
    await waitFor(() => logs.some((l) => l.includes('could not apply migrations')), 'a failed migration attempt');
    const t0 = Date.now();
    await app.stop();
    await started;
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(startError).toBeUndefined();
    expect(logs.join('')).toContain('tributary stopped');
    expect(logs.some((l) => l.includes('"level":60'))).toBe(false);
  });
});
