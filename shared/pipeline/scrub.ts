/**
 * Erased customers in files and states: the HMAC an erasure record keeps instead of a customer id, finding
 * erased customers among those a run has just read, and rewriting an uploaded file without some customers'
 * rows.
 *
 * A rewrite identifies a row's customer exactly as ingestion does (shared/engine/ingest.ts): the
 * `customer_id` column, or the header the upload maps it to, matched exactly and then ignoring letter case;
 * the value with doubled quotes undone and spaces and tabs trimmed; in NDJSON the key found the same way,
 * numbers and booleans as their text. Everything else of a kept row is written back byte for byte: a CSV
 * field keeps its quoting and escapes, an NDJSON line stays the line it was. Records end in LF; a byte-order
 * mark is dropped; a gzip file stays gzip. Rows the reader cannot read (ragged rows, bad quotes, lines too
 * long, lines that are no JSON object) never reached any result and cannot be told apart by customer, so a
 * rewrite drops them too and counts them. A Pinpoint endpoint export names its customer in `User.UserId`
 * (engine/pinpoint.ts): its lines are told apart by that, trimmed, and a line without one is kept.
 */

import { isUtf8 } from "node:buffer";
import { createHmac } from "node:crypto";
import { pipeline, Readable } from "node:stream";
import { createGzip } from "node:zlib";
import { FileError } from "../engine/errors";
import {
  CsvTokenizer,
  FIELD_QUOTED,
  type FieldRecord,
  MAX_LINE_BYTES,
  textBytes,
  unescapeField,
} from "../engine/reader";
import type { AggregateState } from "../engine/state";
import type { Compression, FileFormat } from "../engine/types";
import type { UploadRecord } from "../model";
import type { BlobStore } from "./ports";

/** HMAC-SHA256 (hex) of a customer id under a dataset's erasure key (base64). */
export function customerHash(salt: string, customerId: string): string {
  return createHmac("sha256", Buffer.from(salt, "base64")).update(customerId, "utf8").digest("hex");
}

/**
 * Ids of the customers from index `from` on (those a run has just added to the state) whose hash is one of
 * `hashes`. Only new customers need the check: the others passed it when they were added, or were removed
 * by their erasure.
 */
export function erasedAmong(
  state: AggregateState,
  from: number,
  salt: string,
  hashes: ReadonlySet<string>,
): string[] {
  if (hashes.size === 0) return [];
  const key = Buffer.from(salt, "base64");
  const found: string[] = [];
  for (let i = from; i < state.customerCount; i++) {
    const id = state.customerId(i);
    if (hashes.has(createHmac("sha256", key).update(id, "utf8").digest("hex"))) found.push(id);
  }
  return found;
}

export interface ScrubCounts {
  /** Rows of the given customers left out. */
  rowsRemoved: number;
  /** Unreadable rows left out. */
  unreadableRows: number;
}

export interface ScrubOptions {
  format: FileFormat;
  /** Only `pinpoint-endpoints` matters: its customer is the line's User.UserId. */
  kind?: UploadRecord["kind"];
  compression?: Compression;
  columns?: Partial<Record<string, string>>;
}

const LF = Buffer.from("\n");
const COMMA = Buffer.from(",");
const QUOTE = Buffer.from('"');

/** The header a file names `canonical` by: the upload's mapping, or the canonical name itself. */
function headerFor(columns: ScrubOptions["columns"], canonical: string): string {
  const mapped = columns?.[canonical];
  return (typeof mapped === "string" ? mapped : canonical).trim();
}

/** Index of a header name: exact match first, then ignoring letter case; -1 when absent. */
function findHeader(names: readonly string[], wanted: string): number {
  const exact = names.indexOf(wanted);
  if (exact >= 0) return exact;
  const lower = wanted.toLowerCase();
  return names.findIndex((name) => name.toLowerCase() === lower);
}

const trimmed = (text: string) => text.replace(/^[ \t]+|[ \t]+$/g, "");

/** A CSV file without the rows of `ids`; yields the output as it goes. */
async function* scrubCsv(
  text: AsyncIterable<Buffer>,
  header: string,
  ids: ReadonlySet<string>,
  counts: ScrubCounts,
  emit: boolean,
): AsyncGenerator<Buffer> {
  let out: Buffer[] = [];
  let at = -1;
  const line = (record: FieldRecord) => {
    for (let k = 0; k < record.count; k++) {
      if (k > 0) out.push(COMMA);
      const raw = record.buf.subarray(record.starts[k] as number, record.ends[k] as number);
      // A quoted field's range is inside its quotes, escapes still doubled: quoting it again restores it.
      if ((record.flags[k] as number) & FIELD_QUOTED) out.push(QUOTE, Buffer.from(raw), QUOTE);
      else out.push(Buffer.from(raw));
    }
    out.push(LF);
  };
  const tokenizer = new CsvTokenizer({
    header: (names) => {
      at = findHeader(names, header);
      if (at < 0) throw new FileError("MISSING_COLUMNS", `The file lacks the column ${header}`, [header]);
      if (names.filter((n) => n.toLowerCase() === names[at]?.toLowerCase()).length > 1) {
        throw new FileError("DUPLICATE_COLUMNS", `The header names ${header} more than once`, [header]);
      }
      if (emit) {
        out.push(
          Buffer.from(
            names.map((n) => (/[",\r\n]|^[ \t]|[ \t]$/.test(n) ? `"${n.replace(/"/g, '""')}"` : n)).join(","),
          ),
          LF,
        );
      }
    },
    record: (record) => {
      const value = trimmed(
        unescapeField(
          record.buf,
          record.starts[at] as number,
          record.ends[at] as number,
          record.flags[at] as number,
        ),
      );
      if (ids.has(value)) {
        counts.rowsRemoved++;
        return;
      }
      if (emit) line(record);
    },
    rowError: () => {
      counts.unreadableRows++;
    },
  });
  for await (const chunk of text) {
    tokenizer.push(chunk);
    if (out.length > 0) {
      yield Buffer.concat(out);
      out = [];
    }
  }
  tokenizer.end();
  if (out.length > 0) yield Buffer.concat(out);
}

function ownValue(object: Record<string, unknown>, key: string): unknown {
  if (Object.hasOwn(object, key)) return object[key];
  const lower = key.toLowerCase();
  for (const k of Object.keys(object)) if (k.trim().toLowerCase() === lower) return object[k];
  return undefined;
}

/** The customer id of an NDJSON object as ingestion reads it; undefined when it has none it could use. */
function ndjsonId(object: Record<string, unknown>, header: string): string | undefined {
  const value = ownValue(object, header);
  if (typeof value === "string") return trimmed(value);
  if (typeof value === "number" || typeof value === "boolean") return trimmed(String(value));
  return undefined;
}

/** The customer of a Pinpoint endpoint line, as engine/pinpoint.ts reads it. */
function pinpointUserId(object: Record<string, unknown>): string | undefined {
  const user = Object.hasOwn(object, "User") ? object.User : undefined;
  if (typeof user !== "object" || user === null || Array.isArray(user)) return undefined;
  const id = Object.hasOwn(user, "UserId") ? (user as Record<string, unknown>).UserId : undefined;
  return typeof id === "string" ? id.trim() : undefined;
}

/** An NDJSON file without the lines of `ids`; yields the output as it goes. */
async function* scrubNdjson(
  text: AsyncIterable<Buffer>,
  idOf: (object: Record<string, unknown>) => string | undefined,
  ids: ReadonlySet<string>,
  counts: ScrubCounts,
  emit: boolean,
): AsyncGenerator<Buffer> {
  let carry: Buffer | null = null;
  let skipping = false;
  let seenObject = false;
  let out: Buffer[] = [];
  const handle = (bytes: Buffer, tooLong: boolean) => {
    const end = bytes.length > 0 && bytes[bytes.length - 1] === 13 ? bytes.length - 1 : bytes.length;
    const body = bytes.subarray(0, end);
    if (!tooLong && /^[ \t\r]*$/.test(body.toString("latin1"))) return;
    let object: unknown;
    if (!tooLong && body.length <= MAX_LINE_BYTES && isUtf8(body)) {
      try {
        object = JSON.parse(body.toString("utf8"));
      } catch {
        object = undefined;
      }
    }
    if (typeof object !== "object" || object === null || Array.isArray(object)) {
      // Ingestion refuses a file whose first line is no object; any later such line is one bad row.
      if (!seenObject) throw new FileError("NOT_NDJSON", "The first line is not a JSON object");
      counts.unreadableRows++;
      return;
    }
    seenObject = true;
    const id = idOf(object as Record<string, unknown>);
    if (id !== undefined && ids.has(id)) {
      counts.rowsRemoved++;
      return;
    }
    if (emit) out.push(Buffer.from(body), LF);
  };
  for await (const chunk of text) {
    const buf: Buffer = carry === null ? chunk : Buffer.concat([carry, chunk]);
    let start = 0;
    let nl = buf.indexOf(10, carry === null ? 0 : carry.length);
    while (nl >= 0) {
      handle(buf.subarray(start, nl), skipping);
      skipping = false;
      start = nl + 1;
      nl = buf.indexOf(10, start);
    }
    carry = start < buf.length ? buf.subarray(start) : null;
    if (carry !== null && carry.length > MAX_LINE_BYTES) {
      skipping = true;
      carry = null;
    }
    if (out.length > 0) {
      yield Buffer.concat(out);
      out = [];
    }
  }
  if (carry !== null || skipping) handle(carry ?? Buffer.alloc(0), skipping);
  if (!seenObject) throw new FileError("EMPTY_FILE", "The file holds no JSON object");
  if (out.length > 0) yield Buffer.concat(out);
}

/**
 * The file without the rows of `ids`, as uncompressed text (see the module header). With `emit` false it
 * only counts. Throws a FileError when the file cannot be read as a whole or has no customer id column.
 */
export function scrubText(
  source: AsyncIterable<Uint8Array>,
  options: ScrubOptions,
  ids: ReadonlySet<string>,
  counts: ScrubCounts,
  emit = true,
): AsyncGenerator<Buffer> {
  const text = textBytes(source, options.compression ?? "auto") as AsyncIterable<Buffer>;
  const header = headerFor(options.columns, "customer_id");
  return options.format === "csv"
    ? scrubCsv(text, header, ids, counts, emit)
    : scrubNdjson(
        text,
        options.kind === "pinpoint-endpoints" ? pinpointUserId : (object) => ndjsonId(object, header),
        ids,
        counts,
        emit,
      );
}

/** Passes a source through, keeping its first two bytes. */
async function* withHead(source: AsyncIterable<Uint8Array>, head: number[]): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) {
    for (let i = 0; i < chunk.length && head.length < 2; i++) head.push(chunk[i] as number);
    yield chunk;
  }
}

export type UploadScrub =
  /** The object does not exist (never uploaded, or deleted). */
  | { outcome: "missing" }
  /** Nothing of `ids` and no unreadable row: left as it is. */
  | { outcome: "unchanged" }
  | { outcome: "rewritten"; eTag: string; counts: ScrubCounts }
  /** The file cannot be read as a whole (its run failed the same way), so it was deleted. */
  | { outcome: "deleted"; code: string }
  /** The file cannot be read as a whole, and the caller asked to keep such files. */
  | { outcome: "unreadable"; code: string };

/**
 * Rewrites an uploaded object without the rows of `ids` (and its unreadable rows): read once to count, and,
 * when any row must go, again to write the new object in its place (streamed, so the file's size does not
 * matter). A file that cannot be read as a whole is deleted, unless `deleteUnreadable` is false. The caller
 * must record the returned ETag on the upload before another run can take the dataset, so that the
 * rewrite's own S3 event is recognised and skipped.
 */
export async function scrubUpload(
  blobs: BlobStore,
  upload: Pick<UploadRecord, "key" | "format" | "compression" | "columns"> &
    Partial<Pick<UploadRecord, "kind">>,
  ids: ReadonlySet<string>,
  behaviour: { deleteUnreadable: boolean } = { deleteUnreadable: true },
): Promise<UploadScrub> {
  const options: ScrubOptions = {
    format: upload.format,
    ...(upload.kind ? { kind: upload.kind } : {}),
    compression: upload.compression,
    ...(upload.columns ? { columns: upload.columns } : {}),
  };
  const counts: ScrubCounts = { rowsRemoved: 0, unreadableRows: 0 };
  const first = await blobs.stream(upload.key);
  if (!first) return { outcome: "missing" };
  const head: number[] = [];
  try {
    for await (const _ of scrubText(withHead(first, head), options, ids, counts, false)) {
      // Counting only.
    }
  } catch (error) {
    if (!(error instanceof FileError)) throw error;
    if (!behaviour.deleteUnreadable) return { outcome: "unreadable", code: error.code };
    await blobs.delete([upload.key]);
    return { outcome: "deleted", code: error.code };
  }
  if (counts.rowsRemoved === 0 && counts.unreadableRows === 0) return { outcome: "unchanged" };

  const second = await blobs.stream(upload.key);
  if (!second) return { outcome: "missing" };
  // The reader accepted the file, so "gzip" means gzip bytes and "auto" found them by their magic.
  const gzip =
    upload.compression === "gzip" || (upload.compression === "auto" && head[0] === 0x1f && head[1] === 0x8b);
  const written: ScrubCounts = { rowsRemoved: 0, unreadableRows: 0 };
  const text = Readable.from(scrubText(second, options, ids, written), { objectMode: false });
  const body = gzip ? pipeline(text, createGzip(), () => undefined) : text;
  const contentType = gzip
    ? "application/gzip"
    : upload.format === "csv"
      ? "text/csv; charset=utf-8"
      : "application/x-ndjson";
  const eTag = await blobs.putStream(upload.key, body, contentType);
  return { outcome: "rewritten", eTag, counts: written };
}
