import { describe, expect, it } from 'vitest';
import { NOTIFY_PAYLOAD_MAX_BYTES, notificationPayloads } from '../../src/core/db/change-notifier.js';

describe('notificationPayloads', () => {
  it('puts every id in exactly one payload, each under the limit, with its own newest event time', () => {
    // Plain ASCII ids (counted without being written), and ids with characters JSON writes longer.
    const ids = Array.from({ length: 3000 }, (_, i) => `440_${'é'.repeat(i % 7)}${i % 5 === 0 ? '"\\\u0001' : ''}${i}`);
    const times = ids.map((_, i) => Date.UTC(2026, 11, 1) + i * 1000);
    const { payloads, skipped } = notificationPayloads('bptf', { table: 'bptf_listings', ids, eventTimesMs: times });
    expect(skipped).toEqual([]);
    expect(payloads.length).toBeGreaterThan(5);
    const parsed = payloads.map((p) => JSON.parse(p) as { table: string; source: string; ids: string[]; max_event_time: string });
    expect(parsed.flatMap((p) => p.ids)).toEqual(ids);
    for (const [i, p] of payloads.entries()) {
      expect(Buffer.byteLength(p)).toBeLessThanOrEqual(NOTIFY_PAYLOAD_MAX_BYTES);
      // Filled: the next id would not have fitted (all but the last).
      if (i < payloads.length - 1) expect(Buffer.byteLength(p)).toBeGreaterThan(NOTIFY_PAYLOAD_MAX_BYTES - 40);
      const last = ids.indexOf(parsed[i]?.ids.at(-1) as string);
      expect(parsed[i]?.max_event_time).toBe(new Date(times[last] as number).toISOString());
      expect(parsed[i]?.table).toBe('bptf_listings');
      expect(parsed[i]?.source).toBe('bptf');
    }
  });

  it('sends nothing for no change, null for rows without a time, and leaves out an id that cannot fit', () => {
    expect(notificationPayloads('s', { table: 't', ids: [], eventTimesMs: [] }).payloads).toEqual([]);
    const huge = 'x'.repeat(9000);
    const out = notificationPayloads('s', { table: 't', ids: ['a', huge, 'b'], eventTimesMs: [null, 1, null] });
    expect(out.skipped).toEqual([huge]);
    expect(out.payloads.map((p) => JSON.parse(p))).toEqual([{ table: 't', source: 's', ids: ['a', 'b'], max_event_time: null }]);
  });
});
