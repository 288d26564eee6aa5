import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
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
    // The retry's wait is drawn at random below its 10 s ceiling (full jitter): drawn near the top,
    // so that a stop which waited it out (about 10 s) and a prompt one (milliseconds) are far apart.
    const random = vi.spyOn(Math, 'random').mockReturnValue(0.999);
    let startError: unknown = 'pending';
    const started = app.start().then(
      () => (startError = undefined),
      (err: unknown) => (startError = err),
    );
    let retryInMs: number;
    try {
      const line = await waitFor(() => logs.find((l) => l.includes('could not apply migrations')), 'a failed migration attempt');
      retryInMs = (JSON.parse(line) as { retry_in_ms: number }).retry_in_ms;
    } finally {
      random.mockRestore();
    }
    expect(retryInMs).toBeGreaterThanOrEqual(9_900);
    const t0 = Date.now();
    await app.stop();
    await started;
    // Half the retry's wait: a busy machine's slowness (seconds at most) is still far from it.
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(startError).toBeUndefined();
    expect(logs.join('')).toContain('tributary stopped');
    expect(logs.some((l) => l.includes('"level":60'))).toBe(false);
  });
});
