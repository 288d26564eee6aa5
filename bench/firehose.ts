/**
 * Firehose: every frame as fast as the daemon takes it. Back-pressure keeps at most `windowEvents`
 * events sent and not yet seen committed, so the bench measures what the daemon sustains rather than
 * how fast a socket buffer fills (without it, the daemon's BUFFER_MAX_EVENTS would overflow).
 * Sustained events/s = events / (last commit observed - first send).
 */
import { runDaemon, type DaemonRunOptions, type DaemonRunResult } from './daemon-run.js';

export interface FirehoseOptions extends DaemonRunOptions {
  readonly windowEvents: number;
}

export function runFirehose(o: FirehoseOptions): Promise<DaemonRunResult> {
  return runDaemon(o, async (frames, send, tracker) => {
    for (const [i, frame] of frames.entries()) {
      await tracker.waitForRoom(o.windowEvents, frame.events);
      send(frame, i);
    }
  });
}
