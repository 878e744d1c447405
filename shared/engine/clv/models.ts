/**
 * The repeat-purchase models behind one interface, keyed by `RepeatModelName`:
 *
 *   bgNbd      BG/NBD (Fader, Hardie & Lee 2005; bgnbd.ts): dropout only after a repeat purchase, so a
 *              customer without one is alive with probability 1.
 *   paretoNbd  Pareto/NBD (Schmittlein, Morrison & Colombo 1987; pareto-nbd.ts): dropout at an exponential
 *              time, so every customer's P(alive) falls as time passes without a purchase.
 *   mbgNbd     MBG/NBD (Batislam, Denizel & Filiztekin 2007; mbg-nbd.ts): dropout after any purchase,
 *              the first included.
 *
 * At this boundary parameters are plain records of numbers named as in `paramNames`; each model's own file
 * documents its formulas and numerics. Every function checks its input (`ClvInputError` naming the field at
 * fault) and a fit that the data cannot support throws `ClvFitError`.
 */
import type { RepeatModelName } from "../types";
import {
  BG_NBD_PARAM_NAMES,
  type BgNbdParams,
  expectedPurchases as bgNbdExpectedPurchases,
  expectedPurchasesNewCustomer as bgNbdExpectedPurchasesNewCustomer,
  bgNbdLogLikelihood,
  probabilityAlive as bgNbdProbabilityAlive,
  checkBgNbdParams,
  fitBgNbd,
} from "./bgnbd";
import type { CompressedSummary } from "./data";
import { ClvInputError } from "./errors";
import {
  checkMbgNbdParams,
  fitMbgNbd,
  MBG_NBD_PARAM_NAMES,
  type MbgNbdParams,
  mbgNbdExpectedPurchases,
  mbgNbdExpectedPurchasesNewCustomer,
  mbgNbdLogLikelihood,
  mbgNbdProbabilityAlive,
} from "./mbg-nbd";
import type { MinimizeOptions } from "./optimize";
import {
  checkParetoNbdParams,
  fitParetoNbd,
  PARETO_NBD_PARAM_NAMES,
  type ParetoNbdParams,
  paretoNbdExpectedPurchases,
  paretoNbdExpectedPurchasesNewCustomer,
  paretoNbdLogLikelihood,
  paretoNbdProbabilityAlive,
} from "./pareto-nbd";

export type RepeatModelParams = Record<string, number>;

export interface RepeatModelFitOptions extends MinimizeOptions {
  /** Per-customer weights (counts), e.g. when each row already stands for several customers. */
  weights?: ArrayLike<number>;
  /** compressSummary of (x, t_x, T) with the weights, when the caller has it already: not worked out again. */
  compressed?: CompressedSummary;
  /** Starting point (named as in `paramNames`); default chosen by the model. */
  initial?: RepeatModelParams;
}

export interface RepeatModelFit {
  model: RepeatModelName;
  params: RepeatModelParams;
  /** Σ weight · log-likelihood at `params`. */
  logLikelihood: number;
  iterations: number;
  evaluations: number;
  /** The optimiser met its tolerances; false means it ran out of iterations or evaluations. */
  converged: boolean;
  /** The optimiser that produced the estimate. */
  method: "bfgs" | "nelder-mead";
  /** Parameters that ended at the edge of the search box: the data push them towards 0 or infinity. */
  atBoundary: string[];
  /** Total weight (customers) fitted. */
  customers: number;
  /** Unique (x, t_x, T) triples the likelihood was evaluated on. */
  uniqueTriples: number;
}

export interface RepeatModel {
  name: RepeatModelName;
  /** Display name, e.g. "BG/NBD". */
  label: string;
  paramNames: readonly string[];
  /** Maximum-likelihood fit; throws `ClvFitError` when the data cannot support the model. */
  fit(
    x: ArrayLike<number>,
    tx: ArrayLike<number>,
    T: ArrayLike<number>,
    options?: RepeatModelFitOptions,
  ): RepeatModelFit;
  /** Σ weight · log L over the customers (weights default to 1). */
  logLikelihood(
    params: RepeatModelParams,
    x: ArrayLike<number>,
    tx: ArrayLike<number>,
    T: ArrayLike<number>,
    weights?: ArrayLike<number>,
  ): number;
  /** P(alive | x, t_x, T). */
  probabilityAlive(params: RepeatModelParams, x: number, tx: number, T: number): number;
  /** E[X(t) | x, t_x, T]: expected repeat purchases in the next t time units. */
  expectedPurchases(params: RepeatModelParams, t: number, x: number, tx: number, T: number): number;
  /** E[X(t)] of a customer just acquired. */
  expectedPurchasesNewCustomer(params: RepeatModelParams, t: number): number;
}

/** Picks the named parameters out of a record, failing with `CLV_BAD_PARAMS` on a missing one. */
export function namedParams<N extends string>(
  label: string,
  names: readonly N[],
  params: RepeatModelParams,
): Record<N, number> {
  const out = {} as Record<N, number>;
  for (const name of names) {
    const v = params[name];
    if (v === undefined) {
      throw new ClvInputError("CLV_BAD_PARAMS", `${label} parameter ${name} is missing`, name);
    }
    out[name] = v;
  }
  return out;
}

const bgNbdParams = (params: RepeatModelParams): BgNbdParams => {
  const p = namedParams("BG/NBD", BG_NBD_PARAM_NAMES, params);
  checkBgNbdParams(p);
  return p;
};

export const BG_NBD_MODEL: RepeatModel = {
  name: "bgNbd",
  label: "BG/NBD",
  paramNames: BG_NBD_PARAM_NAMES,
  fit(x, tx, T, options = {}) {
    const { initial, ...rest } = options;
    const fit = fitBgNbd(x, tx, T, {
      ...rest,
      ...(initial === undefined ? {} : { initial: bgNbdParams(initial) }),
    });
    return { model: "bgNbd", ...fit, params: { ...fit.params }, atBoundary: [...fit.atBoundary] };
  },
  logLikelihood: (params, x, tx, T, weights) =>
    bgNbdLogLikelihood(bgNbdParams(params), { x, tx, T }, weights),
  probabilityAlive: (params, x, tx, T) => bgNbdProbabilityAlive(bgNbdParams(params), x, tx, T),
  expectedPurchases: (params, t, x, tx, T) => bgNbdExpectedPurchases(bgNbdParams(params), t, x, tx, T),
  expectedPurchasesNewCustomer: (params, t) => bgNbdExpectedPurchasesNewCustomer(bgNbdParams(params), t),
};

const paretoNbdParams = (params: RepeatModelParams): ParetoNbdParams => {
  const p = namedParams("Pareto/NBD", PARETO_NBD_PARAM_NAMES, params);
  checkParetoNbdParams(p);
  return p;
};

export const PARETO_NBD_MODEL: RepeatModel = {
  name: "paretoNbd",
  label: "Pareto/NBD",
  paramNames: PARETO_NBD_PARAM_NAMES,
  fit(x, tx, T, options = {}) {
    const { initial, ...rest } = options;
    const fit = fitParetoNbd(x, tx, T, {
      ...rest,
      ...(initial === undefined ? {} : { initial: paretoNbdParams(initial) }),
    });
    return { model: "paretoNbd", ...fit, params: { ...fit.params }, atBoundary: [...fit.atBoundary] };
  },
  logLikelihood: (params, x, tx, T, weights) =>
    paretoNbdLogLikelihood(paretoNbdParams(params), { x, tx, T }, weights),
  probabilityAlive: (params, x, tx, T) => paretoNbdProbabilityAlive(paretoNbdParams(params), x, tx, T),
  expectedPurchases: (params, t, x, tx, T) =>
    paretoNbdExpectedPurchases(paretoNbdParams(params), t, x, tx, T),
  expectedPurchasesNewCustomer: (params, t) =>
    paretoNbdExpectedPurchasesNewCustomer(paretoNbdParams(params), t),
};

const mbgNbdParams = (params: RepeatModelParams): MbgNbdParams => {
  const p = namedParams("MBG/NBD", MBG_NBD_PARAM_NAMES, params);
  checkMbgNbdParams(p);
  return p;
};

export const MBG_NBD_MODEL: RepeatModel = {
  name: "mbgNbd",
  label: "MBG/NBD",
  paramNames: MBG_NBD_PARAM_NAMES,
  fit(x, tx, T, options = {}) {
    const { initial, ...rest } = options;
    const fit = fitMbgNbd(x, tx, T, {
      ...rest,
      ...(initial === undefined ? {} : { initial: mbgNbdParams(initial) }),
    });
    return { model: "mbgNbd", ...fit, params: { ...fit.params }, atBoundary: [...fit.atBoundary] };
  },
  logLikelihood: (params, x, tx, T, weights) =>
    mbgNbdLogLikelihood(mbgNbdParams(params), { x, tx, T }, weights),
  probabilityAlive: (params, x, tx, T) => mbgNbdProbabilityAlive(mbgNbdParams(params), x, tx, T),
  expectedPurchases: (params, t, x, tx, T) => mbgNbdExpectedPurchases(mbgNbdParams(params), t, x, tx, T),
  expectedPurchasesNewCustomer: (params, t) => mbgNbdExpectedPurchasesNewCustomer(mbgNbdParams(params), t),
};

/** The models, by name, in the order they are listed in answers. */
export const REPEAT_MODEL_NAMES = [
  "bgNbd",
  "paretoNbd",
  "mbgNbd",
] as const satisfies readonly RepeatModelName[];

export const REPEAT_MODELS: Record<RepeatModelName, RepeatModel> = {
  bgNbd: BG_NBD_MODEL,
  paretoNbd: PARETO_NBD_MODEL,
  mbgNbd: MBG_NBD_MODEL,
};
