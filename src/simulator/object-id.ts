/**
 * MongoDB-style ObjectIds, the format backpack.tf uses for event ids.
 *
 * Layout (12 bytes, 24 lowercase hex chars), per the MongoDB ObjectId spec:
 *   bytes 0..3   Unix time in seconds, unsigned big-endian (valid until 2106-02-07)
 *   bytes 4..8   5 random bytes chosen once per process ("machine + process" part)
 *   bytes 9..11  counter, big-endian, +1 per id, wraps 0xFFFFFF -> 0
 *
 * Two simulator processes therefore produce ids that differ in bytes 4..8 even within the
 * same second, exactly like two real generators (see the two fixture events of 1765043832).
 */
import { randomBytes, randomInt } from 'node:crypto';

/** Fixed for the life of the process, like a real driver's process-unique value. */
const PROCESS_UNIQUE_HEX = randomBytes(5).toString('hex');

/** Largest 3-byte counter value; the counter wraps to 0 after it. */
const COUNTER_MAX = 0xffffff;

/** Starts at a random value (as drivers do) so restarts do not reuse the same sequence. */
let nextCounter = randomInt(0, COUNTER_MAX + 1);

/**
 * Builds a 24-hex ObjectId.
 * @param unixSeconds event time in whole seconds since the Unix epoch (fractions are floored)
 * @param counter explicit counter value (masked to 3 bytes); omitted: the process counter,
 *   which increments on every call and wraps at 0xFFFFFF
 */
export function makeObjectId(unixSeconds: number, counter?: number): string {
  const seconds = Math.floor(unixSeconds);
  if (!Number.isFinite(seconds) || seconds < 0 || seconds > 0xffffffff) {
    throw new RangeError(`makeObjectId: unixSeconds must fit in an unsigned 32-bit integer, got ${unixSeconds}`);
  }
  let value: number;
  if (counter === undefined) {
    value = nextCounter;
    nextCounter = nextCounter === COUNTER_MAX ? 0 : nextCounter + 1;
  } else {
    if (!Number.isInteger(counter) || counter < 0) {
      throw new RangeError(`makeObjectId: counter must be a non-negative integer, got ${counter}`);
    }
    // `% 2**24` rather than `& COUNTER_MAX` so counters above 2**31 still wrap correctly.
    value = counter % (COUNTER_MAX + 1);
  }
  return seconds.toString(16).padStart(8, '0') + PROCESS_UNIQUE_HEX + value.toString(16).padStart(6, '0');
}

/** Reads the Unix time (seconds) from the first 4 bytes of an ObjectId. */
export function objectIdSeconds(id: string): number {
  return Number.parseInt(id.slice(0, 8), 16);
}
