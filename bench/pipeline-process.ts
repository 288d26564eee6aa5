/**
 * The pipeline phase's process (pipeline.ts): the daemon's young generation first, as the daemon sets
 * it (young-generation.ts, before anything allocates), then the rounds; prints them as JSON.
 */
import '../src/young-generation.js';
import { PerformanceObserver } from 'node:perf_hooks';
import { toListingRow, type ListingRow } from '../src/feeds/bptf/listing-row.js';
import { parseBptfFrame } from '../src/feeds/bptf/parse.js';
import { encodeListingBatch } from '../src/feeds/bptf/store.js';
import { delay } from '../src/util/delay.js';
import { collapse } from './limit.js';
import type { PipelineOptions, PipelineRound } from './pipeline.js';
import { buildWorkload } from './workload.js';

async function main(o: PipelineOptions): Promise<PipelineRound[]> {
  const workload = buildWorkload(o.workload);
  let gcMs = 0;
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcMs += e.duration;
  });
  observer.observe({ entryTypes: ['gc'] });
  const rounds: PipelineRound[] = [];
  let spare = Buffer.allocUnsafeSlow(0);
  const take = (n: number) => (spare.length >= n ? spare : (spare = Buffer.allocUnsafeSlow(Math.ceil(n * 1.25))));
  for (let round = 0; round < o.rounds; round++) {
    await delay(200);
    let events = 0;
    let bytes = 0;
    let pending: ListingRow[] = [];
    const inFlight: ListingRow[][] = [];
    const flush = () => {
      const rows = collapse(pending);
      bytes += encodeListingBatch(rows, take).length;
      inFlight.push(rows);
      if (inFlight.length > 2) inFlight.shift();
      pending = [];
    };
    gcMs = 0;
    const start = process.cpuUsage();
    for (const frame of workload.frames) {
      // A frame as a socket hands it over: bytes of a new buffer.
      const data = Buffer.allocUnsafeSlow(frame.data.length);
      frame.data.copy(data);
      for (const e of parseBptfFrame(data).listings) {
        pending.push(toListingRow(e));
        events++;
        if (pending.length === o.batchSize) flush();
      }
    }
    if (pending.length > 0) flush();
    const used = process.cpuUsage(start);
    // The collector's entries reach the observer a little after the collection.
    await delay(100);
    if (bytes === 0) throw new Error('pipeline: nothing encoded');
    rounds.push({ events, cpuUsPerEvent: (used.user + used.system) / events, gcUsPerEvent: (gcMs * 1000) / events });
  }
  observer.disconnect();
  return rounds;
}

process.stdout.write(JSON.stringify(await main(JSON.parse(process.argv[2] ?? '{}') as PipelineOptions)));
