/**
 * Schemas of what the API answers, and the documented form of a rule segment. The request schemas live next
 * to the route cores that parse with them (read.ts, write.ts, datasets.ts); these describe the bodies those
 * cores build, so the OpenAPI document and the typed client can state them. Record schemas of shared/model
 * are reused wherever a body passes a stored record through.
 */
import { z } from "zod";
import { deliveryAttemptSchema, deliveryRecordSchema, destinationRecordSchema } from "../destinations/model";
import {
  CATEGORICAL_TRAITS,
  DATE_TRAITS,
  NUMERIC_TRAITS,
  OPERATORS,
  type Operator,
  RULE_LIMITS,
  type Rule,
} from "../engine/rules";
import {
  datasetSettingsSchema,
  erasureRecordSchema,
  fileFormatSchema,
  fileKindSchema,
  nbcReportSchema,
  runRecordSchema,
  segmentSummarySchema,
  uploadModeSchema,
} from "../model";
import { segmentLiftProfileSchema } from "./lift-profile";
import { valueModelAnswerSchema } from "./value-model";

/** `{ error: { code, message, details } }`, the body of every error the service itself answers. */
export const errorBodySchema = z.object({
  error: z.object({
    /** Machine-readable, e.g. VALIDATION_FAILED or DATASET_NOT_FOUND. */
    code: z.string(),
    message: z.string(),
    details: z.array(
      z.object({
        /** The field at fault, e.g. `body.rule.and[1].field` or `path.segmentId`. */
        path: z.string().optional(),
        code: z.string(),
        message: z.string(),
      }),
    ),
  }),
});
export type ErrorBody = z.output<typeof errorBodySchema>;

/** API Gateway's own refusals (bad or missing token, throttling) carry only a message. */
export const gatewayErrorSchema = z.object({ message: z.string() });

// ---------------------------------------------------------------------------------------------------------
// Rule segments, documented.
//
// The engine's `segmentDefinitionSchema` is built one level per allowed depth (see engine/rules/schema.ts),
// which converts to ten near-identical JSON Schema definitions that accept any field and op. The schema below
// states the same language recursively and precisely (known fields, the operators, what value each operator
// takes) for the OpenAPI document and for clients. The engine stays the judge: it also enforces the nesting
// depth, the number of conditions and which operators apply to which kind of field, which a JSON Schema
// cannot say without repeating the whole catalog. test/unit/openapi.test.ts checks that every definition the
// engine accepts is accepted here.
// ---------------------------------------------------------------------------------------------------------

const NO_VALUE_OPS = ["exists", "not_exists"] as const satisfies readonly Operator[];
const LIST_OPS = ["in", "not_in"] as const satisfies readonly Operator[];
const SINGLE_VALUE_OPS = OPERATORS.filter(
  (op): op is Exclude<Operator, "exists" | "not_exists" | "in" | "not_in" | "between"> =>
    !(NO_VALUE_OPS as readonly string[]).includes(op) &&
    !(LIST_OPS as readonly string[]).includes(op) &&
    op !== "between",
) as [Operator, ...Operator[]];

// A key after the prefix: 1 to maxKeyLength characters, none of them a control character.
// biome-ignore lint/suspicious/noControlCharactersInRegex: excluding control characters is the point
const KEYED_FIELD = /^(?:channel_share|category_share|attributes)\.[^\u0000-\u001f\u007f]{1,128}$/;

const fieldNameSchema = z
  .union([z.enum([...NUMERIC_TRAITS, ...DATE_TRAITS, ...CATEGORICAL_TRAITS]), z.string().regex(KEYED_FIELD)])
  .meta({
    description: "A customer trait, or channel_share.<channel>, category_share.<category>, attributes.<name>",
  });

/** One operand: a string, a number, a boolean, or a date relative to the evaluation date. */
export const ruleValueSchema = z.union([
  z.string().min(1).max(RULE_LIMITS.maxStringLength),
  z.number(),
  z.boolean(),
  z.strictObject({ days_ago: z.number().int().min(0).max(RULE_LIMITS.maxDaysAgo) }),
]);

export const segmentConditionSchema = z.union([
  z.strictObject({ field: fieldNameSchema, op: z.enum(NO_VALUE_OPS) }),
  z.strictObject({
    field: fieldNameSchema,
    op: z.enum(LIST_OPS),
    value: z.array(ruleValueSchema).min(1).max(RULE_LIMITS.maxListValues),
  }),
  z.strictObject({
    field: fieldNameSchema,
    op: z.literal("between"),
    value: z.tuple([ruleValueSchema, ruleValueSchema]).meta({ description: "[low, high], low <= high" }),
  }),
  z.strictObject({ field: fieldNameSchema, op: z.enum(SINGLE_VALUE_OPS), value: ruleValueSchema }),
]);

/** A rule tree: `{ and: [...] }`, `{ or: [...] }`, `{ not: rule }` or a condition. */
export const segmentRuleSchema: z.ZodType<Rule> = z.lazy(() =>
  z.union([
    z.strictObject({ and: z.array(segmentRuleSchema).min(1) }),
    z.strictObject({ or: z.array(segmentRuleSchema).min(1) }),
    z.strictObject({ not: segmentRuleSchema }),
    segmentConditionSchema,
  ]),
);

export const SEGMENT_RULE_DESCRIPTION =
  `A rule: {"and": [rules]}, {"or": [rules]}, {"not": rule} or a condition {"field", "op", "value"}. ` +
  `Rules nest at most ${RULE_LIMITS.maxDepth} levels and hold at most ${RULE_LIMITS.maxConditions} ` +
  "conditions; the server also checks that the operator applies to the field's kind (numbers, dates, " +
  "categories, shares, attributes) and answers 400 VALIDATION_FAILED with the path of each problem.";

// ---------------------------------------------------------------------------------------------------------
// Bodies of successful answers.
// ---------------------------------------------------------------------------------------------------------

const isoDay = z.string().meta({ description: "A date, YYYY-MM-DD" });
const timestamp = z.string().meta({ description: "An ISO 8601 date-time (UTC)" });
const nextCursor = z
  .string()
  .nullable()
  .meta({ description: "Pass as `cursor` for the next page; null on the last page" });
export const recomputeSchema = z
  .enum(["requested", "none"])
  .meta({ description: "Whether a recompute of the dataset was requested (none while it has no run yet)" });

export const healthSchema = z.object({ status: z.literal("ok") });

/** The OpenAPI document itself, described only as a JSON object. */
export const openApiDocumentSchema = z.record(z.string(), z.unknown());

export const datasetSchema = z.object({
  datasetId: z.string(),
  createdAt: timestamp,
  settings: datasetSettingsSchema,
  /** The committed version readers see; null until the first run succeeds. */
  current: z
    .object({
      version: z.number().int(),
      runId: z.string(),
      asOf: isoDay,
      completedAt: timestamp,
      customerCount: z.number().int(),
      orderCount: z.number().int(),
      revenue: z.number(),
      segmentCount: z.number().int(),
      /**
       * Computed sharded (Step Functions) from one file of all transactions: appends and customers files are
       * refused (DATASET_SHARDED) until a smaller replace upload brings it back to one function.
       */
      sharded: z.boolean(),
      /**
       * What the computation of this version skipped or found wrong, each with a code, a message in words and
       * its stage: "data" for the data as a whole (STALE_DATA: the latest order is older than the lifecycle's
       * lapsed window before the evaluation date, so every customer looks lapsed), "clusters", "value" or
       * "rules" (then with the rule segment's id).
       */
      issues: z.array(
        z.object({
          code: z.string(),
          message: z.string(),
          stage: z.string(),
          segment: z.string().optional(),
        }),
      ),
      /**
       * Next best category: this version's hit rate on the last holdoutDays days of orders (recommendations made
       * from the orders before them) against the most popular category not yet bought, or why it was skipped;
       * absent when turned off (README "Next best category").
       */
      nextBestCategory: nbcReportSchema.optional(),
    })
    .nullable(),
  /** Whether a run holds the dataset right now. */
  running: z.boolean(),
});

export const datasetListSchema = z.object({ datasets: z.array(datasetSchema), nextCursor });
export const datasetWithRecomputeSchema = datasetSchema.extend({ recompute: recomputeSchema });

export const savedDefinitionSchema = z.object({
  datasetId: z.string(),
  segmentId: z.string(),
  name: z.string(),
  description: z.string().optional(),
  rule: segmentRuleSchema,
  createdAt: timestamp,
  updatedAt: timestamp,
});
export const savedDefinitionWithRecomputeSchema = savedDefinitionSchema.extend({
  recompute: recomputeSchema,
});
export const definitionListSchema = z.object({
  datasetId: z.string(),
  definitions: z.array(savedDefinitionSchema),
});

export const dryRunSchema = z.object({
  datasetId: z.string(),
  version: z.number().int(),
  asOf: isoDay,
  customerCount: z.number().int(),
  size: z.number().int(),
  share: z.number(),
  revenue: z.number(),
  revenueShare: z.number(),
  averageOrderValue: z.number(),
  meanClv: z.number().nullable(),
  /** 80% interval of meanClv from the models' parameter uncertainty; null without one. */
  meanClvLow: z.number().nullable().optional(),
  meanClvHigh: z.number().nullable().optional(),
  meanProbabilityAlive: z.number().nullable(),
  /** Ids of a few customers the rule selects. */
  sample: z.array(z.string()),
});

export const exportSchema = z.object({
  exportId: z.string(),
  datasetId: z.string(),
  segmentId: z.string(),
  /** The committed version the rows come from. */
  version: z.number().int(),
  rows: z.number().int(),
  columns: z.array(z.string()),
  /** Downloads the CSV until expiresAt. */
  url: z.string(),
  expiresAt: z.string(),
  /** The file itself is deleted this many days after it was written. */
  deletedAfterDays: z.number().int(),
});

export const uploadSchema = z.object({
  uploadId: z.string(),
  datasetId: z.string(),
  kind: fileKindSchema,
  mode: uploadModeSchema,
  format: fileFormatSchema,
  /** The object key the file is stored under. */
  key: z.string(),
  /** POST the file here as multipart/form-data, with `fields` first and the file last. */
  url: z.string(),
  fields: z.record(z.string(), z.string()),
  maxBytes: z.number().int(),
  expiresAt: timestamp,
});

const segmentRefSchema = z.object({
  id: z.string(),
  family: z.enum(["rfm", "cluster", "lifecycle", "rule", "list", "attr", "lookalike"]),
  name: z.string(),
});

export const customerSchema = z.object({
  datasetId: z.string(),
  customerId: z.string(),
  version: z.number().int(),
  runId: z.string(),
  asOf: isoDay,
  firstPurchase: isoDay,
  lastPurchase: isoDay,
  recencyDays: z.number().int(),
  frequency: z.number(),
  monetary: z.number(),
  scores: z.object({ r: z.number(), f: z.number(), m: z.number(), rfm: z.string() }),
  lifecycle: z.object({ id: z.string(), name: z.string() }).nullable(),
  cluster: z
    .object({
      id: z.string(),
      name: z.string(),
      description: z.string().nullable(),
      centroid: z.record(z.string(), z.number().nullable()).nullable(),
    })
    .nullable(),
  /** The value models' predictions for the customer; null when the version has none. */
  predictions: z
    .object({
      /** The repeat-purchase model behind the figures (GET …/model says how it was chosen). */
      model: z.enum(["bgNbd", "paretoNbd", "mbgNbd"]),
      probabilityAlive: z.number().nullable().meta({
        description:
          "Probability that the customer is still a customer as of asOf; null where the model cannot tell (see churnRiskBasis)",
      }),
      churnRisk: z.number().nullable().meta({
        description:
          "1 − probabilityAlive; null when the model is BG/NBD and the customer has one purchase day: BG/NBD lets a customer drop out only after a repeat purchase, so its probability alive of 1 for them is no evidence that they are still buying",
      }),
      churnRiskBasis: z.enum(["model", "unknown"]).meta({
        description:
          '"model": churnRisk is the model\'s figure; "unknown": the model cannot tell (churnRisk null)',
      }),
      /** What churnRisk means for this customer, in words. */
      churnRiskNote: z.string(),
      /** Expected purchases (distinct purchase days) over horizonDays. */
      expectedPurchases: z.number().nullable(),
      /** 80% interval of expectedPurchases from the uncertainty of the fitted parameters. */
      expectedPurchasesInterval: z.object({ low: z.number(), high: z.number() }).nullable(),
      /** Discounted value of the expected purchases over horizonDays, in the dataset's currency. */
      clv: z.number().nullable(),
      /** 80% interval of clv from the uncertainty of the fitted parameters. */
      clvInterval: z.object({ low: z.number(), high: z.number() }).nullable(),
      horizonDays: z.number().nullable(),
    })
    .nullable(),
  /**
   * The category the customer has not bought yet that customers of their segment buy most often relative to
   * everyone (README "Next best category"); null when there is none.
   */
  nextBestCategory: z.string().nullable(),
  segments: z.array(segmentRefSchema),
});

export const segmentListSchema = z.object({
  datasetId: z.string(),
  version: z.number().int(),
  runId: z.string(),
  asOf: isoDay,
  customerCount: z.number().int(),
  segments: z.array(segmentSummarySchema),
  /**
   * How the customers spread: rfmGrid[r - 1][fm - 1] counts the customers with recency score r and
   * frequency-and-monetary score fm (the grid the RFM segments are defined on); clv is a histogram of predicted lifetime value on 1-2-5 edges (bin k: edges[k] ≤ clv <
   * edges[k + 1], the last bin closed). Null for versions computed before distributions were kept.
   */
  distributions: z
    .object({
      rfmGrid: z.array(z.array(z.number().int())),
      clv: z.object({ edges: z.array(z.number()), counts: z.array(z.number().int()) }).optional(),
    })
    .nullable(),
});

export const segmentDetailSchema = segmentSummarySchema.extend({
  datasetId: z.string(),
  version: z.number().int(),
  runId: z.string(),
  asOf: isoDay,
  /** The saved definition of a rule segment; null for other families. */
  definition: z.object({ name: z.string(), rule: segmentRuleSchema, updatedAt: timestamp }).nullable(),
  /** The segment's profile with lift; null for a version computed before profiles were kept. */
  liftProfile: segmentLiftProfileSchema.nullable(),
});

export const segmentHistorySchema = z.object({
  datasetId: z.string(),
  segmentId: z.string(),
  points: z.array(
    z.object({
      runId: z.string(),
      version: z.number().int(),
      asOf: isoDay.optional(),
      completedAt: timestamp.optional(),
      size: z.number(),
      share: z.number(),
      revenue: z.number(),
      revenueShare: z.number(),
    }),
  ),
  nextCursor,
});

const segmentRef = z.object({
  segmentId: z.string(),
  /** The segment's name in the committed version; null for a segment it no longer computes. */
  name: z.string().nullable(),
});

/** One customer's membership changes, one entry per committed run that changed them, newest first. */
export const customerHistorySchema = z.object({
  datasetId: z.string(),
  customerId: z.string(),
  /** The committed version the history is read at: no entry is newer. */
  version: z.number().int(),
  entries: z.array(
    z.object({
      runId: z.string(),
      version: z.number().int(),
      asOf: isoDay,
      completedAt: timestamp,
      entered: z.array(segmentRef),
      left: z.array(segmentRef),
    }),
  ),
  nextCursor,
});

export const segmentMembersSchema = z.object({
  datasetId: z.string(),
  segmentId: z.string(),
  version: z.number().int(),
  size: z.number().int(),
  customerIds: z.array(z.string()),
  nextCursor,
});

/** A ratio rounded to 6 decimals; null where its denominator is 0. */
const overlapRatio = z.number().min(0).max(1).nullable();

/** How segments of the committed version overlap (../engine/overlap.ts). */
export const overlapSchema = z.object({
  datasetId: z.string(),
  version: z.number().int(),
  runId: z.string(),
  asOf: isoDay,
  /** Customers of the version. */
  customerCount: z.number().int(),
  /** The segments in the order asked for, each with its number of members. */
  segments: z.array(
    z.object({ id: z.string(), name: z.string(), family: z.string(), size: z.number().int() }),
  ),
  /** Every pair once, (a, b) with a asked for before b. */
  pairs: z.array(
    z.object({
      a: z.string(),
      b: z.string(),
      /** Customers in both: |A ∩ B|. */
      count: z.number().int(),
      /** Customers in either: |A ∪ B|. */
      union: z.number().int(),
      /** |A ∩ B| / |A|: the share of A's members also in B. */
      shareOfA: overlapRatio,
      /** |A ∩ B| / |B|: the share of B's members also in A. */
      shareOfB: overlapRatio,
      /** |A ∩ B| / |A ∪ B|: 1 for the same members, 0 for none shared. */
      jaccard: overlapRatio,
    }),
  ),
});

/** A page of the customers in both of two segments, in the members routes' order. */
export const intersectionMembersSchema = z.object({
  datasetId: z.string(),
  segmentId: z.string(),
  otherSegmentId: z.string(),
  version: z.number().int(),
  /** Customers in both segments. */
  size: z.number().int(),
  customerIds: z.array(z.string()),
  nextCursor,
});

/** The value models of the committed version and their holdout validation (./value-model). */
export const valueModelSchema = valueModelAnswerSchema;

/**
 * A run as the API shows it: the stored record without its tenant and without the event kept to start it
 * again (`redelivery`, the service's own bookkeeping).
 */
export const runSchema = runRecordSchema.omit({ tenantId: true, redelivery: true });
export const runListSchema = z.object({ datasetId: z.string(), runs: z.array(runSchema), nextCursor });
/** One run; with rejected rows, a link (valid 15 minutes) to download their report as CSV. */
export const runDetailSchema = runSchema.extend({
  reportUrl: z
    .string()
    .optional()
    .describe(
      "Download link (15 minutes) of the rejected-rows report: CSV with the header line,column,code,reason; line is the file's line number (the header is line 1) where the rejected record starts",
    ),
});

/** An erasure as the API shows it: the stored record without its tenant, customer hash and customer id. */
export const erasureSchema = erasureRecordSchema.omit({
  tenantId: true,
  customerHash: true,
  customerId: true,
});

/** A destination as the API shows it: never its secret references or its tenant. */
export const destinationSchema = destinationRecordSchema.omit({ tenantId: true, webhook: true }).extend({
  webhook: z
    .object({
      url: z.string(),
      rotatedAt: timestamp.optional(),
      /** Until then deliveries are signed with the previous secret too (after a rotation). */
      previousSecretUntil: timestamp.optional(),
    })
    .optional(),
});

/** The create and rotate-secret answers: the only ones that ever show the signing secret. */
export const destinationWithSecretSchema = destinationSchema.extend({
  secret: z.string().optional().meta({
    description:
      "The webhook signing secret (whsec_ + base64 of 32 bytes), shown in this answer only; absent for other kinds",
  }),
});

export const destinationListSchema = z.object({
  datasetId: z.string(),
  destinations: z.array(destinationSchema),
});

export const destinationDeliveriesSchema = z.object({
  datasetId: z.string(),
  destinationId: z.string(),
  /** The outbox, newest first: one entry per webhook message (counts only, never customer ids). */
  deliveries: z.array(deliveryRecordSchema.omit({ payloadKey: true })),
  nextCursor,
  /** Every attempt, newest first, kept 30 days. */
  attempts: z.array(deliveryAttemptSchema),
  nextAttemptsCursor: z
    .string()
    .nullable()
    .meta({ description: "Pass as `attemptsCursor` for the next page of attempts; null on the last page" }),
});
