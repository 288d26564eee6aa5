import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { z } from 'zod';
import { passwordFileProblem } from './core/db/password-file.js';
import { int, listenHost, optional, urlPassword, urlUser } from './core/env-vars.js';
import type { FeedConfig } from './core/feed-config.js';
import { ConfigError } from './errors.js';
import { FEED_CONFIGS } from './feeds/config.js';

export type { ReplicaMode } from './core/env-vars.js';

/**
 * The whole configuration, parsed once at start-up from the environment (and `.env`): the core's
 * variables here, then each feed's, declared in its own folder (src/feeds/<feed>/config.ts) and
 * composed in FEED_CONFIGS' order. envSchema's order of keys is the order of `.env.example` and of
 * the README's table: a test keeps the three in step.
 */
const coreEnv = {
  DATABASE_URL: optional(z.url({ protocol: /^postgres(ql)?$/, error: 'must be a postgres:// URL' })),
  DATABASE_PASSWORD_FILE: optional(z.string()),
  DATA_DIR: z.string().min(1).default('./data'),
  EMBEDDED_PG_HOST: listenHost.default('127.0.0.1'),
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
  SPOOL_MAX_BYTES: int(0).default(1024 * 1024 * 1024),
  INSTANCE_ID: optional(z.string().min(1).max(200)),
  DATABASE_TIMEOUT_MS: int(100, 600_000).default(30_000),
  EVENT_TIME_MAX_SKEW_MS: int(0).default(600_000),
  LEADER_LEASE_MS: int(1_500).default(15_000),
  GAP_MIN_MS: int(100).default(5_000),
  // A Postgres identifier: pg_notify takes any text, but LISTEN needs a name a user can type.
  NOTIFY_CHANNEL: z
    .string()
    .regex(/^([A-Za-z_][A-Za-z0-9_]{0,62})?$/, 'must be a plain identifier (letters, digits, _; at most 63) or empty to disable')
    .default('tributary'),
  LOG_PROGRESS_MS: int(0).default(60_000),
};

/** The feeds' variables, one shape; a name declared twice would have one owner silently override the other. */
function feedsEnv(): Record<string, z.ZodType> {
  const shape: Record<string, z.ZodType> = {};
  for (const { feed, env } of FEED_CONFIGS) {
    for (const [name, schema] of Object.entries(env)) {
      if (name in coreEnv || name in shape) throw new Error(`feed "${feed}" declares ${name}, which is already declared`);
      shape[name] = schema as z.ZodType;
    }
  }
  return shape;
}

export const envSchema = z.object({ ...coreEnv, ...feedsEnv() });

export type Env = z.output<typeof envSchema>;

/** Each feed's typed settings, under its name: `config.feeds.<feed>`. */
export type FeedSettings = {
  readonly [C in (typeof FEED_CONFIGS)[number] as C['feed']]: C extends FeedConfig<string, infer S> ? S : never;
};

/** The resolved, frozen configuration every component receives. Durations are milliseconds. */
export interface Config {
  readonly databaseUrl: string | undefined;
  /** DATABASE_PASSWORD_FILE: the password, read from this file for every new connection; overrides DATABASE_URL's. */
  readonly databasePasswordFile: string | undefined;
  /** Bound on one statement and on getting a connection (ms): a hung write fails and is retried. */
  readonly databaseTimeoutMs: number;
  readonly dataDir: string;
  /** EMBEDDED_PG_HOST: the address the embedded database listens on (the Docker image's: 0.0.0.0, so a published port reaches it). */
  readonly embeddedPgHost: string;
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
  /** Each feed's settings, made by its own config module from its own variables. */
  readonly feeds: FeedSettings;
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
  if (e.DATABASE_PASSWORD_FILE !== undefined) {
    if (!e.DATABASE_URL) {
      throw new ConfigError('invalid configuration: DATABASE_PASSWORD_FILE needs DATABASE_URL (the embedded database takes no password)');
    }
    // Checked once here, so a wrong path stops the start with one line; later reads (every new
    // connection) that fail are connection errors, retried like any other.
    const problem = passwordFileProblem(e.DATABASE_PASSWORD_FILE);
    if (problem) throw new ConfigError(`invalid configuration: DATABASE_PASSWORD_FILE ${problem}`);
  }
  const feeds: Record<string, unknown> = {};
  for (const c of FEED_CONFIGS as readonly FeedConfig[]) feeds[c.feed] = c.settings(e);
  const config: Config = {
    databaseUrl: e.DATABASE_URL,
    databasePasswordFile: e.DATABASE_PASSWORD_FILE,
    databaseTimeoutMs: e.DATABASE_TIMEOUT_MS,
    dataDir: e.DATA_DIR,
    embeddedPgHost: e.EMBEDDED_PG_HOST,
    embeddedPgPort: e.EMBEDDED_PG_PORT,
    embeddedQueryTimeoutMs: e.EMBEDDED_QUERY_TIMEOUT_MS,
    http: { host: e.HTTP_HOST, port: e.HTTP_PORT },
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT ?? (process.stdout.isTTY ? 'pretty' : 'json'),
    batch: { maxEvents: e.BATCH_MAX_EVENTS, maxWaitMs: e.BATCH_MAX_WAIT_MS },
    bufferMaxEvents: e.BUFFER_MAX_EVENTS,
    bufferMaxBytes: e.BUFFER_MAX_BYTES,
    reconnect: { baseMs: e.RECONNECT_BASE_MS, maxMs: e.RECONNECT_MAX_MS },
    spoolMaxBytes: e.SPOOL_MAX_BYTES,
    instanceId: e.INSTANCE_ID ?? defaultInstanceId(e.DATA_DIR),
    eventTimeMaxSkewMs: e.EVENT_TIME_MAX_SKEW_MS,
    leaderLeaseMs: e.LEADER_LEASE_MS,
    logProgressMs: e.LOG_PROGRESS_MS,
    notifyChannel: e.NOTIFY_CHANNEL,
    gapMinMs: e.GAP_MIN_MS,
    // Each entry was made by the config module of that name, so it has that module's settings type.
    feeds: feeds as FeedSettings,
  };
  return deepFreeze(config);
}

/**
 * The values of the configured secrets, for util/redact.ts to mask wherever they appear: the password
 * in DATABASE_URL (decoded; the redactor adds the encoded form) and those each feed declares.
 */
export function configSecrets(config: Config): string[] {
  const password = urlPassword(config.databaseUrl);
  // A database password equal to its user name (the compose stack's tributary:tributary) is told by
  // the user name, which logs show; matched as a bare value it masked the product's own name in every
  // line ("*** started"). The URL rule still masks it inside any connection string.
  const out = [password !== undefined && password === urlUser(config.databaseUrl) ? undefined : password];
  const feeds: Readonly<Record<string, unknown>> = config.feeds;
  for (const c of FEED_CONFIGS as readonly FeedConfig[]) out.push(...c.secrets(feeds[c.feed]));
  return out.filter((s): s is string => s !== undefined && s !== '');
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
