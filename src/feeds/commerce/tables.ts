import type { CoreDatabase, Json, Timestamp } from '../../core/db/schema.js';

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

/** The tables the store feed writes (a type alias: Kysely's withTables needs one, not an interface). */
export type CommerceTables = {
  commerce_events: CommerceEventsTable;
  commerce_entities: CommerceEntitiesTable;
};

/** What `db.withTables<CommerceTables>()` makes of the core's handle: the type this feed's store takes. */
export type CommerceDatabase = CoreDatabase & CommerceTables;
