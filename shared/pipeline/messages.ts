/**
 * What a run's record says when it did not succeed. One rule: a message says what happened and what the
 * user can do; only a run that will be retried says so, and a run that will not be retried never promises
 * it. Codes of failures that will be retried start with RETRY_ (a redelivered event resumes such a run);
 * every other failure is final.
 */
import type { RunRecord } from "../model";

/** Attempts of one run: the first and Lambda's two retries of an asynchronous invoke (infra/constructs/pipeline.ts). */
export const MAX_RUN_ATTEMPTS = 3;
/** Runs of one piece of work abandoned in a row before it fails for good. */
export const MAX_ABANDONMENTS = 3;

export const RETRY_PREFIX = "RETRY_";

export type RunTrigger = RunRecord["trigger"];

/** What the user can do when a run of each trigger failed for good. */
export const FINAL_ADVICE: Record<RunTrigger, string> = {
  upload:
    "The previous result stays served. Upload the file again; if it fails the same way, give the run id to the service's operator.",
  refresh:
    "The previous result stays served. The next daily refresh recomputes the dataset; to recompute it now, save its settings (PUT /datasets/{datasetId}/settings).",
  settings:
    "The previous result stays served. Save the settings again (PUT /datasets/{datasetId}/settings) to recompute the dataset.",
  definitions:
    "The previous result stays served. Save the rule segment again (PUT /datasets/{datasetId}/definitions/{segmentId}) to recompute the dataset.",
  erasure:
    "The customer is not erased yet. Request the erasure again (DELETE /datasets/{datasetId}/customers/{customerId}); if it fails the same way, give the run id to the service's operator.",
};

/** A crash that the asynchronous invoke will retry. */
export function retryingMessage(code: string): string {
  return `The run was interrupted (${code}) and will be retried automatically; the previous result stays served meanwhile.`;
}

/** A crash on the run's last attempt: nothing retries it. */
export function finalCrashMessage(trigger: RunTrigger, code: string, attempts: number): string {
  return `The run failed on each of its ${attempts} attempts (last: ${code}) and is not attempted again. ${FINAL_ADVICE[trigger]}`;
}

/** A run closed because the attempt working on it stopped, and started again as `retriedBy`. */
export function abandonedMessage(reason: string, retriedBy: string): string {
  return `The run stopped before it finished (${reason}). Its work was started again as run ${retriedBy}; nothing needs to be done.`;
}

/** The last abandonment of a piece of work: it is not started again. */
export function finalAbandonedMessage(trigger: RunTrigger, reason: string, abandonments: number): string {
  return `The run stopped before it finished (${reason}), for the ${ordinal(abandonments)} time in a row; the service does not run it again. ${
    trigger === "upload"
      ? "A file this size may not fit in one run: split it into smaller files and upload them, or upload it again; if it stops the same way, give the run id to the service's operator."
      : FINAL_ADVICE[trigger]
  }`;
}

/** A sharded run (Step Functions) whose execution stopped without recording its end. */
export function shardedStoppedMessage(reason: string): string {
  return `The sharded run stopped before it finished (${reason}); the service does not run it again. ${FINAL_ADVICE.upload}`;
}

function ordinal(n: number): string {
  return n === 1 ? "first" : n === 2 ? "second" : n === 3 ? "third" : `${n}th`;
}

/** Whether a failure code means the run will be retried. */
export function isRetried(code: string): boolean {
  return code.startsWith(RETRY_PREFIX);
}
