/**
 * MBG/NBD model of repeat purchasing (Batislam, Denizel & Filiztekin 2007, "Empirical validation and
 * comparison of models for customer base analysis", International Journal of Research in Marketing 24(3)).
 * As BG/NBD (bgnbd.ts), a customer buys at Poisson rate λ while active, λ ~ Gamma(shape r, rate α), and drops
 * out with probability p ~ Beta(a, b) right after a purchase, but here after any purchase, the first one
 * (time 0) included: a customer who never buys again may be gone. A customer is summarised by x (repeat
 * purchases), t_x (time of the last one, from the first purchase) and T (time from the first purchase to the
 * evaluation date).
 *
 * Formulas (per customer, given λ and p: alive at T with probability (1−p)^(x+1) λ^x e^(−λT), or dropped out
 * right after the last purchase, p (1−p)^x λ^x e^(−λ t_x); integrating over λ and p):
 *
 *   (1)  L(r, α, a, b | x, t_x, T) = B(a, b+x+1)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+T)^(r+x))
 *                                  + B(a+1, b+x)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+t_x)^(r+x))
 *        evaluated as log Γ(r+x) − log Γ(r) + r log α + log B(a, b+x+1) − log B(a, b)
 *                     + logaddexp(−(r+x) log(α+T), log a − log(b+x) − (r+x) log(α+t_x))
 *        since B(a+1, b+x)/B(a, b+x+1) = a/(b+x); unlike BG/NBD the second term is there for x = 0 too.
 *
 *   (2)  P(alive | x, t_x, T) = 1 / (1 + a/(b+x) · ((α+T)/(α+t_x))^(r+x)), for every x, evaluated from its log
 *        odds log a − log(b+x) + (r+x) log1p((T−t_x)/(α+t_x)).
 *
 *   (3)  E[X(t) | x, t_x, T] = P(alive) · (a+b+x)/(a−1)
 *                               · [1 − ((α+T)/(α+T+t))^(r+x) ₂F₁(r+x, b+x+1; a+b+x; t/(α+T+t))].
 *        Given alive at T, the customer's p follows Beta(a, b+x+1) and λ Gamma(r+x, α+T), and the future is
 *        the BG/NBD one; the factor after P(alive) is BG/NBD's equation (10) factor with b+1 in place of b,
 *        and is computed by the same numerically safe code (Euler's transformation, removable singularities,
 *        and the defining integral where the closed form loses digits; see bgnbd.ts).
 *
 *   (4)  E[X(t)] for a customer just acquired = (3) with x = t_x = T = 0, where P(alive) = b/(a+b).
 *
 * Parameters are fitted by maximum likelihood over log r, log α, log a, log b with BFGS on the analytic
 * gradient (Nelder–Mead if BFGS stalls) from several starts, on unique (x, t_x, T) triples weighted by their
 * counts. With π the posterior probability of having dropped out (the second term's share of (1)):
 *   ∂/∂r = ψ(r+x) − ψ(r) + log α − (1−π) log(α+T) − π log(α+t_x)
 *   ∂/∂α = r/α − (r+x) ((1−π)/(α+T) + π/(α+t_x))
 *   ∂/∂a = ψ(a+b) − ψ(a+b+x+1) + π/a
 *   ∂/∂b = ψ(b+x+1) − ψ(b) + ψ(a+b) − ψ(a+b+x+1) − π/(b+x)
 */
import betaln from "@stdlib/math-base-special-betaln";
import digamma from "@stdlib/math-base-special-digamma";
import gammaln from "@stdlib/math-base-special-gammaln";
import { aliveExpectedPurchasesUnchecked } from "./bgnbd";
import {
  type CompressedSummary,
  type CustomerSummary,
  compressSummary,
  repeatFitData,
  validateSummary,
} from "./data";
import { ClvFitError, ClvInputError } from "./errors";
import { fitInLogSpace, type MinimizeOptions } from "./optimize";

export interface MbgNbdParams {
  /** Shape of the Gamma distribution of purchase rates. */
  r: number;
  /** Rate (inverse scale, in the data's time unit) of the Gamma distribution of purchase rates. */
  alpha: number;
  /** Beta distribution of dropout probabilities. */
  a: number;
  b: number;
}

export const MBG_NBD_PARAM_NAMES = [
  "r",
  "alpha",
  "a",
  "b",
] as const satisfies readonly (keyof MbgNbdParams)[];

export interface MbgNbdFitOptions extends MinimizeOptions {
  /** Per-customer weights (counts), e.g. when each row already stands for several customers. */
  weights?: ArrayLike<number>;
  /** compressSummary of (x, t_x, T) with the weights, when the caller has it already: not worked out again. */
  compressed?: CompressedSummary;
  /** Starting point; default several (see `fitMbgNbd`). */
  initial?: MbgNbdParams;
}

export interface MbgNbdFit {
  params: MbgNbdParams;
  /** Σ weight · log-likelihood at `params`. */
  logLikelihood: number;
  iterations: number;
  evaluations: number;
  /** The optimiser met its tolerances from the start that gave the best likelihood. */
  converged: boolean;
  method: "bfgs" | "nelder-mead";
  /** Parameters that ended at the edge of the search box: the data push them towards 0 or infinity. */
  atBoundary: (keyof MbgNbdParams)[];
  customers: number;
  uniqueTriples: number;
}

export function checkMbgNbdParams(params: MbgNbdParams): void {
  for (const name of MBG_NBD_PARAM_NAMES) {
    const v = params[name];
    if (!(Number.isFinite(v) && v > 0)) {
      throw new ClvInputError(
        "CLV_BAD_PARAMS",
        `MBG/NBD parameter ${name} must be a finite number > 0`,
        name,
      );
    }
  }
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

/** Terms depending on x alone are computed once per distinct x, logs of α+T and α+t_x once per distinct value. */
interface Prepared {
  xs: Float64Array;
  Ts: Float64Array;
  txs: Float64Array;
  xAt: Uint32Array;
  TAt: Uint32Array;
  txAt: Uint32Array;
  x: Float64Array;
  weight: Float64Array;
  totalWeight: number;
  groupWeight: Float64Array;
  head: Float64Array;
  tail: Float64Array;
  deadShare: Float64Array;
  logT: Float64Array;
  logTx: Float64Array;
  invT: Float64Array;
  invTx: Float64Array;
}

function prepare(x: Float64Array, tx: Float64Array, T: Float64Array, weight: Float64Array): Prepared {
  const xi = distinctIndex(x);
  const Ti = distinctIndex(T);
  const txi = distinctIndex(tx);
  const k = xi.distinct.length;
  const groupWeight = new Float64Array(k);
  let totalWeight = 0;
  for (let i = 0; i < x.length; i++) {
    const w = weight[i] as number;
    totalWeight += w;
    const g = xi.at[i] as number;
    groupWeight[g] = (groupWeight[g] as number) + w;
  }
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
    groupWeight,
    head: new Float64Array(k),
    tail: new Float64Array(k),
    deadShare: new Float64Array(k),
    logT: new Float64Array(Ti.distinct.length),
    logTx: new Float64Array(txi.distinct.length),
    invT: new Float64Array(Ti.distinct.length),
    invTx: new Float64Array(txi.distinct.length),
  };
}

/** Σ weight · log L, and with `gradient` its derivatives with respect to (log r, log α, log a, log b). */
function logLikelihoodPrepared(
  d: Prepared,
  r: number,
  alpha: number,
  a: number,
  b: number,
  gradient?: Float64Array,
): number {
  const { head, tail, deadShare, logT, logTx, invT, invTx } = d;
  const base = r * Math.log(alpha) - gammaln(r) - betaln(a, b);
  const logA = Math.log(a);
  for (let j = 0; j < d.xs.length; j++) {
    const x = d.xs[j] as number;
    head[j] = base + gammaln(r + x) + betaln(a, b + x + 1);
    tail[j] = logA - Math.log(b + x);
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
  deadShare.fill(0);
  let sum = 0;
  let compensation = 0;
  let sumLogTerm = 0;
  let sumInvTerm = 0;
  for (let i = 0; i < d.x.length; i++) {
    const g = d.xAt[i] as number;
    const w = d.weight[i] as number;
    const rx = r + (d.x[i] as number);
    const iT = d.TAt[i] as number;
    const iTx = d.txAt[i] as number;
    const u = -rx * (logT[iT] as number);
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
      deadShare[g] = (deadShare[g] as number) + w * dead;
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
    for (let j = 0; j < d.xs.length; j++) {
      const x = d.xs[j] as number;
      const W = d.groupWeight[j] as number;
      const dead = deadShare[j] as number;
      const psiABX = digamma(a + b + x + 1);
      dr += W * (digamma(r + x) - psiR + logAlpha);
      da += W * (psiAB - psiABX) + dead / a;
      db += W * (digamma(b + x + 1) - psiB + psiAB - psiABX) - dead / (b + x);
    }
    const dalpha = (d.totalWeight * r) / alpha - sumInvTerm;
    gradient[0] = r * dr;
    gradient[1] = alpha * dalpha;
    gradient[2] = a * da;
    gradient[3] = b * db;
  }
  return sum;
}

/** Σ weight · log L(params | x, t_x, T) over the customers (weights default to 1). */
export function mbgNbdLogLikelihood(
  params: MbgNbdParams,
  data: CustomerSummary,
  weights?: ArrayLike<number>,
): number {
  return mbgNbdLogLikelihoodWithGradient(params, data, weights).value;
}

/** The log-likelihood and its gradient with respect to the log-parameters (log r, log α, log a, log b). */
export function mbgNbdLogLikelihoodWithGradient(
  params: MbgNbdParams,
  data: CustomerSummary,
  weights?: ArrayLike<number>,
): { value: number; gradient: Float64Array } {
  checkMbgNbdParams(params);
  validateSummary(data, weights);
  const c = compressSummary(data, weights);
  const d = prepare(c.x, c.tx, c.T, c.weight);
  const gradient = new Float64Array(4);
  const value = logLikelihoodPrepared(d, params.r, params.alpha, params.a, params.b, gradient);
  return { value, gradient };
}

/**
 * Maximum-likelihood fit of MBG/NBD from several starts (or from `initial` alone): r = 1, α = ΣT/Σx (the
 * rate of a population without dropout) with a = b = 1, and with a more and a less concentrated dropout
 * distribution. The search begins at the start with the highest likelihood; the next start is tried only when
 * a search ends unconverged, and the best likelihood found wins. Throws `ClvInputError` for bad input and `ClvFitError`
 * ("CLV_NO_REPEAT_PURCHASES") when no customer (of positive weight) has x > 0.
 */
export function fitMbgNbd(
  x: ArrayLike<number>,
  tx: ArrayLike<number>,
  T: ArrayLike<number>,
  options: MbgNbdFitOptions = {},
): MbgNbdFit {
  const { compressed: c, sumX, sumT } = repeatFitData(x, tx, T, options.weights, options.compressed);
  if (options.initial !== undefined) checkMbgNbdParams(options.initial);
  const d = prepare(c.x, c.tx, c.T, c.weight);
  const rateScale = sumT > 0 ? sumT / sumX : 1;
  const starts: MbgNbdParams[] =
    options.initial !== undefined
      ? [options.initial]
      : [
          { r: 1, alpha: rateScale, a: 1, b: 1 },
          { r: 0.5, alpha: rateScale / 2, a: 0.5, b: 3 },
          { r: 2, alpha: 2 * rateScale, a: 3, b: 10 },
        ];
  // The start with the best likelihood goes first; the others are tried only while no search has converged.
  const startValue = (p: MbgNbdParams): number => {
    const v = logLikelihoodPrepared(d, p.r, p.alpha, p.a, p.b);
    return Number.isFinite(v) ? v : Number.NEGATIVE_INFINITY;
  };
  const ordered = starts
    .map((start) => ({ start, value: startValue(start) }))
    .sort((p, q) => q.value - p.value)
    .map(({ start }) => start);
  let best: MbgNbdFit | undefined;
  let iterations = 0;
  let evaluations = starts.length;
  for (const start of ordered) {
    if (best?.converged) break;
    const { params, result, atBoundary } = fitInLogSpace(
      MBG_NBD_PARAM_NAMES,
      start,
      d.totalWeight,
      ([r, alpha, a, b], gradient) =>
        logLikelihoodPrepared(d, r as number, alpha as number, a as number, b as number, gradient),
      options,
    );
    iterations += result.iterations;
    evaluations += result.evaluations;
    const logLikelihood = logLikelihoodPrepared(d, params.r, params.alpha, params.a, params.b);
    if (!Number.isFinite(logLikelihood)) continue;
    if (best === undefined || logLikelihood > best.logLikelihood) {
      best = {
        params,
        logLikelihood,
        iterations: 0,
        evaluations: 0,
        converged: result.converged,
        method: result.method,
        atBoundary,
        customers: d.totalWeight,
        uniqueTriples: c.x.length,
      };
    }
  }
  if (best === undefined) {
    throw new ClvFitError("CLV_FIT_FAILED", "the MBG/NBD likelihood could not be evaluated from any start");
  }
  return { ...best, iterations, evaluations };
}

function checkCustomer(x: number, tx: number, T: number): void {
  validateSummary({ x: [x], tx: [tx], T: [T] });
}

/** P(alive) without input checks (equation 2). */
export function mbgNbdProbabilityAliveUnchecked(p: MbgNbdParams, x: number, tx: number, T: number): number {
  const logOdds = Math.log(p.a) - Math.log(p.b + x) + (p.r + x) * Math.log1p((T - tx) / (p.alpha + tx));
  return logOdds > 0 ? Math.exp(-logOdds) / (1 + Math.exp(-logOdds)) : 1 / (1 + Math.exp(logOdds));
}

/** P(alive | x, t_x, T): the probability that the customer has not dropped out by the evaluation date. */
export function mbgNbdProbabilityAlive(params: MbgNbdParams, x: number, tx: number, T: number): number {
  checkMbgNbdParams(params);
  checkCustomer(x, tx, T);
  return mbgNbdProbabilityAliveUnchecked(params, x, tx, T);
}

/** Expected purchases in the next t of a customer known to be alive (the factor of equation 3 after P(alive)). */
export function mbgNbdAliveExpectedPurchasesUnchecked(
  p: MbgNbdParams,
  t: number,
  x: number,
  T: number,
): number {
  return aliveExpectedPurchasesUnchecked({ r: p.r, alpha: p.alpha, a: p.a, b: p.b + 1 }, t, x, T);
}

/** E[X(t) | x, t_x, T]: expected repeat purchases in the next `t` time units (equation 3). */
export function mbgNbdExpectedPurchases(
  params: MbgNbdParams,
  t: number,
  x: number,
  tx: number,
  T: number,
): number {
  checkMbgNbdParams(params);
  checkCustomer(x, tx, T);
  if (!(Number.isFinite(t) && t >= 0)) {
    throw new ClvInputError("CLV_BAD_OPTION", "horizon t must be a finite number >= 0", "t");
  }
  if (t === 0) return 0;
  return (
    mbgNbdProbabilityAliveUnchecked(params, x, tx, T) * mbgNbdAliveExpectedPurchasesUnchecked(params, t, x, T)
  );
}

/** E[X(t)]: expected repeat purchases in the first `t` time units of a newly acquired customer (equation 4). */
export function mbgNbdExpectedPurchasesNewCustomer(params: MbgNbdParams, t: number): number {
  return mbgNbdExpectedPurchases(params, t, 0, 0, 0);
}
