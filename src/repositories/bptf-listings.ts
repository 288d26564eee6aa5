import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { extractListingColumns, type ListingRow } from '../connectors/bptf/listing-row.js';

/**
 * Upsert a batch of listing rows (unique ids, sorted) in one statement. The contract's rule is
 * enforced here, in SQL: the event part (event_id, event_time, deleted_at) moves only when the
 * incoming (event_time, event_id) is greater than the stored one, ids compared in "C" collation;
 * the payload part moves only when the incoming payload's event id is greater than the stored one.
 * So any order, duplication or replica of delivery ends in the same state.
 */
const NEWER_EVENT = sql.raw(`(excluded.event_time, excluded.event_id COLLATE "C") > (t.event_time, t.event_id COLLATE "C")`);
const NEWER_PAYLOAD = sql.raw(
  `(excluded.payload_event_id IS NOT NULL AND (t.payload_event_id IS NULL OR excluded.payload_event_id COLLATE "C" > t.payload_event_id COLLATE "C"))`,
);

export async function upsertListings(db: Kysely<Database>, rows: readonly ListingRow[]): Promise<void> {
  const n = rows.length;
  const id = new Array<string>(n);
  const eventId = new Array<string>(n);
  const eventTime = new Array<number>(n);
  const deleted = new Array<boolean>(n);
  const payloadEventId = new Array<string | null>(n);
  const steamid = new Array<string | null>(n);
  const appid = new Array<number | null>(n);
  const intent = new Array<string | null>(n);
  const itemName = new Array<string | null>(n);
  const currencies = new Array<string | null>(n);
  const valueRaw = new Array<number | null>(n);
  const listedAt = new Array<number | null>(n);
  const bumpedAt = new Array<number | null>(n);
  const payload = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const r = rows[i] as ListingRow;
    const c = extractListingColumns(r.payload);
    id[i] = r.id;
    eventId[i] = r.eventId;
    eventTime[i] = r.eventTimeMs / 1000;
    deleted[i] = r.deleted;
    payloadEventId[i] = r.payloadEventId;
    steamid[i] = c.steamid;
    appid[i] = c.appid;
    intent[i] = c.intent;
    itemName[i] = c.itemName;
    currencies[i] = c.currencies;
    valueRaw[i] = c.valueRaw;
    listedAt[i] = c.listedAt;
    bumpedAt[i] = c.bumpedAt;
    payload[i] = JSON.stringify(r.payload);
  }
  await sql`
    INSERT INTO bptf_listings AS t
      (id, event_id, event_time, deleted_at, payload_event_id, steamid, appid, intent, item_name,
       currencies, value_raw, listed_at, bumped_at, payload)
    SELECT u.id, u.event_id, to_timestamp(u.event_time), CASE WHEN u.deleted THEN to_timestamp(u.event_time) END,
           u.payload_event_id, u.steamid, u.appid, u.intent, u.item_name,
           u.currencies::jsonb, u.value_raw, to_timestamp(u.listed_at), to_timestamp(u.bumped_at), u.payload::jsonb
    FROM unnest(${id}::text[], ${eventId}::text[], ${eventTime}::float8[], ${deleted}::bool[], ${payloadEventId}::text[],
                ${steamid}::text[], ${appid}::int[], ${intent}::text[], ${itemName}::text[], ${currencies}::text[],
                ${valueRaw}::float8[], ${listedAt}::float8[], ${bumpedAt}::float8[], ${payload}::text[])
      AS u(id, event_id, event_time, deleted, payload_event_id, steamid, appid, intent, item_name, currencies,
           value_raw, listed_at, bumped_at, payload)
    ON CONFLICT (id) DO UPDATE SET
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
      updated_at       = now()
    WHERE ${NEWER_EVENT} OR ${NEWER_PAYLOAD}
  `.execute(db);
}
