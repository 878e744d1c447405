/**
 * The map step of a sharded read: one byte range of the upload in, its lines regrouped by customer bucket out.
 *
 * A range owns the lines that start inside it (the first after the header for range 0), the last of them
 * running past the range's end when it straddles it; its reader is given the bytes from rangeReadStart on and
 * stops after that line. Each non-blank line goes, byte for byte, to the part of the bucket its customer_id
 * hashes to (the id as ingestion reads it, so every spelling of one id lands in one bucket); lines ingestion
 * rejects before looking at the customer (ragged, bad quotes) go to any bucket, since they change nothing.
 *
 * A part is `u32 magic, u32 count, u32 textBytes, u32 0, text, 0 to 3 zero bytes (to a multiple of 4),
 * u32 line[count]`: line[k] is the 0-based index within the range of the k-th line of text, which gives back
 * its row number once the line counts of earlier ranges are known. The line numbers follow the text so that a
 * part is the buffer its text was gathered in, not a copy of it.
 *
 * Most lines hold no quote: one pass over their bytes finds the line's end and the fields the bucket and the
 * currency come from (quickScan). A line with a quote, or without a comma (a blank line, or a one-field
 * file's), goes through scanLine, the tokenizer's rules in full.
 */
import { endianness } from "node:os";
import { FileError } from "../errors";
import { hash32 } from "../hash";
import { fieldText, isBlankLine, LineFields, scanLine } from "./lines";
import { rangeReadStart, type ShardPlan } from "./plan";

export const PART_MAGIC = 0x32504853; // "SHP2"
/** Bytes before a part's text. */
export const PART_HEADER_BYTES = 16;
const LF = 10;
const CR = 13;
const COMMA = 44;
const QUOTE = 34;
const SPACE = 32;
const TAB = 9;
/** Seed of the bucket hash: unrelated to the hash tables' own seed, so a bucket's ids spread over its tables. */
const BUCKET_SEED = 0x2545f491;

export interface PartitionResult {
  readonly index: number;
  /** Lines that start in the range, blank ones included. */
  readonly lines: number;
  /** One part per bucket, in bucket order. */
  readonly parts: Uint8Array[];
  /** Valid currency codes the range's rows name (upper case). */
  readonly currencies: string[];
  /** Bytes read from the source. */
  readonly bytesRead: number;
}

/** The bucket a customer id's bytes go to. */
export function bucketOf(buf: Uint8Array, start: number, end: number, buckets: number): number {
  return Math.floor((hash32(buf, start, end, BUCKET_SEED) * buckets) / 4294967296);
}

class PartWriter {
  /** The part being built: PART_HEADER_BYTES reserved, then the text. */
  text: Uint8Array;
  length = PART_HEADER_BYTES;
  lines: Uint32Array;
  count = 0;

  constructor(bytes: number) {
    this.text = new Uint8Array(Math.max(256, PART_HEADER_BYTES + bytes));
    this.lines = new Uint32Array(Math.max(16, bytes >> 5));
  }

  private grow(need: number): void {
    const grown = new Uint8Array(Math.max(need, Math.ceil(this.text.length * 1.5)));
    grown.set(this.text.subarray(0, this.length));
    this.text = grown;
  }

  add(line: number, buf: Uint8Array, start: number, end: number, lf: boolean): void {
    const need = this.length + (end - start) + 1;
    if (need > this.text.length) this.grow(need);
    const text = this.text;
    let at = this.length;
    if (end - start <= 96) {
      // Short lines: a loop costs less than the view a set() needs.
      for (let i = start; i < end; i++) text[at++] = buf[i] as number;
    } else {
      text.set(buf.subarray(start, end), at);
      at += end - start;
    }
    if (lf) text[at++] = LF;
    this.length = at;
    if (this.count === this.lines.length) {
      const grown = new Uint32Array(this.lines.length * 2);
      grown.set(this.lines);
      this.lines = grown;
    }
    this.lines[this.count++] = line;
  }

  /** The part: the header written into the reserved bytes and the line numbers appended to the text. */
  finish(): Uint8Array {
    const textBytes = this.length - PART_HEADER_BYTES;
    const linesAt = (this.length + 3) & ~3;
    const total = linesAt + 4 * this.count;
    if (total > this.text.length) this.grow(total);
    const out = this.text;
    out.fill(0, this.length, linesAt);
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    view.setUint32(0, PART_MAGIC, true);
    view.setUint32(4, this.count, true);
    view.setUint32(8, textBytes, true);
    view.setUint32(12, 0, true);
    out.set(new Uint8Array(this.lines.buffer, 0, 4 * this.count), linesAt);
    return out.subarray(0, total);
  }
}

/** A part's text and line numbers (see the layout above). */
export function readPart(part: Uint8Array): { text: Uint8Array; count: number; lines: Uint32Array } {
  const view = new DataView(part.buffer, part.byteOffset, part.byteLength);
  if (part.length < PART_HEADER_BYTES || view.getUint32(0, true) !== PART_MAGIC)
    throw new Error("Not a bucket part");
  const count = view.getUint32(4, true);
  const textBytes = view.getUint32(8, true);
  const linesAt = (PART_HEADER_BYTES + textBytes + 3) & ~3;
  if (linesAt + 4 * count !== part.length) throw new Error("The bucket part is truncated");
  // A view on the line numbers where they are aligned (little-endian, as the partial format), else a copy.
  const at = part.byteOffset + linesAt;
  const lines =
    at % 4 === 0 && endianness() === "LE"
      ? new Uint32Array(part.buffer, at, count)
      : Uint32Array.from({ length: count }, (_, k) => view.getUint32(linesAt + 4 * k, true));
  return { text: part.subarray(PART_HEADER_BYTES, PART_HEADER_BYTES + textBytes), count, lines };
}

/**
 * What quickScan found in a line without quotes: its commas, and the bounds of the customer_id and currency
 * fields (start -1 when the line has too few fields), as scanLine gives them.
 */
class QuickFields {
  commas = 0;
  quote = false;
  idStart = -1;
  idEnd = -1;
  currencyStart = -1;
  currencyEnd = -1;
}

/**
 * Scans buf from `start` to the next LF before `limit` and returns the LF's index, or -1 when there is none
 * (the line goes on in the next chunk). When the line holds a quote, only `quote` is meaningful.
 */
function quickScan(
  buf: Uint8Array,
  start: number,
  limit: number,
  idField: number,
  currencyField: number,
  out: QuickFields,
): number {
  let field = 0;
  let fieldStart = start;
  let quote = false;
  out.idStart = -1;
  out.currencyStart = -1;
  let i = start;
  for (; i < limit; i++) {
    const c = buf[i] as number;
    if (c === COMMA) {
      if (field === idField) {
        out.idStart = fieldStart;
        out.idEnd = i;
      } else if (field === currencyField) {
        out.currencyStart = fieldStart;
        out.currencyEnd = i;
      }
      field++;
      fieldStart = i + 1;
    } else if (c === LF) break;
    else if (c === QUOTE) quote = true;
  }
  if (i === limit) return -1;
  // The last field: a CR before the LF is not part of it.
  const end = i > fieldStart && buf[i - 1] === CR ? i - 1 : i;
  if (field === idField) {
    out.idStart = fieldStart;
    out.idEnd = end;
  } else if (field === currencyField) {
    out.currencyStart = fieldStart;
    out.currencyEnd = end;
  }
  out.commas = field;
  out.quote = quote;
  return i;
}

/**
 * Splits range `index` of the plan into per-bucket parts. `source` yields the upload's bytes from
 * rangeReadStart(plan, index) on (to its end, or at least past the line straddling the range's end); it is
 * closed as soon as the range is done. A chunk is not used once the next is asked for (what is kept of it is
 * copied), so the source may read every chunk into the same buffer. Throws UNSHARDABLE_FILE for a quoted
 * field holding a line break.
 */
export async function partitionRange(
  source: AsyncIterable<Uint8Array>,
  plan: ShardPlan,
  index: number,
): Promise<PartitionResult> {
  const range = plan.ranges[index];
  if (range === undefined) throw new RangeError(`The plan has no range ${index}`);
  const readStart = rangeReadStart(plan, index);
  const buckets = plan.buckets;
  // Room for the bucket's share of the range's text and its line numbers (4 bytes a line of ~40 or more).
  const writers = Array.from(
    { length: buckets },
    () => new PartWriter(Math.ceil(((range.end - range.start) / buckets) * 1.2)),
  );
  const wanted = plan.currencyField >= 0 ? [plan.customerField, plan.currencyField] : [plan.customerField];
  const fields = new LineFields(wanted);
  const quick = new QuickFields();
  const scratch = { bytes: new Uint8Array(256) };
  const currencies = new Set<string>();
  // The last currency code added, as its three upper-case letters' codes (0: none yet).
  let lastCurrency = 0;
  let lines = 0;
  // File offset of the next unread byte, and of the start of the line being gathered (-1: none yet).
  let offset = readStart;
  let lineStart = range.start === plan.dataStart ? range.start : -1;
  let done = lineStart >= range.end;
  let carry: Uint8Array | null = null;

  /** Notes the currency field's text, bytes [s, e) trimmed, when it is three letters. */
  const currency = (bytes: Uint8Array, s: number, e: number) => {
    if (e - s !== 3) return;
    let code = 0;
    for (let i = s; i < e; i++) {
      const c = (bytes[i] as number) & 0xdf;
      if (c < 65 || c > 90) return;
      code = (code << 8) | c;
    }
    if (code !== lastCurrency) {
      lastCurrency = code;
      currencies.add(String.fromCharCode(code >>> 16, (code >>> 8) & 0xff, code & 0xff));
    }
  };

  /** Any line, by the tokenizer's rules. */
  const line = (buf: Uint8Array, start: number, end: number, lf: boolean, at: number) => {
    const local = lines++;
    if (isBlankLine(buf, start, end)) return;
    scanLine(buf, start, end, fields);
    if (fields.openQuote && lf) {
      throw new FileError(
        "UNSHARDABLE_FILE",
        `The file cannot be read in shards: the line at byte ${at} holds a quoted field with a line break`,
      );
    }
    let bucket = local % buckets;
    if (fields.count === plan.width && !fields.bad && !fields.openQuote) {
      const [bytes, s, e] = fieldText(buf, fields, 0, scratch);
      bucket = bucketOf(bytes, s, e, buckets);
      if (wanted.length > 1 && (fields.starts[1] as number) >= 0) {
        const [cb, cs, ce] = fieldText(buf, fields, 1, scratch);
        currency(cb, cs, ce);
      }
    }
    (writers[bucket] as PartWriter).add(local, buf, start, end, lf);
  };

  /** A line quickScan found whole (ending at the LF at `end`), without a quote and with a comma. */
  const quickLine = (buf: Uint8Array, start: number, end: number) => {
    const local = lines++;
    let bucket = local % buckets;
    if (quick.commas + 1 === plan.width) {
      let s = quick.idStart;
      let e = quick.idEnd;
      while (s < e && (buf[s] === SPACE || buf[s] === TAB)) s++;
      while (e > s && (buf[e - 1] === SPACE || buf[e - 1] === TAB)) e--;
      bucket = bucketOf(buf, s, e, buckets);
      if (quick.currencyStart >= 0) {
        s = quick.currencyStart;
        e = quick.currencyEnd;
        while (s < e && (buf[s] === SPACE || buf[s] === TAB)) s++;
        while (e > s && (buf[e - 1] === SPACE || buf[e - 1] === TAB)) e--;
        currency(buf, s, e);
      }
    }
    (writers[bucket] as PartWriter).add(local, buf, start, end, true);
  };

  const iterator = source[Symbol.asyncIterator]();
  try {
    while (!done) {
      const next = await iterator.next();
      if (next.done) break;
      const chunk = next.value;
      const chunkStart = offset;
      offset += chunk.length;
      let at = 0;
      if (lineStart < 0) {
        // Before the range's first line: skip to just after an LF at or after range.start - 1.
        const lf = chunk.indexOf(LF);
        if (lf < 0) continue;
        lineStart = chunkStart + lf + 1;
        at = lf + 1;
        if (lineStart >= range.end) {
          done = true;
          break;
        }
      }
      if (carry !== null) {
        const lf = chunk.indexOf(LF, at);
        if (lf < 0) {
          const joined: Uint8Array = new Uint8Array(carry.length + chunk.length);
          joined.set(carry);
          joined.set(chunk, carry.length);
          carry = joined;
          continue;
        }
        const whole: Uint8Array = new Uint8Array(carry.length + lf);
        whole.set(carry);
        whole.set(chunk.subarray(0, lf), carry.length);
        carry = null;
        line(whole, 0, whole.length, true, lineStart);
        lineStart = chunkStart + lf + 1;
        at = lf + 1;
        if (lineStart >= range.end) {
          done = true;
          break;
        }
      }
      for (;;) {
        const lf = quickScan(chunk, at, chunk.length, plan.customerField, plan.currencyField, quick);
        if (lf < 0) {
          // A copy (a Buffer's slice would be a view on a chunk the source may read the next one into).
          if (at < chunk.length) carry = Uint8Array.prototype.slice.call(chunk, at);
          break;
        }
        if (quick.quote || quick.commas === 0) line(chunk, at, lf, true, lineStart);
        else quickLine(chunk, at, lf);
        lineStart = chunkStart + lf + 1;
        at = lf + 1;
        if (lineStart >= range.end) {
          done = true;
          break;
        }
      }
    }
    // The source ended: the file's last line has no LF.
    if (!done && carry !== null && carry.length > 0 && lineStart >= 0 && lineStart < range.end) {
      line(carry, 0, carry.length, false, lineStart);
    }
  } finally {
    await iterator.return?.();
  }
  return {
    index,
    lines,
    parts: writers.map((w) => w.finish()),
    currencies: [...currencies].sort(),
    bytesRead: offset - readStart,
  };
}
