import type { ColumnType, Generated } from 'kysely';

/** Timestamps are read back as Date and may be written as Date or ISO text. */
type Timestamp = ColumnType<Date, Date | string, Date | string>;
type Json = ColumnType<unknown, string, string>;

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
}

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

export interface CommerceEventsTable {
  dedupe_key: string;
  event: string;
  entity: string;
  action: string;
  entity_id: string;
  occurred_at: Timestamp;
  received_at: Timestamp;
  data: Json;
  changed_fields: Json | null;
}

export interface CommerceEntitiesTable {
  entity: string;
  entity_id: string;
  data: Json;
  last_event: string;
  occurred_at: Timestamp;
  deleted_at: Timestamp | null;
  updated_at: Timestamp;
}

export interface IngestStatusTable {
  source: string;
  instance: string;
  state: string;
  is_leader: boolean;
  connected_since: Timestamp | null;
  last_message_at: Timestamp | null;
  last_event_at: Timestamp | null;
  events_received: ColumnType<string, number, number>;
  events_written: ColumnType<string, number, number>;
  reconnects: ColumnType<string, number, number>;
  last_error: string | null;
  updated_at: Timestamp;
}

export interface IngestRejectsTable {
  id: Generated<string>;
  source: string;
  received_at: Timestamp;
  reason: string;
  raw: string;
}

export interface Database {
  bptf_listings: BptfListingsTable;
  tradepost_events: TradepostEventsTable;
  commerce_events: CommerceEventsTable;
  commerce_entities: CommerceEntitiesTable;
  ingest_status: IngestStatusTable;
  ingest_rejects: IngestRejectsTable;
}
