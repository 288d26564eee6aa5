import { z } from 'zod';
import { httpUrl, list, optional, replicas, urlPassword, wsUrl, type ReplicaMode } from '../../core/env-vars.js';
import { defineFeedConfig } from '../../core/feed-config.js';
import { ConfigError } from '../../errors.js';

/** The store feed's settings: `config.feeds.commerce`, enabled when COMMERCE_WS_URL is set. */
export type CommerceSettings =
  | {
      readonly enabled: true;
      readonly wsUrl: string;
      readonly loginUrl: string | undefined;
      readonly username: string | undefined;
      readonly password: string | undefined;
      readonly loginFields: readonly [string, string];
      readonly cookie: string | undefined;
      readonly channels: readonly string[];
      readonly replicas: ReplicaMode;
    }
  | { readonly enabled: false };

export const commerceConfig = defineFeedConfig({
  feed: 'commerce',
  env: {
    COMMERCE_WS_URL: optional(wsUrl),
    COMMERCE_LOGIN_URL: optional(httpUrl),
    COMMERCE_USERNAME: optional(z.string()),
    COMMERCE_PASSWORD: optional(z.string()),
    COMMERCE_LOGIN_FIELDS: list.refine((xs) => xs.length === 2, 'must be two field names, e.g. email,password').default(['email', 'password']),
    COMMERCE_COOKIE: optional(z.string()),
    COMMERCE_CHANNELS: list.default(['order_changes', 'product_changes', 'customer_changes', 'shipment_changes', 'transaction_changes']),
    COMMERCE_REPLICAS: replicas.default('one'),
  },
  settings(e): CommerceSettings {
    if (!e.COMMERCE_WS_URL) return { enabled: false };
    // Without a ready cookie the session logs in, so the login must be complete: found now, in one
    // line, rather than as an endless reconnect loop.
    if (!e.COMMERCE_COOKIE) {
      if (!e.COMMERCE_LOGIN_URL) {
        throw new ConfigError('invalid configuration: COMMERCE_LOGIN_URL is required when COMMERCE_WS_URL is set without COMMERCE_COOKIE');
      }
      if (e.COMMERCE_USERNAME === undefined || e.COMMERCE_PASSWORD === undefined) {
        throw new ConfigError('invalid configuration: COMMERCE_USERNAME and COMMERCE_PASSWORD are required with COMMERCE_LOGIN_URL');
      }
    }
    const [userField, passwordField] = e.COMMERCE_LOGIN_FIELDS;
    return {
      enabled: true,
      wsUrl: e.COMMERCE_WS_URL,
      loginUrl: e.COMMERCE_LOGIN_URL,
      username: e.COMMERCE_USERNAME,
      password: e.COMMERCE_PASSWORD,
      loginFields: [userField ?? 'email', passwordField ?? 'password'],
      cookie: e.COMMERCE_COOKIE,
      channels: e.COMMERCE_CHANNELS,
      replicas: e.COMMERCE_REPLICAS,
    };
  },
  // The password, the cookie, and a password written into the login URL.
  secrets: (c) => (c.enabled ? [c.password, c.cookie, urlPassword(c.loginUrl)] : []),
});
