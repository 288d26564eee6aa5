import { makeReject, type Reject } from '../../core/ingest/reject.js';
import { canonicalJson, sha256Hex } from '../../util/canonical-json.js';
import { asObject, asText } from '../../util/json-guards.js';

/**
 * Pure parser for TradePost TPX messages: the socket's frames and the webhook's bodies. Never throws.
 *
 * Envelope `{msg_type, sent_at?, payload?}`. `authenticated`, `subscribed`, `ping`, `pong` and
 * `error` are the protocol's own messages; every other msg_type is an event and becomes a
 * TradePostRow (unknown types too: the docs list 11, and a new one is data, not noise).
 *
 * Dedupe key: `conversation_id + ':' + msg_type + ':' + sha256(canonical JSON of payload)`.
 * conversation_id names a whole auction or offer conversation (several messages), so it cannot be
 * the key alone; the payload hash tells its messages apart, and is the same for the socket and the
 * webhook copy of one message ("the same payload structure as webhook messages", says TradePost's documentation),
 * which is why neither sent_at (ms on the socket, s on webhooks) nor msg_id (webhook only) is in it.
 */

export const SOURCE = 'tradepost';

export const CONTROL_TYPES = ['authenticated', 'subscribed', 'ping', 'pong', 'error'] as const;

export interface TradePostRow {
  readonly dedupeKey: string;
  readonly conversationId: string | null;
  readonly msgType: string;
  readonly msgId: string | null;
  /** ms since the epoch; null when the message carried no usable sent_at. */
  readonly sentAtMs: number | null;
  readonly receivedAtMs: number;
  readonly via: 'websocket' | 'webhook';
  readonly referenceType: string | null;
  readonly referenceId: string | null;
  readonly assetType: string | null;
  readonly payload: Record<string, unknown>;
  /**
   * The message exactly as received (the frame's or the body's text), for ingest_rejects.raw if the
   * database refuses the row. Absent on a row an older version spooled.
   */
  readonly raw?: string;
}

export type TradePostMessage =
  | { readonly kind: 'authenticated'; readonly accountId: string | null }
  | { readonly kind: 'subscribed'; readonly rooms: string[] }
  | { readonly kind: 'ping' }
  | { readonly kind: 'pong' }
  | { readonly kind: 'error'; readonly code: string; readonly message: string }
  | { readonly kind: 'event'; readonly row: TradePostRow }
  | { readonly kind: 'reject'; readonly reject: Reject };

/** One socket frame. `sent_at` there is epoch milliseconds (TradePost's TPX documentation). */
export function parseTradePostFrame(data: Buffer | string, receivedAt = Date.now()): TradePostMessage {
  const text = typeof data === 'string' ? data : data.toString('utf8');
  const json = parseObject(text, receivedAt);
  if ('reject' in json) return json;
  const msgType = json.value.msg_type;
  switch (msgType) {
    case 'authenticated':
      return { kind: 'authenticated', accountId: asText(asObject(json.value.payload)?.account_id) };
    case 'subscribed': {
      const rooms = asObject(json.value.payload)?.rooms;
      return { kind: 'subscribed', rooms: Array.isArray(rooms) ? rooms.filter((r): r is string => typeof r === 'string') : [] };
    }
    case 'ping':
      return { kind: 'ping' };
    case 'pong':
      return { kind: 'pong' };
    case 'error': {
      const p = asObject(json.value.payload);
      return {
        kind: 'error',
        code: (asText(p?.code) ?? 'UNKNOWN').slice(0, 100),
        message: (asText(p?.error) ?? asText(p?.message) ?? '').slice(0, 500),
      };
    }
    default:
      return toEvent(json.value, text, 'websocket', receivedAt);
  }
}

/** One webhook delivery body. `sent_at` there is epoch seconds and `msg_id` a UUID (TPX webhook docs). */
export function parseTradePostWebhook(body: string, receivedAt = Date.now()): { kind: 'event'; row: TradePostRow } | { kind: 'reject'; reject: Reject } {
  const json = parseObject(body, receivedAt);
  if ('reject' in json) return json;
  const msgType = json.value.msg_type;
  if (typeof msgType === 'string' && (CONTROL_TYPES as readonly string[]).includes(msgType)) {
    return reject(`"${msgType}" is a socket control message, not a webhook event`, body, receivedAt);
  }
  return toEvent(json.value, body, 'webhook', receivedAt);
}

function parseObject(text: string, receivedAt: number): { value: Record<string, unknown> } | { kind: 'reject'; reject: Reject } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return reject(`invalid JSON: ${(error as Error).message}`, text, receivedAt);
  }
  const value = asObject(json);
  if (!value) return reject('message is not a JSON object', text, receivedAt);
  return { value };
}

function toEvent(
  e: Record<string, unknown>,
  raw: string,
  via: 'websocket' | 'webhook',
  receivedAt: number,
): { kind: 'event'; row: TradePostRow } | { kind: 'reject'; reject: Reject } {
  const msgType = e.msg_type;
  // A webhook's msg_id names the message in a reject (the dedupe key needs a payload that hashes).
  const msgId = asText(e.msg_id) ?? undefined;
  if (typeof msgType !== 'string' || msgType.length === 0 || msgType.length > 200) {
    return reject('message has no "msg_type"', raw, receivedAt, msgId);
  }
  const payload = asObject(e.payload);
  if (!payload) return reject('payload is not an object', raw, receivedAt, msgId);
  let hash: string;
  try {
    hash = sha256Hex(canonicalJson(payload));
  } catch (error) {
    // Only a structure deeper than the stack gets here.
    return reject(`payload cannot be hashed: ${(error as Error).message}`, raw, receivedAt, msgId);
  }
  const conversationId = asText(payload.conversation_id);
  return {
    kind: 'event',
    row: {
      dedupeKey: `${conversationId ?? ''}:${msgType}:${hash}`,
      conversationId,
      msgType,
      msgId: asText(e.msg_id),
      sentAtMs: epochMs(e.sent_at),
      receivedAtMs: receivedAt,
      via,
      referenceType: asText(payload.reference_type),
      referenceId: asText(payload.reference_id),
      assetType: asText(payload.asset_type),
      payload,
      raw,
    },
  };
}

function reject(reason: string, raw: string, receivedAt: number, eventId?: string): { kind: 'reject'; reject: Reject } {
  return { kind: 'reject', reject: makeReject(SOURCE, reason, raw, receivedAt, eventId) };
}

/**
 * sent_at as ms since the epoch. Documented units: milliseconds on the socket, seconds on webhooks.
 * The magnitude tells them apart without trusting the channel: below 1e11 a value cannot be
 * milliseconds of any date after 1973-03-03, and above it cannot be seconds of any date before
 * year 5138. So a copy in the other unit is still read right. A value that is not a plausible time
 * is null, not a reject: the message itself is still good.
 */
export function epochMs(value: unknown): number | null {
  const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : Number.NaN;
  if (!Number.isFinite(n) || n <= 0) return null;
  const ms = n < 1e11 ? n * 1000 : n;
  // Postgres timestamptz ends in year 294276; stay well inside (year 9999).
  return ms < 253_402_300_800_000 ? Math.round(ms) : null;
}

