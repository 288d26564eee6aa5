import { describe, expect, it } from 'vitest';
import { extractListingColumns } from '../../src/feeds/bptf/listing-columns.js';
import { encodeListingRow, mergeListingRows, toListingRow, type ListingRow } from '../../src/feeds/bptf/listing-row.js';
import { parseBptfFrame } from '../../src/feeds/bptf/parse.js';
import captured from '../fixtures/bptf-captured-events.json' with { type: 'json' };

const row = (eventId: string, deleted: boolean, full: boolean): ListingRow => ({
  id: 'L',
  eventId,
  eventTimeMs: Number.parseInt(eventId.slice(0, 8), 16) * 1000,
  deleted,
  payloadEventId: full ? eventId : null,
  payload: full ? { id: 'L', v: eventId } : { id: 'L' },
});

describe('mergeListingRows', () => {
  const a = row('600000000000000000000001', false, true);
  const b = row('600000000000000000000002', true, false); // newer, id-only delete
  const c = row('5fffffffffffffffffffffff', false, true); // older update

  it('keeps the newest event and, separately, the newest full payload', () => {
    const m = mergeListingRows(a, b);
    expect(m.eventId).toBe(b.eventId);
    expect(m.deleted).toBe(true);
    expect(m.payloadEventId).toBe(a.eventId);
    expect(m.payload).toEqual(a.payload);
  });

  it('gives the same result in every order', () => {
    const orders = [
      [a, b, c],
      [a, c, b],
      [b, a, c],
      [b, c, a],
      [c, a, b],
      [c, b, a],
    ];
    const results = orders.map((o) => o.reduce(mergeListingRows));
    for (const r of results) expect(r).toEqual(results[0]);
  });
});

describe('extractListingColumns', () => {
  it('tolerates missing and mistyped fields', () => {
    expect(extractListingColumns({ id: 'x' })).toEqual({
      steamid: null,
      appid: null,
      intent: null,
      itemName: null,
      currencies: null,
      valueRaw: null,
      listedAt: null,
      bumpedAt: null,
    });
    expect(extractListingColumns({ id: 'x', appid: 'no', intent: 'lend', item: null, value: { raw: 'NaN' }, listedAt: -5 })).toMatchObject({
      appid: null,
      intent: null,
      itemName: null,
      valueRaw: null,
      listedAt: null,
    });
  });

  it('reads the older field names one client maps from', () => {
    expect(extractListingColumns({ id: 'x', timestamp: 100, bump: 200 })).toMatchObject({ listedAt: 100, bumpedAt: 200 });
  });
});

describe('encodeListingRow (the spool line)', () => {
  const frames = [
    JSON.stringify(captured),
    // Whitespace between tokens, a line break inside the payload, escapes and non-ASCII text.
    '[ {"id":"69346e7883418419600ebe14","event":"listing-update","payload":{"id":"440_1","item":{"name":"Tëam \\"Captain\\""},\n"value":{"raw":1.5}} } ]',
  ];
  it('reads back as the row JSON.stringify would write, for every captured event, without parsing the payload', () => {
    for (const text of frames) {
      const rows = parseBptfFrame(Buffer.from(text)).listings.map(toListingRow);
      expect(rows.length).toBeGreaterThan(0);
      for (const r of rows) {
        const line = encodeListingRow(r);
        expect(line).not.toContain('\n');
        expect(JSON.parse(line)).toEqual(JSON.parse(JSON.stringify(r)));
      }
    }
  });
});
