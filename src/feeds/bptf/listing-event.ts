// What parsing a backpack.tf events frame gives: the types both paths of the parser (parse.ts,
// scanner.ts) produce, and the rule for a listing id they share.
import type { Reject } from '../../core/ingest/reject.js';
import type { RawColumns } from './listing-columns.js';
import type { ReceivedEvent } from './received.js';

export interface ListingEvent {
  readonly kind: 'update' | 'delete';
  /** 24 lower-case hex characters. */
  readonly eventId: string;
  /** From the id's first 4 bytes, ms since the epoch. */
  readonly eventTimeMs: number;
  readonly listingId: string;
  /** The listing as received. For a delete that carries only `payload.id`, `partial` is true. */
  readonly payload: Record<string, unknown>;
  readonly partial: boolean;
  /** Set by the fast path: the payload exactly as received, and the columns extracted from it. */
  readonly raw?: RawPayload;
  /** The whole event exactly as received (for a reject's raw), read only when asked. */
  readonly received?: ReceivedEvent;
}

/**
 * A payload kept as received: bytes [start, end) of `frame` (UTF-8 JSON text of the payload object),
 * and the columns extracted from it. Offsets rather than a Buffer view: one object less per event.
 * No `currencies`: the writer reads that column from the stored payload.
 */
export interface RawPayload {
  readonly frame: Buffer;
  readonly start: number;
  readonly end: number;
  readonly columns: RawColumns;
}

export type { RawColumns };

/** The payload's JSON text as a string. */
export function rawPayloadText(raw: RawPayload): string {
  return raw.frame.toString('utf8', raw.start, raw.end);
}

/** A well-formed event that is not a listing. `limit` events mean the server wants us to reconnect. */
export interface Notice {
  readonly kind: 'limit' | 'unknown';
  readonly event: string;
}

export interface ParsedFrame {
  readonly listings: ListingEvent[];
  readonly notices: Notice[];
  readonly rejects: Reject[];
}

/** What a listing id must be: a non-empty string of at most 512 characters. */
export function isListingId(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= 512;
}
