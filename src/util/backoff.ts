/**
 * Exponential backoff with full jitter (delay drawn uniformly from 0 .. min(max, base * 2^attempt)).
 * Full jitter spreads reconnecting replicas apart after an upstream restart.
 * `attempt` counts from 0; all values in milliseconds.
 */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}
