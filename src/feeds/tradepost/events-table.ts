import { safeStringify } from '../../core/ingest/reject.js';
import type { TableSpec } from '../../core/feed.js';
import type { TradePostRow } from './parse.js';
import { insertTradePostEvents } from './store.js';
import type { TradepostTables } from './tables.js';

/** tradepost_events: every message once. Same key = same message: the first copy is the one stored, so keeping the older is right. */
export const eventsTable: TableSpec<TradePostRow> = {
  name: 'tradepost_events',
  rowKind: 'message',
  collapse: { key: (r) => r.dedupeKey, merge: (older) => older },
  write: async (db, rows) => [await insertTradePostEvents(db.withTables<TradepostTables>(), rows)],
  // A message at a time, a few per second: measuring it is cheap (and safeStringify never throws).
  // The parsed value and the received text it keeps for a reject.
  sizeOf: (r) => safeStringify(r.payload).length + (r.raw?.length ?? 0),
  eventTimeMs: (r) => r.sentAtMs,
  // The message as received; a row an older version spooled has only its parsed fields.
  describe: (r) => r.raw ?? safeStringify({ msg_type: r.msgType, payload: r.payload }),
  eventId: (r) => r.dedupeKey,
};
