/**
 * bptf_listings' quote columns (price_keys, price_metal, automatic, spelled, quotable) are written by the
 * daemon (listing-columns.ts); until migration 2026_12_08_003 Postgres generated them from the payload
 * (and bptf_listing_events' two prices until 2026_12_08_004).
 * Held here to those expressions, evaluated by Postgres on the payload each row stores: on both paths
 * of the parser (the scanner's received bytes, and JSON.parse's object written back), for the captured
 * events and for payloads that vary every field the five read, with the number spellings, duplicate
 * keys, escapes and wrong types that traffic could bring.
 */
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import captured from '../fixtures/bptf-captured-events.json' with { type: 'json' };
import { AUTOMATIC, PRICE_KEYS, PRICE_METAL } from '../../migrations/2026_12_01_002_sku_prices.js';
import { SPELLED } from '../../migrations/2026_12_08_001_quotes.js';
import { QUOTABLE } from '../../migrations/2026_12_08_002_listing_quotable.js';
import { toListingRow, type ListingRow } from '../../src/feeds/bptf/listing-row.js';
import { parseFrameSlow } from '../../src/feeds/bptf/parse.js';
import { scanFrame } from '../../src/feeds/bptf/scanner.js';
import { dayOf } from '../../src/feeds/bptf/day-partitions.js';
import { createDayPartition, insertListingEvents } from '../../src/feeds/bptf/history-store.js';
import { upsertListings } from '../../src/feeds/bptf/store.js';
import type { BptfTables } from '../../src/feeds/bptf/tables.js';
import { makeObjectId } from '../../src/simulator/object-id.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

const T0 = 1_765_000_000;

/** A small deterministic generator (the same payloads every run). */
function prng(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0;
    return s % n;
  };
}

const NUMBERS = ['1', '2.55', '0', '-0', '10', '0.000001', '1234567.5', '12345678901234567', '0.30000000000000004', '1e2', '1.50', '-3.25'];
const NOT_NUMBERS = ['"5"', 'null', '{}', '[1]', 'true', '"1.5 ref"'];

/** The text of one generated payload, `id` its listing id. */
function payloadText(id: string, pick: (n: number) => number): string {
  const one = <T>(xs: readonly T[]): T => xs[pick(xs.length)] as T;
  const price = () => (pick(4) === 0 ? one(NOT_NUMBERS) : one(NUMBERS));
  const members: string[] = [`"id":${JSON.stringify(id)}`];
  const add = (chance: number, member: () => string) => {
    if (pick(100) < chance) members.push(member());
  };
  add(95, () => `"appid":${one(['440', '440', '440', '730', '"440"', 'null'])}`);
  add(95, () => `"intent":${one(['"buy"', '"sell"', '"sell"', '"lend"', 'null'])}`);
  add(90, () => {
    const item: string[] = [`"defindex":${one(['5021', '378', '30329', '"x"'])}`, `"quality":{"id":${one(['6', '5', '11'])}}`, '"name":"Some Item"'];
    if (pick(2) === 0) item.push(`"spells":${one(['[]', '[{"id":1,"name":"Exorcism"}]', '{}', '{"a":1}', 'null', '"x"', '0'])}`);
    if (pick(20) === 0) item.push('"spells":[]', '"spells":[1]'); // a duplicate: the last one counts
    return pick(25) === 0 ? `"item":${one(['[]', 'null', '"hat"'])}` : `"item":{${item.join(',')}}`;
  });
  add(90, () => {
    const c: string[] = [];
    if (pick(4) !== 0) c.push(`"keys":${price()}`);
    if (pick(4) !== 0) c.push(`"metal":${price()}`);
    if (pick(4) === 0) c.push(one(['"usd":1', '"__proto__":1', '"k\\u0065ys":2', '"metal":7', '"keys":null']));
    return pick(15) === 0 ? `"currencies":${one(['[]', 'null', '"10 ref"', '[{"keys":1}]'])}` : `"currencies":{${c.join(',')}}`;
  });
  add(50, () => `"userAgent":${one(['{"client":"TF2Autobot","lastPulse":1}', 'null', '""', '0', 'false', '[]'])}`);
  add(80, () => `"value":{"raw":${one(NUMBERS)}}`);
  add(80, () => `"bumpedAt":${T0}`);
  // Keys in another order now and then, and whitespace JSON.stringify never writes.
  if (pick(3) === 0) members.reverse();
  return `{${members.join(pick(4) === 0 ? ' ,\n ' : ',')}}`;
}

/** Cases written out, each once on its own: a sellable hat with the one field varied. */
const CASES: readonly string[] = [
  '"currencies":{"metal":1,"usd":1}',
  '"currencies":{"keys":1,"__proto__":1}',
  '"currencies":{"k\\u0065ys":2}',
  '"currencies":{"keys":"5"}',
  '"currencies":{"metal":1,"metal":"x"}',
  '"currencies":{"metal":"x","metal":1}',
  '"currencies":{"keys":null,"metal":3}',
  '"currencies":{"keys":12345678901234567}',
  '"currencies":{"metal":1.50}',
  '"currencies":{"metal":1e1}',
  '"currencies":{"metal":10.55,"keys":2}',
  '"currencies":{}',
  '"currencies":[]',
  '"currencies":{"metal":2},"userAgent":null',
  '"currencies":{"metal":2},"userAgent":""',
  '"currencies":{"metal":2},"userAgent":{"client":"x"},"userAgent":null',
].map((c, i) => `{"id":"440_case_${i}","appid":440,"intent":"sell","item":{"defindex":378,"quality":{"id":6},"spells":[]},${c}}`);
const SPELLS: readonly string[] = ['[]', '[1]', '{}', '{"a":1}', 'null', '"x"'].map(
  (s, i) => `{"id":"440_spells_${i}","appid":440,"intent":"buy","item":{"defindex":378,"quality":{"id":6},"spells":${s}},"currencies":{"metal":5}}`,
);

function capturedPayloads(): string[] {
  return (captured as { payload: unknown }[]).map((e) => JSON.stringify(e.payload));
}

/** The frame of one listing-update of `payload` (text), and its rows on each path of the parser. */
function rows(payload: string, n: number): { fast: ListingRow | undefined; slow: ListingRow } {
  const frame = Buffer.from(`[{"id":"${makeObjectId(T0, n)}","event":"listing-update","payload":${payload}}]`);
  const scanned = scanFrame(frame)?.listings[0];
  const parsed = parseFrameSlow(frame, T0 * 1000).listings[0];
  if (!parsed) throw new Error(`not a listing: ${payload}`);
  return { fast: scanned && toListingRow(scanned), slow: toListingRow(parsed) };
}

describe('bptf_listings quote columns', () => {
  let tdb: TestDatabase;
  let db: Kysely<BptfTables>;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    await tdb.migrate();
    db = tdb.db as unknown as Kysely<BptfTables>;
  });

  afterAll(async () => {
    await tdb?.close();
  });

  it('are what the generated expressions made of the stored payload, on both paths of the parser', async () => {
    const pick = prng(23);
    const texts = [...capturedPayloads(), ...CASES, ...SPELLS, ...Array.from({ length: 1_000 }, (_, i) => payloadText(`440_${i}`, pick))];
    const written: ListingRow[] = [];
    let fast = 0;
    texts.forEach((text, i) => {
      const r = rows(text, i);
      // Each path writes its own listing: `-s` the JSON.parse path's row, `-f` the scanner's.
      written.push({ ...r.slow, id: `${r.slow.id}-s`, raw: undefined });
      if (r.fast?.raw) {
        fast++;
        const raw = r.fast.raw;
        const { eventId, eventTimeMs, deleted, payloadEventId } = r.fast;
        written.push({ id: `${r.fast.id}-f`, eventId, eventTimeMs, deleted, payloadEventId, payload: r.slow.payload, raw });
      }
    });
    // The scanner takes most of them (it declines exponents, trailing zeros and escaped keys).
    expect(fast).toBeGreaterThan(texts.length / 2);
    written.sort((a, b) => (a.id < b.id ? -1 : 1));
    for (let i = 0; i < written.length; i += 200) await upsertListings(db, written.slice(i, i + 200));

    const counts = await sql<{ n: number; quotable: number; spelled: number; automatic: number; keys: number; metal: number }>`
      SELECT count(*)::int AS n, count(*) FILTER (WHERE quotable)::int AS quotable, count(*) FILTER (WHERE spelled)::int AS spelled,
             count(*) FILTER (WHERE automatic)::int AS automatic, count(price_keys)::int AS keys, count(price_metal)::int AS metal
      FROM bptf_listings`.execute(db);
    // Every case is there: the comparison below says something about each column.
    const c = counts.rows[0]!;
    expect(c.n).toBe(written.length);
    for (const k of ['quotable', 'spelled', 'automatic', 'keys', 'metal'] as const) {
      expect(c[k]).toBeGreaterThan(c.n / 20);
      expect(c[k]).toBeLessThan(c.n);
    }

    // Text, not numeric equality: the scale of a price (10 or 10.00) is part of what was stored.
    const wrong = await sql<{ id: string; payload: unknown }>`
      SELECT id, payload FROM bptf_listings
      WHERE (price_keys::text, price_metal::text, automatic, spelled, quotable) IS DISTINCT FROM (
        (${PRICE_KEYS})::text,
        (${PRICE_METAL})::text,
        ${AUTOMATIC},
        ${SPELLED},
        ${QUOTABLE})`.execute(db);
    expect(wrong.rows).toEqual([]);

    // bptf_listing_events (BPTF_HISTORY) stores the same prices from the same document; until
    // migration 2026_12_08_004 Postgres generated them there too. Each row an event of its own.
    await createDayPartition(db, dayOf(T0 * 1000));
    const events = written.map((r) => ({ ...r, eventId: `${r.eventId}${r.id.slice(-2)}` }));
    for (let i = 0; i < events.length; i += 200) await insertListingEvents(db, events.slice(i, i + 200));
    const history = await sql<{ n: number; keys: number; metal: number }>`
      SELECT count(*)::int AS n, count(price_keys)::int AS keys, count(price_metal)::int AS metal FROM bptf_listing_events`.execute(db);
    const h = history.rows[0]!;
    expect(h.n).toBe(written.length);
    expect(h.keys).toBeGreaterThan(h.n / 20);
    expect(h.metal).toBeGreaterThan(h.n / 20);
    const wrongEvents = await sql<{ event_id: string; payload: unknown }>`
      SELECT event_id, payload FROM bptf_listing_events
      WHERE (price_keys::text, price_metal::text) IS DISTINCT FROM ((${PRICE_KEYS})::text, (${PRICE_METAL})::text)`.execute(db);
    expect(wrongEvents.rows).toEqual([]);
  });
});
