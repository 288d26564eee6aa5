import type { FeedContext, PeriodicTask } from './feed.js';

/**
 * Runs feeds' periodic tasks: each every `intervalMs` after the previous run ends (so a slow run
 * never overlaps the next), on a timer that does not keep the process alive. A failed run is logged
 * and the next one tries again. The returned stop aborts the runs in progress and waits for them.
 */
export function startPeriodicTasks(tasks: ReadonlyArray<{ readonly task: PeriodicTask; readonly ctx: FeedContext }>): () => Promise<void> {
  const abort = new AbortController();
  const running = new Set<Promise<void>>();
  const timers = new Set<NodeJS.Timeout>();
  const schedule = (task: PeriodicTask, ctx: FeedContext, first = false) => {
    if (abort.signal.aborted) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      const run = task
        .run(ctx, abort.signal)
        .catch((err: unknown) => {
          if (!abort.signal.aborted) ctx.logger.warn({ err, task: task.name }, 'periodic task failed; it runs again at its next interval');
        })
        .finally(() => {
          running.delete(run);
          schedule(task, ctx);
        });
      running.add(run);
    }, first && task.runAtStart ? 0 : task.intervalMs);
    timer.unref();
    timers.add(timer);
  };
  for (const { task, ctx } of tasks) schedule(task, ctx, true);
  return async () => {
    abort.abort();
    for (const t of timers) clearTimeout(t);
    await Promise.allSettled([...running]);
  };
}
