/**
 * The segmentation engine's public API: reading uploads into an aggregate state, and computing scores and
 * segments from it (RFM, lifecycle, clusters, predicted value, rule segments). Pure TypeScript; no AWS SDK.
 */
export { CLUSTER_DEFAULTS, clusterDefinitions } from "./clusters";
export {
  type ComputedParts,
  ComputedSegmentation,
  type CustomerColumns,
  type CustomerOrders,
  type CustomerTotals,
  computeSegments,
  customerColumns,
  customerTotals,
  exclusiveSummaries,
  type FamilyResult,
  membershipSummary,
  type ResolvedComputeSettings,
  resolveComputeSettings,
  type SegmentationSource,
  type SpendByValue,
  segmentsFromTotals,
} from "./compute";
export { dayNumber, isoDay, parseDay } from "./days";
export { type Histogram, rfmGrid, valueHistogram } from "./distributions";
export {
  ComputeError,
  type ComputeErrorCode,
  FileError,
  type FileErrorCode,
  StateError,
  type StateErrorCode,
} from "./errors";
export { evaluationDate, staleDataIssue } from "./evaluation-date";
export {
  type IngestOptions,
  ingestCustomers,
  ingestTransactions,
  MAX_ATTRIBUTE_CHARS,
  MAX_ID_CHARS,
} from "./ingest";
export { previousFrom } from "./kmeans";
export {
  defaultWorkerUrl,
  ingestTransactionsParallel,
  MAX_READ_THREADS,
  type OneThreadReason,
  PARALLEL_MIN_BYTES,
  type ParallelOptions,
  type ParallelRead,
  type RangeSource,
} from "./parallel";
export {
  LIFECYCLE_ACTIVE,
  LIFECYCLE_COOLING,
  LIFECYCLE_DEFAULTS,
  LIFECYCLE_LAPSED,
  LIFECYCLE_NEW,
  LIFECYCLE_REACTIVATED,
  LIFECYCLE_STAGES,
  type LifecycleWindows,
  lifecycleDefinitions,
  lifecycleStage,
  lifecycleStages,
  MAX_LIFECYCLE_DAYS,
  NO_DAY,
  resolveLifecycleWindows,
} from "./lifecycle";
export {
  checkListSettings,
  LIST_SEGMENT_ID,
  type ListMembership,
  type ListSegmentSettings,
  listMembership,
  MAX_LIST_SEGMENTS,
  orderRuleSegments,
  ruleEvaluationOrder,
  type SegmentReference,
  segmentReferences,
  UNKNOWN_SAMPLE,
} from "./memberships";
export {
  amountOfCents,
  centsOfAmount,
  centsText,
  meanRounded,
  roundHalfAway,
  roundToCent,
  sumAmounts,
} from "./money";
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
export { MAX_RULE_SEGMENTS, RULE_SEGMENT_ID } from "./rule-segments";
export * from "./shard";
export { AggregateState, AttributeColumn } from "./state";
export { ResultTraits } from "./traits";
export * from "./types";
export {
  clvOptionsFor,
  MAX_HORIZON_DAYS,
  resolveValueSettings,
  VALUE_DEFAULTS,
  VALUE_MIN_CUSTOMERS,
  type ValueInputs,
  valueInputs,
} from "./value";
