import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { extractListingColumns } from '../../src/feeds/bptf/listing-columns.js';
import { rawPayloadText, type ParsedFrame } from '../../src/feeds/bptf/listing-event.js';
import { mergeListingRows, toListingRow } from '../../src/feeds/bptf/listing-row.js';
import { parseBptfFrame } from '../../src/feeds/bptf/parse.js';
import { encodeListingBatch } from '../../src/feeds/bptf/store.js';
import { makeListingDelete, makeListingUpdate } from '../../src/simulator/bptf-events.js';

/**
 * parseBptfFrame has a fast path for frames received as bytes (the daemon's case) and the JSON.parse
 * path (which a string always takes). The fast path must give the same result as the JSON.parse path
 * for every frame, or decline it: these tests parse the same text both ways and compare.
 */

const fixture = readFileSync(new URL('../fixtures/bptf-captured-events.json', import.meta.url), 'utf8');
const AT = 1_765_000_000_000;
const oid = (n: number) => `69346e78${n.toString(16).padStart(16, '0')}`;

/** Parse `text` both ways; assert the same result; return whether the fast path took it. */
function sameBothWays(text: string): boolean {
  const slow = parseBptfFrame(text, AT);
  const fast = parseBptfFrame(Buffer.from(text), AT);
  expect(normalize(fast)).toEqual(normalize(slow));
  const tookFast = fast.listings.length > 0 && fast.listings.every((l) => l.raw !== undefined);
  for (const l of fast.listings) {
    if (!l.raw) continue;
    // The bytes kept for Postgres hold the same JSON value, and the columns are those of the parsed
    // payload (but `currencies`, which the upsert reads from the stored payload).
    expect(JSON.parse(rawPayloadText(l.raw))).toEqual(l.payload);
    const { currencies: _, ...columns } = extractListingColumns(l.payload);
    expect(l.raw.columns).toMatchObject(columns);
  }
  return tookFast;
}

function normalize(r: ParsedFrame) {
  return {
    listings: r.listings.map((l) => ({
      kind: l.kind,
      eventId: l.eventId,
      eventTimeMs: l.eventTimeMs,
      listingId: l.listingId,
      partial: l.partial,
      payload: l.payload,
    })),
    notices: r.notices,
    rejects: r.rejects,
  };
}

describe('parseBptfFrame fast path', () => {
  it('takes real-size simulator frames and real captured events, with the same result', () => {
    const events = [];
    for (let i = 0; i < 60; i++) {
      events.push(makeListingUpdate(i, { timeSec: 1_765_000_000 + i, seed: i }));
      events.push(makeListingDelete(i, { timeSec: 1_765_000_100 + i, seed: i }));
      events.push(makeListingDelete(i, { timeSec: 1_765_000_200 + i, partial: true }));
    }
    expect(sameBothWays(JSON.stringify(events))).toBe(true);
    expect(sameBothWays(JSON.stringify(events, null, 2))).toBe(true);
    expect(sameBothWays(fixture)).toBe(true);
    expect(sameBothWays(JSON.stringify(events[0]))).toBe(true);
  });

  it('marks an id-only delete partial, and a delete with more keys not', () => {
    const r = parseBptfFrame(Buffer.from(`[{"id":"${oid(1)}","event":"listing-delete","payload":{"id":"440_1","id":"440_2"}},{"id":"${oid(2)}","event":"listing-delete","payload":{"id":"440_3","x":null}}]`));
    expect(r.listings.map((l) => [l.listingId, l.partial, l.raw !== undefined])).toEqual([
      ['440_2', true, true],
      ['440_3', false, true],
    ]);
  });

  it('agrees on duplicate keys, escapes, odd types and whitespace', () => {
    const cases = [
      // Duplicates: the last one wins, nested fields included.
      `{"id":"${oid(1)}","event":"listing-update","payload":{"id":"a","item":{"name":"x"},"item":"y"}}`,
      `{"id":"${oid(1)}","event":"listing-update","payload":{"id":"a","item":{"name":"x","name":"z"}},"payload":{"id":"b","value":{"raw":1.5}}}`,
      `{"event":"listing-delete","id":"${oid(2)}","event":"listing-update","payload":{"id":"a"}}`,
      // Escapes in values the pipeline reads, non-ASCII text.
      `{"id":"${oid(1)}","event":"listing-update","payload":{"id":"a\\u00e9\\"b","steamid":"7656\\/1","intent":"b\\u0075y","item":{"name":"Ünusual ⚡ \\ud83d\\ude00"}}}`,
      // Types extractListingColumns turns away.
      `{"id":"${oid(1)}","event":"listing-update","payload":{"id":"a","steamid":76561198000000000,"appid":440.5,"intent":["buy"],"item":[1],"value":{"raw":"1"},"listedAt":-1,"timestamp":5,"bumpedAt":null,"bump":7}}`,
      `{"id":"${oid(1)}","event":"listing-update","payload":{"id":"a","steamid":{},"appid":true,"intent":null,"item":null,"value":false,"listedAt":1e3,"bumpedAt":1.50}}`,
      // Numbers: the fast path declines those JSON.stringify would write otherwise.
      `{"id":"${oid(1)}","event":"listing-update","payload":{"id":"a","n":[0,-0,1.25,-3,0.000001,123456789012345,0.1234567890123456,1.0000000000000002,241.3162331838565]}}`,
      `{"id":"${oid(1)}","event":"listing-update","payload":{"id":"a","n":1.0}}`,
      `{"id":"${oid(1)}","event":"listing-update","payload":{"id":"a","n":1E+2}}`,
      `{"id":"${oid(1)}","event":"listing-update","payload":{"id":"a","n":123456789012345678901}}`,
      // Upper-case ids are normalised; keys with escapes, other events and bad ids go to JSON.parse.
      `{"id":"69346E7883418419600EBE14","event":"listing-update","payload":{"id":"a"}}`,
      `{"id":"${oid(1)}","event":"listing-update","payload":{"i\\u0064":"a"}}`,
      `{"id":"${oid(1)}","event":"listing-update","payload":{"id":"a","item":{"n\\u0061me":"x"},"value":{"r\\u0061w":2}}}`,
      `{"id":"${oid(1)}","event":"listing-update","payload":{"id":"a","item":{"x":{"name":"deep"},"name":{"not":"a string"}},"value":{"raw":[1]}}}`,
      `[{"id":"${oid(1)}","event":"listing-update","payload":{"id":"a"}},{"id":"${oid(2)}","event":"listing-bump","payload":{"id":"a"}}]`,
      `[{"id":"${oid(1)}","event":"listing-update","payload":{"id":""}}]`,
      `[{"id":"${oid(1)}","event":"listing-update","payload":{"id":"${'x'.repeat(513)}"}}]`,
      `[{"id":"zz","event":"listing-update","payload":{"id":"a"}}]`,
      `[{"id":"${oid(1)}","event":"listing-update","payload":[]}]`,
      `[{"id":"${oid(1)}","event":"listing-update"}]`,
      // Whitespace JSON allows, and whitespace it does not.
      ` \n\t[ { "id" : "${oid(1)}" , "event" : "listing-update" , "payload" : { "id" : "a" , "x" : [ 1 , { } , [ ] ] } } ] \r\n`,
      `\u00a0[]`,
      `[]`,
      '',
      '   ',
      // Invalid JSON of every kind.
      `[{"id":"${oid(1)}","event":"listing-update","payload":{"id":"a","x":tru}}]`,
      `[{"id":"${oid(1)}","event":"listing-update","payload":{"id":"a","x":"\u0001"}}]`,
      `[{"id":"${oid(1)}","event":"listing-update","payload":{"id":"a","x":"\\x"}}]`,
      `[{"id":"${oid(1)}","event":"listing-update","payload":{"id":"a","x":[1,]}}]`,
      `[{"id":"${oid(1)}","event":"listing-update","payload":{"id":"a","x":01}}]`,
      `[{"id":"${oid(1)}","event":"listing-update","payload":{"id":"a","x":1.}}]`,
      `[{"id":"${oid(1)}","event":"listing-update","payload":{"id":"a"}}] x`,
      `[{"id":"${oid(1)}","event":"listing-update","payload":{"id":"a"}}`,
      `${'['.repeat(600)}${']'.repeat(600)}`,
    ];
    for (const text of cases) sameBothWays(text);
    expect(sameBothWays(cases[0] as string)).toBe(true);
    expect(sameBothWays(cases[6] as string)).toBe(true);
    expect(sameBothWays(cases[7] as string)).toBe(false);
  });

  it('agrees with the JSON.parse path on random listing frames', () => {
    // Mostly values the fast path takes (it declines numbers in exponent notation, which fc.double and
    // fc.jsonValue produce often), sometimes anything.
    const number = fc.oneof(
      { weight: 3, arbitrary: fc.integer() },
      { weight: 3, arbitrary: fc.integer().map((n) => n / 1000) },
      { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
    );
    const scalar = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), number, fc.boolean(), fc.constant(null));
    const field = fc.oneof({ weight: 6, arbitrary: scalar }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) });
    const payload = fc.record(
      {
        id: fc.oneof({ weight: 8, arbitrary: fc.string({ minLength: 1, maxLength: 40 }) }, { weight: 1, arbitrary: field }),
        steamid: field,
        appid: field,
        intent: fc.oneof(fc.constantFrom('buy', 'sell'), field),
        item: fc.oneof(fc.record({ name: field, extra: fc.dictionary(fc.string(), scalar) }, { requiredKeys: [] }), field),
        value: fc.oneof(fc.record({ raw: field }, { requiredKeys: [] }), field),
        currencies: field,
        listedAt: field,
        timestamp: field,
        bumpedAt: field,
        bump: field,
        other: fc.oneof(fc.dictionary(fc.string(), fc.oneof(scalar, fc.array(scalar))), field),
      },
      { requiredKeys: ['id'] },
    );
    const event = fc.record(
      {
        id: fc.oneof({ weight: 8, arbitrary: fc.stringMatching(/^[0-9a-fA-F]{24}$/) }, { weight: 1, arbitrary: field }),
        event: fc.oneof({ weight: 8, arbitrary: fc.constantFrom('listing-update', 'listing-delete') }, { weight: 1, arbitrary: field }),
        payload: fc.oneof({ weight: 8, arbitrary: payload }, { weight: 1, arbitrary: field }),
      },
      { requiredKeys: ['id', 'event', 'payload'] },
    );
    let fast = 0;
    fc.assert(
      fc.property(fc.array(fc.oneof({ weight: 20, arbitrary: event }, { weight: 1, arbitrary: fc.jsonValue() }), { minLength: 1, maxLength: 3 }), fc.boolean(), (events, pretty) => {
        if (sameBothWays(pretty ? JSON.stringify(events, null, 1) : JSON.stringify(events))) fast++;
      }),
      { numRuns: 1000 },
    );
    // The generator must actually exercise the fast path.
    expect(fast).toBeGreaterThan(50);
  });

  it('keeps apart two items whose SKU members hash alike', () => {
    // The scanner finds a known SKU by a 32-bit hash of its members' bytes (scanner.ts itemMembers).
    // These two craft numbers collide (found by search); each must still get its own SKU.
    const event = (craftNumber: number, i: number) => ({
      id: oid(i),
      event: 'listing-update',
      payload: { id: `440_${i}`, appid: 440, intent: 'sell', currencies: { metal: 1 }, item: { defindex: 5021, quality: 6, craftNumber } },
    });
    for (const order of [[1149599, 1312382], [1312382, 1149599]]) {
      const text = JSON.stringify(order.map((n, i) => event(n, i + 1)));
      expect(sameBothWays(text)).toBe(true);
      const skus = parseBptfFrame(Buffer.from(text)).listings.map((l) => l.raw?.columns.sku);
      expect(skus).toEqual(order.map((n) => `5021;6;uncraftable;n${n}`));
    }
  });

  it('keeps the received bytes through toListingRow and merging, into the batch document', () => {
    const a = makeListingUpdate(1, { timeSec: 1_765_000_000, seed: 1 });
    const b = makeListingDelete(1, { timeSec: 1_765_000_001, partial: true });
    const [ea, eb] = parseBptfFrame(Buffer.from(JSON.stringify([a, b]))).listings;
    const merged = mergeListingRows(toListingRow(ea!), toListingRow(eb!));
    expect(merged.raw).toBe(ea!.raw);
    expect(merged).toMatchObject({ eventId: eb!.eventId, deleted: true, payloadEventId: ea!.eventId });
    expect(merged.payload).toEqual(a.payload);

    // Serialized (the disk spool does), a row is the plain row, payload included.
    expect(JSON.parse(JSON.stringify(merged))).toEqual({
      id: merged.id,
      eventId: merged.eventId,
      eventTimeMs: merged.eventTimeMs,
      deleted: true,
      payloadEventId: merged.payloadEventId,
      payload: a.payload,
    });
    expect(JSON.parse(JSON.stringify(ea))).toEqual(JSON.parse(JSON.stringify(parseBptfFrame(JSON.stringify([a])).listings[0])));

    // The document is valid JSON (after the jsonb version byte) and the same with or without the kept bytes.
    const plain = { ...merged, payload: merged.payload, raw: undefined };
    const withRaw = encodeListingBatch([merged]);
    const without = encodeListingBatch([plain]);
    expect(withRaw[0]).toBe(1);
    expect(JSON.parse(withRaw.subarray(1).toString('utf8'))).toEqual(JSON.parse(without.subarray(1).toString('utf8')));
  });
});
