import { sql, type Kysely } from 'kysely';

/** ingest_status.last_error_at: when last_error was set (it clears, with its time, when its cause does). */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE ingest_status ADD COLUMN last_error_at timestamptz`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE ingest_status DROP COLUMN last_error_at`.execute(db);
}
