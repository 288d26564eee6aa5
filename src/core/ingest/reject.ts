/** What could not be used: becomes a row of ingest_rejects. */
export interface Reject {
  readonly source: string;
  readonly reason: string;
  /** The frame or element as received, truncated to RAW_MAX_CHARS. */
  readonly raw: string;
  readonly receivedAt: number;
}

/** ingest_rejects.raw keeps the first 64 KiB of a frame: enough to debug, bounded in size. */
export const RAW_MAX_CHARS = 64 * 1024;

export function makeReject(source: string, reason: string, raw: string | Buffer, receivedAt = Date.now()): Reject {
  const text = typeof raw === 'string' ? raw.slice(0, RAW_MAX_CHARS) : raw.subarray(0, RAW_MAX_CHARS * 4).toString('utf8').slice(0, RAW_MAX_CHARS);
  // Postgres text cannot hold NUL; keep the reject storable whatever arrived (reasons quote input too).
  return { source, reason: escapeNul(reason.slice(0, 1000)), raw: escapeNul(text).slice(0, RAW_MAX_CHARS), receivedAt };
}

/** Postgres text cannot hold NUL: write it as the JSON escape instead. */
function escapeNul(text: string): string {
  return text.replaceAll('\u0000', '\\u0000');
}

/**
 * JSON.stringify that never throws. Parsed JSON has no cycles, but nesting deep enough to overflow the
 * stack does occur in hostile input; the fallback must not recurse either (String([[[…]]]) would).
 */
export function safeStringify(value: unknown): string {
  try {
    return JSON.stringify(value) ?? 'undefined';
  } catch (error) {
    return `[unserialisable ${Array.isArray(value) ? 'array' : typeof value}: ${(error as Error).message}]`;
  }
}
