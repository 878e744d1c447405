/**
 * Pareto/NBD model of repeat purchasing (Schmittlein, Morrison & Colombo 1987, "Counting Your Customers: Who
 * Are They and What Will They Do Next?", Management Science 33(1)). While active, a customer buys at Poisson
 * rate λ and stays active for an exponentially distributed lifetime of rate μ, so a customer can be gone
 * without ever buying again. Across customers λ ~ Gamma(shape r, rate α) and μ ~ Gamma(shape s, rate β). A
 * customer is summarised by x (repeat purchases), t_x (time of the last one, from the first purchase) and T
 * (time from the first purchase to the evaluation date). The likelihood is written as in Fader, Hardie & Lee
 * (2005), "A Note on Implementing the Pareto/NBD Model in MATLAB"; equation numbers are this file's.
 *
 *   (1)  L(r, α, s, β | x, t_x, T) = Γ(r+x) α^r β^s / Γ(r)
 *                                    · [ 1 / ((α+T)^(r+x) (β+T)^s) + s/(r+s+x) · A₀ ]
 *        with, for α ≥ β,
 *   (2)  A₀ = ₂F₁(r+s+x, s+1; r+s+x+1; (α−β)/(α+t_x)) / (α+t_x)^(r+s+x)
 *             − ₂F₁(r+s+x, s+1; r+s+x+1; (α−β)/(α+T)) / (α+T)^(r+s+x)
 *        and, for α < β,
 *   (3)  A₀ = ₂F₁(r+s+x, r+x; r+s+x+1; (β−α)/(β+t_x)) / (β+t_x)^(r+s+x)
 *             − ₂F₁(r+s+x, r+x; r+s+x+1; (β−α)/(β+T)) / (β+T)^(r+s+x).
 *        The switch keeps the argument z of ₂F₁ in [0, 1). Both cases are one function: with M the larger
 *        and m the smaller of α and β, p_M and p_m the exponents that go with them (r+x with α, s+1 with β)
 *        and a = r+s+x, s/(r+s+x) · A₀ = s · (D(t_x) − D(T)) where
 *          D(τ) = ∫_τ^∞ (α+u)^(−(r+x)) (β+u)^(−(s+1)) du = ₂F₁(a, p_m; a+1; z) / (a (M+τ)^a),  z = (M−m)/(M+τ).
 *        Euler's transformation ₂F₁(a, p_m; a+1; z) = (1−z)^(1−p_m) ₂F₁(1, p_M; a+1; z) leaves a series of
 *        positive terms whose ratio (p_M+k)/(a+1+k) · z is below z, so
 *          log D(τ) = −a log(M+τ) − log a + (1−p_m) log((m+τ)/(M+τ)) + log Σ_k (p_M)_k/(a+1)_k z^k
 *        is exact in logs for any x: the factor (1−z)^(1−p_m), which overflows for x in the thousands, is
 *        never formed. The series needs about 40/(1−z) terms at worst (small x, z near 1, i.e. m+τ far below
 *        M−m, which only parameters far from the data's reach); past 4,000 terms D is integrated instead,
 *        over v = log((m+u)/(M−m)):
 *          D = (M−m)^(−a) ∫_{v₀}^∞ exp((1−p_m) v − p_M log(1+e^v)) dv,  v₀ = log((m+τ)/(M−m)),
 *        a log-concave integrand (adaptive Gauss–Kronrod, the tails in closed form).
 *        The log-likelihood is then log Γ(r+x) − log Γ(r) + r log α + s log β
 *          + logaddexp(−(r+x) log(α+T) − s log(β+T), log s + log D(t_x) + log(1 − e^(log D(T) − log D(t_x)))).
 *
 *   (4)  P(alive | x, t_x, T) = 1 / (1 + s · (D(t_x) − D(T)) · (α+T)^(r+x) (β+T)^s), from the same logs.
 *
 *   (5)  E[X(t) | x, t_x, T] = P(alive) · (r+x)(β+T) / ((α+T)(s−1)) · [1 − ((β+T)/(β+T+t))^(s−1)]
 *        with the bracket over (s−1) evaluated as −expm1(−(s−1) log1p(t/(β+T))) / (s−1), accurate for s near 1,
 *        and its limit (r+x)(β+T)/(α+T) · log1p(t/(β+T)) at s = 1.
 *
 *   (6)  E[X(t)] for a customer just acquired = (5) with x = t_x = T = 0 (P(alive) = 1 there).
 *
 * Parameters are fitted by maximum likelihood over log r, log α, log s, log β with BFGS on the analytic
 * gradient (Nelder–Mead if BFGS stalls) from several starts, on unique (x, t_x, T) triples weighted by their
 * counts, with D and its derivatives computed once per distinct (x, τ) pair. The derivatives of log D follow
 * from the series term by term (∂/∂z, and through the Pochhammer ratios ∂/∂p_M and ∂/∂(a+1)), and on the
 * rare integral path from two more integrals (the means of softplus(v) and v) and the integrand at v₀.
 */
import digamma from "@stdlib/math-base-special-digamma";
import gammaln from "@stdlib/math-base-special-gammaln";
import {
  type CompressedSummary,
  type CustomerSummary,
  compressSummary,
  repeatFitData,
  validateSummary,
} from "./data";
import { ClvFitError, ClvInputError } from "./errors";
import { fitInLogSpace, type MinimizeOptions } from "./optimize";
import { integrate } from "./quadrature";

export interface ParetoNbdParams {
  /** Shape of the Gamma distribution of purchase rates λ. */
  r: number;
  /** Rate (inverse scale, in the data's time unit) of the Gamma distribution of purchase rates. */
  alpha: number;
  /** Shape of the Gamma distribution of dropout rates μ. */
  s: number;
  /** Rate of the Gamma distribution of dropout rates. */
  beta: number;
}

export const PARETO_NBD_PARAM_NAMES = [
  "r",
  "alpha",
  "s",
  "beta",
] as const satisfies readonly (keyof ParetoNbdParams)[];

export interface ParetoNbdFitOptions extends MinimizeOptions {
  /** Per-customer weights (counts), e.g. when each row already stands for several customers. */
  weights?: ArrayLike<number>;
  /** compressSummary of (x, t_x, T) with the weights, when the caller has it already: not worked out again. */
  compressed?: CompressedSummary;
  /** Starting point; default several (see `fitParetoNbd`). */
  initial?: ParetoNbdParams;
}

export interface ParetoNbdFit {
  params: ParetoNbdParams;
  /** Σ weight · log-likelihood at `params`. */
  logLikelihood: number;
  iterations: number;
  evaluations: number;
  /** The optimiser met its tolerances from the start that gave the best likelihood. */
  converged: boolean;
  method: "bfgs" | "nelder-mead";
  /** Parameters that ended at the edge of the search box: the data push them towards 0 or infinity. */
  atBoundary: (keyof ParetoNbdParams)[];
  customers: number;
  uniqueTriples: number;
}

export function checkParetoNbdParams(params: ParetoNbdParams): void {
  for (const name of PARETO_NBD_PARAM_NAMES) {
    const v = params[name];
    if (!(Number.isFinite(v) && v > 0)) {
      throw new ClvInputError(
        "CLV_BAD_PARAMS",
        `Pareto/NBD parameter ${name} must be a finite number > 0`,
        name,
      );
    }
  }
}

/** Terms of the series for D before the integral is used instead (only z near 1 with small x needs more). */
const SERIES_BUDGET = 4000;

/** Scratch of `series`: the sum and its derivatives with respect to p, c and z. */
const seriesOut = new Float64Array(4);

/**
 * S = Σ_k (p)_k/(c)_k z^k for 0 <= z < 1 and 0 < p < c, with ∂S/∂p, ∂S/∂c and ∂S/∂z: positive terms with
 * ratio below z, summed until the rest (below term · z/(1−z), and (k+1) times that for the derivatives) is
 * under the last bit. Writes [S, ∂S/∂p, ∂S/∂c, ∂S/∂z] into `seriesOut`; false when that takes more than
 * SERIES_BUDGET terms.
 */
function series(p: number, c: number, z: number): boolean {
  let coefficient = 1;
  let zPower = 1;
  let sum = 1;
  let dp = 0;
  let dc = 0;
  let dz = 0;
  let harmonicP = 0;
  let harmonicC = 0;
  const tailFactor = z / (1 - z);
  let done = false;
  for (let k = 1; k <= SERIES_BUDGET; k++) {
    coefficient *= (p + k - 1) / (c + k - 1);
    harmonicP += 1 / (p + k - 1);
    harmonicC += 1 / (c + k - 1);
    dz += k * coefficient * zPower;
    if (z === 0) {
      done = true;
      break;
    }
    zPower *= z;
    const term = coefficient * zPower;
    sum += term;
    dp += term * harmonicP;
    dc -= term * harmonicC;
    if (term * (k + 1) * tailFactor <= 1e-17 * sum) {
      done = true;
      break;
    }
  }
  seriesOut[0] = sum;
  seriesOut[1] = dp;
  seriesOut[2] = dc;
  seriesOut[3] = dz;
  return done;
}

/**
 * Whether the series for S can converge within SERIES_BUDGET terms: below z = 0.9 always (some 400 terms at
 * most); above, when its term number SERIES_BUDGET, (p)_k/(c)_k z^k, is already below 1e-17.
 */
function seriesWithinBudget(p: number, c: number, z: number): boolean {
  if (z <= 0.9) return true;
  const k = SERIES_BUDGET;
  return k * Math.log(z) + gammaln(p + k) - gammaln(p) - gammaln(c + k) + gammaln(c) < Math.log(1e-17);
}

function softplus(v: number): number {
  return v > 0 ? v + Math.log1p(Math.exp(-v)) : Math.log1p(Math.exp(v));
}

/** Scratch of `logTailIntegral`: log I, E[softplus(v)], E[v] and the density at v0, under e^h / I. */
const tailOut = new Float64Array(4);

/**
 * I = ∫_{v0}^∞ exp(h(v)) dv with h(v) = (1−pm) v − pM softplus(v): concave, slope (1−pm) at −∞ and
 * −(pM+pm−1) < 0 at +∞. Integrated relative to its largest value by adaptive Gauss–Kronrod up to 40 units
 * right of the bulk, beyond which h is linear to 1e-17 (closed-form tail); with the moments E[softplus(v)] and
 * E[v] and the density e^h(v0)/I that the derivatives of log I need. Writes them into `tailOut`.
 */
function logTailIntegral(pM: number, pm: number, v0: number): void {
  const h = (v: number): number => (1 - pm) * v - pM * softplus(v);
  const ratio = (1 - pm) / pM;
  const mode = ratio > 0 && ratio < 1 ? Math.max(v0, Math.log(ratio / (1 - ratio))) : v0;
  const peak = h(mode);
  const a = pM + pm - 1;
  const hi = Math.max(mode, 0) + 40 + Math.log1p(pM);
  const lo = v0;
  const f = (v: number): number => Math.exp(h(v) - peak);
  // Where the integrand bends: its peak, where pM e^v reaches 1 (the power law turns into a double-exponential
  // decay), and, when it falls from the lower limit on, a few lengths 1/|h'(lo)| of that fall.
  const bend = -Math.log(pM);
  const marks = [lo, hi, mode, 0, -10, -40, 10, bend - 2, bend, bend + 2, bend + 4];
  const fall = -(1 - pm - pM / (1 + Math.exp(-lo)));
  if (fall > 0) for (const k of [1, 3, 10, 30]) marks.push(lo + k / fall);
  const breakpoints = [...new Set(marks.filter((v) => v >= lo && v <= hi))].sort((p, q) => p - q);
  // Right tail: h(v) = −a v − pM log1p(e^−v) ≈ −a v, and softplus(v) ≈ v.
  const edge = Math.exp(h(hi) - peak);
  // Relative tolerance 1e-13, or what rounding allows: h is a difference of terms up to (1−pm) v0 in size, so
  // f carries noise of order 1e-16 (1−pm) v0 relative (1e-12 for x in the thousands), and the tolerance is a
  // hundred times that. Integrands are kept positive (v − v0 >= 0), so the tolerance stays relative.
  const tolerance = Math.max(1e-13, 1e-14 * Math.abs((1 - pm) * v0));
  const total = integrate(f, breakpoints, tolerance).value + edge / a;
  const softplusMoment =
    integrate((v) => f(v) * softplus(v), breakpoints, tolerance).value + edge * (hi / a + 1 / (a * a));
  const offsetMoment =
    integrate((v) => f(v) * (v - v0), breakpoints, tolerance).value + edge * ((hi - v0) / a + 1 / (a * a));
  tailOut[0] = peak + Math.log(total);
  tailOut[1] = softplusMoment / total;
  tailOut[2] = v0 + offsetMoment / total;
  tailOut[3] = f(v0) / total;
}

/**
 * log D(τ) of customers with x repeat purchases under (r, α, s, β); with `gradient`, writes its derivatives
 * with respect to (r, α, s, β) into gradient[offset..offset+3]. On the series path they are exact:
 *   ∂/∂p_M = −log(M+τ) − 1/a + (∂S/∂c + ∂S/∂p)/S,      ∂/∂p_m = −log(m+τ) − 1/a + (∂S/∂c)/S,
 *   ∂/∂M = −(a+1−p_m)/(M+τ) + (∂S/∂z)/S · (m+τ)/(M+τ)²,  ∂/∂m = (1−p_m)/(m+τ) − (∂S/∂z)/S / (M+τ)
 * (c = a+1 moves with both exponents). On the integral path, with E the mean under e^h/I and f₀ = e^h(v₀)/I,
 *   ∂/∂p_M = −log(M−m) − E[softplus(v)],  ∂/∂p_m = −log(M−m) − E[v],
 *   ∂/∂M = (f₀ − a)/(M−m),  ∂/∂m = a/(M−m) − f₀ (1/(m+τ) + 1/(M−m)).
 */
function logDFor(
  r: number,
  alpha: number,
  s: number,
  beta: number,
  x: number,
  tau: number,
  gradient?: Float64Array,
  offset = 0,
): number {
  const swap = alpha < beta;
  const pM = swap ? s + 1 : r + x;
  const pm = swap ? r + x : s + 1;
  const M = swap ? beta : alpha;
  const m = swap ? alpha : beta;
  const a = pM + pm - 1;
  const z = (M - m) / (M + tau);
  if (!seriesWithinBudget(pM, a + 1, z) || !series(pM, a + 1, z)) {
    const gap = M - m;
    const logGap = Math.log(gap);
    logTailIntegral(pM, pm, Math.log(m + tau) - logGap);
    if (gradient !== undefined) {
      const atLimit = tailOut[3] as number;
      const dPM = -logGap - (tailOut[1] as number);
      const dPm = -logGap - (tailOut[2] as number);
      const dM = -a / gap + atLimit / gap;
      const dm = a / gap - atLimit * (1 / (m + tau) + 1 / gap);
      gradient[offset] = swap ? dPm : dPM;
      gradient[offset + 1] = swap ? dm : dM;
      gradient[offset + 2] = swap ? dPM : dPm;
      gradient[offset + 3] = swap ? dM : dm;
    }
    return -a * logGap + (tailOut[0] as number);
  }
  const logMt = Math.log(M + tau);
  const logmt = Math.log(m + tau);
  const S = seriesOut[0] as number;
  if (gradient !== undefined) {
    const dlogSdz = (seriesOut[3] as number) / S;
    const dlogSdc = (seriesOut[2] as number) / S;
    const dPM = -logMt - 1 / a + dlogSdc + (seriesOut[1] as number) / S;
    const dPm = -logmt - 1 / a + dlogSdc;
    const dM = -(a + 1 - pm) / (M + tau) + (dlogSdz * (m + tau)) / ((M + tau) * (M + tau));
    const dm = (1 - pm) / (m + tau) - dlogSdz / (M + tau);
    gradient[offset] = swap ? dPm : dPM;
    gradient[offset + 1] = swap ? dm : dM;
    gradient[offset + 2] = swap ? dPM : dPm;
    gradient[offset + 3] = swap ? dM : dm;
  }
  return -a * logMt - Math.log(a) + (1 - pm) * (logmt - logMt) + Math.log(S);
}

/** The data of a likelihood evaluation, with D computed once per distinct (x, τ). */
interface Prepared {
  xs: Float64Array;
  Ts: Float64Array;
  xAt: Uint32Array;
  TAt: Uint32Array;
  /** Distinct (x, τ) pairs: position of x in xs, and τ. Each triple points at its (x, t_x) and (x, T) pair. */
  pairX: Uint32Array;
  pairTau: Float64Array;
  txPair: Uint32Array;
  TPair: Uint32Array;
  x: Float64Array;
  same: Uint8Array;
  weight: Float64Array;
  totalWeight: number;
  groupWeight: Float64Array;
  head: Float64Array;
  logD: Float64Array;
  /** ∂ log D / ∂(r, α, s, β) per pair, four numbers each. */
  dLogD: Float64Array;
  logAT: Float64Array;
  logBT: Float64Array;
}

function prepare(x: Float64Array, tx: Float64Array, T: Float64Array, weight: Float64Array): Prepared {
  const n = x.length;
  const xIndex = new Map<number, number>();
  const TIndex = new Map<number, number>();
  const pairs = new Map<number, Map<number, number>>();
  const pairX: number[] = [];
  const pairTau: number[] = [];
  const pairOf = (g: number, tau: number): number => {
    let inner = pairs.get(g);
    if (inner === undefined) {
      inner = new Map();
      pairs.set(g, inner);
    }
    let p = inner.get(tau);
    if (p === undefined) {
      p = pairX.length;
      inner.set(tau, p);
      pairX.push(g);
      pairTau.push(tau);
    }
    return p;
  };
  const xAt = new Uint32Array(n);
  const TAt = new Uint32Array(n);
  const txPair = new Uint32Array(n);
  const TPair = new Uint32Array(n);
  const same = new Uint8Array(n);
  let totalWeight = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[i] as number;
    const Ti = T[i] as number;
    const txi = tx[i] as number;
    let g = xIndex.get(xi);
    if (g === undefined) {
      g = xIndex.size;
      xIndex.set(xi, g);
    }
    let k = TIndex.get(Ti);
    if (k === undefined) {
      k = TIndex.size;
      TIndex.set(Ti, k);
    }
    xAt[i] = g;
    TAt[i] = k;
    same[i] = txi === Ti ? 1 : 0;
    TPair[i] = pairOf(g, Ti);
    txPair[i] = same[i] === 1 ? (TPair[i] as number) : pairOf(g, txi);
    totalWeight += weight[i] as number;
  }
  const groupWeight = new Float64Array(xIndex.size);
  for (let i = 0; i < n; i++) {
    const g = xAt[i] as number;
    groupWeight[g] = (groupWeight[g] as number) + (weight[i] as number);
  }
  return {
    xs: Float64Array.from(xIndex.keys()),
    Ts: Float64Array.from(TIndex.keys()),
    xAt,
    TAt,
    pairX: Uint32Array.from(pairX),
    pairTau: Float64Array.from(pairTau),
    txPair,
    TPair,
    x,
    same,
    weight,
    totalWeight,
    groupWeight,
    head: new Float64Array(xIndex.size),
    logD: new Float64Array(pairX.length),
    dLogD: new Float64Array(4 * pairX.length),
    logAT: new Float64Array(TIndex.size),
    logBT: new Float64Array(TIndex.size),
  };
}

/** log(s · (D(t_x) − D(T))): the log of the dropout term of (1), −∞ when t_x = T. */
function logDropoutTerm(logS: number, logDtx: number, logDT: number): number {
  const diff = logDT - logDtx;
  return diff < 0 ? logS + logDtx + Math.log(-Math.expm1(diff)) : Number.NEGATIVE_INFINITY;
}

function logAddExp(u: number, v: number): number {
  if (v === Number.NEGATIVE_INFINITY) return u;
  return Math.max(u, v) + Math.log1p(Math.exp(-Math.abs(u - v)));
}

/**
 * Σ weight · log L, and with `gradient` its derivatives with respect to (log r, log α, log s, log β).
 *
 * Per customer log L = head(x) + logaddexp(A, B) with A = −(r+x) log(α+T) − s log(β+T) and
 * B = log s + log D(t_x) + log(1 − q), q = D(T)/D(t_x). With π = e^B/(e^A + e^B) (the posterior probability
 * of having dropped out), ∂ log L = ∂head + (1−π) ∂A + π ∂B, where ∂B = [s] 1/s + (∂log D(t_x) − q ∂log D(T))/(1−q)
 * and ∂head = (ψ(r+x) − ψ(r) + log α, r/α, log β, s/β).
 */
function logLikelihoodPrepared(
  d: Prepared,
  r: number,
  alpha: number,
  s: number,
  beta: number,
  gradient?: Float64Array,
): number {
  const base = r * Math.log(alpha) + s * Math.log(beta) - gammaln(r);
  for (let j = 0; j < d.xs.length; j++) d.head[j] = base + gammaln(r + (d.xs[j] as number));
  for (let j = 0; j < d.Ts.length; j++) {
    d.logAT[j] = Math.log(alpha + (d.Ts[j] as number));
    d.logBT[j] = Math.log(beta + (d.Ts[j] as number));
  }
  const dD = gradient === undefined ? undefined : d.dLogD;
  for (let p = 0; p < d.pairX.length; p++) {
    const x = d.xs[d.pairX[p] as number] as number;
    d.logD[p] = logDFor(r, alpha, s, beta, x, d.pairTau[p] as number, dD, 4 * p);
  }
  const logS = Math.log(s);
  let sum = 0;
  let compensation = 0;
  let gr = 0;
  let ga = 0;
  let gs = 0;
  let gb = 0;
  for (let i = 0; i < d.x.length; i++) {
    const x = d.x[i] as number;
    const k = d.TAt[i] as number;
    const w = d.weight[i] as number;
    const logAT = d.logAT[k] as number;
    const logBT = d.logBT[k] as number;
    const alive = -(r + x) * logAT - s * logBT;
    const pTx = d.txPair[i] as number;
    const pT = d.TPair[i] as number;
    const logDtx = d.logD[pTx] as number;
    const logDT = d.logD[pT] as number;
    const diff = logDT - logDtx;
    const dropped =
      d.same[i] === 0 && diff < 0 ? logS + logDtx + Math.log(-Math.expm1(diff)) : Number.NEGATIVE_INFINITY;
    const term = w * ((d.head[d.xAt[i] as number] as number) + logAddExp(alive, dropped));
    const t = sum + term;
    compensation += Math.abs(sum) >= Math.abs(term) ? sum - t + term : term - t + sum;
    sum = t;
    if (dD !== undefined) {
      const T = d.Ts[k] as number;
      let pi = 0;
      let br = 0;
      let ba = 0;
      let bs = 0;
      let bb = 0;
      if (dropped !== Number.NEGATIVE_INFINITY) {
        pi = dropped > alive ? 1 / (1 + Math.exp(alive - dropped)) : 1 - 1 / (1 + Math.exp(dropped - alive));
        const q = Math.exp(diff);
        const scale = 1 / -Math.expm1(diff);
        br = ((dD[4 * pTx] as number) - q * (dD[4 * pT] as number)) * scale;
        ba = ((dD[4 * pTx + 1] as number) - q * (dD[4 * pT + 1] as number)) * scale;
        bs = 1 / s + ((dD[4 * pTx + 2] as number) - q * (dD[4 * pT + 2] as number)) * scale;
        bb = ((dD[4 * pTx + 3] as number) - q * (dD[4 * pT + 3] as number)) * scale;
      }
      const stay = 1 - pi;
      gr += w * (stay * -logAT + pi * br);
      ga += w * ((stay * -(r + x)) / (alpha + T) + pi * ba);
      gs += w * (stay * -logBT + pi * bs);
      gb += w * ((stay * -s) / (beta + T) + pi * bb);
    }
  }
  if (gradient !== undefined) {
    const psiR = digamma(r);
    let headR = 0;
    for (let j = 0; j < d.xs.length; j++) {
      headR += (d.groupWeight[j] as number) * (digamma(r + (d.xs[j] as number)) - psiR);
    }
    const W = d.totalWeight;
    gradient[0] = r * (gr + headR + W * Math.log(alpha));
    gradient[1] = alpha * (ga + (W * r) / alpha);
    gradient[2] = s * (gs + W * Math.log(beta));
    gradient[3] = beta * (gb + (W * s) / beta);
  }
  return sum + compensation;
}

/** Σ weight · log L(params | x, t_x, T) over the customers (weights default to 1). */
export function paretoNbdLogLikelihood(
  params: ParetoNbdParams,
  data: CustomerSummary,
  weights?: ArrayLike<number>,
): number {
  checkParetoNbdParams(params);
  validateSummary(data, weights);
  const c = compressSummary(data, weights);
  const d = prepare(c.x, c.tx, c.T, c.weight);
  return logLikelihoodPrepared(d, params.r, params.alpha, params.s, params.beta);
}

/**
 * The log-likelihood and its gradient with respect to the log-parameters (log r, log α, log s, log β).
 */
export function paretoNbdLogLikelihoodWithGradient(
  params: ParetoNbdParams,
  data: CustomerSummary,
  weights?: ArrayLike<number>,
): { value: number; gradient: Float64Array } {
  checkParetoNbdParams(params);
  validateSummary(data, weights);
  const c = compressSummary(data, weights);
  const d = prepare(c.x, c.tx, c.T, c.weight);
  const gradient = new Float64Array(4);
  const value = logLikelihoodPrepared(d, params.r, params.alpha, params.s, params.beta, gradient);
  return { value, gradient };
}

/**
 * Default budget of likelihood evaluations of the Nelder–Mead fallback: where BFGS stalls the likelihood is
 * usually a flat ridge towards the edge of the box, whose points are the costly ones (the integral path of
 * D), so the fallback gets a third of the general default, and runs once, not once per start.
 */
const FALLBACK_EVALUATIONS = 1500;

/**
 * Maximum-likelihood fit of Pareto/NBD from several starts (or from `initial` alone): a start at the purchase
 * rate of a population without dropout (r = 1, α = ΣT/Σx, s = 1, β = mean T), and two with more and less
 * heterogeneity. BFGS begins at the start with the highest likelihood; the next start is tried only when
 * BFGS does not converge, and if none converges, Nelder–Mead continues once from the best point found. Throws `ClvInputError` for bad input and `ClvFitError`
 * ("CLV_NO_REPEAT_PURCHASES") when no customer (of positive weight) has x > 0.
 */
export function fitParetoNbd(
  x: ArrayLike<number>,
  tx: ArrayLike<number>,
  T: ArrayLike<number>,
  options: ParetoNbdFitOptions = {},
): ParetoNbdFit {
  const { compressed: c, sumX, sumT } = repeatFitData(x, tx, T, options.weights, options.compressed);
  if (options.initial !== undefined) checkParetoNbdParams(options.initial);
  const d = prepare(c.x, c.tx, c.T, c.weight);
  const meanT = sumT > 0 ? sumT / d.totalWeight : 1;
  const rateScale = sumT > 0 ? sumT / sumX : 1;
  const starts: ParetoNbdParams[] =
    options.initial !== undefined
      ? [options.initial]
      : [
          { r: 1, alpha: rateScale, s: 1, beta: meanT },
          { r: 0.5, alpha: rateScale / 2, s: 0.5, beta: meanT / 2 },
          { r: 2, alpha: 2 * rateScale, s: 2, beta: 2 * meanT },
        ];
  // The start with the best likelihood goes first; the others are tried only while no search has converged.
  const startValue = (p: ParetoNbdParams): number => {
    const v = logLikelihoodPrepared(d, p.r, p.alpha, p.s, p.beta);
    return Number.isFinite(v) ? v : Number.NEGATIVE_INFINITY;
  };
  const ordered = starts
    .map((start) => ({ start, value: startValue(start) }))
    .sort((p, q) => q.value - p.value)
    .map(({ start }) => start);
  let best: ParetoNbdFit | undefined;
  let iterations = 0;
  let evaluations = starts.length;
  const search = (start: ParetoNbdParams, fallbackEvaluations: number): void => {
    const { params, result, atBoundary } = fitInLogSpace(
      PARETO_NBD_PARAM_NAMES,
      start,
      d.totalWeight,
      ([r, alpha, s, beta], gradient) =>
        logLikelihoodPrepared(d, r as number, alpha as number, s as number, beta as number, gradient),
      fallbackEvaluations === 0
        ? { ...options, maxEvaluations: 0, maxRestarts: 0 }
        : { ...options, maxEvaluations: fallbackEvaluations },
    );
    iterations += result.iterations;
    evaluations += result.evaluations;
    const logLikelihood = logLikelihoodPrepared(d, params.r, params.alpha, params.s, params.beta);
    if (!Number.isFinite(logLikelihood)) return;
    if (best === undefined || logLikelihood > best.logLikelihood || (result.converged && !best.converged)) {
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
  };
  // BFGS from each start in turn until one converges; Nelder–Mead (with its budget) only once, from the best
  // point found, if none did.
  for (const start of ordered) {
    if (best?.converged) break;
    search(start, 0);
  }
  const fallbackFrom: ParetoNbdFit | undefined = best;
  if (fallbackFrom !== undefined && !fallbackFrom.converged) {
    search(fallbackFrom.params, options.maxEvaluations ?? FALLBACK_EVALUATIONS);
  }
  if (best === undefined) {
    throw new ClvFitError(
      "CLV_FIT_FAILED",
      "the Pareto/NBD likelihood could not be evaluated from any start",
    );
  }
  return { ...best, iterations, evaluations };
}

function checkCustomer(x: number, tx: number, T: number): void {
  validateSummary({ x: [x], tx: [tx], T: [T] });
}

/** P(alive) without input checks (equation 4). */
export function paretoNbdProbabilityAliveUnchecked(
  p: ParetoNbdParams,
  x: number,
  tx: number,
  T: number,
): number {
  if (tx === T) return 1;
  const dropped = logDropoutTerm(
    Math.log(p.s),
    logDFor(p.r, p.alpha, p.s, p.beta, x, tx),
    logDFor(p.r, p.alpha, p.s, p.beta, x, T),
  );
  const logOdds = dropped + (p.r + x) * Math.log(p.alpha + T) + p.s * Math.log(p.beta + T);
  if (logOdds === Number.NEGATIVE_INFINITY) return 1;
  return logOdds > 0 ? Math.exp(-logOdds) / (1 + Math.exp(-logOdds)) : 1 / (1 + Math.exp(logOdds));
}

/** P(alive | x, t_x, T): the probability that the customer's lifetime has not ended by the evaluation date. */
export function paretoNbdProbabilityAlive(params: ParetoNbdParams, x: number, tx: number, T: number): number {
  checkParetoNbdParams(params);
  checkCustomer(x, tx, T);
  return paretoNbdProbabilityAliveUnchecked(params, x, tx, T);
}

/** Expected purchases in the next t of a customer known to be alive (the factor of equation 5 after P(alive)). */
export function paretoNbdAliveExpectedPurchasesUnchecked(
  p: ParetoNbdParams,
  t: number,
  x: number,
  T: number,
): number {
  if (t === 0) return 0;
  const horizon = Math.log1p(t / (p.beta + T));
  const shape = p.s - 1;
  const factor = shape === 0 ? horizon : -Math.expm1(-shape * horizon) / shape;
  return ((p.r + x) * (p.beta + T) * factor) / (p.alpha + T);
}

/** E[X(t) | x, t_x, T]: expected repeat purchases in the next `t` time units (equation 5). */
export function paretoNbdExpectedPurchases(
  params: ParetoNbdParams,
  t: number,
  x: number,
  tx: number,
  T: number,
): number {
  checkParetoNbdParams(params);
  checkCustomer(x, tx, T);
  if (!(Number.isFinite(t) && t >= 0)) {
    throw new ClvInputError("CLV_BAD_OPTION", "horizon t must be a finite number >= 0", "t");
  }
  if (t === 0) return 0;
  return (
    paretoNbdProbabilityAliveUnchecked(params, x, tx, T) *
    paretoNbdAliveExpectedPurchasesUnchecked(params, t, x, T)
  );
}

/** E[X(t)]: expected repeat purchases in the first `t` time units of a newly acquired customer. */
export function paretoNbdExpectedPurchasesNewCustomer(params: ParetoNbdParams, t: number): number {
  return paretoNbdExpectedPurchases(params, t, 0, 0, 0);
}
