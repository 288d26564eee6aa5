/**
 * What holding one event costs besides its payload (bytes): the row object, the columns extracted
 * from it, its place in the writer's queues. Measured on the V8 heap for the busiest feed's rows:
 * 464 B each (their 2 KB payloads then cost 30 % more than their bytes).
 */
export const EVENT_OVERHEAD_BYTES = 512;

/**
 * The memory budget shared by every writer: events held anywhere in memory (buffered or in flight),
 * whichever table they are for, bounded both in count (BUFFER_MAX_EVENTS) and in bytes
 * (BUFFER_MAX_BYTES: each event's payload plus EVENT_OVERHEAD_BYTES, so that the bound is the memory
 * the events hold): whichever is reached first sends further events to the spool.
 */
export class BufferBudget {
  #held = 0;
  #heldBytes = 0;

  /** @param maxBytes bytes: payload (as each writer's sizeOf estimates it) plus EVENT_OVERHEAD_BYTES an event */
  constructor(
    readonly maxEvents: number,
    readonly maxBytes = Number.POSITIVE_INFINITY,
  ) {}

  get held(): number {
    return this.#held;
  }

  get heldBytes(): number {
    return this.#heldBytes;
  }

  /** Under half of both limits: room to load a spool segment for replay. */
  get roomToReplay(): boolean {
    return this.#held <= this.maxEvents / 2 && this.#heldBytes <= this.maxBytes / 2;
  }

  /** Reserve room for events of these payload sizes (bytes), in order; returns how many fit. */
  reserve(sizes: readonly number[]): number {
    let n = 0;
    for (const size of sizes) {
      const bytes = size + EVENT_OVERHEAD_BYTES;
      if (this.#held >= this.maxEvents || this.#heldBytes + bytes > this.maxBytes) break;
      this.#held++;
      this.#heldBytes += bytes;
      n++;
    }
    return n;
  }

  /** Take room for `n` events of `payloadBytes` in all, even past the limits (a replayed spool segment, bounded in size). */
  force(n: number, payloadBytes: number): void {
    this.#held += n;
    this.#heldBytes += payloadBytes + n * EVENT_OVERHEAD_BYTES;
  }

  /** Give back the room of `n` events of `payloadBytes` in all. */
  release(n: number, payloadBytes: number): void {
    this.#held = Math.max(0, this.#held - n);
    this.#heldBytes = Math.max(0, this.#heldBytes - payloadBytes - n * EVENT_OVERHEAD_BYTES);
  }
}
