/**
 * Steady load: `ratePerS` events per second, one frame every `frameIntervalMs` (the real server batches
 * about every 100 ms), on a schedule anchored to the start so timer drift does not lower the rate.
 * What matters here is lag at a rate far below the limit: it should be about BATCH_MAX_WAIT_MS plus one
 * batch write.
 */
import { runDaemon, type DaemonRunOptions, type DaemonRunResult } from './daemon-run.js';

export interface SteadyOptions extends DaemonRunOptions {
  readonly frameIntervalMs: number;
}

export function runSteady(o: SteadyOptions): Promise<DaemonRunResult> {
  return runDaemon(o, async (frames, send) => {
    const start = Date.now();
    for (const [i, frame] of frames.entries()) {
      const wait = start + i * o.frameIntervalMs - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      send(frame, i);
    }
  });
}
