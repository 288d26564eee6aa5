import { configSecrets, type Config } from './config.js';
import { connectDatabase, pingDatabase, type DatabaseHandle } from './core/db/connect.js';
import type { EmbeddedPostgres } from './core/db/embedded.js';
import { migrateWithRetry } from './core/db/migrate.js';
import { checkFeedDefinitions, type FeedContext, type FeedDefinition, type PeriodicTask } from './core/feed.js';
import { lockDataDir } from './core/data-dir-lock.js';
import { createFeedContext } from './core/feed-context.js';
import { HttpServer } from './core/http/server.js';
import { addStatusPage } from './core/http/status-page.js';
import type { StoredReject } from './core/ingest/reject.js';
import { insertRejects } from './core/ingest/rejects-store.js';
import { Lifecycle } from './core/lifecycle.js';
import { startPeriodicTasks } from './core/periodic-tasks.js';
import { ExternalMemoryCollector } from './core/writer/external-memory.js';
import { FeedRunner } from './core/replicas/feed-runner.js';
import { startProgressLog } from './core/status/progress-log.js';
import { GapTracker } from './core/status/gap-tracker.js';
import { openGaps } from './core/status/gaps-store.js';
import { createReadiness } from './core/status/readiness.js';
import { SourceStatus } from './core/status/source-status.js';
import { StatusReporter } from './core/status/status-reporter.js';
import { touchStatusRow } from './core/status/ingest-status-store.js';
import { databaseHost, startStatusSnapshots } from './core/status/status-snapshot.js';
import type { BatchWriter } from './core/writer/batch-writer.js';
import { spooledWriters } from './core/writer/spool.js';
import { WriterPool } from './core/writer/writer-pool.js';
import { FEEDS } from './feeds/index.js';
import { redactUrl, type Logger } from './logger.js';
import { createMetrics, type Metrics } from './metrics.js';
import { registerSecrets } from './util/redact.js';

/** The whole graceful stop must fit in this (ms); 1 s of it is kept for what follows the writers' drain. */
export const SHUTDOWN_TIMEOUT_MS = 10_000;
/** Longest wait (ms) between two writes while the database refuses them (read-only, privileges …). */
const REFUSING_RETRY_MAX_MS = 10_000;
/** How often (ms) the database is probed for tributary_database_up and /readyz. */
const DATABASE_PROBE_MS = 5_000;
/** Longest wait (ms) between two attempts to apply migrations while the database is unreachable. */
const MIGRATE_RETRY_MAX_MS = 10_000;

export interface App {
  /** Resolves once every enabled feed runs; resolves early (without error) when stop() is called meanwhile. */
  start(): Promise<void>;
  /** Graceful: close sockets with a handshake, write everything buffered, close the database. */
  stop(): Promise<void>;
  readonly httpPort: number;
  readonly database: DatabaseHandle | undefined;
  readonly metrics: Metrics;
  readonly statuses: ReadonlyMap<string, SourceStatus>;
}

/** What main.ts starts before it loads the rest of the daemon, to overlap the two (tests leave it out). */
export interface HeadStart {
  /** Releases the DATA_DIR lock, already held. */
  readonly releaseLock: () => void;
  /** The embedded database, starting (DATABASE_URL unset). */
  readonly embedded?: Promise<EmbeddedPostgres>;
}

/**
 * The composition root: builds the core from the config and runs every enabled feed on it. It names
 * no feed: `feeds` is the list in src/feeds/index.ts (tests pass their own).
 * Start: DATA_DIR lock -> database -> HTTP -> status -> writers -> feeds -> migrations (feeds read
 * from the first second; their writes wait for the schema). Stop is the reverse, by the lifecycle's
 * registry: feeds -> writers (drain) -> status -> HTTP -> database -> lock.
 */
export function createApp(config: Config, logger: Logger, feeds: readonly FeedDefinition[] = FEEDS, headStart?: HeadStart): App {
  checkFeedDefinitions(feeds);
  // Before anything can log or record an error: their values are masked wherever they appear.
  registerSecrets(configSecrets(config));
  const metrics = createMetrics();
  const lifecycle = new Lifecycle(logger, SHUTDOWN_TIMEOUT_MS - 1_000);
  const writers = new WriterPool({
    ...config,
    metrics,
    logger: logger.child({ component: 'writer' }),
    schemaReady: () => migrated,
    // A database that refuses writes is asked again at the reconnect backoff, capped so that writes
    // resume within REFUSING_RETRY_MAX_MS of an operator's fix.
    refusingRetry: { baseMs: config.reconnect.baseMs, maxMs: Math.min(config.reconnect.maxMs, REFUSING_RETRY_MAX_MS) },
    canary: async () => {
      if (database) await touchStatusRow(database.db, config.instanceId);
    },
    probe: async () => {
      if (database) await pingDatabase(database.db);
    },
  });
  const plans = feeds.flatMap((def) => {
    const plan = def.plan(config);
    return plan ? [{ def, plan }] : [];
  });
  const statuses = new Map(plans.map(({ def }) => [def.source, new SourceStatus(def.source, metrics)]));
  let database: DatabaseHandle | undefined;
  let http: HttpServer | undefined;
  let migrated = false;
  let stopping: Promise<void> | undefined;

  async function start(signal: AbortSignal): Promise<void> {
    // Before anything touches DATA_DIR (the spool, the embedded database).
    lifecycle.defer('data dir lock', headStart?.releaseLock ?? lockDataDir(config.dataDir));
    const db = (database = await connectDatabase({ ...config, embedded: headStart?.embedded, logger: logger.child({ component: 'database' }) }));
    lifecycle.defer('database', () => db.close());
    logger.info({ database: redactUrl(db.url), embedded: db.embedded }, 'database configured');
    signal.throwIfAborted();

    // HTTP first: /healthz answers and /readyz says 503 until migrations are applied.
    const readiness = createReadiness({
      db: () => database?.db,
      migrated: () => migrated,
      writesFailing: () => writers.failing,
      bufferedEvents: () => writers.budget.held,
      dropping: () => writers.dropping,
      refusal: () => writers.refusal,
      spool: () => ({ bytes: writers.spoolBytes, oldestSeconds: writers.spoolOldestSeconds }),
      oldestWaitingSeconds: () => writers.oldestWaitingSeconds,
      statuses: () => statuses.values(),
      metrics,
    });
    const server = (http = new HttpServer({ ...config.http, logger: logger.child({ component: 'http' }), metrics, readiness }));
    await server.start();
    lifecycle.defer('http', () => server.stop());
    // tributary_database_up follows the database on its own, not only when /readyz is called.
    const probe = setInterval(() => void readiness(), DATABASE_PROBE_MS);
    probe.unref();
    void readiness();
    lifecycle.defer('database probe', () => clearInterval(probe));
    const collector = new ExternalMemoryCollector();
    collector.start();
    lifecycle.defer('external memory collector', () => collector.stop());
    const status = startStatusSnapshots({
      instance: config.instanceId,
      database: { host: databaseHost(db.url), embedded: db.embedded },
      readiness,
      statuses: () => statuses.values(),
      buffer: () => ({ events: writers.budget.held, maxEvents: config.bufferMaxEvents, bytes: writers.budget.heldBytes, maxBytes: config.bufferMaxBytes }),
      spool: () => ({ bytes: writers.spoolBytes, maxBytes: config.spoolMaxBytes }),
      openGaps: () => (migrated ? openGaps(db.db) : undefined),
    });
    lifecycle.defer('status page', () => status.stop());
    addStatusPage(server, () => status.snapshot());
    // ingest_gaps: registered before the feeds, so it is disposed after they stop (their last
    // interruption is then known) and before the database closes.
    const gapTrackers = [...statuses.values()].map((status) => {
      const tracker = new GapTracker({ source: status.source, instance: config.instanceId, minMs: config.gapMinMs, db: db.db, ready: () => migrated, logger: logger.child({ source: status.source, component: 'gaps' }), signal });
      status.gaps = tracker;
      return tracker;
    });
    lifecycle.defer('gaps', () => Promise.all(gapTrackers.map((t) => t.dispose())));
    const reporter = new StatusReporter(db.db, () => [...statuses.values()], config.instanceId, logger.child({ component: 'status' }));
    reporter.start();
    lifecycle.defer('status', () => reporter.stop());

    const rejects = writers.create<StoredReject>('rejects', {
      name: 'ingest_rejects',
      sizeOf: (r) => r.raw.length + r.reason.length,
      // Two copies of one reject in a batch (the spool's and memory's) are one row; the insert skips
      // a key committed before. Keys are unique per reject, so nothing else is merged.
      collapse: { key: (r) => r.key, merge: (older) => older },
      write: (rows) => insertRejects(db.db, rows),
      // A reject that itself cannot be stored is logged (its raw text is already sanitised; a last resort).
      onBadRow: (row, err) => logger.error({ err, source: row.source, reason: row.reason }, 'could not store a reject'),
    });
    // Registered before the feeds' writers, so it drains after them: draining them can still reject.
    lifecycle.defer('rejects', (deadline) => rejects.drain(deadline));

    const feedWriters: BatchWriter<unknown>[] = [];
    const tasks: Array<{ task: PeriodicTask; ctx: FeedContext }> = [];
    const contextOf = (def: FeedDefinition, status: SourceStatus) => {
      const log = logger.child({ source: def.source });
      const deps = { db: db.db, writers, rejects, metrics, status, signal, reconnect: config.reconnect, logger: log, schemaReady: () => migrated, eventTimeMaxSkewMs: config.eventTimeMaxSkewMs, notifyChannel: config.notifyChannel };
      const { ctx, writers: own } = createFeedContext(def, deps);
      feedWriters.push(...own);
      return ctx;
    };
    // A feed disabled since its events were spooled: its tables' writers still write what the spool
    // holds (those events were received; nobody could send them again). It connects to nothing.
    const spooled = spooledWriters(config.dataDir);
    for (const def of feeds) {
      if (plans.some((p) => p.def === def) || !def.tables.some((t) => spooled.has(t.name))) continue;
      logger.info({ source: def.source }, 'the spool holds events of a feed that is now disabled: writing them');
      contextOf(def, new SourceStatus(def.source, metrics));
    }
    const runners = plans.flatMap(({ def, plan }) => {
      const status = statuses.get(def.source) as SourceStatus;
      const log = logger.child({ source: def.source });
      const ctx = contextOf(def, status);
      for (const route of plan.routes?.(ctx) ?? []) server.route(route.method, route.path, route.handler);
      for (const task of plan.tasks ?? []) tasks.push({ task, ctx });
      const connect = plan.connect?.bind(plan);
      if (!connect) return []; // routes only
      // The lock needs a real server session; the embedded database has a single process anyway.
      const lockUrl = db.embedded ? undefined : db.url;
      return [new FeedRunner({ source: def.source, lockId: def.lockId, mode: plan.replicas, lockUrl, lockPassword: db.password, leaseMs: config.leaderLeaseMs, create: () => connect(ctx), status, logger: log })];
    });
    lifecycle.defer('writers', async (deadline) => {
      writers.stop();
      const abandoned = (await Promise.all(feedWriters.map((w) => w.drain(deadline)))).reduce((a, b) => a + b, 0);
      if (abandoned > 0) logger.error({ abandoned }, 'events left unwritten at shutdown');
    });
    lifecycle.defer('feeds', () => Promise.allSettled(runners.map((r) => r.stop())));
    for (const r of runners) r.start();

    // Feeds read from the first second; their writers hold (memory, then spool) until the schema is there.
    const retry = { ...config.reconnect, maxMs: Math.min(config.reconnect.maxMs, MIGRATE_RETRY_MAX_MS), signal };
    migrated = await migrateWithRetry(db, logger.child({ component: 'migrate' }), retry);
    writers.retryNow(); // the writes that waited for the schema go now, not at the end of their backoff
    signal.throwIfAborted();

    lifecycle.defer('periodic tasks', startPeriodicTasks(tasks));
    lifecycle.defer(
      'progress log',
      startProgressLog({
        intervalMs: config.logProgressMs,
        statuses: () => statuses.values(),
        buffered: () => ({ events: writers.budget.held, spoolBytes: writers.spoolBytes }),
        logger,
      }),
    );
    logger.info({ sources: plans.map(({ def }) => def.source), instance: config.instanceId, status_page: statusPageUrl(config.http.host, server.port) }, 'tributary started');
  }

  return {
    start: () => lifecycle.start(start),
    stop: () => (stopping ??= lifecycle.stop().then(() => logger.info('tributary stopped'))),
    get httpPort() {
      return http?.port ?? 0;
    },
    get database() {
      return database;
    },
    metrics,
    statuses,
  };
}

/** The status page's address as a person opens it: a wildcard listen address is reached on this host. */
function statusPageUrl(host: string, port: number): string {
  const h = host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return `http://${h}:${port}/`;
}
