import { BatchWriter, type BatchWriterOptions } from '../../src/core/writer/batch-writer.js';
import { BufferBudget } from '../../src/core/writer/buffer-budget.js';
import { Spool, SpoolBudget } from '../../src/core/writer/spool.js';
import { createLogger } from '../../src/logger.js';
import { createMetrics } from '../../src/metrics.js';

/** The rows of the writer's unit tests. */
export type Row = { k: string; v: number };

/**
 * A BatchWriter of Rows with fast settings (batches of 10, 20 ms wait, 1–5 ms retry backoff, room for
 * 1,000 rows, no spool), whose refused and overflowing rows are collected; `over` changes any of it.
 */
export function makeWriter(over: Partial<BatchWriterOptions<Row>> & Pick<BatchWriterOptions<Row>, 'write'>) {
  const bad: Row[] = [];
  const overflow: Row[] = [];
  const w = new BatchWriter<Row>({
    name: 'test',
    maxEvents: 10,
    maxWaitMs: 20,
    retry: { baseMs: 1, maxMs: 5 },
    budget: new BufferBudget(1000),
    logger: createLogger('silent'),
    metrics: createMetrics(),
    onBadRow: (r) => bad.push(r),
    onOverflow: (rows) => overflow.push(...rows),
    ...over,
  });
  return { w, bad, overflow };
}

/**
 * The settings of the writer's outage and replay tests (batches of 10, 5 ms wait, 5–20 ms retry
 * backoff, room for 10,000 rows), for rows of any type; the test adds its table and callbacks.
 */
export function outageSettings() {
  return {
    name: 'test',
    maxEvents: 10,
    maxWaitMs: 5,
    retry: { baseMs: 5, maxMs: 20 },
    budget: new BufferBudget(10_000),
    logger: createLogger('silent'),
    metrics: createMetrics(),
  };
}

/** A spool in `dir` with room for 100 MB and a 10 ms fsync, as the outage and replay tests use it. */
export function outageSpool<T>(dir: string): Spool<T> {
  return new Spool<T>({ dir, budget: new SpoolBudget(100_000_000), fsyncIntervalMs: 10, logger: createLogger('silent') });
}
