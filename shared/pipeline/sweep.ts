/**
 * The sweeper: finds runs whose attempt stopped without a word and closes them (./abandon.ts). It runs on a
 * schedule (an EventBridge rule in AWS, a timer in the local service), so a dead run is closed and its work
 * started again even when nothing else happens to the dataset. For every dataset:
 *
 *  1. a lapsed lease whose run is still `running`: that run's attempt died holding the dataset (kill -9, a
 *     Lambda timeout or crash). It is abandoned and its work started again; a sharded run (whose execution
 *     holds the lease for the state machine's whole timeout) is closed for good.
 *  2. a run not finished, not holding a live lease, and silent for longer than `staleAfterMs`: a run
 *     `running` whose attempts never got the lease, or one that failed with a promise of a retry that never
 *     came (its event went to the dead-letter queue). Silent
 *     means no start, retry or end recorded in that time; the default is longer than Lambda's retries of an
 *     event (three attempts of up to 15 minutes, one and two minutes apart).
 *  3. once every dataset's runs are swept: the committed current version's run, when its destinations were
 *     not served (its process died between the commit and the end of planning): they are served now
 *     (./unserved.ts). The sweeper does this rather
 *     than the delivery sweep because it already reads every dataset and its runs; the delivery sweep only
 *     visits destinations with deliveries waiting.
 */
import { errorFields, logger } from "../logger";
import type { RunRecord } from "../model";
import { abandonRun, isShardedOwner, lapsedReason, runIdOfOwner } from "./abandon";
import { isRetried } from "./messages";
import type { DatasetStore, EventPublisher } from "./ports";
import type { PipelineDeps } from "./run";
import { runIdFor } from "./run-id";
import { serveUnservedSafely } from "./unserved";

/** Silence after which an unfinished run without a live lease is abandoned. */
export const DEFAULT_STALE_AFTER_MS = 60 * 60 * 1000;
/** How far back runs are looked at: a run older than this was swept long ago. */
export const SWEEP_LOOKBACK_MS = 3 * 24 * 60 * 60 * 1000;

export interface SweepDeps {
  store: DatasetStore;
  events?: EventPublisher;
  now?: () => Date;
  staleAfterMs?: number;
  /**
   * What serving destinations takes (the store, bucket, destination store, file writer and delivery queue);
   * with it, each dataset's committed current run whose destinations were not served is served (./unserved.ts).
   */
  serving?: PipelineDeps;
}

export interface SweepReport {
  datasets: number;
  abandoned: number;
  failed: number;
  /** Datasets whose sweep failed; the error is logged and the next sweep tries again. */
  errors: number;
  /** Committed runs whose destinations this sweep served (./unserved.ts). */
  served: number;
}

export async function sweep(deps: SweepDeps): Promise<SweepReport> {
  const report: SweepReport = { datasets: 0, abandoned: 0, failed: 0, errors: 0, served: 0 };
  for (const { tenantId, datasetId } of await deps.store.listDatasets()) {
    report.datasets++;
    try {
      for (const outcome of await sweepDataset(deps, tenantId, datasetId)) {
        if (outcome === "abandoned") report.abandoned++;
        else if (outcome === "failed") report.failed++;
      }
    } catch (error) {
      report.errors++;
      logger.error("Could not sweep a dataset", { datasetId, ...errorFields(error) });
    }
  }
  // Destinations after every dataset's runs: the heavier work (two versions' outputs read, files written)
  // never keeps a dead run from being closed. A failure is logged and the next sweep tries again.
  if (deps.serving) {
    const now = (deps.now ?? (() => new Date()))();
    for (const { tenantId, datasetId } of await deps.store.listDatasets()) {
      const meta = await deps.store.getDataset(tenantId, datasetId).catch(() => undefined);
      if (meta && (await serveUnservedSafely(deps.serving, meta, now)) === "served") report.served++;
    }
  }
  if (report.abandoned + report.failed + report.errors + report.served > 0)
    logger.warn("Sweep closed runs or served destinations", { ...report });
  return report;
}

async function sweepDataset(
  deps: SweepDeps,
  tenantId: string,
  datasetId: string,
): Promise<Array<"abandoned" | "failed" | "raced">> {
  const { store } = deps;
  const now = (deps.now ?? (() => new Date()))();
  const meta = await store.getDataset(tenantId, datasetId);
  if (!meta) return [];
  const outcomes: Array<"abandoned" | "failed" | "raced"> = [];
  const lock = meta.lock;
  const liveHolder = lock && lock.until >= now.getTime() ? runIdOfOwner(lock.owner) : undefined;

  if (lock && lock.until < now.getTime()) {
    const run = await store.getRun(tenantId, datasetId, runIdOfOwner(lock.owner));
    if (run?.status === "running") {
      const sharded = isShardedOwner(lock.owner);
      const reason = sharded
        ? `its execution stopped without recording its end; its lease on the dataset lapsed at ${new Date(lock.until).toISOString()}`
        : lapsedReason(lock.until);
      outcomes.push((await abandonRun(deps, run, reason, { sharded })).outcome);
    }
  }

  const staleAfter = deps.staleAfterMs ?? DEFAULT_STALE_AFTER_MS;
  const since = runIdFor(new Date(now.getTime() - SWEEP_LOOKBACK_MS).toISOString());
  for (const run of await store.listRunsSince(tenantId, datasetId, since)) {
    if (run.runId === liveHolder || !unfinished(run)) continue;
    if (lock && runIdOfOwner(lock.owner) === run.runId && lock.until < now.getTime()) continue;
    if (now.getTime() - lastSignOfLife(run) < staleAfter) continue;
    outcomes.push((await abandonRun(deps, run, silentReason(run, staleAfter))).outcome);
  }
  return outcomes;
}

/** Not finished: running, or failed with a promise of a retry. */
function unfinished(run: RunRecord): boolean {
  if (run.status === "running") return true;
  if (run.status === "failed") return run.error !== undefined && isRetried(run.error.code);
  return false;
}

function lastSignOfLife(run: RunRecord): number {
  const times = [run.startedAt, run.requeuedAt, run.finishedAt].flatMap((t) =>
    t === undefined ? [] : [Date.parse(t)],
  );
  return Math.max(...times.filter((t) => Number.isFinite(t)), 0);
}

function silentReason(run: RunRecord, staleAfter: number): string {
  const minutes = Math.round(staleAfter / 60_000);
  return run.status === "running"
    ? `no attempt worked on it for ${minutes} minutes`
    : `the retry it was promised did not come within ${minutes} minutes`;
}
