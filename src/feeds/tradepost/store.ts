import { sql, type Kysely } from 'kysely';
import type { TableChange } from '../../core/db/change-notifier.js';
import type { TradePostRow } from './parse.js';
import type { TradepostDatabase } from './tables.js';

/**
 * Insert TradePost messages in one statement; a message already stored (same dedupe_key: a
 * reconnect, another replica, the webhook copy) is skipped. The first copy stored wins, so its
 * `via`, `msg_id` and `sent_at` are the ones kept. Returns the rows that were new.
 */
export async function insertTradePostEvents(db: Kysely<TradepostDatabase>, rows: readonly TradePostRow[]): Promise<TableChange> {
  if (rows.length === 0) return { table: 'tradepost_events', ids: [], eventTimesMs: [] };
  const n = rows.length;
  const dedupeKey = new Array<string>(n);
  const conversationId = new Array<string | null>(n);
  const msgType = new Array<string>(n);
  const msgId = new Array<string | null>(n);
  const sentAt = new Array<number | null>(n);
  const receivedAt = new Array<number>(n);
  const via = new Array<string>(n);
  const referenceType = new Array<string | null>(n);
  const referenceId = new Array<string | null>(n);
  const assetType = new Array<string | null>(n);
  const payload = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const r = rows[i] as TradePostRow;
    dedupeKey[i] = r.dedupeKey;
    conversationId[i] = r.conversationId;
    msgType[i] = r.msgType;
    msgId[i] = r.msgId;
    // to_timestamp() takes seconds.
    sentAt[i] = r.sentAtMs === null ? null : r.sentAtMs / 1000;
    receivedAt[i] = r.receivedAtMs / 1000;
    via[i] = r.via;
    referenceType[i] = r.referenceType;
    referenceId[i] = r.referenceId;
    assetType[i] = r.assetType;
    payload[i] = JSON.stringify(r.payload);
  }
  // Typed columns; the rows travel as one array per column (unnest): eleven parameters however large
  // the batch, where a VALUES list would pass Postgres' 65,535-parameter limit at 5,958 rows.
  const result = await db
    .insertInto('tradepost_events')
    .columns(['dedupe_key', 'conversation_id', 'msg_type', 'msg_id', 'sent_at', 'received_at', 'via', 'reference_type', 'reference_id', 'asset_type', 'payload'])
    .expression(
      sql`SELECT u.dedupe_key, u.conversation_id, u.msg_type, u.msg_id, to_timestamp(u.sent_at), to_timestamp(u.received_at), u.via,
                 u.reference_type, u.reference_id, u.asset_type, u.payload::jsonb
          FROM unnest(${dedupeKey}::text[], ${conversationId}::text[], ${msgType}::text[], ${msgId}::text[], ${sentAt}::float8[],
                      ${receivedAt}::float8[], ${via}::text[], ${referenceType}::text[], ${referenceId}::text[], ${assetType}::text[],
                      ${payload}::text[])
            AS u(dedupe_key, conversation_id, msg_type, msg_id, sent_at, received_at, via, reference_type, reference_id, asset_type, payload)`,
    )
    .onConflict((oc) => oc.column('dedupe_key').doNothing())
    .returning(['dedupe_key', sql<number | null>`extract(epoch FROM sent_at)::float8 * 1000`.as('t')])
    .execute();
  return { table: 'tradepost_events', ids: result.map((r) => r.dedupe_key), eventTimesMs: result.map((r) => r.t) };
}
