/**
 * The service's records and their schemas: datasets, uploads, runs and the per-customer view. Items read
 * back from the table are parsed with these schemas, never cast.
 */
import { z } from "zod";

export const datasetIdSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/,
    "must be 1-64 letters, digits, '-' or '_', starting with a letter or digit",
  );
export const customerIdSchema = z.string().min(1).max(128);
export const segmentIdSchema = z
  .string()
  .regex(/^(rfm|cluster|lifecycle|rule):[a-z0-9][a-z0-9-]{0,63}$/, "must look like 'rfm:champions'");
export const runIdSchema = z.string().regex(/^[A-Za-z0-9_-]{1,80}$/, "is not a run id");

const isoDay = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "must be a date YYYY-MM-DD");

const positiveDays = z.number().int().min(1).max(3650);

/**
 * Per-dataset settings. Every field is optional; what is absent takes the engine's default. They take
 * effect from the next run, which saving them starts.
 */
export const datasetSettingsSchema = z
  .strictObject({
    /** Fixed evaluation date, for historical datasets; otherwise each run evaluates as of its own day (UTC). */
    asOf: isoDay.optional(),
    /** ISO 4217 code the amounts are in; reported with the economics, never converted. */
    currency: z
      .string()
      .regex(/^[A-Z]{3}$/, "must be an ISO 4217 code such as EUR")
      .optional(),
    lifecycle: z
      .strictObject({ newDays: positiveDays, activeDays: positiveDays, lapsedDays: positiveDays })
      .partial()
      .optional(),
    clusters: z
      .strictObject({
        /** Off: no behavioural clusters. */
        enabled: z.boolean(),
        /** A fixed number of clusters; otherwise chosen in [kMin, kMax] by silhouette. */
        k: z.number().int().min(2).max(20),
        kMin: z.number().int().min(2).max(20),
        kMax: z.number().int().min(2).max(20),
        seed: z
          .number()
          .int()
          .min(0)
          .max(2 ** 31 - 1),
      })
      .partial()
      .refine((c) => c.kMin === undefined || c.kMax === undefined || c.kMin <= c.kMax, {
        message: "kMin must not exceed kMax",
        path: ["kMin"],
      })
      .optional(),
    value: z
      .strictObject({
        /** Off: no BG/NBD or Gamma-Gamma predictions. */
        enabled: z.boolean(),
        horizonDays: positiveDays,
        /** Yearly rate at which future value is discounted, e.g. 0.1. */
        annualDiscountRate: z.number().min(0).max(1),
      })
      .partial()
      .optional(),
    /** Whether the daily scheduled refresh recomputes this dataset. Default true. */
    scheduledRefresh: z.boolean().optional(),
  })
  .superRefine((s, ctx) => {
    const l = s.lifecycle;
    if (!l) return;
    if (l.newDays !== undefined && l.activeDays !== undefined && l.newDays > l.activeDays) {
      ctx.addIssue({ code: "custom", path: ["lifecycle", "newDays"], message: "must not exceed activeDays" });
    }
    if (l.activeDays !== undefined && l.lapsedDays !== undefined && l.activeDays >= l.lapsedDays) {
      ctx.addIssue({
        code: "custom",
        path: ["lifecycle", "activeDays"],
        message: "must be less than lapsedDays",
      });
    }
  });
export type DatasetSettings = z.infer<typeof datasetSettingsSchema>;

export const segmentSummarySchema = z.object({
  id: z.string(),
  family: z.enum(["rfm", "cluster", "lifecycle", "rule"]),
  name: z.string(),
  description: z.string(),
  size: z.number(),
  share: z.number(),
  revenue: z.number(),
  revenueShare: z.number(),
  averageOrderValue: z.number(),
  meanClv: z.number().nullable().optional(),
  meanProbabilityAlive: z.number().nullable().optional(),
});
export type StoredSegmentSummary = z.infer<typeof segmentSummarySchema>;

export const currentVersionSchema = z.object({
  version: z.number().int().nonnegative(),
  runId: z.string(),
  asOf: isoDay,
  completedAt: z.string(),
  customerCount: z.number().int().nonnegative(),
  orderCount: z.number().int().nonnegative(),
  segments: z.array(segmentSummarySchema),
  /** The cluster model of this version: what the next run matches its clusters against to keep ids. */
  clusters: z
    .object({
      k: z.number().int(),
      inertia: z.number(),
      featureNames: z.array(z.string()),
      ids: z.array(z.string()),
      descriptions: z.array(z.string()),
      centroids: z.array(z.array(z.number())),
      nextId: z.number().int(),
    })
    .optional(),
  /** The fitted value models (BG/NBD, Gamma-Gamma) and their horizon and discount rate. */
  value: z.record(z.string(), z.unknown()).optional(),
  /** Parts of the computation skipped or done in part, with the reason. */
  issues: z
    .array(
      z.object({ code: z.string(), message: z.string(), stage: z.string(), segment: z.string().optional() }),
    )
    .optional(),
});
export type CurrentVersion = z.infer<typeof currentVersionSchema>;

export const datasetMetaSchema = z.object({
  tenantId: z.string(),
  datasetId: z.string(),
  createdAt: z.string(),
  settings: datasetSettingsSchema.default({}),
  current: currentVersionSchema.optional(),
  /** A version whose run started writing but never committed; the next run repairs what it wrote. */
  pending: z.object({ version: z.number().int(), runId: z.string() }).optional(),
  /** The run attempt that holds the dataset, until when (epoch ms); it renews the lease while it works. */
  lock: z.object({ owner: z.string(), until: z.number() }).optional(),
  /** Creation time of the newest applied `replace` upload; older replace uploads arriving later are stale. */
  lastReplaceUploadAt: z.string().optional(),
});
export type DatasetMeta = z.infer<typeof datasetMetaSchema>;

export const fileKindSchema = z.enum(["transactions", "customers"]);
export const uploadModeSchema = z.enum(["append", "replace"]);
export const fileFormatSchema = z.enum(["csv", "ndjson"]);
export const compressionSchema = z.enum(["none", "gzip", "auto"]);

export const uploadRecordSchema = z.object({
  tenantId: z.string(),
  datasetId: z.string(),
  uploadId: z.string(),
  kind: fileKindSchema,
  mode: uploadModeSchema,
  format: fileFormatSchema,
  compression: compressionSchema,
  columns: z.record(z.string(), z.string()).optional(),
  fileName: z.string(),
  key: z.string(),
  createdAt: z.string(),
  /** Highest S3 event sequencer processed for this key; older events are stale. */
  appliedSequencer: z.string().optional(),
});
export type UploadRecord = z.infer<typeof uploadRecordSchema>;

export const runStatusSchema = z.enum(["running", "succeeded", "failed", "skipped"]);
export type RunStatus = z.infer<typeof runStatusSchema>;

export const runRecordSchema = z.object({
  tenantId: z.string(),
  datasetId: z.string(),
  runId: z.string(),
  /** What started the run: an upload, the daily schedule, or a change of settings or rule segments. */
  trigger: z.enum(["upload", "refresh", "settings", "definitions"]),
  status: runStatusSchema,
  uploadId: z.string().optional(),
  startedAt: z.string(),
  finishedAt: z.string().optional(),
  attempts: z.number().int().default(1),
  version: z.number().int().optional(),
  asOf: z.string().optional(),
  counts: z
    .object({
      rowsRead: z.number(),
      rowsAccepted: z.number(),
      rowsRejected: z.number(),
      ordersAdded: z.number(),
      ordersDuplicate: z.number(),
      customers: z.number(),
      orders: z.number(),
      customersWritten: z.number(),
      membershipsWritten: z.number(),
      /** Customers whose predictions moved, but within the stated tolerance, and were not rewritten. */
      customersWithinTolerance: z.number(),
    })
    .partial()
    .optional(),
  timingsMs: z.record(z.string(), z.number()).optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  reportKey: z.string().optional(),
  segments: z.array(segmentSummarySchema).optional(),
});
export type RunRecord = z.infer<typeof runRecordSchema>;

/** What the table keeps of one customer: everything a lookup returns except recency, derived on read. */
export const customerViewSchema = z.object({
  firstPurchase: z.string(),
  lastPurchase: z.string(),
  frequency: z.number(),
  monetary: z.number(),
  r: z.number(),
  f: z.number(),
  m: z.number(),
  rfm: z.string(),
  lifecycle: z.string().optional(),
  cluster: z.string().optional(),
  probabilityAlive: z.number().optional(),
  expectedPurchases: z.number().optional(),
  clv: z.number().optional(),
  segments: z.array(z.string()),
});
export type CustomerView = z.infer<typeof customerViewSchema>;

/** A saved rule segment. The rule itself is validated by the engine's definition language before saving. */
export const segmentDefinitionRecordSchema = z.object({
  segmentId: z.string(),
  name: z.string(),
  description: z.string().optional(),
  rule: z.unknown(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type SegmentDefinitionRecord = z.infer<typeof segmentDefinitionRecordSchema>;
