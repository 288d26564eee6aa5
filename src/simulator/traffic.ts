/**
 * Traffic and fault schedule for `npm run simulate`: drives the three fake upstreams with a
 * steady, realistic event stream and, on request, breaks them the ways production does.
 *
 * Everything runs off one 100 ms tick. Each feed keeps a fractional accumulator so any rate
 * (events per second, may be < 10 or fractional) is met on average without drift.
 *
 * With `examples` on, each new client also gets the records the README's example queries look
 * up (see EXAMPLE_* below and in bptf-events.ts). They go to every new client, not once at start,
 * because the fakes, like the real upstreams, never replay: a daemon started a minute after the
 * simulator would otherwise never see them.
 */
import { randomInt, randomUUID } from 'node:crypto';
import type { BptfEvent } from './bptf-events.js';
import { EXAMPLE_LISTING_INDEXES, isExampleListing, makeListingDelete, makeListingUpdate } from './bptf-events.js';
import type { FakeBptfServer } from './bptf-server.js';
import type { CommerceAction, CommerceEntity, FakeCommerceServer } from './commerce-server.js';
import { makeCommerceEvent } from './commerce-server.js';
import type { FakeTradePostServer, TradePostEventType } from './tradepost-server.js';
import { makeTradePostPayload } from './tradepost-server.js';

/** backpack.tf batches events into one frame per this many ms (the simulator's choice). */
export const BATCH_INTERVAL_MS = 100;
const TICKS_PER_SECOND = 1000 / BATCH_INTERVAL_MS;
/** Share of bptf events that are deletes, and of those, the share sent as `{ id }` only. */
const DELETE_SHARE = 0.1;
const PARTIAL_DELETE_SHARE = 0.3;
/** TradePost conversations interleaved at any time. */
const ACTIVE_CONVERSATIONS = 4;
/** Live store ids per entity beyond which the model only deletes. */
const MAX_LIVE_IDS = 10_000;

/** TradePost conversation the README's "One conversation's messages in order" query looks up. */
export const EXAMPLE_CONVERSATION_ID = '550e8400-e29b-41d4-a716-446655440000';
/**
 * Its messages: an auction (the id's derived reference_type is AUCTION) that is outbid once, won
 * and paid. Fixed, unlike newConversation's random branches, so that replaying it for a new client
 * sends the very same payloads, which tributary's dedupe then stores once.
 */
const EXAMPLE_CONVERSATION_SCRIPT: readonly TradePostEventType[] = [
  'BID_REQUEST', 'BID_OUTBID', 'AUCTION_RESULT', 'TRANSFER_CONFIRMATION_RECEIVED', 'PAYMENT_CHARGED', 'PAYMENT_SETTLED',
];
/** Store order the README's "An order's history" query looks up; the model never deletes it. */
export const EXAMPLE_ORDER_ID = 123;
/**
 * Sent to each new backpack.tf client after the example listings, so `ingest_rejects` (and the
 * README's query on it) has a row to show: an error page, as a misbehaving proxy forwards.
 */
export const EXAMPLE_REJECT_FRAME = '<html><body><h1>502 Bad Gateway</h1></body></html>';

export type Servers = { bptf: FakeBptfServer; tradepost: FakeTradePostServer; commerce: FakeCommerceServer };

export type TrafficOptions = {
  /** backpack.tf events per second. */
  bptfRate: number;
  /** Distinct listing ids the firehose draws from. */
  listings: number;
  /** Fraction (0..1) of bptf frames replaced by garbage or truncated JSON. */
  malformedRate: number;
  /** TradePost messages per second. */
  tradepostRate: number;
  /** Store events per second. */
  commerceRate: number;
  /** Abruptly restart all three servers every this many seconds. */
  restartEverySec?: number;
  /** Make the bptf socket go silent (open, no frames, no pongs) after this many seconds. */
  silentAfterSec?: number;
  /** Expire every store session (close 1008) every this many seconds. */
  expireSessionEverySec?: number;
  /**
   * Send the README's example records to every new client: the example listings and one
   * malformed frame (backpack.tf connection), the example conversation from its first message
   * (TradePost subscription), an event of the example order (store subscription to orders).
   */
  examples: boolean;
};

export type TrafficStats = {
  bptfEvents: number;
  bptfFrames: number;
  malformedFrames: number;
  tradepostMessages: number;
  tradepostDelivered: number;
  commerceEvents: number;
  commerceDelivered: number;
  restarts: number;
  sessionExpiries: number;
};

export type Traffic = { stats: TrafficStats; stop: () => Promise<void> };

/** Emits `rate` units per second on average, as whole units per tick. */
class Pacer {
  private carry = 0;
  private readonly perSecond: number;
  constructor(perSecond: number) {
    this.perSecond = perSecond;
  }
  take(): number {
    this.carry += this.perSecond / TICKS_PER_SECOND;
    const n = Math.floor(this.carry);
    this.carry -= n;
    return n;
  }
}

// -- backpack.tf ------------------------------------------------------------------------

/** `keepExamples`: never delete an example listing, so the README's queries on live listings keep finding it. */
function bptfBatch(count: number, listings: number, seq: { n: number }, keepExamples: boolean): BptfEvent[] {
  const timeSec = Math.floor(Date.now() / 1000);
  const events: BptfEvent[] = [];
  for (let k = 0; k < count; k++) {
    const index = randomInt(0, listings);
    seq.n++;
    if (Math.random() < DELETE_SHARE && !(keepExamples && isExampleListing(index))) {
      events.push(makeListingDelete(index, { timeSec, partial: Math.random() < PARTIAL_DELETE_SHARE, seed: seq.n }));
    } else {
      events.push(makeListingUpdate(index, { timeSec, seed: seq.n }));
    }
  }
  return events;
}

/** A broken frame of one of the kinds a client must survive (and record as a reject). */
function malformedFrame(valid: string): string {
  switch (randomInt(0, 4)) {
    case 0:
      // Truncated mid-frame, as if cut by a buggy proxy.
      return valid.slice(0, Math.max(1, randomInt(1, Math.max(2, valid.length - 1))));
    case 1:
      return '<html><body><h1>502 Bad Gateway</h1></body></html>';
    case 2:
      return '[{"id":"not-an-objectid","event":"listing-update","payload":';
    default:
      // Valid JSON, wrong shape.
      return '{"error":"internal"}';
  }
}

// -- TradePost --------------------------------------------------------------------------

type Conversation = { id: string; script: TradePostEventType[]; step: number };

/** A conversation's message sequence; all share one conversation_id (TradePost conversations carry several messages). */
function newConversation(): Conversation {
  const id = randomUUID();
  const isOffer = makeTradePostPayload('BID_REQUEST', id, 0).reference_type === 'INSTANT_CASH_OFFER';
  let script: TradePostEventType[];
  if (isOffer) {
    script = ['BID_REQUEST', 'INSTANT_CASH_OFFER_STATUS_CHANGE', 'INSTANT_CASH_OFFER_STATUS_CHANGE',
      'TRANSFER_CONFIRMATION_RECEIVED', 'PAYMENT_CHARGED', 'PAYMENT_SETTLED'];
  } else if (Math.random() < 0.5) {
    const outbids: TradePostEventType[] = Array.from({ length: randomInt(0, 3) }, () => 'BID_OUTBID');
    script = ['BID_REQUEST', ...outbids, 'AUCTION_RESULT', 'TRANSFER_CONFIRMATION_RECEIVED', 'PAYMENT_CHARGED',
      Math.random() < 0.8 ? 'PAYMENT_SETTLED' : 'PAYMENT_FAILED'];
  } else {
    script = ['BID_REQUEST', 'CONDITIONAL_BID_APPLIED', 'CONDITIONAL_BID_STATUS_CHANGE', 'BID_OUTBID',
      'CONDITIONAL_BID_EXPIRING_SOON', 'AUCTION_RESULT'];
  }
  return { id, script, step: 0 };
}

function exampleConversation(): Conversation {
  return { id: EXAMPLE_CONVERSATION_ID, script: [...EXAMPLE_CONVERSATION_SCRIPT], step: 0 };
}

// -- store ------------------------------------------------------------------------------

const ENTITIES: readonly CommerceEntity[] = ['order', 'product', 'customer', 'shipment', 'transaction'];

class CommerceModel {
  private nextId = 100;
  /** entity -> live id -> revision count. */
  private readonly live = new Map<CommerceEntity, Map<number, number>>(ENTITIES.map((e) => [e, new Map()]));
  /** Whether the example order has been announced; from then on it is never deleted. */
  private examplePinned = false;

  private idsOf(entity: CommerceEntity): Map<number, number> {
    const ids = this.live.get(entity) ?? new Map<number, number>();
    this.live.set(entity, ids);
    return ids;
  }

  /** The example order's creation the first time, then an update (its next status) each time. */
  example(): { event: string; data: Record<string, unknown> } {
    this.examplePinned = true;
    const ids = this.idsOf('order');
    const revision = ids.get(EXAMPLE_ORDER_ID);
    if (revision === undefined) {
      ids.set(EXAMPLE_ORDER_ID, 0);
      return makeCommerceEvent('order', 'created', EXAMPLE_ORDER_ID, 0);
    }
    ids.set(EXAMPLE_ORDER_ID, revision + 1);
    return makeCommerceEvent('order', 'updated', EXAMPLE_ORDER_ID, revision + 1);
  }

  next(): { event: string; data: Record<string, unknown> } {
    const entity = ENTITIES[randomInt(0, ENTITIES.length)] ?? 'order';
    const ids = this.idsOf(entity);
    const r = Math.random();
    let action: CommerceAction;
    if (ids.size === 0) action = 'created';
    // Keeps the live set bounded on long runs (creates outnumber deletes 3:1).
    else if (ids.size >= MAX_LIVE_IDS) action = 'deleted';
    else action = r < 0.3 ? 'created' : r < 0.9 ? 'updated' : 'deleted';

    if (action === 'created') {
      let id = this.nextId++;
      // The example order may already hold an id the shared counter reaches later.
      while (ids.has(id)) id = this.nextId++;
      ids.set(id, 0);
      return makeCommerceEvent(entity, action, id, 0);
    }
    const keys = [...ids.keys()];
    const id = keys[randomInt(0, keys.length)] ?? 0;
    if (action === 'deleted' && this.examplePinned && entity === 'order' && id === EXAMPLE_ORDER_ID) action = 'updated';
    const revision = (ids.get(id) ?? 0) + (action === 'updated' ? 1 : 0);
    if (action === 'deleted') ids.delete(id);
    else ids.set(id, revision);
    return makeCommerceEvent(entity, action, id, revision);
  }
}

// -- schedule ---------------------------------------------------------------------------

export function startTraffic(servers: Servers, opts: TrafficOptions, log: (line: string) => void): Traffic {
  const stats: TrafficStats = {
    bptfEvents: 0, bptfFrames: 0, malformedFrames: 0, tradepostMessages: 0, tradepostDelivered: 0,
    commerceEvents: 0, commerceDelivered: 0, restarts: 0, sessionExpiries: 0,
  };
  const bptfPacer = new Pacer(opts.bptfRate);
  const tradepostPacer = new Pacer(opts.tradepostRate);
  const commercePacer = new Pacer(opts.commerceRate);
  const bptfSeq = { n: 0 };
  const conversations: Conversation[] = [];
  const commerce = new CommerceModel();
  const timers: NodeJS.Timeout[] = [];
  let restarting: Promise<void> | undefined;

  // Examples: the client counts seen at the last tick (a rise is a new client), and what is owed.
  const seen = { bptfConnections: 0, tradepostSubscriptions: 0, orderSubscribers: 0 };
  const owed = { bptf: false, tradepostFirst: false, commerce: false };
  const noticeNewClients = (): void => {
    const bptfConnections = servers.bptf.totalConnections;
    if (bptfConnections > seen.bptfConnections) owed.bptf = true;
    seen.bptfConnections = bptfConnections;

    const tradepostSubscriptions = servers.tradepost.subscribedCount;
    if (tradepostSubscriptions > seen.tradepostSubscriptions) {
      // Replay the example conversation from its first message, which goes out next.
      const example = conversations.find((c) => c.id === EXAMPLE_CONVERSATION_ID);
      if (example) example.step = 0;
      else conversations.unshift(exampleConversation());
      owed.tradepostFirst = true;
    }
    seen.tradepostSubscriptions = tradepostSubscriptions;

    // Per connection, not per subscribe message: a client subscribes to up to five channels.
    const orderSubscribers = servers.commerce.subscriptions.filter((channels) => channels.includes('order_changes')).length;
    if (orderSubscribers > seen.orderSubscribers) owed.commerce = true;
    seen.orderSubscribers = orderSubscribers;
  };

  const sendBptfExamples = (): void => {
    const timeSec = Math.floor(Date.now() / 1000);
    const events = EXAMPLE_LISTING_INDEXES.map((index) => makeListingUpdate(index, { timeSec, seed: ++bptfSeq.n }));
    // False when nobody is connected or the socket is silenced: stay owed until a client gets them.
    if (!servers.bptf.sendFrame(JSON.stringify(events))) return;
    stats.bptfFrames++;
    stats.bptfEvents += events.length;
    if (servers.bptf.sendFrame(EXAMPLE_REJECT_FRAME)) {
      stats.bptfFrames++;
      stats.malformedFrames++;
    }
    owed.bptf = false;
  };

  const tick = (): void => {
    // Nothing is generated while the servers restart: a real outage loses those events too.
    if (restarting) return;
    if (opts.examples) noticeNewClients();

    if (owed.bptf) sendBptfExamples();
    const bptfCount = bptfPacer.take();
    if (bptfCount > 0) {
      const frame = JSON.stringify(bptfBatch(bptfCount, opts.listings, bptfSeq, opts.examples));
      const broken = Math.random() < opts.malformedRate;
      if (servers.bptf.sendFrame(broken ? malformedFrame(frame) : frame)) {
        stats.bptfFrames++;
        if (broken) stats.malformedFrames++;
        else stats.bptfEvents += bptfCount;
      }
    }

    for (let k = tradepostPacer.take(); k > 0; k--) {
      while (conversations.length < ACTIVE_CONVERSATIONS) conversations.push(newConversation());
      const exampleSlot = owed.tradepostFirst ? conversations.findIndex((c) => c.id === EXAMPLE_CONVERSATION_ID) : -1;
      owed.tradepostFirst = false;
      const slot = exampleSlot >= 0 ? exampleSlot : randomInt(0, conversations.length);
      const conv = conversations[slot];
      const msgType = conv?.script[conv.step];
      if (!conv || !msgType) continue;
      stats.tradepostDelivered += servers.tradepost.publish(msgType, makeTradePostPayload(msgType, conv.id, conv.step));
      stats.tradepostMessages++;
      conv.step++;
      if (conv.step >= conv.script.length) conversations.splice(slot, 1);
    }

    for (let k = commercePacer.take(); k > 0; k--) {
      const { event, data } = owed.commerce ? commerce.example() : commerce.next();
      owed.commerce = false;
      stats.commerceDelivered += servers.commerce.emit(event, data);
      stats.commerceEvents++;
    }
  };
  timers.push(setInterval(tick, BATCH_INTERVAL_MS));

  if (opts.restartEverySec !== undefined && opts.restartEverySec > 0) {
    timers.push(setInterval(() => {
      if (restarting) return;
      log('fault: restarting all servers abruptly');
      restarting = Promise.all([
        servers.bptf.restartAbruptly(),
        servers.tradepost.restartAbruptly(),
        servers.commerce.restartAbruptly(),
      ]).then(
        () => { stats.restarts++; },
        (err: unknown) => log(`fault: restart failed: ${String(err)}`),
      ).finally(() => { restarting = undefined; });
    }, opts.restartEverySec * 1000));
  }

  if (opts.silentAfterSec !== undefined) {
    timers.push(setTimeout(() => {
      log('fault: backpack.tf socket goes silent (no frames, no pongs)');
      servers.bptf.silence(true);
    }, opts.silentAfterSec * 1000));
  }

  if (opts.expireSessionEverySec !== undefined && opts.expireSessionEverySec > 0) {
    timers.push(setInterval(() => {
      log('fault: expiring store sessions (close 1008)');
      servers.commerce.expireSessions();
      stats.sessionExpiries++;
    }, opts.expireSessionEverySec * 1000));
  }

  return {
    stats,
    stop: async () => {
      for (const t of timers) clearTimeout(t);
      await restarting;
    },
  };
}
