import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { z } from 'zod';
import { passwordFileProblem } from './core/db/password-file.js';
import { ConfigError } from './errors.js';

/**
 * The whole configuration, parsed once at start-up from the environment (and `.env`).
 * The order of keys here is the order of `.env.example` and of the README's table:
 * a test keeps the three in step.
 */

const bool = z.stringbool();
const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);
const wsUrl = z.url({ protocol: /^wss?$/, error: 'must be a ws:// or wss:// URL' });
const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' });
const replicas = z.enum(['one', 'all']);
const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (v === '' ? undefined : v), schema.optional());
const list = z
  .string()
  .transform((s) => s.split(',').map((x) => x.trim()).filter((x) => x.length > 0))
  .refine((xs) => xs.length > 0, 'must name at least one entry');

export const envSchema = z.object({
  DATABASE_URL: optional(z.url({ protocol: /^postgres(ql)?$/, error: 'must be a postgres:// URL' })),
  DATABASE_PASSWORD_FILE: optional(z.string()),
  DATA_DIR: z.string().min(1).default('./data'),
  EMBEDDED_PG_PORT: int(1, 65535).default(54320),
  EMBEDDED_QUERY_TIMEOUT_MS: int(100).default(5000),
  HTTP_HOST: z.string().min(1).default('127.0.0.1'),
  HTTP_PORT: int(0, 65535).default(8080),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_FORMAT: optional(z.enum(['json', 'pretty'])),
  BATCH_MAX_EVENTS: int(1, 100_000).default(1000),
  BATCH_MAX_WAIT_MS: int(1, 60_000).default(200),
  BUFFER_MAX_EVENTS: int(1).default(100_000),
  BUFFER_MAX_BYTES: int(1024 * 1024).default(64 * 1024 * 1024),
  RECONNECT_BASE_MS: int(1).default(1000),
  RECONNECT_MAX_MS: int(1).default(60_000),
  BPTF_ENABLED: bool.default(true),
  BPTF_URL: wsUrl.default('wss://ws.backpack.tf/events'),
  BPTF_STALL_MS: int(100).default(60_000),
  TRADEPOST_API_KEY: optional(z.string().min(1)),
  TRADEPOST_URL: wsUrl.default('wss://platform-api.tradepost.co/ws'),
  TRADEPOST_ROOMS: list.default(['ALL']),
  COMMERCE_WS_URL: optional(wsUrl),
  COMMERCE_LOGIN_URL: optional(httpUrl),
  COMMERCE_USERNAME: optional(z.string()),
  COMMERCE_PASSWORD: optional(z.string()),
  COMMERCE_LOGIN_FIELDS: list
    .refine((xs) => xs.length === 2, 'must be two field names, e.g. email,password')
    .default(['email', 'password']),
  COMMERCE_COOKIE: optional(z.string()),
  COMMERCE_CHANNELS: list.default([
    'order_changes',
    'product_changes',
    'customer_changes',
    'shipment_changes',
    'transaction_changes',
  ]),
  TRADEPOST_WEBHOOK_SECRET: optional(z.string().min(16, 'must be at least 16 characters')),
  SPOOL_MAX_BYTES: int(0).default(1024 * 1024 * 1024),
  INSTANCE_ID: optional(z.string().min(1).max(200)),
  BPTF_REPLICAS: replicas.default('one'),
  TRADEPOST_REPLICAS: replicas.default('one'),
  COMMERCE_REPLICAS: replicas.default('one'),
  DATABASE_TIMEOUT_MS: int(100, 600_000).default(30_000),
  EVENT_TIME_MAX_SKEW_MS: int(0).default(600_000),
  LEADER_LEASE_MS: int(1_500).default(15_000),
  BPTF_HISTORY: bool.default(false),
  HISTORY_RETENTION_DAYS: int(1, 36_500).default(7),
  TOMBSTONE_RETENTION_DAYS: int(0, 36_500).default(14),
  BPTF_QUOTES: bool.default(true),
  QUOTE_HISTORY_RETENTION_DAYS: int(1, 36_500).default(90),
  GAP_MIN_MS: int(100).default(5_000),
  // A Postgres identifier: pg_notify takes any text, but LISTEN needs a name a user can type.
  NOTIFY_CHANNEL: z
    .string()
    .regex(/^([A-Za-z_][A-Za-z0-9_]{0,62})?$/, 'must be a plain identifier (letters, digits, _; at most 63) or empty to disable')
    .default('tributary'),
  LOG_PROGRESS_MS: int(0).default(60_000),
});

export type Env = z.output<typeof envSchema>;

export type ReplicaMode = 'one' | 'all';

/** The resolved, frozen configuration every component receives. Durations are milliseconds. */
export interface Config {
  readonly databaseUrl: string | undefined;
  /** DATABASE_PASSWORD_FILE: the password, read from this file for every new connection; overrides DATABASE_URL's. */
  readonly databasePasswordFile: string | undefined;
  /** Bound on one statement and on getting a connection (ms): a hung write fails and is retried. */
  readonly databaseTimeoutMs: number;
  readonly dataDir: string;
  readonly embeddedPgPort: number;
  /**
   * EMBEDDED_QUERY_TIMEOUT_MS: the longest a statement of a connection that is not the daemon's own (psql,
   * a dashboard) runs on the embedded database (ms); PGlite is one session, so it holds ingestion meanwhile.
   */
  readonly embeddedQueryTimeoutMs: number;
  readonly http: { readonly host: string; readonly port: number };
  readonly logLevel: Env['LOG_LEVEL'];
  /** LOG_FORMAT: `pretty` (readable lines) by default when stdout is a terminal, else `json` (one object a line). */
  readonly logFormat: 'json' | 'pretty';
  readonly batch: { readonly maxEvents: number; readonly maxWaitMs: number };
  readonly bufferMaxEvents: number;
  /** Payload bytes held in memory (all tables together) before further events go to the spool. */
  readonly bufferMaxBytes: number;
  readonly reconnect: { readonly baseMs: number; readonly maxMs: number };
  readonly bptf: {
    readonly enabled: boolean;
    readonly url: string;
    readonly stallMs: number;
    readonly replicas: ReplicaMode;
    /** Tombstones older than this (days) are purged; 0 keeps them. */
    readonly tombstoneRetentionDays: number;
    /** BPTF_HISTORY: every event also in bptf_listing_events, kept this many days. */
    readonly history: boolean;
    readonly historyRetentionDays: number;
    /** BPTF_QUOTES: keep bptf_quotes (live per-SKU quotes) and bptf_quote_history. */
    readonly quotes: boolean;
    /** Days of bptf_quote_history kept (whole daily partitions). */
    readonly quoteHistoryRetentionDays: number;
  };
  readonly tradepost:
    | { readonly enabled: true; readonly apiKey: string; readonly url: string; readonly rooms: readonly string[]; readonly replicas: ReplicaMode }
    | { readonly enabled: false };
  readonly webhookSecret: string | undefined;
  readonly commerce:
    | {
        readonly enabled: true;
        readonly wsUrl: string;
        readonly loginUrl: string | undefined;
        readonly username: string | undefined;
        readonly password: string | undefined;
        readonly loginFields: readonly [string, string];
        readonly cookie: string | undefined;
        readonly channels: readonly string[];
        readonly replicas: ReplicaMode;
      }
    | { readonly enabled: false };
  readonly spoolMaxBytes: number;
  readonly instanceId: string;
  /** An event whose own time is further than this (ms) ahead of the wall clock is a reject. */
  readonly eventTimeMaxSkewMs: number;
  /** A singleton feed's leader lease (ms): a follower ends a holder silent for longer. */
  readonly leaderLeaseMs: number;
  /** One progress line per feed this often (ms); 0 disables. */
  readonly logProgressMs: number;
  /** A feed interruption at least this long is recorded in ingest_gaps (ms). */
  readonly gapMinMs: number;
  /** NOTIFY channel for committed changes; empty: none are sent. */
  readonly notifyChannel: string;
}

/**
 * Parse and validate the environment. Throws ConfigError whose message is one line naming the
 * first bad variable and what is wrong with it (never its value: it may be a secret).
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const result = envSchema.safeParse(env);
  if (!result.success) {
    const issue = result.error.issues[0];
    const name = String(issue?.path[0] ?? 'environment');
    throw new ConfigError(`invalid configuration: ${name} ${issue?.message ?? 'is invalid'}`);
  }
  const e = result.data;
  if (e.RECONNECT_MAX_MS < e.RECONNECT_BASE_MS) {
    throw new ConfigError('invalid configuration: RECONNECT_MAX_MS must be >= RECONNECT_BASE_MS');
  }
  if (e.BUFFER_MAX_EVENTS < e.BATCH_MAX_EVENTS) {
    throw new ConfigError('invalid configuration: BUFFER_MAX_EVENTS must be >= BATCH_MAX_EVENTS');
  }
  if (e.COMMERCE_WS_URL && !e.COMMERCE_COOKIE) {
    if (!e.COMMERCE_LOGIN_URL) {
      throw new ConfigError('invalid configuration: COMMERCE_LOGIN_URL is required when COMMERCE_WS_URL is set without COMMERCE_COOKIE');
    }
    if (e.COMMERCE_USERNAME === undefined || e.COMMERCE_PASSWORD === undefined) {
      throw new ConfigError('invalid configuration: COMMERCE_USERNAME and COMMERCE_PASSWORD are required with COMMERCE_LOGIN_URL');
    }
  }
  if (e.DATABASE_PASSWORD_FILE !== undefined) {
    if (!e.DATABASE_URL) {
      throw new ConfigError('invalid configuration: DATABASE_PASSWORD_FILE needs DATABASE_URL (the embedded database takes no password)');
    }
    // Checked once here, so a wrong path stops the start with one line; later reads (every new
    // connection) that fail are connection errors, retried like any other.
    const problem = passwordFileProblem(e.DATABASE_PASSWORD_FILE);
    if (problem) throw new ConfigError(`invalid configuration: DATABASE_PASSWORD_FILE ${problem}`);
  }
  const [userField, passwordField] = e.COMMERCE_LOGIN_FIELDS;
  const config: Config = {
    databaseUrl: e.DATABASE_URL,
    databasePasswordFile: e.DATABASE_PASSWORD_FILE,
    databaseTimeoutMs: e.DATABASE_TIMEOUT_MS,
    dataDir: e.DATA_DIR,
    embeddedPgPort: e.EMBEDDED_PG_PORT,
    embeddedQueryTimeoutMs: e.EMBEDDED_QUERY_TIMEOUT_MS,
    http: { host: e.HTTP_HOST, port: e.HTTP_PORT },
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT ?? (process.stdout.isTTY ? 'pretty' : 'json'),
    batch: { maxEvents: e.BATCH_MAX_EVENTS, maxWaitMs: e.BATCH_MAX_WAIT_MS },
    bufferMaxEvents: e.BUFFER_MAX_EVENTS,
    bufferMaxBytes: e.BUFFER_MAX_BYTES,
    reconnect: { baseMs: e.RECONNECT_BASE_MS, maxMs: e.RECONNECT_MAX_MS },
    bptf: { enabled: e.BPTF_ENABLED, url: e.BPTF_URL, stallMs: e.BPTF_STALL_MS, replicas: e.BPTF_REPLICAS, tombstoneRetentionDays: e.TOMBSTONE_RETENTION_DAYS, history: e.BPTF_HISTORY, historyRetentionDays: e.HISTORY_RETENTION_DAYS, quotes: e.BPTF_QUOTES, quoteHistoryRetentionDays: e.QUOTE_HISTORY_RETENTION_DAYS },
    tradepost: e.TRADEPOST_API_KEY
      ? { enabled: true, apiKey: e.TRADEPOST_API_KEY, url: e.TRADEPOST_URL, rooms: e.TRADEPOST_ROOMS, replicas: e.TRADEPOST_REPLICAS }
      : { enabled: false },
    webhookSecret: e.TRADEPOST_WEBHOOK_SECRET,
    commerce: e.COMMERCE_WS_URL
      ? {
          enabled: true,
          wsUrl: e.COMMERCE_WS_URL,
          loginUrl: e.COMMERCE_LOGIN_URL,
          username: e.COMMERCE_USERNAME,
          password: e.COMMERCE_PASSWORD,
          loginFields: [userField ?? 'email', passwordField ?? 'password'],
          cookie: e.COMMERCE_COOKIE,
          channels: e.COMMERCE_CHANNELS,
          replicas: e.COMMERCE_REPLICAS,
        }
      : { enabled: false },
    spoolMaxBytes: e.SPOOL_MAX_BYTES,
    instanceId: e.INSTANCE_ID ?? defaultInstanceId(e.DATA_DIR),
    eventTimeMaxSkewMs: e.EVENT_TIME_MAX_SKEW_MS,
    leaderLeaseMs: e.LEADER_LEASE_MS,
    logProgressMs: e.LOG_PROGRESS_MS,
    notifyChannel: e.NOTIFY_CHANNEL,
    gapMinMs: e.GAP_MIN_MS,
  };
  return deepFreeze(config);
}

/**
 * The values of the configured secrets, for util/redact.ts to mask wherever they appear: the TradePost
 * API key and webhook secret, the store's password and cookie, and the passwords in DATABASE_URL and
 * COMMERCE_LOGIN_URL (decoded; the redactor adds the encoded form).
 */
export function configSecrets(config: Config): string[] {
  const out = [config.webhookSecret, urlPassword(config.databaseUrl)];
  if (config.tradepost.enabled) out.push(config.tradepost.apiKey);
  if (config.commerce.enabled) out.push(config.commerce.password, config.commerce.cookie, urlPassword(config.commerce.loginUrl));
  return out.filter((s): s is string => s !== undefined && s !== '');
}

function urlPassword(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const p = new URL(url).password;
    return p ? decodeURIComponent(p) : undefined;
  } catch {
    return undefined;
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * INSTANCE_ID's default: the host name and a short hash of DATA_DIR's absolute path. One
 * installation (host and DATA_DIR; two processes never share a DATA_DIR) keeps one ingest_status row
 * per feed across restarts, where the pid gave every restart rows of its own.
 */
export function defaultInstanceId(dataDir: string): string {
  return `${hostname()}-${createHash('sha256').update(resolve(dataDir)).digest('hex').slice(0, 8)}`;
}
