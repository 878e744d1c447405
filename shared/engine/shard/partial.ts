/**
 * The partial a bucket's aggregation hands to the merge: its scored customers (ids, first rows, totals), their
 * net spend per channel and category, its rejected rows and counts.
 *
 * Layout (little-endian): magic "SEGPART1", u32 meta length, meta (UTF-8 JSON), padding to 8, then the
 * columns in the order of COLUMNS, each padded to 8 bytes. Customers are in the bucket's order of first
 * appearance; spend entries are grouped by customer.
 */
import { endianness } from "node:os";
import type { IngestReport, RowError } from "../types";

const MAGIC = "SEGPART1";

export interface PartialMeta {
  readonly version: 1;
  readonly bucket: number;
  /** Scored customers. */
  readonly customers: number;
  readonly report: IngestReport;
  /** Rejected rows, with the upload's row numbers, in row order. */
  readonly errors: RowError[];
  readonly currency: string | null;
  readonly channels: string[];
  readonly categories: string[];
  readonly channelEntries: number;
  readonly categoryEntries: number;
  readonly idBytes: number;
  /** Whether spend per channel and category is included. */
  readonly spend: boolean;
  /** The bucket's sum of |amounts| as the ingest limits count it, in cents (see ingest.ts). */
  readonly absoluteCents?: number;
  /** The bucket's orders dated after asOf (CustomerTotals.ordersAfterAsOf). */
  readonly ordersAfterAsOf?: number;
  /** Entries of `days` (every customer's distinct purchase days); absent in partials without them. */
  readonly dayEntries?: number;
}

export interface PartialColumns {
  /** Row of each customer's first order (its place in the order of first appearance). */
  firstRow: Float64Array;
  monetaryCents: Float64Array;
  grossCents: Float64Array;
  firstDayCents: Float64Array;
  frequency: Uint32Array;
  returns: Uint32Array;
  firstPurchaseDay: Int32Array;
  lastPurchaseDay: Int32Array;
  previousPurchaseDay: Int32Array;
  purchaseDays: Uint32Array;
  /** Customer i's id is idBytes[idEnds[i - 1] (0 for i = 0), idEnds[i]). */
  idEnds: Uint32Array;
  idBytes: Uint8Array;
  channelOffsets: Uint32Array;
  channelCodes: Uint32Array;
  channelNet: Float64Array;
  categoryOffsets: Uint32Array;
  categoryCodes: Uint32Array;
  categoryNet: Float64Array;
  /**
   * Customer i's distinct purchase days (orders that are not returns, on or before asOf), ascending:
   * days[dayOffsets[i]] .. days[dayOffsets[i + 1] - 1]; for the value stage's holdout. Empty (or absent)
   * when meta.dayEntries is absent.
   */
  dayOffsets?: Uint32Array;
  days?: Int32Array;
}

type Kind = "f64" | "u32" | "i32" | "u8";
const COLUMNS: [keyof PartialColumns, Kind, (m: PartialMeta) => number][] = [
  ["firstRow", "f64", (m) => m.customers],
  ["monetaryCents", "f64", (m) => m.customers],
  ["grossCents", "f64", (m) => m.customers],
  ["firstDayCents", "f64", (m) => m.customers],
  ["channelNet", "f64", (m) => m.channelEntries],
  ["categoryNet", "f64", (m) => m.categoryEntries],
  ["frequency", "u32", (m) => m.customers],
  ["returns", "u32", (m) => m.customers],
  ["firstPurchaseDay", "i32", (m) => m.customers],
  ["lastPurchaseDay", "i32", (m) => m.customers],
  ["previousPurchaseDay", "i32", (m) => m.customers],
  ["purchaseDays", "u32", (m) => m.customers],
  ["idEnds", "u32", (m) => m.customers],
  ["channelOffsets", "u32", (m) => m.customers + 1],
  ["channelCodes", "u32", (m) => m.channelEntries],
  ["categoryOffsets", "u32", (m) => m.customers + 1],
  ["categoryCodes", "u32", (m) => m.categoryEntries],
  ["dayOffsets", "u32", (m) => (m.dayEntries === undefined ? 0 : m.customers + 1)],
  ["days", "i32", (m) => m.dayEntries ?? 0],
  ["idBytes", "u8", (m) => m.idBytes],
];
const EMPTY = new Uint8Array(0);
const SIZE: Record<Kind, number> = { f64: 8, u32: 4, i32: 4, u8: 1 };
const pad8 = (n: number) => (n + 7) & ~7;

export function encodePartial(meta: PartialMeta, columns: PartialColumns): Uint8Array {
  if (endianness() !== "LE") throw new Error("The partial format is little-endian; this machine is not");
  const json = Buffer.from(JSON.stringify(meta), "utf8");
  let length = pad8(12 + json.length);
  for (const [name, kind, count] of COLUMNS) {
    const array = columns[name] ?? EMPTY;
    if (array.length !== count(meta)) throw new Error(`Partial column ${name} has the wrong length`);
    length += pad8(count(meta) * SIZE[kind]);
  }
  const out = new Uint8Array(length);
  out.set(Buffer.from(MAGIC, "latin1"), 0);
  new DataView(out.buffer).setUint32(8, json.length, true);
  out.set(json, 12);
  let at = pad8(12 + json.length);
  for (const [name] of COLUMNS) {
    const array = columns[name] ?? EMPTY;
    out.set(new Uint8Array(array.buffer, array.byteOffset, array.byteLength), at);
    at += pad8(array.byteLength);
  }
  return out;
}

export function decodePartial(bytes: Uint8Array): { meta: PartialMeta; columns: PartialColumns } {
  if (bytes.length < 12 || Buffer.from(bytes.buffer, bytes.byteOffset, 8).toString("latin1") !== MAGIC) {
    throw new Error("Not a bucket partial (bad magic)");
  }
  // Typed views need 8-byte alignment; copy when the bytes are not aligned.
  if (bytes.byteOffset % 8 !== 0) bytes = bytes.slice();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const jsonLength = view.getUint32(8, true);
  const meta = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + 12, jsonLength).toString("utf8"));
  if (meta.version !== 1) throw new Error(`Unsupported partial version ${meta.version}`);
  let at = pad8(12 + jsonLength);
  const columns: Partial<Record<keyof PartialColumns, unknown>> = {};
  for (const [name, kind, count] of COLUMNS) {
    const n = count(meta);
    if (at + n * SIZE[kind] > bytes.length) throw new Error("The partial is truncated");
    const offset = bytes.byteOffset + at;
    columns[name] =
      kind === "f64"
        ? new Float64Array(bytes.buffer, offset, n)
        : kind === "u32"
          ? new Uint32Array(bytes.buffer, offset, n)
          : kind === "i32"
            ? new Int32Array(bytes.buffer, offset, n)
            : new Uint8Array(bytes.buffer, offset, n);
    at += pad8(n * SIZE[kind]);
  }
  if (at !== bytes.length) throw new Error("The partial has trailing bytes");
  return { meta, columns: columns as PartialColumns };
}
