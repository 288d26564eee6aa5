/**
 * Traffic and fault schedule for `npm run simulate`: drives the three fake upstreams with a
 * steady, realistic event stream and, on request, breaks them the ways production does.
 *
 * Everything runs off one 100 ms tick. Each feed keeps a fractional accumulator so any rate
 * (events per second, may be < 10 or fractional) is met on average without drift.
 */
import { randomInt, randomUUID } from 'node:crypto';
import type { BptfEvent } from './bptf-events.js';
import { makeListingDelete, makeListingUpdate } from './bptf-events.js';
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

function bptfBatch(count: number, listings: number, seq: { n: number }): BptfEvent[] {
  const timeSec = Math.floor(Date.now() / 1000);
  const events: BptfEvent[] = [];
  for (let k = 0; k < count; k++) {
    const index = randomInt(0, listings);
    seq.n++;
    if (Math.random() < DELETE_SHARE) {
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

// -- store ------------------------------------------------------------------------------

const ENTITIES: readonly CommerceEntity[] = ['order', 'product', 'customer', 'shipment', 'transaction'];

class CommerceModel {
  private nextId = 100;
  /** entity -> live id -> revision count. */
  private readonly live = new Map<CommerceEntity, Map<number, number>>(ENTITIES.map((e) => [e, new Map()]));

  next(): { event: string; data: Record<string, unknown> } {
    const entity = ENTITIES[randomInt(0, ENTITIES.length)] ?? 'order';
    const ids = this.live.get(entity) ?? new Map<number, number>();
    this.live.set(entity, ids);
    const r = Math.random();
    let action: CommerceAction;
    if (ids.size === 0) action = 'created';
    // Keeps the live set bounded on long runs (creates outnumber deletes 3:1).
    else if (ids.size >= MAX_LIVE_IDS) action = 'deleted';
    else action = r < 0.3 ? 'created' : r < 0.9 ? 'updated' : 'deleted';

    if (action === 'created') {
      const id = this.nextId++;
      ids.set(id, 0);
      return makeCommerceEvent(entity, action, id, 0);
    }
    const keys = [...ids.keys()];
    const id = keys[randomInt(0, keys.length)] ?? 0;
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

  const tick = (): void => {
    // Nothing is generated while the servers restart: a real outage loses those events too.
    if (restarting) return;

    const bptfCount = bptfPacer.take();
    if (bptfCount > 0) {
      const frame = JSON.stringify(bptfBatch(bptfCount, opts.listings, bptfSeq));
      const broken = Math.random() < opts.malformedRate;
      if (servers.bptf.sendFrame(broken ? malformedFrame(frame) : frame)) {
        stats.bptfFrames++;
        if (broken) stats.malformedFrames++;
        else stats.bptfEvents += bptfCount;
      }
    }

    for (let k = tradepostPacer.take(); k > 0; k--) {
      while (conversations.length < ACTIVE_CONVERSATIONS) conversations.push(newConversation());
      const slot = randomInt(0, conversations.length);
      const conv = conversations[slot];
      const msgType = conv?.script[conv.step];
      if (!conv || !msgType) continue;
      stats.tradepostDelivered += servers.tradepost.publish(msgType, makeTradePostPayload(msgType, conv.id, conv.step));
      stats.tradepostMessages++;
      conv.step++;
      if (conv.step >= conv.script.length) conversations.splice(slot, 1);
    }

    for (let k = commercePacer.take(); k > 0; k--) {
      const { event, data } = commerce.next();
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
