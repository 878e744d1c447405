/**
 * The steps of a sharded run (infra/constructs/sharding.ts): Step Functions invokes this function with one
 * step's payload, which names the action. Workers and the coordinator are two functions built from this one
 * entry, with different memory and permissions; each is only ever sent its own actions.
 */
import middy from "@middy/core";
import type { Context } from "aws-lambda";
import { shardedSteps } from "../../shared/pipeline/sharded";
import { shardStepSchema } from "../../shared/pipeline/sharded-contract";
import { runDeps, runtime } from "../../shared/runtime";

const rt = runtime();
const steps = shardedSteps({
  ...runDeps(rt),
});

export async function shardCore(event: unknown, _context?: Context): Promise<unknown> {
  return steps.run(shardStepSchema.parse(event));
}

export const handler = middy().handler(shardCore);
