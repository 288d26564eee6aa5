import { describe, expect, it } from 'vitest';
import { ExternalMemoryCollector } from '../../src/core/writer/external-memory.js';

const MB = 1024 * 1024;

describe('ExternalMemoryCollector', () => {
  function setup() {
    let external = 50 * MB;
    const calls: Array<() => void> = [];
    const collector = new ExternalMemoryCollector({
      externalBytes: () => external,
      gc: () => new Promise<void>((resolve) => calls.push(resolve)),
    });
    return { collector, calls, setExternal: (b: number) => (external = b) };
  }

  it('asks for a full collection once external memory has grown 8 MB past what the last one left', async () => {
    const { collector, calls, setExternal } = setup();
    setExternal(55 * MB);
    collector.check();
    expect(calls).toHaveLength(0); // 5 MB of growth: within the slack
    setExternal(60 * MB);
    collector.check();
    collector.check();
    expect(calls).toHaveLength(1); // past the slack: one collection at a time
    setExternal(70 * MB);
    calls[0]?.();
    await new Promise((r) => setImmediate(r));
    setExternal(75 * MB);
    collector.check();
    expect(calls).toHaveLength(1); // 5 MB past what the collection left
    setExternal(79 * MB);
    collector.check();
    expect(calls).toHaveLength(2);
    expect(collector.collections).toBe(2);
  });

  it('leaves collections to V8 while external memory is below minBytes', () => {
    let external = 10 * MB;
    const calls: Array<() => void> = [];
    const collector = new ExternalMemoryCollector({ externalBytes: () => external, gc: () => new Promise<void>((resolve) => calls.push(resolve)), minBytes: 48 * MB });
    external = 40 * MB; // 30 MB past the floor, but below minBytes
    collector.check();
    expect(calls).toHaveLength(0);
    external = 48 * MB;
    collector.check();
    expect(calls).toHaveLength(1);
  });

  it('follows external memory down when frames are freed without it', () => {
    const { collector, calls, setExternal } = setup();
    setExternal(20 * MB);
    collector.check();
    setExternal(29 * MB); // 9 MB past the new floor, though under the first reading
    collector.check();
    expect(calls).toHaveLength(1);
  });
});
