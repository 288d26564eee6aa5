import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { extractListingColumns } from '../../src/feeds/bptf/listing-columns.js';
import type { ParsedFrame } from '../../src/feeds/bptf/listing-event.js';
import { parseBptfFrame, parseFrameSlow } from '../../src/feeds/bptf/parse.js';
import { scanFrame } from '../../src/feeds/bptf/scanner.js';

/**
 * The fast path (scanFrame) held to the JSON.parse path (parseFrameSlow) on generated frames. For
 * every frame, parseBptfFrame gives what the JSON.parse path gives; when the scanner accepts a frame,
 * its events are that path's events, and each payload's received bytes are the same JSON value, which
 * Postgres stores as the same jsonb (numbers of 16 or 17 significant digits: the same double, see
 * skipNumber). Frames are written token by token, so they have the whitespace, escapes, duplicate keys
 * and number spellings JSON.stringify never writes; most are listing frames the scanner should accept,
 * the rest near misses it must decline.
 */

const AT = 1_765_000_000_000;

// -- JSON text, written with the freedom JSON.stringify does not take --------------------------

/** A value to write: a token as written (string, number, literal), an object (keys are string tokens; duplicates allowed), an array. */
type Json = string | { readonly members: readonly (readonly [string, Json])[] } | { readonly items: readonly Json[] };

/** `v` as JSON text, with whitespace taken in turn from `ws` between tokens. */
function write(v: Json, ws: readonly string[]): string {
  let i = 0;
  const w = (): string => ws[i++ % ws.length] ?? '';
  const go = (x: Json): string => {
    if (typeof x === 'string') return x;
    const parts: string[] = [];
    if ('items' in x) for (const item of x.items) parts.push(w() + go(item) + w());
    else for (const [k, value] of x.members) parts.push(`${w()}${k}${w()}:${w()}${go(value)}${w()}`);
    const [open, close] = 'items' in x ? '[]' : '{}';
    return open + (parts.length > 0 ? parts.join(',') : w()) + close;
  };
  return go(v);
}

/** A string token: as JSON.stringify writes it, or with every non-ASCII unit and '/' escaped (lower- or upper-case hex). */
function stringToken(s: string, style: number): string {
  const plain = JSON.stringify(s);
  if (style === 0) return plain;
  return plain.replace(/[^\x20-\x7e]|\//g, (ch) => {
    if (ch === '/') return '\\/';
    const hex = ch.charCodeAt(0).toString(16).padStart(4, '0');
    return `\\u${style === 1 ? hex : hex.toUpperCase()}`;
  });
}

const text = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 8 }),
  fc.string({ unit: 'binary', maxLength: 6 }),
  fc.constantFrom('', 'Ünusual ⚡ Hat', '"quoted"', 'back\\slash', 'tab\there\nnew line', 'emoji 😀', 'a/b', '\u2028'),
);
const str = fc.tuple(text, fc.nat(2)).map(([s, style]) => stringToken(s, style));
const digitString = (minLength: number, maxLength: number) => fc.string({ unit: fc.constantFrom(...'0123456789'), minLength, maxLength });

/** Numbers the scanner takes, in many shapes: see skipNumber. */
const goodNumber = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: -1_000_000, max: 2_000_000_000 }).map(String) },
  { weight: 6, arbitrary: fc.tuple(fc.integer({ min: -999_999, max: 999_999 }), fc.nat(6)).map(([n, k]) => String(n / 10 ** k)) },
  // Shortest round trip, as JSON.stringify writes: often 16 or 17 digits.
  { weight: 2, arbitrary: fc.double({ min: 1e-6, max: 1e6, noNaN: true }).map((d) => JSON.stringify(d)) },
  // 17 digits, not always the shortest (the same double, not the same text).
  { weight: 1, arbitrary: fc.double({ min: 1, max: 1e6, noNaN: true }).map((d) => d.toPrecision(17).replace(/\.?0+$/, '')) },
  { weight: 2, arbitrary: fc.tuple(fc.boolean(), fc.nat(99_999_999), fc.option(digitString(0, 8))).map(([neg, i, f]) => `${neg ? '-' : ''}${i}${f === null ? '' : `.${f}1`}`) },
  { weight: 1, arbitrary: fc.constantFrom('0', '-0', '-0.25', '0.000001', '123456789012345', '10000000000000000', '0.30000000000000004') },
);
/** Numbers it declines (an exponent, a trailing fractional zero, more than 17 digits) or that are not JSON. */
const oddNumber = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => JSON.stringify(d)),
  fc.tuple(fc.boolean(), digitString(1, 12), fc.option(digitString(1, 10))).map(([neg, i, f]) => `${neg ? '-' : ''}${i}${f === null ? '' : `.${f}`}`),
  digitString(17, 22).map((d) => `1${d}`),
  fc.tuple(fc.integer({ min: -99, max: 99 }), fc.constantFrom('e', 'E', 'e+', 'E-'), fc.nat(30)).map(([m, e, x]) => `${m}${e}${x}`),
  fc.constantFrom('-0.0', '1.', '.5', '-', '+1', '01', '1e', '0.1000', '123456789012345678', '100000000000000000', 'tru', 'nul'),
);

/** The members of `item` sku.ts reads, but defindex and quality (written here, not taken from sku.ts's list, which the scanner uses). */
const SKU_FIELDS_BUT_TWO = ['appid', 'australium', 'craftNumber', 'craftable', 'crateSeries', 'elevatedQuality', 'festivized', 'killstreakTier', 'paint', 'particle', 'priceindex', 'recipe', 'texture', 'tradable', 'wearTier'];

/** Keys deep in a payload: anything, escapes included (the scanner does not compare them). */
const deepKey = fc.oneof(fc.constantFrom('"name"', '"raw"', '"id"', '"x"', '"é"', '"n\\u0061me"'), str);
/** Other keys of events, payloads, items and values, where the scanner compares keys: plain text, none the scanner looks for. */
const extraKey = fc.oneof(
  fc.constantFrom('"x"', '"é"', '"short"', '"details"', '"😀"'),
  fc.string({ maxLength: 10 }).filter((k) => !/["\\]|^(id|event|payload|item|value|name|raw)$/.test(k)).map((k) => `"${k}"`),
);
const whitespace = fc.array(fc.constantFrom('', '', '', ' ', '\n', '\t', '\r\n', '  '), { minLength: 1, maxLength: 6 });

type Field = readonly [string, readonly Json[]];
/** An object's members in a random order; a field with more than one value is a duplicate key (the last one wins). */
function object(fields: readonly Field[], order: readonly number[]): Json {
  const members = fields.flatMap(([k, values]) => values.map((v) => [k, v] as const));
  const rank = (i: number) => order[i % order.length] ?? 0;
  const shuffled = members.map((m, i) => [rank(i), i, m] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return { members: shuffled.map(([, , m]) => m) };
}
const order = fc.array(fc.nat(20), { minLength: 1, maxLength: 8 });

/** Frames of listing events (an array or a single event); `noisy` frames have near misses the scanner declines now and then. */
function listingFrames(noisy: boolean): fc.Arbitrary<string> {
  /** `good`, or in a noisy frame, one time in `ratio + 1`, `odd`. */
  const mostly = <T>(ratio: number, good: fc.Arbitrary<T>, odd: fc.Arbitrary<T>): fc.Arbitrary<T> =>
    noisy ? fc.oneof({ weight: ratio, arbitrary: good }, { weight: 1, arbitrary: odd }) : good;
  const num = mostly(15, goodNumber, oddNumber);
  const scalar = fc.oneof({ weight: 3, arbitrary: str }, { weight: 3, arbitrary: num }, { weight: 1, arbitrary: fc.constantFrom('true', 'false', 'null') });
  const { value } = fc.letrec<{ value: Json }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      scalar,
      fc.array(tie('value'), { maxLength: 4 }).map((items) => ({ items })),
      fc.array(fc.tuple(deepKey, tie('value')), { maxLength: 5 }).map((members) => ({ members })),
    ),
  }));
  /** A key the scanner compares, or (noisy) the same key spelt with an escape. */
  const keyOf = (k: string) => mostly(40, fc.constant(`"${k}"`), fc.constant(`"\\u00${k.charCodeAt(0).toString(16)}${k.slice(1)}"`));
  /** A member: one value, or now and then two or three (a duplicate key). */
  const field = (k: fc.Arbitrary<string>, v: fc.Arbitrary<Json>): fc.Arbitrary<Field> =>
    fc.tuple(k, fc.oneof({ weight: 8, arbitrary: fc.array(v, { minLength: 1, maxLength: 1 }) }, { weight: 1, arbitrary: fc.array(v, { minLength: 2, maxLength: 3 }) }));
  const extras = (max: number) => fc.array(field(extraKey, value), { maxLength: max });
  const obj = (fields: fc.Arbitrary<Field[]>): fc.Arbitrary<Json> => fc.tuple(fields, order).map(([f, o]) => object(f, o));
  /** `item` and `value`: an object with (or without) the member the pipeline reads, or (noisy: anything) not an object. */
  const nested = (k: string, v: fc.Arbitrary<Json>) =>
    fc.oneof(
      { weight: 4, arbitrary: obj(fc.tuple(fc.option(field(keyOf(k), v)), extras(4)).map(([f, rest]) => (f ? [f, ...rest] : rest))) },
      { weight: 1, arbitrary: mostly(1, value.filter((x) => typeof x === 'string' || 'items' in x), value) },
    );
  /** Members of `item` the SKU reads (sku.ts), often as backpack.tf writes them, now and then anything. */
  const small = fc.oneof(fc.nat(40).map(String), fc.constantFrom('5021', '30329', '15085', '0', '-1', '1.5'));
  const withId = fc.tuple(small, fc.option(small)).map(([id, other]): Json => ({ members: [['"id"', id], ...(other === null ? [] : [['"itemDefindex"', other] as const])] }));
  const skuValue = fc.oneof({ weight: 3, arbitrary: small }, { weight: 3, arbitrary: withId }, { weight: 1, arbitrary: fc.constantFrom('true', 'false', '"70"', '"1-2"', '"#2f4f4f"') }, { weight: 1, arbitrary: value });
  // defindex and quality most of the time (an item without them has no SKU), then any of the others.
  const skuFields = fc
    .tuple(
      fc.option(field(keyOf('defindex'), mostly(6, small, skuValue)), { freq: 8 }),
      fc.option(field(keyOf('quality'), mostly(6, fc.oneof(small, withId), skuValue)), { freq: 8 }),
      fc.subarray(SKU_FIELDS_BUT_TWO, { maxLength: 6 }).chain((keys) => fc.tuple(...keys.map((k) => field(keyOf(k), skuValue)))),
    )
    .map(([d, q, rest]) => [...(d ? [d] : []), ...(q ? [q] : []), ...rest]);
  const time = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1_600_000_000, max: 1_800_000_000 }).map(String) }, { weight: 1, arbitrary: scalar });

  const listingId = mostly(30, fc.tuple(fc.string({ minLength: 1, maxLength: 40 }), fc.nat(2)).map(([s, style]) => stringToken(s, style)), fc.constantFrom('""', `"${'x'.repeat(513)}"`, '440', 'null', '{}'));
  /** The payload's members the pipeline reads, but its id. */
  const fields = [
    field(keyOf('steamid'), fc.oneof(digitString(17, 17).map((d) => `"${d}"`), scalar)),
    field(keyOf('appid'), fc.oneof(fc.constant('440'), scalar)),
    field(keyOf('intent'), fc.oneof(fc.constantFrom('"buy"', '"sell"', '"b\\u0075y"'), scalar)),
    field(
      keyOf('item'),
      fc.oneof(
        { weight: 3, arbitrary: obj(fc.tuple(fc.option(field(keyOf('name'), fc.oneof(str, value))), skuFields, extras(3)).map(([n, f, rest]) => [...(n ? [n] : []), ...f, ...rest])) },
        { weight: 1, arbitrary: nested('name', fc.oneof(str, value)) },
      ),
    ),
    field(keyOf('value'), nested('raw', fc.oneof(num, value))),
    field(fc.constant('"currencies"'), value),
    field(keyOf('listedAt'), time),
    field(keyOf('timestamp'), time),
    field(keyOf('bumpedAt'), time),
    field(keyOf('bump'), time),
  ];
  const id = field(keyOf('id'), listingId);
  const fullPayload = obj(
    fc.tuple(id, fc.tuple(...fields.map((f) => fc.option(f))), extras(3)).map(([i, f, rest]) => [i, ...f.filter((x): x is Field => x !== null), ...rest]),
  );
  /** A delete's payload may carry only its id; one with a single other member is not partial. */
  const idOnly = obj(id.map((f) => [f]));
  const idAndOne = obj(fc.tuple(id, fc.oneof(...fields, field(extraKey, value))).map((f) => [...f]));
  const payload = mostly(15, fc.oneof({ weight: 4, arbitrary: fullPayload }, { weight: 2, arbitrary: idOnly }, { weight: 1, arbitrary: idAndOne }), value);

  const eventName = mostly(15, fc.constantFrom('"listing-update"', '"listing-delete"'), fc.constantFrom('"client-limit-exceeded"', '"listing-bump"', '"listing\\u002dupdate"', '1', 'null'));
  const eventId = mostly(
    15,
    fc.stringMatching(/^[0-9a-fA-F]{24}$/).map((id) => `"${id}"`),
    fc.constantFrom('"69346e7883418419600ebe1"', '"zz"', 'null', '12345', '"69346e7883418419600ebe1g"', '"69346e78\\u0038418419600ebe14"'),
  );
  const event = obj(fc.tuple(field(keyOf('id'), eventId), field(keyOf('event'), eventName), field(keyOf('payload'), payload), extras(1)).map(([a, b, c, rest]) => [a, b, c, ...rest]));
  const batch = fc.oneof({ weight: 1, arbitrary: fc.constant([]) }, { weight: 8, arbitrary: fc.array(event, { minLength: 1, maxLength: 4 }) });
  return fc
    .tuple(fc.oneof({ weight: 4, arbitrary: batch.map((items): Json => ({ items })) }, { weight: 1, arbitrary: event }), whitespace)
    .map(([frame, ws]) => write(frame, ws));
}

/** Listing frames made invalid: truncated, a byte overwritten, junk inserted. */
const broken = listingFrames(false).chain((frame) => {
  const bytes = Buffer.from(frame);
  return fc.oneof(
    fc.nat(Math.max(bytes.length - 1, 0)).map((n) => bytes.subarray(0, n)),
    fc.tuple(fc.nat(Math.max(bytes.length - 1, 0)), fc.integer({ min: 0, max: 255 })).map(([i, v]) => {
      const b = Buffer.from(bytes);
      b[i] = v;
      return b;
    }),
    fc.tuple(fc.nat(frame.length), fc.constantFrom(',', ']', '}', '"', '\\', 'x', '\u0001', ' ')).map(([i, junk]) => Buffer.from(frame.slice(0, i) + junk + frame.slice(i))),
  );
});
const frames: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 10, arbitrary: listingFrames(false).map((t) => Buffer.from(t)) },
  { weight: 6, arbitrary: listingFrames(true).map((t) => Buffer.from(t)) },
  { weight: 3, arbitrary: broken },
  { weight: 1, arbitrary: fc.constantFrom('', ' \n', '[]', '{}', 'null', '"x"', '\u00a0[]', `[${'['.repeat(520)}${']'.repeat(520)}]`).map((t) => Buffer.from(t)) },
  {
    weight: 2,
    // One number, of any shape, in a frame the scanner takes otherwise.
    arbitrary: fc.oneof(goodNumber, oddNumber).map((n) => Buffer.from(`[{"id":"69346e7883418419600ebe14","event":"listing-update","payload":{"id":"a","value":{"raw":${n}},"n":[${n}]}}]`)),
  },
  {
    weight: 1,
    // Nesting around the scanner's limit (512): deeper goes to the JSON.parse path.
    arbitrary: fc.integer({ min: 505, max: 515 }).map((depth) => Buffer.from(`{"id":"69346e7883418419600ebe14","event":"listing-update","payload":{"id":"a","x":${'['.repeat(depth)}${']'.repeat(depth)}}}`)),
  },
);

// -- what Postgres stores -------------------------------------------------------------------------

/** Significant digits of a number token (before any exponent). */
function significantDigits(t: string): number {
  return t.replace(/[eE].*$/, '').replace(/[-.]/g, '').replace(/^0+/, '').length;
}

/** A number token as Postgres' numeric writes it: plain decimal, the scale the text gave, no negative zero. */
function numericText(t: string): string {
  const [, sign, int = '', frac = '', exp = '0'] = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(t)!;
  const e = Number(exp);
  const scale = Math.max(0, frac.length - e);
  let digits = int + frac;
  let point = int.length + e;
  if (point < 0) {
    digits = '0'.repeat(-point) + digits;
    point = 0;
  }
  digits = digits.padEnd(point + scale, '0');
  const whole = digits.slice(0, point).replace(/^0+/, '') || '0';
  const fraction = digits.slice(point);
  const zero = /^0*$/.test(whole + fraction);
  return (sign && !zero ? '-' : '') + whole + (fraction ? `.${fraction}` : '');
}

/**
 * The jsonb Postgres stores for valid JSON text, as comparable text: whitespace dropped, the last of
 * duplicate keys kept, keys sorted, strings decoded, numbers as numeric writes them. A number of 16 or
 * 17 significant digits is taken as the double it reads as (the nuance skipNumber documents), so only
 * those may differ in text from what JSON.stringify writes.
 */
function jsonbOf(json: string): string {
  const token = /[ \t\n\r]*(?:("(?:[^"\\]|\\.)*")|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|(true|false|null)|([[\]{}:,]))/y;
  const next = (): RegExpExecArray => {
    const m = token.exec(json);
    if (!m) throw new Error(`jsonbOf: not JSON at ${token.lastIndex}`);
    return m;
  };
  const parse = (m: RegExpExecArray): string => {
    const [, s, n, lit, punct] = m;
    if (s !== undefined) return JSON.stringify(JSON.parse(s));
    if (n !== undefined) {
      const digits = significantDigits(n);
      return numericText(digits === 16 || digits === 17 ? String(Number(n)) : n);
    }
    if (lit !== undefined) return lit;
    const close = punct === '[' ? ']' : '}';
    const items: string[] = [];
    const members = new Map<string, string>();
    let m2 = next();
    while (m2[4] !== close) {
      if (punct === '[') items.push(parse(m2));
      else {
        const k = JSON.parse(m2[1]!) as string;
        next(); // ':'
        members.set(k, parse(next()));
      }
      m2 = next();
      if (m2[4] === ',') m2 = next();
    }
    if (punct === '[') return `[${items.join(',')}]`;
    const keys = [...members.keys()].sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${members.get(k)}`).join(',')}}`;
  };
  return parse(next());
}

// -- the property ---------------------------------------------------------------------------------

function events(r: ParsedFrame) {
  return r.listings.map(({ kind, eventId, eventTimeMs, listingId, partial }) => ({ kind, eventId, eventTimeMs, listingId, partial }));
}

describe('bptf scanner against the JSON.parse path', () => {
  it('knows the jsonb it compares with', () => {
    expect(jsonbOf(' { "b" : [ 1.50 , -0 , 1e-7 , 0.0000001 ] , "a" : "\\u00e9" , "b" : 1E+2 } ')).toBe('{"a":"é","b":100}');
    expect(jsonbOf('[1.50,-0,-0.0,1e-7,0.0000001,1e21,0.10000000000000001,123456789012345678]')).toBe(
      '[1.50,0,0.0,0.0000001,0.0000001,1000000000000000000000,0.1,123456789012345678]',
    );
  });

  it('gives the same events, notices and rejects, and payload bytes that store the same jsonb', () => {
    let runs = 0;
    let accepted = 0;
    let listings = 0;
    let withSku = 0;
    fc.assert(
      fc.property(frames, (frame) => {
        runs++;
        const slow = parseFrameSlow(frame, AT);
        const both = parseBptfFrame(frame, AT);
        expect(events(both)).toEqual(events(slow));
        expect(both.notices).toEqual(slow.notices);
        expect(both.rejects).toEqual(slow.rejects);

        const fast = scanFrame(frame);
        if (!fast) return;
        accepted++;
        listings += fast.listings.length;
        expect(events(fast)).toEqual(events(slow));
        expect(fast.notices).toEqual(slow.notices);
        expect(fast.rejects).toEqual([]);
        expect(slow.rejects).toEqual([]);
        for (const [i, l] of fast.listings.entries()) {
          const expected = slow.listings[i]!.payload;
          const raw = l.raw!;
          expect(raw.frame).toBe(frame);
          // Exactly the payload object's text, from its '{' to its '}'.
          expect([frame[raw.start], frame[raw.end - 1]]).toEqual([0x7b, 0x7d]);
          const bytes = frame.subarray(raw.start, raw.end).toString('utf8');
          expect(JSON.parse(bytes)).toEqual(expected);
          expect(JSON.stringify(JSON.parse(bytes))).toBe(JSON.stringify(expected));
          expect(jsonbOf(bytes)).toBe(jsonbOf(JSON.stringify(expected)));
          expect(l.payload).toEqual(expected);
          const { currencies: _, ...columns } = extractListingColumns(expected);
          const { currencies: __, ...scanned } = raw.columns as typeof raw.columns & { currencies?: unknown };
          expect(scanned).toEqual(columns);
          if (columns.sku !== null) withSku++;
        }
      }),
      { numRuns: 1500 },
    );
    // The property says something only if the scanner takes a good share of the frames, with events in them.
    expect(accepted / runs).toBeGreaterThan(0.3);
    expect(listings).toBeGreaterThan(runs / 2);
    // Items with a SKU, whose members the scanner picks out (scanner.ts itemMembers).
    expect(withSku).toBeGreaterThan(runs / 20);
  });
});
