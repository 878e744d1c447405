/**
 * 80 % intervals of each customer's expected purchases and CLV from the uncertainty of the fitted parameters
 * (the delta method on the log scale).
 *
 * Parameter uncertainty. Each model is fitted by maximum likelihood over log-parameters θ; the covariance of
 * the estimate is the inverse of the observed information, −∇²ℓ(θ̂), taken numerically:
 * central differences (step 2e-3 in each log-parameter) of the analytic gradient of the log-likelihood,
 * symmetrised: 2p gradient evaluations for p parameters, the repeat model's on the distinct (x, t_x, T) triples
 * weighted by their counts.
 * Above COVARIANCE_CUSTOMERS customers, the information is that of a stride sample of them (every k-th)
 * scaled up by n / sample size: the information is a sum over customers, and a sample of 50,000 estimates
 * its mean to well under a percent.
 * The two fits use disjoint parts of the likelihood (dropout/frequency and spend) and are treated as independent.
 * When a matrix is not positive definite (a parameter the data do not pin down) there are no intervals.
 *
 * Delta method. For a customer, log E = log P(alive | x, t_x, T) + log A(x, T), A the expected purchases over
 * the horizon of a customer alive now (every model here factors so); log CLV = log E[M] + log Σ_k ΔE_k d_k.
 * With g_r the gradient of log E with respect to the repeat model's log-parameters (A evaluated once per
 * distinct (x, T), P once per distinct triple) and g_m the analytic
 * gradient of log E[M] = log p + log(γ + x m_x) − log(p x + q − 1) with respect to log p, log q, log γ
 * (forward differences for g_r, step 1e-4 in each log-parameter, from the values at the estimate):
 *   sd(log E)   = √(g_rᵀ Σ_r g_r)
 *   sd(log CLV) = √(g_rᵀ Σ_r g_r + g_mᵀ Σ_m g_m)
 * where the gradient of the discounted sum is taken as that of the undiscounted expected purchases over the
 * same horizon (exact without discounting; discounting reweights the periods, not their sensitivity much).
 * A customer whose order value is not Gamma-Gamma's (a fallback) has no g_m term. The 80 % interval is
 * value · exp(∓ 1.2816 · sd), so it stays positive and is skewed like the estimate's distribution; the standard
 * deviation is capped at 5 (a factor of 600 either way) so that an ill-determined fit cannot give Infinity.
 *
 * Segment means. Every customer's prediction moves with the same parameters, so their errors are strongly
 * and positively correlated; the interval of a segment's mean CLV is the mean of its members' bounds, which
 * (to first order) is what the mean does when the parameters move all members towards their bounds together,
 * and never narrower than the delta-method interval of the mean.
 */
import type { CompressedSummary } from "./data";
import type { GammaGammaParams } from "./gamma-gamma";
import { gammaGammaLogLikelihoodWithGradient } from "./gamma-gamma";
import type { RepeatModel, RepeatModelParams } from "./models";
import { repeatKernel, repeatLogLikelihoodWithGradient } from "./repeat";

/** Φ⁻¹(0.9): the half-width of a central 80 % interval in standard deviations. */
export const Z80 = 1.2815515655446004;
/** Most customers whose likelihood the information matrices are taken on; above, a stride sample. */
export const COVARIANCE_CUSTOMERS = 50_000;
const MAX_LOG_SD = 5;
const HESSIAN_STEP = 2e-3;
const GRADIENT_STEP = 1e-4;

/** Inverse of a symmetric positive definite matrix (row-major, p × p) by Cholesky; null when not positive definite. */
export function invertSpd(matrix: Float64Array, p: number): Float64Array | null {
  const L = new Float64Array(p * p);
  for (let i = 0; i < p; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = matrix[i * p + j] as number;
      for (let k = 0; k < j; k++) sum -= (L[i * p + k] as number) * (L[j * p + k] as number);
      if (i === j) {
        if (!(sum > 0) || !Number.isFinite(sum)) return null;
        L[i * p + i] = Math.sqrt(sum);
      } else {
        L[i * p + j] = sum / (L[j * p + j] as number);
      }
    }
  }
  // Inverse of L (lower triangular), then (L⁻¹)ᵀ L⁻¹.
  const inv = new Float64Array(p * p);
  for (let i = 0; i < p; i++) {
    inv[i * p + i] = 1 / (L[i * p + i] as number);
    for (let j = 0; j < i; j++) {
      let sum = 0;
      for (let k = j; k < i; k++) sum -= (L[i * p + k] as number) * (inv[k * p + j] as number);
      inv[i * p + j] = sum / (L[i * p + i] as number);
    }
  }
  const out = new Float64Array(p * p);
  for (let i = 0; i < p; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = 0;
      for (let k = i; k < p; k++) sum += (inv[k * p + i] as number) * (inv[k * p + j] as number);
      out[i * p + j] = sum;
      out[j * p + i] = sum;
    }
  }
  for (const v of out) if (!Number.isFinite(v)) return null;
  return out;
}

/** θ ↦ parameters record, θ the log-parameters in the order of `names`. */
function paramsOf(names: readonly string[], theta: ArrayLike<number>): RepeatModelParams {
  const out: RepeatModelParams = {};
  names.forEach((name, j) => {
    out[name] = Math.exp(theta[j] as number);
  });
  return out;
}

/**
 * Covariance of the repeat model's log-parameters (row-major, in the order of model.paramNames): the inverse
 * observed information on the compressed data, from central differences of the analytic gradient.
 * null when the information is not positive definite.
 */
export function repeatModelCovariance(
  model: RepeatModel,
  params: RepeatModelParams,
  data: CompressedSummary,
  /** Customers the data stand for, when `data` is a sample of them: the information is scaled up to them. */
  customers?: number,
): Float64Array | null {
  const names = model.paramNames;
  const theta0 = names.map((name) => Math.log(params[name] as number));
  const gradient = (theta: number[]): Float64Array | null => {
    try {
      return repeatLogLikelihoodWithGradient(model, paramsOf(names, theta), data, data.weight).gradient;
    } catch {
      return null;
    }
  };
  let weight = 0;
  for (const w of data.weight) weight += w;
  return informationInverse(
    theta0,
    gradient,
    customers === undefined || weight === 0 ? 1 : customers / weight,
  );
}

/** The inverse of −(Jacobian of the gradient), symmetrised, by central differences of step HESSIAN_STEP. */
function informationInverse(
  theta0: number[],
  gradient: (theta: number[]) => Float64Array | null,
  scale = 1,
): Float64Array | null {
  const p = theta0.length;
  const h = HESSIAN_STEP;
  const info = new Float64Array(p * p);
  for (let j = 0; j < p; j++) {
    const up = [...theta0];
    const down = [...theta0];
    up[j] = (up[j] as number) + h;
    down[j] = (down[j] as number) - h;
    const gu = gradient(up);
    const gd = gradient(down);
    if (gu === null || gd === null) return null;
    for (let i = 0; i < p; i++)
      info[i * p + j] = (-scale * ((gu[i] as number) - (gd[i] as number))) / (2 * h);
  }
  for (let i = 0; i < p; i++) {
    for (let j = 0; j < i; j++) {
      const v = ((info[i * p + j] as number) + (info[j * p + i] as number)) / 2;
      info[i * p + j] = v;
      info[j * p + i] = v;
    }
  }
  return invertSpd(info, p);
}

/** Covariance of Gamma-Gamma's (log p, log q, log γ); null when the information is not positive definite. */
export function gammaGammaCovariance(
  params: GammaGammaParams,
  x: ArrayLike<number>,
  mx: ArrayLike<number>,
  /** The information is multiplied by this (customers stood for / customers in x, when x is a sample). */
  scale = 1,
): Float64Array | null {
  const theta0 = [Math.log(params.p), Math.log(params.q), Math.log(params.gamma)];
  return informationInverse(
    theta0,
    (theta) => {
      try {
        return gammaGammaLogLikelihoodWithGradient(
          {
            p: Math.exp(theta[0] as number),
            q: Math.exp(theta[1] as number),
            gamma: Math.exp(theta[2] as number),
          },
          x,
          mx,
        ).gradient;
      } catch {
        return null;
      }
    },
    scale,
  );
}

function quadratic(g: ArrayLike<number>, sigma: Float64Array, p: number): number {
  let v = 0;
  for (let i = 0; i < p; i++) {
    const gi = g[i] as number;
    if (gi === 0) continue;
    for (let j = 0; j < p; j++) v += gi * (sigma[i * p + j] as number) * (g[j] as number);
  }
  return v > 0 && Number.isFinite(v) ? v : 0;
}

function logOrNaN(v: number): number {
  return v > 0 && Number.isFinite(v) ? Math.log(v) : Number.NaN;
}

/**
 * Var(log E) of every distinct triple of `triples`: the repeat model's part of both intervals, with `pairs`
 * the distinct (x, T) of the triples (grouped as (x, T, T)), `horizon` the length of the horizon, and the
 * model's P(alive) per triple and A(horizon) per pair at the fitted parameters. Forward differences.
 */
export function repeatLogVariance(
  model: Pick<RepeatModel, "name" | "paramNames">,
  params: RepeatModelParams,
  sigma: Float64Array,
  triples: CompressedSummary,
  pairs: CompressedSummary,
  horizon: number,
  alive0: Float64Array,
  aliveExpected0: Float64Array,
): Float64Array {
  const names = model.paramNames;
  const p = names.length;
  const u = triples.x.length;
  const v = pairs.x.length;
  const theta0 = names.map((name) => Math.log(params[name] as number));
  const baseA = new Float64Array(v);
  for (let k = 0; k < v; k++) baseA[k] = logOrNaN(aliveExpected0[k] as number);
  // gradient[j * u + k]: d log E / d θ_j at triple k.
  const gradient = new Float64Array(p * u);
  const logA = new Float64Array(v);
  for (let j = 0; j < p; j++) {
    const theta = [...theta0];
    theta[j] = (theta[j] as number) + GRADIENT_STEP;
    const kernel = repeatKernel(model, paramsOf(names, theta));
    for (let k = 0; k < v; k++) {
      logA[k] =
        logOrNaN(kernel.aliveExpected(horizon, pairs.x[k] as number, pairs.T[k] as number)) -
        (baseA[k] as number);
    }
    for (let k = 0; k < u; k++) {
      const logP =
        logOrNaN(kernel.alive(triples.x[k] as number, triples.tx[k] as number, triples.T[k] as number)) -
        logOrNaN(alive0[k] as number);
      const g = (logP + (logA[pairs.index[k] as number] as number)) / GRADIENT_STEP;
      gradient[j * u + k] = Number.isFinite(g) ? g : 0;
    }
  }
  const out = new Float64Array(u);
  const g = new Float64Array(p);
  for (let k = 0; k < u; k++) {
    for (let j = 0; j < p; j++) g[j] = gradient[j * u + k] as number;
    out[k] = quadratic(g, sigma, p);
  }
  return out;
}

/** Var(log E[M]) of one customer from Gamma-Gamma's covariance (see the module header). */
export function orderValueLogVariance(
  params: GammaGammaParams,
  sigma: Float64Array,
  x: number,
  mx: number,
): number {
  const m = x > 0 && mx > 0 ? mx : 0;
  const d = params.p * x + params.q - 1;
  if (!(d > 0)) return 0;
  const g0 = 1 - (params.p * x) / d;
  const g1 = -params.q / d;
  const g2 = params.gamma / (params.gamma + x * m);
  return quadratic([g0, g1, g2], sigma, 3);
}

/** The 80 % interval bounds of a positive value whose log has variance `logVariance`. */
export function intervalOf(value: number, logVariance: number): [number, number] {
  if (!(value > 0) || !Number.isFinite(value)) return [value, value];
  const sd = Math.min(Math.sqrt(logVariance > 0 ? logVariance : 0), MAX_LOG_SD);
  const f = Math.exp(Z80 * sd);
  return [value / f, value * f];
}
