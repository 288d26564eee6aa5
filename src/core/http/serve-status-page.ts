import type { Kysely } from 'kysely';
import type { CoreDatabase } from '../db/schema.js';
import { RateHistory } from '../status/rate-history.js';
import { openGaps } from '../status/gaps-store.js';
import type { ReadinessBody } from '../status/readiness.js';
import type { SourceStatus } from '../status/source-status.js';
import { feedSnapshot } from '../status/status-snapshot.js';
import type { WriterPool } from '../writer/writer-pool.js';
import { addStatusPage } from './status-page.js';
import type { RouteHandler } from './server.js';

/** The status page's chart: events/s per bucket of this (ms), over this window (ms). */
const CHART_BUCKET_MS = 10_000;
const CHART_WINDOW_MS = 15 * 60_000;

export interface StatusPageDeps {
  readonly instanceId: string;
  readonly bufferMaxEvents: number;
  readonly bufferMaxBytes: number;
  readonly readiness: () => Promise<{ readonly body: ReadinessBody }>;
  readonly writers: Pick<WriterPool, 'budget' | 'spoolBytes'>;
  readonly statuses: () => Iterable<SourceStatus>;
  readonly db: Kysely<CoreDatabase>;
  /** Open gaps are read from ingest_gaps only once it exists. */
  readonly migrated: () => boolean;
}

/**
 * GET / and GET /status.json, answered from the daemon's live state: readiness, the buffer, each
 * feed's status and its written-events chart (sampled here, every bucket), and the open gaps.
 * Returns what stops the chart's sampling.
 */
export function serveStatusPage(server: { route(method: string, path: string, handler: RouteHandler): void }, deps: StatusPageDeps): () => void {
  const history = new RateHistory({ bucketMs: CHART_BUCKET_MS, windowMs: CHART_WINDOW_MS });
  const sampleRates = () => history.sample([...deps.statuses()].map((s) => ({ source: s.source, count: s.eventsWritten })));
  sampleRates();
  const sampler = setInterval(sampleRates, CHART_BUCKET_MS);
  sampler.unref();
  const { writers } = deps;
  addStatusPage(server, async () => {
    const now = Date.now();
    return {
      instance: deps.instanceId,
      generatedAt: new Date(now).toISOString(),
      readiness: (await deps.readiness()).body,
      buffer: { events: writers.budget.held, maxEvents: deps.bufferMaxEvents, bytes: writers.budget.heldBytes, maxBytes: deps.bufferMaxBytes },
      spoolBytes: writers.spoolBytes,
      chart: { bucketMs: CHART_BUCKET_MS, windowMs: CHART_WINDOW_MS },
      feeds: [...deps.statuses()].map((s) => feedSnapshot(s, history, now)),
      openGaps: deps.migrated() ? await openGaps(deps.db).catch(() => undefined) : undefined,
    };
  });
  return () => clearInterval(sampler);
}
