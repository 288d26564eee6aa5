import { describe, expect, it } from 'vitest';
import { BufferBudget } from '../../src/core/writer/buffer-budget.js';
import { ExternalMemoryCollector } from '../../src/core/writer/external-memory.js';

const MB = 1024 * 1024;

describe('ExternalMemoryCollector', () => {
  function setup() {
    const budget = new BufferBudget(100_000, 64 * MB);
    let external = 50 * MB;
    const calls: Array<() => void> = [];
    const collector = new ExternalMemoryCollector(budget, {
      externalBytes: () => external,
      gc: () => new Promise<void>((resolve) => calls.push(resolve)),
    });
    return { budget, collector, calls, setExternal: (b: number) => (external = b) };
  }

  it('asks for a full collection only in a backlog, once external memory has grown 16 MB past the last one', async () => {
    const { budget, collector, calls, setExternal } = setup();
    setExternal(60 * MB);
    collector.check();
    expect(calls).toHaveLength(0); // 10 MB of growth: within the slack
    setExternal(80 * MB);
    collector.check();
    expect(calls).toHaveLength(0); // past the slack, but the buffer holds nothing: young frames die young
    budget.reserve([20 * MB]);
    collector.check();
    collector.check();
    expect(calls).toHaveLength(1); // a backlog: one collection at a time
    setExternal(70 * MB);
    calls[0]?.();
    await new Promise((r) => setImmediate(r));
    setExternal(80 * MB);
    collector.check();
    expect(calls).toHaveLength(1); // 10 MB past what the collection left
    setExternal(87 * MB);
    collector.check();
    expect(calls).toHaveLength(2);
    expect(collector.collections).toBe(2);
  });

  it('follows external memory down when frames are freed without it', () => {
    const { budget, collector, calls, setExternal } = setup();
    budget.reserve([32 * MB]);
    setExternal(20 * MB);
    collector.check();
    setExternal(37 * MB); // 17 MB past the new floor, though under the first reading
    collector.check();
    expect(calls).toHaveLength(1);
  });
});
