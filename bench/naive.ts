/**
 * The naive way: what "pipe every event into a database" amounts to. Each frame is parsed as it
 * arrives and every listing event becomes its own INSERT ... ON CONFLICT (same rule as the daemon's),
 * autocommitted, one at a time on one connection (`concurrency` > 1: that many in flight on a pool,
 * as a message handler that does not await its queries would do).
 */
import { extractListingColumns } from '../src/feeds/bptf/listing-columns.js';
import { toListingRow } from '../src/feeds/bptf/listing-row.js';
import { parseBptfFrame } from '../src/feeds/bptf/parse.js';
import { LISTING_CONFLICT_RULE, LISTING_INSERT } from '../src/feeds/bptf/store.js';
import { checkpoint, migrate, openDb, recreateDatabase } from './db.js';
import { settle } from './gc.js';
import { SELECT_FROM_U } from './shapes.js';
import type { Frame } from './workload.js';

const ONE_ROW = `${LISTING_INSERT}
${SELECT_FROM_U}
FROM (VALUES ($1::text, $2::text, $3::float8, $4::bool, $5::text, $6::text, $7::int, $8::text, $9::text, $10::text,
              $11::float8, $12::float8, $13::float8, $14::text, $15::text, $16::numeric, $17::numeric, $18::bool, $19::bool, $20::bool))
  AS u(id, event_id, event_time, deleted, payload_event_id, steamid, appid, intent, item_name, currencies,
       value_raw, listed_at, bumped_at, payload, sku, price_keys, price_metal, automatic, spelled, quotable)
${LISTING_CONFLICT_RULE}`;

export interface NaiveRun {
  readonly concurrency: number;
  readonly events: number;
  readonly eventsPerS: number;
  readonly elapsedMs: number;
}

export async function runNaive(o: { serverUrl: string; dbName: string; frames: readonly Frame[]; concurrency: number }): Promise<NaiveRun> {
  const url = await recreateDatabase(o.serverUrl, o.dbName);
  const b = openDb(url, o.concurrency + 1); // +1: migrate holds one connection for its lock
  try {
    await migrate(b);
    await Promise.all(Array.from({ length: o.concurrency }, () => b.pool.query('SELECT 1')));
    await checkpoint(b);
    await settle();
    let events = 0;
    const inFlight = new Set<Promise<unknown>>();
    const started = performance.now();
    for (const frame of o.frames) {
      for (const e of parseBptfFrame(frame.data).listings) {
        const r = toListingRow(e);
        const c = extractListingColumns(r.payload);
        const q = b.pool.query(ONE_ROW, [
          r.id, r.eventId, r.eventTimeMs / 1000, r.deleted, r.payloadEventId, c.steamid, c.appid, c.intent, c.itemName,
          c.currencies, c.valueRaw, c.listedAt, c.bumpedAt, JSON.stringify(r.payload), c.sku,
          c.priceKeys, c.priceMetal, c.automatic, c.spelled, c.quotable,
        ]);
        events++;
        inFlight.add(q);
        const done = () => inFlight.delete(q);
        void q.then(done, done);
        if (inFlight.size >= o.concurrency) await Promise.race(inFlight);
      }
    }
    await Promise.all(inFlight);
    const elapsedMs = performance.now() - started;
    return { concurrency: o.concurrency, events, eventsPerS: (events / elapsedMs) * 1000, elapsedMs };
  } finally {
    await b.close();
  }
}
