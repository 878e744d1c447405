/**
 * Predicted value of every scored customer from BG/NBD and Gamma-Gamma fitted on the dataset (clv/).
 *
 * Inputs per customer, in days (the time unit of the fitted BG/NBD; its alpha is a rate per day):
 * - x  = repeat purchases = distinct purchase days − 1 (orders that are not returns, on or before asOf; two
 *        orders on one day are one purchase, as BG/NBD counts purchase occasions);
 * - tx = last purchase day − first purchase day;
 * - T  = asOf − first purchase day;
 * - mx = mean value of the repeat purchases: the net spend (returns included) spread over purchase days in
 *        proportion to their gross value, i.e. net × (gross − gross of the first day) / gross / x; a customer
 *        whose orders are all free has mx = 0. Returns thus lower the value of every purchase alike, and a
 *        customer whose returns exceed their purchases has mx <= 0, which Gamma-Gamma treats as 0.
 * When Gamma-Gamma gives no expected order value (not fitted, or q <= 1), the customer's own net spend per
 * purchase day (at least 0) stands in, as clv/predict.ts documents.
 *
 * Horizon. CLV sums the purchases of H periods of equal length horizonDays / H, H = ⌈horizonDays / (365.25 / 12)⌉
 * (so a year is 12 periods of about a month), each discounted from its end at the annual rate:
 * purchases in period k are worth 1 / (1 + d)^(k · horizonDays / H / 365.25). Expected purchases are those of
 * the whole horizon.
 *
 * Not fitted, with an issue in the result and no value columns: fewer than VALUE_MIN_CUSTOMERS scored
 * customers, or nobody with a repeat purchase. A fit that did not converge or ended at the edge of its
 * search box is used, with an issue saying so.
 */
import { type ClvOptions, type CustomerValueData, fitValueModels, type Predictions, predictAll } from "./clv";
import { ColumnBlock } from "./columns";
import { ComputeError } from "./errors";
import type { ComputeIssue, ValueModelSummary, ValueSettings } from "./types";

export const VALUE_DEFAULTS = Object.freeze({ horizonDays: 365, annualDiscountRate: 0.1 });

/** Fewest scored customers the value models are fitted on; four parameters need some data to stand on. */
export const VALUE_MIN_CUSTOMERS = 10;

export const MAX_HORIZON_DAYS = 36_500;
const DAYS_PER_YEAR = 365.25;
const DAYS_PER_MONTH = DAYS_PER_YEAR / 12;

export interface ResolvedValueSettings {
  horizonDays: number;
  annualDiscountRate: number;
}

/** Settings with defaults; throws ComputeError BAD_VALUE_SETTINGS naming the field. */
export function resolveValueSettings(settings: ValueSettings = {}): ResolvedValueSettings {
  const horizonDays: unknown = settings.horizonDays ?? VALUE_DEFAULTS.horizonDays;
  if (
    typeof horizonDays !== "number" ||
    !Number.isInteger(horizonDays) ||
    horizonDays < 1 ||
    horizonDays > MAX_HORIZON_DAYS
  ) {
    throw new ComputeError(
      "BAD_VALUE_SETTINGS",
      `horizonDays must be a whole number of days from 1 to ${MAX_HORIZON_DAYS}`,
      "value.horizonDays",
    );
  }
  const rate: unknown = settings.annualDiscountRate ?? VALUE_DEFAULTS.annualDiscountRate;
  if (typeof rate !== "number" || !Number.isFinite(rate) || rate < 0 || rate > 10) {
    throw new ComputeError(
      "BAD_VALUE_SETTINGS",
      "annualDiscountRate must be a number from 0 to 10 (0.1 is 10 % a year)",
      "value.annualDiscountRate",
    );
  }
  return { horizonDays, annualDiscountRate: rate };
}

/** The clv module's options for a horizon in days (see the module header). */
export function clvOptionsFor(settings: ResolvedValueSettings): Required<ClvOptions> {
  const periods = Math.max(1, Math.ceil(settings.horizonDays / DAYS_PER_MONTH - 1e-9));
  const periodLength = settings.horizonDays / periods;
  return {
    horizonPeriods: periods,
    periodsPerYear: DAYS_PER_YEAR / periodLength,
    timeUnitsPerYear: DAYS_PER_YEAR,
    annualDiscountRate: settings.annualDiscountRate,
    margin: 1,
  };
}

/** The models' per-customer inputs, in days (see the module header). */
export interface ValueInputs extends Required<CustomerValueData> {
  x: Float64Array;
  tx: Float64Array;
  T: Float64Array;
  mx: Float64Array;
  fallbackOrderValue: Float64Array;
}

/** Per-customer model inputs from the computation's columns (see the module header). */
export function valueInputs(
  columns: {
    readonly firstPurchaseDay: Int32Array;
    readonly lastPurchaseDay: Int32Array;
    readonly monetaryCents: Float64Array;
    readonly grossCents: Float64Array;
    readonly firstDayCents: Float64Array;
  },
  purchaseDays: Uint32Array,
  asOfDay: number,
): ValueInputs {
  const n = purchaseDays.length;
  const block = new ColumnBlock(n).reserve(8, 5).allocate();
  const x = block.f64();
  const tx = block.f64();
  const T = block.f64();
  const mx = block.f64();
  const fallbackOrderValue = block.f64();
  const { firstPurchaseDay, lastPurchaseDay, monetaryCents, grossCents, firstDayCents } = columns;
  for (let i = 0; i < n; i++) {
    const days = purchaseDays[i] as number;
    const first = firstPurchaseDay[i] as number;
    const repeats = days - 1;
    const net = monetaryCents[i] as number;
    const gross = grossCents[i] as number;
    x[i] = repeats;
    tx[i] = (lastPurchaseDay[i] as number) - first;
    T[i] = asOfDay - first;
    mx[i] =
      repeats > 0 && gross > 0 ? (net * (gross - (firstDayCents[i] as number))) / gross / repeats / 100 : 0;
    fallbackOrderValue[i] = Math.max(0, net / 100 / days);
  }
  return { x, tx, T, mx, fallbackOrderValue };
}

export type ValueStage =
  | { ok: true; summary: ValueModelSummary; predictions: Predictions; issues: ComputeIssue[] }
  | { ok: false; issues: ComputeIssue[] };

function issue(code: string, message: string): ComputeIssue {
  return { code, message, stage: "value" };
}

/** Fits both models and scores every customer. Never throws for data the models cannot describe. */
export function valueStage(data: ValueInputs, settings: ResolvedValueSettings): ValueStage {
  const n = data.x.length;
  if (n < VALUE_MIN_CUSTOMERS) {
    return {
      ok: false,
      issues: [
        issue(
          "VALUE_TOO_FEW_CUSTOMERS",
          `${n} customers with orders; the value models need at least ${VALUE_MIN_CUSTOMERS}`,
        ),
      ],
    };
  }
  const fits = fitValueModels(data);
  const issues: ComputeIssue[] = [];
  const bg = fits.bgNbd;
  for (const problem of fits.issues) {
    // Without BG/NBD there are no predictions at all, so what Gamma-Gamma lacks does not matter.
    if (bg === null && problem.model !== "bg-nbd") continue;
    const code = problem.code.replace(/^CLV_/, "VALUE_");
    const consequence =
      problem.model === "bg-nbd"
        ? "no value predictions"
        : "order values come from each customer's own history";
    issues.push(issue(code, `${problem.message}; ${consequence}`));
  }
  if (bg === null) return { ok: false, issues };
  const gg = fits.gammaGamma;
  for (const [name, fit] of [
    ["BG/NBD", bg],
    ["Gamma-Gamma", gg],
  ] as const) {
    if (fit === null) continue;
    if (!fit.converged) {
      issues.push(issue("VALUE_NOT_CONVERGED", `the ${name} fit stopped before meeting its tolerances`));
    }
    if (fit.atBoundary.length > 0) {
      issues.push(
        issue(
          "VALUE_AT_BOUNDARY",
          `the ${name} parameters ${fit.atBoundary.join(", ")} ended at the edge of the search range; the data say little about them`,
        ),
      );
    }
  }
  const predictions = predictAll(data, fits.models, clvOptionsFor(settings));
  if (gg !== null) {
    let fallbacks = 0;
    for (let i = 0; i < n; i++) if (predictions.valueFromModel[i] === 0) fallbacks++;
    if (fallbacks > 0) {
      issues.push(
        issue(
          "VALUE_ORDER_VALUE_FALLBACK",
          `the Gamma-Gamma fit has no finite expected order value for ${fallbacks} customers (q <= 1); their own history stands in`,
        ),
      );
    }
  }
  let repeatCustomers = 0;
  for (let i = 0; i < n; i++) if ((data.x[i] as number) > 0) repeatCustomers++;
  return {
    ok: true,
    issues,
    predictions,
    summary: {
      timeUnit: "day",
      horizonDays: settings.horizonDays,
      annualDiscountRate: settings.annualDiscountRate,
      bgNbd: bg.params,
      gammaGamma: gg?.params ?? null,
      logLikelihoods: { bgNbd: bg.logLikelihood, gammaGamma: gg?.logLikelihood ?? null },
      converged: { bgNbd: bg.converged, gammaGamma: gg?.converged ?? null },
      customers: n,
      repeatCustomers,
    },
  };
}
