/**
 * Predicted value of every scored customer: a repeat-purchase model (BG/NBD, Pareto/NBD or MBG/NBD, clv/models.ts)
 * chosen by holdout validation, with Gamma-Gamma for order values (clv/).
 *
 * Inputs per customer, in days (the time unit of the fitted models; their alpha is a rate per day):
 * - x  = repeat purchases = distinct purchase days − 1 (orders that are not returns, on or before asOf; two
 *        orders on one day are one purchase, as the models count purchase occasions);
 * - tx = last purchase day − first purchase day;
 * - T  = asOf − first purchase day;
 * - mx = mean value of the repeat purchases: the net spend (returns included) spread over purchase days in
 *        proportion to their gross value, i.e. net × (gross − gross of the first day) / gross / x; a customer
 *        whose orders are all free has mx = 0. Returns thus lower the value of every purchase alike, and a
 *        customer whose returns exceed their purchases has mx <= 0, which Gamma-Gamma treats as 0.
 * When Gamma-Gamma gives no expected order value (not fitted, or q <= 1), the customer's own net spend per
 * purchase day (at least 0) stands in, as clv/predict.ts documents.
 *
 * Holdout validation (clv/validation.ts), on every run. The history is split at calibrationEnd = asOf −
 * holdoutDays (default holdoutDays: a quarter of the days from the dataset's first order to asOf, rounded
 * down, at most 365). Every model is fitted on the orders up to calibrationEnd of the customers who had bought
 * by then (on a stride sample of HOLDOUT_FIT_CUSTOMERS of them when there are more), predicts every one of
 * those customers' repeat purchases (distinct purchase days) in (calibrationEnd, asOf], and is compared with
 * what they did. The metric is the mean absolute error per customer (MAE). Tie rule: models whose MAE is
 * within 0.1 % (relative) of the lowest tie; the tie goes to the highest calibration log-likelihood, then to
 * the first of bgNbd, paretoNbd, mbgNbd. The selected model is then fitted again on all the data (its search
 * starting from the calibration estimate), and its predictions are served (selection "holdout"); should that
 * fit fail, the next model in the ranking is used.
 * A model named in the settings (`model`) is served instead (selection "setting"), the validation still run.
 *
 * No validation (`validationSkipped`, also a run issue): when the history is not at hand (a result merged
 * from partials without purchase days: VALUE_HOLDOUT_UNAVAILABLE), the holdout would be shorter than
 * HOLDOUT_MIN_DAYS (VALUE_HOLDOUT_TOO_SHORT), fewer than VALUE_MIN_CUSTOMERS customers had bought by
 * calibrationEnd (VALUE_HOLDOUT_TOO_FEW_CUSTOMERS), none of them has a repeat purchase by then
 * (VALUE_HOLDOUT_NO_REPEAT_PURCHASES), none of them bought in the holdout window (VALUE_HOLDOUT_NO_PURCHASES:
 * the data end before it, as when asOf is far past the latest order; the lowest error would go to whichever
 * model predicts least), or no model could be fitted on the calibration part
 * (VALUE_HOLDOUT_NO_FIT). The default model is then MBG/NBD (selection "default"): unlike BG/NBD, it lets a
 * customer without a repeat purchase be gone, so churn risk falls with time since the last purchase as the
 * segments do, and its likelihood is in closed form, so its fit stays quick where the data end long before
 * asOf (Pareto/NBD's search is slow there); if it cannot be fitted, Pareto/NBD, then BG/NBD.
 *
 * Horizon. CLV sums the purchases of H periods of equal length horizonDays / H, H = ⌈horizonDays / (365.25 / 12)⌉
 * (so a year is 12 periods of about a month), each discounted from its end at the annual rate:
 * purchases in period k are worth 1 / (1 + d)^(k · horizonDays / H / 365.25). Expected purchases are those of
 * the whole horizon.
 *
 * Intervals. Each customer's expected purchases and CLV carry an 80 % interval from the uncertainty of the
 * selected model's and Gamma-Gamma's parameters (inverse observed information, delta method on the log scale;
 * clv/uncertainty.ts documents the method). A segment's mean CLV has as bounds the means of its members'
 * bounds. Without a positive definite information matrix there are no intervals (VALUE_NO_INTERVALS).
 *
 * Probability alive of a segment. BG/NBD holds every customer without a repeat purchase alive with
 * probability 1 by construction, which says nothing about them; when BG/NBD is the selected model, a
 * segment's mean probability alive is over its members with a repeat purchase only (null when there are none).
 *
 * Not fitted, with an issue in the result and no value columns: fewer than VALUE_MIN_CUSTOMERS scored
 * customers, nobody with a repeat purchase, or no repeat-purchase model could be fitted. A fit that did not
 * converge or ended at the edge of its search box is used, with an issue saying so.
 */
import {
  ClvFitError,
  type ClvOptions,
  type CustomerValueData,
  fitGammaGamma,
  type GammaGammaFit,
  type Predictions,
  predictAll,
  REPEAT_MODELS,
  type RepeatModel,
  type RepeatModelFit,
} from "./clv";
import { compressSummary } from "./clv/data";
import { pooledOrderValue } from "./clv/horizon";
import { COVARIANCE_CUSTOMERS, gammaGammaCovariance, repeatModelCovariance } from "./clv/uncertainty";
import {
  calibrationData,
  compareOnHoldout,
  fitSummary,
  REPEAT_MODEL_ORDER,
  rankByHoldout,
  strideSample,
} from "./clv/validation";
import { ColumnBlock } from "./columns";
import { isoDay } from "./days";
import { ComputeError } from "./errors";
import type {
  ComputeIssue,
  CustomerValueInputs,
  RepeatModelName,
  ServedValueModel,
  ValueModelSummary,
  ValueSettings,
  ValueValidation,
} from "./types";

export const VALUE_DEFAULTS = Object.freeze({ horizonDays: 365, annualDiscountRate: 0.1 });

/** Fewest scored customers the value models are fitted on; four parameters need some data to stand on. */
export const VALUE_MIN_CUSTOMERS = 10;

export const MAX_HORIZON_DAYS = 36_500;
/** Longest holdout window a setting may ask for, in days. */
export const MAX_HOLDOUT_DAYS = 3_650;
/** Shortest holdout window validated, in days: a week, so that a weekly rhythm cannot fool the comparison. */
export const HOLDOUT_MIN_DAYS = 7;
/** Default holdout: this share of the days from the first order to asOf, at most DEFAULT_HOLDOUT_MAX_DAYS. */
export const DEFAULT_HOLDOUT_SHARE = 0.25;
export const DEFAULT_HOLDOUT_MAX_DAYS = 365;
/** The model used when there is no holdout validation, and those tried after it should its fit fail. */
export const DEFAULT_MODEL_ORDER: readonly RepeatModelName[] = ["mbgNbd", "paretoNbd", "bgNbd"];
export const VALUE_MODEL_SETTINGS = ["auto", ...REPEAT_MODEL_ORDER] as const;
const DAYS_PER_YEAR = 365.25;
const DAYS_PER_MONTH = DAYS_PER_YEAR / 12;

export interface ResolvedValueSettings {
  horizonDays: number;
  annualDiscountRate: number;
  /** Absent: the default (see the module header), which depends on the data. */
  holdoutDays?: number;
  model: "auto" | RepeatModelName;
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
  const holdoutDays: unknown = settings.holdoutDays;
  if (
    holdoutDays !== undefined &&
    (typeof holdoutDays !== "number" ||
      !Number.isInteger(holdoutDays) ||
      holdoutDays < 1 ||
      holdoutDays > MAX_HOLDOUT_DAYS)
  ) {
    throw new ComputeError(
      "BAD_VALUE_SETTINGS",
      `holdoutDays must be a whole number of days from 1 to ${MAX_HOLDOUT_DAYS}`,
      "value.holdoutDays",
    );
  }
  const model: unknown = settings.model ?? "auto";
  if (
    !(VALUE_MODEL_SETTINGS as readonly unknown[]).includes(model) ||
    (model !== "auto" && REPEAT_MODELS[model as RepeatModelName] === undefined)
  ) {
    const known = ["auto", ...REPEAT_MODEL_ORDER.filter((name) => REPEAT_MODELS[name] !== undefined)];
    throw new ComputeError("BAD_VALUE_SETTINGS", `model must be one of ${known.join(", ")}`, "value.model");
  }
  return {
    horizonDays,
    annualDiscountRate: rate,
    ...(holdoutDays === undefined ? {} : { holdoutDays }),
    model: model as ResolvedValueSettings["model"],
  };
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

/** The computation's columns the models' inputs are made from. */
export interface ValueColumns {
  readonly firstPurchaseDay: Int32Array;
  readonly lastPurchaseDay: Int32Array;
  readonly monetaryCents: Float64Array;
  readonly grossCents: Float64Array;
  readonly firstDayCents: Float64Array;
}

/** Per-customer model inputs from the computation's columns (see the module header). */
export function valueInputs(columns: ValueColumns, purchaseDays: Uint32Array, asOfDay: number): ValueInputs {
  const n = purchaseDays.length;
  const block = new ColumnBlock(n).reserve(8, 5).allocate();
  const x = block.f64();
  const tx = block.f64();
  const T = block.f64();
  const mx = block.f64();
  const fallbackOrderValue = block.f64();
  for (let i = 0; i < n; i++) {
    const one = customerValueInputs(columns, purchaseDays, i);
    x[i] = one.x;
    tx[i] = one.tx;
    T[i] = asOfDay - one.firstDay;
    mx[i] = one.mx;
    fallbackOrderValue[i] = one.fallbackOrderValue;
  }
  return { x, tx, T, mx, fallbackOrderValue };
}

/** The models' inputs of the customer at position i (see the module header); T is asOf − firstDay. */
export function customerValueInputs(
  columns: ValueColumns,
  purchaseDays: Uint32Array,
  i: number,
): CustomerValueInputs {
  const days = purchaseDays[i] as number;
  const first = columns.firstPurchaseDay[i] as number;
  const repeats = days - 1;
  const net = columns.monetaryCents[i] as number;
  const gross = columns.grossCents[i] as number;
  return {
    x: repeats,
    tx: (columns.lastPurchaseDay[i] as number) - first,
    firstDay: first,
    mx:
      repeats > 0 && gross > 0
        ? (net * (gross - (columns.firstDayCents[i] as number))) / gross / repeats / 100
        : 0,
    fallbackOrderValue: Math.max(0, net / 100 / days),
  };
}

export interface ValuePredictions extends Predictions {
  /** The selected model. */
  model: RepeatModelName;
}

export type ValueStage =
  | {
      ok: true;
      summary: ValueModelSummary;
      predictions: ValuePredictions;
      /** What a reader needs to predict one customer as `predictions` did (clv/served.ts). */
      served: ServedValueModel;
      issues: ComputeIssue[];
    }
  | { ok: false; issues: ComputeIssue[] };

/** What the holdout validation needs besides the models' inputs. */
export interface HoldoutContext {
  asOfDay: number;
  /** The scored customers' columns, in the order of the models' inputs (increasing stateIndex). */
  columns: {
    readonly stateIndex: Uint32Array;
    readonly firstPurchaseDay: Int32Array;
    readonly purchaseDays: Uint32Array;
  };
  /**
   * The same columns of the customers with an order on or before `day`, counting those orders only
   * (customerTotals); absent when the orders are not at hand.
   */
  totalsAsOf?: (day: number) => {
    readonly stateIndex: Uint32Array;
    readonly firstPurchaseDay: Int32Array;
    readonly lastPurchaseDay: Int32Array;
    readonly purchaseDays: Uint32Array;
  };
}

function issue(code: string, message: string): ComputeIssue {
  return { code, message, stage: "value" };
}

function available(names: readonly RepeatModelName[]): RepeatModel[] {
  return names.flatMap((name) => {
    const model = REPEAT_MODELS[name];
    return model === undefined ? [] : [model];
  });
}

/** The holdout length the settings give for this data, and the first order day (see the module header). */
export function holdoutDaysFor(
  settings: Pick<ResolvedValueSettings, "holdoutDays">,
  firstOrderDay: number,
  asOfDay: number,
): number {
  if (settings.holdoutDays !== undefined) return settings.holdoutDays;
  const span = Math.max(0, asOfDay - firstOrderDay);
  return Math.min(DEFAULT_HOLDOUT_MAX_DAYS, Math.floor(span * DEFAULT_HOLDOUT_SHARE));
}

/**
 * The calibration end the holdout validation asks totals for (asOf − holdoutDaysFor), or undefined when the
 * holdout would be shorter than HOLDOUT_MIN_DAYS and no validation runs.
 */
export function calibrationEndDay(
  settings: Pick<ResolvedValueSettings, "holdoutDays">,
  firstOrderDay: number,
  asOfDay: number,
): number | undefined {
  const holdout = holdoutDaysFor(settings, firstOrderDay, asOfDay);
  return holdout >= HOLDOUT_MIN_DAYS ? asOfDay - holdout : undefined;
}

type Validated =
  | {
      ok: true;
      validation: ValueValidation;
      ranking: RepeatModelName[];
      calibrationParams: Partial<Record<RepeatModelName, Record<string, number>>>;
      issues: ComputeIssue[];
    }
  | { ok: false; skipped: { code: string; message: string }; issues: ComputeIssue[] };

function validate(settings: ResolvedValueSettings, context: HoldoutContext | undefined): Validated {
  const skip = (code: string, message: string, issues: ComputeIssue[] = []): Validated => ({
    ok: false,
    skipped: { code, message },
    issues,
  });
  if (context?.totalsAsOf === undefined) {
    return skip(
      "VALUE_HOLDOUT_UNAVAILABLE",
      "no holdout validation: the purchase days of each customer are not at hand (a result merged from partials without them)",
    );
  }
  const { asOfDay, columns } = context;
  let firstOrderDay = asOfDay;
  for (const day of columns.firstPurchaseDay) if (day < firstOrderDay) firstOrderDay = day;
  const holdoutDays = holdoutDaysFor(settings, firstOrderDay, asOfDay);
  const span = asOfDay - firstOrderDay;
  if (holdoutDays < HOLDOUT_MIN_DAYS) {
    return skip(
      "VALUE_HOLDOUT_TOO_SHORT",
      `no holdout validation: a holdout of ${holdoutDays} days is shorter than ${HOLDOUT_MIN_DAYS}` +
        (settings.holdoutDays === undefined
          ? ` (the default is a quarter of the ${span} days from the first order to asOf; it takes ${4 * HOLDOUT_MIN_DAYS} days of history)`
          : ""),
    );
  }
  const calibrationEndDay = asOfDay - holdoutDays;
  const data = calibrationData(columns, context.totalsAsOf(calibrationEndDay), calibrationEndDay);
  const customers = data.x.length;
  if (customers < VALUE_MIN_CUSTOMERS) {
    return skip(
      "VALUE_HOLDOUT_TOO_FEW_CUSTOMERS",
      `no holdout validation: ${customers} customers had bought by ${isoDay(calibrationEndDay)}, the end of the calibration period before a ${holdoutDays}-day holdout; it takes ${VALUE_MIN_CUSTOMERS}`,
    );
  }
  let repeaters = 0;
  for (let i = 0; i < customers; i++) if ((data.x[i] as number) > 0) repeaters++;
  if (repeaters === 0) {
    return skip(
      "VALUE_HOLDOUT_NO_REPEAT_PURCHASES",
      `no holdout validation: none of the ${customers} customers who had bought by ${isoDay(calibrationEndDay)} had bought again by then, so the models have nothing to learn repeat buying from`,
    );
  }
  let holdoutPurchases = 0;
  for (let i = 0; i < customers; i++) holdoutPurchases += data.actual[i] as number;
  if (holdoutPurchases === 0) {
    let lastOrderDay = firstOrderDay;
    for (let i = 0; i < customers; i++) {
      // first purchase = calibrationEnd − T, last = first + t_x
      const day = calibrationEndDay - (data.T[i] as number) + (data.tx[i] as number);
      if (day > lastOrderDay) lastOrderDay = day;
    }
    return skip(
      "VALUE_HOLDOUT_NO_PURCHASES",
      `no holdout validation: none of the ${customers} customers who had bought by ${isoDay(calibrationEndDay)} bought again in the ${holdoutDays} days after it (their latest purchase is on ${isoDay(lastOrderDay)}), so there is nothing to compare the predictions with`,
    );
  }
  const comparison = compareOnHoldout(data, holdoutDays, available(REPEAT_MODEL_ORDER));
  const issues = comparison.failures.map((f) =>
    issue("VALUE_HOLDOUT_FIT_FAILED", `the ${f.model} fit on the calibration period failed: ${f.message}`),
  );
  const accuracies: ValueValidation["models"] = {};
  for (const name of REPEAT_MODEL_ORDER) {
    const m = comparison.models[name];
    if (m !== undefined) accuracies[name] = m.accuracy;
  }
  const ranking = rankByHoldout(accuracies);
  const selected = ranking[0];
  if (selected === undefined) {
    return skip(
      "VALUE_HOLDOUT_NO_FIT",
      "no holdout validation: no repeat-purchase model could be fitted on the calibration period",
      issues,
    );
  }
  const calibrationParams: Partial<Record<RepeatModelName, Record<string, number>>> = {};
  for (const name of ranking) calibrationParams[name] = comparison.models[name]?.fit.params;
  return {
    ok: true,
    ranking,
    calibrationParams,
    issues,
    validation: {
      calibrationEnd: isoDay(calibrationEndDay),
      asOf: isoDay(asOfDay),
      holdoutDays,
      customers,
      actualRepeatPurchases: comparison.actualRepeatPurchases,
      models: accuracies,
      metric: "mae",
      selected,
      conditionalExpectations: comparison.conditionalExpectations,
    },
  };
}

function boundaryIssues(
  label: string,
  fit: { converged: boolean; atBoundary: readonly string[] },
): ComputeIssue[] {
  const out: ComputeIssue[] = [];
  if (!fit.converged)
    out.push(issue("VALUE_NOT_CONVERGED", `the ${label} fit stopped before meeting its tolerances`));
  if (fit.atBoundary.length > 0) {
    out.push(
      issue(
        "VALUE_AT_BOUNDARY",
        `the ${label} parameters ${fit.atBoundary.join(", ")} ended at the edge of the search range; the data say little about them`,
      ),
    );
  }
  return out;
}

/**
 * Validates the models on a holdout, fits the chosen one and Gamma-Gamma on all the data and scores every
 * customer (see the module header). Never throws for data the models cannot describe.
 */
export function valueStage(
  data: ValueInputs,
  settings: ResolvedValueSettings,
  context?: HoldoutContext,
  /**
   * The outcome of fitGammaGamma(data.x, data.mx) worked out elsewhere (value-thread.ts: by the calling thread
   * while this one validates and fits the repeat model): the fit, or its ClvFitError thrown.
   */
  gammaGamma?: () => GammaGammaFit,
): ValueStage {
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
  let repeatCustomers = 0;
  for (let i = 0; i < n; i++) if ((data.x[i] as number) > 0) repeatCustomers++;
  if (repeatCustomers === 0) {
    return {
      ok: false,
      issues: [
        issue(
          "VALUE_NO_REPEAT_PURCHASES",
          "no customer has a repeat purchase, so the repeat-purchase models cannot be fitted; no value predictions",
        ),
      ],
    };
  }
  const issues: ComputeIssue[] = [];
  const validated = validate(settings, context);
  issues.push(...validated.issues);
  if (!validated.ok) issues.push(issue(validated.skipped.code, validated.skipped.message));

  let selection: ValueModelSummary["selection"];
  let candidates: RepeatModelName[];
  if (settings.model !== "auto") {
    selection = "setting";
    candidates = [settings.model];
  } else if (validated.ok) {
    selection = "holdout";
    candidates = validated.ranking;
  } else {
    selection = "default";
    candidates = [...DEFAULT_MODEL_ORDER];
  }
  let chosen: { model: RepeatModel; fit: RepeatModelFit } | undefined;
  // The customers grouped by (x, t_x, T), once for the fit and the predictions.
  const compressed = compressSummary(data);
  for (const model of available(candidates)) {
    // The search on all the data starts from the calibration estimate, when there is one.
    const initial = validated.ok ? validated.calibrationParams[model.name] : undefined;
    try {
      chosen = {
        model,
        fit: model.fit(
          data.x,
          data.tx,
          data.T,
          initial === undefined ? { compressed } : { compressed, initial },
        ),
      };
      break;
    } catch (error) {
      if (!(error instanceof ClvFitError)) throw error;
      issues.push(
        issue(
          error.code.replace(/^CLV_/, "VALUE_"),
          `the ${model.label} fit on all the data failed: ${error.message}`,
        ),
      );
    }
  }
  if (chosen === undefined) {
    issues.push(issue("VALUE_NO_MODEL", "no repeat-purchase model could be fitted; no value predictions"));
    return { ok: false, issues };
  }
  const { model, fit } = chosen;
  issues.push(...boundaryIssues(model.label, fit));

  let gg: GammaGammaFit | null = null;
  try {
    gg = gammaGamma === undefined ? fitGammaGamma(data.x, data.mx) : gammaGamma();
  } catch (error) {
    if (!(error instanceof ClvFitError)) throw error;
    issues.push(
      issue(
        error.code.replace(/^CLV_/, "VALUE_"),
        `${error.message}; order values come from each customer's own history`,
      ),
    );
  }
  if (gg !== null) issues.push(...boundaryIssues("Gamma-Gamma", gg));

  // The information matrices on a stride sample of at most COVARIANCE_CUSTOMERS, scaled up (uncertainty.ts).
  const sample = strideSample({ x: data.x, tx: data.tx, T: data.T, mx: data.mx }, n, COVARIANCE_CUSTOMERS);
  const sampled = sample.x.length;
  const repeatSigma = repeatModelCovariance(model, fit.params, compressSummary(sample), n);
  const ggSigma = gg === null ? null : gammaGammaCovariance(gg.params, sample.x, sample.mx, n / sampled);
  if (repeatSigma === null) {
    issues.push(
      issue(
        "VALUE_NO_INTERVALS",
        `the ${model.label} likelihood is flat in some direction at its maximum (a parameter the data do not pin down); no intervals`,
      ),
    );
  } else if (gg !== null && ggSigma === null) {
    issues.push(
      issue(
        "VALUE_INTERVALS_WITHOUT_ORDER_VALUE",
        "the Gamma-Gamma likelihood is flat in some direction at its maximum; the intervals leave out the uncertainty of order values",
      ),
    );
  }
  const clvOptions = clvOptionsFor(settings);
  const predictions = predictAll(
    data,
    { bgNbd: null, gammaGamma: gg?.params ?? null, repeat: { model, params: fit.params } },
    {
      ...clvOptions,
      ...(repeatSigma === null ? {} : { covariances: { repeat: repeatSigma, gammaGamma: ggSigma } }),
      compressed,
    },
  );
  const served: ServedValueModel = {
    timeUnit: "day",
    repeat: { model: model.name, params: { ...fit.params } },
    gammaGamma: gg === null ? null : { p: gg.params.p, q: gg.params.q, gamma: gg.params.gamma },
    clv: clvOptions,
    covariances:
      repeatSigma === null
        ? null
        : { repeat: Array.from(repeatSigma), gammaGamma: ggSigma === null ? null : Array.from(ggSigma) },
    pooledOrderValue: pooledOrderValue(data.x, data.mx),
  };
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
  const name = model.name;
  const summary: ValueModelSummary = {
    timeUnit: "day",
    horizonDays: settings.horizonDays,
    annualDiscountRate: settings.annualDiscountRate,
    selectedModel: name,
    selection,
    models: { [name]: fitSummary(fit) },
    validation: validated.ok ? validated.validation : null,
    ...(validated.ok ? {} : { validationSkipped: validated.skipped }),
    ...(name === "bgNbd"
      ? {
          bgNbd: {
            r: fit.params.r as number,
            alpha: fit.params.alpha as number,
            a: fit.params.a as number,
            b: fit.params.b as number,
          },
        }
      : {}),
    gammaGamma: gg?.params ?? null,
    logLikelihoods: { [name]: fit.logLikelihood, gammaGamma: gg?.logLikelihood ?? null },
    converged: { [name]: fit.converged, gammaGamma: gg?.converged ?? null },
    customers: n,
    repeatCustomers,
  };
  return { ok: true, issues, predictions: { ...predictions, model: name }, served, summary };
}
