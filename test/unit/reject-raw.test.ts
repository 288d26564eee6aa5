import { describe, expect, it } from 'vitest';
import { refusalReason } from '../../src/core/ingest/reject.js';
import { listingsTable } from '../../src/feeds/bptf/listings-table.js';
import { decodeListingRow, encodeListingRow, mergeListingRows, toListingRow } from '../../src/feeds/bptf/listing-row.js';
import { parseBptfFrame } from '../../src/feeds/bptf/parse.js';
import { topLevelSpans } from '../../src/feeds/bptf/received.js';
import { eventsTable as commerceEvents } from '../../src/feeds/commerce/events-table.js';
import { parseCommerceFrame } from '../../src/feeds/commerce/parse.js';
import { eventsTable as tradepostEvents } from '../../src/feeds/tradepost/events-table.js';
import { parseTradePostFrame } from '../../src/feeds/tradepost/parse.js';

const ID_A = '69346e7883418419600ebe14';
const ID_B = '69346e7983418419600ebe15';
const good = (id: string, listing: string) => `{"id":"${id}","event":"listing-update","payload":{"id":"${listing}","intent":"sell","item":{"name":"Hat"}}}`;

describe('a reject keeps the event exactly as received', () => {
  it('bptf: a poison event (nesting 6,000 deep) refused when encoded: its bytes and its id, exactly', () => {
    const nest = '{"n":'.repeat(6_000) + '1' + '}'.repeat(6_000);
    // Whitespace, a key order and an escape no re-serialisation would reproduce.
    const poison = `{ "event" : "listing-update", "payload": {"id":"440_7", "deep": ${nest}, "note":"a\\u0041"} ,"id":"${ID_B}" }`;
    const frame = Buffer.from(`[${good(ID_A, '440_1')},\n  ${poison}  ]`);
    const parsed = parseBptfFrame(frame);
    expect(parsed.rejects).toEqual([]);
    const row = toListingRow(parsed.listings[1]!);
    expect(() => JSON.stringify(row.payload)).toThrow(RangeError);
    expect(listingsTable.describe(row)).toBe(poison);
    expect(listingsTable.eventId?.(row)).toBe(ID_B);
    expect(refusalReason(listingsTable.rowKind, new RangeError('Maximum call stack size exceeded'))).toBe(
      'client could not encode the listing: Maximum call stack size exceeded',
    );
  });

  it('bptf: a parser reject inside a frame keeps the element text and its id', () => {
    const bad = `{"id":"${ID_B}", "event":"listing-update", "payload": [1, "]", {"x":"\\"}"}]}`;
    const odd = `{"event":"listing-update","id":"nope","payload":{"id":"x"}}`;
    const r = parseBptfFrame(`[ ${good(ID_A, '440_1')} , ${bad},${odd} ]`);
    expect(r.listings).toHaveLength(1);
    expect(r.rejects.map((x) => [x.reason, x.raw, x.eventId])).toEqual([
      ['payload is not an object', bad, ID_B],
      ['event id is not a 24-hex ObjectId', odd, undefined],
    ]);
  });

  it('bptf fast path: a refused row describes the event bytes as received (no parse, no copy until asked)', () => {
    const event = `{"id":"${ID_A}",  "event":"listing-update","payload":{"id":"440_1","item":{"name":"Hat é"}}}`;
    const parsed = parseBptfFrame(Buffer.from(`[${event}]`));
    expect(parsed.listings[0]?.raw).toBeDefined();
    const row = toListingRow(parsed.listings[0]!);
    expect(listingsTable.describe(row)).toBe(event);
    expect(listingsTable.eventId?.(row)).toBe(ID_A);
  });

  it('bptf: a merged row (a payload, then an id-only delete) describes both events, which parse back into the same row', () => {
    const update = good(ID_A, '440_1');
    const del = `{"id":"${ID_B}","event":"listing-delete","payload":{"id":"440_1"}}`;
    for (const frame of [Buffer.from(`[${update},${del}]`), `[${update},${del}]`]) {
      const rows = parseBptfFrame(frame).listings.map(toListingRow);
      const merged = mergeListingRows(rows[0]!, rows[1]!);
      const text = listingsTable.describe(merged);
      expect(text).toBe(`[${update},${del}]`);
      const again = parseBptfFrame(Buffer.from(text)).listings.map(toListingRow).reduce(mergeListingRows);
      expect(JSON.parse(JSON.stringify(again))).toEqual(JSON.parse(JSON.stringify(merged)));
    }
  });

  it('bptf: a row read back from the spool (no frame) describes an event the parser reads into the same row', () => {
    const row = toListingRow(parseBptfFrame(Buffer.from(`[${good(ID_A, '440_1')}]`)).listings[0]!);
    const line = Buffer.from(encodeListingRow(row));
    const back = decodeListingRow(line, 0, line.length);
    expect(back.received).toBeUndefined();
    const text = listingsTable.describe(back);
    const again = toListingRow(parseBptfFrame(Buffer.from(text)).listings[0]!);
    expect(JSON.parse(JSON.stringify(again))).toEqual(JSON.parse(JSON.stringify(row)));
  });

  it('finds the elements of a valid array however deep, with brackets and quotes inside strings', () => {
    const text = ' [ 1 ,"a]\\"," , {"b":[[]]} ,null,[' + '['.repeat(10_000) + ']'.repeat(10_000) + '] ] ';
    const spans = topLevelSpans(text);
    const elements = [];
    for (let i = 0; i < spans.length; i += 2) elements.push(text.slice(spans[i], spans[i + 1]));
    expect(elements.map((e) => e.length)).toEqual([1, 7, 10, 4, 20_002]);
    expect(elements.slice(0, 4)).toEqual(['1', '"a]\\","', '{"b":[[]]}', 'null']);
    expect(topLevelSpans('{"a":1}')).toEqual([]);
  });

  it('tradepost and commerce: a refused row is described by the frame as received, with its dedupe key', () => {
    const tp = ' {"msg_type":"BID_REQUEST","payload":{"conversation_id":"c1", "x":1}} ';
    const m = parseTradePostFrame(tp);
    if (m.kind !== 'event') throw new Error(m.kind);
    expect(tradepostEvents.describe(m.row)).toBe(tp);
    expect(tradepostEvents.eventId?.(m.row)).toBe(m.row.dedupeKey);
    const cm = '{"event":"order:updated", "data":{"id":1},"timestamp":"2026-01-25T10:30:00Z"}';
    const c = parseCommerceFrame(cm);
    if (c.kind !== 'event') throw new Error(c.kind);
    expect(commerceEvents.describe(c.row)).toBe(cm);
    expect(commerceEvents.eventId?.(c.row)).toBe(c.row.dedupeKey);
    // A webhook's msg_id names a message the parser refuses.
    const w = parseTradePostFrame('{"msg_type":"BID_REQUEST","msg_id":"m-1","payload":7}');
    expect(w.kind === 'reject' && [w.reject.raw, w.reject.eventId]).toEqual(['{"msg_type":"BID_REQUEST","msg_id":"m-1","payload":7}', 'm-1']);
  });

  it('a refusal names the database with its SQLSTATE, else the client', () => {
    const pgError = Object.assign(new Error('unsupported Unicode escape sequence'), { code: '22P05' });
    expect(refusalReason('listing', pgError)).toBe('database refused the listing (SQLSTATE 22P05): unsupported Unicode escape sequence');
  });
});
