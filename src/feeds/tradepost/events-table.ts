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
  sizeOf: (r) => safeStringify(r.payload).length,
  eventTimeMs: (r) => r.sentAtMs,
  describe: (r) => safeStringify({ msg_type: r.msgType, payload: r.payload }),
};
