import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';

describe('loadConfig', () => {
  it('applies the contract defaults', () => {
    const c = loadConfig({});
    expect(c.databaseUrl).toBeUndefined();
    expect(c.dataDir).toBe('./data');
    expect(c.embeddedPgPort).toBe(54320);
    expect(c.http).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(c.batch).toEqual({ maxEvents: 1000, maxWaitMs: 200 });
    expect(c.bufferMaxEvents).toBe(100_000);
    expect(c.reconnect).toEqual({ baseMs: 1000, maxMs: 60_000 });
    expect(c.bptf).toEqual({ enabled: true, url: 'wss://ws.backpack.tf/events', stallMs: 60_000, replicas: 'one', tombstoneRetentionDays: 14, history: false, historyRetentionDays: 7 });
    expect(c.tradepost.enabled).toBe(false);
    expect(c.commerce.enabled).toBe(false);
    expect(c.spoolMaxBytes).toBe(1024 ** 3);
    expect(Object.isFrozen(c) && Object.isFrozen(c.batch)).toBe(true);
  });

  it('parses booleans as words, not JavaScript truthiness', () => {
    expect(loadConfig({ BPTF_ENABLED: 'false' }).bptf.enabled).toBe(false);
    expect(loadConfig({ BPTF_ENABLED: '0' }).bptf.enabled).toBe(false);
    expect(loadConfig({ BPTF_ENABLED: 'true' }).bptf.enabled).toBe(true);
  });

  it.each([
    [{ BATCH_MAX_EVENTS: 'lots' }, 'BATCH_MAX_EVENTS'],
    [{ HTTP_PORT: '70000' }, 'HTTP_PORT'],
    [{ BPTF_URL: 'http://x' }, 'BPTF_URL'],
    [{ BPTF_ENABLED: 'maybe' }, 'BPTF_ENABLED'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    [{ RECONNECT_BASE_MS: '5000', RECONNECT_MAX_MS: '100' }, 'RECONNECT_MAX_MS'],
    [{ BPTF_REPLICAS: 'two' }, 'BPTF_REPLICAS'],
  ])('rejects %o with one line naming the variable', (env, name) => {
    let error: unknown;
    try {
      loadConfig(env);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain(name);
    expect(message).not.toContain('\n');
  });

  it('never prints a secret value in its error', () => {
    const secret = 'tp_live_supersecretvalue';
    try {
      loadConfig({ TRADEPOST_API_KEY: secret, TRADEPOST_URL: 'nope' });
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message).toContain('TRADEPOST_URL');
      expect((e as Error).message).not.toContain(secret);
    }
  });
});
