import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseBptfFrame } from '../../src/feeds/bptf/parse.js';
import { makeListingUpdate } from '../../src/simulator/bptf-events.js';
import { useBptfDaemon } from '../helpers/bptf-daemon.js';
import { count } from '../helpers/database.js';
import { waitFor } from '../helpers/wait-for.js';

describe('a running connector under hostile frames', () => {
  const h = useBptfDaemon();

  it('stores every bad frame as a reject, writes the good events around them, and stays connected', async () => {
    const { tdb, server, app } = h;
    const junk = fc.sample(
      fc.oneof(
        fc.string({ minLength: 1 }),
        fc.uint8Array({ minLength: 1, maxLength: 500 }).map((a) => Buffer.from(a)),
        fc.jsonValue().map((v) => JSON.stringify(v)),
        fc.constantFrom('{"truncated": [', '[' .repeat(20_000), '"\\u0000 nul"', JSON.stringify([{ id: '69346e7883418419600ebe14', event: 'listing-update', payload: { id: 'x\u0000y', details: 'nul \u0000 inside' } }])),
        fc.nat({ max: 3 }).map((n) => JSON.stringify({ huge: 'z'.repeat(100_000 * (n + 1)) })),
      ),
      { numRuns: 150, seed: 7 },
    );
    let expectedRejects = 0;
    const goodIds = new Set<string>();
    for (const [i, frame] of junk.entries()) {
      const good = makeListingUpdate(100_000 + i, { timeSec: 1_765_700_000 });
      goodIds.add(String(good.payload.id));
      server.sendEvents([good]);
      server.sendFrame(frame, { binary: Buffer.isBuffer(frame) });
      const parsed = parseBptfFrame(frame);
      expectedRejects += parsed.rejects.length;
      for (const l of parsed.listings) goodIds.add(l.listingId);
    }
    // NUL characters in a listing: Postgres jsonb refuses them (22P05); the row is isolated and becomes a reject.
    await waitFor(async () => (await count(tdb.db, 'bptf_listings')) >= goodIds.size - 1, 'the good events');
    const stored = await tdb.db.selectFrom('bptf_listings').select('id').execute();
    const storedIds = new Set(stored.map((r) => r.id));
    const missing = [...goodIds].filter((id) => !storedIds.has(id));
    // Anything not stored as a listing is in ingest_rejects (only the NUL listing may be missing).
    expect(missing.every((id) => id.includes('\u0000'))).toBe(true);
    // Listings the database refused are rejected once per batch they land in (copies sent in one
    // batch collapse into one): at least one per missing listing. Those rejects are written after the
    // refused batch has been split, so they may come after the parser's: wait for both kinds.
    const isRefusal = (r: { reason: string }) => r.reason.startsWith('database refused the listing');
    let rejects: { raw: string; reason: string }[] = [];
    let refused: typeof rejects = [];
    await waitFor(async () => {
      rejects = await tdb.db.selectFrom('ingest_rejects').select(['raw', 'reason']).execute();
      refused = rejects.filter(isRefusal);
      return rejects.length - refused.length >= expectedRejects && refused.length >= missing.length;
    }, `${expectedRejects} rejects from the parser and ${missing.length} from the database`);
    expect(rejects.length - refused.length).toBe(expectedRejects);
    expect(refused.length).toBeGreaterThanOrEqual(missing.length);
    for (const r of refused) expect(r.raw).toContain('\\u0000');
    for (const r of rejects) expect(r.raw.length).toBeLessThanOrEqual(64 * 1024);
    expect(app.statuses.get('bptf')?.state).toBe('connected');
    expect(server.totalConnections).toBe(1);
  });
});
