import { setTimeout as sleep } from 'node:timers/promises';

/** Sleep for `ms` milliseconds; resolves early (without throwing) when `signal` aborts. */
export async function delay(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return;
  try {
    await sleep(ms, undefined, { signal });
  } catch (error) {
    if (!(error instanceof Error && error.name === 'AbortError')) throw error;
  }
}
