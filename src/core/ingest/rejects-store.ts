import { sql, type Kysely } from 'kysely';
import type { CoreDatabase } from '../db/schema.js';
import type { StoredReject } from './reject.js';

/**
 * Store a batch of rejects, each once: a reject whose key is already stored (its batch committed,
 * and the spool's copy of it is written again) is skipped. The column list is typed; the rows travel
 * as one array per column (unnest), so the statement has six parameters however large the batch: a
 * VALUES list would need six per row and passes Postgres' 65,535-parameter limit at 10,923 rejects.
 */
export async function insertRejects(db: Kysely<CoreDatabase>, rejects: readonly StoredReject[]): Promise<void> {
  await db
    .insertInto('ingest_rejects')
    .columns(['source', 'received_at', 'reason', 'raw', 'event_id', 'reject_key'])
    .expression(
      sql`SELECT * FROM unnest(${rejects.map((r) => r.source)}::text[],
                               ${rejects.map((r) => new Date(r.receivedAt).toISOString())}::timestamptz[],
                               ${rejects.map((r) => r.reason)}::text[],
                               ${rejects.map((r) => r.raw)}::text[],
                               ${rejects.map((r) => r.eventId ?? null)}::text[],
                               ${rejects.map((r) => r.key ?? null)}::text[])`,
    )
    // Rows of an older spool have no key (null): inserted as before, as nulls never conflict.
    .onConflict((oc) => oc.column('reject_key').doNothing())
    .execute();
}
