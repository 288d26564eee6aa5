import type { Kysely } from 'kysely';
import { pingDatabase } from '../db/connect.js';
import { delay } from '../../util/delay.js';
import type { Metrics } from '../../metrics.js';
import type { CoreDatabase } from '../db/schema.js';
import type { Refusal } from '../writer/batch-writer.js';
import type { DropReport } from '../writer/writer-pool.js';
import type { SourceStatus } from './source-status.js';

/** Probe the database at most this often (ms): readiness checks must not load it. */
const PROBE_INTERVAL_MS = 1_000;
/** A probe unanswered this long (ms) counts as down. */
const PROBE_WAIT_MS = 500;
/**
 * Longest a readiness answer waits for a probe in flight (ms): a database that answers does so in a
 * few ms; one that hangs (a client's long statement on the embedded database, a network cut) must
 * not hold /readyz or the status page: they answer with the state known.
 */
const PROBE_ANSWER_WAIT_MS = 50;

export interface ReadinessDeps {
  readonly db: () => Kysely<CoreDatabase> | undefined;
  readonly migrated: () => boolean;
  /** True while a write is failing. */
  readonly writesFailing: () => boolean;
  readonly bufferedEvents: () => number;
  /** The last loss of events while recent: not ready, and the body says why. */
  readonly dropping: () => DropReport | undefined;
  /** Why the database refuses writes, while it does: not ready, and the body says why. */
  readonly refusal: () => Refusal | undefined;
  /** Bytes in the spool, and the age of its oldest event (s). */
  readonly spool: () => { readonly bytes: number; readonly oldestSeconds: number };
  /** Age of the oldest event waiting to be written, in memory or spooled (s). */
  readonly oldestWaitingSeconds: () => number;
  readonly statuses: () => Iterable<SourceStatus>;
  readonly metrics: Metrics;
}

/** The body of GET /readyz (and the top of the status page). */
export interface ReadinessBody {
  readonly ready: boolean;
  /** `refusing`: it answers but refuses writes (read-only, privileges, a table gone): see sqlstate and reason. */
  readonly database: 'up' | 'down' | 'refusing';
  readonly sqlstate?: string;
  readonly reason?: string;
  /** While the database is not up: since when (ISO), the first failed probe or the first refusal. */
  readonly database_down_since?: string;
  readonly migrations: 'applied' | 'pending';
  readonly buffered_events: number;
  readonly spool_bytes: number;
  /** Age of the oldest event in the spool (s); 0 when it is empty. */
  readonly spool_oldest_s: number;
  /** Age of the oldest event waiting to be written, in memory or spooled (s); 0 when none waits. */
  readonly oldest_waiting_s: number;
  readonly dropping_events?: { readonly writer: string; readonly reason: string; readonly error: string | undefined; readonly at: string };
  readonly sources: Record<string, { readonly state: string; readonly leader: boolean }>;
}

/** GET /readyz: ready when the database answers and accepts writes, migrations are applied, no write is failing and no event was just dropped. */
export function createReadiness(deps: ReadinessDeps): () => Promise<{ ready: boolean; body: ReadinessBody }> {
  let lastProbe = { at: 0, ok: false };
  let inFlight: { readonly since: number; readonly done: Promise<void> } | undefined;
  /** When a probe first failed (or went unanswered) after the database last answered; the status page's "down since". */
  let downSince: Date | undefined;
  const probed = (ok: boolean): void => {
    lastProbe = { at: Date.now(), ok };
    if (ok) downSince = undefined;
    else downSince ??= new Date();
    deps.metrics.dbUp.set(ok ? 1 : 0);
  };
  const probe = (): void => {
    const db = deps.db();
    const since = Date.now();
    const done = (db ? pingDatabase(db) : Promise.reject(new Error('no database yet')))
      .then(
        () => true,
        () => false,
      )
      .then((ok) => {
        probed(ok);
        inFlight = undefined;
      });
    inFlight = { since, done };
  };
  return async () => {
    if (!inFlight && Date.now() - lastProbe.at > PROBE_INTERVAL_MS) probe();
    // A database that answers does so at once; one that hangs must not hold /readyz (or the status
    // page) up: at most PROBE_ANSWER_WAIT_MS into a probe the answer is the state known, and a probe
    // unanswered for PROBE_WAIT_MS means the database is not answering.
    const wait = inFlight ? inFlight.since + PROBE_ANSWER_WAIT_MS - Date.now() : 0;
    if (inFlight && wait > 0) {
      const waited = new AbortController();
      await Promise.race([inFlight.done, delay(wait, waited.signal)]);
      waited.abort();
    }
    if (inFlight && Date.now() - inFlight.since >= PROBE_WAIT_MS && lastProbe.ok) {
      const at = lastProbe.at;
      probed(false);
      lastProbe = { at, ok: false };
    }
    const migrated = deps.migrated();
    const dropping = deps.dropping();
    const refusal = deps.refusal();
    const spool = deps.spool();
    deps.metrics.spoolOldestSeconds.set(spool.oldestSeconds);
    const database = refusal ? 'refusing' : lastProbe.ok ? 'up' : 'down';
    const downAt = refusal ? refusal.since : database === 'down' ? downSince : undefined;
    const ready = lastProbe.ok && migrated && !deps.writesFailing() && !dropping && !refusal;
    deps.metrics.ready.set(ready ? 1 : 0);
    return {
      ready,
      body: {
        ready,
        database,
        ...(refusal && { sqlstate: refusal.sqlstate, reason: refusal.reason }),
        ...(downAt && { database_down_since: downAt.toISOString() }),
        migrations: migrated ? 'applied' : 'pending',
        buffered_events: deps.bufferedEvents(),
        spool_bytes: spool.bytes,
        spool_oldest_s: spool.oldestSeconds,
        oldest_waiting_s: deps.oldestWaitingSeconds(),
        ...(dropping && { dropping_events: { writer: dropping.writer, reason: dropping.reason, error: dropping.error, at: dropping.at.toISOString() } }),
        sources: Object.fromEntries([...deps.statuses()].map((s) => [s.source, { state: s.reportedState, leader: s.isLeader }])),
      },
    };
  };
}
