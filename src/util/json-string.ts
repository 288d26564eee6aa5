/** 1 for the characters a JSON string holds as themselves, one byte each: printable ASCII but the quote and the backslash. */
const PLAIN = new Uint8Array(128);
for (let c = 0x20; c < 0x7f; c++) PLAIN[c] = c === 0x22 || c === 0x5c ? 0 : 1;

/** Whether UTF-16 code unit `c` stands in a JSON string as itself, in one byte (no escape, no multi-byte UTF-8). */
export function plainInJsonString(c: number): boolean {
  return c < 0x80 && PLAIN[c] === 1;
}
