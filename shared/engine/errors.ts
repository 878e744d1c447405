/**
 * Typed errors of the engine. A FileError means the uploaded file as a whole cannot be read (it fails the run
 * with its code); a StateError means stored aggregate state bytes are not a valid state; a ComputeError means
 * the settings of a computation are invalid. Problems with single rows are never thrown: they are reported as
 * RowErrors and the file goes on.
 */

export type FileErrorCode =
  | "EMPTY_FILE"
  | "NOT_GZIP"
  | "BAD_GZIP"
  | "BINARY_FILE"
  | "NO_HEADER"
  | "MISSING_COLUMNS"
  | "DUPLICATE_COLUMNS"
  | "NOT_NDJSON"
  /** A pinpoint-endpoints upload whose first line is no Pinpoint endpoint. */
  | "NOT_PINPOINT_EXPORT"
  /** The sharded reader cannot split the file exactly (compressed, NDJSON, a quoted line break, ...). */
  | "UNSHARDABLE_FILE";

export class FileError extends Error {
  override readonly name = "FileError";
  constructor(
    readonly code: FileErrorCode,
    message: string,
    /** Columns at fault, for MISSING_COLUMNS and DUPLICATE_COLUMNS. */
    readonly columns?: readonly string[],
  ) {
    super(message);
  }
}

export type StateErrorCode =
  | "BAD_STATE"
  | "UNSUPPORTED_STATE_VERSION"
  /** The state's order ids were let go (AggregateState.sealOrders): no order can be added or looked up. */
  | "ORDERS_SEALED"
  /** The state's orders were let go (AggregateState.releaseOrders): no order can be read. */
  | "ORDERS_RELEASED";

export class StateError extends Error {
  override readonly name = "StateError";
  constructor(
    readonly code: StateErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export type ComputeErrorCode =
  | "BAD_AS_OF"
  | "BAD_LIFECYCLE_WINDOW"
  | "BAD_RFM_THRESHOLDS"
  | "BAD_CLUSTER_SETTINGS"
  | "BAD_VALUE_SETTINGS"
  | "BAD_RULE"
  | "BAD_LIST"
  | "BAD_ATTRIBUTE_TYPE"
  | "BAD_ATTRIBUTE_FAMILY"
  | "BAD_LOOKALIKE"
  | "BAD_NEXT_BEST_CATEGORY_SETTINGS";

export class ComputeError extends Error {
  override readonly name = "ComputeError";
  constructor(
    readonly code: ComputeErrorCode,
    message: string,
    /** The setting at fault, e.g. "lifecycle.activeDays", "clusters.kMin", "rules[2].rule.and[0].op". */
    readonly field?: string,
    /** Further problems of the same setting, e.g. every issue of an invalid rule. */
    readonly details: readonly { path: string; code: string; message: string }[] = [],
  ) {
    super(message);
  }
}
