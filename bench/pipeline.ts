/**
 * The daemon's own work per event, with no socket and no database: each frame's bytes copied (as a
 * socket hands over a new buffer), parsed (parseBptfFrame), made rows (toListingRow), cut into batches
 * of BATCH_MAX_EVENTS events, collapsed and sorted as BatchWriter does (limit.ts), and encoded into
 * the statement's document (encodeListingBatch) in a reused buffer, the last two batches kept alive as
 * if in flight.
 *
 * Why a phase of its own: CPU per event measured on the daemon beside Postgres moves by a quarter from
 * run to run on a shared 2-core machine, while this runs on one core, alone, and moves by a few
 * percent. It is the part of the daemon's CPU that its parser and writer decide; the rest is the
 * socket, the driver and the kernel. It runs in a child process (pipeline-process.ts) whose young
 * generation is set as the daemon's: in the bench process, whose young generation has grown to its
 * largest, collections cost a fraction of what they cost the daemon. Reported per round: CPU and
 * garbage-collection pauses per event.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { WorkloadOptions } from './workload.js';

export interface PipelineRound {
  readonly events: number;
  /** CPU of the process (user + system) per event, µs. */
  readonly cpuUsPerEvent: number;
  /** Garbage-collection pauses per event, µs. */
  readonly gcUsPerEvent: number;
}

export interface PipelineOptions {
  readonly workload: WorkloadOptions;
  readonly batchSize: number;
  readonly rounds: number;
}

/** Run the phase in a child process (see above); resolves with its rounds. */
export function runPipeline(o: PipelineOptions): Promise<PipelineRound[]> {
  const child = spawn(process.execPath, ['--import', fileURLToPath(import.meta.resolve('tsx')), fileURLToPath(new URL('./pipeline-process.ts', import.meta.url)), JSON.stringify(o)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0) resolve(JSON.parse(out) as PipelineRound[]);
      else reject(new Error(`bench: the pipeline phase's process exited with ${code}`));
    });
  });
}
