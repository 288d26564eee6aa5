import type { FeedDefinition } from '../../core/feed.js';
import { eventsTable } from './events-table.js';
import { SOURCE } from './parse.js';
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
    const t = config.tradepost;
    const secret = config.webhookSecret;
    if (!t.enabled && secret === undefined) return undefined;
    return {
      replicas: t.enabled ? t.replicas : 'all',
      connect: t.enabled ? (ctx) => createTradePostConnector({ url: t.url, apiKey: t.apiKey, rooms: t.rooms }, ctx) : undefined,
      routes: secret === undefined ? undefined : (ctx) => [tradePostWebhookRoute({ secret, ctx })],
    };
  },
};
