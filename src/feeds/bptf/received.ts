// The events of a frame exactly as received, for ingest_rejects.raw: a reject must keep the bytes
// that arrived, not a re-serialisation (which throws on nesting deeper than the stack, and is not
// what was sent). Computed only when asked: nothing is copied for an event that is written.

/** An event's text exactly as received. */
export interface ReceivedEvent {
  receivedText(): string;
}

/**
 * A frame's text (already valid JSON: JSON.parse took it) and, found on first request, where each
 * element of its top-level array starts and ends. Not serialised: a row that holds it goes to the
 * spool without the frame (see toJSON).
 */
export class ReceivedFrame {
  #spans: number[] | undefined;
  constructor(readonly text: string) {}

  /** Element `index` of the top-level array, or the whole frame (trimmed) when it is a single value. */
  element(index: number): string {
    const spans = (this.#spans ??= topLevelSpans(this.text));
    const start = spans[2 * index];
    const end = spans[2 * index + 1];
    return start === undefined || end === undefined ? this.text.trim() : this.text.slice(start, end);
  }

  toJSON(): undefined {
    return undefined;
  }
}

/** Element `index` of a received frame, as a ReceivedEvent. */
export class ReceivedElement implements ReceivedEvent {
  constructor(
    readonly frame: ReceivedFrame,
    readonly index: number,
  ) {}

  receivedText(): string {
    return this.frame.element(this.index);
  }

  /** Left out of JSON (the spool): JSON.stringify omits a member whose toJSON gives undefined. */
  toJSON(): undefined {
    return undefined;
  }
}

/** Several events (rows merged from them) as one JSON array of their received texts: a frame the parser reads back. */
export class ReceivedEvents implements ReceivedEvent {
  constructor(readonly events: readonly ReceivedEvent[]) {}

  receivedText(): string {
    return `[${this.events.map((e) => e.receivedText()).join(',')}]`;
  }

  toJSON(): undefined {
    return undefined;
  }
}

const WS = new Set([0x20, 0x0a, 0x0d, 0x09]);

/**
 * Start and end (UTF-16 offsets, end exclusive) of each element of the top-level array in `text`,
 * flattened; empty when the text is not an array. The text must be valid JSON, so counting brackets
 * outside strings is enough: no stack, however deep the nesting.
 */
export function topLevelSpans(text: string): number[] {
  const spans: number[] = [];
  let p = 0;
  const n = text.length;
  while (p < n && WS.has(text.charCodeAt(p))) p++;
  if (text.charCodeAt(p) !== 0x5b) return spans;
  let depth = 0;
  let start = -1;
  let lastEnd = -1;
  for (; p < n; p++) {
    const c = text.charCodeAt(p);
    if (c === 0x22) {
      if (depth === 1 && start < 0) start = p;
      // Skip the string: a backslash escapes the next character.
      for (p++; p < n; p++) {
        const d = text.charCodeAt(p);
        if (d === 0x5c) p++;
        else if (d === 0x22) break;
      }
      lastEnd = p + 1;
    } else if (c === 0x5b || c === 0x7b) {
      if (depth === 1 && start < 0) start = p;
      depth++;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
      if (depth === 0) {
        if (start >= 0) spans.push(start, lastEnd);
        return spans;
      }
      lastEnd = p + 1;
    } else if (c === 0x2c && depth === 1) {
      spans.push(start, lastEnd);
      start = -1;
    } else if (!WS.has(c)) {
      // A scalar's character (number, true, false, null).
      if (depth === 1 && start < 0) start = p;
      lastEnd = p + 1;
    }
  }
  return spans;
}
