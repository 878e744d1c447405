/**
 * Sharded computation of a transactions upload: map, shuffle by customer, reduce, merge, with results equal
 * to computeSegments on the whole upload read into a new state (or into a state of customers files only).
 *
 *   plan       planShards(head, size, { reader, rangeBytes?, buckets? }) -> ShardPlan (JSON)
 *              head = the upload's first PLAN_HEAD_BYTES bytes. Checks the header as ingestion does.
 *   partition  partitionRange(bytes from rangeReadStart(plan, r) on, plan, r)
 *                -> { lines, currencies, parts[b] }            one task per byte range r
 *   context    aggregateContext(plan, [{ index, lines, currencies } of every range], settings)
 *                -> AggregateContext (JSON)
 *   aggregate  aggregateBucket([part(r = 0, b), part(1, b), ...], context, b)
 *                -> { partial, orders[s] }                     one task per bucket b
 *   check      checkOrderSlice([orders[s] of every bucket]) -> BucketForeignOrders[] (JSON)
 *                                                              one task per slice s (ORDER_SLICES), optional
 *   merge      mergePartials(partials, settings, { conflicts | orders, rebuild, customers? })
 *                -> { result, report, errors, currency, ... }
 *
 * Why the results are equal: a bucket reads its customers' rows with ingestTransactions in file order, so
 * order lines, row errors and each customer's totals are those of a whole read; rows keep their numbers
 * through the per-range line counts; the merge restores the order of first appearance from each customer's
 * first row, so k-means seeding, ties and positions are the same. The one thing a bucket cannot see, an
 * order_id whose lines name customers of different buckets, is found by the check (every bucket's orders cut
 * into slices by hash, each slice's equal hashes found in small tables): the bucket whose line came first keeps the order and the others
 * are rebuilt (rebuild: aggregateBucket again with options.foreignOrders), rejecting those lines as a whole
 * read does. What the sharded reader cannot reproduce it refuses (FileError UNSHARDABLE_FILE) instead of
 * computing it differently: gzip or NDJSON uploads, a quoted field holding a line break (the only way a
 * record spans lines; the last line of the file excepted), rows naming more than one currency, and more
 * than 65,535 distinct channels or categories in all.
 *
 * Only transactions uploads are sharded; customers files stay on the single path, and their state is passed
 * to the merge (options.customers) for attribute rules. Appending to a state that already holds orders is
 * not covered. The functions take and return bytes and plain objects: no file system, no AWS.
 */
export {
  type AggregateContext,
  aggregateBucket,
  aggregateContext,
  type BucketAggregate,
  type ForeignOrders,
  ORDER_SLICES,
  type PartSource,
} from "./aggregate";
export {
  type BucketForeignOrders,
  checkOrderSlice,
  combineForeignOrders,
  type OrderListSource,
} from "./conflicts";
export { type MergedSegmentation, type MergeOptions, mergePartials, type PartialSource } from "./merge";
export { bucketOf, type PartitionResult, partitionRange } from "./partition";
export {
  DEFAULT_BUCKETS,
  DEFAULT_RANGE_BYTES,
  MAX_BUCKETS,
  PLAN_HEAD_BYTES,
  planShards,
  rangeReadStart,
  type ShardByteRange,
  type ShardOptions,
  type ShardPlan,
} from "./plan";
