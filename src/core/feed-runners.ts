import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { DatabaseHandle } from './db/connect.js';
import type { FeedContext, FeedDefinition, FeedPlan, PeriodicTask } from './feed.js';
import { createFeedContext } from './feed-context.js';
import type { HttpServer } from './http/server.js';
import type { StoredReject } from './ingest/reject.js';
import { FeedRunner } from './replicas/feed-runner.js';
import { SourceStatus } from './status/source-status.js';
import type { BatchWriter } from './writer/batch-writer.js';
import { spooledWriters } from './writer/spool.js';
import type { WriterPool } from './writer/writer-pool.js';

/** A feed this configuration runs, with what runs. */
export interface PlannedFeed {
  readonly def: FeedDefinition;
  readonly plan: FeedPlan;
}

/** The feeds the configuration enables (a definition whose plan is undefined is not configured). */
export function planFeeds(feeds: readonly FeedDefinition[], config: Config): PlannedFeed[] {
  return feeds.flatMap((def) => {
    const plan = def.plan(config);
    return plan ? [{ def, plan }] : [];
  });
}

export interface FeedRunnersDeps {
  /** Every feed tributary knows: a disabled one may still have spooled events to write. */
  readonly feeds: readonly FeedDefinition[];
  readonly planned: readonly PlannedFeed[];
  /** The planned feeds' statuses, by source. */
  readonly statuses: ReadonlyMap<string, SourceStatus>;
  readonly config: Pick<Config, 'dataDir' | 'reconnect' | 'eventTimeMaxSkewMs' | 'notifyChannel' | 'leaderLeaseMs'>;
  readonly db: DatabaseHandle;
  readonly server: Pick<HttpServer, 'route'>;
  readonly writers: WriterPool;
  readonly rejects: BatchWriter<StoredReject>;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly signal: AbortSignal;
  readonly schemaReady: () => boolean;
}

export interface FeedRunners {
  /** One per feed that connects upstream (a routes-only feed has none); not started yet. */
  readonly runners: readonly FeedRunner[];
  /** The writers of every feed's tables, to drain at stop. */
  readonly writers: readonly BatchWriter<unknown>[];
  /** The feeds' periodic tasks, each with its feed's context: started once migrations are applied. */
  readonly tasks: ReadonlyArray<{ readonly task: PeriodicTask; readonly ctx: FeedContext }>;
}

/**
 * Each feed's context (its tables' writers), its HTTP routes and its runner. Nothing starts here: the
 * composition root registers the writers' drain and the runners' stop, then starts the runners.
 */
export function createFeedRunners(deps: FeedRunnersDeps): FeedRunners {
  const { config, db, logger } = deps;
  const writers: BatchWriter<unknown>[] = [];
  const tasks: Array<{ task: PeriodicTask; ctx: FeedContext }> = [];
  const contextOf = (def: FeedDefinition, status: SourceStatus) => {
    const { ctx, writers: own } = createFeedContext(def, {
      db: db.db,
      writers: deps.writers,
      rejects: deps.rejects,
      metrics: deps.metrics,
      status,
      signal: deps.signal,
      reconnect: config.reconnect,
      logger: logger.child({ source: def.source }),
      schemaReady: deps.schemaReady,
      eventTimeMaxSkewMs: config.eventTimeMaxSkewMs,
      notifyChannel: config.notifyChannel,
    });
    writers.push(...own);
    return ctx;
  };
  // A feed disabled since its events were spooled: its tables' writers still write what the spool
  // holds (those events were received; nobody could send them again). It connects to nothing.
  const spooled = spooledWriters(config.dataDir);
  for (const def of deps.feeds) {
    if (deps.planned.some((p) => p.def === def) || !def.tables.some((t) => spooled.has(t.name))) continue;
    logger.info({ source: def.source }, 'the spool holds events of a feed that is now disabled: writing them');
    contextOf(def, new SourceStatus(def.source, deps.metrics));
  }
  const runners = deps.planned.flatMap(({ def, plan }) => {
    const status = deps.statuses.get(def.source) as SourceStatus;
    const ctx = contextOf(def, status);
    for (const route of plan.routes?.(ctx) ?? []) deps.server.route(route.method, route.path, route.handler);
    for (const task of plan.tasks ?? []) tasks.push({ task, ctx });
    const connect = plan.connect?.bind(plan);
    if (!connect) return []; // routes only
    // The lock needs a real server session; the embedded database has a single process anyway.
    const lockUrl = db.embedded ? undefined : db.url;
    return [
      new FeedRunner({
        source: def.source,
        lockId: def.lockId,
        mode: plan.replicas,
        lockUrl,
        lockPassword: db.password,
        leaseMs: config.leaderLeaseMs,
        create: () => connect(ctx),
        status,
        logger: logger.child({ source: def.source }),
      }),
    ];
  });
  return { runners, writers, tasks };
}
