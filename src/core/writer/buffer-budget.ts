/**
 * The memory budget shared by every writer: events held anywhere in memory (buffered or in flight),
 * whichever table they are for, bounded both in count (BUFFER_MAX_EVENTS) and in payload bytes
 * (BUFFER_MAX_BYTES): whichever is reached first sends further events to the spool.
 */
export class BufferBudget {
  #held = 0;
  #heldBytes = 0;

  /** @param maxBytes payload bytes (as each writer's sizeOf estimates them) */
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

  /** Reserve room for events of these sizes (bytes), in order; returns how many fit. */
  reserve(sizes: readonly number[]): number {
    let n = 0;
    for (const size of sizes) {
      if (this.#held >= this.maxEvents || this.#heldBytes + size > this.maxBytes) break;
      this.#held++;
      this.#heldBytes += size;
      n++;
    }
    return n;
  }

  /** Take room even past the limits (a replayed spool segment, bounded in size). */
  force(n: number, bytes: number): void {
    this.#held += n;
    this.#heldBytes += bytes;
  }

  release(n: number, bytes: number): void {
    this.#held = Math.max(0, this.#held - n);
    this.#heldBytes = Math.max(0, this.#heldBytes - bytes);
  }
}
