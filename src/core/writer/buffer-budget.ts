/**
 * The memory budget shared by every writer: BUFFER_MAX_EVENTS counts events held anywhere in
 * memory (buffered or in flight), whichever table they are for.
 */
export class BufferBudget {
  #held = 0;
  constructor(readonly max: number) {}

  get held(): number {
    return this.#held;
  }

  /** Reserve room for up to `n` events; returns how many fit. */
  reserve(n: number): number {
    const granted = Math.max(0, Math.min(n, this.max - this.#held));
    this.#held += granted;
    return granted;
  }

  /** Take room for `n` events even past the maximum (a replayed spool segment, bounded in size). */
  force(n: number): void {
    this.#held += n;
  }

  release(n: number): void {
    this.#held = Math.max(0, this.#held - n);
  }
}
