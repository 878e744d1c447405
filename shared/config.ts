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
  /** Endpoint overrides for the local service and tests (DynamoDB Local, the S3 server). */
  AWS_ENDPOINT_URL_DYNAMODB: z.url().optional(),
  AWS_ENDPOINT_URL_S3: z.url().optional(),
  /** Tenant used when a request carries no tenant claim (local service, before authentication is on). */
  DEFAULT_TENANT: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/)
    .default("demo"),
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
