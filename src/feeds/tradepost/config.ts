import { z } from 'zod';
import { list, optional, replicas, wsUrl, type ReplicaMode } from '../../core/env-vars.js';
import { defineFeedConfig } from '../../core/feed-config.js';

/**
 * TradePost's settings: `config.feeds.tradepost`. `enabled` is the socket (TRADEPOST_API_KEY set);
 * the webhook is on with its secret, with or without the socket.
 */
export type TradepostSettings = (
  | { readonly enabled: true; readonly apiKey: string; readonly url: string; readonly rooms: readonly string[]; readonly replicas: ReplicaMode }
  | { readonly enabled: false }
) & { readonly webhookSecret: string | undefined };

export const tradepostConfig = defineFeedConfig({
  feed: 'tradepost',
  env: {
    TRADEPOST_API_KEY: optional(z.string().min(1)),
    TRADEPOST_URL: wsUrl.default('wss://platform-api.tradepost.co/ws'),
    TRADEPOST_ROOMS: list.default(['ALL']),
    TRADEPOST_REPLICAS: replicas.default('one'),
    TRADEPOST_WEBHOOK_SECRET: optional(z.string().min(16, 'must be at least 16 characters')),
  },
  settings: (e): TradepostSettings => ({
    ...(e.TRADEPOST_API_KEY
      ? { enabled: true, apiKey: e.TRADEPOST_API_KEY, url: e.TRADEPOST_URL, rooms: e.TRADEPOST_ROOMS, replicas: e.TRADEPOST_REPLICAS }
      : { enabled: false }),
    webhookSecret: e.TRADEPOST_WEBHOOK_SECRET,
  }),
  secrets: (t) => [t.webhookSecret, t.enabled ? t.apiKey : undefined],
});
