/**
 * Holdout validation of the repeat-purchase models: each model is fitted on the calibration part of the
 * history (orders on or before the calibration end), predicts every calibration customer's repeat purchases
 * over the holdout window that follows, and is compared with what those customers actually did.
 *
 * Fits. Each model is fitted on the calibration customers, or on a stride sample of HOLDOUT_FIT_CUSTOMERS
 * of them when there are more (the estimates of four parameters from 25,000 customers differ from those of
 * all by far less than the models differ from each other); predictions and errors are for every calibration
 * customer.
 *
 * Inputs per calibration customer (a customer whose first purchase is on or before the calibration end), in
 * days: x, t_x and T as of the calibration end, and `actual`, the customer's purchase days in the holdout
 * window (every purchase day there is a repeat purchase, since the first purchase came before it).
 *
 * Predictions are E[X(h) | x, t_x, T] = P(alive | x, t_x, T) · A(h; x, T) of each model with h the holdout
 * length, P once per distinct (x, t_x, T) triple and A once per distinct (x, T), with the models' own functions
 * (predict.ts's kernels). Errors per customer are actual − predicted; MAE and RMSE
 * are their mean absolute value and root mean square over the calibration customers.
 *
 * Selection (selectByHoldout): the lowest MAE; models whose MAE is within 0.1 % (relative) of the lowest are
 * tied, and the tie goes to the highest calibration log-likelihood, then to the first in the fixed order
 * bgNbd, paretoNbd, mbgNbd.
 *
 * The conditional-expectation table (Fader, Hardie & Lee 2005, figure 5) groups the calibration customers by
 * their calibration repeat purchases 0, 1, …, 6 and 7 or more; each row holds the customers' mean actual and
 * mean predicted holdout purchases per model. Groups without customers are left out.
 */
import type {
  ConditionalExpectationRow,
  HoldoutModelAccuracy,
  RepeatModelFitSummary,
  RepeatModelName,
} from "../types";
import { type CompressedSummary, type CustomerSummary, compressSummary, pairsOf } from "./data";
import { ClvFitError } from "./errors";
import type { RepeatModel, RepeatModelFit } from "./models";
import { repeatKernel } from "./repeat";

/** The fixed order of the models, which also breaks ties. */
export const REPEAT_MODEL_ORDER: readonly RepeatModelName[] = ["bgNbd", "paretoNbd", "mbgNbd"];

/** MAEs within this relative distance of the lowest are a tie. */
export const MAE_TIE_TOLERANCE = 0.001;

/** Highest calibration frequency with a row of its own in the conditional-expectation table; above, "7+". */
export const CONDITIONAL_MAX_FREQUENCY = 7;

export interface CalibrationData {
  x: Float64Array;
  tx: Float64Array;
  T: Float64Array;
  /** Purchase days in the holdout window. */
  actual: Float64Array;
}

/**
 * Calibration summaries of the customers with a purchase on or before the calibration end, from the
 * per-customer totals of the whole history and of the calibration part (both in increasing `stateIndex`, the
 * calibration customers a subset of the whole history's). The holdout purchase days are the difference of
 * the two counts of distinct purchase days, which is exact since the two periods share no day.
 */
export function calibrationData(
  all: { readonly stateIndex: Uint32Array; readonly purchaseDays: Uint32Array },
  calibration: {
    readonly stateIndex: Uint32Array;
    readonly firstPurchaseDay: Int32Array;
    readonly lastPurchaseDay: Int32Array;
    readonly purchaseDays: Uint32Array;
  },
  calibrationEndDay: number,
): CalibrationData {
  const n = calibration.stateIndex.length;
  const x = new Float64Array(n);
  const tx = new Float64Array(n);
  const T = new Float64Array(n);
  const actual = new Float64Array(n);
  let p = 0;
  for (let i = 0; i < n; i++) {
    const c = calibration.stateIndex[i] as number;
    while (p < all.stateIndex.length && (all.stateIndex[p] as number) < c) p++;
    if (all.stateIndex[p] !== c)
      throw new RangeError(`Calibration customer ${c} is not in the whole history`);
    const days = calibration.purchaseDays[i] as number;
    const first = calibration.firstPurchaseDay[i] as number;
    x[i] = days - 1;
    tx[i] = (calibration.lastPurchaseDay[i] as number) - first;
    T[i] = calibrationEndDay - first;
    actual[i] = (all.purchaseDays[p] as number) - days;
  }
  return { x, tx, T, actual };
}

export function fitSummary(fit: RepeatModelFit): RepeatModelFitSummary {
  return {
    params: { ...fit.params },
    logLikelihood: fit.logLikelihood,
    converged: fit.converged,
    atBoundary: [...fit.atBoundary],
  };
}

/** The customers grouped by distinct (x, t_x, T) triple, and those triples by distinct (x, T) pair. */
export interface TripleGroups {
  triples: CompressedSummary;
  /** The triples grouped as (x, T, T): the distinct (x, T) pairs. */
  pairs: CompressedSummary;
}

/** The groups predictPurchases works on; the same for every model, so worked out once per data. */
export function tripleGroups(data: CustomerSummary): TripleGroups {
  const triples = compressSummary(data);
  return { triples, pairs: pairsOf(triples) };
}

/**
 * E[X(t) | x, t_x, T] of every customer, computed once per distinct triple; 0 where the model gives no finite
 * value. `groups`, when given, must be tripleGroups(data).
 */
export function predictPurchases(
  model: RepeatModel,
  params: Record<string, number>,
  t: number,
  data: CustomerSummary,
  groups: TripleGroups = tripleGroups(data),
): Float64Array {
  const kernel = repeatKernel(model, params);
  const { triples: c, pairs } = groups;
  const u = c.x.length;
  // A(t; x, T) once per distinct (x, T).
  const v = pairs.x.length;
  const alive = new Float64Array(v);
  for (let k = 0; k < v; k++) alive[k] = kernel.aliveExpected(t, pairs.x[k] as number, pairs.T[k] as number);
  const perTriple = new Float64Array(u);
  for (let j = 0; j < u; j++) {
    const e =
      kernel.alive(c.x[j] as number, c.tx[j] as number, c.T[j] as number) *
      (alive[pairs.index[j] as number] as number);
    perTriple[j] = Number.isFinite(e) && e > 0 ? e : 0;
  }
  const n = data.x.length;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = perTriple[c.index[i] as number] as number;
  return out;
}

export interface ModelHoldout {
  accuracy: HoldoutModelAccuracy;
  /** The calibration fit, as the model returned it. */
  fit: RepeatModelFit;
  predicted: Float64Array;
}

export interface HoldoutFailure {
  model: RepeatModelName;
  code: string;
  message: string;
}

export interface HoldoutComparison {
  customers: number;
  actualRepeatPurchases: number;
  models: Partial<Record<RepeatModelName, ModelHoldout>>;
  failures: HoldoutFailure[];
  conditionalExpectations: ConditionalExpectationRow[];
}

/** Accuracy of predictions against the actual holdout purchases. */
export function holdoutAccuracy(
  actual: ArrayLike<number>,
  predicted: ArrayLike<number>,
): { predictedRepeatPurchases: number; mae: number; rmse: number } {
  const n = actual.length;
  let total = 0;
  let absolute = 0;
  let squared = 0;
  for (let i = 0; i < n; i++) {
    const p = predicted[i] as number;
    const e = (actual[i] as number) - p;
    total += p;
    absolute += Math.abs(e);
    squared += e * e;
  }
  return {
    predictedRepeatPurchases: total,
    mae: n === 0 ? 0 : absolute / n,
    rmse: n === 0 ? 0 : Math.sqrt(squared / n),
  };
}

/** Most calibration customers a model is fitted on; above, every k-th customer (see strideSample). */
export const HOLDOUT_FIT_CUSTOMERS = 25_000;

/**
 * Every k-th entry (k = ⌈n / limit⌉, from the first) of the summaries, or the summaries themselves when
 * n <= limit. Customers are in order of first appearance, so the sample spreads over the whole history.
 */
export function strideSample<T extends Record<string, Float64Array>>(data: T, n: number, limit: number): T {
  if (n <= limit) return data;
  const stride = Math.ceil(n / limit);
  const size = Math.ceil(n / stride);
  const out: Record<string, Float64Array> = {};
  for (const [key, column] of Object.entries(data)) {
    const sample = new Float64Array(size);
    for (let j = 0; j < size; j++) sample[j] = column[j * stride] as number;
    out[key] = sample;
  }
  return out as T;
}

/**
 * Fits each model on the calibration data (on a stride sample of HOLDOUT_FIT_CUSTOMERS when there are more)
 * and compares its holdout predictions, for every calibration customer, with the actual purchases.
 */
export function compareOnHoldout(
  data: CalibrationData,
  holdoutDays: number,
  models: readonly RepeatModel[],
  fitCustomers = HOLDOUT_FIT_CUSTOMERS,
): HoldoutComparison {
  const n = data.x.length;
  let actualRepeatPurchases = 0;
  for (let i = 0; i < n; i++) actualRepeatPurchases += data.actual[i] as number;
  const out: Partial<Record<RepeatModelName, ModelHoldout>> = {};
  const failures: HoldoutFailure[] = [];
  const sample = strideSample({ x: data.x, tx: data.tx, T: data.T }, n, fitCustomers);
  let groups: TripleGroups | undefined;
  for (const model of models) {
    let fit: RepeatModelFit;
    try {
      fit = model.fit(sample.x, sample.tx, sample.T);
    } catch (error) {
      if (!(error instanceof ClvFitError)) throw error;
      failures.push({ model: model.name, code: error.code, message: error.message });
      continue;
    }
    groups ??= tripleGroups(data);
    const predicted = predictPurchases(model, fit.params, holdoutDays, data, groups);
    out[model.name] = {
      fit,
      predicted,
      accuracy: { fit: fitSummary(fit), ...holdoutAccuracy(data.actual, predicted) },
    };
  }
  return {
    customers: n,
    actualRepeatPurchases,
    models: out,
    failures,
    conditionalExpectations: conditionalExpectations(data, out),
  };
}

function conditionalExpectations(
  data: CalibrationData,
  models: Partial<Record<RepeatModelName, ModelHoldout>>,
): ConditionalExpectationRow[] {
  const bins = CONDITIONAL_MAX_FREQUENCY + 1;
  const customers = new Float64Array(bins);
  const actual = new Float64Array(bins);
  const names = REPEAT_MODEL_ORDER.filter((name) => models[name] !== undefined);
  const predicted = names.map(() => new Float64Array(bins));
  const n = data.x.length;
  for (let i = 0; i < n; i++) {
    const bin = Math.min(data.x[i] as number, CONDITIONAL_MAX_FREQUENCY);
    customers[bin] = (customers[bin] as number) + 1;
    actual[bin] = (actual[bin] as number) + (data.actual[i] as number);
    for (let m = 0; m < names.length; m++) {
      const column = predicted[m] as Float64Array;
      column[bin] =
        (column[bin] as number) +
        ((models[names[m] as RepeatModelName] as ModelHoldout).predicted[i] as number);
    }
  }
  const rows: ConditionalExpectationRow[] = [];
  for (let bin = 0; bin < bins; bin++) {
    const count = customers[bin] as number;
    if (count === 0) continue;
    const meanPredicted: Partial<Record<RepeatModelName, number>> = {};
    names.forEach((name, m) => {
      meanPredicted[name] = ((predicted[m] as Float64Array)[bin] as number) / count;
    });
    rows.push({
      frequency: bin,
      label: bin === CONDITIONAL_MAX_FREQUENCY ? `${bin}+` : String(bin),
      customers: count,
      meanActual: (actual[bin] as number) / count,
      meanPredicted,
    });
  }
  return rows;
}

/**
 * The models ranked by the selection rule of the module header: lowest MAE first, MAEs within 0.1 % of each
 * other ordered by calibration log-likelihood (highest first), then by the fixed order.
 */
export function rankByHoldout(
  accuracies: Partial<Record<RepeatModelName, Pick<HoldoutModelAccuracy, "mae" | "fit">>>,
): RepeatModelName[] {
  const left = REPEAT_MODEL_ORDER.filter((name) => accuracies[name] !== undefined);
  const ranked: RepeatModelName[] = [];
  while (left.length > 0) {
    let lowest = Number.POSITIVE_INFINITY;
    for (const name of left) lowest = Math.min(lowest, (accuracies[name] as { mae: number }).mae);
    const tied = left.filter(
      (name) => (accuracies[name] as { mae: number }).mae <= lowest + MAE_TIE_TOLERANCE * lowest,
    );
    let best = tied[0] as RepeatModelName;
    for (const name of tied) {
      const ll = (accuracies[name] as { fit: { logLikelihood: number } }).fit.logLikelihood;
      const bestLl = (accuracies[best] as { fit: { logLikelihood: number } }).fit.logLikelihood;
      if (ll > bestLl) best = name;
    }
    ranked.push(best);
    left.splice(left.indexOf(best), 1);
  }
  return ranked;
}
