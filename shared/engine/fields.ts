/**
 * Field values from raw record bytes: trimming, undoing CSV quote doubling, UTF-8 checks, and exact parsers
 * for amounts (to integer cents, never through floating point) and quantities. Everything works on bytes so
 * that a row is validated without creating strings.
 */
import { isUtf8 } from "node:buffer";
import { FIELD_ESCAPED, type FieldRecord } from "./reader";

const QUOTE = 34;
const SPACE = 32;
const TAB = 9;
const MINUS = 45;
const DOT = 46;

/** The bytes of one field, trimmed of spaces and tabs, with doubled quotes undone. */
export class FieldBytes {
  buf: Uint8Array = new Uint8Array(0);
  start = 0;
  end = 0;
  private scratch = new Uint8Array(64);

  load(record: FieldRecord, k: number): this {
    let start = record.starts[k] as number;
    let end = record.ends[k] as number;
    let buf: Uint8Array = record.buf;
    if ((record.flags[k] as number) & FIELD_ESCAPED) {
      if (this.scratch.length < end - start)
        this.scratch = new Uint8Array(Math.max(end - start, this.scratch.length * 2));
      const out = this.scratch;
      let w = 0;
      for (let i = start; i < end; i++) {
        const c = buf[i] as number;
        out[w++] = c;
        if (c === QUOTE) i++;
      }
      buf = out;
      start = 0;
      end = w;
    }
    while (start < end && (buf[start] === SPACE || buf[start] === TAB)) start++;
    while (end > start && (buf[end - 1] === SPACE || buf[end - 1] === TAB)) end--;
    this.buf = buf;
    this.start = start;
    this.end = end;
    return this;
  }

  get empty(): boolean {
    return this.start === this.end;
  }

  get byteLength(): number {
    return this.end - this.start;
  }

  /** True when the bytes are valid UTF-8 (ASCII is checked without a call into native code). */
  isUtf8(): boolean {
    const buf = this.buf;
    for (let i = this.start; i < this.end; i++) {
      if ((buf[i] as number) >= 0x80) return isUtf8(buf.subarray(this.start, this.end));
    }
    return true;
  }

  /** Length in Unicode code points (of valid UTF-8). */
  charLength(): number {
    let n = 0;
    const buf = this.buf;
    for (let i = this.start; i < this.end; i++) if (((buf[i] as number) & 0xc0) !== 0x80) n++;
    return n;
  }

  text(): string {
    return Buffer.from(this.buf.buffer, this.buf.byteOffset + this.start, this.end - this.start).toString(
      "utf8",
    );
  }
}

/** Why the last parseCents call failed. */
export let amountProblem = "";

/**
 * Parses `-?digits[.digits]` to integer cents; NaN when the text is no such decimal or has more than two
 * decimal places that are not zero (`1.50` and `1.500` are accepted, `1.505` is not). No exponent, no
 * thousands separators, no leading `+` or `.`. Cents past 2^53 come out rounded (and Infinity past the
 * doubles): ingestion rejects every amount past its limit, far below (ingest.ts, MAX_AMOUNT_CENTS).
 */
export function parseCents(buf: Uint8Array, start: number, end: number): number {
  let i = start;
  const negative = buf[i] === MINUS;
  if (negative) i++;
  let whole = 0;
  const digitsFrom = i;
  while (i < end) {
    const d = (buf[i] as number) - 48;
    if (d < 0 || d > 9) break;
    whole = whole * 10 + d;
    i++;
  }
  if (i === digitsFrom) return bad("it is not a decimal number");
  let fraction = 0;
  if (i < end) {
    if (buf[i] !== DOT) return bad("it is not a decimal number");
    i++;
    const fractionFrom = i;
    while (i < end) {
      const d = (buf[i] as number) - 48;
      if (d < 0 || d > 9) return bad("it is not a decimal number");
      const place = i - fractionFrom;
      if (place === 0) fraction += d * 10;
      else if (place === 1) fraction += d;
      else if (d !== 0) return bad("it has more than 2 decimal places");
      i++;
    }
    if (i === fractionFrom) return bad("it is not a decimal number");
  }
  const cents = whole * 100 + fraction;
  // 0 - 0 is +0, so "-0.00" gives the same bits as "0".
  return negative ? 0 - cents : cents;
}

function bad(reason: string): number {
  amountProblem = reason;
  return Number.NaN;
}

/** Parses `-?digits` (at most 15 digits); NaN otherwise. */
export function parseInteger(buf: Uint8Array, start: number, end: number): number {
  let i = start;
  const negative = buf[i] === MINUS;
  if (negative) i++;
  if (i === end || end - i > 15) return Number.NaN;
  let value = 0;
  for (; i < end; i++) {
    const d = (buf[i] as number) - 48;
    if (d < 0 || d > 9) return Number.NaN;
    value = value * 10 + d;
  }
  return negative ? 0 - value : value;
}
