import type { FeedDefinition } from '../../core/feed.js';
import { eventsTable } from './events-table.js';
import { SOURCE } from './parse.js';
import { createCommerceConnector } from './session.js';

/** A store backend's `/ws`: every event in commerce_events, current state in commerce_entities. */
export const commerceFeed: FeedDefinition = {
  source: SOURCE,
  lockId: 3,
  tables: [eventsTable],
  plan(config) {
    const c = config.commerce;
    if (!c.enabled) return undefined;
    const login =
      c.cookie === undefined && c.loginUrl !== undefined && c.username !== undefined && c.password !== undefined
        ? { url: c.loginUrl, username: c.username, password: c.password, fields: c.loginFields }
        : undefined;
    return {
      replicas: c.replicas,
      connect: (ctx) => createCommerceConnector({ wsUrl: c.wsUrl, cookie: c.cookie, login, channels: c.channels }, ctx),
    };
  },
};
