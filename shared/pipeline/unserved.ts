/**
 * Serving again a committed run whose destinations were not served: its process died between the commit and
 * the end of planning (a kill -9, a Lambda timeout), or a destination failed while it planned. The sweeper
 * (./sweep.ts) calls this for every dataset on its schedule.
 *
 * Only the dataset's current version is looked at: a run is served right after it commits, and the next run
 * serves its own changes. The current version's run is served again when it succeeded, carries no
 * `destinationsServedAt`, and finished more than SERVE_GRACE_MS ago (a live run finishes its own planning
 * first). Its membership changes are worked out again from the outputs of the version it replaced (the newest
 * earlier succeeded run's version; none: empty) and of its own version, as the run did, and planned with
 * `replay`: a delivery of the same run, segment and part that the outbox already holds is not enqueued again,
 * and files are rewritten whole (an erasure run, whose earlier versions' files are deleted, gets its files
 * only). A run that finished more than SERVE_WITHIN_MS ago is marked served
 * without being served: its changes are older than anyone acting on them would want.
 */
import { loadContacts } from "../destinations/contacts";
import { errorFields, logger } from "../logger";
import type { DatasetMeta, RunRecord } from "../model";
import { objectKeys } from "../store/keys";
import { decodeOutputs, diffOutputs, type Outputs } from "./outputs";
import { deliverable, type PipelineDeps, serveDestinations } from "./run";

/** A run is left this long to serve its own destinations. */
export const SERVE_GRACE_MS = 60_000;
/** A run unserved for longer than this is given up on (marked served, logged). */
export const SERVE_WITHIN_MS = 24 * 60 * 60 * 1000;

export type UnservedOutcome = "none" | "served" | "failed" | "given-up";

export async function serveUnserved(
  deps: PipelineDeps,
  meta: DatasetMeta,
  now: Date,
): Promise<UnservedOutcome> {
  const { store } = deps;
  const current = meta.current;
  if (!deps.destinations || !current) return "none";
  const run = await store.getRun(meta.tenantId, meta.datasetId, current.runId);
  if (run?.status !== "succeeded" || run.version !== current.version || run.destinationsServedAt)
    return "none";
  const finishedAt = Date.parse(run.finishedAt ?? current.completedAt);
  const age = now.getTime() - finishedAt;
  if (age < SERVE_GRACE_MS) return "none";
  if (age > SERVE_WITHIN_MS) {
    logger.warn("A run's destinations were never served; given up", {
      datasetId: run.datasetId,
      runId: run.runId,
    });
    await store.markDestinationsServed(run.tenantId, run.datasetId, run.runId, now.toISOString());
    return "given-up";
  }
  const before = await previousVersion(deps, run);
  const after = await outputsOf(deps, run, current.version);
  if (!after) throw new Error(`The outputs of version ${current.version} are gone`);
  const previous = before === undefined ? new Map<string, string>() : await outputsOf(deps, run, before);
  // An erasure deletes the earlier versions' files: the changes cannot be told, the files are still written.
  const diff = previous ? diffOutputs(previous, after) : { customers: [], memberships: [] };
  if (!previous)
    logger.warn("The version a run replaced is gone; its webhooks cannot be planned again", {
      datasetId: run.datasetId,
      runId: run.runId,
    });
  logger.warn("Serving a committed run's destinations again", {
    datasetId: run.datasetId,
    runId: run.runId,
    ...(before !== undefined ? { previousVersion: before } : {}),
  });
  const served = await serveDestinations(
    deps,
    run,
    deliverable(run, diff),
    () => loadContacts(deps.blobs, run.tenantId, run.datasetId, current.version, meta.settings),
    true,
  );
  return served ? "served" : "failed";
}

/** The version the run replaced: that of the newest earlier succeeded run; undefined for the first. */
async function previousVersion(deps: PipelineDeps, run: RunRecord): Promise<number | undefined> {
  const version = run.version ?? 0;
  let after: string | undefined;
  do {
    const page = await deps.store.listRuns(run.tenantId, run.datasetId, 100, after);
    for (const r of page.items)
      if (r.status === "succeeded" && r.version !== undefined && r.version < version) return r.version;
    after = page.next;
  } while (after);
  return undefined;
}

async function outputsOf(deps: PipelineDeps, run: RunRecord, version: number): Promise<Outputs | undefined> {
  const bytes = await deps.blobs.get(objectKeys.outputs(run.tenantId, run.datasetId, version));
  return bytes ? decodeOutputs(bytes) : undefined;
}

/** Serves the dataset's unserved current run, if any; logs and reports a failure, never throws. */
export async function serveUnservedSafely(
  deps: PipelineDeps,
  meta: DatasetMeta,
  now: Date,
): Promise<UnservedOutcome> {
  try {
    return await serveUnserved(deps, meta, now);
  } catch (error) {
    logger.error("Could not serve a committed run's destinations again", {
      datasetId: meta.datasetId,
      ...errorFields(error),
    });
    return "failed";
  }
}
