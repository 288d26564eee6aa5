import type { Kysely } from 'kysely';
import type { Logger } from '../../logger.js';
import type { CoreDatabase } from '../db/schema.js';
import type { BatchWriter } from '../writer/batch-writer.js';
import type { WriterPool } from '../writer/writer-pool.js';
import type { StoredReject } from './reject.js';
import { insertRejects } from './rejects-store.js';

/** The ingest_rejects writer every feed's context shares. */
export function createRejectsWriter(writers: WriterPool, db: Kysely<CoreDatabase>, logger: Logger): BatchWriter<StoredReject> {
  return writers.create<StoredReject>('rejects', {
    name: 'ingest_rejects',
    sizeOf: (r) => r.raw.length + r.reason.length,
    // Two copies of one reject in a batch (the spool's and memory's) are one row; the insert skips
    // a key committed before. Keys are unique per reject, so nothing else is merged.
    collapse: { key: (r) => r.key, merge: (older) => older },
    write: (rows) => insertRejects(db, rows),
    // A reject that itself cannot be stored is logged (its raw text is already sanitised; a last resort).
    onBadRow: (row, err) => logger.error({ err, source: row.source, reason: row.reason }, 'could not store a reject'),
  });
}
