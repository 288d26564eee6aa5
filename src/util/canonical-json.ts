import { createHash } from 'node:crypto';

/**
 * Canonical JSON: object keys sorted recursively (by UTF-16 code units, as Array#sort does), no
 * whitespace, arrays in their order. Scalars are written by JSON.stringify, so numbers and string
 * escapes match RFC 8785 (JCS) for anything that came out of JSON.parse. Two values that are equal
 * as JSON data produce the same text, whatever order their keys arrived in: that text is what
 * dedupe keys hash.
 *
 * Like JSON.stringify: `undefined` members are left out of objects and become null in arrays;
 * non-finite numbers become null. Throws RangeError on structures too deep for the stack (callers
 * that must not throw catch it).
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) {
    return `[${value.map((v) => (v === undefined || typeof v === 'function' || typeof v === 'symbol' ? 'null' : canonicalJson(v))).join(',')}]`;
  }
  const obj = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const key of Object.keys(obj).sort()) {
    const v = obj[key];
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
    parts.push(`${JSON.stringify(key)}:${canonicalJson(v)}`);
  }
  return `{${parts.join(',')}}`;
}

/** SHA-256 of the UTF-8 bytes of `text`, as 64 lower-case hex characters. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}
