/**
 * Gamma-Gamma model of the value of a customer's transactions (Fader & Hardie 2013, "The Gamma-Gamma Model
 * of Monetary Value"; Colombo & Jiang 1999). Each transaction's value is Gamma(shape p, rate ν); across
 * customers ν ~ Gamma(shape q, rate γ). Spend is assumed independent of the purchase process, so the model
 * is fitted on its own, on customers with at least one repeat purchase (x > 0) and their mean repeat-order
 * value m_x.
 *
 * The mean of x values is Gamma(px, xν), which, mixed over ν, gives the likelihood of m_x:
 *
 *   log f(m_x | p, q, γ, x) = log Γ(px+q) − log Γ(px) − log Γ(q) + q log γ + (px−1) log m_x + px log x
 *                             − (px+q) log(γ + x m_x)
 *
 * and the posterior of ν is Gamma(q + px, γ + x m_x), so the expected value of the customer's orders is
 *
 *   E[M | x, m_x] = p (γ + x m_x) / (px + q − 1)
 *                 = (q−1)/(px+q−1) · pγ/(q−1) + px/(px+q−1) · m_x,
 *
 * a weighted average of the population mean pγ/(q−1) and the customer's own mean. For x = 0 it is the
 * population mean, which exists only when q > 1. Customers whose repeat orders net to 0 or less (refunds)
 * cannot enter the likelihood (log m_x); for prediction their m_x counts as 0, which pulls their expected
 * value below the population mean, as their history says.
 *
 * Parameters are fitted by maximum likelihood over log p, log q, log γ with BFGS on the analytic gradient
 * (Nelder–Mead if BFGS stalls).
 */
import digamma from "@stdlib/math-base-special-digamma";
import gammaln from "@stdlib/math-base-special-gammaln";
import { checkLength } from "./data";
import { ClvFitError, ClvInputError } from "./errors";
import { fitInLogSpace, type MinimizeOptions } from "./optimize";

export interface GammaGammaParams {
  /** Shape of the Gamma distribution of one transaction's value. */
  p: number;
  /** Shape of the Gamma distribution of the customers' rates ν. */
  q: number;
  /** Rate of the Gamma distribution of ν, in the currency's units. */
  gamma: number;
}

export const GAMMA_GAMMA_PARAM_NAMES = [
  "p",
  "q",
  "gamma",
] as const satisfies readonly (keyof GammaGammaParams)[];

export interface GammaGammaFitOptions extends MinimizeOptions {
  weights?: ArrayLike<number>;
  /** Starting point; default p = 1, q = 2, γ = weighted mean of m_x (so the starting population mean is that mean). */
  initial?: GammaGammaParams;
}

export interface GammaGammaFit {
  params: GammaGammaParams;
  /** Σ weight · log f(m_x) over the customers fitted. */
  logLikelihood: number;
  iterations: number;
  evaluations: number;
  converged: boolean;
  method: "bfgs" | "nelder-mead";
  atBoundary: (keyof GammaGammaParams)[];
  /** Customers (total weight) fitted: those with x > 0 and m_x > 0. */
  customers: number;
  /** Customers with x > 0 left out because m_x <= 0. */
  excluded: number;
}

export function checkGammaGammaParams(params: GammaGammaParams): void {
  for (const name of GAMMA_GAMMA_PARAM_NAMES) {
    const v = params[name];
    if (!(Number.isFinite(v) && v > 0)) {
      throw new ClvInputError(
        "CLV_BAD_PARAMS",
        `Gamma-Gamma parameter ${name} must be a finite number > 0`,
        name,
      );
    }
  }
}

/** Rows that enter the fit, grouped by distinct x. */
interface Prepared {
  xs: Float64Array;
  /** Total weight per distinct x. */
  groupWeight: Float64Array;
  /** Per customer: weight, x, and x · m_x. */
  w: Float64Array;
  x: Float64Array;
  xm: Float64Array;
  /** Σ w log m_x, which does not change with the parameters. */
  sumLogM: number;
  totalWeight: number;
  excluded: number;
}

/**
 * Checks x and m_x and keeps the rows the likelihood uses. m_x is checked only where x > 0 (for x = 0 there is
 * no repeat order, and 0 or NaN are both common placeholders).
 */
function prepare(x: ArrayLike<number>, mx: ArrayLike<number>, weights?: ArrayLike<number>): Prepared {
  const n = x.length;
  checkLength("mx", mx, n);
  if (weights !== undefined) checkLength("weight", weights, n);
  // A first pass checks the rows and counts those kept, so that the second fills typed arrays of the right
  // size (a list of a million kept indices would cost more memory than the arrays themselves).
  let k = 0;
  let excluded = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[i] as number;
    if (!(Number.isInteger(xi) && xi >= 0)) {
      throw new ClvInputError("CLV_BAD_VALUE", "x must be an integer >= 0", "x", i);
    }
    const w = weights === undefined ? 1 : (weights[i] as number);
    if (!(Number.isFinite(w) && w >= 0)) {
      throw new ClvInputError("CLV_BAD_WEIGHT", "weight must be a finite number >= 0", "weight", i);
    }
    if (xi === 0) continue;
    const m = mx[i] as number;
    if (!Number.isFinite(m)) {
      throw new ClvInputError("CLV_BAD_VALUE", "mx must be a finite number where x > 0", "mx", i);
    }
    if (w === 0) continue;
    if (m > 0) k++;
    else excluded += w;
  }
  const wArr = new Float64Array(k);
  const xArr = new Float64Array(k);
  const xm = new Float64Array(k);
  const groups = new Map<number, number>();
  let sumLogM = 0;
  let totalWeight = 0;
  let j = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[i] as number;
    const w = weights === undefined ? 1 : (weights[i] as number);
    const m = mx[i] as number;
    if (xi === 0 || w === 0 || !(m > 0)) continue;
    wArr[j] = w;
    xArr[j] = xi;
    xm[j] = xi * m;
    j++;
    sumLogM += w * Math.log(m);
    totalWeight += w;
    groups.set(xi, (groups.get(xi) ?? 0) + w);
  }
  const xs = Float64Array.from(groups.keys());
  const groupWeight = Float64Array.from(groups.values());
  return { xs, groupWeight, w: wArr, x: xArr, xm, sumLogM, totalWeight, excluded };
}

/**
 * Σ weight · log f(m_x | x), and with `gradient` its derivatives with respect to (log p, log q, log γ).
 *
 * The log-density is rearranged so that the part that varies per customer is small: with
 * ℓ = log(1 + γ/(x m_x)), log(γ + x m_x) = log x + log m_x + ℓ and
 *   log f = [log Γ(px+q) − log Γ(px) − log Γ(q) + q log(γ/x)] − (q+1) log m_x − (px+q) ℓ,
 * the bracket depending on x alone. Summed over many customers the textbook form adds and cancels terms in
 * the millions, which leaves the total too noisy for the optimiser's last steps; this form does not.
 *   ∂/∂p = Σ x (ψ(px+q) − ψ(px) − ℓ)
 *   ∂/∂q = Σ ψ(px+q) − ψ(q) + log(γ/x) − log m_x − ℓ
 *   ∂/∂γ = Σ q/γ − (px+q)/(γ + x m_x)
 */
function logLikelihoodPrepared(
  d: Prepared,
  p: number,
  q: number,
  gamma: number,
  gradient?: Float64Array,
): number {
  const logGamma = Math.log(gamma);
  const lgq = gammaln(q);
  let sum = -(q + 1) * d.sumLogM;
  let dp = 0;
  let dq = -d.sumLogM;
  let dgamma = 0;
  const psiQ = gradient === undefined ? 0 : digamma(q);
  for (let j = 0; j < d.xs.length; j++) {
    const x = d.xs[j] as number;
    const W = d.groupWeight[j] as number;
    const px = p * x;
    const logRatio = logGamma - Math.log(x);
    sum += W * (gammaln(px + q) - gammaln(px) - lgq + q * logRatio);
    if (gradient !== undefined) {
      const psiPXQ = digamma(px + q);
      dp += W * x * (psiPXQ - digamma(px));
      dq += W * (psiPXQ - psiQ + logRatio);
      dgamma += (W * q) / gamma;
    }
  }
  // Neumaier's compensated sum: the per-customer terms are many, and the optimiser compares totals that
  // differ in their last digits.
  let varying = 0;
  let compensation = 0;
  for (let i = 0; i < d.x.length; i++) {
    const w = d.w[i] as number;
    const x = d.x[i] as number;
    const xm = d.xm[i] as number;
    const shape = p * x + q;
    const l = Math.log1p(gamma / xm);
    const term = w * shape * l;
    const t = varying + term;
    compensation += Math.abs(varying) >= Math.abs(term) ? varying - t + term : term - t + varying;
    varying = t;
    if (gradient !== undefined) {
      dp -= w * x * l;
      dq -= w * l;
      dgamma -= (w * shape) / (gamma + xm);
    }
  }
  sum -= varying + compensation;
  if (gradient !== undefined) {
    gradient[0] = p * dp;
    gradient[1] = q * dq;
    gradient[2] = gamma * dgamma;
  }
  return sum;
}

/** Σ weight · log f(m_x | x) over customers with x > 0 and m_x > 0. */
export function gammaGammaLogLikelihood(
  params: GammaGammaParams,
  x: ArrayLike<number>,
  mx: ArrayLike<number>,
  weights?: ArrayLike<number>,
): number {
  return gammaGammaLogLikelihoodWithGradient(params, x, mx, weights).value;
}

/** The log-likelihood and its gradient with respect to (log p, log q, log γ). */
export function gammaGammaLogLikelihoodWithGradient(
  params: GammaGammaParams,
  x: ArrayLike<number>,
  mx: ArrayLike<number>,
  weights?: ArrayLike<number>,
): { value: number; gradient: Float64Array } {
  checkGammaGammaParams(params);
  const gradient = new Float64Array(3);
  const value = logLikelihoodPrepared(prepare(x, mx, weights), params.p, params.q, params.gamma, gradient);
  return { value, gradient };
}

/**
 * Maximum-likelihood fit of Gamma-Gamma on the customers with x > 0 and m_x > 0. Throws `ClvInputError` for
 * bad input and `ClvFitError` ("CLV_NO_MONETARY_DATA") when there is no such customer.
 */
export function fitGammaGamma(
  x: ArrayLike<number>,
  mx: ArrayLike<number>,
  options: GammaGammaFitOptions = {},
): GammaGammaFit {
  if (options.initial !== undefined) checkGammaGammaParams(options.initial);
  const d = prepare(x, mx, options.weights);
  if (!(d.totalWeight > 0)) {
    throw new ClvFitError(
      "CLV_NO_MONETARY_DATA",
      "no customer has a repeat purchase of positive value, so the order-value model cannot be fitted",
    );
  }
  let sumM = 0;
  for (let i = 0; i < d.x.length; i++)
    sumM += ((d.w[i] as number) * (d.xm[i] as number)) / (d.x[i] as number);
  const start = options.initial ?? { p: 1, q: 2, gamma: sumM / d.totalWeight };
  const { params, result, atBoundary } = fitInLogSpace(
    GAMMA_GAMMA_PARAM_NAMES,
    start,
    d.totalWeight,
    ([p, q, gamma], gradient) =>
      logLikelihoodPrepared(d, p as number, q as number, gamma as number, gradient),
    options,
  );
  return {
    params,
    logLikelihood: logLikelihoodPrepared(d, params.p, params.q, params.gamma),
    iterations: result.iterations,
    evaluations: result.evaluations,
    converged: result.converged,
    method: result.method,
    atBoundary,
    customers: d.totalWeight,
    excluded: d.excluded,
  };
}

/** pγ/(q−1), the mean order value of a customer about whom nothing is known; Infinity when q <= 1. */
export function populationAverageValue(params: GammaGammaParams): number {
  checkGammaGammaParams(params);
  return params.q > 1 ? (params.p * params.gamma) / (params.q - 1) : Number.POSITIVE_INFINITY;
}

/**
 * E[M | x, m_x]: the expected value of the customer's future orders. m_x is ignored when x = 0 and counts as 0
 * when negative. Infinity when px + q <= 1 (the posterior mean does not exist).
 */
export function expectedAverageValue(params: GammaGammaParams, x: number, mx: number): number {
  checkGammaGammaParams(params);
  if (!(Number.isInteger(x) && x >= 0)) {
    throw new ClvInputError("CLV_BAD_VALUE", "x must be an integer >= 0", "x");
  }
  if (x > 0 && !Number.isFinite(mx)) {
    throw new ClvInputError("CLV_BAD_VALUE", "mx must be a finite number where x > 0", "mx");
  }
  return expectedAverageValueUnchecked(params, x, mx);
}

export function expectedAverageValueUnchecked(params: GammaGammaParams, x: number, mx: number): number {
  const m = x > 0 && mx > 0 ? mx : 0;
  const denominator = params.p * x + params.q - 1;
  return denominator > 0 ? (params.p * (params.gamma + x * m)) / denominator : Number.POSITIVE_INFINITY;
}
