/**
 * The scheduled refresh: recomputes every dataset's time-dependent scores from its stored state. A failure on
 * one dataset does not stop the others; it is rethrown at the end so the invoke is retried (datasets already
 * refreshed by this event are recognised by their run id and skipped). The same function recomputes one
 * dataset on request (settings or rule segments changed), erases a customer from one dataset, and starts
 * again the refresh or erasure of a run that was abandoned (shared/pipeline/abandon.ts).
 */
import middy from "@middy/core";
import type { Context } from "aws-lambda";
import { DETAIL_TYPES, refreshEventSchema } from "../../shared/events";
import { errorFields, logger } from "../../shared/logger";
import { metricsMiddleware, recordRun, recordRunOutcome } from "../../shared/metrics";
import { runErasure } from "../../shared/pipeline/erase";
import type { ShardedRuns } from "../../shared/pipeline/ports";
import { leaseWait, type RunOutcome, runRefresh } from "../../shared/pipeline/run";
import { type RunSources, type Runtime, runDeps } from "../../shared/runtime";
import { shardedRunsFor } from "../../shared/store/sharded-runs";

/** What the refresh function works with: the stores of a run and the sharded runner. */
export interface RefreshDeps extends RunSources {
  /** Where a dataset whose source was sharded is recomputed; none keeps every run in the function. */
  sharded?: ShardedRuns | undefined;
}

/** The refresh function's dependencies in Lambda: the runtime's, and the state machine the stack names. */
export function refreshDeps(rt: Runtime): RefreshDeps {
  return { ...rt, sharded: shardedRunsFor(rt.config) };
}

/** The refresh function's core on these dependencies, and its Lambda handler (metrics middleware around it). */
export function createRefreshHandler(sources: RefreshDeps) {
  const { sharded } = sources;

  async function refreshCore(
    event: unknown,
    context?: Context,
  ): Promise<{ refreshed: number; failed: number }> {
    const parsed = refreshEventSchema.parse(event);
    const deps = () => ({
      ...runDeps(sources),
      waitForLeaseMs: leaseWait(context),
      ...(sharded ? { sharded } : {}),
    });
    if (parsed["detail-type"] === DETAIL_TYPES.runRedelivery) {
      const { tenantId, datasetId, redelivery, retry } = parsed.detail;
      if (redelivery.kind === "erasure") {
        const result = await runErasure(deps(), {
          tenantId,
          datasetId,
          erasureId: redelivery.erasureId,
          eventTime: redelivery.eventTime,
          retry,
        });
        if ("run" in result) recordRun(result.run);
        logger.info("Erasure started again", { datasetId, outcome: result.outcome });
        return {
          refreshed: result.outcome === "completed" ? 1 : 0,
          failed: result.outcome === "refused" ? 1 : 0,
        };
      }
      if (redelivery.kind === "refresh") {
        const result = await runRefresh(deps(), {
          tenantId,
          datasetId,
          trigger: redelivery.trigger,
          eventId: redelivery.eventId,
          eventTime: redelivery.eventTime,
          retry,
        });
        recordOutcome(result, redelivery.trigger);
        logger.info("Refresh started again", { datasetId, outcome: result.outcome });
        return { refreshed: result.outcome === "succeeded" ? 1 : 0, failed: 0 };
      }
      logger.error("An upload's redelivery reached the refresh function", { datasetId });
      return { refreshed: 0, failed: 1 };
    }
    if (parsed["detail-type"] === DETAIL_TYPES.erasureRequested) {
      const { tenantId, datasetId, erasureId } = parsed.detail;
      const result = await runErasure(
        {
          ...runDeps(sources),
          waitForLeaseMs: leaseWait(context),
          ...(sharded ? { sharded } : {}),
        },
        { tenantId, datasetId, erasureId, eventTime: parsed.time },
      );
      if ("run" in result) recordRun(result.run);
      if (result.outcome === "refused") {
        logger.error("Erasure refused", { datasetId, erasureId, reason: result.reason });
        return { refreshed: 0, failed: 1 };
      }
      logger.info("Erasure processed", { datasetId, erasureId, outcome: result.outcome });
      return { refreshed: result.outcome === "completed" ? 1 : 0, failed: 0 };
    }
    const targets =
      parsed["detail-type"] === "Scheduled Event"
        ? await scheduledTargets()
        : [
            {
              tenantId: parsed.detail.tenantId,
              datasetId: parsed.detail.datasetId,
              trigger: parsed.detail.reason,
            },
          ];
    let refreshed = 0;
    let failed = 0;
    let firstError: unknown;
    for (const { tenantId, datasetId, trigger } of targets) {
      try {
        const result = await runRefresh(
          {
            ...runDeps(sources),
            waitForLeaseMs: leaseWait(context),
            ...(sharded ? { sharded } : {}),
          },
          { tenantId, datasetId, trigger, eventId: parsed.id, eventTime: parsed.time },
        );
        recordOutcome(result, trigger);
        if (result.outcome === "succeeded") refreshed++;
        logger.info("Dataset refreshed", { datasetId, trigger, outcome: result.outcome });
      } catch (error) {
        logger.error("Refresh failed", { datasetId, trigger, ...errorFields(error) });
        failed++;
        firstError ??= error;
      }
    }
    if (firstError !== undefined) throw firstError;
    return { refreshed, failed };
  }

  /** Every dataset whose settings leave the daily refresh on. */
  async function scheduledTargets() {
    const all = await sources.store.listDatasets();
    const metas = await Promise.all(all.map((d) => sources.store.getDataset(d.tenantId, d.datasetId)));
    return metas.flatMap((meta) =>
      meta && meta.settings.scheduledRefresh !== false
        ? [{ tenantId: meta.tenantId, datasetId: meta.datasetId, trigger: "refresh" as const }]
        : [],
    );
  }

  return { core: refreshCore, handler: middy().use(metricsMiddleware()).handler(refreshCore) };
}

/** The metrics of a run that ended; an unchanged refresh or a duplicate event ends no run. */
function recordOutcome(result: RunOutcome, trigger: "refresh" | "settings" | "definitions"): void {
  if ("run" in result) recordRun(result.run);
  else if (result.outcome === "skipped") recordRunOutcome("skipped", trigger);
}
