import { describe, expect, it } from 'vitest';
import { makeListingUpdate } from '../../src/simulator/bptf-events.js';
import { useBptfDaemon } from '../helpers/bptf-daemon.js';
import { waitFor } from '../helpers/wait-for.js';

/** A 24-hex ObjectId whose first 4 bytes are `seconds`. */
const objectIdAt = (seconds: number, tail: string) => seconds.toString(16).padStart(8, '0') + tail.padStart(16, '0');

describe('EVENT_TIME_MAX_SKEW_MS', () => {
  const h = useBptfDaemon();

  it('a year-2100 event is a reject, and the real update that follows is the row', async () => {
    const { tdb, server } = h;
    const now = Math.floor(Date.now() / 1000);
    const bogus = makeListingUpdate(7, { timeSec: now, price: 999 });
    bogus.id = objectIdAt(Date.UTC(2100, 0, 1) / 1000, '1');
    const real = makeListingUpdate(7, { timeSec: now, price: 5 });
    real.id = objectIdAt(now, '2');
    server.sendEvents([bogus]);
    server.sendEvents([real]);
    const listingId = String(real.payload.id);
    const row = await waitFor(() => tdb.db.selectFrom('bptf_listings').selectAll().where('id', '=', listingId).executeTakeFirst(), 'the listing');
    expect(row.event_id).toBe(real.id);
    const rejects = await waitFor(async () => {
      const rs = await tdb.db.selectFrom('ingest_rejects').select(['reason', 'raw']).where('source', '=', 'bptf').execute();
      return rs.length === 1 ? rs : undefined;
    }, 'the reject');
    expect(rejects[0]?.reason).toMatch(/^event time 2100-01-01T00:00:00\.000Z is more than 600000 ms ahead of the clock/);
    expect(rejects[0]?.raw).toContain('"id"');
  });
});
