import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * How often external memory is looked at (ms); a look is a few microseconds. While a backlog is
 * drained (30,000 events/s), dead frames and the driver's bind messages (a batch's size, 2-3 MB
 * each) add 100 MB a second: at one look every 250 ms, external memory went 30-40 MB past the slack
 * before a collection was even asked for.
 */
const CHECK_EVERY_MS = 50;
/** External memory allowed to build up past what the last collection left, before asking for one (bytes). */
const SLACK_BYTES = 8 * 1024 * 1024;

type Gc = (options: { type: 'major'; execution: 'async' }) => Promise<void>;

/**
 * Frames arrive as Buffers, whose bytes live outside V8's heap. A frame's rows wait for their batch
 * (up to BATCH_MAX_WAIT_MS; seconds in a backlog), which outlives the daemon's small young
 * generation (young-generation.ts): the frame's Buffer object is promoted, and its bytes are then
 * freed only by a full collection. V8 starts one for external memory only once it has grown 64 MB
 * past what the last one left, so up to 64 MB of frames already written or spooled stayed resident
 * on top of the BUFFER_MAX_BYTES of live ones. Measured with the firehose bench and a 100 000-event
 * backlog: external memory peaked at 141 MB, of which 76 MB was live.
 *
 * This asks for a full collection (concurrent marking, off the event loop; 20-40 ms of CPU with the
 * heap of a full buffer) once external memory is SLACK_BYTES past what the last one left, and only
 * while it holds at least `minBytes` (three quarters of BUFFER_MAX_BYTES: app.ts). Below that, V8's
 * own rule is enough for memory that stays well within the budget: at the firehose's rate the
 * collector asked for several collections a second, and leaving them out cost 10-15 us of CPU
 * less per event. Outage bench (216,000 events, the database cut, then restored), peak RSS: 199-214
 * MB with a look every 250 ms and no floor, 179-183 MB now.
 */
export class ExternalMemoryCollector {
  readonly #gc: Gc;
  readonly #external: () => number;
  #timer: NodeJS.Timeout | undefined;
  #floor: number;
  readonly #minBytes: number;
  #collecting = false;
  /** Collections asked for so far. */
  collections = 0;

  /** `minBytes`: no collection is asked for while external memory is below this. */
  constructor(opts: { gc?: Gc; externalBytes?: () => number; minBytes?: number } = {}) {
    this.#external = opts.externalBytes ?? (() => getHeapStatistics().external_memory);
    this.#gc = opts.gc ?? exposeGc();
    this.#minBytes = opts.minBytes ?? 0;
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
    if (external - this.#floor < SLACK_BYTES || external < this.#minBytes) return;
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
