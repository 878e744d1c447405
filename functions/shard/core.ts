/**
 * The steps of a sharded run (infra/constructs/sharding.ts): Step Functions invokes this function with one
 * step's payload, which names the action. Workers and the coordinator are two functions built from this one
 * entry, with different memory and permissions; each is only ever sent its own actions.
 */
import middy from "@middy/core";
import type { Context } from "aws-lambda";
import { metricsMiddleware, recordRun } from "../../shared/metrics";
import { shardedSteps } from "../../shared/pipeline/sharded";
import { type ShardStep, shardedRunId, shardStepSchema } from "../../shared/pipeline/sharded-contract";
import { type RunSources, runDeps } from "../../shared/runtime";

/** The shard function's core on the stores of a run, and its Lambda handler (metrics middleware around it). */
export function createShardHandler(sources: RunSources) {
  const steps = shardedSteps(runDeps(sources));

  async function shardCore(event: unknown, _context?: Context): Promise<unknown> {
    const step = shardStepSchema.parse(event);
    const result = await steps.run(step);
    await recordEnded(sources, step);
    return result;
  }

  return { core: shardCore, handler: middy().use(metricsMiddleware()).handler(shardCore) };
}

/**
 * The metrics of a sharded run that the commit or fail step ended, from its record as stored (the steps
 * return nothing); a run the fail step found already ended is not counted again.
 */
async function recordEnded(sources: RunSources, step: ShardStep): Promise<void> {
  if (step.action !== "commit" && step.action !== "fail") return;
  const ref =
    step.action === "commit"
      ? step.run
      : {
          tenantId: step.input.upload.tenantId,
          datasetId: step.input.upload.datasetId,
          runId: step.input.plan?.proceed ? step.input.plan.run.runId : shardedRunId(step.input.upload),
        };
  const run = await sources.store.getRun(ref.tenantId, ref.datasetId, ref.runId);
  if (run && (step.action === "commit" ? run.status === "succeeded" : run.status === "failed"))
    recordRun(run);
}
