import type { Kysely } from 'kysely';
import type { Logger } from '../../logger.js';
import { delay } from '../../util/delay.js';
import type { CoreDatabase } from '../db/schema.js';
import { closeGap, deleteGap, insertGap, lastFrameOf, openGapOf, otherReplicaReceivedSince } from './gaps-store.js';

export interface GapTrackerOptions {
  readonly source: string;
  readonly instance: string;
  /** GAP_MIN_MS: shorter interruptions are not recorded (ms). */
  readonly minMs: number;
  readonly db: Kysely<CoreDatabase>;
  /** False until migrations are applied: database work waits for it. */
  readonly ready: () => boolean;
  readonly logger: Logger;
  /** The daemon's stop: database work still waiting is dropped. */
  readonly signal: AbortSignal;
}

/** An interruption in progress, from `since` (ms); `openId` once its row is written or adopted. */
interface Pending {
  readonly since: number;
  readonly reason: string;
  openId: string | undefined;
}

/**
 * ingest_gaps for one source on this replica: while it leads the source (holds its lock, or the feed
 * runs everywhere), an interruption of its connection (the socket closed or stalled, or a restart or
 * takeover before its first frame) that lasts at least GAP_MIN_MS becomes a row from the last frame
 * before to the first frame after. Past GAP_MIN_MS the row is written open, so the gap shows while
 * it lasts; a run or replica that takes over adopts an open row rather than adding a second one.
 * A restart's gap starts at the last frame the source's previous holder recorded in ingest_status
 * (written every 5 s and at a clean stop, so a crash's gap may start up to 5 s early). Gaps are
 * advisory: a failed write is logged, never retried into the writers' way.
 */
export class GapTracker {
  readonly #o: GapTrackerOptions;
  #leading = false;
  #lastFrameAt: number | undefined;
  #pending: Pending | undefined;
  /** While the previous holder's last frame is looked up at the start of a term: this term's first frame. */
  #lookup: { firstFrameAt: number | undefined } | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Database work, one statement at a time in order, so an open row exists before it is closed. */
  #chain: Promise<void> = Promise.resolve();

  constructor(options: GapTrackerOptions) {
    this.#o = options;
  }

  /** This replica now runs the source: a gap since the source's last frame (any run or replica) may be open. */
  leading(): void {
    if (this.#leading) return;
    this.#leading = true;
    const lookup: { firstFrameAt: number | undefined } = { firstFrameAt: undefined };
    this.#lookup = lookup;
    this.#enqueue(async (db) => {
      try {
        if (this.#lookup !== lookup) return;
        let before: Pending | undefined;
        const open = await openGapOf(db, this.#o.source);
        if (open) before = { since: open.startedAt.getTime(), reason: open.reason, openId: open.id };
        else {
          const last = await lastFrameOf(db, this.#o.source);
          // None: the source's first run, nothing came before.
          if (last) before = { since: last.at.getTime(), reason: last.stopped ? 'restart' : `takeover: ${last.instance} stopped answering`, openId: undefined };
        }
        if (!before || this.#lookup !== lookup) return;
        if (lookup.firstFrameAt !== undefined) this.#record(before, lookup.firstFrameAt);
        else if (!this.#pending) {
          this.#pending = before;
          this.#arm(before);
        }
      } finally {
        if (this.#lookup === lookup) this.#lookup = undefined;
      }
    });
  }

  /** Another replica runs the source now: what it sees is its own to record (it adopts an open row). */
  standby(): void {
    this.#leading = false;
    this.#forget();
  }

  /** A frame arrived on the source's socket at `at` (ms since the epoch). */
  frame(at = Date.now()): void {
    this.#lastFrameAt = at;
    if (this.#lookup) this.#lookup.firstFrameAt ??= at;
    const p = this.#pending;
    if (!p) return;
    // Only the interruption ends here: a lookup still in flight records the term's start gap itself.
    clearTimeout(this.#timer);
    this.#pending = undefined;
    this.#record(p, at);
  }

  /** The working connection ended (`reason`: what ended it). */
  interrupted(reason: string): void {
    if (!this.#leading || this.#pending) return;
    // Before this term's first frame the restart's gap is still running: the lookup records it.
    if (this.#lookup && this.#lookup.firstFrameAt === undefined) return;
    const p: Pending = { since: this.#lastFrameAt ?? Date.now(), reason: reason.slice(0, 200), openId: undefined };
    this.#pending = p;
    this.#arm(p);
  }

  /** At the daemon's stop: an open row stays open, for the next run to adopt and close. */
  async dispose(): Promise<void> {
    this.#leading = false;
    this.#forget();
    await this.#chain;
  }

  #forget(): void {
    clearTimeout(this.#timer);
    this.#pending = undefined;
    this.#lookup = undefined;
  }

  /** Write the row open once the interruption reaches GAP_MIN_MS. */
  #arm(p: Pending): void {
    if (p.openId !== undefined) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(
      () =>
        this.#enqueue(async (db) => {
          if (this.#pending !== p) return;
          if (await otherReplicaReceivedSince(db, this.#o.source, this.#o.instance, new Date(p.since))) return;
          p.openId = await insertGap(db, { source: this.#o.source, startedAt: new Date(p.since), endedAt: null, reason: p.reason, instance: this.#o.instance });
          this.#o.logger.warn({ since: new Date(p.since).toISOString(), reason: p.reason }, 'feed interrupted: recorded an open gap in ingest_gaps');
        }),
      Math.max(0, p.since + this.#o.minMs - Date.now()),
    );
    this.#timer.unref();
  }

  /** The interruption `p` ended at `at`: close its row, or write it closed, when it was long enough. */
  #record(p: Pending, at: number): void {
    this.#enqueue(async (db) => {
      // In the chain after any open-row insert, so p.openId is final here.
      if (at - p.since < this.#o.minMs) {
        if (p.openId) await deleteGap(db, p.openId);
        return;
      }
      if (p.openId) await closeGap(db, p.openId, new Date(at));
      else if (!(await otherReplicaReceivedSince(db, this.#o.source, this.#o.instance, new Date(p.since)))) {
        await insertGap(db, { source: this.#o.source, startedAt: new Date(p.since), endedAt: new Date(at), reason: p.reason, instance: this.#o.instance });
      } else return;
      this.#o.logger.info({ since: new Date(p.since).toISOString(), until: new Date(at).toISOString(), ms: at - p.since, reason: p.reason }, 'feed resumed after a gap (ingest_gaps)');
    });
  }

  #enqueue(op: (db: Kysely<CoreDatabase>) => Promise<void>): void {
    this.#chain = this.#chain.then(async () => {
      while (!this.#o.ready()) {
        if (this.#o.signal.aborted) return;
        await delay(250, this.#o.signal);
      }
      try {
        await op(this.#o.db);
      } catch (err) {
        this.#o.logger.warn({ err }, 'could not record a gap in ingest_gaps');
      }
    });
  }
}
