/**
 * The three scopes of a write error (CONTRACT.md, "When the database says no"), decided by SQLSTATE:
 * transient and "database refusing" errors hold the rows (never a reject) until a write passes; the
 * row's errors (classes 22, 23, 54) reject that row alone; an error of no known scope is decided by a
 * canary, the writer option `canary: () => Promise<void>`: the canary fails too, the database is
 * refusing (hold); it succeeds, the row is at fault (reject).
 */
import { describe, expect, it } from 'vitest';
import { makeWriter, type Row } from '../helpers/batch-writer.js';
import { waitFor } from '../helpers/wait-for.js';




const rows = (n: number) => Array.from({ length: n }, (_, i) => ({ k: `k${String(i).padStart(3, '0')}`, v: i }));
const pgError = (code: string, message: string) => Object.assign(new Error(message), { code });

/** How many times each row was written (by key). */
function tally(written: readonly Row[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of written) m.set(r.k, (m.get(r.k) ?? 0) + 1);
  return m;
}

describe('BatchWriter: the scope of a write error', () => {
  it('42501 (privilege) for 3 s, then success: no row rejected, every row written once', async () => {
    const written: Row[] = [];
    const refusedUntil = Date.now() + 3_000;
    let refusals = 0;
    const { w, bad } = makeWriter({
      write: async (batch) => {
        if (Date.now() < refusedUntil) {
          refusals++;
          throw pgError('42501', 'permission denied for table bptf_listings');
        }
        written.push(...batch);
      },
    });
    w.add(rows(35));
    // While the database refuses, the writer holds the rows and says it is failing; nothing is set aside.
    await waitFor(() => refusals >= 3, 'refused writes');
    expect(bad).toEqual([]);
    expect(w.failing).toBe(true);
    expect(w.held).toBe(35);
    await waitFor(() => Date.now() >= refusedUntil, 'the 3 s refusal', 5_000, 50);
    expect(bad).toEqual([]);
    await waitFor(() => w.held === 0, 'every row written after the refusal', 15_000);
    expect(bad).toEqual([]);
    expect(tally(written)).toEqual(new Map(rows(35).map((r) => [r.k, 1])));
    expect(w.failing).toBe(false);
  }, 20_000);

  it('a batch of 100 with two rows the database refuses as data (22P05): exactly those two rejected, the other 98 written', async () => {
    const written: Row[] = [];
    const poison = new Set([17, 64]);
    const { w, bad } = makeWriter({
      maxEvents: 100,
      write: async (batch) => {
        if (batch.some((r) => poison.has(r.v))) throw pgError('22P05', 'unsupported Unicode escape sequence');
        written.push(...batch);
      },
    });
    w.add(rows(100));
    await waitFor(() => w.held === 0, 'the batch settled');
    expect(bad.map((r) => r.v).sort((a, b) => a - b)).toEqual([17, 64]);
    expect(tally(written)).toEqual(new Map(rows(100).filter((r) => !poison.has(r.v)).map((r) => [r.k, 1])));
    expect(w.failing).toBe(false);
  }, 20_000);

  it('an unclassified SQLSTATE (XX000) whose canary fails too: the database is refusing, rows are held until a write passes', async () => {
    const written: Row[] = [];
    let broken = true;
    let canaries = 0;
    let refusals = 0;
    const { w, bad } = makeWriter({
      write: async (batch) => {
        if (broken) {
          refusals++;
          throw pgError('XX000', 'could not read block 0 in file "base/16384/16385"');
        }
        written.push(...batch);
      },
      canary: async () => {
        canaries++;
        if (broken) throw pgError('XX000', 'could not read block 0 in file "base/16384/2619"');
      },
    });
    w.add(rows(25));
    await waitFor(() => refusals >= 3, 'refused writes');
    const brokenAt = Date.now();
    await waitFor(() => Date.now() - brokenAt >= 2_000, 'two seconds of refusal', 5_000, 50);
    expect(bad).toEqual([]);
    expect(canaries, 'the canary was asked').toBeGreaterThan(0);
    expect(w.held).toBe(25);
    broken = false;
    await waitFor(() => w.held === 0, 'every row written once the database accepts again', 15_000);
    expect(bad).toEqual([]);
    expect(tally(written)).toEqual(new Map(rows(25).map((r) => [r.k, 1])));
  }, 20_000);

  it('an unclassified SQLSTATE (XX000) whose canary succeeds: the row is at fault and rejected, the others written', async () => {
    const written: Row[] = [];
    let canaries = 0;
    const { w, bad } = makeWriter({
      write: async (batch) => {
        if (batch.some((r) => r.v === 5)) throw pgError('XX000', 'unexpected chunk number 0 (expected 1) for toast value');
        written.push(...batch);
      },
      canary: async () => {
        canaries++;
      },
    });
    w.add(rows(10));
    await waitFor(() => w.held === 0, 'the batch settled');
    expect(bad).toEqual([{ k: 'k005', v: 5 }]);
    expect(tally(written)).toEqual(new Map(rows(10).filter((r) => r.v !== 5).map((r) => [r.k, 1])));
    expect(canaries, 'the canary decided').toBeGreaterThan(0);
  }, 20_000);
});
