import type { FeedDefinition } from '../../core/feed.js';
import { eventsTable } from './events-table.js';
import { parseTradePostFrame, SOURCE } from './parse.js';
import { createTradePostConnector } from './session.js';
import { tradePostWebhookRoute } from './webhook.js';

/**
 * TradePost TPX: the socket when TRADEPOST_API_KEY is set, the webhook (POST /webhooks/tradepost)
 * when TRADEPOST_WEBHOOK_SECRET is; either, both or neither. Both paths store into tradepost_events,
 * deduplicated by message.
 */
export const tradepostFeed: FeedDefinition = {
  source: SOURCE,
  lockId: 2,
  tables: [eventsTable],
  plan(config) {
    const t = config.feeds.tradepost;
    const secret = t.webhookSecret;
    if (!t.enabled && secret === undefined) return undefined;
    return {
      replicas: t.enabled ? t.replicas : 'all',
      connect: t.enabled ? (ctx) => createTradePostConnector({ url: t.url, apiKey: t.apiKey, rooms: t.rooms }, ctx) : undefined,
      routes: secret === undefined ? undefined : (ctx) => [tradePostWebhookRoute({ secret, ctx })],
    };
  },
  // A socket frame or a webhook body: both are one TPX message (sent_at's unit is told by its size).
  reparse(raw, { receivedAtMs }) {
    const m = parseTradePostFrame(raw, receivedAtMs);
    if (m.kind === 'event') return { rows: [{ table: eventsTable, rows: [m.row] }] };
    return { reject: m.kind === 'reject' ? m.reject.reason : `"${m.kind}" is a control message, not an event` };
  },
};
