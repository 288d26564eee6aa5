import type { Config } from '../../config.js';
import type { Logger } from '../../logger.js';
import type { Metrics } from '../../metrics.js';
import { pingDatabase, type DatabaseHandle } from '../db/connect.js';
import { touchStatusRow } from '../status/ingest-status-store.js';
import { WriterPool } from './writer-pool.js';

/** Longest wait (ms) between two writes while the database refuses them (read-only, privileges …). */
const REFUSING_RETRY_MAX_MS = 10_000;

/**
 * The daemon's writer pool, on its database once connected: the canary is a touch of this instance's
 * ingest_status row, the outage probe a ping. Made before the database is connected (statuses and
 * readiness read it from the start), hence `database()`.
 */
export function writerPoolForDatabase(
  config: Config,
  deps: { readonly metrics: Metrics; readonly logger: Logger; readonly schemaReady: () => boolean; readonly database: () => DatabaseHandle | undefined },
): WriterPool {
  return new WriterPool({
    ...config,
    metrics: deps.metrics,
    logger: deps.logger,
    schemaReady: deps.schemaReady,
    // A database that refuses writes is asked again at the reconnect backoff, capped so that writes
    // resume within REFUSING_RETRY_MAX_MS of an operator's fix.
    refusingRetry: { baseMs: config.reconnect.baseMs, maxMs: Math.min(config.reconnect.maxMs, REFUSING_RETRY_MAX_MS) },
    canary: async () => {
      const database = deps.database();
      if (database) await touchStatusRow(database.db, config.instanceId);
    },
    probe: async () => {
      const database = deps.database();
      if (database) await pingDatabase(database.db);
    },
  });
}
