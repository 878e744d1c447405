/**
 * Streaming readers for uploaded files: bytes in (any chunking), records out, in bounded memory.
 *
 * - Compression: "auto" recognises gzip by its magic bytes (1f 8b), "gzip" requires them, "none" reads the
 *   bytes as they are. A damaged gzip stream is a FileError; an error of the source stream itself is
 *   rethrown unchanged (it is not the file's fault, and the caller may retry).
 * - Text: UTF-8, with an optional byte-order mark. NUL bytes in the first 64 KiB or a UTF-16 byte-order mark
 *   mark a binary (or wrongly encoded) file.
 * - CSV (RFC 4180) with a header line: fields separated by commas, records by LF or CRLF; a field may be
 *   quoted, and then holds commas, line breaks and doubled quotes (`""` for `"`). A quote inside an unquoted
 *   field is kept as a literal character; text after a closing quote other than a separator is a BAD_QUOTE
 *   row. Lines holding only spaces or tabs are skipped. A record's `row` is the file's line number (1-based,
 *   the header line and blank lines counted) of the line where the record starts: a record whose quoted
 *   field holds line breaks spans several lines and is numbered by its first.
 * - NDJSON: one JSON object per line; blank lines are skipped; `row` is the file's line number.
 * Row problems (RAGGED_ROW, BAD_QUOTE, UNTERMINATED_QUOTE, LINE_TOO_LONG, BAD_JSON, BAD_ENCODING) go to the
 * sink's rowError and reading goes on; file problems throw a FileError.
 *
 * Records are handed to the sink as offsets into a byte buffer that is only valid during the call: no string
 * and no object is created per row or per field, so callers decide what to decode.
 */
import { isUtf8 } from "node:buffer";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { FileError } from "./errors";
import type { Compression, RowError } from "./types";

/** Longest accepted record (CSV) or line (NDJSON), in bytes. */
export const MAX_LINE_BYTES = 1 << 20;
const BINARY_PROBE_BYTES = 1 << 16;

/** The field was quoted. */
export const FIELD_QUOTED = 1;
/** The field holds doubled quotes that stand for one quote each. */
export const FIELD_ESCAPED = 2;
/** NDJSON only: the value is an object (or an array holding one), which no column accepts. */
export const FIELD_NESTED = 4;

/** One record: field k is buf[starts[k], ends[k]), raw (doubled quotes not yet undone, spaces not trimmed). */
export interface FieldRecord {
  /** The file's line number (1-based) where the record starts. */
  row: number;
  count: number;
  buf: Buffer;
  starts: Int32Array;
  ends: Int32Array;
  flags: Uint8Array;
}

/** What a CSV read went through: lines (header and blank ones included), and line breaks in quoted fields. */
export interface CsvStats {
  lines: number;
  quotedLineBreaks: number;
}

export interface CsvSink {
  /** The header's column names, trimmed. May throw a FileError (a missing column, say). */
  header(names: string[]): void;
  /** A data record with as many fields as the header. */
  record(record: FieldRecord): void;
  rowError(error: RowError): void;
}

export interface NdjsonSink {
  object(value: Record<string, unknown>, row: number): void;
  rowError(error: RowError): void;
}

function asBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

// ---- bytes: decompression, byte-order mark, binary probe -------------------------------------------------

/** The decompressed bytes of a source (see the module header for how compression is chosen). */
export async function* decompressed(source: AsyncIterable<Uint8Array>, compression: Compression = "auto") {
  const iterator = source[Symbol.asyncIterator]();
  let finished = false;
  const head: Buffer[] = [];
  let headLength = 0;
  try {
    while (headLength < 2) {
      const next = await iterator.next();
      if (next.done) {
        finished = true;
        break;
      }
      const chunk = asBuffer(next.value);
      if (chunk.length > 0) {
        head.push(chunk);
        headLength += chunk.length;
      }
    }
    const first = Buffer.concat(head);
    const gzip = first.length >= 2 && first[0] === 0x1f && first[1] === 0x8b;
    if (compression === "gzip" && !gzip) {
      if (first.length === 0) throw new FileError("EMPTY_FILE", "The file is empty");
      throw new FileError("NOT_GZIP", "The upload was declared gzip but the file is not gzip-compressed");
    }
    if (compression === "none" && gzip) {
      throw new FileError(
        "BINARY_FILE",
        "The file is gzip-compressed but was declared uncompressed; upload it with compression gzip or auto",
      );
    }
    const rest = async function* (): AsyncGenerator<Buffer> {
      if (first.length > 0) yield first;
      while (!finished) {
        const next = await iterator.next();
        if (next.done) finished = true;
        else yield asBuffer(next.value);
      }
    };
    if (gzip) yield* gunzip(rest());
    else yield* rest();
  } finally {
    if (!finished) await iterator.return?.();
  }
}

async function* gunzip(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  // Errors of the source pass through untouched; only zlib's own errors make the file bad.
  let sourceError: { error: unknown } | undefined;
  const guarded = async function* () {
    try {
      yield* source;
    } catch (error) {
      sourceError = { error };
      throw error;
    }
  };
  const inflate = createGunzip({ chunkSize: 1 << 16 });
  const piping = pipeline(Readable.from(guarded(), { objectMode: false }), inflate);
  piping.catch(() => {});
  try {
    for await (const chunk of inflate as AsyncIterable<Buffer>) yield chunk;
    await piping;
  } catch (error) {
    if (sourceError) throw sourceError.error;
    if (error instanceof FileError) throw error;
    const detail = error instanceof Error ? error.message : String(error);
    throw new FileError("BAD_GZIP", `The gzip stream is damaged or truncated (${detail})`);
  } finally {
    inflate.destroy();
  }
}

/** Decompressed text bytes without the byte-order mark, after probing the start of the file for binary. */
export async function* textBytes(
  source: AsyncIterable<Uint8Array>,
  compression: Compression = "auto",
  probeBytes = BINARY_PROBE_BYTES,
) {
  let pending: Buffer | null = Buffer.alloc(0);
  let probed = 0;
  const probe = (chunk: Buffer) => {
    if (probed >= probeBytes) return;
    const limit = Math.min(chunk.length, probeBytes - probed);
    if (chunk.subarray(0, limit).indexOf(0) >= 0) {
      throw new FileError("BINARY_FILE", "The file holds NUL bytes: it is binary, not UTF-8 text");
    }
    probed += limit;
  };
  const start = (bytes: Buffer): Buffer => {
    if (
      bytes.length >= 2 &&
      ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff))
    ) {
      throw new FileError("BINARY_FILE", "The file is UTF-16 text; save it as UTF-8");
    }
    return bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf
      ? bytes.subarray(3)
      : bytes;
  };
  for await (const raw of decompressed(source, compression)) {
    let chunk = raw;
    if (pending !== null) {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      if (pending.length < 3) continue;
      chunk = start(pending);
      pending = null;
    }
    probe(chunk);
    if (chunk.length > 0) yield chunk;
  }
  if (pending !== null && pending.length > 0) {
    const chunk = start(pending);
    probe(chunk);
    if (chunk.length > 0) yield chunk;
  }
}

// ---- CSV -------------------------------------------------------------------------------------------------

const COMMA = 44;
const QUOTE = 34;
const LF = 10;
const CR = 13;
const SPACE = 32;
const TAB = 9;

const S_FIELD = 0; // at the start of a field
const S_UNQUOTED = 1;
const S_QUOTED = 2;
const S_QUOTE = 3; // a quote seen inside a quoted field: closing, or the first of a doubled pair
const S_QUOTE_CR = 4; // a closing quote followed by CR

/** Undoes doubled quotes in a quoted field's raw bytes. */
export function unescapeField(buf: Buffer, start: number, end: number, flags: number): string {
  const text = buf.toString("utf8", start, end);
  return flags & FIELD_ESCAPED ? text.replaceAll('""', '"') : text;
}

function isBlank(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = buf[i];
    if (c !== SPACE && c !== TAB && c !== CR) return false;
  }
  return true;
}

/**
 * A resumable RFC 4180 tokenizer. Bytes of a record that spans chunks are carried over (at most
 * MAX_LINE_BYTES of them); the scan never revisits bytes it has passed.
 */
export class CsvTokenizer {
  private buf: Buffer = Buffer.alloc(0);
  /** Start of the current record in buf. */
  private recordStart = 0;
  private state = S_FIELD;
  private fieldStart = 0;
  private fieldFlags = 0;
  private count = 0;
  private starts = new Int32Array(16);
  private ends = new Int32Array(16);
  private flags = new Uint8Array(16);
  /** The current record has text after a closing quote. */
  private bad = false;
  /** The current record passed MAX_LINE_BYTES; its bytes are being skipped. */
  private tooLong = false;
  /** Records ended so far, blank ones included. */
  private records = 0;
  private headerRecord = -1;
  /** The file's line number (1-based) where the current record starts. */
  private recordLine = 1;
  /** Line breaks inside the current record's quoted fields. */
  private quotedBreaks = 0;
  /** Lines of an unterminated quoted record at the end of the file (it never reaches endRecord). */
  private pendingLines = 0;
  private width = 0;
  private readonly record: FieldRecord;

  constructor(
    private readonly sink: CsvSink,
    private readonly maxLineBytes = MAX_LINE_BYTES,
  ) {
    this.record = {
      row: 0,
      count: 0,
      buf: this.buf,
      starts: this.starts,
      ends: this.ends,
      flags: this.flags,
    };
  }

  get headerSeen(): boolean {
    return this.headerRecord >= 0;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    let from: number;
    if (this.recordStart < this.buf.length) {
      // A record runs on from the last chunk. Its bytes and the new chunk's up to its first line break go
      // into a small buffer of their own; when the record ends there, the rest of the chunk is scanned where
      // it lies, so that a chunk is not copied whole to carry a few bytes over.
      const carried = this.buf.length - this.recordStart;
      const lineEnd = chunk.indexOf(LF);
      if (lineEnd >= 0 && lineEnd + 1 < chunk.length) {
        const head = chunk.subarray(0, lineEnd + 1);
        this.buf = Buffer.concat([this.buf.subarray(this.recordStart), head]);
        this.shift(this.recordStart);
        this.recordStart = 0;
        this.scan(carried);
        if (this.recordStart === this.buf.length && this.state === S_FIELD && this.count === 0) {
          this.buf = chunk;
          this.recordStart = head.length;
          this.fieldStart = head.length;
          this.scan(head.length);
          this.checkLength();
          return;
        }
        // The record goes on past that line break (a quoted one): carry it with the rest of the chunk.
        from = this.buf.length - this.recordStart;
        this.buf = Buffer.concat([this.buf.subarray(this.recordStart), chunk.subarray(head.length)]);
        this.shift(this.recordStart);
      } else {
        from = carried;
        this.buf = Buffer.concat([this.buf.subarray(this.recordStart), chunk]);
        this.shift(this.recordStart);
      }
    } else {
      from = 0;
      this.buf = chunk;
      this.shift(this.recordStart);
    }
    this.recordStart = 0;
    this.scan(from);
    this.checkLength();
  }

  /** Drops the bytes of a record that has grown past maxLineBytes (see push). */
  private checkLength(): void {
    if (this.recordStart < this.buf.length && this.buf.length - this.recordStart > this.maxLineBytes) {
      // Too long to keep: drop the bytes, keep following the quoting until the record ends.
      this.tooLong = true;
      this.recordStart = this.buf.length;
      this.fieldStart = this.buf.length;
      this.count = 0;
    }
  }

  /**
   * Lines read so far (header and blank lines included) and how many of them were line breaks inside quoted
   * fields (records spanning lines); complete once end() has run.
   */
  stats(): CsvStats {
    const lines = this.recordLine - 1 + this.pendingLines;
    return { lines, quotedLineBreaks: lines - this.records };
  }

  end(): void {
    const n = this.buf.length;
    if (this.state === S_QUOTED) {
      this.pendingLines = 1 + this.quotedBreaks;
      this.records++;
      if (this.headerRecord < 0) throw noHeader("its quote is never closed");
      this.sink.rowError({
        row: this.recordLine,
        code: "UNTERMINATED_QUOTE",
        reason: "A quoted field is never closed; the rest of the file was read as part of it",
      });
    } else if (this.state !== S_FIELD || this.count > 0 || this.tooLong) {
      if (this.state === S_UNQUOTED) {
        const end = n > this.fieldStart && this.buf[n - 1] === CR ? n - 1 : n;
        this.addField(this.fieldStart, end);
      } else if (this.state === S_QUOTE) this.addField(this.fieldStart, n - 1);
      else if (this.state === S_QUOTE_CR) this.addField(this.fieldStart, n - 2);
      else this.addField(n, n);
      this.endRecord(n);
    }
    if (this.headerRecord < 0) throw new FileError("EMPTY_FILE", "The file is empty");
    this.buf = Buffer.alloc(0);
    this.recordStart = 0;
  }

  private shift(by: number): void {
    if (by === 0) return;
    for (let k = 0; k < this.count; k++) {
      this.starts[k] = (this.starts[k] as number) - by;
      this.ends[k] = (this.ends[k] as number) - by;
    }
    this.fieldStart -= by;
  }

  private addField(start: number, end: number): void {
    const k = this.count;
    if (k === this.starts.length) {
      const size = k * 2;
      const starts = new Int32Array(size);
      const ends = new Int32Array(size);
      const flags = new Uint8Array(size);
      starts.set(this.starts);
      ends.set(this.ends);
      flags.set(this.flags);
      this.starts = starts;
      this.ends = ends;
      this.flags = flags;
      this.record.starts = starts;
      this.record.ends = ends;
      this.record.flags = flags;
    }
    this.starts[k] = start;
    this.ends[k] = end;
    this.flags[k] = this.fieldFlags;
    this.count = k + 1;
  }

  /** Ends the current record; `next` is the offset just past its line terminator. */
  private endRecord(next: number): void {
    this.records++;
    const line = this.recordLine;
    this.recordLine = line + 1 + this.quotedBreaks;
    this.quotedBreaks = 0;
    const count = this.count;
    const recordStart = this.recordStart;
    this.count = 0;
    this.recordStart = next;
    const tooLong = this.tooLong || next - recordStart - 1 > this.maxLineBytes;
    const bad = this.bad;
    this.tooLong = false;
    this.bad = false;
    if (
      !tooLong &&
      !bad &&
      count === 1 &&
      this.flags[0] === 0 &&
      isBlank(this.buf, this.starts[0] as number, this.ends[0] as number)
    ) {
      return;
    }
    if (this.headerRecord < 0) {
      this.headerRecord = this.records;
      if (tooLong) throw noHeader(`it is longer than ${this.maxLineBytes} bytes`);
      if (bad) throw noHeader("it has text after a closing quote");
      this.readHeader(count);
      return;
    }
    const row = line;
    if (tooLong) {
      this.sink.rowError({
        row,
        code: "LINE_TOO_LONG",
        reason: `The row is longer than ${this.maxLineBytes} bytes`,
      });
    } else if (bad) {
      this.sink.rowError({
        row,
        code: "BAD_QUOTE",
        reason: "A quoted field is followed by text before the next comma",
      });
    } else if (count !== this.width) {
      this.sink.rowError({
        row,
        code: "RAGGED_ROW",
        reason: `The row has ${count} fields; the header has ${this.width}`,
      });
    } else {
      const record = this.record;
      record.row = row;
      record.count = count;
      record.buf = this.buf;
      this.sink.record(record);
    }
  }

  private readHeader(count: number): void {
    const buf = this.buf;
    const names: string[] = [];
    for (let k = 0; k < count; k++) {
      const start = this.starts[k] as number;
      const end = this.ends[k] as number;
      if (!isUtf8(buf.subarray(start, end))) {
        throw new FileError(
          "BINARY_FILE",
          "The header is not UTF-8 text: the file is binary or in another encoding",
        );
      }
      names.push(unescapeField(buf, start, end, this.flags[k] as number).trim());
    }
    this.width = count;
    this.sink.header(names);
  }

  private scan(from: number): void {
    const buf = this.buf;
    const n = buf.length;
    let i = from;
    let state = this.state;
    while (i < n) {
      if (state === S_FIELD) {
        if (buf[i] === QUOTE) {
          state = S_QUOTED;
          this.fieldStart = i + 1;
          this.fieldFlags = FIELD_QUOTED;
          i++;
          continue;
        }
        state = S_UNQUOTED;
        this.fieldStart = i;
        this.fieldFlags = 0;
      }
      if (state === S_UNQUOTED) {
        let c = 0;
        while (i < n) {
          c = buf[i] as number;
          if (c === COMMA || c === LF) break;
          i++;
        }
        if (i === n) break;
        state = S_FIELD;
        if (c === COMMA) {
          this.addField(this.fieldStart, i);
          i++;
        } else {
          const end = i > this.fieldStart && buf[i - 1] === CR ? i - 1 : i;
          this.addField(this.fieldStart, end);
          i++;
          this.endRecord(i);
        }
        continue;
      }
      if (state === S_QUOTED) {
        const q = buf.indexOf(QUOTE, i);
        const to = q < 0 ? n : q;
        // Line breaks inside quotes do not end the record but do move the next record's line number.
        for (let at = i; at < to; at++) if (buf[at] === LF) this.quotedBreaks++;
        if (q < 0) {
          i = n;
          break;
        }
        i = q + 1;
        state = S_QUOTE;
        continue;
      }
      const c = buf[i];
      if (state === S_QUOTE) {
        if (c === QUOTE) {
          this.fieldFlags |= FIELD_ESCAPED;
          state = S_QUOTED;
          i++;
        } else if (c === COMMA) {
          this.addField(this.fieldStart, i - 1);
          state = S_FIELD;
          i++;
        } else if (c === LF) {
          this.addField(this.fieldStart, i - 1);
          state = S_FIELD;
          i++;
          this.endRecord(i);
        } else if (c === CR) {
          state = S_QUOTE_CR;
          i++;
        } else {
          this.bad = true;
          state = S_UNQUOTED;
        }
      } else {
        // S_QUOTE_CR
        if (c === LF) {
          this.addField(this.fieldStart, i - 2);
          state = S_FIELD;
          i++;
          this.endRecord(i);
        } else {
          this.bad = true;
          state = S_UNQUOTED;
        }
      }
    }
    this.state = state;
  }
}

function noHeader(why: string): FileError {
  return new FileError("NO_HEADER", `The file has no readable header line: ${why}`);
}

/** Reads a CSV file into the sink; resolves with its CsvStats when it has been read, throws FileError for a bad file. */
export async function readCsv(
  source: AsyncIterable<Uint8Array>,
  compression: Compression | undefined,
  sink: CsvSink,
  maxLineBytes = MAX_LINE_BYTES,
  binaryProbeBytes?: number,
): Promise<CsvStats> {
  const tokenizer = new CsvTokenizer(sink, maxLineBytes);
  for await (const chunk of textBytes(source, compression, binaryProbeBytes)) tokenizer.push(chunk);
  tokenizer.end();
  return tokenizer.stats();
}

// ---- NDJSON ----------------------------------------------------------------------------------------------

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Reads an NDJSON file into the sink; throws FileError when the file is empty or its first line is no object. */
export async function readNdjson(
  source: AsyncIterable<Uint8Array>,
  compression: Compression | undefined,
  sink: NdjsonSink,
  maxLineBytes = MAX_LINE_BYTES,
): Promise<void> {
  let carry: Buffer | null = null;
  let skipping = false;
  let line = 0;
  let seenObject = false;
  let nonBlank = false;

  const handle = (buf: Buffer, start: number, end: number, tooLong: boolean) => {
    line++;
    if (end > start && buf[end - 1] === CR) end--;
    if (tooLong || end - start > maxLineBytes) {
      nonBlank = true;
      sink.rowError({
        row: line,
        code: "LINE_TOO_LONG",
        reason: `The line is longer than ${maxLineBytes} bytes`,
      });
      return;
    }
    if (isBlank(buf, start, end)) return;
    nonBlank = true;
    const bytes = buf.subarray(start, end);
    if (!isUtf8(bytes)) {
      if (!seenObject) {
        throw new FileError(
          "BINARY_FILE",
          "The first line is not UTF-8 text: the file is binary or in another encoding",
        );
      }
      sink.rowError({ row: line, code: "BAD_ENCODING", reason: "The line is not valid UTF-8" });
      return;
    }
    let value: unknown;
    let reason = "";
    try {
      value = JSON.parse(bytes.toString("utf8"));
      if (!isPlainObject(value)) reason = "The line is JSON but not an object";
    } catch {
      reason = "The line is not valid JSON";
    }
    if (reason !== "") {
      if (!seenObject)
        throw new FileError("NOT_NDJSON", `The file is not NDJSON: ${reason.toLowerCase()} (line ${line})`);
      sink.rowError({ row: line, code: "BAD_JSON", reason });
      return;
    }
    seenObject = true;
    sink.object(value as Record<string, unknown>, line);
  };

  for await (const chunk of textBytes(source, compression)) {
    let buf: Buffer;
    let from: number;
    if (carry !== null) {
      from = carry.length;
      buf = Buffer.concat([carry, chunk]);
    } else {
      from = 0;
      buf = chunk;
    }
    let start = 0;
    let nl = buf.indexOf(LF, from);
    while (nl >= 0) {
      handle(buf, start, nl, skipping);
      skipping = false;
      start = nl + 1;
      nl = buf.indexOf(LF, start);
    }
    carry = start < buf.length ? buf.subarray(start) : null;
    if (carry !== null && carry.length > maxLineBytes) {
      skipping = true;
      carry = null;
    }
  }
  if (carry !== null || skipping) handle(carry ?? Buffer.alloc(0), 0, carry?.length ?? 0, skipping);
  if (!nonBlank) throw new FileError("EMPTY_FILE", "The file is empty");
}
