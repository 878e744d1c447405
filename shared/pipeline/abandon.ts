/**
 * Runs whose attempt stopped without a word. A run holds its dataset's lease while it works and renews it
 * every third of its length; a process that dies (kill -9, a Lambda timeout or crash) stops renewing, so its
 * lease lapses and its run would stay `running` for good. Whoever finds such a run (the next run that takes
 * the dataset's lease, or the sweeper, ./sweep.ts) closes it here:
 *
 *  - as `abandoned`, with the reason, and starts its work again as a new run: the event that started it goes
 *    out again as a "Run Redelivery Requested" event (an upload to the compute function, a refresh or an
 *    erasure to the refresh function). Doing the work again is idempotent: orders are keyed by their ids,
 *    and an upload already applied (its sequencer on the upload record) is skipped as stale;
 *  - or, after MAX_ABANDONMENTS runs of the same work were abandoned in a row (or for a run that cannot be
 *    started again, such as a sharded one), as `failed` for good, with what the user can do.
 *
 * Both are conditional on the run being as it was seen, so two finders (or a finder and a late retry of the
 * run itself) never close it twice.
 */
import { DETAIL_TYPES, type RunRedeliveryDetail } from "../events";
import { logger } from "../logger";
import type { RunRecord } from "../model";
import { abandonedMessage, finalAbandonedMessage, MAX_ABANDONMENTS, shardedStoppedMessage } from "./messages";
import type { DatasetStore, EventPublisher } from "./ports";
import type { UploadEvent } from "./run";
import { runIdFor } from "./run-id";
import { shardedOwner } from "./sharded-contract";

export interface AbandonDeps {
  store: DatasetStore;
  /** Where the redelivery goes; without it a run can only be closed for good. */
  events?: EventPublisher;
  now?: () => Date;
}

export type AbandonOutcome =
  /** Closed and its work started again as `retriedBy`. */
  | { outcome: "abandoned"; retriedBy: string }
  /** Closed for good. */
  | { outcome: "failed" }
  /** Someone else closed or resumed it first. */
  | { outcome: "raced" };

/** The run a lease owner belongs to: owners are `<runId>/<attempt>` (sharded runs: `<runId>/sharded`). */
export function runIdOfOwner(owner: string): string {
  const slash = owner.indexOf("/");
  return slash < 0 ? owner : owner.slice(0, slash);
}

/** The id of the run that does an abandoned run's work again: new, and the same for a redelivered request. */
export function retryRunId(retry: { runId: string; abandonments: number; requeuedAt: string }): string {
  return runIdFor(retry.requeuedAt, "retry", retry.runId, String(retry.abandonments));
}

export function lapsedReason(until: number): string {
  return `its process stopped working on it; its lease on the dataset lapsed at ${new Date(until).toISOString()}`;
}

export async function abandonRun(
  deps: AbandonDeps,
  run: RunRecord,
  reason: string,
  options: { sharded?: boolean } = {},
): Promise<AbandonOutcome> {
  const now = (deps.now ?? (() => new Date()))();
  const at = now.toISOString();
  const abandonments = (run.abandonments ?? 0) + 1;
  const expected = { status: run.status, attempts: run.attempts };
  const sharded = options.sharded === true || run.redelivery === undefined;

  if (sharded || abandonments >= MAX_ABANDONMENTS || !deps.events) {
    const failed: RunRecord = {
      ...run,
      status: "failed",
      finishedAt: at,
      abandonments,
      error: {
        code: "RUN_ABANDONED",
        message: sharded
          ? shardedStoppedMessage(reason)
          : finalAbandonedMessage(run.trigger, reason, abandonments),
      },
    };
    if (!(await deps.store.closeRun(failed, expected))) return { outcome: "raced" };
    logger.error("Run abandoned for good", { runId: run.runId, datasetId: run.datasetId, abandonments });
    await finished(deps, failed);
    return { outcome: "failed" };
  }

  const retry = { runId: run.runId, abandonments, requeuedAt: at };
  const retriedBy = retryRunId(retry);
  const redelivery = run.redelivery as NonNullable<RunRecord["redelivery"]>;
  // The redelivery goes out first: if it cannot be sent, the run stays as it is for the next finder.
  const detail: RunRedeliveryDetail = {
    tenantId: run.tenantId,
    datasetId: run.datasetId,
    redelivery,
    retry,
  };
  await deps.events.publish([{ detailType: DETAIL_TYPES.runRedelivery, detail }]);
  const abandoned: RunRecord = {
    ...run,
    status: "abandoned",
    finishedAt: at,
    abandonments,
    retriedBy,
    error: { code: "RETRY_ABANDONED", message: abandonedMessage(reason, retriedBy) },
  };
  // Lost the race: the redelivered run then finds the work done (a duplicate or a stale upload) or does it.
  if (!(await deps.store.closeRun(abandoned, expected))) return { outcome: "raced" };
  logger.warn("Run abandoned; its work was started again", {
    runId: run.runId,
    datasetId: run.datasetId,
    retriedBy,
    abandonments,
  });
  await finished(deps, abandoned);
  return { outcome: "abandoned", retriedBy };
}

/** The upload event a redelivery of an abandoned upload run stands for, or undefined for other runs. */
export function redeliveredUpload(detail: RunRedeliveryDetail): UploadEvent | undefined {
  const { tenantId, datasetId, redelivery, retry } = detail;
  if (redelivery.kind !== "upload") return undefined;
  return {
    tenantId,
    datasetId,
    uploadId: redelivery.uploadId,
    key: redelivery.key,
    sequencer: redelivery.sequencer,
    eventTime: redelivery.eventTime,
    ...(redelivery.eTag !== undefined ? { eTag: redelivery.eTag } : {}),
    ...(redelivery.size !== undefined ? { size: redelivery.size } : {}),
    retry,
  };
}

/** Whether a lease owner is a sharded run's (Step Functions), which the sweeper closes but never restarts. */
export function isShardedOwner(owner: string): boolean {
  return owner === shardedOwner(runIdOfOwner(owner));
}

/** The run's end on the bus, as every run announces it; a bus failure does not undo the closing. */
async function finished(deps: AbandonDeps, run: RunRecord): Promise<void> {
  if (!deps.events) return;
  try {
    await deps.events.publish([
      {
        detailType: "Run Finished",
        detail: {
          tenantId: run.tenantId,
          datasetId: run.datasetId,
          runId: run.runId,
          trigger: run.trigger,
          status: run.status,
          ...(run.error ? { error: { code: run.error.code } } : {}),
        },
      },
    ]);
  } catch (error) {
    logger.error("Could not publish the run's end", { runId: run.runId, errorName: (error as Error).name });
  }
}
