import { describe, expect, it } from 'vitest';
import { startPeriodicTasks } from '../../src/core/periodic-tasks.js';
import { createLogger } from '../../src/logger.js';
import { fakeFeedContext } from '../helpers/feed-context.js';
import { waitFor } from '../helpers/wait-for.js';

describe('startPeriodicTasks', () => {
  it('runs a task again after each run, goes on after a failure, and stop aborts and waits for the run in progress', async () => {
    const { ctx } = fakeFeedContext('toy', { logger: createLogger('silent') });
    let runs = 0;
    let overlapping = 0;
    let active = 0;
    let finishedAfterAbort = false;
    const stop = startPeriodicTasks([
      {
        ctx,
        task: {
          name: 'toy',
          intervalMs: 5,
          async run(_ctx, signal) {
            active++;
            overlapping = Math.max(overlapping, active);
            runs++;
            try {
              if (runs === 2) throw new Error('a failed run');
              if (runs >= 4) {
                await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
                finishedAfterAbort = signal.aborted;
              }
            } finally {
              active--;
            }
          },
        },
      },
    ]);
    await waitFor(() => runs >= 4, 'four runs');
    await stop();
    expect(finishedAfterAbort).toBe(true);
    expect(overlapping).toBe(1);
    expect(runs).toBe(4);
  });
});
