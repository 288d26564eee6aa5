import { configSecrets, type Config } from './config.js';
import { connectDatabase, type DatabaseHandle } from './core/db/connect.js';
import type { EmbeddedPostgres } from './core/db/embedded.js';
import { migrateWithRetry } from './core/db/migrate.js';
import { checkFeedDefinitions, type FeedDefinition } from './core/feed.js';
import { lockDataDir } from './core/data-dir-lock.js';
import { createFeedRunners, planFeeds } from './core/feed-runners.js';
import { HttpServer } from './core/http/server.js';
import { serveStatusPage } from './core/http/serve-status-page.js';
import { createRejectsWriter } from './core/ingest/rejects-writer.js';
import { Lifecycle } from './core/lifecycle.js';
import { startPeriodicTasks } from './core/periodic-tasks.js';
import { ExternalMemoryCollector } from './core/writer/external-memory.js';
import { startProgressLog } from './core/status/progress-log.js';
import { GapTracker } from './core/status/gap-tracker.js';
import { createReadiness } from './core/status/readiness.js';
import { SourceStatus } from './core/status/source-status.js';
import { StatusReporter } from './core/status/status-reporter.js';
import { writerPoolForDatabase } from './core/writer/pool-for-database.js';
import { FEEDS } from './feeds/index.js';
import { redactUrl, type Logger } from './logger.js';
import { createMetrics, type Metrics } from './metrics.js';
import { registerSecrets } from './util/redact.js';
import { reachableHost } from './util/reachable-host.js';

/** The whole graceful stop must fit in this (ms); 1 s of it is kept for what follows the writers' drain. */
export const SHUTDOWN_TIMEOUT_MS = 10_000;
/**
 * Of the stop, how long (ms, from the writers' drain) segments of the spool are still taken for
 * writing while the database accepts writes: a segment (8 MiB, about 3,400 listings) takes well
 * under a second to write, so the last one taken is written within the stop's deadline.
 */
const SPOOL_REPLAY_AT_STOP_MS = 4_000;
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
  let database: DatabaseHandle | undefined;
  let http: HttpServer | undefined;
  let migrated = false;
  let stopping: Promise<void> | undefined;
  const writers = writerPoolForDatabase(config, { metrics, logger: logger.child({ component: 'writer' }), schemaReady: () => migrated, database: () => database });
  const plans = planFeeds(feeds, config);
  const statuses = new Map(plans.map(({ def }) => [def.source, new SourceStatus(def.source, metrics)]));

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
    // Buffered events hold up to bufferMaxBytes of frames: collections are asked for as it fills.
    const collector = new ExternalMemoryCollector({ minBytes: Math.round(config.bufferMaxBytes * 0.75) });
    collector.start();
    lifecycle.defer('external memory collector', () => collector.stop());
    const statusPage = { ...config, readiness, writers, statuses: () => statuses.values(), db: db.db, dbUrl: db.url, embedded: db.embedded, migrated: () => migrated };
    lifecycle.defer('status page', serveStatusPage(server, statusPage));
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

    const rejects = createRejectsWriter(writers, db.db, logger);
    // Registered before the feeds' writers, so it drains after them: draining them can still reject.
    lifecycle.defer('rejects', (deadline) => rejects.drain(deadline));

    const feedDeps = { feeds, planned: plans, statuses, config, db, server, writers, rejects, metrics, logger, signal, schemaReady: () => migrated };
    const { runners, writers: feedWriters, tasks } = createFeedRunners(feedDeps);
    lifecycle.defer('writers', async (deadline) => {
      const replayUntil = AbortSignal.any([deadline, AbortSignal.timeout(SPOOL_REPLAY_AT_STOP_MS)]);
      // The outage probe runs on while they drain: a database back during the stop is written to at
      // once, not at the end of a backoff of up to seconds.
      const drains = Promise.all(feedWriters.map((w) => w.drain(deadline, replayUntil))).finally(() => writers.stop());
      const abandoned = (await drains).reduce((a, b) => a + b, 0);
      if (abandoned > 0) logger.error({ abandoned }, 'events left unwritten at shutdown');
      if (writers.spoolBytes > 0) logger.info({ spool_bytes: writers.spoolBytes }, 'the spool keeps events for the next start');
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
  return `http://${reachableHost(host)}:${port}/`;
}
