import { join } from 'node:path';
import { sql } from 'kysely';
import type { Config } from './config.js';
import { createBptfConnector } from './feeds/bptf/session.js';
import { mergeListingRows, type ListingRow } from './feeds/bptf/listing-row.js';
import { createCommerceConnector } from './feeds/commerce/session.js';
import type { CommerceEventRow } from './feeds/commerce/parse.js';
import { createTradePostConnector } from './feeds/tradepost/session.js';
import type { TradePostRow } from './feeds/tradepost/parse.js';
import type { Connector } from './core/connector.js';
import { FeedRunner } from './core/replicas/feed-runner.js';
import type { ReplicaMode } from './config.js';
import { connectDatabase, type DatabaseHandle } from './core/db/connect.js';
import { migrateToLatest } from './core/db/migrate.js';
import { HttpServer } from './core/http/server.js';
import { registerTradePostWebhook } from './feeds/tradepost/webhook.js';
import type { IngestContext } from './core/feed-context.js';
import { makeReject, safeStringify, type Reject } from './core/ingest/reject.js';
import { redactUrl, type Logger } from './logger.js';
import { createMetrics, type Metrics } from './metrics.js';
import { upsertListings } from './feeds/bptf/store.js';
import { writeCommerceEvents } from './feeds/commerce/store.js';
import { insertRejects } from './core/ingest/rejects-store.js';
import { insertTradePostEvents } from './feeds/tradepost/store.js';
import { SourceStatus } from './core/status/source-status.js';
import { StatusReporter } from './core/status/status-reporter.js';
import { backoffDelay } from './util/backoff.js';
import { delay } from './util/delay.js';
import { BatchWriter } from './core/writer/batch-writer.js';
import { BufferBudget } from './core/writer/buffer-budget.js';
import { Spool, SpoolBudget } from './core/writer/spool.js';

/** The whole graceful stop must fit in this (ms); writers get what is left after the sockets closed. */
export const SHUTDOWN_TIMEOUT_MS = 10_000;
/** How often the open spool segment is fsync'd (ms): what a hard crash can lose of the spool. */
const SPOOL_FSYNC_INTERVAL_MS = 200;
/** Backoff between batch write retries (ms). */
const WRITE_RETRY = { baseMs: 100, maxMs: 5_000 } as const;

export interface App {
  start(): Promise<void>;
  /** Graceful: close sockets with a handshake, write everything buffered, close the database. */
  stop(): Promise<void>;
  readonly httpPort: number;
  readonly database: DatabaseHandle | undefined;
  readonly metrics: Metrics;
  readonly statuses: ReadonlyMap<string, SourceStatus>;
}

/**
 * The composition root: builds every component from the config and owns their lifecycle.
 * Order of start: database -> migrations -> writers -> HTTP -> status -> connectors.
 * Order of stop:  connectors -> writers (drain) -> status -> HTTP -> database.
 */
export function createApp(config: Config, logger: Logger): App {
  const metrics = createMetrics();
  const budget = new BufferBudget(config.bufferMaxEvents);
  const spoolBudget = new SpoolBudget(config.spoolMaxBytes);
  const statuses = new Map<string, SourceStatus>();
  const writers: Array<Pick<BatchWriter<unknown>, 'drain' | 'failing'>> = [];
  const feeds: FeedRunner[] = [];
  let database: DatabaseHandle | undefined;
  let http: HttpServer | undefined;
  let reporter: StatusReporter | undefined;
  let migrated = false;
  let starting: Promise<void> | undefined;
  let stopping: Promise<void> | undefined;
  let lastProbe = { at: 0, ok: false };

  const statusFor = (source: string) => {
    let s = statuses.get(source);
    if (!s) statuses.set(source, (s = new SourceStatus(source, metrics)));
    return s;
  };

  function writer<T>(name: string, opts: Pick<ConstructorParameters<typeof BatchWriter<T>>[0], 'collapse' | 'write' | 'onWritten' | 'onBadRow' | 'maxInFlight'>, source: string): BatchWriter<T> {
    const log = logger.child({ component: 'writer', writer: name });
    let lastOverflowLog = 0;
    const spool =
      config.spoolMaxBytes > 0
        ? new Spool<T>({ dir: join(config.dataDir, 'spool', name), budget: spoolBudget, fsyncIntervalMs: SPOOL_FSYNC_INTERVAL_MS, logger: log })
        : undefined;
    spool?.onChange(() => metrics.spoolBytes.set({ writer: name }, spool.bytes));
    metrics.spoolBytes.set({ writer: name }, spool?.bytes ?? 0);
    const w = new BatchWriter<T>({
      spool,
      name,
      maxEvents: config.batch.maxEvents,
      maxWaitMs: config.batch.maxWaitMs,
      retry: WRITE_RETRY,
      budget,
      logger: log,
      metrics,
      ...opts,
      onOverflow: (rows) => {
        metrics.eventsDropped.inc({ source }, rows.length);
        if (Date.now() - lastOverflowLog > 10_000) {
          lastOverflowLog = Date.now();
          log.error(
            { dropped: rows.length, buffer_max_events: config.bufferMaxEvents, spool_max_bytes: config.spoolMaxBytes },
            'memory buffer and spool full: events dropped',
          );
        }
      },
      onAbandon: (rows) => {
        metrics.eventsDropped.inc({ source }, rows.length);
        log.error({ count: rows.length }, 'shutdown deadline passed with events unwritten');
      },
    });
    writers.push(w);
    return w;
  }

  /**
   * A feed runs on this replica per its mode: `all`, or `one` = only while holding its advisory lock
   * (on a dedicated connection; the embedded database has a single process, so it always leads).
   */
  function addFeed(source: string, mode: ReplicaMode, create: () => Connector): void {
    feeds.push(
      new FeedRunner({
        source,
        mode,
        lockUrl: database!.embedded ? undefined : database!.url,
        create,
        status: statusFor(source),
        logger: logger.child({ source }),
      }),
    );
  }

  async function start(): Promise<void> {
    database = await connectDatabase({
      databaseUrl: config.databaseUrl,
      dataDir: config.dataDir,
      embeddedPgPort: config.embeddedPgPort,
      databaseTimeoutMs: config.databaseTimeoutMs,
      logger: logger.child({ component: 'database' }),
    });
    const db = database.db;
    logger.info({ database: redactUrl(database.url), embedded: database.embedded }, 'database configured');
    // HTTP first: /healthz answers and /readyz says 503 while migrations wait for the database.
    http = new HttpServer({
      host: config.http.host,
      port: config.http.port,
      logger: logger.child({ component: 'http' }),
      metrics,
      readiness,
    });
    await http.start();
    await migrateWithRetry();

    const rejects = writer<Reject>(
      'ingest_rejects',
      {
        write: (rows) => insertRejects(db, rows),
        // A reject that itself cannot be stored is logged (the raw text is already sanitised; this is a last resort).
        onBadRow: (row, err) => logger.error({ err, source: row.source, reason: row.reason }, 'could not store a reject'),
      },
      'rejects',
    );
    const ctxFor = (source: string): IngestContext => ({
      logger: logger.child({ source }),
      metrics,
      status: statusFor(source),
      rejects,
      reconnect: config.reconnect,
    });

    if (config.bptf.enabled) {
      const ctx = ctxFor('bptf');
      // Bound once, not looked up by label for each of the thousands of rows in a batch.
      const lag = metrics.ingestLag.labels({ source: 'bptf' });
      const listings = writer<ListingRow>(
        'bptf_listings',
        {
          collapse: { key: (r) => r.id, merge: mergeListingRows },
          write: (rows) => upsertListings(db, rows),
          onWritten: (rows) => {
            ctx.status.written(rows.length);
            const now = Date.now();
            for (const r of rows) lag.observe(Math.max(0, now - r.eventTimeMs) / 1000);
          },
          onBadRow: (row, err) =>
            rejects.add([makeReject('bptf', `database refused the listing: ${(err as Error).message}`, safeStringify(row.payload))]),
        },
        'bptf',
      );
      addFeed('bptf', config.bptf.replicas, () => createBptfConnector({ url: config.bptf.url, stallMs: config.bptf.stallMs }, ctx, listings));
    }

    // TradePost: the socket when an API key is set; the webhook (registered on `http` below) when a secret is.
    const tradepostCtx = config.tradepost.enabled || config.webhookSecret ? ctxFor('tradepost') : undefined;
    if (config.tradepost.enabled && tradepostCtx) {
      const ctx = tradepostCtx;
      const lag = metrics.ingestLag.labels({ source: 'tradepost' });
      const events = writer<TradePostRow>(
        'tradepost_events',
        {
          // Same key = same message: the first copy is the one stored, so keeping the older is right.
          collapse: { key: (r) => r.dedupeKey, merge: (older) => older },
          write: async (rows) => {
            await insertTradePostEvents(db, rows);
          },
          onWritten: (rows) => {
            ctx.status.written(rows.length);
            const now = Date.now();
            for (const r of rows) {
              if (r.sentAtMs !== null) lag.observe(Math.max(0, now - r.sentAtMs) / 1000);
            }
          },
          onBadRow: (row, err) =>
            rejects.add([makeReject('tradepost', `database refused the message: ${(err as Error).message}`, safeStringify({ msg_type: row.msgType, payload: row.payload }))]),
        },
        'tradepost',
      );
      const t = config.tradepost;
      addFeed('tradepost', t.replicas, () => createTradePostConnector({ url: t.url, apiKey: t.apiKey, rooms: t.rooms }, ctx, events));
    }

    if (config.commerce.enabled) {
      const ctx = ctxFor('commerce');
      const lag = metrics.ingestLag.labels({ source: 'commerce' });
      const c = config.commerce;
      const events = writer<CommerceEventRow>(
        'commerce_events',
        {
          // One batch at a time: entity upserts run in rounds, and two batches interleaving rounds
          // over the same entities could deadlock (retried, but wasted). The feed is low-volume.
          maxInFlight: 1,
          collapse: { key: (r) => r.dedupeKey, merge: (older) => older },
          write: async (rows) => {
            await writeCommerceEvents(db, rows);
          },
          onWritten: (rows) => {
            ctx.status.written(rows.length);
            const now = Date.now();
            for (const r of rows) lag.observe(Math.max(0, now - r.occurredAtMs) / 1000);
          },
          onBadRow: (row, err) =>
            rejects.add([makeReject('commerce', `database refused the event: ${(err as Error).message}`, safeStringify({ event: row.event, data: row.data }))]),
        },
        'commerce',
      );
      const login =
        c.cookie === undefined && c.loginUrl !== undefined && c.username !== undefined && c.password !== undefined
          ? { url: c.loginUrl, username: c.username, password: c.password, fields: c.loginFields }
          : undefined;
      addFeed('commerce', c.replicas, () => createCommerceConnector({ wsUrl: c.wsUrl, cookie: c.cookie, login, channels: c.channels }, ctx, events));
    }

    if (config.webhookSecret && tradepostCtx) {
      registerTradePostWebhook(http, { secret: config.webhookSecret, db, ctx: tradepostCtx });
    }
    reporter = new StatusReporter(db, () => [...statuses.values()], config.instanceId, logger.child({ component: 'status' }));
    reporter.start();
    for (const f of feeds) f.start();
    logger.info({ sources: feeds.map((f) => f.source), instance: config.instanceId }, 'tributary started');
  }

  /** Migrations run before anything is read: retried while the database is unreachable, until stop. */
  async function migrateWithRetry(): Promise<void> {
    const log = logger.child({ component: 'migrate' });
    for (let attempt = 0; ; attempt++) {
      try {
        await migrateToLatest(database!.db as never, database!.pool, log);
        migrated = true;
        return;
      } catch (err) {
        if (stopping) throw err;
        const wait = backoffDelay(attempt, config.reconnect.baseMs, Math.min(config.reconnect.maxMs, 10_000));
        log.error({ err, retry_in_ms: wait }, 'could not apply migrations; retrying');
        await delay(wait);
      }
    }
  }

  async function readiness(): Promise<{ ready: boolean; body: unknown }> {
    // Probe at most once a second: readiness checks must not load the database.
    if (Date.now() - lastProbe.at > 1_000) {
      let ok = false;
      try {
        await sql`SELECT 1`.execute(database!.db);
        ok = true;
      } catch {
        ok = false;
      }
      lastProbe = { at: Date.now(), ok };
      metrics.dbUp.set(ok ? 1 : 0);
    }
    const ready = lastProbe.ok && migrated && !writers.some((w) => w.failing);
    return {
      ready,
      body: {
        ready,
        database: lastProbe.ok ? 'up' : 'down',
        migrations: migrated ? 'applied' : 'pending',
        buffered_events: budget.held,
        sources: Object.fromEntries([...statuses.values()].map((s) => [s.source, { state: s.state, leader: s.isLeader }])),
      },
    };
  }

  async function stop(): Promise<void> {
    const deadline = AbortSignal.timeout(SHUTDOWN_TIMEOUT_MS - 1_000);
    await starting?.catch(() => undefined);
    await Promise.allSettled(feeds.map((f) => f.stop()));
    // Rejects last: draining the other writers can still produce rejects.
    const [rejectsWriter, ...dataWriters] = writers;
    const abandoned = (await Promise.all(dataWriters.map((w) => w.drain(deadline)))).reduce((a, b) => a + b, 0);
    if (rejectsWriter) await rejectsWriter.drain(deadline);
    await reporter?.stop();
    await http?.stop();
    await database?.close();
    logger.info({ abandoned }, 'tributary stopped');
  }

  return {
    start: () => (starting ??= start()),
    stop: () => (stopping ??= stop()),
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
