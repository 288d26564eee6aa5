import { sql, type Kysely } from 'kysely';

/**
 * ingest_rejects, stored once and replayable:
 * - `reject_key`: made by the daemon when it first hands a reject to its writer, and carried by every
 *   copy of it (the copy in memory and the one the spool keeps while a write is retried). The insert
 *   skips a key already stored, so a batch that committed and was replayed from the spool as well
 *   leaves one row, not two. Rows stored before this migration keep null (a unique index lets nulls repeat).
 * - `event_id`: the upstream event's id or dedupe key, when one could be read, to find a reject by event.
 * - `replayed_at`: set by `npm run rejects -- replay` when the reject's event was written after all;
 *   the row itself is kept.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE ingest_rejects
      ADD COLUMN reject_key  text,
      ADD COLUMN event_id    text,
      ADD COLUMN replayed_at timestamptz`.execute(db);
  await sql`CREATE UNIQUE INDEX ingest_rejects_reject_key_idx ON ingest_rejects (reject_key)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX ingest_rejects_reject_key_idx`.execute(db);
  await sql`ALTER TABLE ingest_rejects DROP COLUMN replayed_at, DROP COLUMN event_id, DROP COLUMN reject_key`.execute(db);
}
