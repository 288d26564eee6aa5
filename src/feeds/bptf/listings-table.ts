import { safeStringify } from '../../core/ingest/reject.js';
import type { TableSpec } from '../../core/feed.js';
import { rawPayloadText } from './listing-event.js';
import { decodeListingRow, encodeListingRow, mergeListingRows, supersedeListingRows, type ListingRow } from './listing-row.js';
import { listingsCommitted, writeListings } from './quotes.js';
import type { BptfTables } from './tables.js';

/**
 * bptf_listings: one row per listing; events for one listing in a batch merge into one row (newest
 * wins), and a spool replay skips the events a newer full one of their listing, later in the spool,
 * makes moot. With BPTF_QUOTES the quotes of the SKUs a batch touched are recomputed after its commit
 * (quotes.ts, quote-recompute.ts).
 */
export const listingsTable: TableSpec<ListingRow> = {
  name: 'bptf_listings',
  rowKind: 'listing',
  collapse: { key: (r) => r.id, merge: mergeListingRows, supersede: supersedeListingRows },
  write: (db, rows) => writeListings(db.withTables<BptfTables>(), rows),
  committed: listingsCommitted,
  // The payload's bytes as received; a row without them (the JSON.parse path, a spool replay) counts
  // as a typical listing: real ones are 1.5-3 KiB.
  sizeOf: (r) => (r.raw ? r.raw.end - r.raw.start : 2_048),
  encode: encodeListingRow,
  decode: decodeListingRow,
  eventTimeMs: (r) => r.eventTimeMs,
  describe: (r) => r.received?.receivedText() ?? rebuiltEvents(r),
  eventId: (r) => r.eventId,
};

/**
 * A row without its received text (read back from the spool, which keeps the payload's bytes as
 * received but not the rest of the event): its event(s) in backpack.tf's shape, which the parser
 * reads back into the same row. The payload's text is still as received when the row kept it.
 */
function rebuiltEvents(r: ListingRow): string {
  const payload = r.raw ? rawPayloadText(r.raw) : safeStringify(r.payload);
  const event = (id: string, name: string, p: string) => `{"id":${JSON.stringify(id)},"event":"${name}","payload":${p}}`;
  if (r.payloadEventId === null) return event(r.eventId, 'listing-delete', JSON.stringify({ id: r.id }));
  const own = event(r.payloadEventId, r.deleted && r.payloadEventId === r.eventId ? 'listing-delete' : 'listing-update', payload);
  // Merged: the payload of an older event, then an id-only delete.
  return r.payloadEventId === r.eventId ? own : `[${own},${event(r.eventId, 'listing-delete', JSON.stringify({ id: r.id }))}]`;
}
