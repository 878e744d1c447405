/**
 * Sharded runs on this machine (the local service, the tests): the state machine's course through the same
 * step functions, in-process. Plan, then each map's steps with at most `concurrency` at a time, merge, the
 * write map, commit; a step failing with RetryableError is retried as the state machine retries it, and a
 * step that fails for good sends the run to `fail` with the error as Step Functions would describe it.
 */
import { logger } from "../logger";
import type { ShardedRuns } from "./ports";
import type { ShardedSteps } from "./sharded";
import type { ShardedInput } from "./sharded-contract";

export interface LocalShardedRunsOptions {
  thresholdBytes: number;
  /** Steps of one map at once (the state machine's maxConcurrency). */
  concurrency?: number;
  /** Attempts of a step failing with RetryableError (the state machine's retry policy: 4). */
  maxAttempts?: number;
  /** Pause before a retry, in ms (doubling). */
  retryDelayMs?: number;
}

export class LocalShardedRuns implements ShardedRuns {
  readonly thresholdBytes: number;
  private readonly running = new Set<Promise<void>>();

  constructor(
    private readonly steps: ShardedSteps,
    private readonly options: LocalShardedRunsOptions,
  ) {
    this.thresholdBytes = options.thresholdBytes;
  }

  /** Starts the run and returns at once, as StartExecution does. */
  async start(input: ShardedInput): Promise<void> {
    const execution = this.execute(input).catch((error) => {
      logger.error("Local sharded run ended with an error", { error: (error as Error).message });
    });
    this.running.add(execution);
    void execution.finally(() => this.running.delete(execution));
  }

  /** Resolves when every run started so far has ended. */
  async settled(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
  }

  /** Runs one execution to its end; resolves whether the run succeeded or was recorded as failed. */
  async execute(input: ShardedInput): Promise<void> {
    const steps = this.steps;
    let plan: Awaited<ReturnType<ShardedSteps["plan"]>> | undefined;
    try {
      plan = await this.step(() => steps.plan(input));
      if (!plan.proceed) return;
      const { run } = plan;
      await this.map(plan.ranges, (range) => steps.partition(run, range.index));
      await this.map(plan.buckets, (bucket) => steps.aggregate(run, bucket));
      const merged = await this.step(() => steps.merge(run));
      await this.map(merged.slices, (slice) => steps.write(run, slice));
      await this.step(() => steps.commit(run));
    } catch (error) {
      const e = error as Error;
      const cause = JSON.stringify({ errorType: e.name, errorMessage: e.message });
      await this.step(() =>
        steps.fail({ upload: input, ...(plan ? { plan } : {}), error: { Error: e.name, Cause: cause } }),
      );
    }
  }

  private async step<T>(work: () => Promise<T>): Promise<T> {
    const attempts = this.options.maxAttempts ?? 4;
    let delay = this.options.retryDelayMs ?? 2_000;
    for (let attempt = 1; ; attempt++) {
      try {
        return await work();
      } catch (error) {
        if ((error as Error).name !== "RetryableError" || attempt >= attempts) throw error;
        await new Promise((ok) => setTimeout(ok, delay * (0.5 + Math.random() / 2)));
        delay *= 2;
      }
    }
  }

  private async map<T>(items: readonly T[], work: (item: T) => Promise<unknown>): Promise<void> {
    let next = 0;
    let failed = false;
    const lane = async () => {
      while (next < items.length && !failed) {
        const item = items[next++] as T;
        try {
          await this.step(() => work(item));
        } catch (error) {
          // Like a distributed map with no failures tolerated: the other lanes stop starting steps.
          failed = true;
          throw error;
        }
      }
    };
    const lanes = Math.min(this.options.concurrency ?? 4, items.length);
    await Promise.all(Array.from({ length: lanes }, lane));
  }
}
