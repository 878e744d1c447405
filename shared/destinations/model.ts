/**
 * Destinations of a dataset: where the service sends what a committed run changed. A webhook receives the
 * ids that entered and left each followed segment; an S3 destination receives each followed segment's full
 * member list; an audience destination receives ad-platform upload files. Records read back from the table are
 * parsed with these schemas, never cast. No record here ever carries a customer id or a secret.
 */
import { createHash, randomBytes } from "node:crypto";
import { z } from "zod";
import { SEGMENT_ID_PATTERN } from "../engine/segment-ids";

/** At most this many destinations per dataset. */
export const MAX_DESTINATIONS_PER_DATASET = 20;
/** A destination follows 1 to this many segments. */
export const MAX_FOLLOWED_SEGMENTS = 50;
/** A webhook delivery carries at most this many ids (entered and left together). */
export const MAX_IDS_PER_DELIVERY = 1_000;
/** Attempt log entries are kept this long (DynamoDB TTL). */
export const ATTEMPT_LOG_TTL_SECONDS = 30 * 24 * 3600;

const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";

/** A random id: prefix + 20 base32 characters (100 bits). */
export function randomId(prefix: string): string {
  const bytes = randomBytes(20);
  let out = prefix;
  for (const byte of bytes) out += BASE32[byte & 31];
  return out;
}

export const newDestinationId = () => randomId("dst_");
export const newWebhookId = () => randomId("msg_");

/**
 * The `webhook-id` of one delivery: the same for the same destination, run, segment and part, so that
 * planning a run again (the sweeper serving a run whose process died while planning) names each message as
 * the first planning did and can leave out those the outbox already holds. "msg_" + 20 base32 characters of
 * a SHA-256 of the four.
 */
export function webhookIdFor(destinationId: string, runId: string, segmentId: string, part: number): string {
  const digest = createHash("sha256").update(`${destinationId}\n${runId}\n${segmentId}\n${part}`).digest();
  let out = "msg_";
  for (let i = 0; i < 20; i++) out += BASE32[(digest[i] as number) & 31];
  return out;
}

export const destinationIdSchema = z.string().regex(/^dst_[a-z2-7]{20}$/, "is not a destination id");

/** A segment id of any family, lists included. */
export const followedSegmentIdSchema = z
  .string()
  .regex(SEGMENT_ID_PATTERN, "must be a segment id such as 'rfm:champions'");

export const destinationKindSchema = z.enum(["webhook", "s3", "audience"]);
export type DestinationKind = z.infer<typeof destinationKindSchema>;
export const destinationStatusSchema = z.enum(["enabled", "disabled"]);
export type DestinationStatus = z.infer<typeof destinationStatusSchema>;

/**
 * An S3 bucket name as S3 documents the rules for general purpose buckets: 3-63 characters of lower-case
 * letters, digits, '.' and '-', starting and ending with a letter or digit, no "..", not an IP address, and
 * none of the reserved prefixes and suffixes.
 */
export const bucketNameSchema = z
  .string()
  .min(3, "must be 3-63 characters")
  .max(63, "must be 3-63 characters")
  .regex(/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/, "must be lower-case letters, digits, '.' and '-'")
  .refine((s) => !s.includes(".."), "must not contain '..'")
  .refine((s) => !/^\d+\.\d+\.\d+\.\d+$/.test(s), "must not look like an IP address")
  .refine(
    (s) =>
      !/^(xn--|sthree-|amzn-s3-demo-)/.test(s) && !/(-s3alias|--ol-s3|\.mrap|--x-s3|--table-s3)$/.test(s),
    "uses a prefix or suffix S3 reserves",
  );

/** An object key prefix: empty, or segments without "..", not starting with "/", ending with "/" added if absent. */
export const keyPrefixSchema = z
  .string()
  .max(512)
  .regex(/^[A-Za-z0-9!_.*'()/-]*$/, "must use letters, digits and !_.*'()/- only")
  .refine((s) => !s.startsWith("/") && !s.split("/").includes(".."), "must not start with '/' or hold '..'")
  .transform((s) => (s === "" || s.endsWith("/") ? s : `${s}/`));

export const webhookConfigSchema = z.object({
  url: z.string(),
  /** Reference of the signing secret in the secret store; never the secret itself. */
  secretRef: z.string(),
  rotatedAt: z.string().optional(),
  /** The secret before the last rotation, still signing alongside the new one until previousSecretUntil. */
  previousSecretRef: z.string().optional(),
  previousSecretUntil: z.string().optional(),
});

/** The 12-digit AWS account that must own a destination's bucket; S3 refuses the write to any other's. */
export const accountIdSchema = z.string().regex(/^\d{12}$/, "must be a 12-digit AWS account id");

export const s3ConfigSchema = z.object({
  bucket: z.string(),
  prefix: z.string(),
  format: z.enum(["csv", "jsonl"]),
  expectedBucketOwner: accountIdSchema.optional(),
});

export const audienceConfigSchema = z.object({
  platform: z.enum(["google", "meta"]),
  bucket: z.string(),
  prefix: z.string(),
  expectedBucketOwner: accountIdSchema.optional(),
});

export const destinationRecordSchema = z.object({
  tenantId: z.string(),
  datasetId: z.string(),
  destinationId: z.string(),
  name: z.string(),
  kind: destinationKindSchema,
  segments: z.array(z.string()),
  includeOptedOut: z.boolean().default(false),
  status: destinationStatusSchema,
  disabledReason: z.string().optional(),
  disabledAt: z.string().optional(),
  consecutiveFailures: z.number().int().nonnegative().default(0),
  createdAt: z.string(),
  updatedAt: z.string(),
  webhook: webhookConfigSchema.optional(),
  s3: s3ConfigSchema.optional(),
  audience: audienceConfigSchema.optional(),
});
export type DestinationRecord = z.infer<typeof destinationRecordSchema>;

/** Which destination: every port call names it by these three. */
export interface DestinationRef {
  tenantId: string;
  datasetId: string;
  destinationId: string;
}

export const deliveryStatusSchema = z.enum(["pending", "delivered", "failed"]);
export type DeliveryStatus = z.infer<typeof deliveryStatusSchema>;

/** One webhook message in a destination's outbox. Counts only: the ids are in the payload object. */
export const deliveryRecordSchema = z.object({
  destinationId: z.string(),
  /** Per-destination, increasing in run order; deliveries go out strictly in this order. */
  seq: z.number().int().positive(),
  /** The Standard Webhooks `webhook-id`, the same on every attempt. */
  webhookId: z.string(),
  runId: z.string(),
  version: z.number().int(),
  segmentId: z.string(),
  part: z.number().int().positive(),
  parts: z.number().int().positive(),
  /** Key in the service bucket of the JSON body. */
  payloadKey: z.string(),
  status: deliveryStatusSchema,
  attempts: z.number().int().nonnegative(),
  /** Epoch ms of the next attempt. */
  nextAttemptAt: z.number(),
  firstAttemptAt: z.string().optional(),
  lastStatusCode: z.number().int().optional(),
  lastError: z.string().optional(),
  createdAt: z.string(),
  entered: z.number().int().nonnegative(),
  left: z.number().int().nonnegative(),
});
export type DeliveryRecord = z.infer<typeof deliveryRecordSchema>;

/** A delivery as it is enqueued: the store assigns destinationId and seq. */
export type NewDelivery = Omit<DeliveryRecord, "destinationId" | "seq">;

export const deliveryAttemptSchema = z.object({
  at: z.string(),
  webhookId: z.string(),
  seq: z.number().int(),
  attempt: z.number().int().positive(),
  statusCode: z.number().int().optional(),
  latencyMs: z.number().nonnegative(),
  outcome: z.enum(["delivered", "retry", "failed"]),
  error: z.string().optional(),
});
export type DeliveryAttempt = z.infer<typeof deliveryAttemptSchema>;

/** The JSON body of one webhook delivery, stored at the delivery's payloadKey. */
export interface MembershipChangedPayload {
  type: "segment.membership.changed";
  timestamp: string;
  data: {
    tenantId?: string;
    datasetId: string;
    runId: string;
    version: number;
    asOf: string;
    segmentId: string;
    segmentName: string;
    part: number;
    parts: number;
    entered: string[];
    left: string[];
  };
}
