/**
 * The scheduled refresh: recomputes every dataset's time-dependent scores from its stored state. A failure on
 * one dataset does not stop the others; it is rethrown at the end so the invoke is retried (datasets already
 * refreshed by this event are recognised by their run id and skipped).
 */
import middy from "@middy/core";
import type { Context } from "aws-lambda";
import { scheduledEventSchema } from "../../shared/events";
import { errorFields, logger } from "../../shared/logger";
import { leaseWait, runRefresh } from "../../shared/pipeline/run";
import { runtime } from "../../shared/runtime";

const rt = runtime();

export async function refreshCore(
  event: unknown,
  context?: Context,
): Promise<{ refreshed: number; failed: number }> {
  const scheduled = scheduledEventSchema.parse(event);
  const datasets = await rt.store.listDatasets();
  let refreshed = 0;
  let firstError: unknown;
  for (const { tenantId, datasetId } of datasets) {
    try {
      const result = await runRefresh(
        { store: rt.store, blobs: rt.blobs, waitForLeaseMs: leaseWait(context) },
        { tenantId, datasetId, eventId: scheduled.id, eventTime: scheduled.time },
      );
      if (result.outcome === "succeeded") refreshed++;
      logger.info("Dataset refreshed", { datasetId, outcome: result.outcome });
    } catch (error) {
      logger.error("Refresh failed", { datasetId, ...errorFields(error) });
      firstError ??= error;
    }
  }
  if (firstError !== undefined) throw firstError;
  return { refreshed, failed: 0 };
}

export const handler = middy().handler(refreshCore);
