import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseBptfFrame } from '../../src/feeds/bptf/parse.js';
import { parseCommerceFrame } from '../../src/feeds/commerce/parse.js';
import { parseTradePostFrame, parseTradePostWebhook } from '../../src/feeds/tradepost/parse.js';
import { RAW_MAX_CHARS } from '../../src/core/ingest/reject.js';
import { makeCommerceEvent } from '../../src/simulator/commerce-server.js';
import { makeTradePostPayload } from '../../src/simulator/tradepost-server.js';

/**
 * Property-based tests: random and mutated frames never make a parser throw, every bad frame becomes
 * a reject (raw text bounded to 64 KiB), and nothing in a frame vanishes without a trace.
 */

const fixture = readFileSync(new URL('../fixtures/bptf-captured-events.json', import.meta.url), 'utf8');
const tradepostFrame = JSON.stringify({ msg_type: 'BID_REQUEST', sent_at: 1704067200000, payload: makeTradePostPayload('BID_REQUEST', 'c-1', 1) });
const commerceFrame = JSON.stringify({ ...makeCommerceEvent('order', 'updated', 7, 1), timestamp: '2026-01-25T10:30:00.000Z' });

/** Valid frames, then truncated, with bytes flipped, or spliced with junk. */
function mutated(valid: string): fc.Arbitrary<string | Buffer> {
  const bytes = Buffer.from(valid);
  return fc.oneof(
    fc.nat({ max: bytes.length }).map((n) => valid.slice(0, n)),
    fc.array(fc.tuple(fc.nat({ max: bytes.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 20 }).map((flips) => {
      const b = Buffer.from(bytes);
      for (const [i, v] of flips) b[i] = v;
      return b;
    }),
    fc.tuple(fc.nat({ max: valid.length }), fc.string()).map(([i, junk]) => valid.slice(0, i) + junk + valid.slice(i)),
  );
}

const anyFrame: fc.Arbitrary<string | Buffer> = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.uint8Array({ maxLength: 2000 }).map((a) => Buffer.from(a)),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.array(fc.record({ id: fc.oneof(fc.stringMatching(/^[0-9a-fA-F]{24}$/), fc.jsonValue()), event: fc.oneof(fc.constantFrom('listing-update', 'listing-delete', 'client-limit-exceeded', 'x'), fc.jsonValue()), payload: fc.jsonValue() }, { requiredKeys: [] })).map((a) => JSON.stringify(a)),
  fc.nat({ max: 50_000 }).map((depth) => '['.repeat(depth) + ']'.repeat(depth)),
  fc.nat({ max: 5 }).map((n) => JSON.stringify({ msg_type: 'x'.repeat(n * 100_000), payload: { huge: 'y'.repeat(200_000) } })),
);

describe('parsers under random and mutated input', () => {
  it('bptf: never throws, every element is a listing, a notice or a reject, raw text bounded', () => {
    fc.assert(
      fc.property(fc.oneof(anyFrame, mutated(fixture)), (frame) => {
        const r = parseBptfFrame(frame);
        for (const rej of r.rejects) {
          expect(rej.raw.length).toBeLessThanOrEqual(RAW_MAX_CHARS);
          expect(rej.reason.length).toBeGreaterThan(0);
        }
        const text = Buffer.isBuffer(frame) ? frame.toString('utf8') : frame;
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          if (text.trim() !== '') expect(r.rejects).toHaveLength(1);
          return;
        }
        const elements = Array.isArray(json) ? json.length : 1;
        const limits = r.notices.filter((n) => n.kind === 'limit').length;
        expect(r.listings.length + limits + r.rejects.length).toBe(elements);
      }),
      { numRuns: 400 },
    );
  });

  it('tradepost socket and webhook: never throw, always a known kind', () => {
    fc.assert(
      fc.property(fc.oneof(anyFrame, mutated(tradepostFrame)), (frame) => {
        const r = parseTradePostFrame(frame);
        expect(['authenticated', 'subscribed', 'ping', 'pong', 'error', 'event', 'reject']).toContain(r.kind);
        if (r.kind === 'reject') expect(r.reject.raw.length).toBeLessThanOrEqual(RAW_MAX_CHARS);
        const w = parseTradePostWebhook(Buffer.isBuffer(frame) ? frame.toString('utf8') : frame);
        expect(['event', 'reject']).toContain(w.kind);
      }),
      { numRuns: 400 },
    );
  });

  it('commerce: never throws, always a known kind', () => {
    fc.assert(
      fc.property(fc.oneof(anyFrame, mutated(commerceFrame)), (frame) => {
        const r = parseCommerceFrame(frame);
        expect(['connected', 'subscribed', 'unsubscribed', 'pong', 'error', 'event', 'reject']).toContain(r.kind);
        if (r.kind === 'reject') expect(r.reject.raw.length).toBeLessThanOrEqual(RAW_MAX_CHARS);
      }),
      { numRuns: 400 },
    );
  });
});
