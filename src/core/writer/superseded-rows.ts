/**
 * Rows of a spool that a newer row of the same key, also in the spool, makes moot. After an outage a
 * busy feed's spool holds many events per key (the bench's hour-long outage: 216,000 events over
 * 50,000 keys), and replaying each of them rewrote a row that the next event of its key
 * rewrote again moments later. A table whose rows can carry their key's whole state says so with a
 * `Supersede`; the writer notes here, per key, the newest such row it put in the spool, and a replay
 * skips the rows older than it. The database ends in the state writing them all would give, because
 * the table's write keeps only newer data and the whole row is written later in the same replay.
 *
 * In memory: rows are noted as this run puts them in the spool, and a spool an earlier run left is
 * read once for them before its replay (batch-writer.ts).
 */
export interface Supersede<Row> {
  /**
   * For a row that, once written, leaves its key in the same state whatever older rows of the key
   * were written before it: a string that orders it among such rows (JavaScript string order, newest
   * greatest). Undefined for any other row.
   */
  wholeOrder(row: Row): string | undefined;
  /** True when a whole row of order `order` is newer than `row` in everything the table's write compares. */
  isOlder(row: Row, order: string): boolean;
}

export class SupersededRows<T> {
  /** Per key, the order of the newest whole row in the spool. */
  readonly #newest = new Map<string, string>();
  readonly #key: (row: T) => string;
  readonly #supersede: Supersede<T>;

  constructor(key: (row: T) => string, supersede: Supersede<T>) {
    this.#key = key;
    this.#supersede = supersede;
  }

  /** Keys noted: what the index holds in memory. */
  get size(): number {
    return this.#newest.size;
  }

  /** Rows now on disk in the spool. */
  note(rows: Iterable<T>): void {
    for (const row of rows) {
      const order = this.#supersede.wholeOrder(row);
      if (order === undefined) continue;
      const key = this.#key(row);
      const had = this.#newest.get(key);
      if (had === undefined || order > had) this.#newest.set(key, order);
    }
  }

  /** The rows of a segment about to be replayed: those to write, and those a newer whole row in the spool makes moot. */
  split(rows: readonly T[]): { kept: T[]; moot: T[] } {
    const kept: T[] = [];
    const moot: T[] = [];
    if (this.#newest.size === 0) return { kept: [...rows], moot };
    for (const row of rows) {
      const newest = this.#newest.get(this.#key(row));
      if (newest !== undefined && this.#supersede.isOlder(row, newest)) moot.push(row);
      else kept.push(row);
    }
    return { kept, moot };
  }

  /** The spool is empty and every replayed row settled: nothing noted is on disk any more. */
  clear(): void {
    this.#newest.clear();
  }
}
