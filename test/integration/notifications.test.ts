/**
 * NOTIFY_CHANNEL: a real LISTEN client on the test database hears, after each commit, exactly the
 * listings that changed: every new one once, across several notifications when a batch is large,
 * and nothing for duplicates and stale events.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NOTIFY_PAYLOAD_MAX_BYTES } from '../../src/core/db/change-notifier.js';
import { listingIdFor, makeListingUpdate } from '../../src/simulator/bptf-events.js';
import { useBptfDaemon } from '../helpers/bptf-daemon.js';
import { waitFor } from '../helpers/wait-for.js';

interface Notification {
  table: string;
  source: string;
  ids: string[];
  max_event_time: string | null;
}

describe('change notifications', () => {
  // One batch for a whole frame: its notifications must be split. Quotes off: bptf_listings' own
  // notifications alone (the quotes' are in bptf-quotes-daemon.test.ts).
  const h = useBptfDaemon({ BATCH_MAX_EVENTS: '5000', NOTIFY_CHANNEL: 'listings_changed', BPTF_QUOTES: 'false' });
  let listener: pg.Client;
  const heard: Array<{ bytes: number; body: Notification }> = [];

  beforeAll(async () => {
    listener = new pg.Client({ connectionString: h.tdb.url });
    await listener.connect();
    listener.on('notification', (n) => {
      if (n.channel !== 'listings_changed' || n.payload === undefined) return;
      heard.push({ bytes: Buffer.byteLength(n.payload), body: JSON.parse(n.payload) as Notification });
    });
    await listener.query('LISTEN listings_changed');
  });
  afterAll(async () => {
    await listener?.end();
  });

  /** Every notification committed so far: a query on the listener delivers those pending first. */
  async function drain(): Promise<Notification[]> {
    await listener.query('SELECT 1');
    return heard.splice(0).map((n) => n.body);
  }

  const N = 800;
  const T = Math.floor(Date.now() / 1000) - 60;
  const first = Array.from({ length: N }, (_, i) => makeListingUpdate(i, { timeSec: T }));

  it('announces every changed listing once, split under 8,000 bytes per notification', async () => {
    h.server.sendEvents(first);
    await waitFor(() => (h.app.statuses.get('bptf')?.eventsWritten ?? 0) >= N, `${N} events written`);
    const sizes = heard.map((n) => n.bytes);
    const notes = await drain();
    expect(notes.length).toBeGreaterThanOrEqual(2);
    for (const size of sizes) expect(size).toBeLessThanOrEqual(NOTIFY_PAYLOAD_MAX_BYTES);
    const ids = notes.flatMap((n) => n.ids);
    expect(ids).toHaveLength(N);
    expect(new Set(ids)).toEqual(new Set(Array.from({ length: N }, (_, i) => listingIdFor(i))));
    for (const n of notes) {
      expect(n.table).toBe('bptf_listings');
      expect(n.source).toBe('bptf');
      expect(n.max_event_time).toBe(new Date(T * 1000).toISOString());
    }
  });

  it('says nothing of duplicates and stale events; only of what changed', async () => {
    const before = h.app.statuses.get('bptf')?.eventsWritten ?? 0;
    // The very same events again (a reconnect's overlap), and older events of other listings.
    const duplicates = first.slice(0, 100);
    const stale = Array.from({ length: 100 }, (_, i) => makeListingUpdate(100 + i, { timeSec: T - 30, seed: 7 }));
    const newer = Array.from({ length: 5 }, (_, i) => makeListingUpdate(300 + i, { timeSec: T + 10, seed: 8 }));
    h.server.sendEvents([...duplicates, ...stale, ...newer]);
    await waitFor(() => (h.app.statuses.get('bptf')?.eventsWritten ?? 0) >= before + 205, 'the burst written');
    const notes = await drain();
    expect(notes.flatMap((n) => n.ids).sort()).toEqual(newer.map((_, i) => listingIdFor(300 + i)).sort());
    expect(notes.map((n) => n.max_event_time)).toEqual(notes.map(() => new Date((T + 10) * 1000).toISOString()));
  });
});
