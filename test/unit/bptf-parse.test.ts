import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { objectIdTimeMs } from '../../src/feeds/bptf/object-id.js';
import { parseBptfFrame } from '../../src/feeds/bptf/parse.js';

const fixtureText = readFileSync(new URL('../fixtures/bptf-captured-events.json', import.meta.url), 'utf8');
const fixture = JSON.parse(fixtureText) as Array<{ id: string; event: string; payload: { id: string } }>;

describe('parseBptfFrame', () => {
  it('accepts every real captured event, as the batched array they came in', () => {
    const r = parseBptfFrame(Buffer.from(fixtureText));
    expect(r.rejects).toEqual([]);
    expect(r.listings).toHaveLength(fixture.length);
    for (const [i, e] of fixture.entries()) {
      const l = r.listings[i]!;
      expect(l.eventId).toBe(e.id);
      expect(l.listingId).toBe(e.payload.id);
      expect(l.kind).toBe(e.event === 'listing-delete' ? 'delete' : 'update');
      expect(l.partial).toBe(false);
    }
  });

  it('accepts each captured event as a single object (the old event-per-frame format)', () => {
    for (const e of fixture) {
      const r = parseBptfFrame(JSON.stringify(e));
      expect(r.rejects).toEqual([]);
      expect(r.listings.map((l) => l.listingId)).toEqual([e.payload.id]);
    }
  });

  it('decodes the event time from the ObjectId (first 4 bytes, seconds)', () => {
    // 0x69346e78 = 1765043832 = 2025-12-06T17:57:12Z (a real captured event)
    expect(objectIdTimeMs('69346e7883418419600ebe14')).toBe(1765043832_000);
    const r = parseBptfFrame(JSON.stringify(fixture[0]));
    expect(new Date(r.listings[0]!.eventTimeMs).toISOString()).toBe('2025-12-06T17:57:12.000Z');
  });

  it('ignores empty frames', () => {
    for (const frame of ['', '   ', '\n']) {
      expect(parseBptfFrame(frame)).toEqual({ listings: [], notices: [], rejects: [] });
    }
    expect(parseBptfFrame('[]')).toEqual({ listings: [], notices: [], rejects: [] });
  });

  it('keys a delete that carries only payload.id, marking it partial', () => {
    const r = parseBptfFrame(JSON.stringify([{ id: '69346e788db038246902b9d5', event: 'listing-delete', payload: { id: '440_123' } }]));
    expect(r.listings).toEqual([
      expect.objectContaining({ kind: 'delete', listingId: '440_123', partial: true, eventId: '69346e788db038246902b9d5' }),
    ]);
  });

  it('normalises upper-case ids so string order stays byte order', () => {
    const r = parseBptfFrame(JSON.stringify({ id: '69346E7883418419600EBE14', event: 'listing-update', payload: { id: 'x' } }));
    expect(r.listings[0]!.eventId).toBe('69346e7883418419600ebe14');
  });

  it('turns limit events into notices, not rejects', () => {
    for (const event of ['client-limit-exceeded', 'client-limit-exceeeded', 'buffer-limit-exceeded']) {
      const r = parseBptfFrame(JSON.stringify([{ id: '69346e7883418419600ebe14', event, payload: {} }]));
      expect(r.notices).toEqual([{ kind: 'limit', event }]);
      expect(r.rejects).toEqual([]);
      expect(r.listings).toEqual([]);
    }
  });

  it('counts unknown events as notices and keeps them in rejects', () => {
    const r = parseBptfFrame(JSON.stringify([{ id: '69346e7883418419600ebe14', event: 'listing-bump', payload: { id: 'a' } }]));
    expect(r.notices).toEqual([{ kind: 'unknown', event: 'listing-bump' }]);
    expect(r.rejects).toHaveLength(1);
    expect(r.rejects[0]!.reason).toContain('unknown event');
  });

  it('turns malformed input into rejects and keeps the good events around it', () => {
    const good = fixture[0]!;
    const frame = JSON.stringify([
      good,
      null,
      42,
      { event: 'listing-update', payload: { id: 'no-event-id' } },
      { id: 'zz', event: 'listing-update', payload: { id: 'bad-id' } },
      { id: '69346e7883418419600ebe15', event: 'listing-update' },
      { id: '69346e7883418419600ebe16', event: 'listing-update', payload: { steamid: '1' } },
      { id: '69346e7883418419600ebe17', payload: { id: 'no-name' } },
    ]);
    const r = parseBptfFrame(frame);
    expect(r.listings.map((l) => l.listingId)).toEqual([good.payload.id]);
    expect(r.rejects).toHaveLength(7);
    for (const rej of r.rejects) {
      expect(rej.source).toBe('bptf');
      expect(rej.reason.length).toBeGreaterThan(0);
    }
  });

  it('never throws on garbage, and truncates raw text to 64 KiB', () => {
    const inputs: Array<string | Buffer> = ['{', '[{"id":', 'null', '"str"', '123', 'true', Buffer.from([0xff, 0xfe, 0x00]), 'x'.repeat(200_000)];
    for (const input of inputs) {
      const r = parseBptfFrame(input);
      expect(r.listings).toEqual([]);
      expect(r.rejects).toHaveLength(1);
      expect(r.rejects[0]!.raw.length).toBeLessThanOrEqual(64 * 1024);
      expect(r.rejects[0]!.raw).not.toContain('\u0000');
    }
  });
});
