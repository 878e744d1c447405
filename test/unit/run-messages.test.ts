/**
 * The rule for what a run says when it did not succeed: a failure that is final never promises a retry and
 * says what the user can do; a failure that will be retried says so. Checked over every way a run ends
 * without success that the pipeline words itself: a crash on each attempt (for every trigger), an
 * abandonment and the last one, a sharded run that stopped or whose step failed or timed out, and the input
 * failures of an upload.
 */
import { describe, expect, it } from "vitest";
import type { RunRecord } from "../../shared/model";
import {
  abandonedMessage,
  FINAL_ADVICE,
  finalAbandonedMessage,
  isRetried,
  MAX_ABANDONMENTS,
  MAX_RUN_ATTEMPTS,
  type RunTrigger,
  shardedStoppedMessage,
} from "../../shared/pipeline/messages";
import type { DatasetStore } from "../../shared/pipeline/ports";
import { type Attempt, crash } from "../../shared/pipeline/run";
import { failureOf } from "../../shared/pipeline/sharded";

const TRIGGERS: RunTrigger[] = ["upload", "refresh", "settings", "definitions", "erasure"];
/** Any wording that tells the user the service will try again by itself. */
const PROMISE = /will be retried|retried automatically|will retry|started again|try again automatically/i;
/** Something the user can do, or that nothing needs doing. */
const ACTION = /upload|save|request the erasure|give the run id|correct|split|nothing needs to be done/i;

/** The record crash() leaves, through a store that keeps what it is given. */
async function crashed(trigger: RunTrigger, attempts: number, error: unknown): Promise<RunRecord> {
  let closed: RunRecord | undefined;
  const store = {
    async closeRun(run: RunRecord) {
      closed = run;
      return true;
    },
  } as unknown as DatasetStore;
  const run: RunRecord = {
    tenantId: "t",
    datasetId: "d",
    runId: "r",
    trigger,
    status: "running",
    startedAt: new Date().toISOString(),
    attempts,
  };
  const attempt = { run, release: async () => undefined } as unknown as Attempt;
  await expect(crash({ store, blobs: undefined as never }, attempt, run, error)).rejects.toBe(error);
  if (!closed) throw new Error("crash recorded nothing");
  return closed;
}

function expectFinal(message: string) {
  expect(message).not.toMatch(PROMISE);
  expect(message).toMatch(ACTION);
}

describe("the words of runs that did not succeed", () => {
  it("a crash before the last attempt says it will be retried, with a RETRY_ code", async () => {
    for (const trigger of TRIGGERS) {
      for (let attempts = 1; attempts < MAX_RUN_ATTEMPTS; attempts++) {
        const run = await crashed(trigger, attempts, new Error("boom"));
        expect(run.status).toBe("failed");
        expect(isRetried(run.error?.code ?? "")).toBe(true);
        expect(run.error?.message).toMatch(/will be retried/);
      }
    }
  });

  it("a crash on the last attempt is final: no RETRY_ code, no promise, and what to do", async () => {
    for (const trigger of TRIGGERS) {
      const run = await crashed(trigger, MAX_RUN_ATTEMPTS, new Error("boom"));
      expect(run.error?.code).toBe("INTERNAL");
      expect(isRetried(run.error?.code ?? "")).toBe(false);
      expectFinal(run.error?.message ?? "");
      expect(run.error?.message).toContain(FINAL_ADVICE[trigger]);
    }
  });

  it("an abandoned run names the run doing its work again; the last abandonment promises nothing", () => {
    expect(abandonedMessage("its lease lapsed", "r2")).toMatch(/started again as run r2/);
    expect(isRetried("RETRY_ABANDONED")).toBe(true);
    for (const trigger of TRIGGERS) {
      expectFinal(finalAbandonedMessage(trigger, "its lease lapsed", MAX_ABANDONMENTS));
    }
    expectFinal(shardedStoppedMessage("its execution stopped"));
  });

  it("a sharded run whose step failed or timed out for good says so and what to do", () => {
    for (const error of [
      { Error: "States.Timeout", Cause: "" },
      { Error: "Lambda.Unknown", Cause: '{"errorMessage":"boom"}' },
      undefined,
    ]) {
      const { code, message } = failureOf(error);
      expect(isRetried(code)).toBe(false);
      expectFinal(message);
    }
  });

  it("the advice for each trigger tells what to do and promises no retry", () => {
    for (const trigger of TRIGGERS) expectFinal(FINAL_ADVICE[trigger]);
  });
});
