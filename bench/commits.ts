/**
 * Commit observation, measured at the database (the daemon is another process).
 *
 * Every frame has a probe: its last event, whose listing row will show that event id (or a newer
 * one) once the frame is committed. Each listing's events are sent in id order, so "row.event_id >=
 * probe" means the probe event was applied. Every frame arrives whole in one `BatchWriter.add`, so its
 * events are in the same batch (or, at a batch boundary, the probe is in the later one): the probe's
 * commit is the frame's commit.
 *
 * The tracker polls `SELECT id, event_id FROM bptf_listings WHERE id = ANY(<probe ids of frames
 * not yet seen committed>)` (primary-key lookups, a few dozen rows) every `pollMs`. A frame's commit
 * time is the time the first poll that saw it was sent: the commit happened after the previous poll
 * and before this one, so the figure is an upper bound, late by at most `pollMs` (plus the poll's own
 * duration when Postgres is slow to answer). A later event of the same listing committed first by the
 * other in-flight batch would mark the probe early; with tens of thousands of listings that is rare.
 */
import pg from 'pg';

export interface TrackedFrame {
  readonly index: number;
  readonly events: number;
  readonly probeListingId: string;
  readonly probeEventId: string;
  readonly sentAt: number;
  committedAt?: number;
}

export class CommitTracker {
  readonly #client: pg.Client;
  readonly #pollMs: number;
  readonly #outstanding = new Map<number, TrackedFrame>();
  readonly #waiters = new Set<() => void>();
  #running = false;
  #loop: Promise<void> | undefined;
  #error: unknown;
  readonly committed: TrackedFrame[] = [];
  outstandingEvents = 0;
  polls = 0;
  pollMsTotal = 0;
  pollMsMax = 0;

  constructor(databaseUrl: string, pollMs: number) {
    this.#client = new pg.Client({ connectionString: databaseUrl, application_name: 'tributary-bench-poll' });
    this.#pollMs = pollMs;
  }

  async start(): Promise<void> {
    await this.#client.connect();
    this.#running = true;
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
    await this.#client.end();
  }

  sent(frame: TrackedFrame): void {
    this.#outstanding.set(frame.index, frame);
    this.outstandingEvents += frame.events;
  }

  /** Resolves once at most `maxEvents - next` events are sent and not yet seen committed. */
  async waitForRoom(maxEvents: number, next: number): Promise<void> {
    while (this.outstandingEvents > 0 && this.outstandingEvents + next > maxEvents) await this.#changed();
  }

  /** Resolves once every sent frame is seen committed; rejects after `timeoutMs`. */
  async waitAll(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.#outstanding.size > 0) {
      if (Date.now() > deadline) throw new Error(`bench: ${this.outstandingEvents} events not committed after ${timeoutMs} ms`);
      await this.#changed();
    }
  }

  #changed(): Promise<void> {
    if (this.#error) return Promise.reject(this.#error);
    return new Promise((resolve) => this.#waiters.add(resolve));
  }

  async #run(): Promise<void> {
    while (this.#running) {
      const startedAt = Date.now();
      try {
        if (this.#outstanding.size > 0) await this.#poll(startedAt);
      } catch (err) {
        this.#error = err;
      }
      for (const w of [...this.#waiters]) w();
      this.#waiters.clear();
      const wait = startedAt + this.#pollMs - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  }

  async #poll(startedAt: number): Promise<void> {
    const ids = [...new Set([...this.#outstanding.values()].map((f) => f.probeListingId))];
    const r = await this.#client.query<{ id: string; event_id: string }>('SELECT id, event_id FROM bptf_listings WHERE id = ANY($1::text[])', [ids]);
    const took = Date.now() - startedAt;
    this.polls++;
    this.pollMsTotal += took;
    this.pollMsMax = Math.max(this.pollMsMax, took);
    const seen = new Map(r.rows.map((row) => [row.id, row.event_id]));
    for (const [index, f] of this.#outstanding) {
      const e = seen.get(f.probeListingId);
      if (e !== undefined && e >= f.probeEventId) {
        f.committedAt = startedAt;
        this.#outstanding.delete(index);
        this.outstandingEvents -= f.events;
        this.committed.push(f);
      }
    }
  }
}

export interface LagStats {
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

/** Percentiles of commit - send over events (every event of a frame has the frame's lag). */
export function lagStats(frames: readonly TrackedFrame[]): LagStats {
  const lags = frames
    .filter((f) => f.committedAt !== undefined)
    .map((f) => ({ lag: (f.committedAt as number) - f.sentAt, n: f.events }))
    .sort((a, b) => a.lag - b.lag);
  const total = lags.reduce((s, l) => s + l.n, 0);
  const at = (q: number) => {
    let acc = 0;
    for (const l of lags) {
      acc += l.n;
      if (acc >= q * total) return l.lag;
    }
    return lags[lags.length - 1]?.lag ?? 0;
  };
  return {
    p50: at(0.5),
    p99: at(0.99),
    max: lags[lags.length - 1]?.lag ?? 0,
    mean: total ? lags.reduce((s, l) => s + l.lag * l.n, 0) / total : 0,
  };
}
