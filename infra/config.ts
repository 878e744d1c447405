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
/** A list from cdk.json (a JSON array) or from `-c key=a,b` (one comma-separated string). */
const list = z
  .union([z.array(z.string()), z.string().transform((s) => s.split(","))])
  .transform((items) => items.map((item) => item.trim()).filter((item) => item.length > 0));
/** Cognito allows plain http only for loopback redirects (native and CLI clients). */
const callbackUrl = z.url({ protocol: /^https?$/ }).refine((u) => {
  const { protocol, hostname } = new URL(u);
  return protocol === "https:" || hostname === "localhost" || hostname === "127.0.0.1";
}, "must be https, or http on localhost");

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
  /**
   * Browser origins allowed to call the API and to POST uploads to the bucket, besides the dashboard's own
   * (added by the stack when `site` is on); comma-separated. None by default: only the dashboard may.
   */
  corsOrigins: list.pipe(z.array(z.union([z.literal("*"), z.url({ protocol: /^https?$/ })]))).default([]),
  /** Deploys the dashboard (web/) to a private bucket behind CloudFront. */
  site: flag.default(true),
  /** Steady-state requests per second and burst of the API's default stage. */
  apiRateLimit: count(1, 10_000).default(50),
  apiBurstLimit: count(1, 5_000).default(100),
  /**
   * Concurrency reserved for the pipeline functions. It caps the load one burst of uploads puts on the
   * table, and keeps the API's share of the account's concurrency free.
   */
  computeReservedConcurrency: count(1, 1_000).default(5),
  refreshReservedConcurrency: count(1, 100).default(1),
  /**
   * Uploads of transactions larger than this (MB) run sharded on Step Functions instead of in the compute
   * function (see BENCHMARKS.md, capacity model). Datasets that ran sharded stay sharded.
   */
  shardThresholdMb: count(1, 5 * 1024).default(256),
  /**
   * Buckets that S3 member-list and ad-audience destinations may write to (names, comma-separated). The
   * runs may put objects in these and no other bucket outside the stack; with none, the API refuses those
   * destination kinds. Each bucket's own policy must let the stack's run functions put objects.
   */
  destinationBuckets: list
    .pipe(
      z.array(
        z
          .string()
          .regex(
            /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
            "an S3 bucket name: 3 to 63 lower-case letters, digits, '.' and '-'",
          ),
      ),
    )
    .default([]),
  /**
   * Concurrency reserved for the webhook delivery function; its queue trigger uses all but one of it, so
   * the minute's sweep always finds room.
   */
  deliveryReservedConcurrency: count(3, 100).default(5),
  /** Steps of one distributed map running at once, and the shard workers' reserved concurrency. */
  shardMaxConcurrency: count(1, 1_000).default(20),
  /**
   * An existing OpenID Connect issuer (the `iss` of its access tokens) to authenticate callers with,
   * instead of the Cognito user pool the stack creates otherwise. Set together with `oidcAudience`.
   */
  oidcIssuer: z.url({ protocol: /^https$/, error: "must be an https URL" }).optional(),
  /** Accepted `aud` (or, for tokens without one, `client_id`) values of the issuer's tokens; comma-separated. */
  oidcAudience: list.pipe(z.array(z.string()).min(1, "at least one audience")).optional(),
  /**
   * Routes require the scope `<scopePrefix>/read`, `/write` or `/admin`. It is also the identifier of the
   * Cognito resource server that defines them; with an OIDC issuer it must match the scopes it issues.
   */
  scopePrefix: z
    .string()
    .regex(
      /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,126}[A-Za-z0-9]$/,
      "letters, digits and . _ : / -, starting and ending with a letter or digit",
    )
    .default("segmentation"),
  /**
   * Prefix of the Cognito domain that serves the token endpoint (`https://<prefix>.auth.<region>.amazoncognito.com`).
   * Unique per region across all AWS accounts; defaults to `segmentation-<stage>-<account id>`.
   */
  authDomainPrefix: z
    .string()
    .regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, "lower-case letters, digits and '-', at most 63")
    .refine((p) => !/aws|amazon|cognito/.test(p), "must not contain aws, amazon or cognito")
    .optional(),
  /** Where the Cognito user client may send users back to with an authorization code; comma-separated. */
  authCallbackUrls: list
    .pipe(z.array(callbackUrl).min(1, "at least one callback URL"))
    .default(["http://localhost:8080/callback"]),
  /**
   * Tenant of a request whose token carries no `tenant` / `custom:tenant` claim. With the Cognito pool as
   * created here every token is such a request (see infra/constructs/auth.ts), so this names the
   * deployment's single tenant.
   */
  defaultTenant: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, "letters, digits, '_' and '-', at most 64")
    .default("default"),
};

const contextSchema = z
  .object(contextShape)
  .refine((c) => !(c.destroyOnRemoval && c.stage === "prod"), {
    path: ["destroyOnRemoval"],
    message: "cannot be true for the prod stage",
  })
  .refine((c) => (c.oidcIssuer === undefined) === (c.oidcAudience === undefined), {
    path: ["oidcAudience"],
    message: "oidcIssuer and oidcAudience are set together or not at all",
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
