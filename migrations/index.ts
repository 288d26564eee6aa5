import type { Migration } from 'kysely';
import * as initial from './2026_11_23_001_initial.js';
import * as payloadLz4 from './2026_12_01_001_payload_lz4.js';
import * as skuPrices from './2026_12_01_002_sku_prices.js';
import * as ingestGaps from './2026_12_01_003_ingest_gaps.js';
import * as listingEvents from './2026_12_01_004_listing_events.js';
import * as ingestRejectsReplay from './2026_12_02_001_ingest_rejects_replay.js';
import * as eventsReplayed from './2026_12_07_001_events_replayed.js';
import * as lastErrorAt from './2026_12_07_002_last_error_at.js';
import * as quotes from './2026_12_08_001_quotes.js';
import * as listingQuotable from './2026_12_08_002_listing_quotable.js';
import * as listingColumnsFromWriter from './2026_12_08_003_listing_columns_from_writer.js';
import * as listingEventPricesFromWriter from './2026_12_08_004_listing_event_prices_from_writer.js';
import * as listingEventsLz4 from './2026_12_08_005_listing_events_lz4.js';

/**
 * Every migration, by name, in the order they apply. Listed in code (not read from the folder at run
 * time) so that the same list works from TypeScript sources in tests and from the compiled image.
 * Add a new file with a later date prefix and list it here.
 */
export const migrations: Record<string, Migration> = {
  '2026_11_23_001_initial': initial,
  '2026_12_01_001_payload_lz4': payloadLz4,
  '2026_12_01_002_sku_prices': skuPrices,
  '2026_12_01_003_ingest_gaps': ingestGaps,
  '2026_12_01_004_listing_events': listingEvents,
  '2026_12_02_001_ingest_rejects_replay': ingestRejectsReplay,
  '2026_12_07_001_events_replayed': eventsReplayed,
  '2026_12_07_002_last_error_at': lastErrorAt,
  '2026_12_08_001_quotes': quotes,
  '2026_12_08_002_listing_quotable': listingQuotable,
  '2026_12_08_003_listing_columns_from_writer': listingColumnsFromWriter,
  '2026_12_08_004_listing_event_prices_from_writer': listingEventPricesFromWriter,
  '2026_12_08_005_listing_events_lz4': listingEventsLz4,
};
