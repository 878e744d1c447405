/**
 * Predicted value: BG/NBD (repeat purchases and dropout) and Gamma-Gamma (order value) fitted by maximum
 * likelihood, and customer lifetime value from the two. Pure computation on typed arrays; times are in one
 * unit throughout (weeks by default, as in the literature).
 *
 *   const fits = fitValueModels({ x, tx, T, mx });            // or fitBgNbd / fitGammaGamma on their own
 *   const scores = predictAll({ x, tx, T, mx }, fits.models, { horizonPeriods: 12, annualDiscountRate: 0.1 });
 *
 * The repeat-purchase models BG/NBD, Pareto/NBD and MBG/NBD answer through one interface in models.ts
 * (`REPEAT_MODELS`, keyed by name), so a caller can fit and compare them alike.
 *
 * Formulas and their numerics are documented in bgnbd.ts, pareto-nbd.ts, mbg-nbd.ts, gamma-gamma.ts and
 * predict.ts.
 */
export {
  BG_NBD_PARAM_NAMES,
  type BgNbdFit,
  type BgNbdFitOptions,
  type BgNbdParams,
  bgNbdLogLikelihood,
  bgNbdLogLikelihoodWithGradient,
  checkBgNbdParams,
  expectedPurchases,
  expectedPurchasesNewCustomer,
  fitBgNbd,
  probabilityAlive,
} from "./bgnbd";
export { type CompressedSummary, type CustomerSummary, compressSummary } from "./data";
export { ClvFitError, type ClvFitErrorCode, ClvInputError, type ClvInputErrorCode } from "./errors";
export {
  checkGammaGammaParams,
  expectedAverageValue,
  fitGammaGamma,
  GAMMA_GAMMA_PARAM_NAMES,
  type GammaGammaFit,
  type GammaGammaFitOptions,
  type GammaGammaParams,
  gammaGammaLogLikelihood,
  gammaGammaLogLikelihoodWithGradient,
  populationAverageValue,
} from "./gamma-gamma";
export {
  checkMbgNbdParams,
  fitMbgNbd,
  MBG_NBD_PARAM_NAMES,
  type MbgNbdFit,
  type MbgNbdFitOptions,
  type MbgNbdParams,
  mbgNbdExpectedPurchases,
  mbgNbdExpectedPurchasesNewCustomer,
  mbgNbdLogLikelihood,
  mbgNbdLogLikelihoodWithGradient,
  mbgNbdProbabilityAlive,
} from "./mbg-nbd";
export {
  BG_NBD_MODEL,
  MBG_NBD_MODEL,
  PARETO_NBD_MODEL,
  REPEAT_MODEL_NAMES,
  REPEAT_MODELS,
  type RepeatModel,
  type RepeatModelFit,
  type RepeatModelFitOptions,
  type RepeatModelParams,
} from "./models";
export {
  bfgs,
  type MinimizeOptions,
  type MinimizeResult,
  minimize,
  nelderMead,
  type ValueAndGradient,
} from "./optimize";
export {
  checkParetoNbdParams,
  fitParetoNbd,
  PARETO_NBD_PARAM_NAMES,
  type ParetoNbdFit,
  type ParetoNbdFitOptions,
  type ParetoNbdParams,
  paretoNbdExpectedPurchases,
  paretoNbdExpectedPurchasesNewCustomer,
  paretoNbdLogLikelihood,
  paretoNbdLogLikelihoodWithGradient,
  paretoNbdProbabilityAlive,
} from "./pareto-nbd";
export {
  CLV_DEFAULTS,
  type ClvOptions,
  type CustomerValueData,
  customerLifetimeValue,
  type FitValueModelsOptions,
  fitValueModels,
  type Predictions,
  type PredictOptions,
  predictAll,
  type ValueModelFits,
  type ValueModelIssue,
  type ValueModels,
} from "./predict";
