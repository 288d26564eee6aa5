/**
 * Memory and CPU of a process, from /proc (Linux). RSS is sampled every `intervalMs`; the kernel's own
 * high-water mark (VmHWM) is read as well, so a peak between two samples is not missed.
 */
import { readFileSync } from 'node:fs';

/** A memory field of /proc/<pid>/status (kB); undefined once the process is gone. */
export function statusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined; // process gone
  }
}

export interface RssSampler {
  /** The first sample's VmRSS (MB): the process before whatever is measured starts. */
  readonly firstMb: number;
  /** Largest sampled VmRSS (MB). */
  readonly maxSampledMb: number;
  /** VmHWM (MB) at the last sample: the kernel's peak RSS since the process started. */
  readonly hwmMb: number;
  /** Mean of the samples (MB). */
  readonly meanMb: number;
  readonly samples: number;
  stop(): void;
}

export function sampleRss(pid: number, intervalMs = 100): RssSampler {
  let first: number | undefined;
  let max = 0;
  let hwm = 0;
  let sum = 0;
  let n = 0;
  const tick = () => {
    const rss = statusKb(pid, 'VmRSS');
    const h = statusKb(pid, 'VmHWM');
    if (rss !== undefined) {
      first ??= rss;
      max = Math.max(max, rss);
      sum += rss;
      n++;
    }
    if (h !== undefined) hwm = Math.max(hwm, h);
  };
  tick();
  const timer = setInterval(tick, intervalMs);
  return {
    get firstMb() {
      return (first ?? 0) / 1024;
    },
    get maxSampledMb() {
      return max / 1024;
    },
    get hwmMb() {
      return hwm / 1024;
    },
    get meanMb() {
      return n ? sum / n / 1024 : 0;
    },
    get samples() {
      return n;
    },
    stop() {
      tick();
      clearInterval(timer);
    },
  };
}

const CLOCK_TICKS_PER_S = 100; // USER_HZ on every Linux the bench targets

/** CPU time (user + system, seconds) a process has used so far; undefined when it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
  } catch {
    return undefined;
  }
}

/** Cumulative CPU time of the whole machine (all CPUs, in clock ticks) from /proc/stat: busy and total. Subtract two readings. */
export function machineCpu(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** Sum of cpuSeconds over `pids` (processes that are gone count 0). */
export function cpuSecondsOf(pids: readonly number[]): number {
  let sum = 0;
  for (const pid of pids) sum += cpuSeconds(pid) ?? 0;
  return sum;
}
