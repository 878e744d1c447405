/**
 * BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way: An
 * Alternative to the Pareto/NBD Model", Marketing Science 24(2)). While active, a customer buys at Poisson
 * rate λ; after each repeat purchase they drop out for good with probability p. Across customers
 * λ ~ Gamma(shape r, rate α) and p ~ Beta(a, b). A customer is summarised by x (repeat purchases), t_x (time
 * of the last one, from the first purchase) and T (time from the first purchase to the evaluation date).
 *
 * Formulas (numbers are the paper's equations):
 *
 *   (6)  L(r, α, a, b | x, t_x, T) = B(a, b+x)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+T)^(r+x))
 *                                  + [x > 0] B(a+1, b+x-1)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+t_x)^(r+x))
 *        evaluated as log Γ(r+x) − log Γ(r) + r log α + log B(a, b+x) − log B(a, b)
 *                     + logaddexp(−(r+x) log(α+T), [x > 0] (log a − log(b+x−1) − (r+x) log(α+t_x)))
 *        since B(a+1, b+x−1)/B(a, b+x) = a/(b+x−1). Everything stays in logs, so x in the thousands and T in
 *        the tens of thousands neither overflow nor underflow.
 *
 *   P(alive | x, t_x, T) = 1 / (1 + [x > 0] · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x))
 *        (customers without a repeat purchase are alive by construction of the model: dropout can only
 *        follow a repeat purchase).
 *
 *   (10) E[X(t) | x, t_x, T] = P(alive) · (a+b+x−1)/(a−1)
 *                               · [1 − ((α+T)/(α+T+t))^(r+x) ₂F₁(r+x, b+x; a+b+x−1; z)],  z = t/(α+T+t)
 *        evaluated through Euler's transformation ₂F₁(A, B; C; z) = (1−z)^(C−A−B) ₂F₁(C−A, C−B; C; z):
 *          [·] = 1 − (1−z)^(a−1) ₂F₁(a+b−1−r, a−1; a+b+x−1; z)
 *        whose ₂F₁ has small upper parameters and tends to 1 as x grows, so the huge factor (1−z)^(−x) of the
 *        textbook form never appears. a = 1 and a+b+x−1 = 0 are removable singularities; within 1e-4 of
 *        them the value is interpolated linearly from points 2e-4 and 4e-4 away (error of order 1e-7,
 *        relative).
 *
 *   (7)  E[X(t)] for a customer just acquired = (10) with x = t_x = T = 0.
 *
 * Parameters are fitted by maximum likelihood over log r, log α, log a, log b (so they stay positive) with
 * BFGS on the analytic gradient (Nelder–Mead if BFGS stalls), on unique (x, t_x, T) triples weighted by
 * their counts.
 */
import betaln from "@stdlib/math-base-special-betaln";
import digamma from "@stdlib/math-base-special-digamma";
import gammaln from "@stdlib/math-base-special-gammaln";
import hyp2f1 from "@stdlib/math-base-special-hyp2f1";
import {
  type CompressedSummary,
  type CustomerSummary,
  compressSummary,
  repeatFitData,
  validateSummary,
} from "./data";
import { ClvInputError } from "./errors";
import { fitInLogSpace, type MinimizeOptions } from "./optimize";
import { integrate } from "./quadrature";

export interface BgNbdParams {
  /** Shape of the Gamma distribution of purchase rates. */
  r: number;
  /** Rate (inverse scale, in the data's time unit) of the Gamma distribution of purchase rates. */
  alpha: number;
  /** Beta distribution of dropout probabilities. */
  a: number;
  b: number;
}

export const BG_NBD_PARAM_NAMES = ["r", "alpha", "a", "b"] as const satisfies readonly (keyof BgNbdParams)[];

export interface BgNbdFitOptions extends MinimizeOptions {
  /** Per-customer weights (counts), e.g. when each row already stands for several customers. */
  weights?: ArrayLike<number>;
  /** compressSummary of (x, t_x, T) with the weights, when the caller has it already: not worked out again. */
  compressed?: CompressedSummary;
  /** Starting point; default r = 1, α = ΣT / Σx (the rate a population without dropout would show), a = b = 1. */
  initial?: BgNbdParams;
}

export interface BgNbdFit {
  params: BgNbdParams;
  /** Σ weight · log-likelihood at `params`. */
  logLikelihood: number;
  iterations: number;
  evaluations: number;
  /** The optimiser met its tolerances; false means it ran out of iterations or evaluations. */
  converged: boolean;
  /** The optimiser that produced the estimate: BFGS, or Nelder–Mead where BFGS stalled. */
  method: "bfgs" | "nelder-mead";
  /** Parameters that ended at the edge of the search box: the data push them towards 0 or infinity. */
  atBoundary: (keyof BgNbdParams)[];
  /** Total weight (customers) fitted. */
  customers: number;
  /** Unique (x, t_x, T) triples the likelihood was evaluated on. */
  uniqueTriples: number;
}

export function checkBgNbdParams(params: BgNbdParams): void {
  for (const name of BG_NBD_PARAM_NAMES) {
    const v = params[name];
    if (!(Number.isFinite(v) && v > 0)) {
      throw new ClvInputError("CLV_BAD_PARAMS", `BG/NBD parameter ${name} must be a finite number > 0`, name);
    }
  }
}

/**
 * The data of a likelihood evaluation. Terms that depend on x alone (Gamma and Beta functions) are computed
 * once per distinct x, and log(α+T), log(α+t_x) once per distinct T and t_x: with ages and purchase times on a
 * day grid there are only hundreds of those, so each customer triple costs one exp and one log1p.
 */
interface Prepared {
  /** Distinct x, T and t_x values; per triple, the position of its values in them. */
  xs: Float64Array;
  Ts: Float64Array;
  txs: Float64Array;
  xAt: Uint32Array;
  TAt: Uint32Array;
  txAt: Uint32Array;
  x: Float64Array;
  weight: Float64Array;
  totalWeight: number;
  /** Scratch per distinct value, reused across evaluations. */
  head: Float64Array;
  tail: Float64Array;
  aliveShare: Float64Array;
  logT: Float64Array;
  logTx: Float64Array;
  invT: Float64Array;
  invTx: Float64Array;
}

function distinctIndex(values: Float64Array): { distinct: Float64Array; at: Uint32Array } {
  const position = new Map<number, number>();
  const at = new Uint32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    let j = position.get(v);
    if (j === undefined) {
      j = position.size;
      position.set(v, j);
    }
    at[i] = j;
  }
  return { distinct: Float64Array.from(position.keys()), at };
}

function prepare(x: Float64Array, tx: Float64Array, T: Float64Array, weight: Float64Array): Prepared {
  const xi = distinctIndex(x);
  const Ti = distinctIndex(T);
  const txi = distinctIndex(tx);
  let totalWeight = 0;
  for (let i = 0; i < x.length; i++) totalWeight += weight[i] as number;
  const k = xi.distinct.length;
  return {
    xs: xi.distinct,
    Ts: Ti.distinct,
    txs: txi.distinct,
    xAt: xi.at,
    TAt: Ti.at,
    txAt: txi.at,
    x,
    weight,
    totalWeight,
    head: new Float64Array(k),
    tail: new Float64Array(k),
    aliveShare: new Float64Array(k),
    logT: new Float64Array(Ti.distinct.length),
    logTx: new Float64Array(txi.distinct.length),
    invT: new Float64Array(Ti.distinct.length),
    invTx: new Float64Array(txi.distinct.length),
  };
}

/**
 * Σ weight · log L, and with `gradient` its derivatives with respect to (log r, log α, log a, log b).
 *
 * Per customer, log L = head(x) + logaddexp(u, v) with u = −(r+x) log(α+T) and v = tail(x) − (r+x) log(α+t_x).
 * With π = e^v / (e^u + e^v) (the posterior probability of having dropped out), the derivatives are
 *   ∂/∂r = ψ(r+x) − ψ(r) + log α − (1−π) log(α+T) − π log(α+t_x)
 *   ∂/∂α = r/α − (r+x) ((1−π)/(α+T) + π/(α+t_x))
 *   ∂/∂a = ψ(a+b) − ψ(a+b+x) + π/a
 *   ∂/∂b = ψ(b+x) − ψ(b) + ψ(a+b) − ψ(a+b+x) − π/(b+x−1)
 */
function logLikelihoodPrepared(
  d: Prepared,
  r: number,
  alpha: number,
  a: number,
  b: number,
  gradient?: Float64Array,
): number {
  const k = d.xs.length;
  const { head, tail, aliveShare, logT, logTx, invT, invTx } = d;
  const base = r * Math.log(alpha) - gammaln(r) - betaln(a, b);
  const logA = Math.log(a);
  for (let j = 0; j < k; j++) {
    const x = d.xs[j] as number;
    head[j] = base + gammaln(r + x) + betaln(a, b + x);
    tail[j] = x > 0 ? logA - Math.log(b + x - 1) : Number.NEGATIVE_INFINITY;
  }
  for (let j = 0; j < d.Ts.length; j++) {
    const v = alpha + (d.Ts[j] as number);
    logT[j] = Math.log(v);
    invT[j] = 1 / v;
  }
  for (let j = 0; j < d.txs.length; j++) {
    const v = alpha + (d.txs[j] as number);
    logTx[j] = Math.log(v);
    invTx[j] = 1 / v;
  }
  aliveShare.fill(0);
  // Neumaier's compensated sum: the optimiser's last steps compare totals that differ in their last digits.
  let sum = 0;
  let compensation = 0;
  let sumLogTerm = 0;
  let sumInvTerm = 0;
  const n = d.x.length;
  for (let i = 0; i < n; i++) {
    const g = d.xAt[i] as number;
    const w = d.weight[i] as number;
    const x = d.x[i] as number;
    const rx = r + x;
    const iT = d.TAt[i] as number;
    const iTx = d.txAt[i] as number;
    const u = -rx * (logT[iT] as number);
    if (x === 0) {
      const term = w * ((head[g] as number) + u);
      const t = sum + term;
      compensation += Math.abs(sum) >= Math.abs(term) ? sum - t + term : term - t + sum;
      sum = t;
      if (gradient !== undefined) {
        sumLogTerm += w * (logT[iT] as number);
        sumInvTerm += w * rx * (invT[iT] as number);
      }
      continue;
    }
    const v = (tail[g] as number) - rx * (logTx[iTx] as number);
    const e = Math.exp(-Math.abs(u - v));
    const term = w * ((head[g] as number) + Math.max(u, v) + Math.log1p(e));
    const t = sum + term;
    compensation += Math.abs(sum) >= Math.abs(term) ? sum - t + term : term - t + sum;
    sum = t;
    if (gradient !== undefined) {
      const dead = v > u ? 1 / (1 + e) : e / (1 + e);
      sumLogTerm += w * ((1 - dead) * (logT[iT] as number) + dead * (logTx[iTx] as number));
      sumInvTerm += w * rx * ((1 - dead) * (invT[iT] as number) + dead * (invTx[iTx] as number));
      aliveShare[g] = (aliveShare[g] as number) + w * dead;
    }
  }
  sum += compensation;
  if (gradient !== undefined) {
    let dr = -sumLogTerm;
    let da = 0;
    let db = 0;
    const psiR = digamma(r);
    const psiB = digamma(b);
    const psiAB = digamma(a + b);
    const logAlpha = Math.log(alpha);
    const groupWeight = groupWeights(d);
    for (let j = 0; j < k; j++) {
      const x = d.xs[j] as number;
      const W = groupWeight[j] as number;
      const psiABX = digamma(a + b + x);
      dr += W * (digamma(r + x) - psiR + logAlpha);
      da += W * (psiAB - psiABX);
      db += W * (digamma(b + x) - psiB + psiAB - psiABX);
      if (x > 0) {
        const dead = aliveShare[j] as number;
        da += dead / a;
        db -= dead / (b + x - 1);
      }
    }
    const dalpha = (d.totalWeight * r) / alpha - sumInvTerm;
    gradient[0] = r * dr;
    gradient[1] = alpha * dalpha;
    gradient[2] = a * da;
    gradient[3] = b * db;
  }
  return sum;
}

const groupWeightCache = new WeakMap<Prepared, Float64Array>();

function groupWeights(d: Prepared): Float64Array {
  let w = groupWeightCache.get(d);
  if (w === undefined) {
    w = new Float64Array(d.xs.length);
    for (let i = 0; i < d.x.length; i++) {
      const g = d.xAt[i] as number;
      w[g] = (w[g] as number) + (d.weight[i] as number);
    }
    groupWeightCache.set(d, w);
  }
  return w;
}

/** Σ weight · log L(params | x, t_x, T) over the customers (weights default to 1). */
export function bgNbdLogLikelihood(
  params: BgNbdParams,
  data: CustomerSummary,
  weights?: ArrayLike<number>,
): number {
  return bgNbdLogLikelihoodWithGradient(params, data, weights).value;
}

/**
 * The log-likelihood and its gradient with respect to the log-parameters (log r, log α, log a, log b), the
 * coordinates the fit searches in.
 */
export function bgNbdLogLikelihoodWithGradient(
  params: BgNbdParams,
  data: CustomerSummary,
  weights?: ArrayLike<number>,
): { value: number; gradient: Float64Array } {
  checkBgNbdParams(params);
  validateSummary(data, weights);
  const c = compressSummary(data, weights);
  const gradient = new Float64Array(4);
  const d = prepare(c.x, c.tx, c.T, c.weight);
  const value = logLikelihoodPrepared(d, params.r, params.alpha, params.a, params.b, gradient);
  return { value, gradient };
}

/**
 * Maximum-likelihood fit of BG/NBD. Throws `ClvInputError` for bad input and `ClvFitError`
 * ("CLV_NO_REPEAT_PURCHASES") when no customer (of positive weight) has x > 0, where the likelihood has no
 * maximum (it keeps rising as r → 0).
 */
export function fitBgNbd(
  x: ArrayLike<number>,
  tx: ArrayLike<number>,
  T: ArrayLike<number>,
  options: BgNbdFitOptions = {},
): BgNbdFit {
  const { compressed: c, sumX, sumT } = repeatFitData(x, tx, T, options.weights, options.compressed);
  if (options.initial !== undefined) checkBgNbdParams(options.initial);
  const d = prepare(c.x, c.tx, c.T, c.weight);
  const start = options.initial ?? { r: 1, alpha: sumT > 0 ? sumT / sumX : 1, a: 1, b: 1 };
  const { params, result, atBoundary } = fitInLogSpace(
    BG_NBD_PARAM_NAMES,
    start,
    d.totalWeight,
    ([r, alpha, a, b], gradient) =>
      logLikelihoodPrepared(d, r as number, alpha as number, a as number, b as number, gradient),
    options,
  );
  return {
    params,
    logLikelihood: logLikelihoodPrepared(d, params.r, params.alpha, params.a, params.b),
    iterations: result.iterations,
    evaluations: result.evaluations,
    converged: result.converged,
    method: result.method,
    atBoundary,
    customers: d.totalWeight,
    uniqueTriples: c.x.length,
  };
}

/** log of the odds against being alive: log(a/(b+x−1)) + (r+x) log((α+T)/(α+t_x)), for x > 0. */
function logOddsDead(p: BgNbdParams, x: number, tx: number, T: number): number {
  return Math.log(p.a) - Math.log(p.b + x - 1) + (p.r + x) * Math.log1p((T - tx) / (p.alpha + tx));
}

function aliveFromOdds(logOdds: number): number {
  // 1 / (1 + e^L) without overflow for large L.
  return logOdds > 0 ? Math.exp(-logOdds) / (1 + Math.exp(-logOdds)) : 1 / (1 + Math.exp(logOdds));
}

function checkCustomer(x: number, tx: number, T: number): void {
  validateSummary({ x: [x], tx: [tx], T: [T] });
}

/** P(alive | x, t_x, T): the probability that the customer has not dropped out by the evaluation date. */
export function probabilityAlive(params: BgNbdParams, x: number, tx: number, T: number): number {
  checkBgNbdParams(params);
  checkCustomer(x, tx, T);
  return x === 0 ? 1 : aliveFromOdds(logOddsDead(params, x, tx, T));
}

const SINGULAR_GAP = 1e-4;
/** Digits the closed form may lose to cancellation before the integral is used instead. */
const CANCELLATION_LIMIT = 1e-5;

/**
 * (a+b+x−1)/(a−1) · [1 − (1−z)^(a−1) ₂F₁(a+b−1−r, a−1; a+b+x−1; z)]: the expected purchases in the next t of a
 * customer known to be alive, with log(1−z) = −log(1 + t/(α+T)) passed in for accuracy at small z. Where the
 * hypergeometric function cannot be evaluated (the library gives up on upper parameters beyond about 1e4) or
 * the bracket is a small difference of large terms, the defining integral is evaluated instead.
 */
function aliveExpectation(r: number, a: number, b: number, x: number, z: number, log1mz: number): number {
  // Interpolation points sit at twice the gap, so they never fall back into the guarded band themselves.
  const h = 2 * SINGULAR_GAP;
  if (Math.abs(a - 1) < SINGULAR_GAP) {
    const lo = aliveExpectation(r, 1 - h, b, x, z, log1mz);
    const hi = aliveExpectation(r, 1 + h, b, x, z, log1mz);
    return lo + ((a - (1 - h)) / (2 * h)) * (hi - lo);
  }
  const c = a + b + x - 1;
  if (Math.abs(c) < SINGULAR_GAP) {
    // Only x = 0 with a + b near 1 gets here; move b so that c is h and 2h (b only grows, so stays > 0).
    const v1 = aliveExpectation(r, a, b - c + h, x, z, log1mz);
    const v2 = aliveExpectation(r, a, b - c + 2 * h, x, z, log1mz);
    return v1 + ((c - h) / h) * (v2 - v1);
  }
  const u = (a - 1) * log1mz;
  const f = hyp2f1(a + b - 1 - r, a - 1, c, z);
  const first = -Math.expm1(u);
  const second = Math.exp(u) * (f - 1);
  const bracket = first - second;
  const value = (c / (a - 1)) * bracket;
  if (
    Number.isFinite(value) &&
    Math.abs(bracket) >= CANCELLATION_LIMIT * Math.max(Math.abs(first), Math.abs(second))
  ) {
    return Math.max(value, 0);
  }
  return aliveExpectationByIntegration(r + x, a, b + x, Math.expm1(-log1mz));
}

function logSigmoid(v: number): number {
  return v >= 0 ? -Math.log1p(Math.exp(-v)) : v - Math.log1p(Math.exp(v));
}

/**
 * The same expectation from its definition: given alive at T, λ ~ Gamma(r+x, α+T) and p ~ Beta(a, b+x), and
 * an alive customer makes (1 − e^(−λpt))/p purchases in the next t on average; integrating λ out gives
 *   E = ∫₀¹ (1 − (1 + p s)^(−ρ)) / p · Beta(p; a, β) dp,   ρ = r+x, β = b+x, s = t/(α+T).
 * The integral runs over v = logit p, where the Beta density is a smooth log-concave bump with exponential
 * tails, by adaptive Gauss–Kronrod between cut-offs far in the tails (the tails beyond are integrated in closed
 * form: there the integrand is a pure exponential to 1e-13). The Beta's normalising constant is integrated the
 * same way, so discretisation errors largely cancel in the ratio.
 */
export function aliveExpectationByIntegration(rho: number, a: number, beta: number, s: number): number {
  if (!(s > 0)) return 0;
  const vStar = Math.log(a / beta);
  const sd = Math.sqrt(1 / a + 1 / beta);
  // The log-density relative to its peak, a (log σ(v) − log σ(v*)) + β (log σ(−v) − log σ(−v*)), with each
  // difference taken through log1p: log σ(v) − log σ(v*) = −log1p(σ(−v*) expm1(v* − v)), and likewise. Written
  // as differences of logs, large a and β (a concentrated dropout distribution) would turn rounding into noise
  // of order ε·a, which no quadrature tolerance can get under.
  const atPeak = a / (a + beta);
  const offPeak = beta / (a + beta);
  const relativeLogDensity = (v: number): number =>
    -a * Math.log1p(offPeak * Math.expm1(vStar - v)) - beta * Math.log1p(atPeak * Math.expm1(v - vStar));
  const purchases = (v: number): number => {
    const p = Math.exp(logSigmoid(v));
    return p > 0 ? -Math.expm1(-rho * Math.log1p(p * s)) / p : rho * s;
  };
  const slope = (v: number): number => a * Math.exp(logSigmoid(-v)) - beta * Math.exp(logSigmoid(v));
  // Beyond v0 (v1) the density is e^(a v) (e^(−β v)) and the purchases constant, each to a relative 1e-13.
  const v0 = Math.min(vStar - 10 * sd, -30 - Math.log(Math.max(1, (a + beta) / a, (rho + 1) * s)));
  const v1 = Math.max(vStar + 10 * sd, 30 + Math.log(Math.max(1, (a + beta) / beta, rho + 1)));
  const marks = [v0, vStar - 6 * sd, vStar - 2 * sd, vStar, vStar + 2 * sd, vStar + 6 * sd, v1];
  if (s > 1) marks.push(-Math.log(s));
  const breakpoints = marks.filter((v) => v >= v0 && v <= v1).sort((p, q) => p - q);
  const weight = (v: number): number => Math.exp(relativeLogDensity(v));
  const leftTail = weight(v0) / slope(v0);
  const rightTail = weight(v1) / -slope(v1);
  const mass = integrate(weight, breakpoints).value + leftTail + rightTail;
  const total =
    integrate((v) => weight(v) * purchases(v), breakpoints).value +
    leftTail * purchases(v0) +
    rightTail * purchases(v1);
  const value = total / mass;
  // Never worse than the no-dropout bound ρ s, whatever the arithmetic did.
  return Number.isFinite(value) ? Math.min(Math.max(value, 0), rho * s) : rho * s;
}

/**
 * The second factor of equation (10): expected purchases in the next t of a customer known to be alive. It
 * depends on x and T but not on t_x, so customers who differ only in t_x share it (the batch path uses this).
 */
export function aliveExpectedPurchasesUnchecked(p: BgNbdParams, t: number, x: number, T: number): number {
  if (t === 0) return 0;
  const ratio = t / (p.alpha + T);
  const z = t / (p.alpha + T + t);
  return aliveExpectation(p.r, p.a, p.b, x, z, -Math.log1p(ratio));
}

/** Equation (10) without input checks, shared by the public function and the batch path. */
export function expectedPurchasesUnchecked(
  p: BgNbdParams,
  t: number,
  x: number,
  tx: number,
  T: number,
): number {
  if (t === 0) return 0;
  const alive = x === 0 ? 1 : aliveFromOdds(logOddsDead(p, x, tx, T));
  return alive * aliveExpectedPurchasesUnchecked(p, t, x, T);
}

/** E[X(t) | x, t_x, T]: expected repeat purchases in the next `t` time units (equation 10). */
export function expectedPurchases(params: BgNbdParams, t: number, x: number, tx: number, T: number): number {
  checkBgNbdParams(params);
  checkCustomer(x, tx, T);
  if (!(Number.isFinite(t) && t >= 0)) {
    throw new ClvInputError("CLV_BAD_OPTION", "horizon t must be a finite number >= 0", "t");
  }
  return expectedPurchasesUnchecked(params, t, x, tx, T);
}

/** E[X(t)]: expected repeat purchases in the first `t` time units of a newly acquired customer (equation 7). */
export function expectedPurchasesNewCustomer(params: BgNbdParams, t: number): number {
  return expectedPurchases(params, t, 0, 0, 0);
}

/** P(alive) without input checks, for the batch path. */
export function probabilityAliveUnchecked(p: BgNbdParams, x: number, tx: number, T: number): number {
  return x === 0 ? 1 : aliveFromOdds(logOddsDead(p, x, tx, T));
}
