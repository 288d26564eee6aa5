import { makeReject, type Reject } from '../../core/ingest/reject.js';
import { canonicalJson, sha256Hex } from '../../util/canonical-json.js';
import { asObject, asText } from '../../util/json-guards.js';

/**
 * Pure parser for the store backend's `/ws` frames (as the backend's WebSocket documentation describes them). Never throws.
 *
 * Control messages carry `type`: `connected` (the greeting), `subscribed`/`unsubscribed`
 * (acks), `pong`, `error`. Events carry `event` ("order:updated"), `data` (the record, with
 * `changed_fields` on updates) and `timestamp` (ISO-8601). Anything else is rejected.
 *
 * Dedupe key: sha256(event + '\n' + canonical JSON of data + '\n' + timestamp as received). The
 * seed gives events no id; the same event re-sent after a reconnect or seen by another replica is
 * identical in all three, and two real changes of one record differ in data or time.
 */

export const SOURCE = 'commerce';

export const ACTIONS = ['created', 'updated', 'deleted'] as const;
export type CommerceAction = (typeof ACTIONS)[number];

export interface CommerceEventRow {
  readonly dedupeKey: string;
  /** As received, e.g. 'order:updated'. */
  readonly event: string;
  /** The part before the ':', e.g. 'order'. */
  readonly entity: string;
  readonly action: CommerceAction;
  /** String(data.id). */
  readonly entityId: string;
  /** ms since the epoch, from `timestamp`. */
  readonly occurredAtMs: number;
  readonly receivedAtMs: number;
  /** `data` as received (changed_fields included). */
  readonly data: Record<string, unknown>;
  readonly changedFields: Record<string, unknown> | null;
  /**
   * The frame exactly as received, for ingest_rejects.raw if the database refuses the row. Absent on
   * a row an older version spooled.
   */
  readonly raw?: string;
}

export type CommerceMessage =
  | { readonly kind: 'connected'; readonly userId: string | null; readonly message: string }
  | { readonly kind: 'subscribed' | 'unsubscribed'; readonly channel: string | null }
  | { readonly kind: 'pong' }
  | { readonly kind: 'error'; readonly message: string }
  | { readonly kind: 'event'; readonly row: CommerceEventRow }
  | { readonly kind: 'reject'; readonly reject: Reject };

export function parseCommerceFrame(data: Buffer | string, receivedAt = Date.now()): CommerceMessage {
  const text = typeof data === 'string' ? data : data.toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return reject(`invalid JSON: ${(error as Error).message}`, text, receivedAt);
  }
  const m = asObject(json);
  if (!m) return reject('message is not a JSON object', text, receivedAt);

  if (typeof m.event === 'string') return parseEvent(m, m.event, text, receivedAt);
  switch (m.type) {
    case 'connected':
      return { kind: 'connected', userId: asText(m.userId), message: (asText(m.message) ?? '').slice(0, 200) };
    case 'subscribed':
    case 'unsubscribed':
      return { kind: m.type, channel: asText(m.channel) };
    case 'pong':
      return { kind: 'pong' };
    case 'error':
      return { kind: 'error', message: (asText(m.message) ?? asText(m.error) ?? '').slice(0, 500) };
    default:
      return reject(
        typeof m.type === 'string' ? `unknown message type "${m.type.slice(0, 100)}"` : 'unknown message shape (neither "type" nor "event")',
        text,
        receivedAt,
      );
  }
}

function parseEvent(m: Record<string, unknown>, event: string, raw: string, receivedAt: number): CommerceMessage {
  const colon = event.indexOf(':');
  const entity = colon > 0 ? event.slice(0, colon) : '';
  const action = colon > 0 ? event.slice(colon + 1) : '';
  if (entity.length === 0 || entity.length > 100) return reject(`event name "${event.slice(0, 100)}" is not "<entity>:<action>"`, raw, receivedAt);
  if (!(ACTIONS as readonly string[]).includes(action)) return reject(`unknown action "${action.slice(0, 100)}" in event "${event.slice(0, 100)}"`, raw, receivedAt);
  const data = asObject(m.data);
  if (!data) return reject('data is not an object', raw, receivedAt);
  const entityId = asText(data.id);
  if (entityId === null) return reject('data.id is missing', raw, receivedAt);
  const timestamp = m.timestamp;
  const occurredAtMs = typeof timestamp === 'string' ? Date.parse(timestamp) : Number.NaN;
  if (!Number.isFinite(occurredAtMs)) return reject('timestamp is not a valid date', raw, receivedAt);
  let dataText: string;
  try {
    dataText = canonicalJson(data);
  } catch (error) {
    // Only a structure deeper than the stack gets here.
    return reject(`data cannot be hashed: ${(error as Error).message}`, raw, receivedAt);
  }
  const changed = asObject(data.changed_fields);
  return {
    kind: 'event',
    row: {
      dedupeKey: sha256Hex(`${event}\n${dataText}\n${timestamp as string}`),
      event,
      entity,
      action: action as CommerceAction,
      entityId,
      occurredAtMs,
      receivedAtMs: receivedAt,
      data,
      changedFields: changed ?? null,
      raw,
    },
  };
}

function reject(reason: string, raw: string, receivedAt: number): { kind: 'reject'; reject: Reject } {
  return { kind: 'reject', reject: makeReject(SOURCE, reason, raw, receivedAt) };
}

