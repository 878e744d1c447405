/**
 * The answer of GET /datasets/{datasetId}/model: the value models of the committed version as a marketer and
 * an analyst read them. From the version's stored value summary (ValueModelSummary of the engine, kept as
 * `current.value`): the repeat-purchase model serving the predictions and how it was chosen, every model
 * fitted with its parameters, log-likelihood and convergence, the Gamma-Gamma spend model, the holdout
 * validation record (or why there is none), and one sentence that states the validation in words.
 *
 * Versions computed before the service fitted more than one repeat-purchase model hold only BG/NBD; they
 * answer with that model, chosen by default, and no validation.
 */
import { z } from "zod";

export const REPEAT_MODEL_NAMES = ["bgNbd", "paretoNbd", "mbgNbd"] as const;
export type RepeatModelId = (typeof REPEAT_MODEL_NAMES)[number];
export const repeatModelNameSchema = z.enum(REPEAT_MODEL_NAMES);

/** Display names, as the README and the dashboard write them. */
export const MODEL_LABELS: Record<RepeatModelId, string> = {
  bgNbd: "BG/NBD",
  paretoNbd: "Pareto/NBD",
  mbgNbd: "MBG/NBD",
};

export const fitSummarySchema = z.object({
  /** BG/NBD and MBG/NBD: r, alpha, a, b; Pareto/NBD: r, alpha, s, beta (rates per day). */
  params: z.record(z.string(), z.number()),
  logLikelihood: z.number(),
  converged: z.boolean(),
  /** Parameters that ended at the edge of the search box: the data say little about them. */
  atBoundary: z.array(z.string()),
});

export const holdoutAccuracySchema = z.object({
  /** The model fitted on the calibration part only. */
  fit: fitSummarySchema,
  /** Σ over the calibration customers of the repeat purchases predicted in the holdout window. */
  predictedRepeatPurchases: z.number(),
  /** Mean absolute error per customer (holdout purchases, actual − predicted). */
  mae: z.number(),
  /** Root mean squared error per customer. */
  rmse: z.number(),
});

export const conditionalExpectationSchema = z.object({
  /** Repeat purchases in the calibration period: 0 … 6, and 7 for "7 or more". */
  frequency: z.number().int(),
  label: z.string(),
  customers: z.number().int(),
  /** Mean actual repeat purchases in the holdout window. */
  meanActual: z.number(),
  /** Mean predicted holdout purchases per model fitted (a model whose fit failed is absent). */
  meanPredicted: z.partialRecord(repeatModelNameSchema, z.number()),
});

export const validationSchema = z.object({
  /** Last day of the calibration period; the holdout window is (calibrationEnd, asOf]. */
  calibrationEnd: z.string(),
  asOf: z.string(),
  holdoutDays: z.number().int(),
  /** Customers with a purchase on or before calibrationEnd: the ones predicted. */
  customers: z.number().int(),
  /** Their repeat purchases (distinct purchase days) in the holdout window. */
  actualRepeatPurchases: z.number().int(),
  /** Each model's accuracy, fitted on the calibration part. */
  models: z.partialRecord(repeatModelNameSchema, holdoutAccuracySchema),
  /** The selection metric: mean absolute error per customer. */
  metric: z.literal("mae"),
  /** The model with the lowest metric. */
  selected: repeatModelNameSchema,
  /** Mean actual vs mean predicted holdout purchases by calibration frequency (Fader, Hardie & Lee 2005, fig. 5). */
  conditionalExpectations: z.array(conditionalExpectationSchema),
});
export type ValidationRecord = z.infer<typeof validationSchema>;

const reasonSchema = z.object({ code: z.string(), message: z.string() });

/** The stored value summary, as far as this answer reads it; fields added later are optional. */
const storedValueSchema = z.object({
  horizonDays: z.number(),
  annualDiscountRate: z.number(),
  bgNbd: z.record(z.string(), z.number()).nullable().optional(),
  gammaGamma: z.record(z.string(), z.number()).nullable(),
  logLikelihoods: z.object({
    bgNbd: z.number().nullable().optional(),
    gammaGamma: z.number().nullable().optional(),
  }),
  converged: z.object({
    bgNbd: z.boolean().nullable().optional(),
    gammaGamma: z.boolean().nullable().optional(),
  }),
  customers: z.number().int(),
  repeatCustomers: z.number().int(),
  selectedModel: repeatModelNameSchema.optional(),
  selection: z.enum(["holdout", "setting", "default"]).optional(),
  models: z.partialRecord(repeatModelNameSchema, fitSummarySchema).optional(),
  validation: validationSchema.nullable().optional(),
  validationSkipped: reasonSchema.optional(),
});

/** The body of GET /datasets/{datasetId}/model. */
export const valueModelAnswerSchema = z.object({
  datasetId: z.string(),
  version: z.number().int(),
  runId: z.string(),
  asOf: z.string(),
  /** Whether the committed version has value predictions at all; when not, `reason` says why. */
  fitted: z.boolean(),
  reason: reasonSchema.nullable(),
  /** The model behind every customer's P(alive), expected purchases and CLV; null without predictions. */
  selectedModel: repeatModelNameSchema.nullable(),
  /**
   * How it was chosen: "holdout" (lowest mean absolute error on the holdout window), "setting" (the dataset's
   * `value.model` fixes it) or "default" (no holdout could be made; BG/NBD).
   */
  selection: z.enum(["holdout", "setting", "default"]).nullable(),
  /** The choice in words. */
  selectionReason: z.string().nullable(),
  horizonDays: z.number().int().nullable(),
  annualDiscountRate: z.number().nullable(),
  /** Customers the served models were fitted on (all the data), and those with a repeat purchase. */
  customers: z.number().int().nullable(),
  repeatCustomers: z.number().int().nullable(),
  /** Every repeat-purchase model fitted on all the data, by name; a model whose fit failed is absent. */
  models: z.partialRecord(repeatModelNameSchema, fitSummarySchema),
  /** The spend model (p, q, gamma); null when it could not be fitted. */
  gammaGamma: z
    .object({
      params: z.record(z.string(), z.number()),
      logLikelihood: z.number().nullable(),
      converged: z.boolean().nullable(),
    })
    .nullable(),
  validation: validationSchema.nullable(),
  /** Why there is no validation record (e.g. too little history for a holdout); null when there is one. */
  validationSkipped: reasonSchema.nullable(),
  /** The validation, or its absence, in one sentence. */
  summary: z.string(),
  /** What the value stage of the run reported: fits that did not converge, parameters at a boundary… */
  issues: z.array(reasonSchema),
});
export type ValueModelAnswer = z.infer<typeof valueModelAnswerSchema>;

/** The parts of a committed version this answer reads. */
export interface ModelVersion {
  version: number;
  runId: string;
  asOf: string;
  value?: Record<string, unknown> | undefined;
  issues?: ReadonlyArray<{ code: string; message: string; stage: string }> | undefined;
}

const count = (n: number) => Math.round(n).toLocaleString("en-US");
/** A message as the end of a sentence of ours: without its own final full stop. */
const clause = (message: string) => message.replace(/\.\s*$/, "");

/** "Over the last 91 days the model expected 412 repeat purchases; customers made 455." */
export function validationSentence(validation: ValidationRecord, model: RepeatModelId): string {
  const accuracy = validation.models[model] ?? validation.models[validation.selected];
  const predicted = accuracy?.predictedRepeatPurchases ?? 0;
  return (
    `Over the last ${validation.holdoutDays} days the model expected ${count(predicted)} repeat purchases; ` +
    `customers made ${count(validation.actualRepeatPurchases)}.`
  );
}

function selectionReasonOf(
  model: RepeatModelId,
  selection: "holdout" | "setting" | "default",
  validation: ValidationRecord | null,
  skipped: { message: string } | null,
): string {
  const label = MODEL_LABELS[model];
  if (selection === "setting") return `${label} is the model the dataset's settings fix (value.model).`;
  if (selection === "holdout" && validation) {
    const fitted = Object.keys(validation.models).length;
    const mae = validation.models[model]?.mae;
    return (
      `${label} was chosen: fitted on the orders up to ${validation.calibrationEnd}, it predicted each ` +
      `customer's purchases of the last ${validation.holdoutDays} days with the lowest mean absolute error ` +
      `of the ${fitted} models` +
      (mae !== undefined ? ` (${mae.toFixed(3)} purchases per customer).` : ".")
    );
  }
  return skipped
    ? `${label} is the default: no holdout validation could choose a model (${clause(skipped.message)}).`
    : `${label} is the only model this version fitted.`;
}

/** The answer of the model route for a committed version, and whether value predictions are disabled. */
export function valueModelAnswer(
  datasetId: string,
  current: ModelVersion,
  valueDisabled: boolean,
): ValueModelAnswer {
  const issues = (current.issues ?? [])
    .filter((i) => i.stage === "value")
    .map(({ code, message }) => ({ code, message }));
  const base = { datasetId, version: current.version, runId: current.runId, asOf: current.asOf, issues };
  const parsed = current.value === undefined ? undefined : storedValueSchema.safeParse(current.value);
  if (!parsed?.success) {
    const reason = valueDisabled
      ? {
          code: "VALUE_DISABLED",
          message: "the dataset's settings turn the value models off (value.enabled)",
        }
      : (issues[0] ?? { code: "VALUE_ABSENT", message: "this version has no value models" });
    return {
      ...base,
      fitted: false,
      reason,
      selectedModel: null,
      selection: null,
      selectionReason: null,
      horizonDays: null,
      annualDiscountRate: null,
      customers: null,
      repeatCustomers: null,
      models: {},
      gammaGamma: null,
      validation: null,
      validationSkipped: null,
      summary: `No predictions: ${clause(reason.message)}.`,
    };
  }
  const value = parsed.data;
  const oldLl = value.logLikelihoods.bgNbd;
  const models =
    value.models ??
    (value.bgNbd && typeof oldLl === "number"
      ? {
          bgNbd: {
            params: value.bgNbd,
            logLikelihood: oldLl,
            converged: value.converged.bgNbd ?? false,
            atBoundary: [],
          },
        }
      : {});
  const selectedModel = value.selectedModel ?? "bgNbd";
  const selection = value.selection ?? "default";
  const validation = value.validation ?? null;
  const validationSkipped = validation ? null : (value.validationSkipped ?? null);
  const summary = validation
    ? validationSentence(validation, selectedModel)
    : validationSkipped
      ? `Too little history for a holdout: ${clause(validationSkipped.message)}.`
      : "This version was computed without a holdout validation.";
  return {
    ...base,
    fitted: true,
    reason: null,
    selectedModel,
    selection,
    selectionReason: selectionReasonOf(selectedModel, selection, validation, validationSkipped),
    horizonDays: value.horizonDays,
    annualDiscountRate: value.annualDiscountRate,
    customers: value.customers,
    repeatCustomers: value.repeatCustomers,
    models,
    gammaGamma: value.gammaGamma
      ? {
          params: value.gammaGamma,
          logLikelihood: value.logLikelihoods.gammaGamma ?? null,
          converged: value.converged.gammaGamma ?? null,
        }
      : null,
    validation,
    validationSkipped,
    summary,
  };
}
