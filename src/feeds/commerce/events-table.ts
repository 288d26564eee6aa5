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
  // The parsed value and the received text it keeps for a reject.
  sizeOf: (r) => safeStringify(r.data).length + (r.raw?.length ?? 0),
  eventTimeMs: (r) => r.occurredAtMs,
  // The frame as received; a row an older version spooled has only its parsed fields.
  describe: (r) => r.raw ?? safeStringify({ event: r.event, data: r.data }),
  eventId: (r) => r.dedupeKey,
};
