import { mkdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { FatalError } from '../errors.js';

/** How often the holder touches the lock file (ms). */
const HEARTBEAT_MS = 5_000;
/** A lock file untouched for this long (ms) belongs to a process that is gone (another host or container). */
const STALE_AFTER_MS = 3 * HEARTBEAT_MS;

export class DataDirLockedError extends FatalError {
  constructor(dataDir: string, holder: string) {
    super('DATA_DIR_LOCKED', `DATA_DIR ${dataDir} is in use by another tributary process (${holder}); give each process its own DATA_DIR`);
  }
}

/** Lock files this process holds: a lock file naming our own pid is otherwise a leftover (see isStale). */
const heldHere = new Set<string>();

interface Holder {
  readonly pid: number;
  readonly host: string;
}

/**
 * One process per DATA_DIR: its spool segments and the embedded database's files must have one
 * writer. The lock is a file holding the holder's pid and host, touched every HEARTBEAT_MS while it
 * lives. A lock is stale, and taken over, when its holder is a dead process on this host, or when it
 * has not been touched for STALE_AFTER_MS (a holder on another host or in another container, whose
 * pid cannot be checked from here). Returns the release function.
 */
export function lockDataDir(dataDir: string, now: () => number = Date.now): () => void {
  mkdirSync(dataDir, { recursive: true });
  const path = resolve(dataDir, 'tributary.lock');
  const me: Holder = { pid: process.pid, host: hostname() };
  if (heldHere.has(path)) throw new DataDirLockedError(dataDir, 'this process');
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(path, JSON.stringify(me), { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
      const holder = readHolder(path);
      if (holder && !isStale(path, holder, me, now)) throw new DataDirLockedError(dataDir, `pid ${holder.pid} on ${holder.host}`);
      rmSync(path, { force: true });
    }
  }
  heldHere.add(path);
  const timer = setInterval(() => {
    const t = new Date(now());
    try {
      utimesSync(path, t, t);
    } catch {
      // The directory went away: nothing left to protect.
    }
  }, HEARTBEAT_MS);
  timer.unref();
  return () => {
    clearInterval(timer);
    heldHere.delete(path);
    if (readHolder(path)?.pid === me.pid) rmSync(path, { force: true });
  };
}

function readHolder(path: string): Holder | undefined {
  try {
    const h = JSON.parse(readFileSync(path, 'utf8')) as Partial<Holder>;
    return typeof h.pid === 'number' && typeof h.host === 'string' ? { pid: h.pid, host: h.host } : undefined;
  } catch {
    return undefined; // unreadable or torn: stale
  }
}

function isStale(path: string, holder: Holder, me: Holder, now: () => number): boolean {
  if (holder.host === me.host) {
    // Our own pid can only be a leftover (a container restarts with the same pid and host name).
    if (holder.pid === me.pid) return true;
    try {
      process.kill(holder.pid, 0);
      return false;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ESRCH';
    }
  }
  try {
    return now() - statSync(path).mtimeMs > STALE_AFTER_MS;
  } catch {
    return true;
  }
}
