import { sql, type Kysely } from 'kysely';

/**
 * ingest_gaps: the windows in which a feed delivered nothing because no replica held a working
 * connection, from the last frame before to the first frame after (open while it lasts). Upstreams
 * never replay, so these are the windows whose data may be incomplete. One row per gap and source,
 * whichever replica records it; the index serves "gaps of a source in a period" and the open ones.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE ingest_gaps (
      id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      source     text NOT NULL,
      started_at timestamptz NOT NULL,
      ended_at   timestamptz,
      reason     text NOT NULL,
      instance   text NOT NULL
    )`.execute(db);
  await sql`CREATE INDEX ingest_gaps_source_started_idx ON ingest_gaps (source, started_at)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE ingest_gaps`.execute(db);
}
