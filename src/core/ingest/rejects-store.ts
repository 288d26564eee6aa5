import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { Reject } from './reject.js';

export async function insertRejects(db: Kysely<Database>, rejects: readonly Reject[]): Promise<void> {
  await sql`
    INSERT INTO ingest_rejects (source, received_at, reason, raw)
    SELECT * FROM unnest(${rejects.map((r) => r.source)}::text[],
                         ${rejects.map((r) => new Date(r.receivedAt).toISOString())}::timestamptz[],
                         ${rejects.map((r) => r.reason)}::text[],
                         ${rejects.map((r) => r.raw)}::text[])
  `.execute(db);
}
