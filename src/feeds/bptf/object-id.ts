/**
 * backpack.tf event ids are MongoDB ObjectIds: 12 bytes as 24 hex characters, whose first 4 bytes
 * are the creation time in Unix seconds, big-endian, unsigned.
 */
const OBJECT_ID = /^[0-9a-f]{24}$/;

/** Lower-cased id when `value` is a valid ObjectId, else undefined. Lower case makes string order byte order. */
export function normalizeObjectId(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length !== 24) return undefined;
  const id = value.toLowerCase();
  return OBJECT_ID.test(id) ? id : undefined;
}

/** Event time in milliseconds since the epoch (1 s resolution). */
export function objectIdTimeMs(id: string): number {
  return Number.parseInt(id.slice(0, 8), 16) * 1000;
}
