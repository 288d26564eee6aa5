import { makeListingUpdate, mulberry32, type BptfEvent } from '../../src/simulator/bptf-events.js';
import type { FakeBptfServer } from '../../src/simulator/bptf-server.js';

export interface ListingStreamOptions {
  /** Events per frame; one frame per tick (default 15). */
  readonly eventsPerTick?: number;
  /** Milliseconds between frames (default 100: with 15 per frame, 150 events/s). */
  readonly tickMs?: number;
  /** Share of events that update a listing sent before rather than create one (default 0.4). */
  readonly updateShare?: number;
  /** Seed of the choice of listings to update (default 1). */
  readonly seed?: number;
}

/** An event and when (Date.now()) its frame went to the server's sockets. */
export interface SentEvent {
  readonly event: BptfEvent;
  readonly at: number;
}

/**
 * A steady stream of backpack.tf listing updates from a FakeBptfServer: new listings and updates of
 * listings already sent (another price, bump time, details: another payload), each frame a second of
 * event time later than the one before (the event times start an hour in the past so that none is
 * ever ahead of the wall clock). Every event sent is kept, with its time, in `sent`.
 */
export class ListingStream {
  readonly sent: SentEvent[] = [];
  readonly #server: FakeBptfServer;
  readonly #perTick: number;
  readonly #tickMs: number;
  readonly #updateShare: number;
  readonly #random: () => number;
  readonly #baseSec = Math.floor(Date.now() / 1000) - 3_600;
  #tick = 0;
  #listings = 0;
  #version = 0;
  #timer: NodeJS.Timeout | undefined;
  /** Frames nobody received (no daemon connected): their events are not in `sent`. */
  undelivered = 0;

  constructor(server: FakeBptfServer, opts: ListingStreamOptions = {}) {
    this.#server = server;
    this.#perTick = opts.eventsPerTick ?? 15;
    this.#tickMs = opts.tickMs ?? 100;
    this.#updateShare = opts.updateShare ?? 0.4;
    this.#random = mulberry32(opts.seed ?? 1);
  }

  get running(): boolean {
    return this.#timer !== undefined;
  }

  start(): void {
    this.#timer ??= setInterval(() => this.sendFrame(), this.#tickMs);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Send one frame now. */
  sendFrame(): void {
    const timeSec = this.#baseSec + this.#tick++;
    const events: BptfEvent[] = [];
    for (let i = 0; i < this.#perTick; i++) {
      const update = this.#listings > 0 && this.#random() < this.#updateShare;
      const index = update ? Math.floor(this.#random() * this.#listings) : this.#listings++;
      events.push(makeListingUpdate(index, { timeSec, seed: ++this.#version }));
    }
    if (!this.#server.sendEvents(events)) {
      this.undelivered++;
      return;
    }
    const at = Date.now();
    for (const event of events) this.sent.push({ event, at });
  }

  /** The events sent (delivered to a client), optionally only those sent before `before` (Date.now() ms). */
  events(before = Infinity): BptfEvent[] {
    return this.sent.filter((s) => s.at < before).map((s) => s.event);
  }
}
