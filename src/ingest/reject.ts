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
  // Postgres text cannot hold NUL; keep the reject storable whatever arrived.
  return { source, reason: reason.slice(0, 1000), raw: text.replaceAll('\u0000', '\\u0000'), receivedAt };
}

/** JSON.stringify that never throws (cycles cannot occur in parsed JSON, but BigInt or getters might). */
export function safeStringify(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
