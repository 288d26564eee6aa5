import { safeStringify } from '../../core/ingest/reject.js';
import type { TableSpec } from '../../core/feed.js';
import { decodeListingRow, encodeListingRow, mergeListingRows, type ListingRow } from './listing-row.js';
import { upsertListings } from './store.js';
import type { BptfTables } from './tables.js';

/** bptf_listings: one row per listing; events for one listing in a batch merge into one row (newest wins). */
export const listingsTable: TableSpec<ListingRow> = {
  name: 'bptf_listings',
  rowKind: 'listing',
  collapse: { key: (r) => r.id, merge: mergeListingRows },
  write: (db, rows) => upsertListings(db.withTables<BptfTables>(), rows),
  // The payload's bytes as received; a row without them (the JSON.parse path, a spool replay) counts
  // as a typical listing: real ones are 1.5-3 KiB.
  sizeOf: (r) => (r.raw ? r.raw.end - r.raw.start : 2_048),
  encode: encodeListingRow,
  decode: decodeListingRow,
  eventTimeMs: (r) => r.eventTimeMs,
  describe: (r) => safeStringify(r.payload),
};
