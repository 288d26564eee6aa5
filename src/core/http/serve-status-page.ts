import type { Kysely } from 'kysely';
import type { CoreDatabase } from '../db/schema.js';
import { openGaps } from '../status/gaps-store.js';
import type { ReadinessBody } from '../status/readiness.js';
import type { SourceStatus } from '../status/source-status.js';
import { databaseHost, startStatusSnapshots } from '../status/status-snapshot.js';
import type { WriterPool } from '../writer/writer-pool.js';
import { addStatusPage } from './status-page.js';
import type { RouteHandler } from './server.js';

export interface StatusPageDeps {
  readonly instanceId: string;
  readonly bufferMaxEvents: number;
  readonly bufferMaxBytes: number;
  readonly spoolMaxBytes: number;
  readonly readiness: () => Promise<{ readonly body: ReadinessBody }>;
  readonly writers: Pick<WriterPool, 'budget' | 'spoolBytes'>;
  readonly statuses: () => Iterable<SourceStatus>;
  readonly db: Kysely<CoreDatabase>;
  /** The database's URL (only its host is shown) and whether it is the embedded one. */
  readonly dbUrl: string;
  readonly embedded: boolean;
  /** Open gaps are read from ingest_gaps only once it exists. */
  readonly migrated: () => boolean;
}

/**
 * GET / and GET /status.json, answered from the daemon's live state (startStatusSnapshots: the
 * endpoints never wait on the database): readiness, the buffer and the spool against their limits,
 * each feed's status and its received and written chart, and the open gaps read in the background.
 * Returns what stops the sampling.
 */
export function serveStatusPage(server: { route(method: string, path: string, handler: RouteHandler): void }, deps: StatusPageDeps): () => void {
  const { writers } = deps;
  const status = startStatusSnapshots({
    instance: deps.instanceId,
    database: { host: databaseHost(deps.dbUrl), embedded: deps.embedded },
    readiness: deps.readiness,
    statuses: deps.statuses,
    buffer: () => ({ events: writers.budget.held, maxEvents: deps.bufferMaxEvents, bytes: writers.budget.heldBytes, maxBytes: deps.bufferMaxBytes }),
    spool: () => ({ bytes: writers.spoolBytes, maxBytes: deps.spoolMaxBytes }),
    openGaps: () => (deps.migrated() ? openGaps(deps.db) : undefined),
  });
  addStatusPage(server, () => status.snapshot());
  return () => status.stop();
}
