import { sql, type Kysely } from 'kysely';
import type { CoreDatabase } from '../db/schema.js';
import type { Reject } from './reject.js';

/**
 * Store a batch of rejects. The column list is typed; the rows travel as one array per column
 * (unnest), so the statement has four parameters however large the batch: a VALUES list would need
 * four per row and passes Postgres' 65,535-parameter limit at 16,384 rejects.
 */
export async function insertRejects(db: Kysely<CoreDatabase>, rejects: readonly Reject[]): Promise<void> {
  await db
    .insertInto('ingest_rejects')
    .columns(['source', 'received_at', 'reason', 'raw'])
    .expression(
      sql`SELECT * FROM unnest(${rejects.map((r) => r.source)}::text[],
                               ${rejects.map((r) => new Date(r.receivedAt).toISOString())}::timestamptz[],
                               ${rejects.map((r) => r.reason)}::text[],
                               ${rejects.map((r) => r.raw)}::text[])`,
    )
    .execute();
}
