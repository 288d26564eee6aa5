import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../logger.js';

/**
 * Spool: the on-disk buffer of one writer, used once the memory buffer (BUFFER_MAX_EVENTS) is full
 * and for rows still unwritten when a shutdown's deadline passes.
 *
 * Layout: `DATA_DIR/spool/<writer>/<sequence>.ndjson`, append-only segment files of one JSON row per
 * line (JSON.stringify escapes newlines, so a line is always one row). The open segment is fsync'd
 * every `fsyncIntervalMs` and when it is sealed; a segment is sealed at SEGMENT_MAX_BYTES or when it
 * is taken for replay. Segments are replayed oldest first and deleted only after every row in them
 * has been committed (`ack`). Segments left by an earlier process are replayed at start-up.
 *
 * What a hard crash can lose: rows appended in the last `fsyncIntervalMs` that the OS had not yet
 * written. Writes are idempotent, so a segment replayed twice (crash after commit, before delete)
 * costs nothing.
 */

/** Seal a segment at this size (bytes): bounds what one replay loads into memory. */
export const SEGMENT_MAX_BYTES = 8 * 1024 * 1024;

export interface SpoolSegment {
  readonly path: string;
  readonly bytes: number;
}

/** The total bytes of every spool, shared so SPOOL_MAX_BYTES bounds them together. */
export class SpoolBudget {
  bytes = 0;
  constructor(readonly maxBytes: number) {}
}

export class Spool<T> {
  readonly #dir: string;
  readonly #budget: SpoolBudget;
  readonly #logger: Logger;
  /** Sealed segments waiting for replay, oldest first. */
  readonly #sealed: SpoolSegment[] = [];
  #open: { path: string; fd: number; bytes: number; dirty: boolean } | undefined;
  #seq = 0;
  #timer: NodeJS.Timeout | undefined;
  #onChange: () => void = () => {};

  constructor(opts: { dir: string; budget: SpoolBudget; fsyncIntervalMs: number; logger: Logger }) {
    this.#dir = opts.dir;
    this.#budget = opts.budget;
    this.#logger = opts.logger;
    mkdirSync(this.#dir, { recursive: true });
    const names = readdirSync(this.#dir)
      .filter((n) => /^\d+\.ndjson$/.test(n))
      .sort();
    for (const name of names) {
      const path = join(this.#dir, name);
      const bytes = statSync(path).size;
      this.#seq = Math.max(this.#seq, Number.parseInt(name, 10));
      if (bytes === 0) {
        unlinkSync(path);
        continue;
      }
      this.#sealed.push({ path, bytes });
      this.#budget.bytes += bytes;
    }
    if (this.#sealed.length > 0) {
      this.#logger.warn({ segments: this.#sealed.length, bytes: this.bytes }, 'spool holds events from an earlier run; replaying them');
    }
    this.#timer = setInterval(() => this.#sync(), opts.fsyncIntervalMs);
    this.#timer.unref();
  }

  /** Bytes on disk in this spool. */
  get bytes(): number {
    return this.#sealed.reduce((a, s) => a + s.bytes, 0) + (this.#open?.bytes ?? 0);
  }

  get isEmpty(): boolean {
    return this.#sealed.length === 0 && (this.#open?.bytes ?? 0) === 0;
  }

  /** Called whenever the spool's size changes (for the metric). */
  onChange(listener: () => void): void {
    this.#onChange = listener;
  }

  /**
   * Append rows; returns those it could not keep (the caller drops and counts them): rows past
   * SPOOL_MAX_BYTES, and a row that cannot be encoded (e.g. nested too deep for JSON.stringify),
   * which must not take the others, or a shutdown, down with it.
   * Synchronous on purpose: it runs when memory is full, and a row must be on its way to disk before
   * add() returns.
   */
  append(rows: readonly T[]): T[] {
    const rejected: T[] = [];
    let chunk = '';
    for (const row of rows) {
      let line: string;
      try {
        line = JSON.stringify(row) + '\n';
      } catch (err) {
        this.#logger.error({ err }, 'a row cannot be encoded for the spool; it is dropped (and counted)');
        rejected.push(row);
        continue;
      }
      const size = Buffer.byteLength(line);
      if (this.#budget.bytes + size > this.#budget.maxBytes) {
        rejected.push(row);
        continue;
      }
      this.#budget.bytes += size;
      chunk += line;
      if (chunk.length >= 1024 * 1024) {
        this.#write(chunk);
        chunk = '';
      }
    }
    if (chunk) this.#write(chunk);
    this.#onChange();
    return rejected;
  }

  /** Seal the open segment (if any) and take the oldest segment for replay. */
  takeOldest(): { segment: SpoolSegment; rows: T[] } | undefined {
    if (this.#sealed.length === 0) this.#seal();
    const segment = this.#sealed.shift();
    if (!segment) return undefined;
    const rows: T[] = [];
    let text: string;
    try {
      text = readFileSync(segment.path, 'utf8');
    } catch (err) {
      this.#logger.error({ err, path: segment.path }, 'cannot read a spool segment; skipping it');
      this.#budget.bytes -= segment.bytes;
      return undefined;
    }
    let bad = 0;
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        rows.push(JSON.parse(line) as T);
      } catch {
        bad++; // a torn last line after a crash mid-append
      }
    }
    if (bad > 0) this.#logger.warn({ path: segment.path, bad_lines: bad }, 'spool segment had unreadable lines');
    return { segment, rows };
  }

  /** Every row of `segment` is committed: delete it. */
  ack(segment: SpoolSegment): void {
    try {
      unlinkSync(segment.path);
    } catch (err) {
      this.#logger.warn({ err, path: segment.path }, 'could not delete a replayed spool segment');
    }
    this.#budget.bytes -= segment.bytes;
    this.#onChange();
  }

  /** A replayed segment could not be written (shutdown): keep it for the next run. */
  release(segment: SpoolSegment): void {
    this.#sealed.unshift(segment);
  }

  close(): void {
    clearInterval(this.#timer);
    this.#seal();
  }

  #write(chunk: string): void {
    if (!this.#open) {
      this.#seq++;
      const path = join(this.#dir, `${String(this.#seq).padStart(12, '0')}.ndjson`);
      this.#open = { path, fd: openSync(path, 'a'), bytes: 0, dirty: false };
    }
    const buf = Buffer.from(chunk);
    writeSync(this.#open.fd, buf);
    this.#open.bytes += buf.length;
    this.#open.dirty = true;
    if (this.#open.bytes >= SEGMENT_MAX_BYTES) this.#seal();
  }

  #sync(): void {
    if (this.#open?.dirty) {
      fsyncSync(this.#open.fd);
      this.#open.dirty = false;
    }
  }

  #seal(): void {
    const open = this.#open;
    if (!open) return;
    this.#sync();
    closeSync(open.fd);
    this.#open = undefined;
    if (open.bytes > 0) this.#sealed.push({ path: open.path, bytes: open.bytes });
    else unlinkSync(open.path);
  }
}
