/**
 * The zod mini schemas that ./lookup-checks.ts stands for, kept as the reference its test compares against
 * (test/unit/lookup-checks.test.ts). Only tests import this module; the lookup function does not, so that its
 * bundle carries no zod.
 */
import * as z from "zod/mini";
import en from "zod/v4/locales/en.js";
import { TENANT_ID_PATTERN } from "../http/auth";

// The classic build loads the English messages itself; the mini build needs them set, or every issue would
// read "Invalid input" where every other route names the rule.
z.config(en());

// The same rules as datasetIdSchema and customerIdSchema in ../model.
const datasetId = z
  .string()
  .check(
    z.regex(
      /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/,
      "must be 1-64 letters, digits, '-' or '_', starting with a letter or digit",
    ),
  );
const customerId = z.string().check(z.minLength(1), z.maxLength(128));

export const customerParams = z.object({ datasetId, customerId });

/** The part of the service's configuration (shared/config) the lookup function reads, with the same defaults. */
export const lookupEnv = z.object({
  TABLE_NAME: z.string().check(z.minLength(1)),
  AWS_REGION: z._default(z.string(), "us-east-1"),
  AWS_ENDPOINT_URL_DYNAMODB: z.optional(z.url()),
  DEFAULT_TENANT: z._default(z.string().check(z.regex(TENANT_ID_PATTERN)), "demo"),
  SCOPE_PREFIX: z._default(z.string().check(z.minLength(1)), "segmentation"),
  REQUIRE_TENANT_CLAIM: z._default(z.enum(["true", "false"]), "false"),
});

const segmentSummary = z.object({ id: z.string(), family: z.string(), name: z.string(), size: z.number() });

/** The part of a dataset's committed version that lookups read. */
export const storedVersion = z.object({
  version: z.number().check(z.int(), z.nonnegative()),
  runId: z.string(),
  asOf: z.string(),
  segments: z.array(segmentSummary),
  clusters: z.optional(
    z.object({
      featureNames: z.array(z.string()),
      ids: z.array(z.string()),
      descriptions: z.array(z.string()),
      centroids: z.array(z.array(z.number())),
    }),
  ),
  value: z.optional(z.record(z.string(), z.unknown())),
  servedValue: z.optional(z.string()),
});

export const storedMeta = z.object({ current: z.optional(storedVersion) });

/** The fields of a stored view the answer needs, checked; every other field the view holds is kept. */
export const storedView = z.looseObject({
  firstPurchase: z.string(),
  lastPurchase: z.string(),
  frequency: z.number(),
  monetary: z.number(),
  r: z.number(),
  f: z.number(),
  m: z.number(),
  rfm: z.string(),
  lifecycle: z.optional(z.string()),
  cluster: z.optional(z.string()),
  probabilityAlive: z.optional(z.number()),
  expectedPurchases: z.optional(z.number()),
  expectedPurchasesLow: z.optional(z.number()),
  expectedPurchasesHigh: z.optional(z.number()),
  clv: z.optional(z.number()),
  clvLow: z.optional(z.number()),
  clvHigh: z.optional(z.number()),
  repeatPurchases: z.optional(z.number()),
  nextBestCategory: z.optional(z.string()),
  valueInputs: z.optional(
    z.object({
      x: z.number(),
      tx: z.number(),
      firstDay: z.number(),
      mx: z.number(),
      fallbackOrderValue: z.number(),
    }),
  ),
  segments: z.array(z.string()),
});
