/**
 * Messages between the parallel reader (index.ts) and its worker threads (worker.ts), and how errors cross
 * the thread boundary (structured clone keeps no class: a FileError is sent as its code and message and made
 * again on the other side).
 */
import { FileError, type FileErrorCode } from "../errors";
import type { ShardPlan } from "../shard";
import type { StateParts } from "../state";
import type { IngestReport, RowError } from "../types";
import type { SortedKeys } from "./keys";

/** Read range `index` of the plan into a new state. */
export interface RangeTask {
  readonly kind: "range";
  readonly index: number;
  readonly plan: ShardPlan;
  /** A local file the worker opens itself, or bytes the reader posts ("chunk" messages from the range's read start). */
  readonly source: { readonly kind: "file"; readonly path: string } | { readonly kind: "stream" };
  /** The dataset's currency when the state read into already has one: rows in another are rejected. */
  readonly currency?: string;
  readonly latestOrderDay?: number;
  readonly expectedOrders: number;
  /** Test hook: the worker fails this task as if it had crashed. */
  readonly fail?: boolean;
}

export type ToWorker =
  | RangeTask
  | { readonly kind: "chunk"; readonly index: number; readonly bytes: Uint8Array }
  | { readonly kind: "end"; readonly index: number };

export interface RangeResult {
  readonly index: number;
  readonly parts: StateParts;
  readonly report: IngestReport;
  /** Rejected rows, numbered by the line of the range's text (its header line is line 1). */
  readonly errors: RowError[];
  /** Lines of the range (blank ones included; not the header line given to it). */
  readonly lines: number;
  /** Line breaks inside quoted fields: a record spanning lines, which ranges cut at line ends cannot place. */
  readonly quotedLineBreaks: number;
  /** Valid currency codes that the range's rows name. */
  readonly currencies: string[];
  /** Sum of |amounts| of the range's accepted lines, in cents (the ingest limits' count). */
  readonly absoluteCents: number;
  /** The order whose addition set the state's currency (-1: none, or the currency was given). */
  readonly currencyOrder: number;
  /** The range's orders by order_id hash and its customers by id hash, sorted (the merge's input). */
  readonly orderKeys: SortedKeys;
  readonly customerKeys: SortedKeys;
  /** Time of the read, and of sorting the keys within it. */
  readonly ms: number;
  readonly keysMs: number;
}

export interface SentError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly columns?: readonly string[];
}

export type FromWorker =
  | { readonly kind: "ack" }
  | { readonly kind: "enough" }
  | { readonly kind: "done"; readonly result: RangeResult }
  | { readonly kind: "error"; readonly error: SentError };

export function sendError(error: unknown): SentError {
  if (!(error instanceof Error)) return { name: "Error", message: String(error) };
  const { code, columns } = error as Error & { code?: unknown; columns?: unknown };
  return {
    name: error.name,
    message: error.message,
    ...(typeof code === "string" ? { code } : {}),
    ...(Array.isArray(columns) ? { columns: columns.map(String) } : {}),
  };
}

export function receivedError(sent: SentError): Error {
  if (sent.name === "FileError" && sent.code !== undefined) {
    return new FileError(sent.code as FileErrorCode, sent.message, sent.columns);
  }
  return Object.assign(new Error(sent.message), {
    name: sent.name,
    ...(sent.code === undefined ? {} : { code: sent.code }),
  });
}
