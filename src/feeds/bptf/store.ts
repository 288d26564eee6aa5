import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { TableChange } from '../../core/db/change-notifier.js';
import type { BptfTables } from './tables.js';
import { extractRawColumns } from './listing-columns.js';
import type { ListingRow } from './listing-row.js';

/**
 * Upsert a batch of listing rows (unique ids, sorted) in one statement. The contract's rule is
 * enforced here, in SQL: the event part (event_id, event_time, deleted_at) moves only when the
 * incoming (event_time, event_id) is greater than the stored one, ids compared in "C" collation;
 * the payload part moves only when the incoming payload's event id is greater than the stored one.
 * So any order, duplication or replica of delivery ends in the same state.
 *
 * Shape: the whole batch travels as one jsonb parameter, an array of rows, each row an array of its
 * columns (see encodeListingBatch), read with jsonb_array_elements. Measured with `npm run bench` against 14
 * unnest(text[]) arrays (the first version), a multi-row VALUES, jsonb_to_recordset over row objects,
 * json_to_recordset and COPY into a staging table, it was the fastest: Postgres parses each payload
 * once (not an array literal and then jsonb), rows have no keys to sort and look up, the client does
 * no per-element escaping, and payload bytes the parser kept as received go through untouched.
 */
const NEWER_EVENT = `(excluded.event_time, excluded.event_id COLLATE "C") > (t.event_time, t.event_id COLLATE "C")`;
const NEWER_PAYLOAD = `(excluded.payload_event_id IS NOT NULL AND (t.payload_event_id IS NULL OR excluded.payload_event_id COLLATE "C" > t.payload_event_id COLLATE "C"))`;

/** The head of the batch insert: the columns in the order every SELECT feeding it lists them. */
export const LISTING_INSERT = `INSERT INTO bptf_listings AS t
  (id, event_id, event_time, deleted_at, payload_event_id, steamid, appid, intent, item_name,
   currencies, value_raw, listed_at, bumped_at, payload, sku, price_keys, price_metal, automatic, spelled, quotable)`;

/**
 * The conflict clause of the ordering rule, for LISTING_INSERT. Both are exported so that the
 * benchmark's statement shapes write exactly the columns and apply exactly the rule the daemon does.
 */
export const LISTING_CONFLICT_RULE = `ON CONFLICT (id) DO UPDATE SET
  event_id         = CASE WHEN ${NEWER_EVENT} THEN excluded.event_id ELSE t.event_id END,
  event_time       = CASE WHEN ${NEWER_EVENT} THEN excluded.event_time ELSE t.event_time END,
  deleted_at       = CASE WHEN ${NEWER_EVENT} THEN excluded.deleted_at ELSE t.deleted_at END,
  payload_event_id = CASE WHEN ${NEWER_PAYLOAD} THEN excluded.payload_event_id ELSE t.payload_event_id END,
  steamid          = CASE WHEN ${NEWER_PAYLOAD} THEN excluded.steamid ELSE t.steamid END,
  appid            = CASE WHEN ${NEWER_PAYLOAD} THEN excluded.appid ELSE t.appid END,
  intent           = CASE WHEN ${NEWER_PAYLOAD} THEN excluded.intent ELSE t.intent END,
  item_name        = CASE WHEN ${NEWER_PAYLOAD} THEN excluded.item_name ELSE t.item_name END,
  currencies       = CASE WHEN ${NEWER_PAYLOAD} THEN excluded.currencies ELSE t.currencies END,
  value_raw        = CASE WHEN ${NEWER_PAYLOAD} THEN excluded.value_raw ELSE t.value_raw END,
  listed_at        = CASE WHEN ${NEWER_PAYLOAD} THEN excluded.listed_at ELSE t.listed_at END,
  bumped_at        = CASE WHEN ${NEWER_PAYLOAD} THEN excluded.bumped_at ELSE t.bumped_at END,
  payload          = CASE WHEN ${NEWER_PAYLOAD} THEN excluded.payload ELSE t.payload END,
  sku              = CASE WHEN ${NEWER_PAYLOAD} THEN excluded.sku ELSE t.sku END,
  price_keys       = CASE WHEN ${NEWER_PAYLOAD} THEN excluded.price_keys ELSE t.price_keys END,
  price_metal      = CASE WHEN ${NEWER_PAYLOAD} THEN excluded.price_metal ELSE t.price_metal END,
  automatic        = CASE WHEN ${NEWER_PAYLOAD} THEN excluded.automatic ELSE t.automatic END,
  spelled          = CASE WHEN ${NEWER_PAYLOAD} THEN excluded.spelled ELSE t.spelled END,
  quotable         = CASE WHEN ${NEWER_PAYLOAD} THEN excluded.quotable ELSE t.quotable END,
  updated_at       = now()
WHERE ${NEWER_EVENT} OR ${NEWER_PAYLOAD}`;

/** Binary-format jsonb parameter: version byte 1, then the JSON text. */
const JSONB_VERSION = 1;

/**
 * Encode buffers, reused: a batch document is a few MB, and a fresh allocation per batch (new pages,
 * outside the V8 heap) cost as much as encoding into it. One buffer per batch in flight.
 */
const spareBuffers: Buffer[] = [];
const MAX_SPARE_BUFFERS = 4;
/** Larger buffers (a rare huge batch) are not kept. */
const MAX_SPARE_BYTES = 16 * 1024 * 1024;

function takeBuffer(size: number): Buffer {
  const i = spareBuffers.findIndex((b) => b.length >= size);
  if (i >= 0) return spareBuffers.splice(i, 1)[0] as Buffer;
  // Room to grow: batches vary a little in size.
  return Buffer.allocUnsafeSlow(Math.ceil(size * 1.25));
}

function giveBack(b: Buffer): void {
  if (b.length <= MAX_SPARE_BYTES && spareBuffers.length < MAX_SPARE_BUFFERS) spareBuffers.push(b);
}

/**
 * The batch as one jsonb document, `[[id, event_id, …, {payload}], …]`, in the binary
 * parameter format (a Buffer goes to Postgres as a binary parameter), written into `take(bound)`.
 * A row the parser kept as received bytes (`row.raw`) is copied in as it is: no parsing, no
 * re-serializing, no escaping. Returns the bytes written (a view of the taken buffer).
 *
 * Row layout (the SQL reads columns by position): 0 id, 1 event_id, 2 event_time (Unix s),
 * 3 deleted, 4 payload_event_id, 5 steamid, 6 appid, 7 intent, 8 item_name, 9 value_raw,
 * 10 listed_at (Unix s), 11 bumped_at (Unix s), 12 payload, then after the payload (the head is
 * written before the payload's bytes) 13 sku, 14 price_keys, 15 price_metal (JSON numbers as the
 * payload spells them), 16 automatic, 17 spelled, 18 quotable. `currencies` is read from the payload.
 */
export function encodeListingBatch(rows: readonly ListingRow[], take: (bound: number) => Buffer = (n) => Buffer.allocUnsafe(n)): Buffer {
  const n = rows.length;
  const heads = new Array<string>(n);
  const bodies = new Array<string | undefined>(n);
  const tails = new Array<string>(n);
  let bound = 2 + n; // version byte and the outer brackets (each row's own are in its head and tail)
  for (let i = 0; i < n; i++) {
    const r = rows[i] as ListingRow;
    const raw = r.raw;
    const c = raw ? raw.columns : extractRawColumns(r.payload);
    const tail = `,${jsonText(c.sku)},${c.priceKeys ?? 'null'},${c.priceMetal ?? 'null'},${c.automatic},${c.spelled},${c.quotable}]`;
    tails[i] = tail;
    bound += tail.length * 3;
    const head =
      `${i === 0 ? '[' : ',['}${JSON.stringify(r.id)},${JSON.stringify(r.eventId)},${r.eventTimeMs / 1000},${r.deleted},` +
      `${jsonText(r.payloadEventId)},${jsonText(c.steamid)},${jsonNumber(c.appid)},${jsonText(c.intent)},${jsonText(c.itemName)},` +
      `${jsonNumber(c.valueRaw)},${jsonNumber(c.listedAt)},${jsonNumber(c.bumpedAt)},`;
    heads[i] = head;
    // UTF-8 takes at most 3 bytes per UTF-16 code unit.
    if (raw) bound += head.length * 3 + (raw.end - raw.start);
    else {
      const body = JSON.stringify(r.payload);
      bodies[i] = body;
      bound += head.length * 3 + body.length * 3;
    }
  }
  const out = take(bound);
  out[0] = JSONB_VERSION;
  out[1] = 0x5b; // [
  let off = 2;
  for (let i = 0; i < n; i++) {
    off += out.write(heads[i] as string, off, 'utf8');
    const raw = (rows[i] as ListingRow).raw;
    off += raw ? raw.frame.copy(out, off, raw.start, raw.end) : out.write(bodies[i] as string, off, 'utf8');
    off += out.write(tails[i] as string, off, 'utf8');
  }
  out[off++] = 0x5d; // ]
  return out.subarray(0, off);
}

function jsonText(v: string | null): string {
  return v === null ? 'null' : JSON.stringify(v);
}

function jsonNumber(v: number | null): string {
  return v === null ? 'null' : String(v);
}

/**
 * Encode the batch (encodeListingBatch) into a reused buffer and run `statement` with the rows of
 * the document as a subquery of columns, `u` in `FROM (…) AS u`: the one reading of the layout that
 * bptf_listings' upsert and bptf_listing_events' insert share.
 */
export async function withListingDocument<T>(rows: readonly ListingRow[], statement: (u: RawBuilder<unknown>) => Promise<T>): Promise<T> {
  let buffer: Buffer | undefined;
  const doc = encodeListingBatch(rows, (size) => (buffer = takeBuffer(size)));
  try {
    return await statement(sql`
      SELECT r ->> 0 AS id, r ->> 1 AS event_id, (r ->> 2)::float8 AS event_time, (r ->> 3)::bool AS deleted,
             r ->> 4 AS payload_event_id, r ->> 5 AS steamid, (r ->> 6)::int AS appid, r ->> 7 AS intent,
             r ->> 8 AS item_name, (r ->> 9)::float8 AS value_raw, (r ->> 10)::float8 AS listed_at,
             (r ->> 11)::float8 AS bumped_at, r -> 12 AS payload, r ->> 13 AS sku,
             (r ->> 14)::numeric AS price_keys, (r ->> 15)::numeric AS price_metal, (r ->> 16)::bool AS automatic,
             (r ->> 17)::bool AS spelled, (r ->> 18)::bool AS quotable
      FROM jsonb_array_elements(${doc}::jsonb) AS r`);
  } finally {
    // The driver has copied the parameter into its message by the time the query settles.
    if (buffer) giveBack(buffer);
  }
}

// Postgres parses the document once; the payload column takes its jsonb value as it is, and
// `currencies` is read from the payload, with the same test as extractListingColumns (a JSON object).
const LISTING_SELECT = `
  SELECT u.id, u.event_id, to_timestamp(u.event_time), CASE WHEN u.deleted THEN to_timestamp(u.event_time) END,
         u.payload_event_id, u.steamid, u.appid, u.intent, u.item_name,
         CASE WHEN jsonb_typeof(u.payload -> 'currencies') = 'object' THEN u.payload -> 'currencies' END,
         u.value_raw, to_timestamp(u.listed_at), to_timestamp(u.bumped_at), u.payload, u.sku,
         u.price_keys, u.price_metal, u.automatic, u.spelled, u.quotable`;

/** Upsert the batch; returns the listings it inserted or changed (not those a newer stored event kept). */
export async function upsertListings<DB extends BptfTables>(db: Kysely<DB>, rows: readonly ListingRow[]): Promise<TableChange[]> {
  const r = await withListingDocument(rows, (u) =>
    sql<{ id: string; t: number }>`
      ${sql.raw(LISTING_INSERT)}
      ${sql.raw(LISTING_SELECT)}
      FROM (${u}) AS u
      ${sql.raw(LISTING_CONFLICT_RULE)}
      RETURNING id, extract(epoch FROM event_time)::float8 * 1000 AS t
    `.execute(db),
  );
  return [{ table: 'bptf_listings', ids: r.rows.map((x) => x.id), eventTimesMs: r.rows.map((x) => x.t) }];
}

/**
 * upsertListings, and the SKUs whose quotes the changed listings touch, each with the newest event
 * time (ms) among them: the SKU a changed listing has now and the one it had before (read in the
 * same statement, before the upsert). A delete that carries only the listing's id keeps the stored
 * payload and SKU, so its SKU is the stored one either way.
 */
export async function upsertListingsTouchingSkus<DB extends BptfTables>(
  db: Kysely<DB>,
  rows: readonly ListingRow[],
): Promise<{ change: TableChange; skus: Map<string, number> }> {
  // The ids travel a second time, as an array of their own: the stored SKUs are read from them, so the
  // document's rows are read once, by the insert. Read from the document, its rows (payloads and all,
  // 2-3 MB a batch) were kept in a tuplestore for the two readers: 3-4 us of Postgres per row.
  const ids = rows.map((r) => r.id);
  const r = await withListingDocument(rows, (u) =>
    sql<{ id: string; t: number; sku: string | null; old_sku: string | null }>`
      WITH
      -- A subquery per id: one primary-key probe each, whatever the planner guesses of the array. A
      -- join with the table here cost 3 times the daemon's Postgres CPU per event (bench: 161 us
      -- against 52 us per event, the upsert alone). Both CTEs read the statement's snapshot, so this
      -- is the SKU before the upsert.
      old AS (SELECT o.id, (SELECT l.sku FROM bptf_listings l WHERE l.id = o.id) AS sku FROM unnest(${ids}::text[]) AS o(id)),
      up AS (
        ${sql.raw(LISTING_INSERT)}
        ${sql.raw(LISTING_SELECT)}
        FROM (${u}) AS u
        ${sql.raw(LISTING_CONFLICT_RULE)}
        RETURNING id, sku, extract(epoch FROM event_time)::float8 * 1000 AS t
      )
      SELECT up.id, up.t, up.sku, old.sku AS old_sku FROM up LEFT JOIN old ON old.id = up.id
    `.execute(db),
  );
  const skus = new Map<string, number>();
  const touch = (sku: string | null, t: number) => {
    if (sku !== null && !(t <= (skus.get(sku) ?? Number.NEGATIVE_INFINITY))) skus.set(sku, t);
  };
  for (const x of r.rows) {
    touch(x.sku, x.t);
    touch(x.old_sku, x.t);
  }
  return { change: { table: 'bptf_listings', ids: r.rows.map((x) => x.id), eventTimesMs: r.rows.map((x) => x.t) }, skus };
}

/**
 * Delete up to `limit` tombstones (deleted listings) whose delete is older than `before`; returns
 * how many. SKIP LOCKED: rows a batch upsert holds are left for the next round, so the purge never
 * waits on ingestion (nor ingestion on it beyond one short statement).
 */
export async function purgeTombstones<DB extends BptfTables>(db: Kysely<DB>, before: Date, limit: number): Promise<number> {
  const r = await sql`
    DELETE FROM bptf_listings WHERE id IN (
      SELECT id FROM bptf_listings WHERE deleted_at < ${before} LIMIT ${limit} FOR UPDATE SKIP LOCKED
    )`.execute(db);
  return Number(r.numAffectedRows ?? 0);
}
