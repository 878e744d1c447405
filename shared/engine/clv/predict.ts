/**
 * Customer lifetime value from the two fitted models, and the batch path that scores every customer.
 *
 * CLV over a horizon of H periods (default 12 monthly periods), each of length L = timeUnitsPerYear /
 * periodsPerYear in the data's time unit:
 *
 *   CLV = margin · E[M] · Σ_{k=1..H} (E[X(kL) | x, t_x, T] − E[X((k−1)L) | x, t_x, T]) / (1 + d)^(k / periodsPerYear)
 *
 * where E[X(t) | ·] is the repeat model's expected repeat purchases in the next t (BG/NBD's equation 10 of
 * Fader, Hardie & Lee 2005, or Pareto/NBD's or MBG/NBD's given as `repeat`, models.ts; every one of them is
 * P(alive | x, t_x, T) times the expectation A(t; x, T) of a customer alive now, so A is worked out once per
 * distinct (x, T)), E[M] the expected order value (Gamma-Gamma's E[M | x, m_x]), d the annual discount rate, and
 * `margin` the share of an order's value that is profit (1 = value is revenue). Purchases of period k are
 * discounted from the end of that period. With d = 0 the sum telescopes to margin · E[M] · E[X(HL) | ·].
 * The first purchase is history, not future value, so it is not counted.
 *
 * Fallbacks, so that a dataset the models cannot describe still gets a documented answer:
 * - No BG/NBD model (no customer has a repeat purchase): nobody is expected to buy again, so expected
 *   purchases and CLV are 0; P(alive) is 1, which is what BG/NBD itself says of every customer with x = 0.
 * - No Gamma-Gamma model (no repeat order of positive value), or a fit whose population mean does not exist
 *   (q <= 1, for x = 0) or posterior mean does not exist (px + q <= 1): the expected order value is the
 *   caller's `fallbackOrderValue` for that customer when given (e.g. the mean of all their orders, the first
 *   included); otherwise the customer's own m_x when x > 0 and m_x > 0; otherwise the x-weighted mean m_x of
 *   the customers with repeat orders of positive value; otherwise 0.
 */

import { ColumnBlock } from "../columns";
import {
  BG_NBD_PARAM_NAMES,
  type BgNbdFit,
  type BgNbdFitOptions,
  type BgNbdParams,
  checkBgNbdParams,
  fitBgNbd,
  probabilityAliveUnchecked,
} from "./bgnbd";
import {
  type CompressedSummary,
  type CustomerSummary,
  checkLength,
  compressSummary,
  pairsOf,
  validateSummary,
} from "./data";
import { ClvFitError, type ClvFitErrorCode, ClvInputError } from "./errors";
import {
  checkGammaGammaParams,
  expectedAverageValueUnchecked,
  fitGammaGamma,
  type GammaGammaFit,
  type GammaGammaFitOptions,
  type GammaGammaParams,
} from "./gamma-gamma";
import {
  type ClvOptions,
  clampAlive,
  discountedAliveFromKernel,
  discountedAlivePurchases,
  pooledOrderValue,
  type ResolvedClvOptions,
  resolveClvOptions,
} from "./horizon";
import { namedParams, REPEAT_MODELS, type RepeatModel, type RepeatModelParams } from "./models";
import { type RepeatKernel, repeatKernel } from "./repeat";
import { intervalOf, orderValueLogVariance, repeatLogVariance } from "./uncertainty";

export { CLV_DEFAULTS, type ClvOptions } from "./horizon";
export { type RepeatKernel, repeatKernel, repeatLogLikelihoodWithGradient } from "./repeat";

/** Σ_k ΔE_k · discount_k: the discounted expected purchases over the horizon. */
function discountedPurchases(
  p: BgNbdParams,
  o: ResolvedClvOptions,
  x: number,
  tx: number,
  T: number,
): number {
  return probabilityAliveUnchecked(p, x, tx, T) * discountedAlivePurchases(p, o, x, T);
}

/** CLV of one customer given the expected value of their orders (see the module header for the formula). */
export function customerLifetimeValue(
  params: BgNbdParams,
  expectedOrderValue: number,
  x: number,
  tx: number,
  T: number,
  options: ClvOptions = {},
): number {
  checkBgNbdParams(params);
  validateSummary({ x: [x], tx: [tx], T: [T] });
  if (!Number.isFinite(expectedOrderValue)) {
    throw new ClvInputError("CLV_BAD_VALUE", "expected order value must be finite", "expectedOrderValue");
  }
  const o = resolveClvOptions(options);
  return o.margin * expectedOrderValue * discountedPurchases(params, o, x, tx, T);
}

export interface CustomerValueData extends CustomerSummary {
  /** Mean value of the repeat purchases; read only where x > 0. */
  mx: ArrayLike<number>;
  /** Per-customer order value used when Gamma-Gamma gives none (see the module header). */
  fallbackOrderValue?: ArrayLike<number>;
}

export interface ValueModels {
  bgNbd: BgNbdParams | null;
  gammaGamma: GammaGammaParams | null;
  /**
   * Another repeat-purchase model of the registry (models.ts) in place of BG/NBD; when given, `bgNbd` is not
   * read. BG/NBD given here takes the same path as `bgNbd`.
   */
  repeat?: { model: RepeatModel; params: RepeatModelParams } | null;
}

/** Covariances of the fitted log-parameters (uncertainty.ts), for the 80 % intervals. */
export interface ParameterCovariances {
  /** Of the repeat model's log-parameters, in the order of its paramNames; null: no intervals. */
  repeat: Float64Array | null;
  /** Of Gamma-Gamma's (log p, log q, log γ); null: order values count as known. */
  gammaGamma: Float64Array | null;
}

export interface PredictOptions extends ClvOptions {
  /** When given (and its repeat part is not null), the predictions carry 80 % intervals (uncertainty.ts). */
  covariances?: ParameterCovariances;
  /** compressSummary of the data's (x, t_x, T), when the caller has it already: not worked out again. */
  compressed?: CompressedSummary;
}

export interface Predictions {
  probabilityAlive: Float64Array;
  /** Expected repeat purchases over the CLV horizon (horizonPeriods × period length). */
  expectedPurchases: Float64Array;
  /** Expected order value E[M]. */
  expectedValue: Float64Array;
  clv: Float64Array;
  /** 1 where the expected order value came from Gamma-Gamma, 0 where from a fallback. */
  valueFromModel: Uint8Array;
  /** Length of the horizon in the data's time unit. */
  horizon: number;
  /** 80 % intervals (uncertainty.ts), when covariances were given. */
  intervals?: {
    expectedPurchasesLow: Float64Array;
    expectedPurchasesHigh: Float64Array;
    clvLow: Float64Array;
    clvHigh: Float64Array;
  };
}

/** Scores every customer. Customers sharing (x, T) share the expectations of equation (10), (x, t_x, T) the rest. */
export function predictAll(
  data: CustomerValueData,
  models: ValueModels,
  options: PredictOptions = {},
): Predictions {
  validateSummary(data);
  const n = data.x.length;
  checkLength("mx", data.mx, n);
  if (data.fallbackOrderValue !== undefined) checkLength("fallbackOrderValue", data.fallbackOrderValue, n);
  const repeat = models.repeat ?? null;
  const bg =
    repeat === null ? models.bgNbd : repeat.model.name === "bgNbd" ? bgNbdParamsOf(repeat.params) : null;
  if (bg !== null) checkBgNbdParams(bg);
  const kernel = repeat !== null && bg === null ? repeatKernel(repeat.model, repeat.params) : null;
  if (models.gammaGamma !== null) checkGammaGammaParams(models.gammaGamma);
  const o = resolveClvOptions(options);
  const horizon = o.horizonPeriods * o.periodLength;

  // One allocation for the three per-customer outputs (see ../columns.ts for why).
  const block = new ColumnBlock(n).reserve(8, 3).allocate();
  const probabilityAlive = block.f64().fill(1);
  const expectedPurchases = block.f64();
  const discounted = block.f64();
  let repeatLogVar: Float64Array | undefined;
  let tripleIndex: Uint32Array | undefined;
  if (bg !== null || repeat !== null) {
    const c = options.compressed ?? compressSummary(data);
    checkLength("compressed", c.index, n);
    const u = c.x.length;
    // The hypergeometric work depends on (x, T) only: done once per distinct pair (grouped as (x, T, T)).
    const pairs = pairsOf(c);
    const v = pairs.x.length;
    const vDiscounted = new Float64Array(v);
    const vHorizon = new Float64Array(v);
    const last = new Float64Array(1);
    for (let j = 0; j < v; j++) {
      vDiscounted[j] =
        bg !== null
          ? discountedAlivePurchases(bg, o, pairs.x[j] as number, pairs.T[j] as number, last)
          : discountedAliveFromKernel(
              kernel as RepeatKernel,
              o,
              pairs.x[j] as number,
              pairs.T[j] as number,
              last,
            );
      vHorizon[j] = last[0] as number;
    }
    const uAlive = new Float64Array(u);
    const uDiscounted = new Float64Array(u);
    const uExpected = new Float64Array(u);
    for (let j = 0; j < u; j++) {
      const raw =
        bg !== null
          ? probabilityAliveUnchecked(bg, c.x[j] as number, c.tx[j] as number, c.T[j] as number)
          : (kernel as RepeatKernel).alive(c.x[j] as number, c.tx[j] as number, c.T[j] as number);
      const alive = clampAlive(raw);
      const pair = pairs.index[j] as number;
      uAlive[j] = alive;
      uDiscounted[j] = alive * (vDiscounted[pair] as number);
      uExpected[j] = alive * (vHorizon[pair] as number);
    }
    for (let i = 0; i < n; i++) {
      const j = c.index[i] as number;
      probabilityAlive[i] = uAlive[j] as number;
      expectedPurchases[i] = uExpected[j] as number;
      discounted[i] = uDiscounted[j] as number;
    }
    const sigma = options.covariances?.repeat ?? null;
    if (sigma !== null) {
      const fitted = repeat ?? { model: REPEAT_MODELS.bgNbd, params: { ...(bg as BgNbdParams) } };
      repeatLogVar = repeatLogVariance(
        fitted.model,
        fitted.params,
        sigma,
        c,
        pairs,
        horizon,
        uAlive,
        vHorizon,
      );
      tripleIndex = c.index;
    }
  }

  const expectedValue = new Float64Array(n);
  const valueFromModel = new Uint8Array(n);
  let pooled: number | undefined;
  const pooledMean = (): number => {
    if (pooled === undefined) pooled = pooledOrderValue(data.x, data.mx);
    return pooled;
  };
  const gg = models.gammaGamma;
  for (let i = 0; i < n; i++) {
    const x = data.x[i] as number;
    const m = data.mx[i] as number;
    if (x > 0 && !Number.isFinite(m)) {
      throw new ClvInputError("CLV_BAD_VALUE", "mx must be a finite number where x > 0", "mx", i);
    }
    let value = gg === null ? Number.POSITIVE_INFINITY : expectedAverageValueUnchecked(gg, x, m);
    if (Number.isFinite(value)) {
      valueFromModel[i] = 1;
    } else {
      const f = data.fallbackOrderValue?.[i];
      if (f !== undefined && Number.isFinite(f)) value = f;
      else value = x > 0 && m > 0 ? m : pooledMean();
    }
    expectedValue[i] = value;
  }

  // The discounted purchases are needed no more once multiplied in: clv takes their place.
  const clv = discounted;
  for (let i = 0; i < n; i++) clv[i] = o.margin * (expectedValue[i] as number) * (discounted[i] as number);
  const out: Predictions = {
    probabilityAlive,
    expectedPurchases,
    expectedValue,
    clv,
    valueFromModel,
    horizon,
  };
  if (repeatLogVar !== undefined && tripleIndex !== undefined) {
    const ggSigma = options.covariances?.gammaGamma ?? null;
    const bounds = new ColumnBlock(n).reserve(8, 4).allocate();
    const intervals = {
      expectedPurchasesLow: bounds.f64(),
      expectedPurchasesHigh: bounds.f64(),
      clvLow: bounds.f64(),
      clvHigh: bounds.f64(),
    };
    for (let i = 0; i < n; i++) {
      const varR = repeatLogVar[tripleIndex[i] as number] as number;
      const [eLow, eHigh] = intervalOf(expectedPurchases[i] as number, varR);
      intervals.expectedPurchasesLow[i] = eLow;
      intervals.expectedPurchasesHigh[i] = eHigh;
      const varM =
        gg !== null && ggSigma !== null && valueFromModel[i] === 1
          ? orderValueLogVariance(gg, ggSigma, data.x[i] as number, data.mx[i] as number)
          : 0;
      const [cLow, cHigh] = intervalOf(clv[i] as number, varR + varM);
      intervals.clvLow[i] = cLow;
      intervals.clvHigh[i] = cHigh;
    }
    out.intervals = intervals;
  }
  return out;
}

function bgNbdParamsOf(params: RepeatModelParams): BgNbdParams {
  return namedParams("BG/NBD", BG_NBD_PARAM_NAMES, params);
}

export interface FitValueModelsOptions {
  bgNbd?: BgNbdFitOptions;
  gammaGamma?: GammaGammaFitOptions;
}

export interface ValueModelIssue {
  model: "bg-nbd" | "gamma-gamma";
  code: ClvFitErrorCode;
  message: string;
}

export interface ValueModelFits {
  bgNbd: BgNbdFit | null;
  gammaGamma: GammaGammaFit | null;
  /** Why a model is missing; predictAll then uses the fallbacks of this module's header. */
  issues: ValueModelIssue[];
  /** The fitted parameters, ready for predictAll. */
  models: ValueModels;
}

/**
 * Fits both models. Bad input still throws `ClvInputError`; data a model cannot be fitted to is reported in
 * `issues` with that model left null, never thrown.
 */
export function fitValueModels(data: CustomerValueData, options: FitValueModelsOptions = {}): ValueModelFits {
  const issues: ValueModelIssue[] = [];
  const attempt = <F>(model: ValueModelIssue["model"], run: () => F): F | null => {
    try {
      return run();
    } catch (error) {
      if (!(error instanceof ClvFitError)) throw error;
      issues.push({ model, code: error.code, message: error.message });
      return null;
    }
  };
  const bgNbd = attempt("bg-nbd", () => fitBgNbd(data.x, data.tx, data.T, options.bgNbd));
  const gammaGamma = attempt("gamma-gamma", () => fitGammaGamma(data.x, data.mx, options.gammaGamma));
  return {
    bgNbd,
    gammaGamma,
    issues,
    models: { bgNbd: bgNbd?.params ?? null, gammaGamma: gammaGamma?.params ?? null },
  };
}
