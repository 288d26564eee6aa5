import { describe, expect, it } from 'vitest';
import { cookieHeader, cookieNames } from '../../src/feeds/commerce/login.js';
import { parseCommerceFrame, type CommerceEventRow } from '../../src/feeds/commerce/parse.js';
import { entityData, entityRounds } from '../../src/feeds/commerce/store.js';
import { canonicalJson, sha256Hex } from '../../src/util/canonical-json.js';

const RECEIVED = 1_769_400_000_000;

/** The order:updated example of the store backend's documentation, verbatim. */
const SEED_ORDER_UPDATED = `{
  "event": "order:updated",
  "data": {
    "id": 123,
    "order_number": "ORD-1234567890",
    "status": "processing",
    "payment_status": "paid",
    "total": 99.99,
    "customer_id": 45,
    "currency": "USD",
    "changed_fields": {
      "status": "processing",
      "payment_status": "paid"
    }
  },
  "timestamp": "2026-01-25T10:30:00.000Z"
}`;

function eventRow(m: ReturnType<typeof parseCommerceFrame>): CommerceEventRow {
  if (m.kind !== 'event') throw new Error(`expected an event, got ${m.kind}${m.kind === 'reject' ? `: ${m.reject.reason}` : ''}`);
  return m.row;
}

describe('parseCommerceFrame: control messages', () => {
  it('reads connected, subscribed, unsubscribed, pong, error', () => {
    expect(parseCommerceFrame('{"type":"connected","message":"WebSocket connection established","userId":1}')).toEqual({
      kind: 'connected',
      userId: '1',
      message: 'WebSocket connection established',
    });
    expect(parseCommerceFrame('{"type":"subscribed","channel":"order_changes"}')).toEqual({ kind: 'subscribed', channel: 'order_changes' });
    expect(parseCommerceFrame('{"type":"unsubscribed","channel":"order_changes"}')).toEqual({ kind: 'unsubscribed', channel: 'order_changes' });
    expect(parseCommerceFrame(Buffer.from('{"type":"pong"}'))).toEqual({ kind: 'pong' });
    expect(parseCommerceFrame('{"type":"error","message":"Error description"}')).toEqual({ kind: 'error', message: 'Error description' });
  });
});

describe('parseCommerceFrame: events', () => {
  it('turns the documented order:updated example into a row', () => {
    const row = eventRow(parseCommerceFrame(SEED_ORDER_UPDATED, RECEIVED));
    const data = (JSON.parse(SEED_ORDER_UPDATED) as { data: Record<string, unknown> }).data;
    expect(row).toEqual({
      dedupeKey: sha256Hex(`order:updated\n${canonicalJson(data)}\n2026-01-25T10:30:00.000Z`),
      event: 'order:updated',
      entity: 'order',
      action: 'updated',
      entityId: '123',
      occurredAtMs: Date.parse('2026-01-25T10:30:00.000Z'),
      receivedAtMs: RECEIVED,
      data,
      changedFields: { status: 'processing', payment_status: 'paid' },
      // The frame as received: what a reject of this row stores.
      raw: SEED_ORDER_UPDATED,
    });
  });

  it('reads every entity and action; string ids stay strings; no changed_fields is null', () => {
    for (const entity of ['order', 'product', 'customer', 'shipment', 'transaction']) {
      for (const action of ['created', 'updated', 'deleted'] as const) {
        const row = eventRow(parseCommerceFrame(JSON.stringify({ event: `${entity}:${action}`, data: { id: 'abc-1' }, timestamp: '2026-01-25T10:30:00Z' })));
        expect(row).toMatchObject({ entity, action, entityId: 'abc-1', changedFields: null });
      }
    }
  });

  it('gives one key to the same event whatever its key order, and different keys to different data or time', () => {
    const a = eventRow(parseCommerceFrame('{"event":"order:updated","data":{"id":1,"status":"paid","total":5},"timestamp":"2026-01-25T10:30:00.000Z"}'));
    const b = eventRow(parseCommerceFrame('{"timestamp":"2026-01-25T10:30:00.000Z","data":{"total":5,"status":"paid","id":1},"event":"order:updated"}'));
    const c = eventRow(parseCommerceFrame('{"event":"order:updated","data":{"id":1,"status":"shipped","total":5},"timestamp":"2026-01-25T10:30:00.000Z"}'));
    const d = eventRow(parseCommerceFrame('{"event":"order:updated","data":{"id":1,"status":"paid","total":5},"timestamp":"2026-01-25T10:30:01.000Z"}'));
    expect(a.dedupeKey).toBe(b.dedupeKey);
    expect(new Set([a.dedupeKey, c.dedupeKey, d.dedupeKey]).size).toBe(3);
  });

  it('rejects malformed frames without throwing', () => {
    const cases: Array<[string, RegExp]> = [
      ['{"event":', /invalid JSON/],
      ['', /invalid JSON/],
      ['[]', /not a JSON object/],
      ['42', /not a JSON object/],
      ['{"hello":1}', /unknown message shape/],
      ['{"type":"surprise"}', /unknown message type "surprise"/],
      ['{"event":"orderupdated","data":{"id":1},"timestamp":"2026-01-25T10:30:00Z"}', /not "<entity>:<action>"/],
      ['{"event":":updated","data":{"id":1},"timestamp":"2026-01-25T10:30:00Z"}', /not "<entity>:<action>"/],
      ['{"event":"order:archived","data":{"id":1},"timestamp":"2026-01-25T10:30:00Z"}', /unknown action "archived"/],
      ['{"event":"order:updated","data":[1],"timestamp":"2026-01-25T10:30:00Z"}', /data is not an object/],
      ['{"event":"order:updated","timestamp":"2026-01-25T10:30:00Z"}', /data is not an object/],
      ['{"event":"order:updated","data":{"name":"x"},"timestamp":"2026-01-25T10:30:00Z"}', /data.id is missing/],
      ['{"event":"order:updated","data":{"id":{"x":1}},"timestamp":"2026-01-25T10:30:00Z"}', /data.id is missing/],
      ['{"event":"order:updated","data":{"id":1},"timestamp":"yesterday"}', /timestamp is not a valid date/],
      ['{"event":"order:updated","data":{"id":1}}', /timestamp is not a valid date/],
    ];
    for (const [frame, reason] of cases) {
      const m = parseCommerceFrame(frame, RECEIVED);
      expect(m.kind, frame).toBe('reject');
      if (m.kind !== 'reject') continue;
      expect(m.reject).toMatchObject({ source: 'commerce', raw: frame, receivedAt: RECEIVED });
      expect(m.reject.reason).toMatch(reason);
    }
  });

  it('does not throw on data nested deeper than the stack', () => {
    const deep = `{"event":"order:updated","timestamp":"2026-01-25T10:30:00Z","data":{"id":1,"x":${'['.repeat(200_000)}${']'.repeat(200_000)}}}`;
    expect(() => parseCommerceFrame(deep)).not.toThrow();
  });
});

describe('entity helpers', () => {
  const ev = (entity: string, id: string, t: number, action: 'created' | 'updated' | 'deleted' = 'updated'): CommerceEventRow => ({
    dedupeKey: `${entity}-${id}-${t}-${action}`,
    event: `${entity}:${action}`,
    entity,
    action,
    entityId: id,
    occurredAtMs: t,
    receivedAtMs: 0,
    data: { id },
    changedFields: null,
  });

  it('puts the k-th event (by time) of each entity in round k, each round sorted by entity key', () => {
    const rows = [ev('order', '2', 30), ev('order', '1', 20), ev('order', '2', 10), ev('product', '1', 5), ev('order', '1', 10), ev('order', '2', 20)];
    const rounds = entityRounds(rows).map((r) => r.map((e) => `${e.entity}/${e.entityId}@${e.occurredAtMs}`));
    expect(rounds).toEqual([
      ['order/1@10', 'order/2@10', 'product/1@5'],
      ['order/1@20', 'order/2@20'],
      ['order/2@30'],
    ]);
  });

  it('orders same-time events created < updated < deleted', () => {
    const rounds = entityRounds([ev('order', '1', 10, 'deleted'), ev('order', '1', 10, 'created'), ev('order', '1', 10, 'updated')]);
    expect(rounds.map((r) => r[0]?.action)).toEqual(['created', 'updated', 'deleted']);
  });

  it('keeps changed_fields out of the entity data', () => {
    expect(entityData({ id: 1, status: 'x', changed_fields: { status: 'x' } })).toEqual({ id: 1, status: 'x' });
    const plain = { id: 1 };
    expect(entityData(plain)).toBe(plain);
  });
});

describe('cookies', () => {
  it('keeps every Set-Cookie as name=value, attributes stripped, last of a name wins', () => {
    expect(cookieHeader(['connect.sid=s%3Aabc.def; Path=/; HttpOnly', 'csrf=123; Path=/', 'junk', '=novalue', 'csrf=456; Secure'])).toBe(
      'connect.sid=s%3Aabc.def; csrf=456',
    );
    expect(cookieHeader([])).toBe('');
    expect(cookieNames('connect.sid=s%3Aabc.def; csrf=456')).toEqual(['connect.sid', 'csrf']);
  });
});
