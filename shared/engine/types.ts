/**
 * Public types of the segmentation engine. The engine is pure TypeScript: it reads bytes, keeps a compact
 * per-customer state, and computes segments. It never imports an AWS SDK.
 */

export type FileFormat = "csv" | "ndjson";
export type Compression = "none" | "gzip" | "auto";
export type FileKind = "transactions" | "customers";
export type UploadMode = "append" | "replace";

/** Canonical transaction columns; other headers can be mapped onto them. */
export const TRANSACTION_COLUMNS = [
  "customer_id",
  "order_id",
  "order_date",
  "amount",
  "channel",
  "category",
  "quantity",
  "currency",
] as const;
export type TransactionColumn = (typeof TRANSACTION_COLUMNS)[number];

export interface ReaderOptions {
  format: FileFormat;
  /** "auto" (default) detects gzip from its magic bytes. */
  compression?: Compression;
  /** Canonical column name -> header name in the file, for files that use other headers. */
  columns?: Partial<Record<string, string>>;
}

/** One rejected row. `row` is the 1-based data row number (the CSV header is not counted). */
export interface RowError {
  row: number;
  column?: string;
  code: string;
  reason: string;
}

export interface IngestReport {
  rowsRead: number;
  rowsAccepted: number;
  rowsRejected: number;
  /** Orders not seen before this file. */
  ordersAdded: number;
  /** Orders of the file whose order_id the state already held before the file; skipped whole. */
  ordersDuplicate: number;
  /** Rows that were further lines of an order begun earlier in the same file (their amounts were added). */
  orderLinesMerged: number;
}

/** Settings that shape a computation. */
export interface ComputeSettings {
  /** Evaluation date, ISO yyyy-mm-dd (UTC). Recency is measured to this day. */
  asOf: string;
}

export type SegmentFamily = "rfm" | "cluster" | "lifecycle" | "rule";

export interface SegmentSummary {
  /** Stable id, `<family>:<slug>`, e.g. "rfm:champions". */
  id: string;
  family: SegmentFamily;
  name: string;
  description: string;
  size: number;
  /** size / customers with at least one order. */
  share: number;
  /** Net revenue of the members. */
  revenue: number;
  revenueShare: number;
  /** Net revenue / orders of the members (0 when they have no orders). */
  averageOrderValue: number;
}

/** Everything computed for one customer. */
export interface CustomerScores {
  customerId: string;
  firstPurchase: string;
  lastPurchase: string;
  recencyDays: number;
  frequency: number;
  monetary: number;
  r: number;
  f: number;
  m: number;
  /** The three scores as a string, e.g. "545". */
  rfm: string;
  /** Segment ids the customer belongs to, e.g. ["rfm:champions"]. */
  segments: string[];
}

export interface SegmentationResult {
  asOf: string;
  customerCount: number;
  segments: SegmentSummary[];
  /** Scores of the customer at position i (0 <= i < customerCount), in state order. */
  customer(i: number): CustomerScores;
}
