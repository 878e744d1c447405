/**
 * Planning a sharded read: the upload's header, checked as ingestion checks it, and its data bytes cut into
 * ranges. Each range's reader aligns itself to lines (see partition.ts), so ranges are plain byte offsets.
 */
import { FileError } from "../errors";
import { findHeader, headerFor, ingestTransactions } from "../ingest";
import { CsvTokenizer, MAX_LINE_BYTES, textBytes } from "../reader";
import { AggregateState } from "../state";
import type { ReaderOptions } from "../types";
import { isBlankLine, LineFields, scanLine } from "./lines";

/** Bytes of the upload's start planShards needs: enough for the longest header and the binary probe. */
export const PLAN_HEAD_BYTES = MAX_LINE_BYTES + (1 << 16) + 4096;
/** Default size of a byte range. */
export const DEFAULT_RANGE_BYTES = 128 << 20;
/** Default number of customer buckets. */
export const DEFAULT_BUCKETS = 16;
/** Most buckets and ranges a plan may have. */
export const MAX_BUCKETS = 4096;
export const MAX_RANGES = 100_000;

export interface ShardByteRange {
  readonly index: number;
  /** Lines starting at byte offsets in [start, end) belong to the range. */
  readonly start: number;
  readonly end: number;
}

/** A plan; plain JSON, so it can travel between steps. */
export interface ShardPlan {
  readonly version: 1;
  /** How the upload is read. */
  readonly reader: ReaderOptions;
  /** The upload's size in bytes. */
  readonly size: number;
  /** The header line as text (without its LF). */
  readonly header: string;
  /** 0-based line index of the header (blank lines may come before it). */
  readonly headerLine: number;
  /** Offset of the first byte after the header's LF. */
  readonly dataStart: number;
  /** Fields in the header. */
  readonly width: number;
  /** Field index of customer_id. */
  readonly customerField: number;
  /** Field index of currency, -1 when the file has none. */
  readonly currencyField: number;
  readonly buckets: number;
  readonly ranges: readonly ShardByteRange[];
}

export interface ShardOptions {
  /** How the upload is read (format must be csv; columns as for ingestTransactions). */
  readonly reader: ReaderOptions;
  /** Target size of a byte range (default 128 MiB). */
  readonly rangeBytes?: number;
  /** Customer buckets (default 16). */
  readonly buckets?: number;
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

function unshardable(why: string): FileError {
  return new FileError("UNSHARDABLE_FILE", `The file cannot be read in shards: ${why}`);
}

/**
 * Plans the sharded read of an upload of `size` bytes from its first bytes (`head`: PLAN_HEAD_BYTES, or the
 * whole upload when smaller). Throws the FileError ingestion would throw for the header (EMPTY_FILE,
 * BINARY_FILE, NO_HEADER, MISSING_COLUMNS, DUPLICATE_COLUMNS), and UNSHARDABLE_FILE for an upload the sharded
 * reader cannot split exactly: compressed, NDJSON, or a header with a quoted line break.
 */
export async function planShards(head: Uint8Array, size: number, options: ShardOptions): Promise<ShardPlan> {
  const { reader } = options;
  const buckets = options.buckets ?? DEFAULT_BUCKETS;
  const rangeBytes = options.rangeBytes ?? DEFAULT_RANGE_BYTES;
  if (!(Number.isInteger(buckets) && buckets >= 1 && buckets <= MAX_BUCKETS))
    throw new RangeError(`buckets must be an integer in 1..${MAX_BUCKETS}`);
  if (!(Number.isInteger(rangeBytes) && rangeBytes >= 1)) throw new RangeError("rangeBytes must be positive");
  if (reader.format !== "csv") throw unshardable("only CSV uploads are read in shards");
  const gzip = head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
  if (gzip && reader.compression !== "none") throw unshardable("it is gzip-compressed");
  // The binary probe, the byte-order mark and the declared compression, exactly as a whole read checks them.
  const probe = head.subarray(0, Math.min(head.length, (1 << 16) + 3));
  for await (const _ of textBytes(once(probe), reader.compression)) {
    // Only the checks matter.
  }
  const bom = head.length >= 3 && head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf ? 3 : 0;
  let at = bom;
  let line = 0;
  for (;;) {
    let lf = head.indexOf(10, at);
    if (lf < 0) {
      if (head.length < size) throw unshardable("its header line is too long");
      lf = head.length;
    }
    if (!isBlankLine(head, at, lf) || lf === head.length) break;
    at = lf + 1;
    line++;
  }
  const headerStart = at;
  let headerEnd = head.indexOf(10, headerStart);
  if (headerEnd < 0) headerEnd = head.length;
  const fields = new LineFields([]);
  scanLine(head, headerStart, headerEnd, fields);
  if (fields.openQuote) throw unshardable("its header holds a quoted line break");
  const dataStart = Math.min(size, headerEnd + 1);
  // Ingesting the header alone throws every error a whole read would throw for it.
  const headerBytes = head.subarray(0, Math.min(head.length, dataStart));
  await ingestTransactions(once(headerBytes), { ...reader, compression: "none" }, new AggregateState());
  let names: string[] = [];
  const tokenizer = new CsvTokenizer({
    header: (header) => {
      names = header;
    },
    record: () => {},
    rowError: () => {},
  });
  tokenizer.push(Buffer.from(headerBytes.buffer, headerBytes.byteOffset + bom, headerBytes.length - bom));
  tokenizer.end();
  const customerField = findHeader(names, headerFor(reader, "customer_id"));
  const currencyField = findHeader(names, headerFor(reader, "currency"));
  const ranges: ShardByteRange[] = [];
  const dataBytes = size - dataStart;
  const count = Math.max(1, Math.min(MAX_RANGES, Math.ceil(dataBytes / rangeBytes)));
  for (let k = 0; k < count; k++) {
    ranges.push({
      index: k,
      start: dataStart + Math.floor((dataBytes * k) / count),
      end: dataStart + Math.floor((dataBytes * (k + 1)) / count),
    });
  }
  return {
    version: 1,
    reader: { format: "csv", ...(reader.columns === undefined ? {} : { columns: reader.columns }) },
    size,
    header: Buffer.from(head.buffer, head.byteOffset + headerStart, headerEnd - headerStart).toString("utf8"),
    headerLine: line,
    dataStart,
    width: fields.count,
    customerField,
    currencyField,
    buckets,
    ranges,
  };
}

/**
 * Where a range's reader starts: one byte before the range (to see whether the range starts a line), or the
 * range's start for the first. It reads on past the range's end to the end of the line that straddles it.
 */
export function rangeReadStart(plan: ShardPlan, index: number): number {
  const range = plan.ranges[index];
  if (range === undefined) throw new RangeError(`The plan has no range ${index}`);
  return range.start === plan.dataStart ? range.start : range.start - 1;
}
