import type { CoreDatabase, Json, Timestamp } from '../../core/db/schema.js';

export interface TradepostEventsTable {
  dedupe_key: string;
  conversation_id: string | null;
  msg_type: string;
  msg_id: string | null;
  sent_at: Timestamp | null;
  received_at: Timestamp;
  via: string;
  reference_type: string | null;
  reference_id: string | null;
  asset_type: string | null;
  payload: Json;
}

/** The tables the TradePost feed writes (its view, tradepost_conversations, is read-only) (a type alias: Kysely's withTables needs one, not an interface). */
export type TradepostTables = {
  tradepost_events: TradepostEventsTable;
};

/** What `db.withTables<TradepostTables>()` makes of the core's handle: the type this feed's store takes. */
export type TradepostDatabase = CoreDatabase & TradepostTables;
