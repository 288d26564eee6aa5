/**
 * Batch statement shapes compared by the limit phase. Every shape writes the same rows with the same
 * rule (the ON CONFLICT clause is the repository's, character for character); they differ only in how
 * the batch reaches Postgres:
 *
 *   repository   src/feeds/bptf/store.ts as it is now (what the daemon runs): one jsonb
 *                parameter, rows as arrays, payload bytes as received
 *   rows-as-objects  the same with rows as objects read by jsonb_to_recordset (its previous version)
 *   unnest       the original statement: 20 parallel arrays, unnest(text[] ...), payload as text -> jsonb
 *   values       one multi-row INSERT ... VALUES with 20 bind parameters per row
 *   jsonb        one parameter: the batch as a JSON array of objects, jsonb_to_recordset($1::jsonb),
 *                built with JSON.stringify from parsed payloads
 *   json         the same with json_to_recordset($1::json)
 *   copy         COPY into a temporary staging table, then INSERT ... SELECT from it (one transaction)
 *
 * Client-side work (building parameters from ListingRow objects) is part of every shape's time, as it
 * is part of the daemon's write path.
 */
import type { Kysely } from 'kysely';
import type pg from 'pg';
import { extractListingColumns } from '../src/feeds/bptf/listing-columns.js';
import type { ListingRow } from '../src/feeds/bptf/listing-row.js';
import type { Database } from '../src/feeds/index.js';
import { LISTING_CONFLICT_RULE, LISTING_INSERT, upsertListings } from '../src/feeds/bptf/store.js';

export interface ShapeContext {
  readonly db: Kysely<Database>;
  readonly pool: pg.Pool;
}

export interface Shape {
  readonly name: string;
  /** Reads `row.payload` (the parsed object), not only the bytes the parser kept. */
  readonly readsPayload: boolean;
  write(ctx: ShapeContext, rows: readonly ListingRow[]): Promise<void>;
}

/** Source columns in the order every shape's SELECT list uses. */
export const SELECT_FROM_U = `SELECT u.id, u.event_id, to_timestamp(u.event_time), CASE WHEN u.deleted THEN to_timestamp(u.event_time) END,
       u.payload_event_id, u.steamid, u.appid, u.intent, u.item_name,
       u.currencies::jsonb, u.value_raw, to_timestamp(u.listed_at), to_timestamp(u.bumped_at), u.payload::jsonb, u.sku,
       u.price_keys, u.price_metal, u.automatic, u.spelled, u.quotable`;

/** The five quote columns, as every shape sends them (computed by the daemon's listing-columns.ts). */
const QUOTE_COLUMN_NAMES = 'price_keys, price_metal, automatic, spelled, quotable';

const COLUMN_TYPES = `id text, event_id text, event_time float8, deleted bool, payload_event_id text, steamid text, appid int,
  intent text, item_name text, currencies jsonb, value_raw float8, listed_at float8, bumped_at float8, payload jsonb, sku text,
  price_keys numeric, price_metal numeric, automatic bool, spelled bool, quotable bool`;

/** One row as the record the json shapes send (keys are the column names of COLUMN_TYPES). */
function record(r: ListingRow) {
  const c = extractListingColumns(r.payload);
  return {
    id: r.id,
    event_id: r.eventId,
    event_time: r.eventTimeMs / 1000,
    deleted: r.deleted,
    payload_event_id: r.payloadEventId,
    steamid: c.steamid,
    appid: c.appid,
    intent: c.intent,
    item_name: c.itemName,
    currencies: r.payload.currencies !== null && typeof r.payload.currencies === 'object' && !Array.isArray(r.payload.currencies) ? r.payload.currencies : null,
    value_raw: c.valueRaw,
    listed_at: c.listedAt,
    bumped_at: c.bumpedAt,
    payload: r.payload,
    sku: c.sku,
    price_keys: c.priceKeys,
    price_metal: c.priceMetal,
    automatic: c.automatic,
    spelled: c.spelled,
    quotable: c.quotable,
  };
}

export function columnArrays(rows: readonly ListingRow[]) {
  const n = rows.length;
  const a = {
    id: new Array<string>(n),
    eventId: new Array<string>(n),
    eventTime: new Array<number>(n),
    deleted: new Array<boolean>(n),
    payloadEventId: new Array<string | null>(n),
    steamid: new Array<string | null>(n),
    appid: new Array<number | null>(n),
    intent: new Array<string | null>(n),
    itemName: new Array<string | null>(n),
    currencies: new Array<string | null>(n),
    valueRaw: new Array<number | null>(n),
    listedAt: new Array<number | null>(n),
    bumpedAt: new Array<number | null>(n),
    payload: new Array<string>(n),
    sku: new Array<string | null>(n),
    priceKeys: new Array<string | null>(n),
    priceMetal: new Array<string | null>(n),
    automatic: new Array<boolean>(n),
    spelled: new Array<boolean>(n),
    quotable: new Array<boolean>(n),
  };
  for (let i = 0; i < n; i++) {
    const r = rows[i] as ListingRow;
    const c = extractListingColumns(r.payload);
    a.id[i] = r.id;
    a.eventId[i] = r.eventId;
    a.eventTime[i] = r.eventTimeMs / 1000;
    a.deleted[i] = r.deleted;
    a.payloadEventId[i] = r.payloadEventId;
    a.steamid[i] = c.steamid;
    a.appid[i] = c.appid;
    a.intent[i] = c.intent;
    a.itemName[i] = c.itemName;
    a.currencies[i] = c.currencies;
    a.valueRaw[i] = c.valueRaw;
    a.listedAt[i] = c.listedAt;
    a.bumpedAt[i] = c.bumpedAt;
    a.payload[i] = JSON.stringify(r.payload);
    a.sku[i] = c.sku;
    a.priceKeys[i] = c.priceKeys;
    a.priceMetal[i] = c.priceMetal;
    a.automatic[i] = c.automatic;
    a.spelled[i] = c.spelled;
    a.quotable[i] = c.quotable;
  }
  return a;
}

const UNNEST_SQL = `${LISTING_INSERT}
${SELECT_FROM_U}
FROM unnest($1::text[], $2::text[], $3::float8[], $4::bool[], $5::text[], $6::text[], $7::int[], $8::text[], $9::text[],
            $10::text[], $11::float8[], $12::float8[], $13::float8[], $14::text[], $15::text[],
            $16::numeric[], $17::numeric[], $18::bool[], $19::bool[], $20::bool[])
  AS u(id, event_id, event_time, deleted, payload_event_id, steamid, appid, intent, item_name, currencies,
       value_raw, listed_at, bumped_at, payload, sku, ${QUOTE_COLUMN_NAMES})
${LISTING_CONFLICT_RULE}`;

const JSONB_SQL = `${LISTING_INSERT}
${SELECT_FROM_U}
FROM jsonb_to_recordset($1::jsonb) AS u(${COLUMN_TYPES})
${LISTING_CONFLICT_RULE}`;

const JSON_SQL = `${LISTING_INSERT}
${SELECT_FROM_U}
FROM json_to_recordset($1::json) AS u(${COLUMN_TYPES})
${LISTING_CONFLICT_RULE}`;

async function query(ctx: ShapeContext, text: string, values: unknown[]): Promise<void> {
  await ctx.pool.query(text, values);
}

export const repositoryShape: Shape = {
  name: 'repository',
  readsPayload: false,
  write: async (ctx, rows) => {
    await upsertListings(ctx.db, rows);
  },
};

export const unnestShape: Shape = {
  name: 'unnest',
  readsPayload: true,
  async write(ctx, rows) {
    const a = columnArrays(rows);
    await query(ctx, UNNEST_SQL, [
      a.id, a.eventId, a.eventTime, a.deleted, a.payloadEventId, a.steamid, a.appid, a.intent, a.itemName,
      a.currencies, a.valueRaw, a.listedAt, a.bumpedAt, a.payload, a.sku, a.priceKeys, a.priceMetal, a.automatic, a.spelled, a.quotable,
    ]);
  },
};

export const valuesShape: Shape = {
  name: 'values',
  readsPayload: true,
  async write(ctx, rows) {
    const a = columnArrays(rows);
    const tuples: string[] = [];
    const values: unknown[] = [];
    for (let i = 0; i < rows.length; i++) {
      const p = values.length;
      tuples.push(
        `($${p + 1}::text, $${p + 2}::text, $${p + 3}::float8, $${p + 4}::bool, $${p + 5}::text, $${p + 6}::text, $${p + 7}::int, ` +
          `$${p + 8}::text, $${p + 9}::text, $${p + 10}::text, $${p + 11}::float8, $${p + 12}::float8, $${p + 13}::float8, $${p + 14}::text, $${p + 15}::text, ` +
          `$${p + 16}::numeric, $${p + 17}::numeric, $${p + 18}::bool, $${p + 19}::bool, $${p + 20}::bool)`,
      );
      values.push(
        a.id[i], a.eventId[i], a.eventTime[i], a.deleted[i], a.payloadEventId[i], a.steamid[i], a.appid[i], a.intent[i],
        a.itemName[i], a.currencies[i], a.valueRaw[i], a.listedAt[i], a.bumpedAt[i], a.payload[i], a.sku[i],
        a.priceKeys[i], a.priceMetal[i], a.automatic[i], a.spelled[i], a.quotable[i],
      );
    }
    const text = `${LISTING_INSERT}
${SELECT_FROM_U}
FROM (VALUES ${tuples.join(',\n')}) AS u(id, event_id, event_time, deleted, payload_event_id, steamid, appid, intent, item_name,
  currencies, value_raw, listed_at, bumped_at, payload, sku, ${QUOTE_COLUMN_NAMES})
${LISTING_CONFLICT_RULE}`;
    await query(ctx, text, values);
  },
};

export const jsonbShape: Shape = {
  name: 'jsonb',
  readsPayload: true,
  async write(ctx, rows) {
    await query(ctx, JSONB_SQL, [JSON.stringify(rows.map(record))]);
  },
};

export const jsonShape: Shape = {
  name: 'json',
  readsPayload: true,
  async write(ctx, rows) {
    await query(ctx, JSON_SQL, [JSON.stringify(rows.map(record))]);
  },
};

// -- COPY --------------------------------------------------------------------------------

/** COPY text format: backslash, newline, carriage return and tab must be escaped; \N is NULL. */
function copyField(v: string | number | boolean | null): string {
  if (v === null) return '\\N';
  if (typeof v !== 'string') return String(v);
  return /[\\\n\r\t]/.test(v) ? v.replace(/[\\\n\r\t]/g, (ch) => (ch === '\\' ? '\\\\' : ch === '\n' ? '\\n' : ch === '\r' ? '\\r' : '\\t')) : v;
}

/** A minimal pg Submittable that runs `COPY ... FROM STDIN` and sends `data` as the copy stream. */
function copyFrom(client: pg.PoolClient, text: string, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    let error: Error | undefined;
    const submittable = {
      submit(connection: { query(text: string): void }) {
        connection.query(text);
      },
      handleCopyInResponse(connection: { sendCopyFromChunk(b: Buffer): void; endCopyFrom(): void }) {
        const chunk = 1 << 20;
        for (let off = 0; off < data.length; off += chunk) connection.sendCopyFromChunk(data.subarray(off, off + chunk));
        connection.endCopyFrom();
      },
      handleCommandComplete() {},
      handleError(err: Error) {
        error = err;
      },
      handleReadyForQuery() {
        if (error) reject(error);
        else resolve();
      },
    };
    client.query(submittable as never);
  });
}

const STAGE_DDL = `CREATE TEMP TABLE IF NOT EXISTS bptf_stage (${COLUMN_TYPES}) ON COMMIT DELETE ROWS`;
const STAGE_INSERT = `${LISTING_INSERT}
${SELECT_FROM_U}
FROM bptf_stage u
${LISTING_CONFLICT_RULE}`;

export const copyShape: Shape = {
  name: 'copy',
  readsPayload: true,
  async write(ctx, rows) {
    const a = columnArrays(rows);
    const lines: string[] = [];
    for (let i = 0; i < rows.length; i++) {
      lines.push(
        [
          a.id[i], a.eventId[i], a.eventTime[i], a.deleted[i] ? 't' : 'f', a.payloadEventId[i], a.steamid[i], a.appid[i] ?? null,
          a.intent[i], a.itemName[i], a.currencies[i], a.valueRaw[i] ?? null, a.listedAt[i] ?? null, a.bumpedAt[i] ?? null, a.payload[i],
          a.sku[i], a.priceKeys[i], a.priceMetal[i], a.automatic[i] ? 't' : 'f', a.spelled[i] ? 't' : 'f', a.quotable[i] ? 't' : 'f',
        ]
          .map((v) => copyField(v as string | number | boolean | null))
          .join('\t'),
      );
    }
    const data = Buffer.from(lines.join('\n') + '\n');
    const client = await ctx.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(STAGE_DDL);
      await copyFrom(client, 'COPY bptf_stage FROM STDIN', data);
      await client.query(STAGE_INSERT);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  },
};

// -- the repository's shape with rows as objects (its previous version) ----------------------

/** The repository's document with each row as an object: jsonb_to_recordset reads columns by key. */
function encodeObjects(rows: readonly ListingRow[]): Buffer {
  const parts: Buffer[] = [Buffer.from([1, 0x5b])];
  const j = (v: string | number | null) => (v === null ? 'null' : typeof v === 'string' ? JSON.stringify(v) : String(v));
  rows.forEach((r, i) => {
    const c = r.raw ? r.raw.columns : extractListingColumns(r.payload);
    parts.push(
      Buffer.from(
        `${i ? ',' : ''}{"id":${JSON.stringify(r.id)},"event_id":"${r.eventId}","event_time":${r.eventTimeMs / 1000},"deleted":${r.deleted},` +
          `"payload_event_id":${j(r.payloadEventId)},"steamid":${j(c.steamid)},"appid":${j(c.appid)},"intent":${j(c.intent)},` +
          `"item_name":${j(c.itemName)},"value_raw":${j(c.valueRaw)},"listed_at":${j(c.listedAt)},"bumped_at":${j(c.bumpedAt)},"payload":`,
      ),
    );
    parts.push(r.raw ? r.raw.frame.subarray(r.raw.start, r.raw.end) : Buffer.from(JSON.stringify(r.payload)));
    parts.push(
      Buffer.from(
        `,"sku":${j(c.sku)},"price_keys":${c.priceKeys ?? 'null'},"price_metal":${c.priceMetal ?? 'null'},` +
          `"automatic":${c.automatic},"spelled":${c.spelled},"quotable":${c.quotable}}`,
      ),
    );
  });
  parts.push(Buffer.from(']'));
  return Buffer.concat(parts);
}

const OBJECTS_SQL = `${LISTING_INSERT}
SELECT u.id, u.event_id, to_timestamp(u.event_time), CASE WHEN u.deleted THEN to_timestamp(u.event_time) END,
       u.payload_event_id, u.steamid, u.appid, u.intent, u.item_name,
       CASE WHEN jsonb_typeof(u.payload -> 'currencies') = 'object' THEN u.payload -> 'currencies' END,
       u.value_raw, to_timestamp(u.listed_at), to_timestamp(u.bumped_at), u.payload, u.sku, ${QUOTE_COLUMN_NAMES}
FROM jsonb_to_recordset($1::jsonb) AS u(id text, event_id text, event_time float8, deleted bool, payload_event_id text,
  steamid text, appid int, intent text, item_name text, value_raw float8, listed_at float8, bumped_at float8, payload jsonb, sku text,
  price_keys numeric, price_metal numeric, automatic bool, spelled bool, quotable bool)
${LISTING_CONFLICT_RULE}`;

export const objectsShape: Shape = {
  name: 'rows-as-objects',
  readsPayload: false,
  async write(ctx, rows) {
    await query(ctx, OBJECTS_SQL, [encodeObjects(rows)]);
  },
};

export const SHAPES: readonly Shape[] = [repositoryShape, objectsShape, jsonbShape, copyShape, jsonShape, valuesShape, unnestShape];
