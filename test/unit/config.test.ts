import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configSecrets, loadConfig } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';
import { FEED_CONFIGS } from '../../src/feeds/config.js';
import { FEEDS } from '../../src/feeds/index.js';

describe('loadConfig', () => {
  it('applies the contract defaults', () => {
    const c = loadConfig({});
    expect(c.databaseUrl).toBeUndefined();
    expect(c.dataDir).toBe('./data');
    expect(c.embeddedPgHost).toBe('127.0.0.1');
    expect(c.embeddedPgPort).toBe(54320);
    expect(c.http).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(c.batch).toEqual({ maxEvents: 1000, maxWaitMs: 200 });
    expect(c.bufferMaxEvents).toBe(100_000);
    expect(c.reconnect).toEqual({ baseMs: 1000, maxMs: 60_000 });
    expect(c.feeds.bptf).toEqual({ enabled: true, url: 'wss://ws.backpack.tf/events', stallMs: 60_000, replicas: 'one', tombstoneRetentionDays: 14, history: false, historyRetentionDays: 7, quotes: true, quoteHistoryRetentionDays: 90 });
    expect(c.feeds.tradepost.enabled).toBe(false);
    expect(c.feeds.commerce.enabled).toBe(false);
    expect(c.spoolMaxBytes).toBe(1024 ** 3);
    expect(Object.isFrozen(c) && Object.isFrozen(c.batch)).toBe(true);
  });

  it('LOG_FORMAT: as set, else pretty when stdout is a terminal and json otherwise', () => {
    expect(loadConfig({ LOG_FORMAT: 'pretty' }).logFormat).toBe('pretty');
    expect(loadConfig({ LOG_FORMAT: 'json' }).logFormat).toBe('json');
    expect(loadConfig({}).logFormat).toBe(process.stdout.isTTY ? 'pretty' : 'json');
  });

  it('parses booleans as words, not JavaScript truthiness', () => {
    expect(loadConfig({ BPTF_ENABLED: 'false' }).feeds.bptf.enabled).toBe(false);
    expect(loadConfig({ BPTF_ENABLED: '0' }).feeds.bptf.enabled).toBe(false);
    expect(loadConfig({ BPTF_ENABLED: 'true' }).feeds.bptf.enabled).toBe(true);
  });

  it.each([
    [{ BATCH_MAX_EVENTS: 'lots' }, 'BATCH_MAX_EVENTS'],
    [{ HTTP_PORT: '70000' }, 'HTTP_PORT'],
    [{ EMBEDDED_PG_HOST: '0.0.0.0:54320' }, 'EMBEDDED_PG_HOST'],
    [{ EMBEDDED_PG_HOST: '' }, 'EMBEDDED_PG_HOST'],
    [{ BPTF_URL: 'http://x' }, 'BPTF_URL'],
    [{ BPTF_ENABLED: 'maybe' }, 'BPTF_ENABLED'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ LOG_FORMAT: 'xml' }, 'LOG_FORMAT'],
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

  it("rejects a feed's settings that do not work together with one line naming the variable", () => {
    expect(() => loadConfig({ COMMERCE_WS_URL: 'ws://shop/ws' })).toThrow(
      new ConfigError('invalid configuration: COMMERCE_LOGIN_URL is required when COMMERCE_WS_URL is set without COMMERCE_COOKIE'),
    );
    expect(() => loadConfig({ COMMERCE_WS_URL: 'ws://shop/ws', COMMERCE_LOGIN_URL: 'http://shop/login' })).toThrow(
      new ConfigError('invalid configuration: COMMERCE_USERNAME and COMMERCE_PASSWORD are required with COMMERCE_LOGIN_URL'),
    );
  });

  it('has the settings of every feed in FEEDS, each made by the config module of its folder', () => {
    expect(FEED_CONFIGS.map((c) => c.feed)).toEqual(FEEDS.map((f) => f.source));
    expect(Object.keys(loadConfig({}).feeds)).toEqual(FEEDS.map((f) => f.source));
  });

  it('never prints a secret value in its error', () => {
    const secret = 'tp_live_supersecretvalue';
    let error: unknown;
    try {
      loadConfig({ TRADEPOST_API_KEY: secret, TRADEPOST_URL: 'nope' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toContain('TRADEPOST_URL');
    expect((error as Error).message).not.toContain(secret);
  });

  describe('DATABASE_PASSWORD_FILE', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tributary-config-'));
    const DB = 'postgres://app@db:5432/x';
    const errorOf = (env: Record<string, string>) => {
      try {
        loadConfig(env);
      } catch (e) {
        return e as Error;
      }
      return undefined;
    };

    it('is unset by default, and a readable file is accepted', () => {
      expect(loadConfig({}).databasePasswordFile).toBeUndefined();
      const file = join(dir, 'ok');
      writeFileSync(file, 'pw-from-file\n');
      expect(loadConfig({ DATABASE_URL: DB, DATABASE_PASSWORD_FILE: file }).databasePasswordFile).toBe(file);
    });

    it.each([
      ['a missing file', { DATABASE_PASSWORD_FILE: join(dir, 'missing') }, /^invalid configuration: DATABASE_PASSWORD_FILE cannot be read \(ENOENT\)$/],
      ['a directory', { DATABASE_PASSWORD_FILE: dir }, /^invalid configuration: DATABASE_PASSWORD_FILE cannot be read \(EISDIR\)$/],
      ['an empty file', { DATABASE_PASSWORD_FILE: join(dir, 'empty') }, /^invalid configuration: DATABASE_PASSWORD_FILE is empty$/],
    ])('%s: one line naming the variable', (_what, env, message) => {
      writeFileSync(join(dir, 'empty'), '\n');
      const error = errorOf({ DATABASE_URL: DB, ...env });
      expect(error).toBeInstanceOf(ConfigError);
      expect(error?.message).toMatch(message);
    });

    it('needs DATABASE_URL (the embedded database takes no password)', () => {
      const file = join(dir, 'ok2');
      writeFileSync(file, 'pw');
      expect(errorOf({ DATABASE_PASSWORD_FILE: file })?.message).toMatch(/^invalid configuration: DATABASE_PASSWORD_FILE needs DATABASE_URL/);
    });
  });

  it('configSecrets lists the configured secrets, decoded from the URLs', () => {
    const c = loadConfig({
      DATABASE_URL: 'postgres://app:db%40pw@db/x',
      TRADEPOST_API_KEY: 'tp-key-1234',
      TRADEPOST_WEBHOOK_SECRET: 'webhook-secret-0123456789',
      COMMERCE_WS_URL: 'ws://shop/ws',
      COMMERCE_LOGIN_URL: 'http://ops:login%20pw@shop/api/auth/login',
      COMMERCE_USERNAME: 'ops',
      COMMERCE_PASSWORD: 'store-pw',
    });
    expect(configSecrets(c).sort()).toEqual(['db@pw', 'login pw', 'store-pw', 'tp-key-1234', 'webhook-secret-0123456789']);
  });

  it('configSecrets leaves out a database password equal to its user name (the compose stack: tributary:tributary)', () => {
    // Matched as a bare value, it masked "tributary" in every log line; the URL rule still hides it in URLs.
    expect(configSecrets(loadConfig({ DATABASE_URL: 'postgres://tributary:tributary@postgres:5432/tributary' }))).toEqual([]);
    expect(configSecrets(loadConfig({ DATABASE_URL: 'postgres://tributary:other-pw@postgres:5432/tributary' }))).toEqual(['other-pw']);
  });
});
