import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { BufferBudget } from './buffer-budget.js';

/** How often external memory is looked at (ms); a look is a few microseconds. */
const CHECK_EVERY_MS = 250;
/** External memory allowed to build up past what the last collection left, before asking for one (bytes). */
const SLACK_BYTES = 16 * 1024 * 1024;
/** Only while the buffer holds at least this share of BUFFER_MAX_BYTES: a backlog. */
const FROM_SHARE_OF_BUDGET = 0.25;

type Gc = (options: { type: 'major'; execution: 'async' }) => Promise<void>;

/**
 * Frames arrive as Buffers, whose bytes live outside V8's heap. Those that outlive a young-generation
 * collection (frames held in the buffer for a second or more, as in a backlog) are freed only by a
 * full collection, and V8 starts one for external memory only once it has grown 64 MB past what the
 * last one left: up to 64 MB of frames already written or spooled stay resident on top of the
 * BUFFER_MAX_BYTES of live ones. Measured with the firehose bench and a 100 000-event backlog:
 * external memory peaked at 141 MB, of which 76 MB was live.
 *
 * While the buffer holds a backlog, this asks for a full collection (concurrent marking, off the
 * event loop) once external memory is SLACK_BYTES past what the last one left. Without a backlog
 * frames die young and the young-generation collections free them; it then does nothing, and
 * costs no CPU (each full collection in a backlog costs a few milliseconds).
 */
export class ExternalMemoryCollector {
  readonly #budget: BufferBudget;
  readonly #gc: Gc;
  readonly #external: () => number;
  #timer: NodeJS.Timeout | undefined;
  #floor: number;
  #collecting = false;
  /** Collections asked for so far. */
  collections = 0;

  constructor(budget: BufferBudget, opts: { gc?: Gc; externalBytes?: () => number } = {}) {
    this.#budget = budget;
    this.#external = opts.externalBytes ?? (() => getHeapStatistics().external_memory);
    this.#gc = opts.gc ?? exposeGc();
    this.#floor = this.#external();
  }

  start(): void {
    this.#timer = setInterval(() => this.check(), CHECK_EVERY_MS);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  check(): void {
    if (this.#collecting) return;
    const external = this.#external();
    // Lower after frames died young and were freed without a full collection: the floor follows.
    if (external < this.#floor) this.#floor = external;
    if (external - this.#floor < SLACK_BYTES) return;
    if (this.#budget.heldBytes < this.#budget.maxBytes * FROM_SHARE_OF_BUDGET) return;
    this.#collecting = true;
    this.collections++;
    void this.#gc({ type: 'major', execution: 'async' }).finally(() => {
      this.#collecting = false;
      this.#floor = this.#external();
    });
  }
}

/**
 * V8's gc(), without the --expose-gc flag on the command line (which every way of running the daemon
 * would have to carry): the flag set now applies to contexts created after it.
 */
function exposeGc(): Gc {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as Gc;
}
