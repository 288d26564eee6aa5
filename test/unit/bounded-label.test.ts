import { describe, expect, it } from 'vitest';
import { boundedLabel, OTHER_LABEL } from '../../src/util/bounded-label.js';

describe('boundedLabel', () => {
  it('keeps a known value and folds any other into "other"', () => {
    const known = new Set(['client-limit-exceeded', 'buffer-limit-exceeded']);
    expect(boundedLabel('client-limit-exceeded', known)).toBe('client-limit-exceeded');
    expect(boundedLabel('listing-mystery', known)).toBe(OTHER_LABEL);
    expect(boundedLabel('', known)).toBe('other');
    const values = new Set(Array.from({ length: 1000 }, (_, i) => boundedLabel(`event-${i}`, known)));
    expect([...values]).toEqual(['other']);
  });
});
