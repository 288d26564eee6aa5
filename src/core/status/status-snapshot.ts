import { delay } from '../../util/delay.js';
import { redactSecrets } from '../../util/redact.js';
import type { Gap } from './gaps-store.js';
import { RateHistory, type RatePoint } from './rate-history.js';
import type { ReadinessBody } from './readiness.js';
import type { SourceStatus } from './source-status.js';

/** Length of one chart bucket (ms) and the chart's whole window (ms). */
const CHART_BUCKET_MS = 10_000;
const CHART_WINDOW_MS = 15 * 60_000;
/**
 * Longest a snapshot waits for the open gaps it asked the database for (ms): a database that answers
 * does so in a few ms; during a hang the page shows the gaps last read and answers at once.
 */
const GAPS_WAIT_MS = 50;

/** One feed as the status page shows it. Times are ISO strings; null before the first. */
export interface FeedSnapshot {
  readonly source: string;
  readonly state: string;
  /** The feed reads, but its writes are held: the database is down or refuses them (events wait in memory, then the spool). */
  readonly writesHeld: boolean;
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
  /** Events received per second, oldest first, over the chart's window. */
  readonly received: readonly RatePoint[];
}

/** What GET / and GET /status.json show: this replica's view of every enabled feed. */
export interface StatusSnapshot {
  readonly instance: string;
  readonly generatedAt: string;
  readonly readiness: ReadinessBody;
  /** The database written to: host:port (no user or password), and whether it is the embedded one. */
  readonly database: { readonly host: string; readonly embedded: boolean };
  readonly buffer: { readonly events: number; readonly maxEvents: number; readonly bytes: number; readonly maxBytes: number };
  /** Bytes in the spool, and SPOOL_MAX_BYTES. */
  readonly spool: { readonly bytes: number; readonly maxBytes: number };
  /** Length of one chart bucket (ms) and of the whole chart (ms). */
  readonly chart: { readonly bucketMs: number; readonly windowMs: number };
  readonly feeds: readonly FeedSnapshot[];
  /** ingest_gaps rows still open; undefined when the database could not say. */
  readonly openGaps: readonly Gap[] | undefined;
}

export function feedSnapshot(
  s: SourceStatus,
  history: { readonly written: RateHistory; readonly received: RateHistory },
  readiness: Pick<ReadinessBody, 'database'>,
  now = Date.now(),
): FeedSnapshot {
  return {
    source: s.source,
    state: s.reportedState,
    writesHeld: readiness.database !== 'up' || s.reportedState === 'db_refusing',
    leader: s.isLeader,
    connectedSince: s.connectedSince?.toISOString() ?? null,
    lastEventAt: s.lastEventAt?.toISOString() ?? null,
    eventsReceived: s.eventsReceived,
    eventsWritten: s.eventsWritten,
    reconnects: s.reconnects,
    lagMs: s.lastLagMs,
    lastError: s.lastError,
    rate: history.written.series(s.source, s.eventsWritten, now),
    received: history.received.series(s.source, s.eventsReceived, now),
  };
}

/** A database URL's host:port for people to read: never its user or password (a socket directory when it names no host). */
export function databaseHost(url: string): string {
  try {
    const u = new URL(url);
    const host = u.hostname || u.searchParams.get('host') || 'localhost';
    return redactSecrets(`${host}:${u.port || '5432'}`);
  } catch {
    return 'unknown';
  }
}

export interface StatusSnapshotDeps {
  readonly instance: string;
  readonly database: StatusSnapshot['database'];
  readonly readiness: () => Promise<{ readonly body: ReadinessBody }>;
  readonly statuses: () => Iterable<SourceStatus>;
  readonly buffer: () => StatusSnapshot['buffer'];
  readonly spool: () => StatusSnapshot['spool'];
  /** Read the open gaps; undefined while the database cannot say (migrations pending). */
  readonly openGaps: () => Promise<Gap[]> | undefined;
}

/**
 * The status page's figures, from memory: the HTTP endpoints never wait on the database (a hang, a
 * client's long statement on the embedded database). It samples every feed's received and written
 * counters into the chart's history every bucket; the open gaps are read in the background.
 */
export function startStatusSnapshots(deps: StatusSnapshotDeps): { snapshot(): Promise<StatusSnapshot>; stop(): void } {
  const history = {
    written: new RateHistory({ bucketMs: CHART_BUCKET_MS, windowMs: CHART_WINDOW_MS }),
    received: new RateHistory({ bucketMs: CHART_BUCKET_MS, windowMs: CHART_WINDOW_MS }),
  };
  const sample = () => {
    const statuses = [...deps.statuses()];
    history.written.sample(statuses.map((s) => ({ source: s.source, count: s.eventsWritten })));
    history.received.sample(statuses.map((s) => ({ source: s.source, count: s.eventsReceived })));
  };
  sample();
  const sampler = setInterval(sample, CHART_BUCKET_MS);
  sampler.unref();

  let gaps: readonly Gap[] | undefined;
  let reading: Promise<void> | undefined;
  const readGaps = () => {
    const read = deps.openGaps();
    if (!read) {
      gaps = undefined;
      return;
    }
    reading = read
      .then(
        (g) => void (gaps = g),
        () => void (gaps = undefined),
      )
      .finally(() => (reading = undefined));
  };

  return {
    async snapshot() {
      if (!reading) readGaps();
      const waited = new AbortController();
      const [readiness] = await Promise.all([deps.readiness(), reading && Promise.race([reading, delay(GAPS_WAIT_MS, waited.signal)])]);
      waited.abort();
      const now = Date.now();
      return {
        instance: deps.instance,
        generatedAt: new Date(now).toISOString(),
        readiness: readiness.body,
        database: deps.database,
        buffer: deps.buffer(),
        spool: deps.spool(),
        chart: { bucketMs: CHART_BUCKET_MS, windowMs: CHART_WINDOW_MS },
        feeds: [...deps.statuses()].map((s) => feedSnapshot(s, history, readiness.body, now)),
        openGaps: gaps,
      };
    },
    stop: () => clearInterval(sampler),
  };
}
