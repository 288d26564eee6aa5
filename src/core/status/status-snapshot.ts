import type { Gap } from './gaps-store.js';
import type { RateHistory, RatePoint } from './rate-history.js';
import type { ReadinessBody } from './readiness.js';
import type { SourceStatus } from './source-status.js';

/** One feed as the status page shows it. Times are ISO strings; null before the first. */
export interface FeedSnapshot {
  readonly source: string;
  readonly state: string;
  readonly leader: boolean;
  readonly connectedSince: string | null;
  readonly lastEventAt: string | null;
  readonly eventsReceived: number;
  readonly eventsWritten: number;
  readonly reconnects: number;
  /** Commit time minus event time of the last event written (ms). */
  readonly lagMs: number | null;
  readonly lastError: string | null;
  /** Events written per second, oldest first, over the chart's window. */
  readonly rate: readonly RatePoint[];
}

/** What GET / and GET /status.json show: this replica's view of every enabled feed. */
export interface StatusSnapshot {
  readonly instance: string;
  readonly generatedAt: string;
  readonly readiness: ReadinessBody;
  readonly buffer: { readonly events: number; readonly maxEvents: number; readonly bytes: number; readonly maxBytes: number };
  readonly spoolBytes: number;
  /** Length of one chart bucket (ms) and of the whole chart (ms). */
  readonly chart: { readonly bucketMs: number; readonly windowMs: number };
  readonly feeds: readonly FeedSnapshot[];
  /** ingest_gaps rows still open; undefined when the database could not say. */
  readonly openGaps: readonly Gap[] | undefined;
}

export function feedSnapshot(s: SourceStatus, history: RateHistory, now = Date.now()): FeedSnapshot {
  return {
    source: s.source,
    state: s.reportedState,
    leader: s.isLeader,
    connectedSince: s.connectedSince?.toISOString() ?? null,
    lastEventAt: s.lastEventAt?.toISOString() ?? null,
    eventsReceived: s.eventsReceived,
    eventsWritten: s.eventsWritten,
    reconnects: s.reconnects,
    lagMs: s.lastLagMs,
    lastError: s.lastError,
    rate: history.series(s.source, s.eventsWritten, now),
  };
}
