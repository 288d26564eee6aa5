import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { extractRawColumns, type RawColumns } from '../../src/feeds/bptf/listing-columns.js';
import { rawPayloadText } from '../../src/feeds/bptf/listing-event.js';
import { toListingRow, type ListingRow } from '../../src/feeds/bptf/listing-row.js';
import { parseBptfFrame } from '../../src/feeds/bptf/parse.js';
import { encodeListingBatch } from '../../src/feeds/bptf/store.js';

/**
 * encodeListingBatch writes the batch document byte by byte into a buffer it sizes first. Held here
 * to what JSON.stringify writes of the same row arrays: the same JSON value, and never a byte past
 * the size it asked for (a write past a Buffer's end is silently dropped, so the text would not
 * parse).
 */

/** The row as the document's layout (store.ts) has it, built with JSON's own functions. */
function reference(r: ListingRow): unknown[] {
  const c: RawColumns = r.raw ? r.raw.columns : extractRawColumns(r.payload);
  const payload: unknown = r.raw ? JSON.parse(rawPayloadText(r.raw)) : r.payload;
  const num = (t: string | null) => (t === null ? null : (JSON.parse(t) as number));
  return [
    r.id, r.eventId, r.eventTimeMs / 1000, r.deleted, r.payloadEventId, c.steamid, c.appid, c.intent, c.itemName, c.valueRaw,
    c.listedAt, c.bumpedAt, payload, c.sku, num(c.priceKeys), num(c.priceMetal), c.automatic, c.spelled, c.quotable,
  ];
}

/** Encode into a buffer of exactly the size asked for; parse the document back. */
function roundTrip(rows: readonly ListingRow[]): unknown {
  let asked = -1;
  const doc = encodeListingBatch(rows, (n) => {
    asked = n;
    return Buffer.alloc(n, 0xff);
  });
  expect(doc[0]).toBe(1);
  expect(doc.length).toBeLessThanOrEqual(asked);
  return JSON.parse(doc.subarray(1).toString('utf8'));
}

const fixture = readFileSync(new URL('../fixtures/bptf-captured-events.json', import.meta.url), 'utf8');

describe('the batch document', () => {
  it('holds the captured events as JSON.stringify would write them (payload bytes as received)', () => {
    const rows = parseBptfFrame(Buffer.from(fixture)).listings.map(toListingRow);
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r) => r.raw !== undefined)).toBe(true);
    expect(roundTrip(rows)).toEqual(rows.map(reference));
  });

  it('stays within its size for strings of nothing but escapes and numbers of the longest spelling', () => {
    const e = '\u0001'.repeat(200); // 6 bytes each in JSON
    const payload = Buffer.from('{"id":1}');
    const columns: RawColumns = {
      steamid: e, appid: -2147483648, intent: e, itemName: e, valueRaw: -2.2250738585072014e-308, listedAt: 99999999999.123,
      bumpedAt: 1.7976931348623157e308, sku: e, priceKeys: '-1.7976931348623157e308', priceMetal: '5e-324', automatic: true, spelled: true, quotable: false,
    };
    // A row kept as received bytes: its payload is copied, so only the other columns count towards the size.
    const row: ListingRow = {
      id: e, eventId: e, eventTimeMs: -2.2250738585072014e-308, deleted: true, payloadEventId: e, payload: { id: 1 },
      raw: { frame: payload, start: 0, end: payload.length, columns },
    };
    expect(roundTrip([row, row])).toEqual(JSON.parse(JSON.stringify([reference(row), reference(row)])));
  });

  it('escapes any string and spells any number as JSON does, within the size it asked for', () => {
    // Strings of escapes take 6 bytes a character: the worst case of the size.
    const text = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom('"', '\\', '\u0001'.repeat(40), '★ Unusual', '\u2028'));
    const num = fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(0, -0, 1e21, 2 ** 53, 1765043831.5));
    const row = fc.record({
      id: text.filter((s) => s.length > 0),
      eventId: text,
      eventTimeMs: fc.oneof(fc.integer({ min: 0, max: 2 ** 40 }), num),
      deleted: fc.boolean(),
      payloadEventId: fc.option(text),
      steamid: fc.option(text),
      appid: fc.option(fc.integer()),
      intent: fc.constantFrom('buy', 'sell', 7, null),
      name: fc.option(text),
      raw: fc.option(num),
      listedAt: fc.option(fc.integer({ min: 0, max: 1e10 })),
      keys: fc.option(num),
      metal: fc.option(num),
    });
    fc.assert(
      fc.property(fc.array(row, { minLength: 1, maxLength: 8 }), (specs) => {
        const rows: ListingRow[] = specs.map((s) => ({
          id: s.id,
          eventId: s.eventId,
          eventTimeMs: s.eventTimeMs,
          deleted: s.deleted,
          payloadEventId: s.payloadEventId,
          payload: {
            id: s.id,
            steamid: s.steamid,
            appid: s.appid,
            intent: s.intent,
            item: { name: s.name, defindex: 5021, quality: { id: 6 } },
            value: { raw: s.raw },
            listedAt: s.listedAt,
            currencies: { ...(s.keys === null ? {} : { keys: s.keys }), ...(s.metal === null ? {} : { metal: s.metal }) },
          },
        }));
        // -0 is written as 0, as JSON.stringify does.
        expect(roundTrip(rows)).toEqual(JSON.parse(JSON.stringify(rows.map(reference))));
      }),
      { numRuns: 300 },
    );
  });
});
