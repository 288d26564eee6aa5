import { closeSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readSync, statSync, unlinkSync, writeSync } from 'node:fs';
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

/**
 * Rows are written in chunks of about this many characters: each write flattens its chunk into one
 * string and copies it into a Buffer of the same size outside V8's heap. Chunks of 64 KiB instead of
 * 1 MiB: firehose bench with a 100 000-event backlog, peak RSS 196-201 MB in three runs instead of
 * 197-211, the same events/s (a write system call per 64 KiB costs nothing next to the encoding).
 */
const CHUNK_CHARS = 64 * 1024;

/** Seal a segment at this size (bytes): bounds what one replay loads into memory. */
export const SEGMENT_MAX_BYTES = 8 * 1024 * 1024;

/** A segment is read this many bytes at a time (see #readLines). */
const READ_CHUNK_BYTES = 128 * 1024;

/**
 * Why events were not kept: `memory_full` (no spool configured), `spool_full` (SPOOL_MAX_BYTES),
 * `spool_write_failed` (the disk refused: full, read-only, permissions), `unencodable` (a row
 * JSON.stringify cannot write), `shutdown` (unwritten at the stop's deadline and not spooled).
 */
export type DropReason = 'memory_full' | 'spool_full' | 'spool_write_failed' | 'unencodable' | 'shutdown';

/** Rows the spool could not keep, and why. */
export interface SpoolDrop<T> {
  readonly rows: T[];
  readonly reason: DropReason;
  /** The error, for `spool_write_failed` and `unencodable` (e.g. "ENOSPC: no space left on device"). */
  readonly error?: string;
}

/**
 * What a segment's rows are, for counting them once when they are written: `earlier`, left by an
 * earlier run (received and counted then); `moved`, rows of this run that left memory for the disk;
 * `copy`, copies of batches of this run still in flight (counted when the batch itself commits).
 */
export type SegmentKind = 'earlier' | 'moved' | 'copy';

export interface SpoolSegment {
  readonly path: string;
  readonly bytes: number;
  readonly kind: SegmentKind;
  /** When its first row was written (ms since the epoch): the age of its oldest event. */
  readonly createdAt: number;
}

/** Writers (their spool folders under DATA_DIR/spool) whose spool holds at least one non-empty segment. */
export function spooledWriters(dataDir: string): Set<string> {
  const out = new Set<string>();
  let names: string[];
  try {
    names = readdirSync(join(dataDir, 'spool'));
  } catch {
    return out; // no spool yet
  }
  for (const name of names) {
    try {
      const dir = join(dataDir, 'spool', name);
      if (readdirSync(dir).some((f) => /^\d+\.ndjson$/.test(f) && statSync(join(dir, f)).size > 0)) out.add(name);
    } catch {
      // Not a folder, or unreadable: the writer that owns it reports that when it opens it.
    }
  }
  return out;
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
  #open: { path: string; fd: number; bytes: number; dirty: boolean; createdAt: number; kind: SegmentKind } | undefined;
  /** Segments taken for replay and not yet acknowledged: still on disk, still waiting. */
  readonly #taken = new Set<SpoolSegment>();
  #seq = 0;
  #timer: NodeJS.Timeout | undefined;
  #onChange: () => void = () => {};

  readonly #encode: (row: T) => string;
  readonly #decode: (bytes: Buffer, start: number, end: number) => T;

  /**
   * `encode`: a row as one line of JSON (default JSON.stringify); `decode` reads bytes [start, end)
   * of a segment back as the row (default JSON.parse). A decoder may keep views of `bytes`: the
   * segment's buffer is not reused.
   */
  constructor(opts: {
    dir: string;
    budget: SpoolBudget;
    fsyncIntervalMs: number;
    logger: Logger;
    encode?: (row: T) => string;
    decode?: (bytes: Buffer, start: number, end: number) => T;
  }) {
    this.#encode = opts.encode ?? ((row) => JSON.stringify(row));
    this.#decode = opts.decode ?? ((bytes, start, end) => JSON.parse(bytes.toString('utf8', start, end)) as T);
    this.#dir = opts.dir;
    this.#budget = opts.budget;
    this.#logger = opts.logger;
    mkdirSync(this.#dir, { recursive: true });
    const names = readdirSync(this.#dir)
      .filter((n) => /^\d+\.ndjson$/.test(n))
      .sort();
    for (const name of names) {
      const path = join(this.#dir, name);
      const stat = statSync(path);
      const bytes = stat.size;
      this.#seq = Math.max(this.#seq, Number.parseInt(name, 10));
      if (bytes === 0) {
        unlinkSync(path);
        continue;
      }
      // Birth time where the file system keeps it; else the last write, which can only be younger.
      this.#sealed.push({ path, bytes, kind: 'earlier', createdAt: stat.birthtimeMs > 0 ? stat.birthtimeMs : stat.mtimeMs });
      this.#budget.bytes += bytes;
    }
    if (this.#sealed.length > 0) {
      this.#logger.info({ segments: this.#sealed.length, bytes: this.bytes }, 'spool holds events from an earlier run; replaying them');
    }
    this.#timer = setInterval(() => this.#sync(), opts.fsyncIntervalMs);
    this.#timer.unref();
  }

  /** Bytes on disk in this spool. */
  get bytes(): number {
    return this.#sealed.reduce((a, s) => a + s.bytes, 0) + (this.#open?.bytes ?? 0);
  }

  /** When the oldest event still waiting here was written (ms since the epoch); undefined when empty. */
  get oldestAt(): number | undefined {
    let oldest: number | undefined;
    for (const s of [...this.#sealed, ...this.#taken]) if (oldest === undefined || s.createdAt < oldest) oldest = s.createdAt;
    if (this.#open && this.#open.bytes > 0 && (oldest === undefined || this.#open.createdAt < oldest)) oldest = this.#open.createdAt;
    return oldest;
  }

  get isEmpty(): boolean {
    return this.#sealed.length === 0 && (this.#open?.bytes ?? 0) === 0;
  }

  /** Called whenever the spool's size changes (for the metric). */
  onChange(listener: () => void): void {
    this.#onChange = listener;
  }

  /**
   * Append rows; returns those it could not keep, by reason (the caller counts and logs them): rows
   * past SPOOL_MAX_BYTES, a row that cannot be encoded (e.g. nested too deep for JSON.stringify),
   * and rows whose write the disk refused. Never throws: a full disk must not take the socket's
   * message handler, or a shutdown, down with it.
   * Synchronous on purpose: it runs when memory is full, and a row must be on its way to disk before
   * add() returns.
   */
  append(rows: readonly T[], kind: 'moved' | 'copy' = 'moved'): SpoolDrop<T>[] {
    const drops: SpoolDrop<T>[] = [];
    // One kind per segment: rows are counted by their segment's kind when written.
    if (this.#open && this.#open.kind !== kind) this.#seal();
    const full: T[] = [];
    let chunk = '';
    let chunkRows: T[] = [];
    let chunkBytes = 0;
    const flush = () => {
      if (!chunk) return;
      const failure = this.#write(chunk, kind);
      if (failure) {
        this.#budget.bytes -= chunkBytes;
        drops.push({ rows: chunkRows, reason: 'spool_write_failed', error: failure });
      }
      chunk = '';
      chunkRows = [];
      chunkBytes = 0;
    };
    for (const row of rows) {
      let line: string;
      try {
        line = this.#encode(row) + '\n';
      } catch (err) {
        drops.push({ rows: [row], reason: 'unencodable', error: (err as Error).message });
        continue;
      }
      const size = Buffer.byteLength(line);
      if (this.#budget.bytes + size > this.#budget.maxBytes) {
        full.push(row);
        continue;
      }
      this.#budget.bytes += size;
      chunk += line;
      chunkRows.push(row);
      chunkBytes += size;
      if (chunk.length >= CHUNK_CHARS) flush();
    }
    flush();
    if (full.length > 0) drops.push({ rows: full, reason: 'spool_full' });
    this.#onChange();
    return drops;
  }

  /** Seal the open segment (if any) and take the oldest segment for replay. */
  takeOldest(): { segment: SpoolSegment; rows: T[] } | undefined {
    if (this.#sealed.length === 0) this.#seal();
    const segment = this.#sealed.shift();
    if (!segment) return undefined;
    this.#taken.add(segment);
    const rows: T[] = [];
    let bad = 0;
    try {
      bad = this.#readLines(segment.path, rows);
    } catch (err) {
      this.#logger.error({ err, path: segment.path }, 'cannot read a spool segment; skipping it');
      this.#taken.delete(segment);
      this.#budget.bytes -= segment.bytes;
      return undefined;
    }
    if (bad > 0) this.#logger.warn({ path: segment.path, bad_lines: bad }, 'spool segment had unreadable lines');
    return { segment, rows };
  }

  /** The segments an earlier run left and no replay has taken yet, oldest first. */
  get earlierSegments(): readonly SpoolSegment[] {
    return this.#sealed.filter((s) => s.kind === 'earlier');
  }

  /** The rows of a sealed segment, read without taking it (lines that cannot be decoded are left out). Throws if it cannot be read. */
  readRows(segment: SpoolSegment): T[] {
    const rows: T[] = [];
    this.#readLines(segment.path, rows);
    return rows;
  }

  /** Every row of `segment` is committed: delete it. */
  ack(segment: SpoolSegment): void {
    this.#taken.delete(segment);
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
    this.#taken.delete(segment);
    // Back in its place by sequence (names sort as numbers: zero-padded), so the replay stays in order.
    const at = this.#sealed.findIndex((s) => s.path > segment.path);
    this.#sealed.splice(at < 0 ? this.#sealed.length : at, 0, segment);
  }

  close(): void {
    clearInterval(this.#timer);
    this.#seal();
  }

  /**
   * Decode every line of a segment into `rows`; returns how many lines could not be decoded (a torn
   * last line after a crash mid-append). The file is read READ_CHUNK_BYTES at a time, each buffer cut
   * at its last line break, so the rows' views keep small buffers alive rather than one of
   * SEGMENT_MAX_BYTES: allocations that size are mapped fresh from the OS, while small ones reuse the
   * memory that the frames held during the backlog left free. Firehose bench with a 100 000-event
   * backlog: peak RSS 182-188 MB in four runs, against 197-213 MB when each replay read its segment
   * whole; the same events/s.
   */
  #readLines(path: string, rows: T[]): number {
    let bad = 0;
    const fd = openSync(path, 'r');
    try {
      let carry: Buffer | undefined;
      for (;;) {
        // A line longer than a chunk (a payload of megabytes) grows the buffer to hold it whole.
        const size = Math.max(READ_CHUNK_BYTES, (carry?.length ?? 0) * 2);
        const buf = Buffer.allocUnsafeSlow(size);
        let filled = carry ? carry.copy(buf) : 0;
        const n = readSync(fd, buf, filled, size - filled, null);
        filled += n;
        const eof = n === 0;
        // Whole lines end at `last`; the rest (a line cut by the read) is carried into the next buffer.
        const last = eof ? filled : buf.lastIndexOf(0x0a, filled - 1) + 1;
        for (let start = 0; start < last; ) {
          // Bytes past `filled` are uninitialized: a line break found there is not one.
          let end = buf.indexOf(0x0a, start);
          if (end < 0 || end >= last) end = last;
          if (end > start) {
            try {
              rows.push(this.#decode(buf, start, end));
            } catch {
              bad++;
            }
          }
          start = end + 1;
        }
        if (eof) return bad;
        carry = last < filled ? buf.subarray(last, filled) : undefined;
      }
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Write a chunk of whole lines; returns the error's text when the disk refused it (nothing thrown).
   * All or nothing: a refused chunk's rows are counted dropped by the caller, so any part of it that
   * reached the disk is cut off again (a torn last line would otherwise be skipped at replay, a loss
   * nobody counted). A short write (the disk filling up) is continued, and its error then met.
   */
  #write(chunk: string, kind: 'moved' | 'copy'): string | undefined {
    let start = -1;
    try {
      if (!this.#open) {
        this.#seq++;
        const path = join(this.#dir, `${String(this.#seq).padStart(12, '0')}.ndjson`);
        this.#open = { path, fd: openSync(path, 'a'), bytes: 0, dirty: false, createdAt: Date.now(), kind };
      }
      start = this.#open.bytes;
      const length = Buffer.byteLength(chunk);
      // The string itself: Node encodes it into memory it frees on return, where a Buffer of the
      // chunk lived outside V8's heap until a full collection (ExternalMemoryCollector).
      let done = writeSync(this.#open.fd, chunk);
      if (done < length) {
        // A short write (the disk filling up): the rest from a Buffer, whose offsets are bytes.
        const buf = Buffer.from(chunk);
        while (done < length) {
          const n = writeSync(this.#open.fd, buf, done);
          if (n <= 0) throw Object.assign(new Error('the disk accepted no bytes'), { code: 'EIO' });
          done += n;
        }
      }
      this.#open.bytes += length;
      this.#open.dirty = true;
      if (this.#open.bytes >= SEGMENT_MAX_BYTES) this.#seal();
      return undefined;
    } catch (err) {
      if (this.#open && start >= 0) {
        try {
          ftruncateSync(this.#open.fd, start);
        } catch {
          // The file is unusable: a torn line is skipped at replay (and counted there as unreadable).
        }
      }
      this.#abandonOpen();
      const e = err as NodeJS.ErrnoException;
      return `${e.code ?? e.name}: ${e.message}`;
    }
  }

  /** Close the open segment after a failed write, keeping what reached the disk. */
  #abandonOpen(): void {
    const open = this.#open;
    this.#open = undefined;
    if (!open) return;
    try {
      closeSync(open.fd);
    } catch {
      // Already unusable.
    }
    if (open.bytes > 0) this.#sealed.push({ path: open.path, bytes: open.bytes, createdAt: open.createdAt, kind: open.kind });
  }

  #sync(): void {
    if (!this.#open?.dirty) return;
    try {
      fsyncSync(this.#open.fd);
      this.#open.dirty = false;
    } catch (err) {
      // On a timer: a throw here would crash the process. The next append finds the disk's state.
      this.#logger.error({ err }, 'could not fsync the spool');
    }
  }

  #seal(): void {
    const open = this.#open;
    if (!open) return;
    this.#sync();
    closeSync(open.fd);
    this.#open = undefined;
    if (open.bytes > 0) this.#sealed.push({ path: open.path, bytes: open.bytes, createdAt: open.createdAt, kind: open.kind });
    else unlinkSync(open.path);
  }
}
