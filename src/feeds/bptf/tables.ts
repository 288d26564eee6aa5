import type { Json, Timestamp } from '../../core/db/schema.js';

export interface BptfListingsTable {
  id: string;
  event_id: string;
  event_time: Timestamp;
  payload_event_id: string | null;
  steamid: string | null;
  appid: number | null;
  intent: string | null;
  item_name: string | null;
  currencies: Json | null;
  value_raw: number | null;
  listed_at: Timestamp | null;
  bumped_at: Timestamp | null;
  payload: Json;
  deleted_at: Timestamp | null;
  first_seen_at: Timestamp;
  updated_at: Timestamp;
  sku: string | null;
  /** Generated from payload.currencies (numeric: pg returns it as a string). */
  price_keys: string | null;
  price_metal: string | null;
  /** Generated: payload.userAgent present (a bot manages the listing). */
  automatic: boolean;
}

export interface BptfListingEventsTable {
  event_id: string;
  event_time: Timestamp;
  listing_id: string;
  kind: 'update' | 'delete';
  sku: string | null;
  intent: string | null;
  steamid: string | null;
  price_keys: string | null;
  price_metal: string | null;
  value_raw: number | null;
  payload: Json | null;
  received_at: Timestamp;
}

/** The tables the backpack.tf feed writes (a type alias: Kysely's withTables needs one, not an interface). */
export type BptfTables = {
  bptf_listings: BptfListingsTable;
  bptf_listing_events: BptfListingEventsTable;
};
