import { sql, type Kysely } from 'kysely';

/**
 * ingest_status.events_replayed: events written from a spool an earlier run left (received then, so
 * counted in that run's events_received), kept apart so that events_written counts each event once.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE ingest_status ADD COLUMN events_replayed bigint NOT NULL DEFAULT 0`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE ingest_status DROP COLUMN events_replayed`.execute(db);
}
