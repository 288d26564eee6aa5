import { describe, expect, it } from 'vitest';
import { epochMs, parseTradePostFrame, parseTradePostWebhook, type TradePostRow } from '../../src/feeds/tradepost/parse.js';
import { makeTradePostPayload, makeWebhookBody } from '../../src/simulator/tradepost-server.js';
import { canonicalJson, sha256Hex } from '../../src/util/canonical-json.js';

const RECEIVED = 1_767_000_000_000;
const CONV = '550e8400-e29b-41d4-a716-446655440000';

/** The BID_REQUEST example of TradePost's TPX documentation, verbatim. */
const SEED_BID_REQUEST = `{
"msg_type": "BID_REQUEST",
"sent_at": 1704067200000,
"payload": {
"conversation_id": "550e8400-e29b-41d4-a716-446655440000",
"reference_type": "INSTANT_CASH_OFFER",
"reference_id": "ico_456",
"asset_type": "TICKET",
"external_ids": { "SEATGEEK": "17346315", "TICKETMASTER": "vvG1YZ4bJalaRJ" },
"asset_details": { "id": "3b9a0f8e-b6c8-4f79-89a5-2ed522bf9740", "event_name": "Taylor Swift - The Eras Tour" },
"item_details": { "key_id": "a1b2c3d4", "seat_numbers": ["1", "2"], "quantity": 2 }
}
}`;

function eventRow(m: ReturnType<typeof parseTradePostFrame>): TradePostRow {
  if (m.kind !== 'event') throw new Error(`expected an event, got ${m.kind}`);
  return m.row;
}

describe('parseTradePostFrame: control messages', () => {
  it('reads authenticated, subscribed, ping, pong', () => {
    expect(parseTradePostFrame('{"msg_type":"authenticated","sent_at":1704067200000,"payload":{"account_id":"1fdf89c2","auth_method":"api_key"}}')).toEqual({
      kind: 'authenticated',
      accountId: '1fdf89c2',
    });
    expect(parseTradePostFrame('{"msg_type":"subscribed","sent_at":1704067200000,"payload":{"rooms":["BID_REQUEST","AUCTION_RESULT"]}}')).toEqual({
      kind: 'subscribed',
      rooms: ['BID_REQUEST', 'AUCTION_RESULT'],
    });
    expect(parseTradePostFrame('{"msg_type":"subscribed"}')).toEqual({ kind: 'subscribed', rooms: [] });
    expect(parseTradePostFrame(Buffer.from('{"msg_type":"ping","sent_at":1704067200000}'))).toEqual({ kind: 'ping' });
    expect(parseTradePostFrame('{"msg_type":"pong"}')).toEqual({ kind: 'pong' });
  });

  it('reads error code and message', () => {
    expect(parseTradePostFrame('{"msg_type":"error","sent_at":1704067200000,"payload":{"error":"Invalid API key","code":"AUTH_INVALID_API_KEY"}}')).toEqual({
      kind: 'error',
      code: 'AUTH_INVALID_API_KEY',
      message: 'Invalid API key',
    });
    expect(parseTradePostFrame('{"msg_type":"error"}')).toEqual({ kind: 'error', code: 'UNKNOWN', message: '' });
  });
});

describe('parseTradePostFrame: events', () => {
  it('turns the documented BID_REQUEST example into a row (sent_at in ms)', () => {
    const row = eventRow(parseTradePostFrame(SEED_BID_REQUEST, RECEIVED));
    const payload = (JSON.parse(SEED_BID_REQUEST) as { payload: Record<string, unknown> }).payload;
    expect(row).toEqual({
      dedupeKey: `${CONV}:BID_REQUEST:${sha256Hex(canonicalJson(payload))}`,
      conversationId: CONV,
      msgType: 'BID_REQUEST',
      msgId: null,
      sentAtMs: 1_704_067_200_000,
      receivedAtMs: RECEIVED,
      via: 'websocket',
      referenceType: 'INSTANT_CASH_OFFER',
      referenceId: 'ico_456',
      assetType: 'TICKET',
      payload,
      // The frame as received: what a reject of this row stores.
      raw: SEED_BID_REQUEST,
    });
  });

  it('keeps an unknown msg_type as an event, and an event without conversation_id with an empty key prefix', () => {
    const row = eventRow(parseTradePostFrame('{"msg_type":"NEW_KIND","payload":{"x":1}}', RECEIVED));
    expect(row.msgType).toBe('NEW_KIND');
    expect(row.conversationId).toBeNull();
    expect(row.sentAtMs).toBeNull();
    expect(row.dedupeKey).toBe(`:NEW_KIND:${sha256Hex('{"x":1}')}`);
  });

  it('rejects malformed frames without throwing', () => {
    const cases: Array<[string, RegExp]> = [
      ['{"msg_type": ', /invalid JSON/],
      ['', /invalid JSON/],
      ['[1,2]', /not a JSON object/],
      ['"text"', /not a JSON object/],
      ['null', /not a JSON object/],
      ['{"payload":{"conversation_id":"c"}}', /no "msg_type"/],
      ['{"msg_type":42,"payload":{}}', /no "msg_type"/],
      ['{"msg_type":"BID_REQUEST"}', /payload is not an object/],
      ['{"msg_type":"BID_REQUEST","payload":[1]}', /payload is not an object/],
      ['{"msg_type":"BID_REQUEST","payload":"x"}', /payload is not an object/],
    ];
    for (const [frame, reason] of cases) {
      const m = parseTradePostFrame(frame, RECEIVED);
      expect(m.kind, frame).toBe('reject');
      if (m.kind !== 'reject') continue;
      expect(m.reject).toMatchObject({ source: 'tradepost', raw: frame, receivedAt: RECEIVED });
      expect(m.reject.reason).toMatch(reason);
    }
  });

  it('does not throw on a payload nested deeper than the stack', () => {
    const deep = `{"msg_type":"BID_REQUEST","payload":${'{"a":'.repeat(200_000)}1${'}'.repeat(200_000)}}`;
    expect(() => parseTradePostFrame(deep)).not.toThrow();
  });

  it('ignores a bad sent_at rather than rejecting the message', () => {
    for (const sentAt of ['"soon"', '-5', '1e300', 'null', '{}']) {
      const row = eventRow(parseTradePostFrame(`{"msg_type":"BID_OUTBID","sent_at":${sentAt},"payload":{"conversation_id":"c"}}`));
      expect(row.sentAtMs, sentAt).toBeNull();
    }
  });
});

describe('dedupe keys', () => {
  it('are the same for the socket and the webhook copy of one message, whatever the key order', () => {
    const payload = makeTradePostPayload('BID_REQUEST', CONV, 0);
    const socket = eventRow(parseTradePostFrame(JSON.stringify({ msg_type: 'BID_REQUEST', sent_at: 1_736_614_800_123, payload })));
    const reordered = Object.fromEntries(Object.entries(payload).reverse());
    const hook = parseTradePostWebhook(JSON.stringify(makeWebhookBody('BID_REQUEST', reordered, { msgId: 'm-1', sentAtSec: 1_736_614_800 })));
    expect(hook.kind).toBe('event');
    if (hook.kind !== 'event') return;
    expect(hook.row.dedupeKey).toBe(socket.dedupeKey);
    expect(hook.row.via).toBe('webhook');
    expect(socket.via).toBe('websocket');
  });

  it('differ for two messages of one conversation, and for two types with one payload', () => {
    const a = eventRow(parseTradePostFrame(JSON.stringify({ msg_type: 'BID_OUTBID', payload: makeTradePostPayload('BID_OUTBID', CONV, 1) })));
    const b = eventRow(parseTradePostFrame(JSON.stringify({ msg_type: 'BID_OUTBID', payload: makeTradePostPayload('BID_OUTBID', CONV, 2) })));
    const c = eventRow(parseTradePostFrame(JSON.stringify({ msg_type: 'AUCTION_RESULT', payload: a.payload })));
    expect(a.conversationId).toBe(b.conversationId);
    expect(new Set([a.dedupeKey, b.dedupeKey, c.dedupeKey]).size).toBe(3);
    expect(a.dedupeKey.startsWith(`${CONV}:BID_OUTBID:`)).toBe(true);
  });
});

describe('parseTradePostWebhook', () => {
  it('reads the webhook envelope: msg_id kept, sent_at in seconds', () => {
    const payload = makeTradePostPayload('AUCTION_RESULT', CONV, 3);
    const r = parseTradePostWebhook(JSON.stringify(makeWebhookBody('AUCTION_RESULT', payload, { msgId: 'f47ac10b', sentAtSec: 1_736_614_800 })), RECEIVED);
    expect(r.kind).toBe('event');
    if (r.kind !== 'event') return;
    expect(r.row).toMatchObject({
      msgType: 'AUCTION_RESULT',
      msgId: 'f47ac10b',
      sentAtMs: 1_736_614_800_000,
      receivedAtMs: RECEIVED,
      via: 'webhook',
      conversationId: CONV,
      referenceType: payload.reference_type,
      referenceId: payload.reference_id,
      assetType: payload.asset_type,
    });
  });

  it('rejects malformed bodies and control messages', () => {
    for (const [body, reason] of [
      ['not json', /invalid JSON/],
      ['{"payload":{}}', /no "msg_type"/],
      ['{"msg_type":"BID_REQUEST","payload":null}', /payload is not an object/],
      ['{"msg_type":"ping","payload":{}}', /control message/],
    ] as const) {
      const r = parseTradePostWebhook(body);
      expect(r.kind, body).toBe('reject');
      if (r.kind === 'reject') expect(r.reject.reason).toMatch(reason);
    }
  });
});

describe('epochMs', () => {
  it('reads ms and seconds by magnitude', () => {
    expect(epochMs(1_704_067_200_000)).toBe(1_704_067_200_000);
    expect(epochMs(1_704_067_200)).toBe(1_704_067_200_000);
    expect(epochMs(1_704_067_200.5)).toBe(1_704_067_200_500);
    expect(epochMs('1704067200')).toBe(1_704_067_200_000);
    expect(epochMs(0)).toBeNull();
    expect(epochMs(undefined)).toBeNull();
    expect(epochMs(Number.POSITIVE_INFINITY)).toBeNull();
  });
});
