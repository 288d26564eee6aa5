/**
 * Quiet the bench process before each timed run: a full garbage collection, then a pause for the
 * collector's background threads (sweeping) to finish, so that neither the collection of what an
 * earlier phase left behind nor its background work lands in the clock or competes for the CPUs.
 * `gc` is exposed at run time (the bench is started by tsx, without node flags).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { delay } from '../src/util/delay.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

export async function settle(): Promise<void> {
  gc();
  await delay(500);
}
