/**
 * The repeat models of the registry (models.ts) as per-customer functions with their parameters bound, and
 * their log-likelihood with its gradient: what prediction (predict.ts), its intervals (uncertainty.ts) and
 * validation (validation.ts) all call, kept apart from them so that none of those imports another for it.
 */
import {
  aliveExpectedPurchasesUnchecked,
  BG_NBD_PARAM_NAMES,
  bgNbdLogLikelihoodWithGradient,
  checkBgNbdParams,
  probabilityAliveUnchecked,
} from "./bgnbd";
import type { CustomerSummary } from "./data";
import {
  MBG_NBD_PARAM_NAMES,
  mbgNbdAliveExpectedPurchasesUnchecked,
  mbgNbdLogLikelihoodWithGradient,
  mbgNbdProbabilityAliveUnchecked,
} from "./mbg-nbd";
import { namedParams, type RepeatModel, type RepeatModelParams } from "./models";
import {
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

/** The kernel of a registry model at the given (checked) parameters. */
export function repeatKernel(model: RepeatModel, params: RepeatModelParams): RepeatKernel {
  switch (model.name) {
    case "bgNbd": {
      const p = namedParams(model.label, BG_NBD_PARAM_NAMES, params);
      checkBgNbdParams(p);
      return {
        alive: (x, tx, T) => probabilityAliveUnchecked(p, x, tx, T),
        aliveExpected: (t, x, T) => aliveExpectedPurchasesUnchecked(p, t, x, T),
      };
    }
    case "paretoNbd": {
      const p = namedParams(model.label, PARETO_NBD_PARAM_NAMES, params);
      model.probabilityAlive(params, 0, 0, 0);
      return {
        alive: (x, tx, T) => paretoNbdProbabilityAliveUnchecked(p, x, tx, T),
        aliveExpected: (t, x, T) => paretoNbdAliveExpectedPurchasesUnchecked(p, t, x, T),
      };
    }
    case "mbgNbd": {
      const p = namedParams(model.label, MBG_NBD_PARAM_NAMES, params);
      model.probabilityAlive(params, 0, 0, 0);
      return {
        alive: (x, tx, T) => mbgNbdProbabilityAliveUnchecked(p, x, tx, T),
        aliveExpected: (t, x, T) => mbgNbdAliveExpectedPurchasesUnchecked(p, t, x, T),
      };
    }
  }
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
