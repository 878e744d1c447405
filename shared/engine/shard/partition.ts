/**
 * The map step of a sharded read: one byte range of the upload in, its lines regrouped by customer bucket out.
 *
 * A range owns the lines that start inside it (the first after the header for range 0), the last of them
 * running past the range's end when it straddles it; its reader is given the bytes from rangeReadStart on and
 * stops after that line. Each non-blank line goes, byte for byte, to the part of the bucket its customer_id
 * hashes to (the id as ingestion reads it, so every spelling of one id lands in one bucket); lines ingestion
 * rejects before looking at the customer (ragged, bad quotes) go to any bucket, since they change nothing.
 *
 * A part is `u32 magic, u32 count, u32 line[count], text`: line[k] is the 0-based index within the range of
 * the k-th line of text, which gives back its row number once the line counts of earlier ranges are known.
 */
import { FileError } from "../errors";
import { hash32 } from "../hash";
import { fieldText, isBlankLine, LineFields, scanLine } from "./lines";
import { rangeReadStart, type ShardPlan } from "./plan";

export const PART_MAGIC = 0x31504853; // "SHP1"
const LF = 10;
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
  text: Uint8Array;
  length = 0;
  lines: Uint32Array;
  count = 0;

  constructor(bytes: number) {
    this.text = new Uint8Array(Math.max(256, bytes));
    this.lines = new Uint32Array(Math.max(16, bytes >> 5));
  }

  add(line: number, buf: Uint8Array, start: number, end: number, lf: boolean): void {
    const need = this.length + (end - start) + 1;
    if (need > this.text.length) {
      const grown = new Uint8Array(Math.max(need, Math.ceil(this.text.length * 1.5)));
      grown.set(this.text.subarray(0, this.length));
      this.text = grown;
    }
    const text = this.text;
    let at = this.length;
    if (end - start <= 96) {
      // Short lines: a loop costs less than the view a set() needs.
      for (let i = start; i < end; i++) text[at++] = buf[i] as number;
    } else {
      text.set(buf.subarray(start, end), at);
      at += end - start;
    }
    this.length = at;
    if (lf) this.text[this.length++] = LF;
    if (this.count === this.lines.length) {
      const grown = new Uint32Array(this.lines.length * 2);
      grown.set(this.lines);
      this.lines = grown;
    }
    this.lines[this.count++] = line;
  }

  finish(): Uint8Array {
    const out = new Uint8Array(8 + 4 * this.count + this.length);
    const view = new DataView(out.buffer);
    view.setUint32(0, PART_MAGIC, true);
    view.setUint32(4, this.count, true);
    new Uint8Array(out.buffer, 8, 4 * this.count).set(new Uint8Array(this.lines.buffer, 0, 4 * this.count));
    out.set(this.text.subarray(0, this.length), 8 + 4 * this.count);
    return out;
  }
}

/**
 * Splits range `index` of the plan into per-bucket parts. `source` yields the upload's bytes from
 * rangeReadStart(plan, index) on (to its end, or at least past the line straddling the range's end); it is
 * closed as soon as the range is done. Throws UNSHARDABLE_FILE for a quoted field holding a line break.
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
  const writers = Array.from(
    { length: buckets },
    () => new PartWriter(Math.ceil(((range.end - range.start) / buckets) * 1.1)),
  );
  const wanted = plan.currencyField >= 0 ? [plan.customerField, plan.currencyField] : [plan.customerField];
  const fields = new LineFields(wanted);
  const scratch = { bytes: new Uint8Array(256) };
  const currencies = new Set<string>();
  let lastCurrency = "";
  let lines = 0;
  // File offset of the next unread byte, and of the start of the line being gathered (-1: none yet).
  let offset = readStart;
  let lineStart = range.start === plan.dataStart ? range.start : -1;
  let done = lineStart >= range.end;
  let carry: Uint8Array | null = null;

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
        if (ce - cs === 3) {
          let code = "";
          for (let i = cs; i < ce; i++) {
            const c = (cb[i] as number) & 0xdf;
            if (c < 65 || c > 90) {
              code = "";
              break;
            }
            code += String.fromCharCode(c);
          }
          if (code !== "" && code !== lastCurrency) {
            lastCurrency = code;
            currencies.add(code);
          }
        }
      }
    }
    (writers[bucket] as PartWriter).add(local, buf, start, end, lf);
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
        const lf = chunk.indexOf(LF, at);
        if (lf < 0) {
          if (at < chunk.length) carry = chunk.slice(at);
          break;
        }
        line(chunk, at, lf, true, lineStart);
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
