/**
 * TOMBSTONE_RETENTION_DAYS: the purge removes deleted listings older than the retention, and only
 * those, in batches; it is scheduled only when the retention is not 0.
 */
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import type { CoreDatabase } from '../../src/core/db/schema.js';
import { bptfFeed } from '../../src/feeds/bptf/feed.js';
import { tombstonePurge } from '../../src/feeds/bptf/tombstone-purge.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { fakeFeedContext } from '../helpers/feed-context.js';

const DAY = 86_400_000;

describe('tombstone purge', () => {
  let tdb: TestDatabase;
  beforeAll(async () => {
    tdb = await createTestDatabase();
    await tdb.migrate();
  });
  afterAll(async () => {
    await tdb?.close();
  });

  async function insert(id: string, deletedAgoMs: number | null): Promise<void> {
    const t = new Date(Date.now() - (deletedAgoMs ?? DAY));
    await sql`INSERT INTO bptf_listings (id, event_id, event_time, payload, deleted_at)
              VALUES (${id}, 'e', ${t}, ${JSON.stringify({ id })}::jsonb, ${deletedAgoMs === null ? null : t})`.execute(tdb.db);
  }

  it('removes tombstones older than the retention, in batches, and nothing else', async () => {
    for (let i = 0; i < 5; i++) await insert(`old-${i}`, 20 * DAY);
    await insert('recent-tombstone', 13 * DAY);
    await insert('live', null);
    await insert('old-live', null);
    await sql`UPDATE bptf_listings SET event_time = now() - interval '60 days' WHERE id = 'old-live'`.execute(tdb.db);

    const { ctx } = fakeFeedContext('bptf', { logger: createLogger('silent'), db: tdb.db as unknown as Kysely<CoreDatabase> });
    await tombstonePurge(14, { batch: 2 }).run(ctx, new AbortController().signal);

    const left = await sql<{ id: string }>`SELECT id FROM bptf_listings ORDER BY id`.execute(tdb.db);
    expect(left.rows.map((r) => r.id)).toEqual(['live', 'old-live', 'recent-tombstone']);
    const metrics = await ctx.metrics.registry.getSingleMetricAsString('tributary_rows_purged_total');
    expect(metrics).toContain('tributary_rows_purged_total{table="bptf_listings"} 5');
  });

  it('is scheduled hourly, and not at all with TOMBSTONE_RETENTION_DAYS=0', () => {
    // BPTF_QUOTES=false: the quotes' own tasks are not scheduled (bptf-quotes-daemon.test.ts).
    expect(bptfFeed.plan(loadConfig({ BPTF_QUOTES: 'false' }))?.tasks?.map((t) => [t.name, t.intervalMs])).toEqual([['bptf tombstone purge', 3_600_000]]);
    expect(bptfFeed.plan(loadConfig({ BPTF_QUOTES: 'false', TOMBSTONE_RETENTION_DAYS: '0' }))?.tasks).toEqual([]);
  });
});
