/**
 * The app's deploy-time settings, read from CDK context (`cdk.json` or `-c key=value`) and validated once
 * before any construct is built, so a typo stops `cdk synth` with a message naming the key instead of
 * producing a stack that fails half-way through a deployment.
 */
import { RetentionDays } from "aws-cdk-lib/aws-logs";
import { z } from "zod";

/** Values from `-c key=value` arrive as strings; values from cdk.json keep their JSON type. */
const flag = z.union([z.boolean(), z.stringbool()], { error: "must be true or false" });
const count = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const RETENTION_DAYS = new Set<number>(
  Object.values(RetentionDays).filter((v): v is number => typeof v === "number"),
);

const contextShape = {
  /** Names the stack and tags every resource; one deployment per stage and account. */
  stage: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,15}$/, "lower-case letters, digits and '-', starting with a letter, at most 16")
    .default("dev"),
  /**
   * Deletes the bucket (with its objects) and the table when the stack is destroyed. For throw-away
   * stages only; data stages keep both (RETAIN).
   */
  destroyOnRemoval: flag.default(false),
  logLevel: z.enum(["DEBUG", "INFO", "WARN", "ERROR"]).default("INFO"),
  logRetentionDays: z.coerce
    .number()
    .refine(
      (d) => RETENTION_DAYS.has(d),
      "must be a CloudWatch Logs retention period (1, 3, 5, 7, 14, 30, …)",
    )
    .default(30),
  /** Browser origins allowed to call the API and to POST uploads to the bucket; comma-separated. */
  corsOrigins: z
    .union([z.array(z.string()), z.string().transform((s) => s.split(","))])
    .transform((list) => list.map((o) => o.trim()).filter((o) => o.length > 0))
    .pipe(
      z.array(z.union([z.literal("*"), z.url({ protocol: /^https?$/ })])).min(1, "at least one origin, or *"),
    )
    .default(["*"]),
  /** Steady-state requests per second and burst of the API's default stage. */
  apiRateLimit: count(1, 10_000).default(50),
  apiBurstLimit: count(1, 5_000).default(100),
  /**
   * Concurrency reserved for the pipeline functions. It caps the load one burst of uploads puts on the
   * table, and keeps the API's share of the account's concurrency free.
   */
  computeReservedConcurrency: count(1, 1_000).default(5),
  refreshReservedConcurrency: count(1, 100).default(1),
};

const contextSchema = z.object(contextShape).refine((c) => !(c.destroyOnRemoval && c.stage === "prod"), {
  path: ["destroyOnRemoval"],
  message: "cannot be true for the prod stage",
});

export type AppConfig = z.infer<typeof contextSchema>;

export const CONTEXT_KEYS = Object.keys(contextShape) as Array<keyof typeof contextShape>;

export class ContextError extends Error {
  readonly code = "INVALID_CONTEXT";
  constructor(readonly issues: Array<{ key: string; message: string }>) {
    super(
      `Invalid CDK context: ${issues.map((i) => `${i.key}: ${i.message}`).join("; ")}. ` +
        'Set values in cdk.json "context" or with -c key=value.',
    );
    this.name = "ContextError";
  }
}

/** Parses the app's context; `get` is `app.node.tryGetContext` in the app and a plain lookup in tests. */
export function parseAppConfig(get: (key: string) => unknown): AppConfig {
  const raw: Record<string, unknown> = {};
  for (const key of CONTEXT_KEYS) {
    const value = get(key);
    if (value !== undefined) raw[key] = value;
  }
  const parsed = contextSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ContextError(
      parsed.error.issues.map((i) => ({ key: i.path.join(".") || "(context)", message: i.message })),
    );
  }
  return parsed.data;
}
