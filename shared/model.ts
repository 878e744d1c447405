/**
 * The service's records and their schemas: datasets, uploads, runs and the per-customer view. Items read
 * back from the table are parsed with these schemas, never cast.
 */
import { z } from "zod";
import {
  ATTRIBUTE_FAMILY_LIMITS,
  ATTRIBUTE_FAMILY_TYPES,
  attributeFamilyProblems,
  COHORTS,
} from "./engine/attribute-families";
import { CLUSTER_DEFAULTS } from "./engine/clusters";
import { parseDay } from "./engine/days";
import { ComputeError } from "./engine/errors";
import { LIFECYCLE_DEFAULTS } from "./engine/lifecycle";
import { MAX_RFM_AMOUNT, resolveRfmThresholds } from "./engine/rfm";
import { SEGMENT_ID_PATTERN } from "./engine/segment-ids";

export const datasetIdSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/,
    "must be 1-64 letters, digits, '-' or '_', starting with a letter or digit",
  );
export const customerIdSchema = z.string().min(1).max(128);
export const segmentIdSchema = z
  .string()
  .regex(SEGMENT_ID_PATTERN, "must look like 'rfm:champions' or 'attr:country:no'");
export const runIdSchema = z.string().regex(/^[A-Za-z0-9_-]{1,80}$/, "is not a run id");

/** A calendar day as the engine reads it: "2025-02-31" has the form but no day, and would fail every run. */
const isoDay = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, "must be a date YYYY-MM-DD")
  .refine((s) => parseDay(s) !== undefined, "must be a calendar date");

const positiveDays = z.number().int().min(1).max(3650);

/** Four increasing cut points of one RFM score, checked by the engine's own rules (rfm.ts). */
function cutPoints(key: "r" | "f" | "m", value: z.ZodNumber) {
  return z
    .array(value)
    .length(4)
    .superRefine((cuts, ctx) => {
      if (cuts.length !== 4) return;
      try {
        resolveRfmThresholds({ thresholds: { [key]: cuts } });
      } catch (error) {
        if (!(error instanceof ComputeError)) throw error;
        const at = /\[(\d)\]$/.exec(error.field ?? "");
        ctx.addIssue({ code: "custom", message: error.message, ...(at ? { path: [Number(at[1])] } : {}) });
      }
    });
}

/** The name of a customer attribute, as a customers file's header names it. */
const attributeNameSchema = z.string().trim().min(1).max(128);

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
    rfm: z
      .strictObject({
        /**
         * Fixed score thresholds instead of scores ranked on the data, each of r, f, m optional: four
         * increasing cut points. r in days since the last purchase (≤ r[0] scores 5 … > r[3] scores 1); f in
         * purchase days and m in currency units (≥ cut k adds one to a base score of 1).
         */
        thresholds: z
          .strictObject({
            r: cutPoints("r", z.number().int().min(0).max(36_500)),
            f: cutPoints("f", z.number().int().min(1).max(36_500)),
            m: cutPoints("m", z.number().min(-MAX_RFM_AMOUNT).max(MAX_RFM_AMOUNT)),
          })
          .partial(),
      })
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
      // With the engine's defaults for what is left out (kMin 3, kMax the larger of 8 and kMin), as a run
      // would resolve them: { kMax: 2 } alone fails here, not on every run.
      .refine(
        (c) => {
          const kMin = c.kMin ?? CLUSTER_DEFAULTS.kMin;
          return kMin <= (c.kMax ?? Math.max(CLUSTER_DEFAULTS.kMax, kMin));
        },
        { message: "kMin (default 3) must not exceed kMax (default 8)", path: ["kMin"] },
      )
      .optional(),
    value: z
      .strictObject({
        /** Off: no repeat-purchase or Gamma-Gamma predictions. */
        enabled: z.boolean(),
        horizonDays: positiveDays,
        /** Yearly rate at which future value is discounted, e.g. 0.1. */
        annualDiscountRate: z.number().min(0).max(1),
        /**
         * Days of recent history held out to validate the models: each run fits them on the orders up to
         * asOf − holdoutDays and compares their predictions with what customers did since. Default a quarter
         * of the span from the first order to asOf, at most 365.
         */
        holdoutDays: positiveDays,
        /** The repeat-purchase model to serve; "auto" (default) takes the one with the lowest holdout error. */
        model: z.enum(["auto", "bgNbd", "paretoNbd", "mbgNbd"]),
      })
      .partial()
      .optional(),
    /** Whether the daily scheduled refresh recomputes this dataset. Default true. */
    scheduledRefresh: z.boolean().optional(),
    /**
     * The customer attribute that records an opt-out (default "opt_out"): a customer whose value is true,
     * "yes", "1" or "ALL" (any letter case) is left out of every destination unless it includes opted-out
     * customers. A Pinpoint import sets "opt_out" from the endpoints' OptOut.
     */
    consent: z.strictObject({ optOutAttribute: attributeNameSchema }).partial().optional(),
    /** The customer attributes holding an email address (default "email") and a phone number (default "phone"). */
    contact: z
      .strictObject({ emailAttribute: attributeNameSchema, phoneAttribute: attributeNameSchema })
      .partial()
      .optional(),
    /**
     * Customer attributes to segment by, each a family of segments `attr:<attribute>:<value>` (README
     * "Attribute segments"): categorical values (the top N, the rest in "other"), numeric bands at breaks, or
     * date cohorts; customers without a value in "unknown".
     */
    segmentBy: z
      .array(
        z.strictObject({
          /** The attribute's name, as the customers file's header has it. */
          attribute: attributeNameSchema,
          /** Default: numeric with breaks, a date with cohort, else the attribute's own type. */
          type: z.enum(ATTRIBUTE_FAMILY_TYPES).optional(),
          /** Categorical: the values with a segment of their own, by customers. Default 10. */
          top: z.number().int().min(1).max(ATTRIBUTE_FAMILY_LIMITS.maxTop).optional(),
          /** Numeric: strictly increasing band edges; a band holds [b_i, b_i+1). */
          breaks: z.array(z.number()).min(1).max(ATTRIBUTE_FAMILY_LIMITS.maxBreaks).optional(),
          /** Date: cohort length. Default "month". */
          cohort: z.enum(COHORTS).optional(),
        }),
      )
      .max(ATTRIBUTE_FAMILY_LIMITS.maxFamilies)
      // The engine's own check (increasing breaks, keys that fit the type, no attribute or id twice), once
      // every entry has the right shape, so that a problem is reported once.
      .superRefine(
        (entries, ctx) => {
          for (const p of attributeFamilyProblems(entries))
            ctx.addIssue({ code: "custom", path: p.path, message: p.message });
        },
        { when: (payload) => payload.issues.length === 0 },
      )
      .optional(),
    /**
     * Segment profiles (README "Segment profiles"): cells of fewer than k customers are hidden (default 10),
     * each table lists its top values by name (default 10), and the customer attributes described (default:
     * every attribute but the list, contact and consent ones, the first 30 by name).
     */
    profiles: z
      .strictObject({
        k: z.number().int().min(2).max(1000),
        top: z.number().int().min(1).max(50),
        attributes: z.array(attributeNameSchema).max(30),
      })
      .partial()
      .optional(),
    /**
     * Next best category (README "Next best category"): on unless enabled is false; the lift is measured in
     * the segments of `family` (default "rfm"); each run measures its hit rate on the last holdoutDays days of
     * orders (default 90). A category needs profiles.k buyers in a segment to be recommended there.
     */
    nextBestCategory: z
      .strictObject({
        enabled: z.boolean(),
        family: z.enum(["rfm", "lifecycle"]),
        holdoutDays: z.number().int().min(1).max(3650),
      })
      .partial()
      .optional(),
  })
  .superRefine((s, ctx) => {
    const l = s.lifecycle;
    if (!l) return;
    // Compared with the engine's defaults for what is left out, as a run resolves them: { newDays: 200 }
    // alone exceeds the default activeDays and fails here, not on every run.
    const { newDays, activeDays, lapsedDays } = { ...LIFECYCLE_DEFAULTS, ...l };
    if (newDays > activeDays) {
      ctx.addIssue({
        code: "custom",
        path: ["lifecycle", l.newDays !== undefined ? "newDays" : "activeDays"],
        message: "newDays must not exceed activeDays (defaults 30 and 90)",
      });
    }
    if (activeDays >= lapsedDays) {
      ctx.addIssue({
        code: "custom",
        path: ["lifecycle", l.activeDays !== undefined ? "activeDays" : "lapsedDays"],
        message: "activeDays must be less than lapsedDays (defaults 90 and 180)",
      });
    }
  });
export type DatasetSettings = z.infer<typeof datasetSettingsSchema>;

export const segmentSummarySchema = z.object({
  id: z.string(),
  family: z.enum(["rfm", "cluster", "lifecycle", "rule", "list", "attr", "lookalike"]),
  name: z.string(),
  description: z.string(),
  size: z.number(),
  share: z.number(),
  revenue: z.number().describe("Net revenue of the members, exact to the cent (summed in integer cents)"),
  revenueShare: z.number(),
  averageOrderValue: z
    .number()
    .describe("Net revenue / orders of the members, to the cent (halves away from zero); 0 without orders"),
  meanClv: z
    .number()
    .nullable()
    .optional()
    .describe("Mean of the members' CLVs, each to the cent, rounded to the cent (halves away from zero)"),
  /** 80% interval of meanClv from the models' parameter uncertainty; null without one. */
  meanClvLow: z.number().nullable().optional(),
  meanClvHigh: z.number().nullable().optional(),
  meanProbabilityAlive: z.number().nullable().optional(),
  /** Who the members are: mean recency, orders and spend, and how they spread over RFM segments and stages. */
  profile: z
    .object({
      meanRecencyDays: z.number().nullable(),
      meanFrequency: z.number().nullable(),
      meanMonetary: z.number().nullable(),
      /** Members per RFM segment id. */
      rfm: z.record(z.string(), z.number()),
      /** Members per lifecycle stage id. */
      lifecycle: z.record(z.string(), z.number()),
    })
    .optional(),
  /** Attribute segments: the attribute and value (or band, cohort, other, unknown) the segment stands for. */
  attribute: z
    .object({
      name: z.string(),
      value: z.string().nullable(),
      kind: z.enum(["value", "other", "unknown", "band", "cohort"]),
    })
    .optional(),
  /** Lookalike segments: the model behind the segment (README "Lookalike segments"). */
  lookalike: z
    .object({
      seed: z.string().describe("The seed segment's id"),
      seedSize: z.number().int(),
      trained: z.object({ seed: z.number().int(), rest: z.number().int() }),
      heldOut: z.object({ seed: z.number().int(), rest: z.number().int() }),
      auc: z
        .number()
        .nullable()
        .describe("Out-of-sample AUC on the held-out part; null when the seed is too small to hold out"),
      lambda: z.number().describe("The L2 penalty on the standardised coefficients"),
      features: z
        .array(z.object({ name: z.string(), weight: z.number() }))
        .describe("The 10 features with the largest |standardised weight|, sign kept"),
    })
    .optional(),
});
export type StoredSegmentSummary = z.infer<typeof segmentSummarySchema>;

/** A run's next best category report (shared/engine/next-best-category.ts NbcReport). */
export const nbcReportSchema = z.union([
  z.object({
    family: z.enum(["rfm", "lifecycle"]),
    holdoutDays: z.number().int(),
    calibrationEnd: isoDay,
    customersEvaluated: z.number().int().nonnegative(),
    hits: z.number().int().nonnegative(),
    hitRate: z.number(),
    baselineHits: z.number().int().nonnegative(),
    baselineHitRate: z.number(),
  }),
  z.object({
    family: z.enum(["rfm", "lifecycle"]),
    skipped: z.object({
      code: z.enum(["NBC_NO_CATEGORIES", "NBC_NO_ORDERS", "NBC_TOO_LITTLE_HISTORY"]),
      message: z.string(),
    }),
  }),
]);

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
  /**
   * The served value model (engine/clv/served.ts ServedValueModel) as JSON text: what a reader predicts a
   * customer from, with the customer's stored inputs, at this version's asOf. Text, so that every double
   * comes back exactly whatever its size (DynamoDB numbers and the document client are narrower).
   */
  servedValue: z.string().optional(),
  /**
   * Set when the version was computed sharded (Step Functions): the replace upload it was computed from. Such
   * a dataset keeps no single aggregate state; a refresh recomputes it from this upload, sharded again.
   */
  source: z
    .object({ uploadId: z.string(), key: z.string(), size: z.number().int().nonnegative() })
    .optional(),
  /**
   * Customers per cell of the RFM segments' grid (rfmGrid[r - 1][fm - 1]: recency score r, frequency-and-
   * monetary score fm), and a histogram of predicted CLV (absent without the value models).
   */
  distributions: z
    .object({
      rfmGrid: z.array(z.array(z.number().int().nonnegative())),
      clv: z
        .object({ edges: z.array(z.number()), counts: z.array(z.number().int().nonnegative()) })
        .optional(),
    })
    .optional(),
  /**
   * Fingerprint of what the version was computed from besides its state: the settings, the rule segments and
   * the evaluation date. A refresh that finds the same fingerprint would compute the same result, and is a
   * no-op (shared/pipeline/run.ts).
   */
  inputs: z.string().optional(),
  /** Parts of the computation skipped or done in part, with the reason. */
  issues: z
    .array(
      z.object({ code: z.string(), message: z.string(), stage: z.string(), segment: z.string().optional() }),
    )
    .optional(),
  /** The next best category's hit rate on held-out orders against the most popular category, or why not. */
  nextBestCategory: nbcReportSchema.optional(),
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
  /**
   * Key (base64, 32 random bytes) of the HMAC that erasure records keep of an erased customer id, made by the
   * dataset's first erasure request. Its presence tells a run that the dataset has erased customers to keep out.
   */
  erasureSalt: z.string().optional(),
});
export type DatasetMeta = z.infer<typeof datasetMetaSchema>;

/** `pinpoint-endpoints`: customers from the JSON lines of an Amazon Pinpoint endpoint export (engine/pinpoint.ts). */
export const fileKindSchema = z.enum(["transactions", "customers", "pinpoint-endpoints"]);
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
  /**
   * ETags of the object as the service itself rewrote it to remove erased customers. The S3 event of such a
   * rewrite is recognised by its ETag and skipped, so a rewrite never starts a run of its own.
   */
  erasureEtags: z.array(z.string()).optional(),
});
export type UploadRecord = z.infer<typeof uploadRecordSchema>;

/**
 * What starts a run's work again: the event that started it (an upload's S3 event, a refresh or recompute
 * request, an erasure request), reduced to what the pipeline reads of it.
 */
export const redeliverySchema = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("upload"),
    uploadId: z.string(),
    key: z.string(),
    sequencer: z.string(),
    eventTime: z.string(),
    eTag: z.string().optional(),
    size: z.number().int().nonnegative().optional(),
  }),
  z.object({
    kind: z.literal("refresh"),
    trigger: z.enum(["refresh", "settings", "definitions"]),
    eventId: z.string(),
    eventTime: z.string(),
  }),
  z.object({ kind: z.literal("erasure"), erasureId: z.string(), eventTime: z.string() }),
]);
export type Redelivery = z.infer<typeof redeliverySchema>;

/**
 * `abandoned`: the attempt working on the run stopped without a word (its process died or timed out, so
 * its lease on the dataset lapsed); the run is closed and its work started again as a new run (`retriedBy`).
 */
export const runStatusSchema = z.enum(["running", "succeeded", "failed", "skipped", "abandoned"]);
export type RunStatus = z.infer<typeof runStatusSchema>;

export const runProgressSchema = z.object({
  phase: z.enum(["reading", "computing", "writing"]),
  /** Share of the run's work done, 0 to 100: reading the file up to 5, computing up to 15, writing the rest. */
  percent: z.number().min(0).max(100),
  /** Bytes of the uploaded file read so far. */
  bytesRead: z.number().int().optional(),
  customersWritten: z.number().int().optional(),
  customersTotal: z.number().int().optional(),
  updatedAt: z.string(),
});
export type RunProgress = z.infer<typeof runProgressSchema>;

export const runRecordSchema = z.object({
  tenantId: z.string(),
  datasetId: z.string(),
  runId: z.string(),
  /**
   * What started the run: an upload, the daily schedule, a change of settings or rule segments, or the
   * erasure of a customer.
   */
  trigger: z.enum(["upload", "refresh", "settings", "definitions", "erasure"]),
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
      /** Customers of the file left out because they were erased from the dataset earlier. */
      customersSuppressed: z.number(),
      /** Customers an erasure run removed (0 when the customer was not in the dataset's state). */
      customersErased: z.number(),
      /** Pinpoint imports: endpoint lines read without fault (those without a user id included). */
      endpoints: z.number(),
      /** Pinpoint imports: endpoints skipped for having no User.UserId. */
      endpointsWithoutUserId: z.number(),
      /** Pinpoint imports: endpoints with EndpointStatus INACTIVE (no address, channel or opt-out taken). */
      endpointsInactive: z.number(),
      /** Pinpoint imports: distinct users of the file, each one customer. */
      endpointUsers: z.number(),
      /** Membership-history entries made (in the customer items): one per customer whose segments changed. */
      historyWritten: z.number(),
    })
    .partial()
    .optional(),
  timingsMs: z.record(z.string(), z.number()).optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  reportKey: z
    .string()
    .optional()
    .describe(
      "The rejected-rows report (CSV: line,column,code,reason), where line is the file's line number, the header being line 1, on which the rejected record starts",
    ),
  /**
   * How far a running run has got, for a runner that reports it (the local service does, about once a
   * second); absent once the run has ended.
   */
  progress: runProgressSchema.optional(),
  segments: z.array(segmentSummarySchema).optional(),
  /** The abandoned run whose work this run does again. */
  retryOf: z.string().optional(),
  /** The run started to do this abandoned run's work again. */
  retriedBy: z.string().optional(),
  /** Runs of this same work abandoned before this one (0 or absent for the first). */
  abandonments: z.number().int().nonnegative().optional(),
  /** When the service last started this run's work again (a redelivery after an abandonment). */
  requeuedAt: z.string().optional(),
  /** The event that started the run, kept so that the run can be started again if it is abandoned. */
  redelivery: redeliverySchema.optional(),
  /**
   * When the destinations of a committed run were served (its webhook deliveries planned and its files
   * written); absent until then, and the sweeper serves a committed current version that lacks it.
   */
  destinationsServedAt: z.string().optional(),
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
  /** 80% interval of expectedPurchases and of clv, from the models' parameter uncertainty. */
  expectedPurchasesLow: z.number().optional(),
  expectedPurchasesHigh: z.number().optional(),
  clv: z.number().optional(),
  clvLow: z.number().optional(),
  clvHigh: z.number().optional(),
  /** Repeat purchases (distinct purchase days − 1) the value models saw; set with the predictions. */
  repeatPurchases: z.number().optional(),
  /** The category recommended next (README "Next best category"); absent when there is none. */
  nextBestCategory: z.string().optional(),
  /**
   * The value models' inputs of the customer (engine/clv/served.ts CustomerValueInputs), set with the
   * predictions: what a reader predicts the customer from with the version's served model. Internal: no
   * answer, export or payload shows it.
   */
  valueInputs: z
    .object({
      x: z.number(),
      tx: z.number(),
      firstDay: z.number(),
      mx: z.number(),
      fallbackOrderValue: z.number(),
    })
    .optional(),
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

export const erasureStatusSchema = z.enum(["requested", "completed"]);

/** What an erasure removed, counted; never what the data was. */
export const erasureCountsSchema = z.object({
  /** 1 when the customer was in the dataset's state and a new version without them was published. */
  customersErased: z.number().int(),
  /** Table items of the customer deleted: their item and their segment memberships. */
  itemsDeleted: z.number().int(),
  /** Uploaded files rewritten without the customer's rows. */
  uploadsRewritten: z.number().int(),
  /** Uploaded files deleted because they could not be read to tell the customer's rows apart. */
  uploadsDeleted: z.number().int(),
  /** Rows of the customer removed from uploaded files. */
  rowsRemoved: z.number().int(),
  /** Malformed rows (which no run ever used) dropped from rewritten files, whoever they named. */
  unreadableRowsDropped: z.number().int(),
  /** Files of earlier versions (aggregate state and per-customer view) deleted. */
  stateObjectsDeleted: z.number().int(),
  /** Member exports of the dataset deleted. */
  exportsDeleted: z.number().int(),
  /**
   * Membership-history entries of the customer deleted with their item, which carries them (absent on erasures
   * recorded before history).
   */
  historyItemsDeleted: z.number().int().default(0),
  /**
   * Files of s3 and audience destinations (the runs the service still holds) rewritten without the customer
   * (absent on erasures recorded before destinations).
   */
  destinationFilesRewritten: z.number().int().default(0),
  /** Webhook bodies (pending or sent) rewritten without the customer (absent on erasures recorded before webhooks). */
  deliveryPayloadsRewritten: z.number().int().default(0),
  /** List segments rewritten without the customer's id (absent on erasures recorded before lists). */
  listsRewritten: z.number().int().default(0),
});
export type ErasureCounts = z.infer<typeof erasureCountsSchema>;

export const ZERO_ERASURE_COUNTS: ErasureCounts = {
  customersErased: 0,
  itemsDeleted: 0,
  uploadsRewritten: 0,
  uploadsDeleted: 0,
  rowsRemoved: 0,
  unreadableRowsDropped: 0,
  stateObjectsDeleted: 0,
  exportsDeleted: 0,
  historyItemsDeleted: 0,
  destinationFilesRewritten: 0,
  deliveryPayloadsRewritten: 0,
  listsRewritten: 0,
};

/**
 * The record of one erasure request. `customerHash` is an HMAC of the customer id under the dataset's erasure
 * key, so later uploads can recognise the customer without the id being kept. The id itself is held only
 * while the erasure is pending (the table holds the customer's data then anyway) and removed in the same
 * update that completes it, so that no event, dead letter or log ever needs to carry it.
 */
export const erasureRecordSchema = z.object({
  tenantId: z.string(),
  datasetId: z.string(),
  erasureId: z.string(),
  requestedAt: z.string(),
  status: erasureStatusSchema,
  customerHash: z.string(),
  /** The customer id, until the erasure completes. */
  customerId: z.string().optional(),
  completedAt: z.string().optional(),
  /** The run that removed the customer. */
  runId: z.string().optional(),
  /** The first version published without the customer. */
  version: z.number().int().optional(),
  counts: erasureCountsSchema,
});
export type ErasureRecord = z.infer<typeof erasureRecordSchema>;
