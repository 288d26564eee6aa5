import type { FeedDefinition } from '../../core/feed.js';
import { eventsTable } from './events-table.js';
import { parseCommerceFrame, SOURCE } from './parse.js';
import { createCommerceConnector } from './session.js';

/** A store backend's `/ws`: every event in commerce_events, current state in commerce_entities. */
export const commerceFeed: FeedDefinition = {
  source: SOURCE,
  lockId: 3,
  tables: [eventsTable],
  plan(config) {
    const c = config.feeds.commerce;
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
  reparse(raw, { receivedAtMs }) {
    const m = parseCommerceFrame(raw, receivedAtMs);
    if (m.kind === 'event') return { rows: [{ table: eventsTable, rows: [m.row] }] };
    return { reject: m.kind === 'reject' ? m.reject.reason : `"${m.kind}" is a control message, not an event` };
  },
};
