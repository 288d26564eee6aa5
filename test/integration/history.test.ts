/**
 * BPTF_HISTORY: bptf_listing_events holds every distinct event once, whatever the order and
 * duplication of delivery; its day partitions exist ahead; retention drops whole old days.
 */
import { sql, type Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import type { CoreDatabase } from '../../src/core/db/schema.js';
import { historyPartitions } from '../../src/feeds/bptf/history.js';
import { dayPartitions } from '../../src/feeds/bptf/history-store.js';
import { createLogger } from '../../src/logger.js';
import { makeListingDelete, makeListingUpdate, mulberry32, type BptfEvent } from '../../src/simulator/bptf-events.js';
import { useBptfDaemon } from '../helpers/bptf-daemon.js';
import { fakeFeedContext } from '../helpers/feed-context.js';
import { waitFor } from '../helpers/wait-for.js';

const DAY = 86_400_000;
const today = Math.floor(Date.now() / DAY) * DAY;

describe('listing history', () => {
  const h = useBptfDaemon({ BPTF_HISTORY: 'true', HISTORY_RETENTION_DAYS: '7' });

  it('stores every distinct event once, id-only deletes included, however it arrives', async () => {
    const t = Math.floor(Date.now() / 1000) - 120;
    const distinct: BptfEvent[] = [];
    for (let i = 0; i < 60; i++) {
      distinct.push(makeListingUpdate(i, { timeSec: t, seed: 1 }), makeListingUpdate(i, { timeSec: t + 1, seed: 2 }));
      if (i % 3 === 0) distinct.push(makeListingDelete(i, { timeSec: t + 2, partial: i % 2 === 0 }));
    }
    // Every event once or twice, shuffled, in frames of 25.
    const rand = mulberry32(7);
    const sent = [...distinct, ...distinct.filter(() => rand() < 0.5)];
    for (let i = sent.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [sent[i], sent[j]] = [sent[j] as BptfEvent, sent[i] as BptfEvent];
    }
    for (let i = 0; i < sent.length; i += 25) h.server.sendEvents(sent.slice(i, i + 25));

    const rows = await waitFor(async () => {
      const r = await sql<{ event_id: string; listing_id: string; kind: string; has_payload: boolean }>`
        SELECT event_id, listing_id, kind, payload IS NOT NULL AS has_payload FROM bptf_listing_events`.execute(h.tdb.db);
      return r.rows.length >= distinct.length && (h.app.statuses.get('bptf')?.eventsWritten ?? 0) >= sent.length ? r.rows : undefined;
    }, 'every event stored');
    expect(rows).toHaveLength(distinct.length);
    expect(new Set(rows.map((r) => r.event_id))).toEqual(new Set(distinct.map((e) => e.id)));
    const deletes = distinct.filter((e) => e.event === 'listing-delete');
    const partial = deletes.filter((e) => Object.keys(e.payload as object).length === 1).map((e) => e.id);
    expect(partial.length).toBeGreaterThan(0);
    for (const r of rows) {
      expect(r.kind).toBe(deletes.some((d) => d.id === r.event_id) ? 'delete' : 'update');
      expect(r.has_payload).toBe(!partial.includes(r.event_id));
    }
  });

  it('has its partitions ahead, and retention drops whole old days (with a clock ten days on)', async () => {
    const db = h.tdb.db as unknown as Kysely<CoreDatabase>;
    await waitFor(async () => ((await dayPartitions(h.tdb.db)).includes(today + 2 * DAY) ? true : undefined), 'partitions ahead');
    expect((await dayPartitions(h.tdb.db)).sort()).toEqual(expect.arrayContaining([today, today + DAY, today + 2 * DAY]));

    const { ctx } = fakeFeedContext('bptf', { logger: createLogger('silent'), db });
    await historyPartitions(7, { now: () => today + 10 * DAY }).run(ctx, new AbortController().signal);
    const after = await dayPartitions(h.tdb.db);
    // Days before (today + 10) - 7 are gone, with the events in them; the next ones were made.
    expect(after.filter((d) => d < today + 3 * DAY)).toEqual([]);
    expect(after).toEqual(expect.arrayContaining([today + 10 * DAY, today + 11 * DAY, today + 12 * DAY]));
    const left = await sql<{ n: number }>`SELECT count(*)::int AS n FROM bptf_listing_events`.execute(h.tdb.db);
    expect(left.rows[0]?.n).toBe(0);
  });
});
