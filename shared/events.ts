/** Schemas of the events that start the pipeline: S3 notifications and the EventBridge schedule. */
import { z } from "zod";
import { redeliverySchema } from "./model";

export const s3EventRecordSchema = z.object({
  eventName: z.string(),
  eventTime: z.string(),
  s3: z.object({
    bucket: z.object({ name: z.string() }),
    object: z.object({
      key: z.string(),
      size: z.number().optional(),
      eTag: z.string().optional(),
      sequencer: z.string(),
    }),
  }),
});

export const s3EventSchema = z.object({ Records: z.array(s3EventRecordSchema) });
export type S3EventRecord = z.infer<typeof s3EventRecordSchema>;

export const scheduledEventSchema = z.object({
  id: z.string(),
  time: z.string(),
  "detail-type": z.string().optional(),
});

/** Source of the events the service puts on its bus. */
export const EVENT_SOURCE = "segmentation";

export const DETAIL_TYPES = {
  /** Asks the refresh function to recompute one dataset now (settings or rule segments changed). */
  recomputeRequested: "Recompute Requested",
  /**
   * Asks the refresh function to carry out one erasure; the detail names the erasure record, which holds the
   * customer id until it completes. The event itself carries no customer id.
   */
  erasureRequested: "Erasure Requested",
  /**
   * Starts the work of an abandoned run again (shared/pipeline/abandon.ts): an upload goes to the compute
   * function, a refresh or an erasure to the refresh function. The detail names the upload or the erasure
   * record by id; it carries no customer data.
   */
  runRedelivery: "Run Redelivery Requested",
} as const;

export const recomputeDetailSchema = z.object({
  tenantId: z.string(),
  datasetId: z.string(),
  reason: z.enum(["settings", "definitions"]),
});

export const runRedeliveryDetailSchema = z.object({
  tenantId: z.string(),
  datasetId: z.string(),
  redelivery: redeliverySchema,
  retry: z.object({
    runId: z.string(),
    abandonments: z.number().int().positive(),
    requeuedAt: z.string(),
  }),
});
export type RunRedeliveryDetail = z.infer<typeof runRedeliveryDetailSchema>;

/** A redelivery as EventBridge hands it to a function. */
export const runRedeliveryEventSchema = z.object({
  id: z.string(),
  time: z.string(),
  "detail-type": z.literal(DETAIL_TYPES.runRedelivery),
  detail: runRedeliveryDetailSchema,
});

export const erasureDetailSchema = z.object({
  tenantId: z.string(),
  datasetId: z.string(),
  erasureId: z.string(),
});

/**
 * What the refresh function receives: the daily schedule, a request to recompute one dataset, or a request
 * to erase one customer.
 */
export const refreshEventSchema = z.discriminatedUnion("detail-type", [
  z.object({
    id: z.string(),
    time: z.string(),
    "detail-type": z.literal(DETAIL_TYPES.recomputeRequested),
    detail: recomputeDetailSchema,
  }),
  z.object({
    id: z.string(),
    time: z.string(),
    "detail-type": z.literal(DETAIL_TYPES.erasureRequested),
    detail: erasureDetailSchema,
  }),
  z.object({ id: z.string(), time: z.string(), "detail-type": z.literal("Scheduled Event") }),
  runRedeliveryEventSchema,
]);

/** S3 event keys are URL-encoded with spaces as '+'. */
export function decodeS3Key(key: string): string {
  return decodeURIComponent(key.replace(/\+/g, " "));
}
