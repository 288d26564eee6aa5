import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { TableChange } from '../../core/db/change-notifier.js';
import type { BptfTables } from './tables.js';
import { extractRawColumns, type RawColumns } from './listing-columns.js';
import type { ListingRow } from './listing-row.js';
import { plainInJsonString } from '../../util/json-string.js';

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
 * The other columns are written byte by byte (DocumentWriter), not built as strings first: a row's
 * head and tail as template strings were a third of the daemon's garbage (sampled: 1.7 KB a row of
 * short-lived strings), and its young collections are a third of its CPU.
 *
 * Row layout (the SQL reads columns by position): 0 id, 1 event_id, 2 event_time (Unix s),
 * 3 deleted, 4 payload_event_id, 5 steamid, 6 appid, 7 intent, 8 item_name, 9 value_raw,
 * 10 listed_at (Unix s), 11 bumped_at (Unix s), 12 payload, 13 sku, 14 price_keys, 15 price_metal
 * (JSON numbers as the payload spells them), 16 automatic, 17 spelled, 18 quotable. `currencies` is
 * read from the payload.
 */
export function encodeListingBatch(rows: readonly ListingRow[], take: (bound: number) => Buffer = (n) => Buffer.allocUnsafe(n)): Buffer {
  const n = rows.length;
  const columns = new Array<RawColumns>(n);
  const bodies = new Array<string | undefined>(n);
  let bound = 3; // version byte and the outer brackets
  for (let i = 0; i < n; i++) {
    const r = rows[i] as ListingRow;
    const raw = r.raw;
    const c = raw ? raw.columns : extractRawColumns(r.payload);
    columns[i] = c;
    // A string's characters take at most 6 bytes each (a \u escape); the rest is within ROW_FIXED_BYTES.
    bound +=
      ROW_FIXED_BYTES +
      6 * (r.id.length + r.eventId.length + (r.payloadEventId?.length ?? 0) + (c.steamid?.length ?? 0) + (c.intent?.length ?? 0) +
        (c.itemName?.length ?? 0) + (c.sku?.length ?? 0) + (c.priceKeys?.length ?? 0) + (c.priceMetal?.length ?? 0));
    if (raw) bound += raw.end - raw.start;
    else {
      const body = JSON.stringify(r.payload);
      bodies[i] = body;
      bound += body.length * 3;
    }
  }
  const w = new DocumentWriter(take(bound));
  w.out[0] = JSONB_VERSION;
  w.out[1] = 0x5b; // [
  w.off = 2;
  for (let i = 0; i < n; i++) {
    const r = rows[i] as ListingRow;
    const c = columns[i] as RawColumns;
    w.openRow(i === 0);
    w.string(r.id);
    w.string(r.eventId);
    w.number(r.eventTimeMs / 1000);
    w.bool(r.deleted);
    w.string(r.payloadEventId);
    w.string(c.steamid);
    w.number(c.appid);
    w.string(c.intent);
    w.string(c.itemName);
    w.number(c.valueRaw);
    w.number(c.listedAt);
    w.number(c.bumpedAt);
    const raw = r.raw;
    if (raw) w.copy(raw.frame, raw.start, raw.end);
    else w.utf8(bodies[i] as string);
    w.string(c.sku);
    w.numberText(c.priceKeys);
    w.numberText(c.priceMetal);
    w.bool(c.automatic);
    w.bool(c.spelled);
    w.bool(c.quotable);
    w.closeRow();
  }
  w.out[w.off++] = 0x5d; // ]
  return w.out.subarray(0, w.off);
}

/**
 * A row's bytes besides its strings' characters and its payload: the separators and brackets of 19
 * values (21), 5 numbers of at most 25 characters (String() of a double is at most 24), 4 booleans,
 * and 9 strings' quotes or `null` (the two prices count as strings: their text's length is counted).
 */
const ROW_FIXED_BYTES = 24 + 5 * 25 + 4 * 5 + 9 * 4;

/**
 * JSON text written straight into a buffer sized beforehand (encodeListingBatch's bound): rows of
 * values, each value after the first of its row preceded by a comma.
 */
class DocumentWriter {
  off = 0;
  #first = true;
  constructor(readonly out: Buffer) {}

  /** `[` of a row, after a comma unless it is the document's first. */
  openRow(first: boolean): void {
    if (!first) this.out[this.off++] = 0x2c;
    this.out[this.off++] = 0x5b;
    this.#first = true;
  }

  closeRow(): void {
    this.out[this.off++] = 0x5d;
  }

  bool(v: boolean): void {
    this.#next();
    this.#ascii(v ? 'true' : 'false');
  }

  /** A number's JSON text as the payload spelled it (ASCII), or null. */
  numberText(text: string | null): void {
    this.#next();
    this.#ascii(text ?? 'null');
  }

  /** JSON text of a value (a payload parsed and written again). */
  utf8(s: string): void {
    this.#next();
    this.off += this.out.write(s, this.off, 'utf8');
  }

  /** JSON text of a value as received. */
  copy(from: Buffer, start: number, end: number): void {
    this.#next();
    this.off += from.copy(this.out, this.off, start, end);
  }

  /** A JSON string (or null): byte by byte while it needs no escape, else JSON.stringify's text. */
  string(s: string | null): void {
    this.#next();
    if (s === null) return this.#ascii('null');
    const out = this.out;
    let off = this.off;
    out[off++] = 0x22;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (!plainInJsonString(c)) {
        this.off += this.out.write(JSON.stringify(s), this.off, 'utf8');
        return;
      }
      out[off++] = c;
    }
    out[off++] = 0x22;
    this.off = off;
  }

  /** A finite number (or null) as String() spells it: digits by hand for a whole number below 2^31 (times, appids), the common case. */
  number(v: number | null): void {
    this.#next();
    if (v === null) return this.#ascii('null');
    if ((v | 0) !== v || v < 0 || Object.is(v, -0)) return this.#ascii(String(v));
    let digits = 1;
    for (let x = v; x >= 10; x = (x / 10) | 0) digits++;
    const out = this.out;
    let x = v;
    for (let k = this.off + digits - 1; k >= this.off; k--) {
      out[k] = 0x30 + (x % 10);
      x = (x / 10) | 0;
    }
    this.off += digits;
  }

  /** The comma before a value, but the row's first. */
  #next(): void {
    if (this.#first) this.#first = false;
    else this.out[this.off++] = 0x2c;
  }

  /** Text of ASCII characters only (literals, a number's text). */
  #ascii(s: string): void {
    const out = this.out;
    let off = this.off;
    for (let i = 0; i < s.length; i++) out[off++] = s.charCodeAt(i);
    this.off = off;
  }
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
  // 2-3 MB a batch) were kept in a tuplestore for the two readers: 3-4 us of Postgres per row. The
  // array is JSON text: the driver's text[] literal escaped each id apart (0.45 KB of garbage an id).
  const ids = JSON.stringify(rows.map((r) => r.id));
  const r = await withListingDocument(rows, (u) =>
    sql<{ id: string; t: number; sku: string | null; old_sku: string | null }>`
      WITH
      -- A subquery per id: one primary-key probe each, whatever the planner guesses of the array. A
      -- join with the table here cost 3 times the daemon's Postgres CPU per event (bench: 161 us
      -- against 52 us per event, the upsert alone). Both CTEs read the statement's snapshot, so this
      -- is the SKU before the upsert.
      old AS (SELECT o.id, (SELECT l.sku FROM bptf_listings l WHERE l.id = o.id) AS sku FROM json_array_elements_text(${ids}::json) AS o(id)),
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
