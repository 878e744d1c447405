/**
 * The model route's answer (shared/api/value-model.ts) from stored value summaries of each kind: with a
 * holdout validation, with a model fixed by the settings, without a validation and why, from a version that
 * fitted BG/NBD only, and without predictions at all.
 */
import { describe, expect, it } from "vitest";
import { valueModelAnswer, valueModelAnswerSchema } from "../../shared/api/value-model";

const fitOf = (params: Record<string, number>, logLikelihood: number) => ({
  params,
  logLikelihood,
  converged: true,
  atBoundary: [],
});

const validation = {
  calibrationEnd: "2025-07-02",
  asOf: "2025-10-01",
  holdoutDays: 91,
  customers: 1000,
  actualRepeatPurchases: 455,
  models: {
    bgNbd: {
      fit: fitOf({ r: 0.2, alpha: 4, a: 0.7, b: 2 }, -10),
      predictedRepeatPurchases: 380.2,
      mae: 0.61,
      rmse: 1.2,
    },
    paretoNbd: {
      fit: fitOf({ r: 0.5, alpha: 10, s: 0.6, beta: 11 }, -11),
      predictedRepeatPurchases: 411.6,
      mae: 0.5512,
      rmse: 1.1,
    },
  },
  metric: "mae",
  selected: "paretoNbd",
  conditionalExpectations: [
    {
      frequency: 0,
      label: "0",
      customers: 600,
      meanActual: 0.1,
      meanPredicted: { bgNbd: 0.2, paretoNbd: 0.12 },
    },
  ],
};

const value = (extra: Record<string, unknown>) => ({
  timeUnit: "day",
  horizonDays: 365,
  annualDiscountRate: 0.1,
  bgNbd: { r: 0.24, alpha: 4.4, a: 0.79, b: 2.4 },
  gammaGamma: { p: 6.25, q: 3.74, gamma: 15.44 },
  logLikelihoods: { bgNbd: -9582.4, gammaGamma: -4000.1 },
  converged: { bgNbd: true, gammaGamma: false },
  customers: 1200,
  repeatCustomers: 500,
  ...extra,
});

const version = (
  v: Record<string, unknown> | undefined,
  issues: { code: string; message: string; stage: string }[] = [],
) => ({
  version: 4,
  runId: "run-4",
  asOf: "2025-10-01",
  value: v,
  issues,
});

const models = {
  bgNbd: fitOf({ r: 0.24, alpha: 4.4, a: 0.79, b: 2.4 }, -9582.4),
  paretoNbd: fitOf({ r: 0.55, alpha: 10.58, s: 0.61, beta: 11.67 }, -9595),
};

describe("the model route's answer", () => {
  it("states the holdout in one sentence with the selected model's total and the actual total", () => {
    const answer = valueModelAnswer(
      "shop",
      version(value({ selectedModel: "paretoNbd", selection: "holdout", models, validation })),
      false,
    );
    expect(valueModelAnswerSchema.parse(answer)).toEqual(answer);
    expect(answer.summary).toBe(
      "Over the last 91 days the model expected 412 repeat purchases; customers made 455.",
    );
    expect(answer.selectedModel).toBe("paretoNbd");
    expect(answer.selection).toBe("holdout");
    expect(answer.selectionReason).toBe(
      "Pareto/NBD was chosen: fitted on the orders up to 2025-07-02, it predicted each customer's purchases of " +
        "the last 91 days with the lowest mean absolute error of the 2 models (0.551 purchases per customer).",
    );
    expect(answer.models).toEqual(models);
    expect(answer.gammaGamma).toEqual({
      params: { p: 6.25, q: 3.74, gamma: 15.44 },
      logLikelihood: -4000.1,
      converged: false,
    });
    expect(answer.validation).toEqual(validation);
    expect(answer.validationSkipped).toBeNull();
    expect(answer.fitted).toBe(true);
  });

  it("speaks of the model the settings fix, not of the one the holdout preferred", () => {
    const answer = valueModelAnswer(
      "shop",
      version(value({ selectedModel: "bgNbd", selection: "setting", models, validation })),
      false,
    );
    expect(answer.summary).toBe(
      "Over the last 91 days the model expected 380 repeat purchases; customers made 455.",
    );
    expect(answer.selectionReason).toBe("BG/NBD is the model the dataset's settings fix (value.model).");
  });

  it("says why there is no holdout", () => {
    const skipped = {
      code: "VALUE_HOLDOUT_TOO_SHORT",
      message: "the orders span 20 days; a holdout needs at least 60.",
    };
    const answer = valueModelAnswer(
      "shop",
      version(
        value({
          selectedModel: "bgNbd",
          selection: "default",
          models,
          validation: null,
          validationSkipped: skipped,
        }),
      ),
      false,
    );
    expect(answer.validation).toBeNull();
    expect(answer.validationSkipped).toEqual(skipped);
    expect(answer.summary).toBe(
      "Too little history for a holdout: the orders span 20 days; a holdout needs at least 60.",
    );
    expect(answer.selectionReason).toBe(
      "BG/NBD is the default: no holdout validation could choose a model (the orders span 20 days; a holdout needs at least 60).",
    );
  });

  it("answers for a version that fitted BG/NBD only", () => {
    const answer = valueModelAnswer("shop", version(value({})), false);
    expect(valueModelAnswerSchema.parse(answer)).toEqual(answer);
    expect(answer.models).toEqual({ bgNbd: models.bgNbd });
    expect(answer.selectedModel).toBe("bgNbd");
    expect(answer.selection).toBe("default");
    expect(answer.validation).toBeNull();
    expect(answer.summary).toBe("This version was computed without a holdout validation.");
  });

  it("says why there are no predictions: the settings, or the value stage's issue", () => {
    const off = valueModelAnswer("shop", version(undefined), true);
    expect(off.fitted).toBe(false);
    expect(off.reason?.code).toBe("VALUE_DISABLED");
    expect(off.selectedModel).toBeNull();
    const issue = {
      code: "VALUE_TOO_FEW_CUSTOMERS",
      message: "4 customers with orders; the value models need at least 10",
      stage: "value",
    };
    const few = valueModelAnswer(
      "shop",
      version(undefined, [{ code: "CLUSTERS_TOO_FEW_CUSTOMERS", message: "x", stage: "clusters" }, issue]),
      false,
    );
    expect(valueModelAnswerSchema.parse(few)).toEqual(few);
    expect(few.reason).toEqual({ code: issue.code, message: issue.message });
    expect(few.issues).toEqual([{ code: issue.code, message: issue.message }]);
    expect(few.summary).toBe("No predictions: 4 customers with orders; the value models need at least 10.");
  });
});
