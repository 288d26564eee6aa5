import { describe, expect, it } from 'vitest';
import { makeListingUpdate } from '../../src/simulator/bptf-events.js';
import { useBptfDaemon } from '../helpers/bptf-daemon.js';
import { count } from '../helpers/database.js';
import { waitFor } from '../helpers/wait-for.js';

/** A listing whose payload nests `depth` levels deep: JSON.parse takes it, re-encoding it throws RangeError. */
function deepListing(index: number, depth: number): string {
  const e = makeListingUpdate(index, { timeSec: 1_765_700_000 });
  const json = JSON.stringify(e);
  const nest = '{"n":'.repeat(depth) + '1' + '}'.repeat(depth);
  // Put the nesting inside the payload (after its opening brace).
  return json.replace('"payload":{', `"payload":{"deep":${nest},`);
}

describe('poison events: an event that can never be written stops nothing', () => {
  const h = useBptfDaemon();

  it('three deeply nested events inside three frames of valid ones: every valid event written, the three rejected, ready again, a clean stop', async () => {
    const { tdb, server, app } = h;
    const valid = 150;
    const poison: string[] = [];
    for (let f = 0; f < 3; f++) {
      const events = Array.from({ length: valid / 3 }, (_, i) => JSON.stringify(makeListingUpdate(f * 1000 + i, { timeSec: 1_765_700_000 })));
      poison.push(deepListing(9_000 + f, 6_000));
      events.splice(25, 0, poison[f] as string);
      server.sendFrame(`[${events.join(',')}]`);
    }
    await waitFor(async () => (await count(tdb.db, 'bptf_listings')) === valid, `${valid} valid listings`);
    const rejects = await waitFor(async () => {
      const rows = await tdb.db.selectFrom('ingest_rejects').select(['reason', 'raw', 'event_id']).where('source', '=', 'bptf').orderBy('event_id').execute();
      return rows.length === 3 ? rows : undefined;
    }, 'three rejects');
    for (const r of rejects) expect(r.reason).toMatch(/^client could not encode the listing: .*call stack/i);
    // Each reject is its event exactly as sent (not a placeholder), with the event's id.
    const sorted = poison.map((text) => ({ text, id: (JSON.parse(text) as { id: string }).id })).sort((a, b) => (a.id < b.id ? -1 : 1));
    expect(rejects.map((r) => [r.raw, r.event_id])).toEqual(sorted.map((p) => [p.text, p.id]));
    await waitFor(async () => (await fetch(`http://127.0.0.1:${app.httpPort}/readyz`)).status === 200, '/readyz 200');
    const metrics = await (await fetch(`http://127.0.0.1:${app.httpPort}/metrics`)).text();
    expect(metrics).toMatch(/tributary_events_rejected_total\{source="bptf"\} 3/);
    expect(metrics).toMatch(/tributary_events_written_total\{source="bptf"\} 150/);
    await app.stop(); // resolves: no error escapes the drain
    expect(app.logs.join('')).not.toMatch(/"level":(50|60).*shutdown step failed/);
  });
});
