import type { Kysely } from 'kysely';
import type { CoreDatabase } from '../../src/core/db/schema.js';
import type { FeedContext } from '../../src/core/feed.js';
import type { Reject } from '../../src/core/ingest/reject.js';
import { SourceStatus } from '../../src/core/status/source-status.js';
import type { Logger } from '../../src/logger.js';
import { createMetrics } from '../../src/metrics.js';

/**
 * A FeedContext without the core, for running one connector or route alone: rows handed to `add`
 * and rejects are collected in arrays; `db` is whatever the test gives (never touched by default).
 */
export function fakeFeedContext(source: string, opts: { logger: Logger; db?: Kysely<CoreDatabase> }) {
  const metrics = createMetrics();
  const added: unknown[] = [];
  const rejects: Reject[] = [];
  const ctx: FeedContext = {
    source,
    logger: opts.logger,
    metrics,
    status: new SourceStatus(source, metrics),
    reconnect: { baseMs: 20, maxMs: 200 },
    db: opts.db ?? (undefined as unknown as Kysely<CoreDatabase>),
    signal: new AbortController().signal,
    ready: () => true,
    // The table's own write, without notifications.
    writeNow: async (table, rows) => (await table.write(ctx.db, rows)) ?? [],
    admit: (_table, rows) => rows,
    add: (_table, rows) => {
      added.push(...rows);
      return rows;
    },
    reject: (rs) => void rejects.push(...rs),
    written: () => undefined,
  };
  return { ctx, added, rejects };
}
