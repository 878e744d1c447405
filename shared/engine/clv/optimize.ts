/**
 * Minimisers for the maximum-likelihood fits of this module: a few unconstrained variables (log-parameters),
 * a smooth objective, and an analytic gradient.
 *
 * `bfgs` is the workhorse: quasi-Newton with the BFGS inverse-Hessian update (Nocedal & Wright, "Numerical
 * Optimization", 2nd ed., algorithm 6.1, with the initial scaling of eq. 6.20) and a backtracking Armijo line
 * search. On these likelihoods it converges in a few dozen gradient evaluations, an order of magnitude fewer
 * than a simplex method, which is what a million customers need.
 *
 * `nelderMead` needs no gradient and is the fallback when BFGS stalls (a line search that cannot make
 * progress, e.g. on a flat ridge towards a boundary). Steps follow Lagarias, Reeds, Wright & Wright (1998),
 * "Convergence properties of the Nelder–Mead simplex method in low dimensions": reflection 1, expansion 2,
 * contraction 1/2, shrink 1/2, with outside and inside contractions. Convergence needs both the simplex to be
 * small (every vertex within `xTolerance` of the best, coordinate-wise) and the function values to agree
 * (within `fTolerance`). Because a simplex can collapse onto a subspace away from the optimum, a converged
 * search is restarted from its best point with a fresh simplex; the result counts as converged once a restart
 * finds no further improvement.
 *
 * Both report whether they met their tolerances rather than returning silently at an iteration limit, and
 * treat non-finite function values (NaN, ±Infinity) as +Infinity, so a point outside the function's domain
 * is never accepted.
 */

export interface MinimizeOptions {
  /** BFGS: largest gradient component at convergence. Default 1e-9. */
  gradientTolerance?: number;
  /** BFGS: iteration limit. Default 200. */
  maxIterations?: number;
  /** Nelder–Mead: initial simplex edge length per coordinate. Default 0.5. */
  step?: number;
  /** Nelder–Mead: coordinate-wise simplex size at convergence. Default 1e-8. */
  xTolerance?: number;
  /** Nelder–Mead: spread of function values over the simplex at convergence. Default 1e-12. */
  fTolerance?: number;
  /** Nelder–Mead: budget of function evaluations over all restarts. Default 5000. */
  maxEvaluations?: number;
  /** Nelder–Mead: restarts after a converged search. Default 3. */
  maxRestarts?: number;
}

export interface MinimizeResult {
  x: Float64Array;
  fx: number;
  iterations: number;
  /** Function (or function-and-gradient) evaluations. */
  evaluations: number;
  converged: boolean;
  /** The method that produced `x`. */
  method: "bfgs" | "nelder-mead";
}

/** Returns f(x) and writes ∇f(x) into `gradient`. */
export type ValueAndGradient = (x: Float64Array, gradient: Float64Array) => number;

const REFLECT = 1;
const EXPAND = 2;
const CONTRACT = 0.5;
const SHRINK = 0.5;

export function nelderMead(
  f: (x: Float64Array) => number,
  x0: ArrayLike<number>,
  options: MinimizeOptions = {},
): MinimizeResult {
  const n = x0.length;
  const step = options.step ?? 0.5;
  const xTol = options.xTolerance ?? 1e-8;
  const fTol = options.fTolerance ?? 1e-12;
  const maxEvaluations = options.maxEvaluations ?? 5000;
  const maxRestarts = options.maxRestarts ?? 3;

  let evaluations = 0;
  const evaluate = (x: Float64Array): number => {
    evaluations++;
    const v = f(x);
    return Number.isFinite(v) ? v : Number.POSITIVE_INFINITY;
  };

  // Vertices and values are kept sorted by value: simplex[0] is the best.
  const simplex: Float64Array[] = [];
  const values = new Float64Array(n + 1);
  const centroid = new Float64Array(n);
  const trial = new Float64Array(n);
  const trial2 = new Float64Array(n);

  const best = Float64Array.from(x0);
  let bestValue = evaluate(best);
  let iterations = 0;
  let converged = false;

  const sort = (): void => {
    const order = values.map((_, i) => i).sort((i, j) => (values[i] as number) - (values[j] as number));
    const vs = Array.from(order, (i) => values[i] as number);
    const xs = Array.from(order, (i) => simplex[i] as Float64Array);
    for (let i = 0; i <= n; i++) {
      values[i] = vs[i] as number;
      simplex[i] = xs[i] as Float64Array;
    }
  };

  const replaceWorst = (x: Float64Array, v: number): void => {
    (simplex[n] as Float64Array).set(x);
    values[n] = v;
  };

  const small = (): boolean => {
    const b = simplex[0] as Float64Array;
    const fb = values[0] as number;
    for (let i = 1; i <= n; i++) {
      if (!(Math.abs((values[i] as number) - fb) <= fTol)) return false;
      const v = simplex[i] as Float64Array;
      for (let j = 0; j < n; j++) if (!(Math.abs((v[j] as number) - (b[j] as number)) <= xTol)) return false;
    }
    return true;
  };

  for (let restart = 0; restart <= maxRestarts; restart++) {
    const startValue = bestValue;
    // Each restart starts smaller: the optimum is near, and a large simplex would waste evaluations.
    const edge = restart === 0 ? step : Math.max(step * 0.1 ** restart, 100 * xTol);
    simplex.length = 0;
    simplex.push(Float64Array.from(best));
    values[0] = bestValue;
    for (let i = 0; i < n; i++) {
      const v = Float64Array.from(best);
      v[i] = (v[i] as number) + edge;
      simplex.push(v);
      values[i + 1] = evaluate(v);
    }
    sort();

    let small_ = false;
    while (evaluations < maxEvaluations) {
      if (small()) {
        small_ = true;
        break;
      }
      iterations++;
      centroid.fill(0);
      for (let i = 0; i < n; i++) {
        const v = simplex[i] as Float64Array;
        for (let j = 0; j < n; j++) centroid[j] = (centroid[j] as number) + (v[j] as number) / n;
      }
      const worst = simplex[n] as Float64Array;
      for (let j = 0; j < n; j++) {
        const c = centroid[j] as number;
        trial[j] = c + REFLECT * (c - (worst[j] as number));
      }
      const fr = evaluate(trial);
      if (fr < (values[0] as number)) {
        for (let j = 0; j < n; j++) {
          const c = centroid[j] as number;
          trial2[j] = c + EXPAND * ((trial[j] as number) - c);
        }
        const fe = evaluate(trial2);
        if (fe < fr) replaceWorst(trial2, fe);
        else replaceWorst(trial, fr);
      } else if (fr < (values[n - 1] as number)) {
        replaceWorst(trial, fr);
      } else {
        const outside = fr < (values[n] as number);
        for (let j = 0; j < n; j++) {
          const c = centroid[j] as number;
          trial2[j] = outside
            ? c + CONTRACT * ((trial[j] as number) - c)
            : c + CONTRACT * ((worst[j] as number) - c);
        }
        const fc = evaluate(trial2);
        if (outside ? fc <= fr : fc < (values[n] as number)) {
          replaceWorst(trial2, fc);
        } else {
          const b = simplex[0] as Float64Array;
          for (let i = 1; i <= n; i++) {
            const v = simplex[i] as Float64Array;
            for (let j = 0; j < n; j++)
              v[j] = (b[j] as number) + SHRINK * ((v[j] as number) - (b[j] as number));
            values[i] = evaluate(v);
          }
        }
      }
      sort();
    }

    best.set(simplex[0] as Float64Array);
    bestValue = values[0] as number;
    if (!small_) break;
    if (restart === maxRestarts || (restart > 0 && !(startValue - bestValue > fTol))) {
      converged = true;
      break;
    }
  }

  return { x: best, fx: bestValue, iterations, evaluations, converged, method: "nelder-mead" };
}

const ARMIJO = 1e-4;

function dot(u: Float64Array, v: Float64Array): number {
  let s = 0;
  for (let j = 0; j < u.length; j++) s += (u[j] as number) * (v[j] as number);
  return s;
}

function maxAbs(u: Float64Array): number {
  let m = 0;
  for (let j = 0; j < u.length; j++) m = Math.max(m, Math.abs(u[j] as number));
  return m;
}

function identity(h: Float64Array, n: number, scale = 1): void {
  h.fill(0);
  for (let j = 0; j < n; j++) h[j * n + j] = scale;
}

export function bfgs(
  fg: ValueAndGradient,
  x0: ArrayLike<number>,
  options: MinimizeOptions = {},
): MinimizeResult {
  const n = x0.length;
  const gTol = options.gradientTolerance ?? 1e-9;
  const maxIterations = options.maxIterations ?? 200;
  let evaluations = 0;
  const evaluate = (x: Float64Array, g: Float64Array): number => {
    evaluations++;
    const v = fg(x, g);
    return Number.isFinite(v) && g.every(Number.isFinite) ? v : Number.POSITIVE_INFINITY;
  };

  let x = Float64Array.from(x0);
  let g = new Float64Array(n);
  let f = evaluate(x, g);
  let xNext = new Float64Array(n);
  let gNext = new Float64Array(n);
  const h = new Float64Array(n * n);
  const d = new Float64Array(n);
  const s = new Float64Array(n);
  const y = new Float64Array(n);
  const hy = new Float64Array(n);
  identity(h, n);
  let fresh = true;
  let iterations = 0;
  let converged = false;
  if (!Number.isFinite(f)) return { x, fx: f, iterations, evaluations, converged, method: "bfgs" };

  while (iterations < maxIterations) {
    if (maxAbs(g) <= gTol) {
      converged = true;
      break;
    }
    iterations++;
    for (let i = 0; i < n; i++) {
      let v = 0;
      for (let j = 0; j < n; j++) v -= (h[i * n + j] as number) * (g[j] as number);
      d[i] = v;
    }
    let slope = dot(g, d);
    if (!(slope < 0)) {
      // Not a descent direction: the curvature model has gone bad; start again from steepest descent.
      identity(h, n);
      fresh = true;
      for (let j = 0; j < n; j++) d[j] = -(g[j] as number);
      slope = dot(g, d);
    }
    let step = 1;
    let fNext = Number.POSITIVE_INFINITY;
    let accepted = false;
    for (let tries = 0; tries < 60; tries++) {
      for (let j = 0; j < n; j++) xNext[j] = (x[j] as number) + step * (d[j] as number);
      fNext = evaluate(xNext, gNext);
      if (fNext <= f + ARMIJO * step * slope) {
        accepted = true;
        break;
      }
      // Minimiser of the quadratic through f, the slope and fNext, kept within [0.1, 0.5] of the step.
      const q = Number.isFinite(fNext) ? (-slope * step * step) / (2 * (fNext - f - slope * step)) : 0;
      step = Math.min(Math.max(q, 0.1 * step), 0.5 * step);
    }
    if (!accepted) {
      // The decrease a full quasi-Newton step predicts is below the precision of f itself: nothing is left
      // to gain, and the gradient is as small as rounding lets it be.
      if (-slope <= 1e-12 * Math.max(1, Math.abs(f))) {
        converged = true;
        break;
      }
      if (fresh) break;
      identity(h, n);
      fresh = true;
      continue;
    }
    for (let j = 0; j < n; j++) {
      s[j] = (xNext[j] as number) - (x[j] as number);
      y[j] = (gNext[j] as number) - (g[j] as number);
    }
    const sy = dot(s, y);
    const yy = dot(y, y);
    if (sy > 1e-12 * Math.sqrt(dot(s, s) * yy)) {
      if (fresh) identity(h, n, sy / yy);
      fresh = false;
      // H ← (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ, expanded with Hy and yᵀHy (H is symmetric).
      const rho = 1 / sy;
      for (let i = 0; i < n; i++) {
        let v = 0;
        for (let j = 0; j < n; j++) v += (h[i * n + j] as number) * (y[j] as number);
        hy[i] = v;
      }
      const yhy = dot(y, hy);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          h[i * n + j] =
            (h[i * n + j] as number) -
            rho * ((hy[i] as number) * (s[j] as number) + (s[i] as number) * (hy[j] as number)) +
            (rho * rho * yhy + rho) * (s[i] as number) * (s[j] as number);
        }
      }
    }
    const fPrevious = f;
    [x, xNext] = [xNext, x];
    [g, gNext] = [gNext, g];
    f = fNext;
    // Progress below rounding: the gradient cannot get smaller than its own floating-point noise.
    if (fPrevious - f <= 1e-15 * Math.max(1, Math.abs(f)) && maxAbs(s) <= 1e-12) {
      converged = maxAbs(g) <= 1e3 * gTol;
      break;
    }
  }
  return { x, fx: f, iterations, evaluations, converged, method: "bfgs" };
}

/**
 * BFGS, then Nelder–Mead from where BFGS stopped if BFGS did not converge. Evaluation and iteration counts
 * add up over both.
 */
export function minimize(
  fg: ValueAndGradient,
  x0: ArrayLike<number>,
  options: MinimizeOptions = {},
): MinimizeResult {
  const first = bfgs(fg, x0, options);
  if (first.converged) return first;
  const scratch = new Float64Array(x0.length);
  const second = nelderMead((x) => fg(x, scratch), first.x, options);
  const better = second.fx <= first.fx ? second : first;
  return {
    ...better,
    converged: second.converged,
    iterations: first.iterations + second.iterations,
    evaluations: first.evaluations + second.evaluations,
    method: better.method,
  };
}

/**
 * Log-parameters are kept within ±LOG_PARAM_BOUND (parameters within e^±18, about 1.5e-8 to 6.6e7). Data that
 * pins a parameter to 0 or infinity (a likelihood that keeps rising towards the edge) would otherwise send
 * the search off to overflow; with the box it stops at the edge, and the fit reports that parameter as at
 * its boundary.
 */
export const LOG_PARAM_BOUND = 18;

/**
 * Wraps an objective over log-parameters so that outside the box it is evaluated at the nearest point of the
 * box plus a quadratic penalty on the distance: continuous, and rising away from the box.
 */
export function boxed(fg: ValueAndGradient, bound = LOG_PARAM_BOUND): ValueAndGradient {
  let clamped = new Float64Array(0);
  return (theta, gradient) => {
    if (clamped.length !== theta.length) clamped = new Float64Array(theta.length);
    let excess = 0;
    for (let j = 0; j < theta.length; j++) {
      const t = theta[j] as number;
      clamped[j] = Math.min(Math.max(t, -bound), bound);
    }
    const value = fg(clamped, gradient);
    for (let j = 0; j < theta.length; j++) {
      const over = (theta[j] as number) - (clamped[j] as number);
      if (over !== 0) {
        // Outside the box the clamped coordinate is constant, so only the penalty moves with it.
        excess += over * over;
        gradient[j] = 2 * over;
      }
    }
    return value + excess;
  };
}

/** Indices of log-parameters within `margin` of the box edge. */
export function atBound(theta: ArrayLike<number>, bound = LOG_PARAM_BOUND, margin = 0.01): number[] {
  const out: number[] = [];
  for (let j = 0; j < theta.length; j++) if (Math.abs(theta[j] as number) >= bound - margin) out.push(j);
  return out;
}

export interface LogSpaceFit<N extends string> {
  params: Record<N, number>;
  result: MinimizeResult;
  /** Names of the parameters that ended at the edge of the box. */
  atBoundary: N[];
}

/**
 * Maximum likelihood over positive parameters: minimises the mean negative log-likelihood (so tolerances do
 * not depend on the number of customers) over log-parameters kept in the box, starting from `start`.
 * `logLikelihood` takes the parameters in the order of `names` and writes its gradient with respect to them
 * as log-parameters into `gradient`.
 */
export function fitInLogSpace<N extends string>(
  names: readonly N[],
  start: Record<N, number>,
  totalWeight: number,
  logLikelihood: (values: number[], gradient: Float64Array) => number,
  options: MinimizeOptions = {},
): LogSpaceFit<N> {
  const theta0 = names.map((name) => Math.log(start[name]));
  const scale = 1 / totalWeight;
  const values = new Array<number>(names.length);
  const objective = boxed((t, gradient) => {
    for (let j = 0; j < names.length; j++) values[j] = Math.exp(t[j] as number);
    const value = logLikelihood(values, gradient);
    for (let j = 0; j < names.length; j++) gradient[j] = -scale * (gradient[j] as number);
    return -scale * value;
  });
  const result = minimize(objective, theta0, options);
  const theta = result.x.map((t) => Math.min(Math.max(t, -LOG_PARAM_BOUND), LOG_PARAM_BOUND));
  const params = Object.fromEntries(names.map((name, j) => [name, Math.exp(theta[j] as number)])) as Record<
    N,
    number
  >;
  return { params, result, atBoundary: atBound(theta).map((j) => names[j] as N) };
}
