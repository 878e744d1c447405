/**
 * What the steps of a sharded run receive and return: the state machine (infra/constructs/sharding.ts)
 * builds each step's payload from the execution's state, the shard function (functions/shard) parses it
 * with these schemas. The execution's state is
 *
 *   { upload }                          the execution input: the S3 upload event, or a refresh request
 *   { upload, plan: PlanResult }        after Plan; plan.run is passed to every later step
 *   { upload, plan, merge: MergeResult } after Merge; its slices are the Write map's items
 *   { ..., error: { Error, Cause } }    when a step failed for good, for RecordFailure
 */
import { z } from "zod";
import { runIdFor } from "./run-id";

export const SHARD_ACTIONS = ["plan", "partition", "aggregate", "merge", "write", "commit", "fail"] as const;
export type ShardAction = (typeof SHARD_ACTIONS)[number];

/** The execution input: an upload too large for one function, or a refresh of a sharded dataset. */
export const shardedInputSchema = z.union([
  z.object({
    kind: z.literal("upload"),
    tenantId: z.string().min(1),
    datasetId: z.string().min(1),
    uploadId: z.string().min(1),
    key: z.string().min(1),
    size: z.number().int().nonnegative(),
    sequencer: z.string(),
    eventTime: z.string(),
    eTag: z.string().optional(),
  }),
  z.object({
    kind: z.literal("refresh"),
    tenantId: z.string().min(1),
    datasetId: z.string().min(1),
    /** Id of the refresh run (from the schedule or request event). */
    runId: z.string().min(1),
    time: z.string(),
    /** What asked for it: the schedule, a settings or rule change, or an erasure's recompute. */
    reason: z.enum(["refresh", "settings", "definitions"]),
  }),
]);
export type ShardedInput = z.infer<typeof shardedInputSchema>;

export const byteRangeSchema = z.object({
  index: z.number().int().nonnegative(),
  start: z.number().int().nonnegative(),
  end: z.number().int().nonnegative(),
});
export type ByteRange = z.infer<typeof byteRangeSchema>;

/** Everything a later step needs to know of its run; small, as it travels in every step's payload. */
export const runRefSchema = z.object({
  tenantId: z.string(),
  datasetId: z.string(),
  runId: z.string(),
  /** Lease owner of the run; commit and fail release the dataset with it. */
  owner: z.string(),
  /** Version the run publishes. */
  version: z.number().int().positive(),
  /** Committed version whose per-bucket state an append or refresh builds on (0: none). */
  baseVersion: z.number().int().nonnegative(),
  /** replace: the upload is the whole state; append: added to the base; refresh: the base as it is. */
  mode: z.enum(["replace", "append", "refresh"]),
  buckets: z.number().int().positive(),
  /** The upload's key and byte ranges; absent for a refresh. */
  key: z.string().optional(),
  ranges: z.number().int().nonnegative(),
  uploadId: z.string().optional(),
  sequencer: z.string().optional(),
  asOf: z.string(),
  /** The latest order_date the run accepts (the day after the day it was planned); later rows are FUTURE_DATE. */
  latestOrderDay: z.string().optional(),
});
export type RunRef = z.infer<typeof runRefSchema>;

export const planResultSchema = z.union([
  z.object({ proceed: z.literal(false), outcome: z.string() }),
  z.object({
    proceed: z.literal(true),
    run: runRefSchema,
    ranges: z.array(byteRangeSchema),
    buckets: z.array(z.number().int().nonnegative()),
  }),
]);
export type PlanResult = z.infer<typeof planResultSchema>;

export const mergeResultSchema = z.object({ slices: z.array(z.number().int().nonnegative()) });
export type MergeResult = z.infer<typeof mergeResultSchema>;

export const shardStepSchema = z.discriminatedUnion("action", [
  z.object({ action: z.literal("plan"), upload: shardedInputSchema }),
  z.object({ action: z.literal("partition"), run: runRefSchema, range: byteRangeSchema }),
  z.object({ action: z.literal("aggregate"), run: runRefSchema, bucket: z.number().int().nonnegative() }),
  z.object({ action: z.literal("merge"), run: runRefSchema }),
  z.object({ action: z.literal("write"), run: runRefSchema, slice: z.number().int().nonnegative() }),
  z.object({ action: z.literal("commit"), run: runRefSchema }),
  z.object({
    action: z.literal("fail"),
    input: z.object({
      upload: shardedInputSchema,
      plan: planResultSchema.optional(),
      error: z.object({ Error: z.string().optional(), Cause: z.string().optional() }).optional(),
    }),
  }),
]);
export type ShardStep = z.infer<typeof shardStepSchema>;

/** The run id of an execution input: the id the single path gives the same event. */
export function shardedRunId(input: ShardedInput): string {
  return input.kind === "upload" ? runIdFor(input.eventTime, input.key, input.sequencer) : input.runId;
}

/** The lease owner of a sharded run: fixed, so every step (and fail, which may lack the plan) can name it. */
export function shardedOwner(runId: string): string {
  return `${runId}/sharded`;
}
