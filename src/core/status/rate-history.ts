/** One point of the chart: events (written, or received) per second over one bucket, from `from` to `at` (ms since epoch). */
export interface RatePoint {
  readonly from: number;
  readonly at: number;
  readonly perSecond: number;
}

/**
 * Events per second of each source over the last `windowMs`, in buckets of `bucketMs`: what the
 * status page draws (one history for events written, one for received). It samples a cumulative
 * counter (SourceStatus.eventsWritten, eventsReceived) and keeps
 * differences, so it costs a few numbers per bucket and nothing on the write path.
 */
export class RateHistory {
  readonly #bucketMs: number;
  readonly #capacity: number;
  readonly #series = new Map<string, { points: RatePoint[]; last: { at: number; count: number } }>();

  constructor(opts: { readonly bucketMs: number; readonly windowMs: number }) {
    this.#bucketMs = opts.bucketMs;
    this.#capacity = Math.max(1, Math.round(opts.windowMs / opts.bucketMs));
  }

  get bucketMs(): number {
    return this.#bucketMs;
  }

  /** Record the counters at `now` (ms); called every bucketMs. A source seen for the first time starts its series here. */
  sample(counts: Iterable<{ readonly source: string; readonly count: number }>, now = Date.now()): void {
    for (const { source, count } of counts) {
      const s = this.#series.get(source);
      if (!s) {
        this.#series.set(source, { points: [], last: { at: now, count } });
        continue;
      }
      const elapsedMs = now - s.last.at;
      if (elapsedMs <= 0) continue;
      s.points.push({ from: s.last.at, at: now, perSecond: (Math.max(0, count - s.last.count) * 1000) / elapsedMs });
      if (s.points.length > this.#capacity) s.points.splice(0, s.points.length - this.#capacity);
      s.last = { at: now, count };
    }
  }

  /**
   * The completed buckets of `source`, then the bucket in progress (rate since the last sample), so a
   * page shows events within a second of their commit rather than at the next bucket's end.
   */
  series(source: string, count: number, now = Date.now()): RatePoint[] {
    const s = this.#series.get(source);
    if (!s) return [];
    const elapsedMs = now - s.last.at;
    // Under a tenth of a bucket the partial rate is noise (a few events over a few ms): leave it out.
    if (elapsedMs < this.#bucketMs / 10) return [...s.points];
    return [...s.points, { from: s.last.at, at: now, perSecond: (Math.max(0, count - s.last.count) * 1000) / elapsedMs }];
  }
}
