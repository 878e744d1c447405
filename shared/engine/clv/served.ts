/**
 * The served value model: everything the batch prediction (predict.ts predictAll, as value.ts calls it)
 * used besides each customer's own inputs, in a form that survives JSON, and the prediction of one customer
 * from it. A reader that holds the model and a customer's inputs (x, t_x, the first purchase day, m_x and
 * the fallback order value) predicts that customer at the model's evaluation date with the same operations
 * in the same order as the batch, so the doubles are identical to the batch's before any rounding.
 *
 * What makes one customer's prediction depend on the others is in the model: the fitted parameters, the
 * covariances of the intervals (from the information of all customers), and the pooled order value (the
 * last order-value fallback, an x-weighted mean over everyone; predict.ts's module header).
 */

import type { CustomerValueInputs, ServedValueModel } from "../types";
import { probabilityAliveUnchecked } from "./bgnbd";
import { expectedAverageValueUnchecked } from "./gamma-gamma";
import {
  clampAlive,
  discountedAliveFromKernel,
  discountedAlivePurchases,
  resolveClvOptions,
} from "./horizon";
import { kernelOf, REPEAT_PARAM_NAMES } from "./repeat";
import { intervalOf, orderValueLogVariance, repeatLogVariance } from "./uncertainty";

export type { CustomerValueInputs, ServedValueModel };

/** One customer's predictions, unrounded (predict.ts Predictions, for one customer). */
export interface CustomerPrediction {
  probabilityAlive: number;
  expectedPurchases: number;
  expectedValue: number;
  clv: number;
  /** Whether the expected order value came from Gamma-Gamma. */
  valueFromModel: boolean;
  intervals?: {
    expectedPurchasesLow: number;
    expectedPurchasesHigh: number;
    clvLow: number;
    clvHigh: number;
  };
}

/** The customer's predictions at `asOfDay` (days since 1970-01-01) under the served model. */
export function predictCustomer(
  model: ServedValueModel,
  inputs: CustomerValueInputs,
  asOfDay: number,
): CustomerPrediction {
  const { x, tx, mx: m } = inputs;
  const T = asOfDay - inputs.firstDay;
  const o = resolveClvOptions(model.clv);
  const horizon = o.horizonPeriods * o.periodLength;
  const name = model.repeat.model;
  const kernel = kernelOf(name, model.repeat.params);
  const last = new Float64Array(1);
  let raw: number;
  let aliveDiscounted: number;
  if (name === "bgNbd") {
    // The batch's BG/NBD path (predictAll with `bg`): its own sum, without the kernel's monotone guard.
    const p = model.repeat.params as { r: number; alpha: number; a: number; b: number };
    aliveDiscounted = discountedAlivePurchases(p, o, x, T, last);
    raw = probabilityAliveUnchecked(p, x, tx, T);
  } else {
    aliveDiscounted = discountedAliveFromKernel(kernel, o, x, T, last);
    raw = kernel.alive(x, tx, T);
  }
  const aliveHorizon = last[0] as number;
  const alive = clampAlive(raw);
  const discounted = alive * aliveDiscounted;
  const expectedPurchases = alive * aliveHorizon;

  const gg = model.gammaGamma;
  let value = gg === null ? Number.POSITIVE_INFINITY : expectedAverageValueUnchecked(gg, x, m);
  const valueFromModel = Number.isFinite(value);
  if (!valueFromModel) {
    const f = inputs.fallbackOrderValue;
    if (Number.isFinite(f)) value = f;
    else value = x > 0 && m > 0 ? m : model.pooledOrderValue;
  }
  const clv = o.margin * value * discounted;
  const out: CustomerPrediction = {
    probabilityAlive: alive,
    expectedPurchases,
    expectedValue: value,
    clv,
    valueFromModel,
  };
  const sigma = model.covariances;
  if (sigma !== null) {
    const one = (a: number, b: number, c: number) => ({
      x: Float64Array.of(a),
      tx: Float64Array.of(b),
      T: Float64Array.of(c),
      weight: Float64Array.of(1),
      index: Uint32Array.of(0),
    });
    const varR = repeatLogVariance(
      { name, paramNames: REPEAT_PARAM_NAMES[name] },
      model.repeat.params,
      Float64Array.from(sigma.repeat),
      one(x, tx, T),
      one(x, T, T),
      horizon,
      Float64Array.of(alive),
      Float64Array.of(aliveHorizon),
    )[0] as number;
    const [eLow, eHigh] = intervalOf(expectedPurchases, varR);
    const varM =
      gg !== null && sigma.gammaGamma !== null && valueFromModel
        ? orderValueLogVariance(gg, Float64Array.from(sigma.gammaGamma), x, m)
        : 0;
    const [cLow, cHigh] = intervalOf(clv, varR + varM);
    out.intervals = {
      expectedPurchasesLow: eLow,
      expectedPurchasesHigh: eHigh,
      clvLow: cLow,
      clvHigh: cHigh,
    };
  }
  return out;
}

const isNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const numbers = (v: unknown, length: number): v is number[] =>
  Array.isArray(v) && v.length === length && v.every(isNumber);

/**
 * The served model that `value` holds (as JSON.parse gave it), checked field by field, or null when it is
 * not one: a plain check, so that a reader pays no schema library for it.
 */
export function servedValueModelOf(value: unknown): ServedValueModel | null {
  if (!isRecord(value) || value.timeUnit !== "day" || !isNumber(value.pooledOrderValue)) return null;
  const { repeat, gammaGamma, clv, covariances } = value;
  if (!isRecord(repeat) || !isRecord(repeat.params)) return null;
  const name = repeat.model;
  if (name !== "bgNbd" && name !== "paretoNbd" && name !== "mbgNbd") return null;
  const names = REPEAT_PARAM_NAMES[name];
  if (!names.every((p) => isNumber((repeat.params as Record<string, unknown>)[p]))) return null;
  if (
    gammaGamma !== null &&
    !(isRecord(gammaGamma) && ["p", "q", "gamma"].every((p) => isNumber(gammaGamma[p])))
  )
    return null;
  const clvFields = ["horizonPeriods", "periodsPerYear", "timeUnitsPerYear", "annualDiscountRate", "margin"];
  if (!isRecord(clv) || !clvFields.every((f) => isNumber(clv[f]))) return null;
  if (covariances !== null) {
    if (!isRecord(covariances) || !numbers(covariances.repeat, names.length * names.length)) return null;
    if (covariances.gammaGamma !== null && !numbers(covariances.gammaGamma, 9)) return null;
  }
  return value as unknown as ServedValueModel;
}
