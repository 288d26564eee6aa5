import { describe, expect, it } from 'vitest';
import { extractListingColumns } from '../../src/feeds/bptf/listing-columns.js';
import { decodeListingRow, encodeListingRow, mergeListingRows, toListingRow, type ListingRow } from '../../src/feeds/bptf/listing-row.js';
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
      sku: null,
      priceKeys: null,
      priceMetal: null,
      automatic: false,
      spelled: false,
      quotable: false,
    });
    expect(extractListingColumns({ id: 'x', appid: 'no', intent: 'lend', item: null, value: { raw: 'NaN' }, listedAt: -5 })).toMatchObject({
      appid: null,
      intent: null,
      itemName: null,
      valueRaw: null,
      listedAt: null,
    });
  });

  it('gives the SKU of the item, the same on the fast path as on JSON.parse', () => {
    const events = parseBptfFrame(Buffer.from(JSON.stringify(captured))).listings;
    // Written by hand: an unusual hat with effect 70, a Unique item, a Strange decorated shotgun (its skin's defindex).
    expect(events.map((e) => e.raw?.columns.sku)).toEqual(['30329;5;u70', '30238;6', '15085;11;w1;pk60']);
    expect(events.map((e) => extractListingColumns(e.payload).sku)).toEqual(['30329;5;u70', '30238;6', '15085;11;w1;pk60']);
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
        // Plus the extracted columns when the payload was kept raw (what decodeListingRow reads back).
        const { columns, ...plain } = JSON.parse(line) as Record<string, unknown>;
        expect(plain).toEqual(JSON.parse(JSON.stringify(r)));
        // (A payload with a raw line break is written the slow way, without them.)
        const raw = r.raw;
        if (raw && !raw.frame.subarray(raw.start, raw.end).includes(0x0a)) expect(columns).toEqual(raw.columns);
        else expect(columns).toBeUndefined();
      }
    }
  });
});

describe('decodeListingRow (a spool line back as a row)', () => {
  /** Lines as a spool segment holds them, each row's byte range. */
  function segment(lines: string[]): { bytes: Buffer; ranges: Array<[number, number]> } {
    const bytes = Buffer.from(lines.map((l) => `${l}\n`).join(''));
    const ranges: Array<[number, number]> = [];
    let start = 0;
    for (const l of lines) {
      const end = start + Buffer.byteLength(l);
      ranges.push([start, end]);
      start = end + 1;
    }
    return { bytes, ranges };
  }

  it('keeps the payload as bytes of the segment, with the same fields, columns and payload', () => {
    const rows = parseBptfFrame(Buffer.from(JSON.stringify(captured))).listings.map(toListingRow);
    // A string that holds the key the decoder looks for must not confuse it.
    const tricky = parseBptfFrame(Buffer.from('[{"id":"69346e7883418419600ebe14","event":"listing-update","payload":{"id":"440_9","item":{"name":"x,\\"payload\\":1"},"intent":"sell"}}]')).listings.map(toListingRow);
    const all = [...rows, ...tricky];
    const { bytes, ranges } = segment(all.map(encodeListingRow));
    all.forEach((r, i) => {
      const [start, end] = ranges[i] as [number, number];
      const back = decodeListingRow(bytes, start, end);
      expect(back.raw?.frame).toBe(bytes);
      expect(back.raw?.columns).toEqual(r.raw?.columns);
      expect({ ...JSON.parse(JSON.stringify(back)) }).toEqual(JSON.parse(JSON.stringify(r)));
      expect(back.payload).toEqual(r.payload);
      // And once more through the spool: the line is the same.
      expect(encodeListingRow(back)).toBe(encodeListingRow(r));
    });
    expect(tricky[0]?.payload).toEqual({ id: '440_9', item: { name: 'x,"payload":1' }, intent: 'sell' });
  });

  it('parses whole the lines an older version wrote and rows that had no raw payload', () => {
    const old = '{"id":"L","eventId":"69346e7883418419600ebe14","eventTimeMs":1765043832000,"deleted":false,"payloadEventId":"69346e7883418419600ebe14","payload":{"id":"L","v":1}}';
    const plain = encodeListingRow(row('69346e7883418419600ebe14', true, false));
    const { bytes, ranges } = segment([old, plain]);
    const a = decodeListingRow(bytes, ...(ranges[0] as [number, number]));
    expect(a.raw).toBeUndefined();
    expect(a).toEqual(JSON.parse(old));
    const b = decodeListingRow(bytes, ...(ranges[1] as [number, number]));
    expect(b).toEqual(row('69346e7883418419600ebe14', true, false));
  });

  it('throws on a torn line (the spool counts it as unreadable)', () => {
    const line = encodeListingRow(parseBptfFrame(Buffer.from(JSON.stringify(captured))).listings.map(toListingRow)[0] as ListingRow);
    const torn = Buffer.from(line.slice(0, line.length - 40));
    expect(() => decodeListingRow(torn, 0, torn.length)).toThrow();
  });
});
