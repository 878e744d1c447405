/**
 * Configuration from the environment, parsed once at cold start. A missing or malformed variable stops the
 * function with a message naming it.
 */
import { z } from "zod";

const envSchema = z.object({
  TABLE_NAME: z.string().min(1),
  BUCKET_NAME: z.string().min(1),
  SERVICE_NAME: z.string().default("segmentation"),
  LOG_LEVEL: z.enum(["DEBUG", "INFO", "WARN", "ERROR", "SILENT"]).default("INFO"),
  AWS_REGION: z.string().default("us-east-1"),
  /** The service's event bus; without it no events are published and settings apply at the next refresh. */
  EVENT_BUS_NAME: z.string().min(1).optional(),
  /** Endpoint overrides for the local service and tests (DynamoDB Local, the S3 server). */
  AWS_ENDPOINT_URL_DYNAMODB: z.url().optional(),
  AWS_ENDPOINT_URL_S3: z.url().optional(),
  /** The state machine of sharded runs; without it every run stays in one function. */
  STATE_MACHINE_ARN: z.string().min(1).optional(),
  /** Transactions uploads larger than this (bytes) run sharded, when a state machine is set. */
  SHARD_THRESHOLD_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(256 * 1024 * 1024),
  /** Tenant of requests whose token carries no tenant claim (see REQUIRE_TENANT_CLAIM). */
  DEFAULT_TENANT: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/)
    .default("demo"),
  /** Routes need the scope `<SCOPE_PREFIX>/read`, `/write` or `/admin` (the stack's `scopePrefix`). */
  SCOPE_PREFIX: z.string().min(1).default("segmentation"),
  /** "true" refuses tokens without a tenant claim (403 TENANT_REQUIRED) instead of using DEFAULT_TENANT. */
  REQUIRE_TENANT_CLAIM: z
    .enum(["true", "false"])
    .default("false")
    .transform((v) => v === "true"),
  /** Names of webhook signing secrets in Secrets Manager start with this; default `<SERVICE_NAME>/webhooks/`. */
  WEBHOOK_SECRET_PREFIX: z.string().min(1).optional(),
  /** Directory of the local secret store (files of mode 0600); set by the local service instead of Secrets Manager. */
  LOCAL_SECRETS_DIR: z.string().min(1).optional(),
  /**
   * Buckets s3 and audience destinations may write to, comma-separated (the stack's `destinationBuckets`;
   * set, even empty, in AWS). Unset, as in the local service, any bucket is accepted.
   */
  DESTINATION_BUCKETS: z
    .string()
    .optional()
    .transform((v) =>
      v === undefined
        ? undefined
        : v
            .split(",")
            .map((b) => b.trim())
            .filter((b) => b.length > 0),
    ),
  /** The queue that wakes the delivery function; without it deliveries wait for the scheduled sweep. */
  DELIVERY_QUEUE_URL: z.url().optional(),
  /** "true" lets webhooks use http and loopback addresses; only the local service sets it. */
  ALLOW_LOOPBACK_WEBHOOKS: z
    .enum(["true", "false"])
    .default("false")
    .transform((v) => v === "true"),
  /** Comma-separated seconds between webhook attempts, overriding the built-in schedule (local service, tests). */
  DELIVERY_RETRY_SCHEDULE: z
    .string()
    .regex(/^\d+(,\d+)*$/, "must be comma-separated whole seconds")
    .optional(),
});

export type Config = z.infer<typeof envSchema>;

export function parseConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new Error(`Invalid configuration: ${fields}`);
  }
  return parsed.data;
}
