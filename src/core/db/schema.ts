import type { ColumnType, Generated } from 'kysely';

/** Timestamps are read back as Date and may be written as Date or ISO text. */
export type Timestamp = ColumnType<Date, Date | string, Date | string>;
/** JSON columns: written as JSON text, read back parsed. */
export type Json = ColumnType<unknown, string, string>;

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
  events_replayed: ColumnType<string, number | undefined, number>;
  reconnects: ColumnType<string, number, number>;
  last_error: string | null;
  last_error_at: Timestamp | null;
  updated_at: Timestamp;
}

export interface IngestRejectsTable {
  id: Generated<string>;
  source: string;
  received_at: Timestamp;
  reason: string;
  raw: string;
  /** Made by the daemon, once per reject: its copies (memory, spool) are stored once. Null on rows from before it. */
  reject_key: ColumnType<string | null, string | null | undefined, string | null>;
  /** The upstream event's id or dedupe key, when one could be read. */
  event_id: ColumnType<string | null, string | null | undefined, string | null>;
  /** When `npm run rejects -- replay` wrote the event after all; null while it has not been. */
  replayed_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export interface IngestGapsTable {
  id: Generated<string>;
  source: string;
  started_at: Timestamp;
  ended_at: Timestamp | null;
  reason: string;
  instance: string;
}

/**
 * The tables the core writes. Each feed declares its own in its folder (`tables.ts`) and reaches
 * them with `db.withTables<…>()`, so this file never names a feed.
 */
export interface CoreDatabase {
  ingest_status: IngestStatusTable;
  ingest_rejects: IngestRejectsTable;
  ingest_gaps: IngestGapsTable;
}
