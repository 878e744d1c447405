/**
 * Starts a run for each uploaded file of an S3 notification. Every record is processed; if any failed in a
 * way worth retrying, the first such error is rethrown after the others, so the asynchronous invoke retries
 * the event (finished records are recognised by their run id and not redone) and, at last, dead-letters it.
 * It also takes the redelivery of an abandoned upload run (shared/pipeline/abandon.ts) from the service's bus,
 * which starts the upload's work again as a new run.
 */
import middy from "@middy/core";
import type { Context } from "aws-lambda";
import { DETAIL_TYPES, decodeS3Key, runRedeliveryEventSchema, s3EventSchema } from "../../shared/events";
import { errorFields, logger } from "../../shared/logger";
import { metricsMiddleware, recordRun, recordRunOutcome } from "../../shared/metrics";
import { redeliveredUpload } from "../../shared/pipeline/abandon";
import type { ShardedRuns } from "../../shared/pipeline/ports";
import { leaseWait, type RunOutcome, runUpload } from "../../shared/pipeline/run";
import { type RunSources, type Runtime, runDeps } from "../../shared/runtime";
import { parseUploadKey } from "../../shared/store/keys";
import { shardedRunsFor } from "../../shared/store/sharded-runs";

/** What the compute function works with: the stores of a run, the upload bucket and the sharded runner. */
export interface ComputeDeps extends RunSources {
  config: Pick<Runtime["config"], "BUCKET_NAME">;
  /** Where uploads past the sharding threshold run; none keeps every run in the function. */
  sharded?: ShardedRuns | undefined;
}

/** The compute function's dependencies in Lambda: the runtime's, and the state machine the stack names. */
export function computeDeps(rt: Runtime): ComputeDeps {
  return { ...rt, sharded: shardedRunsFor(rt.config) };
}

/** The compute function's core on these dependencies, and its Lambda handler (metrics middleware around it). */
export function createComputeHandler(deps: ComputeDeps) {
  const { sharded } = deps;

  async function computeCore(event: unknown, context?: Context): Promise<{ outcomes: string[] }> {
    if (isRedelivery(event)) return redeliver(runRedeliveryEventSchema.parse(event), context);
    const parsed = s3EventSchema.parse(event);
    const outcomes: string[] = [];
    let firstError: unknown;
    for (const record of parsed.Records) {
      if (record.s3.bucket.name !== deps.config.BUCKET_NAME) continue;
      const key = decodeS3Key(record.s3.object.key);
      const parts = parseUploadKey(key);
      if (!parts) {
        logger.warn("Ignoring an object outside the upload layout", { eventName: record.eventName });
        outcomes.push("ignored");
        continue;
      }
      try {
        const result = await runUpload(
          {
            ...runDeps(deps),
            waitForLeaseMs: leaseWait(context),
            ...(sharded ? { sharded } : {}),
          },
          {
            tenantId: parts.tenant,
            datasetId: parts.dataset,
            uploadId: parts.uploadId,
            key,
            sequencer: record.s3.object.sequencer,
            eventTime: record.eventTime,
            ...(record.s3.object.eTag !== undefined ? { eTag: record.s3.object.eTag.replace(/"/g, "") } : {}),
            ...(record.s3.object.size !== undefined ? { size: record.s3.object.size } : {}),
          },
        );
        logger.info("Upload processed", {
          datasetId: parts.dataset,
          uploadId: parts.uploadId,
          outcome: result.outcome,
          ...("run" in result
            ? { runId: result.run.runId, status: result.run.status, counts: result.run.counts }
            : {}),
        });
        recordOutcome(result);
        outcomes.push(result.outcome);
      } catch (error) {
        logger.error("Upload failed", {
          datasetId: parts.dataset,
          uploadId: parts.uploadId,
          ...errorFields(error),
        });
        firstError ??= error;
        outcomes.push("error");
      }
    }
    if (firstError !== undefined) throw firstError;
    return { outcomes };
  }

  /** An abandoned upload run's work, started again; a failure is rethrown for the invoke's retries. */
  async function redeliver(
    event: ReturnType<typeof runRedeliveryEventSchema.parse>,
    context?: Context,
  ): Promise<{ outcomes: string[] }> {
    const upload = redeliveredUpload(event.detail);
    if (!upload) {
      logger.error("A refresh's redelivery reached the compute function", {
        datasetId: event.detail.datasetId,
      });
      return { outcomes: ["ignored"] };
    }
    const result = await runUpload(
      {
        ...runDeps(deps),
        waitForLeaseMs: leaseWait(context),
        ...(sharded ? { sharded } : {}),
      },
      upload,
    );
    recordOutcome(result);
    logger.info("Upload started again", {
      datasetId: upload.datasetId,
      uploadId: upload.uploadId,
      retryOf: event.detail.retry.runId,
      outcome: result.outcome,
    });
    return { outcomes: [result.outcome] };
  }

  return { core: computeCore, handler: middy().use(metricsMiddleware()).handler(computeCore) };
}

/** The metrics of a run that ended; duplicates, stale events and hand-offs to a sharded run end no run. */
function recordOutcome(result: RunOutcome): void {
  if ("run" in result) recordRun(result.run);
  else if (result.outcome === "skipped") recordRunOutcome("skipped", "upload");
}

function isRedelivery(event: unknown): boolean {
  return (
    typeof event === "object" &&
    event !== null &&
    (event as Record<string, unknown>)["detail-type"] === DETAIL_TYPES.runRedelivery
  );
}
