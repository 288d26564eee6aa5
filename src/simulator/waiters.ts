/**
 * Condition waits for the fake servers: `until()` resolves once `done()` holds, re-checked whenever
 * the server calls `notify()` after a state change (no polling), and rejects after `timeoutMs`.
 */
export class Waiters {
  readonly #waiters = new Set<() => void>();

  constructor(private readonly serverName: string) {}

  notify(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }

  until(done: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (done()) return resolve();
      const check = (): void => {
        if (!done()) return;
        cleanup();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${this.serverName}: timed out after ${timeoutMs} ms waiting for ${what()}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
    });
  }
}
