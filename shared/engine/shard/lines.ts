/**
 * One CSV line at a time, with the tokenizer's rules (reader.ts): where a field lies, whether the line ends
 * inside a quoted field (a quoted line break, which the sharded reader cannot place), and the text of a field
 * as ingestion sees it (doubled quotes undone, spaces and tabs trimmed). Lines are given without their LF.
 */

const COMMA = 44;
const QUOTE = 34;
const CR = 13;
const SPACE = 32;
const TAB = 9;

/** What scanLine found; reused between calls. */
export class LineFields {
  /** Fields in the line. */
  count = 0;
  /** The line ends inside a quoted field. */
  openQuote = false;
  /** Text follows a closing quote (a BAD_QUOTE row). */
  bad = false;
  /** Bounds and quoting of the fields asked for, by the order they were asked in; start -1 when absent. */
  readonly starts: Int32Array;
  readonly ends: Int32Array;
  readonly escaped: Uint8Array;
  /** The next quote at or after the last line scanned in quoteBuf (its length when none): found once a buffer. */
  quoteBuf: Uint8Array | null = null;
  quoteAt = 0;

  constructor(readonly wanted: readonly number[]) {
    this.starts = new Int32Array(wanted.length);
    this.ends = new Int32Array(wanted.length);
    this.escaped = new Uint8Array(wanted.length);
  }
}

/** True when bytes [start, end) hold only spaces, tabs and CRs (a line the reader skips). */
export function isBlankLine(buf: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = buf[i];
    if (c !== SPACE && c !== TAB && c !== CR) return false;
  }
  return true;
}

/**
 * Scans line buf[start, end) (no LF) and records the fields of `out.wanted`. Lines without a quote take a
 * fast path of comma searches.
 */
export function scanLine(buf: Uint8Array, start: number, end: number, out: LineFields): void {
  out.starts.fill(-1);
  out.openQuote = false;
  out.bad = false;
  const wanted = out.wanted;
  if (out.quoteBuf !== buf || out.quoteAt < start) {
    const q = buf.indexOf(QUOTE, start);
    out.quoteBuf = buf;
    out.quoteAt = q < 0 ? buf.length : q;
  }
  if (out.quoteAt >= end) {
    let field = 0;
    let at = start;
    for (;;) {
      let comma = buf.indexOf(COMMA, at);
      if (comma < 0 || comma > end) comma = end;
      const fieldEnd = comma === end && end > at && buf[end - 1] === CR ? end - 1 : comma;
      for (let w = 0; w < wanted.length; w++) {
        if (wanted[w] === field) {
          out.starts[w] = at;
          out.ends[w] = fieldEnd;
          out.escaped[w] = 0;
        }
      }
      field++;
      if (comma === end) break;
      at = comma + 1;
    }
    out.count = field;
    return;
  }
  // The tokenizer's states, for one record ending at `end`.
  let field = 0;
  let i = start;
  let fieldStart = start;
  let escaped = 0;
  const record = (fieldEnd: number) => {
    for (let w = 0; w < wanted.length; w++) {
      if (wanted[w] === field) {
        out.starts[w] = fieldStart;
        out.ends[w] = fieldEnd;
        out.escaped[w] = escaped;
      }
    }
    field++;
  };
  for (;;) {
    // At the start of a field.
    if (i < end && buf[i] === QUOTE) {
      fieldStart = i + 1;
      escaped = 0;
      i++;
      let closed = false;
      while (i < end) {
        const c = buf[i] as number;
        if (c !== QUOTE) {
          i++;
          continue;
        }
        if (i + 1 < end && buf[i + 1] === QUOTE) {
          escaped = 1;
          i += 2;
          continue;
        }
        closed = true;
        break;
      }
      if (!closed) {
        out.openQuote = true;
        out.count = field + 1;
        return;
      }
      // buf[i] is the closing quote.
      const after = i + 1;
      if (after === end) {
        record(i);
        break;
      }
      const c = buf[after];
      if (c === COMMA) {
        record(i);
        i = after + 1;
        continue;
      }
      if (c === CR && after + 1 === end) {
        record(i);
        break;
      }
      // Text after the closing quote: the row is BAD_QUOTE; the field goes on unquoted.
      out.bad = true;
      i = after;
    } else {
      fieldStart = i;
      escaped = 0;
    }
    let comma = buf.indexOf(COMMA, i);
    if (comma < 0 || comma > end) comma = end;
    if (comma === end) {
      record(end > fieldStart && buf[end - 1] === CR ? end - 1 : end);
      break;
    }
    record(comma);
    i = comma + 1;
  }
  out.count = field;
}

/**
 * Bounds of field w of `out` as ingestion sees it: doubled quotes undone (into `scratch` when there are
 * any), then spaces and tabs trimmed. Returns [buffer, start, end].
 */
export function fieldText(
  buf: Uint8Array,
  out: LineFields,
  w: number,
  scratch: { bytes: Uint8Array },
): [Uint8Array, number, number] {
  let start = out.starts[w] as number;
  let end = out.ends[w] as number;
  let bytes = buf;
  if (out.escaped[w] === 1) {
    if (scratch.bytes.length < end - start) scratch.bytes = new Uint8Array(end - start);
    const target = scratch.bytes;
    let n = 0;
    for (let i = start; i < end; i++) {
      const c = buf[i] as number;
      target[n++] = c;
      if (c === QUOTE) i++;
    }
    bytes = target;
    start = 0;
    end = n;
  }
  while (start < end && (bytes[start] === SPACE || bytes[start] === TAB)) start++;
  while (end > start && (bytes[end - 1] === SPACE || bytes[end - 1] === TAB)) end--;
  return [bytes, start, end];
}
