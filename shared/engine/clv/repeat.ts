/**
 * The repeat models of the registry (models.ts) as per-customer functions with their parameters bound, and
 * their log-likelihood with its gradient: what prediction (predict.ts), its intervals (uncertainty.ts) and
 * validation (validation.ts) all call, kept apart from them so that none of those imports another for it.
 */

import type { RepeatModelName } from "../types";
import {
  aliveExpectedPurchasesUnchecked,
  BG_NBD_PARAM_NAMES,
  bgNbdLogLikelihoodWithGradient,
  checkBgNbdParams,
  probabilityAliveUnchecked,
} from "./bgnbd";
import type { CustomerSummary } from "./data";
import {
  checkMbgNbdParams,
  MBG_NBD_PARAM_NAMES,
  mbgNbdAliveExpectedPurchasesUnchecked,
  mbgNbdLogLikelihoodWithGradient,
  mbgNbdProbabilityAliveUnchecked,
} from "./mbg-nbd";
import { namedParams, type RepeatModel, type RepeatModelParams } from "./models";
import {
  checkParetoNbdParams,
  PARETO_NBD_PARAM_NAMES,
  paretoNbdAliveExpectedPurchasesUnchecked,
  paretoNbdLogLikelihoodWithGradient,
  paretoNbdProbabilityAliveUnchecked,
} from "./pareto-nbd";

/**
 * A repeat model's per-customer functions with their parameters bound and without input checks, for batch
 * work on validated data. Every model here factors E[X(t) | x, t_x, T] as P(alive | x, t_x, T) · A(t; x, T),
 * A the expected purchases in the next t of a customer known to be alive, which depends on x and T only.
 */
export interface RepeatKernel {
  alive(x: number, tx: number, T: number): number;
  aliveExpected(t: number, x: number, T: number): number;
}

/** Each repeat model's parameter names, in the order of its log-parameters (the registry's paramNames). */
export const REPEAT_PARAM_NAMES: Readonly<Record<RepeatModelName, readonly string[]>> = {
  bgNbd: BG_NBD_PARAM_NAMES,
  paretoNbd: PARETO_NBD_PARAM_NAMES,
  mbgNbd: MBG_NBD_PARAM_NAMES,
};

const LABELS: Readonly<Record<RepeatModelName, string>> = {
  bgNbd: "BG/NBD",
  paretoNbd: "Pareto/NBD",
  mbgNbd: "MBG/NBD",
};

/**
 * The kernel of the named model at the given parameters, checked (ClvInputError CLV_BAD_PARAMS on a missing
 * or non-positive one). By name rather than through the registry (models.ts), so that a caller that only
 * predicts does not take in the fits.
 */
export function kernelOf(name: RepeatModelName, params: RepeatModelParams): RepeatKernel {
  switch (name) {
    case "bgNbd": {
      const p = namedParams(LABELS.bgNbd, BG_NBD_PARAM_NAMES, params);
      checkBgNbdParams(p);
      return {
        alive: (x, tx, T) => probabilityAliveUnchecked(p, x, tx, T),
        aliveExpected: (t, x, T) => aliveExpectedPurchasesUnchecked(p, t, x, T),
      };
    }
    case "paretoNbd": {
      const p = namedParams(LABELS.paretoNbd, PARETO_NBD_PARAM_NAMES, params);
      checkParetoNbdParams(p);
      return {
        alive: (x, tx, T) => paretoNbdProbabilityAliveUnchecked(p, x, tx, T),
        aliveExpected: (t, x, T) => paretoNbdAliveExpectedPurchasesUnchecked(p, t, x, T),
      };
    }
    case "mbgNbd": {
      const p = namedParams(LABELS.mbgNbd, MBG_NBD_PARAM_NAMES, params);
      checkMbgNbdParams(p);
      return {
        alive: (x, tx, T) => mbgNbdProbabilityAliveUnchecked(p, x, tx, T),
        aliveExpected: (t, x, T) => mbgNbdAliveExpectedPurchasesUnchecked(p, t, x, T),
      };
    }
  }
}

/** The kernel of a registry model at the given (checked) parameters. */
export function repeatKernel(model: Pick<RepeatModel, "name">, params: RepeatModelParams): RepeatKernel {
  return kernelOf(model.name, params);
}

/** Σ weight · log L and its gradient with respect to the log-parameters (in paramNames order). */
export function repeatLogLikelihoodWithGradient(
  model: RepeatModel,
  params: RepeatModelParams,
  data: CustomerSummary,
  weights?: ArrayLike<number>,
): { value: number; gradient: Float64Array } {
  switch (model.name) {
    case "bgNbd":
      return bgNbdLogLikelihoodWithGradient(
        namedParams(model.label, BG_NBD_PARAM_NAMES, params),
        data,
        weights,
      );
    case "paretoNbd":
      return paretoNbdLogLikelihoodWithGradient(
        namedParams(model.label, PARETO_NBD_PARAM_NAMES, params),
        data,
        weights,
      );
    case "mbgNbd":
      return mbgNbdLogLikelihoodWithGradient(
        namedParams(model.label, MBG_NBD_PARAM_NAMES, params),
        data,
        weights,
      );
  }
}
