/** Narrowing helpers for untrusted parsed JSON: each returns the value when it has the shape, else a miss. */

/** A plain object (not null, not an array). */
export function asObject(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/** A non-empty string of at most 1000 characters, or a finite number written as text (ids are numbers in some feeds). */
export function asText(v: unknown): string | null {
  if (typeof v === 'string') return v.length > 0 && v.length <= 1000 ? v : null;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return null;
}

/** A finite number. */
export function finite(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}
