import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { SourceStatus } from './status/source-status.js';
import type { BatchWriter } from './writer/batch-writer.js';
import type { Reject } from './ingest/reject.js';

/** What every connector gets from the composition root besides its own writer(s). */
export interface IngestContext {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly status: SourceStatus;
  readonly rejects: BatchWriter<Reject>;
  readonly reconnect: { readonly baseMs: number; readonly maxMs: number };
}

/** Store rejects and count them. */
export function reportRejects(ctx: IngestContext, rejects: readonly Reject[]): void {
  if (rejects.length === 0) return;
  ctx.metrics.eventsRejected.inc({ source: ctx.status.source }, rejects.length);
  ctx.rejects.add(rejects);
  ctx.logger.debug({ count: rejects.length, reason: rejects[0]?.reason }, 'rejected input');
}
