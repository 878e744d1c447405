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
import { runDeps, runtime } from "../../shared/runtime";

const rt = runtime();
const steps = shardedSteps({
  ...runDeps(rt),
});

export async function shardCore(event: unknown, _context?: Context): Promise<unknown> {
  const step = shardStepSchema.parse(event);
  const result = await steps.run(step);
  await recordEnded(step);
  return result;
}

/**
 * The metrics of a sharded run that the commit or fail step ended, from its record as stored (the steps
 * return nothing); a run the fail step found already ended is not counted again.
 */
async function recordEnded(step: ShardStep): Promise<void> {
  if (step.action !== "commit" && step.action !== "fail") return;
  const ref =
    step.action === "commit"
      ? step.run
      : {
          tenantId: step.input.upload.tenantId,
          datasetId: step.input.upload.datasetId,
          runId: step.input.plan?.proceed ? step.input.plan.run.runId : shardedRunId(step.input.upload),
        };
  const run = await rt.store.getRun(ref.tenantId, ref.datasetId, ref.runId);
  if (run && (step.action === "commit" ? run.status === "succeeded" : run.status === "failed"))
    recordRun(run);
}

export const handler = middy().use(metricsMiddleware()).handler(shardCore);
