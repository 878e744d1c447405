/** The Step Functions adapter of the sharded-runs port: one execution per run, named after the run. */
import { ExecutionAlreadyExists, SFNClient, StartExecutionCommand } from "@aws-sdk/client-sfn";
import type { ShardedRuns } from "../pipeline/ports";
import { type ShardedInput, shardedRunId } from "../pipeline/sharded-contract";

/** Execution names: at most 80 of letters, digits, '-' and '_'. Run ids are `<17 digits>-<12 hex>`. */
export function executionName(input: ShardedInput): string {
  return `${input.datasetId}-${shardedRunId(input)}`.replace(/[^A-Za-z0-9_-]/g, "_").slice(-80);
}

export class StepFunctionsShardedRuns implements ShardedRuns {
  constructor(
    private readonly client: SFNClient,
    private readonly stateMachineArn: string,
    readonly thresholdBytes: number,
  ) {}

  async start(input: ShardedInput): Promise<void> {
    try {
      await this.client.send(
        new StartExecutionCommand({
          stateMachineArn: this.stateMachineArn,
          name: executionName(input),
          input: JSON.stringify({ upload: input }),
        }),
      );
    } catch (error) {
      // The same event delivered again: its execution exists (with the same input, or it would not be ours).
      if (error instanceof ExecutionAlreadyExists) return;
      throw error;
    }
  }
}

/**
 * The sharded runs of a function in Lambda: the state machine the stack names, else none (every run stays in
 * the function). Only the pipeline functions call this, so only they carry the Step Functions client; the
 * local service hands its in-process runner to the handler factories instead.
 */
export function shardedRunsFor(config: {
  AWS_REGION: string;
  STATE_MACHINE_ARN?: string | undefined;
  SHARD_THRESHOLD_BYTES: number;
}): ShardedRuns | undefined {
  if (!config.STATE_MACHINE_ARN) return undefined;
  return new StepFunctionsShardedRuns(
    new SFNClient({ region: config.AWS_REGION, maxAttempts: 5 }),
    config.STATE_MACHINE_ARN,
    config.SHARD_THRESHOLD_BYTES,
  );
}
