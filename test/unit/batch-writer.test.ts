import { describe, expect, it } from 'vitest';
import { BufferBudget, EVENT_OVERHEAD_BYTES } from '../../src/core/writer/buffer-budget.js';
import { makeWriter, type Row } from '../helpers/batch-writer.js';
import { waitFor } from '../helpers/wait-for.js';



describe('BatchWriter', () => {
  it('writes a full batch at once and a partial one after maxWaitMs', async () => {
    const batches: Row[][] = [];
    const { w } = makeWriter({ write: async (rows) => void batches.push(rows) });
    w.add(Array.from({ length: 10 }, (_, i) => ({ k: `k${i}`, v: i })));
    expect(batches).toHaveLength(1); // dispatched synchronously on reaching maxEvents
    w.add([{ k: 'x', v: 1 }]);
    expect(batches).toHaveLength(1);
    await waitFor(() => batches.length === 2, 'the timed batch');
    expect(batches[1]).toEqual([{ k: 'x', v: 1 }]);
  });

  it('collapses rows with one key and sorts by key', async () => {
    const batches: Row[][] = [];
    const { w } = makeWriter({
      maxEvents: 5,
      collapse: { key: (r) => r.k, merge: (a, b) => (b.v > a.v ? b : a) },
      write: async (rows) => void batches.push(rows),
    });
    w.add([
      { k: 'b', v: 1 },
      { k: 'a', v: 5 },
      { k: 'b', v: 3 },
      { k: 'a', v: 2 },
      { k: 'c', v: 0 },
    ]);
    await w.whenIdle();
    expect(batches).toEqual([
      [
        { k: 'a', v: 5 },
        { k: 'b', v: 3 },
        { k: 'c', v: 0 },
      ],
    ]);
  });

  it('keeps rows through failures and retries until they are written; intake never blocks', async () => {
    let failures = 3;
    const written: Row[] = [];
    const { w } = makeWriter({
      write: async (rows) => {
        if (failures-- > 0) throw Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' });
        written.push(...rows);
      },
    });
    for (let i = 0; i < 35; i++) w.add([{ k: `k${i}`, v: i }]);
    expect(w.held).toBe(35);
    await w.whenIdle();
    expect(written.map((r) => r.v).sort((a, b) => a - b)).toEqual(Array.from({ length: 35 }, (_, i) => i));
  });

  it('isolates a row the database refuses as bad data, and writes the rest', async () => {
    const written: Row[] = [];
    const { w, bad } = makeWriter({
      write: async (rows) => {
        if (rows.some((r) => r.v === 7)) throw Object.assign(new Error('unsupported Unicode escape'), { code: '22P05' });
        written.push(...rows);
      },
    });
    w.add(Array.from({ length: 10 }, (_, i) => ({ k: `k${i}`, v: i })));
    await w.whenIdle();
    expect(bad).toEqual([{ k: 'k7', v: 7 }]);
    expect(written).toHaveLength(9);
  });

  it('an error with no retryable SQLSTATE (a RangeError encoding one row) isolates that row at once, never a retry loop', async () => {
    const written: Row[] = [];
    let attempts = 0;
    const { w, bad } = makeWriter({
      write: async (rows) => {
        attempts++;
        // What JSON.stringify throws on a payload nested thousands of levels deep.
        if (rows.some((r) => r.v === 3 || r.v === 8)) throw new RangeError('Maximum call stack size exceeded');
        written.push(...rows);
      },
    });
    w.add(Array.from({ length: 10 }, (_, i) => ({ k: `k${i}`, v: i })));
    await w.whenIdle();
    expect(bad.map((r) => r.v)).toEqual([3, 8]);
    expect(written.map((r) => r.v).sort((a, b) => a - b)).toEqual([0, 1, 2, 4, 5, 6, 7, 9]);
    expect(w.failing).toBe(false);
    // Splitting 10 rows down to two bad ones: a bounded number of attempts, not a loop.
    expect(attempts).toBeLessThanOrEqual(12);
  });

  it('retries a connection error until it passes, without setting any row aside', async () => {
    let failures = 3;
    const { w, bad } = makeWriter({
      write: async () => {
        if (failures-- > 0) throw new Error('Connection terminated unexpectedly');
      },
    });
    w.add([{ k: 'a', v: 1 }]);
    await w.whenIdle();
    expect(failures).toBe(-1);
    expect(bad).toEqual([]);
  });

  it('hands rows past the memory budget to onOverflow and counts them', async () => {
    const { w, overflow } = makeWriter({
      budget: new BufferBudget(15),
      write: () => new Promise(() => {}), // the database hangs
    });
    w.add(Array.from({ length: 20 }, (_, i) => ({ k: `k${i}`, v: i })));
    expect(w.held).toBe(15);
    expect(overflow.map((r) => r.v)).toEqual([15, 16, 17, 18, 19]);
  });

  it('bounds memory in bytes too (BUFFER_MAX_BYTES): whichever limit comes first sends rows on, and written rows free their bytes', async () => {
    const held = 10 * (100 + EVENT_OVERHEAD_BYTES); // ten rows: their payloads and what holding each costs
    const budget = new BufferBudget(1_000, held);
    const written: Row[] = [];
    const { w, overflow } = makeWriter({
      budget,
      maxEvents: 100,
      sizeOf: (r) => r.v, // bytes
      write: async (rows) => void written.push(...rows),
    });
    w.add(Array.from({ length: 20 }, (_, i) => ({ k: `k${i}`, v: 100 }))); // 20 rows of 100 bytes
    expect(w.held).toBe(10); // the byte limit, long before the event limit
    expect(budget.heldBytes).toBe(held);
    expect(overflow).toHaveLength(10);
    await w.whenIdle();
    expect(written).toHaveLength(10);
    expect(budget.heldBytes).toBe(0);
  });

  it('drain writes everything buffered, ignoring maxWaitMs', async () => {
    const written: Row[] = [];
    const { w } = makeWriter({ maxWaitMs: 60_000, write: async (rows) => void written.push(...rows) });
    w.add([{ k: 'a', v: 1 }]);
    expect(await w.drain()).toBe(0);
    expect(written).toEqual([{ k: 'a', v: 1 }]);
  });

  it('drain gives up at its deadline and reports the rows it could not write', async () => {
    const abandoned: Row[] = [];
    const { w } = makeWriter({
      write: async () => {
        throw Object.assign(new Error('down'), { code: 'ECONNREFUSED' });
      },
      onAbandon: (rows) => abandoned.push(...rows),
    });
    w.add([{ k: 'a', v: 1 }]);
    await w.drain(AbortSignal.timeout(100));
    expect(abandoned).toEqual([{ k: 'a', v: 1 }]);
    expect(w.held).toBe(0);
  });
});
