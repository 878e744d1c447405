/**
 * The delivery function: sends destinations' pending webhook deliveries (shared/destinations/deliver.ts).
 * Fed by the delivery queue, one wake-up `{tenantId, datasetId, destinationId}` per message (a wake-up whose
 * pass fails is reported as a batch item failure, so SQS retries it and, in the end, moves it to the dead-letter
 * queue), and by a schedule whose events sweep every destination with deliveries due. A pass that runs short
 * of time leaves the rest to another wake-up.
 */
import middy from "@middy/core";
import type { Context, SQSBatchResponse } from "aws-lambda";
import { z } from "zod";
import {
  type DeliveryDeps,
  deliverDestination,
  type SweepReport,
  sweepDeliveries,
} from "../../shared/destinations/deliver";
import { retrySchedule } from "../../shared/destinations/webhook";
import { scheduledEventSchema } from "../../shared/events";
import { errorFields, logger } from "../../shared/logger";
import { metricsMiddleware, recordDeliveries } from "../../shared/metrics";
import type { Runtime } from "../../shared/runtime";

const wakeUpSchema = z.object({
  tenantId: z.string().min(1),
  datasetId: z.string().min(1),
  destinationId: z.string().min(1),
});

const sqsEventSchema = z.object({
  Records: z.array(z.object({ messageId: z.string(), body: z.string() })).min(1),
});

/** Leave this much of the function's time for the attempt under way and its bookkeeping. */
const RESERVE_MS = 25_000;

/** What the delivery function works with. */
export type DeliverSources = Pick<Runtime, "destinations" | "secrets" | "blobs" | "deliveryQueue"> & {
  config: Pick<Runtime["config"], "ALLOW_LOOPBACK_WEBHOOKS" | "DELIVERY_RETRY_SCHEDULE">;
};

/** The worker's dependencies from the runtime. */
export function deliveryDeps(r: DeliverSources, outOfTime?: () => boolean): DeliveryDeps {
  return {
    destinations: r.destinations,
    secrets: r.secrets,
    blobs: r.blobs,
    policy: { allowLoopback: r.config.ALLOW_LOOPBACK_WEBHOOKS },
    schedule: retrySchedule(r.config.DELIVERY_RETRY_SCHEDULE),
    ...(outOfTime ? { outOfTime } : {}),
  };
}

/** The delivery function's core on these dependencies, and its Lambda handler (metrics middleware around it). */
export function createDeliverHandler(rt: DeliverSources) {
  async function deliverCore(
    event: unknown,
    context?: Pick<Context, "getRemainingTimeInMillis">,
  ): Promise<SQSBatchResponse | SweepReport> {
    const outOfTime = context ? () => context.getRemainingTimeInMillis() < RESERVE_MS : undefined;
    const deps = deliveryDeps(rt, outOfTime);
    const sqs = sqsEventSchema.safeParse(event);
    if (sqs.success) {
      const failures: SQSBatchResponse["batchItemFailures"] = [];
      for (const record of sqs.data.Records) {
        let ref: z.infer<typeof wakeUpSchema>;
        try {
          ref = wakeUpSchema.parse(JSON.parse(record.body));
        } catch {
          // A malformed wake-up can never succeed: logged and dropped, never retried.
          logger.error("Malformed delivery wake-up dropped", { messageId: record.messageId });
          continue;
        }
        try {
          const pass = await deliverDestination(deps, ref, Date.now());
          recordDeliveries(pass);
          logger.info("Delivery pass", { destinationId: ref.destinationId, ...pass });
          if (pass.more) await rt.deliveryQueue.notify(ref);
        } catch (error) {
          logger.error("Delivery pass failed", { destinationId: ref.destinationId, ...errorFields(error) });
          failures.push({ itemIdentifier: record.messageId });
        }
      }
      return { batchItemFailures: failures };
    }
    scheduledEventSchema.parse(event);
    const report = await sweepDeliveries(deps, Date.now());
    recordDeliveries(report);
    logger.info("Delivery sweep done", { ...report });
    // Failed so that the function's error alarm sees it; the next sweep visits the same destinations again.
    if (report.errors > 0) throw new Error(`${report.errors} destinations could not be swept`);
    return report;
  }

  return {
    core: deliverCore,
    handler: middy()
      .use(metricsMiddleware())
      .handler((event: unknown, context: Context) => deliverCore(event, context)),
  };
}
