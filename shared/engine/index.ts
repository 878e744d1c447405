/**
 * The segmentation engine's public API: reading uploads into an aggregate state, and computing scores and
 * segments from it. Pure TypeScript; no AWS SDK.
 */
export {
  ComputedSegmentation,
  type CustomerColumns,
  type CustomerOrders,
  computeSegments,
  customerColumns,
  exclusiveSummaries,
  type FamilyResult,
  membershipSummary,
} from "./compute";
export { dayNumber, isoDay, parseDay } from "./days";
export {
  ComputeError,
  type ComputeErrorCode,
  FileError,
  type FileErrorCode,
  StateError,
  type StateErrorCode,
} from "./errors";
export {
  type IngestOptions,
  ingestCustomers,
  ingestTransactions,
  MAX_ATTRIBUTE_CHARS,
  MAX_ID_CHARS,
} from "./ingest";
export { MAX_LINE_BYTES } from "./reader";
export {
  fmScore,
  quintileScores,
  RFM_SEGMENTS,
  reverseQuintileScores,
  rfmSegmentCode,
  SEGMENT_GRID,
  type SegmentDefinition,
} from "./rfm";
export { AggregateState, AttributeColumn } from "./state";
export * from "./types";
