/**
 * The CLV horizon and its discounting (predict.ts's module header gives the formula), the discounted expected
 * purchases of a customer alive now, and the pooled order value fallback: the per-customer arithmetic that
 * the batch (predict.ts predictAll) and a single customer's prediction (served.ts) share, so that both give
 * the same doubles.
 */
import { aliveExpectedPurchasesUnchecked, type BgNbdParams } from "./bgnbd";
import { ClvInputError } from "./errors";
import type { RepeatKernel } from "./repeat";

export interface ClvOptions {
  /** Number of periods in the horizon. Default 12. */
  horizonPeriods?: number;
  /** Periods per year (12 = monthly). Default 12. */
  periodsPerYear?: number;
  /** Length of a year in the data's time unit. Default 365.25 / 7 (weeks). */
  timeUnitsPerYear?: number;
  /** Annual discount rate, e.g. 0.1 for 10 %. Default 0.1. */
  annualDiscountRate?: number;
  /** Share of order value that counts (profit margin). Default 1. */
  margin?: number;
}

export interface ResolvedClvOptions {
  horizonPeriods: number;
  periodLength: number;
  margin: number;
  /** Discount factor of each period, 1 / (1 + d)^(k / periodsPerYear), k = 1..H. */
  discount: Float64Array;
}

export const CLV_DEFAULTS = {
  horizonPeriods: 12,
  periodsPerYear: 12,
  timeUnitsPerYear: 365.25 / 7,
  annualDiscountRate: 0.1,
  margin: 1,
} as const satisfies Required<ClvOptions>;

export function resolveClvOptions(options: ClvOptions): ResolvedClvOptions {
  const o = { ...CLV_DEFAULTS, ...options };
  const positive = (name: keyof ClvOptions, ok: boolean, what: string): void => {
    if (!ok) throw new ClvInputError("CLV_BAD_OPTION", `${name} must be ${what}`, name);
  };
  positive(
    "horizonPeriods",
    Number.isInteger(o.horizonPeriods) && o.horizonPeriods >= 1 && o.horizonPeriods <= 1200,
    "an integer from 1 to 1200",
  );
  positive(
    "periodsPerYear",
    Number.isFinite(o.periodsPerYear) && o.periodsPerYear > 0,
    "a finite number > 0",
  );
  positive(
    "timeUnitsPerYear",
    Number.isFinite(o.timeUnitsPerYear) && o.timeUnitsPerYear > 0,
    "a finite number > 0",
  );
  positive(
    "annualDiscountRate",
    Number.isFinite(o.annualDiscountRate) && o.annualDiscountRate > -1,
    "a finite number > -1",
  );
  positive("margin", Number.isFinite(o.margin), "a finite number");
  const discount = new Float64Array(o.horizonPeriods);
  const logGrowth = Math.log1p(o.annualDiscountRate) / o.periodsPerYear;
  for (let k = 1; k <= o.horizonPeriods; k++) discount[k - 1] = Math.exp(-k * logGrowth);
  return {
    horizonPeriods: o.horizonPeriods,
    periodLength: o.timeUnitsPerYear / o.periodsPerYear,
    margin: o.margin,
    discount,
  };
}

/**
 * Σ_k ΔA_k · discount_k, A_k the expected purchases in the first k periods of a customer known to be alive
 * under BG/NBD. Equation (10) is P(alive) · A, so the discounted expected purchases are P(alive) times this;
 * A depends on x and T only, which lets customers who differ only in t_x share it. `last` receives A at the
 * horizon.
 */
export function discountedAlivePurchases(
  p: BgNbdParams,
  o: ResolvedClvOptions,
  x: number,
  T: number,
  last?: Float64Array,
): number {
  let previous = 0;
  let sum = 0;
  for (let k = 1; k <= o.horizonPeriods; k++) {
    const e = aliveExpectedPurchasesUnchecked(p, k * o.periodLength, x, T);
    sum += (e - previous) * (o.discount[k - 1] as number);
    previous = e;
  }
  if (last !== undefined) last[0] = previous;
  return sum;
}

/** Σ_k ΔA_k · discount_k of a customer alive at T under any repeat model; writes A at the horizon into `last`. */
export function discountedAliveFromKernel(
  kernel: RepeatKernel,
  o: ResolvedClvOptions,
  x: number,
  T: number,
  last: Float64Array,
): number {
  let previous = 0;
  let sum = 0;
  for (let k = 1; k <= o.horizonPeriods; k++) {
    const raw = kernel.aliveExpected(k * o.periodLength, x, T);
    // Cumulative expectations never fall; a non-finite value adds nothing.
    const e = Number.isFinite(raw) ? Math.max(raw, previous) : previous;
    sum += (e - previous) * (o.discount[k - 1] as number);
    previous = e;
  }
  last[0] = previous;
  return sum;
}

/** A probability alive as the predictions serve it: within [0, 1], 0 where the model gave no finite value. */
export function clampAlive(raw: number): number {
  return Number.isFinite(raw) ? Math.min(Math.max(raw, 0), 1) : 0;
}

/**
 * The last order-value fallback (predict.ts's module header): the x-weighted mean m_x of the customers with
 * repeat orders of positive value, 0 when there are none.
 */
export function pooledOrderValue(x: ArrayLike<number>, mx: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < x.length; i++) {
    const xi = x[i] as number;
    const m = mx[i] as number;
    if (xi > 0 && m > 0) {
      num += xi * m;
      den += xi;
    }
  }
  return den > 0 ? num / den : 0;
}
