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
  /** Generated: payload.item.spells non-empty. */
  spelled: boolean;
  /** Generated: the listing's own part of a quote's eligibility (migration 2026_12_08_002). */
  quotable: boolean;
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

/** numeric columns: pg returns them as strings. */
export interface BptfQuotesTable {
  sku: string;
  buy_ref: string | null;
  buy_listing_id: string | null;
  buy_count: number;
  sell_ref: string | null;
  sell_listing_id: string | null;
  sell_count: number;
  bot_buy_ref: string | null;
  bot_sell_ref: string | null;
  key_rate_ref: string | null;
  changed_at: Timestamp;
  updated_at: Timestamp;
}

export interface BptfQuoteHistoryTable {
  sku: string;
  at: Timestamp;
  buy_ref: string | null;
  sell_ref: string | null;
  bot_buy_ref: string | null;
  bot_sell_ref: string | null;
  buy_count: number;
  sell_count: number;
}

export interface BptfKeyRateTable {
  ref: string;
  source: 'stream' | 'manual';
  updated_at: Timestamp;
  pending_ref: string | null;
  pending_since: Timestamp | null;
  swept_ref: string | null;
}

export interface BptfBlockedSteamidsTable {
  steamid: string;
  reason: string | null;
  added_at: Timestamp;
}

/** The tables the backpack.tf feed writes (a type alias: Kysely's withTables needs one, not an interface). */
export type BptfTables = {
  bptf_listings: BptfListingsTable;
  bptf_listing_events: BptfListingEventsTable;
  bptf_quotes: BptfQuotesTable;
  bptf_quote_history: BptfQuoteHistoryTable;
  bptf_key_rate: BptfKeyRateTable;
  bptf_blocked_steamids: BptfBlockedSteamidsTable;
  bptf_quote_blocklist_applied: { steamid: string };
};
