import type { Logger } from '../logger.js';

/** A cleanup gets the stop's deadline: work still unfinished when it aborts is given up (and counted). */
export type Cleanup = (deadline: AbortSignal) => Promise<unknown> | unknown;

/**
 * One lifecycle for the whole daemon: one AbortSignal, threaded into every loop, sleep and retry,
 * and one shutdown registry. Each resource registers its cleanup right where it is created, so the
 * order of stop is the reverse of the order of start by construction (connectors close before
 * writers drain, writers drain before the database closes).
 *
 * stop(): aborts the signal (every loop and sleep ends promptly, a start in progress included),
 * waits for the start to give up, then runs the cleanups, last registered first. A failing cleanup
 * is logged and the others still run. Idempotent.
 */
export class Lifecycle {
  readonly #abort = new AbortController();
  readonly #cleanups: Array<{ readonly name: string; readonly run: Cleanup }> = [];
  readonly #logger: Logger;
  readonly #deadlineMs: number;
  #starting: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;

  /** @param deadlineMs the whole stop's budget (ms): cleanups see a deadline signal that aborts after it. */
  constructor(logger: Logger, deadlineMs: number) {
    this.#logger = logger;
    this.#deadlineMs = deadlineMs;
  }

  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** Register a cleanup beside the resource it releases. */
  defer(name: string, run: Cleanup): void {
    this.#cleanups.push({ name, run });
  }

  /**
   * Run `start` once. A stop during it aborts the signal: `start` is expected to check it after each
   * step (`signal.throwIfAborted()`), and the AbortError that ends it then is not a failure.
   */
  start(start: (signal: AbortSignal) => Promise<void>): Promise<void> {
    this.#starting ??= start(this.signal).catch((err: unknown) => {
      if (this.signal.aborted) return;
      throw err;
    });
    return this.#starting;
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    const deadline = AbortSignal.timeout(this.#deadlineMs);
    this.#abort.abort();
    await this.#starting?.catch(() => undefined);
    for (const { name, run } of this.#cleanups.splice(0).reverse()) {
      try {
        await run(deadline);
      } catch (err) {
        this.#logger.error({ err, step: name }, 'a shutdown step failed; continuing with the others');
      }
    }
  }
}
