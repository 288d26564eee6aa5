import { safeStringify } from '../../core/ingest/reject.js';
import type { TableSpec } from '../../core/feed.js';
import type { CommerceEventRow } from './parse.js';
import { writeCommerceEvents } from './store.js';
import type { CommerceTables } from './tables.js';

/** commerce_events and, in the same transaction, commerce_entities. */
export const eventsTable: TableSpec<CommerceEventRow> = {
  name: 'commerce_events',
  rowKind: 'event',
  // One batch at a time: entity upserts run in rounds, and two batches interleaving rounds over the
  // same entities could deadlock (retried, but wasted). The feed is low-volume.
  maxInFlight: 1,
  collapse: { key: (r) => r.dedupeKey, merge: (older) => older },
  write: async (db, rows) => (await writeCommerceEvents(db.withTables<CommerceTables>(), rows)).changes,
  // An event at a time, a few per second: measuring it is cheap (and safeStringify never throws).
  sizeOf: (r) => safeStringify(r.data).length,
  eventTimeMs: (r) => r.occurredAtMs,
  describe: (r) => safeStringify({ event: r.event, data: r.data }),
};
