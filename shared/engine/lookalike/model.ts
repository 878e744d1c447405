/**
 * L2-regularised logistic regression fitted by Newton's method (iteratively reweighted least squares).
 *
 * Maximises the penalised weighted log-likelihood
 *   ℓ(β) = Σ_i w_i [y_i log μ_i + (1 − y_i) log(1 − μ_i)] − (λ / 2) Σ_{j ≥ 1} β_j²,   μ_i = σ(β_0 + x_i·β)
 * over rows x_i of standardised features: the intercept β_0 is not penalised. Each step solves
 * (XᵀWX + λI′) δ = ∇ℓ by Cholesky, W = diag(w_i μ_i (1 − μ_i)), I′ the identity without the intercept; a
 * step that would lower ℓ is halved until it does not. The penalty makes the problem strictly concave, so
 * the fit exists and is unique even when the classes are separable.
 */

export interface LogisticFit {
  /** Intercept, then one coefficient per feature. */
  readonly coefficients: Float64Array;
  readonly iterations: number;
  readonly converged: boolean;
  /** ℓ(β) at the fit. */
  readonly penalizedLogLikelihood: number;
}

export interface LogisticData {
  /** Rows × features, row-major. */
  readonly x: Float64Array;
  readonly rows: number;
  readonly features: number;
  /** 1 for a positive row, 0 otherwise. */
  readonly y: ArrayLike<number>;
  /** Row weights (default 1). */
  readonly weights?: ArrayLike<number>;
}

/** log(1 + e^z) without overflow. */
function softplus(z: number): number {
  return z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
}

function sigmoid(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

/** Linear predictor of row r. */
function eta(data: LogisticData, beta: Float64Array, r: number): number {
  const p = data.features;
  let z = beta[0] as number;
  const at = r * p;
  for (let j = 0; j < p; j++) z += (beta[j + 1] as number) * (data.x[at + j] as number);
  return z;
}

/** The penalised weighted log-likelihood ℓ(β). */
export function penalizedLogLikelihood(data: LogisticData, beta: Float64Array, lambda: number): number {
  let ll = 0;
  for (let r = 0; r < data.rows; r++) {
    const z = eta(data, beta, r);
    const w = data.weights === undefined ? 1 : (data.weights[r] as number);
    // y log σ(z) + (1 − y) log(1 − σ(z)) = y z − log(1 + e^z)
    ll += w * ((data.y[r] as number) * z - softplus(z));
  }
  let penalty = 0;
  for (let j = 1; j < beta.length; j++) penalty += (beta[j] as number) ** 2;
  return ll - (lambda / 2) * penalty;
}

/** Solves A x = b for a symmetric positive definite A (n × n, row-major) by Cholesky; A is overwritten. */
export function solveSpd(a: Float64Array, b: Float64Array, n: number): Float64Array {
  for (let j = 0; j < n; j++) {
    let d = a[j * n + j] as number;
    for (let k = 0; k < j; k++) d -= (a[j * n + k] as number) ** 2;
    if (!(d > 0)) throw new Error("Matrix is not positive definite");
    const l = Math.sqrt(d);
    a[j * n + j] = l;
    for (let i = j + 1; i < n; i++) {
      let s = a[i * n + j] as number;
      for (let k = 0; k < j; k++) s -= (a[i * n + k] as number) * (a[j * n + k] as number);
      a[i * n + j] = s / l;
    }
  }
  const x = new Float64Array(b);
  for (let i = 0; i < n; i++) {
    let s = x[i] as number;
    for (let k = 0; k < i; k++) s -= (a[i * n + k] as number) * (x[k] as number);
    x[i] = s / (a[i * n + i] as number);
  }
  for (let i = n - 1; i >= 0; i--) {
    let s = x[i] as number;
    for (let k = i + 1; k < n; k++) s -= (a[k * n + i] as number) * (x[k] as number);
    x[i] = s / (a[i * n + i] as number);
  }
  return x;
}

export interface FitOptions {
  /** Largest number of Newton steps (default 100). */
  maxIterations?: number;
  /** Converged when no coefficient moves more than this in a step (default 1e-10). */
  tolerance?: number;
}

/** Fits β by Newton/IRLS from β = 0 with the intercept at the log-odds of the weighted positive share. */
export function fitLogistic(data: LogisticData, lambda: number, options: FitOptions = {}): LogisticFit {
  if (!(lambda > 0)) throw new RangeError("lambda must be positive");
  const maxIterations = options.maxIterations ?? 100;
  const tolerance = options.tolerance ?? 1e-10;
  const p = data.features;
  const m = p + 1;
  const beta = new Float64Array(m);
  let positive = 0;
  let total = 0;
  for (let r = 0; r < data.rows; r++) {
    const w = data.weights === undefined ? 1 : (data.weights[r] as number);
    total += w;
    positive += w * (data.y[r] as number);
  }
  if (positive > 0 && positive < total) beta[0] = Math.log(positive / (total - positive));
  let ll = penalizedLogLikelihood(data, beta, lambda);
  const gradient = new Float64Array(m);
  const hessian = new Float64Array(m * m);
  const curvatures = new Float64Array(data.rows);
  let converged = false;
  let iterations = 0;
  while (iterations < maxIterations) {
    iterations++;
    gradient.fill(0);
    hessian.fill(0);
    const { x, y, weights, rows } = data;
    // The curvature of each row, its residual in the gradient; the Hessian's lower triangle is then summed
    // four rows at a time, so that each entry is read and written once per four rows.
    for (let r = 0; r < rows; r++) {
      const at = r * p;
      let z = beta[0] as number;
      for (let j = 0; j < p; j++) z += (beta[j + 1] as number) * (x[at + j] as number);
      const w = weights === undefined ? 1 : (weights[r] as number);
      const mu = sigmoid(z);
      const residual = w * ((y[r] as number) - mu);
      curvatures[r] = w * mu * (1 - mu);
      gradient[0] = (gradient[0] as number) + residual;
      for (let i = 0; i < p; i++)
        gradient[i + 1] = (gradient[i + 1] as number) + residual * (x[at + i] as number);
    }
    let r = 0;
    for (; r + 4 <= rows; r += 4) {
      const a0 = r * p;
      const a1 = a0 + p;
      const a2 = a1 + p;
      const a3 = a2 + p;
      const c0 = curvatures[r] as number;
      const c1 = curvatures[r + 1] as number;
      const c2 = curvatures[r + 2] as number;
      const c3 = curvatures[r + 3] as number;
      hessian[0] = (hessian[0] as number) + c0 + c1 + c2 + c3;
      for (let i = 0; i < p; i++) {
        const v0 = c0 * (x[a0 + i] as number);
        const v1 = c1 * (x[a1 + i] as number);
        const v2 = c2 * (x[a2 + i] as number);
        const v3 = c3 * (x[a3 + i] as number);
        // Row i + 1 of the lower triangle: the intercept column, then features 0..i; mirrored below.
        const h = (i + 1) * m;
        hessian[h] = (hessian[h] as number) + v0 + v1 + v2 + v3;
        for (let j = 0; j <= i; j++) {
          hessian[h + 1 + j] =
            (hessian[h + 1 + j] as number) +
            v0 * (x[a0 + j] as number) +
            v1 * (x[a1 + j] as number) +
            v2 * (x[a2 + j] as number) +
            v3 * (x[a3 + j] as number);
        }
      }
    }
    for (; r < rows; r++) {
      const at = r * p;
      const c = curvatures[r] as number;
      hessian[0] = (hessian[0] as number) + c;
      for (let i = 0; i < p; i++) {
        const v = c * (x[at + i] as number);
        const h = (i + 1) * m;
        hessian[h] = (hessian[h] as number) + v;
        for (let j = 0; j <= i; j++)
          hessian[h + 1 + j] = (hessian[h + 1 + j] as number) + v * (x[at + j] as number);
      }
    }
    for (let j = 1; j < m; j++) {
      gradient[j] = (gradient[j] as number) - lambda * (beta[j] as number);
      hessian[j * m + j] = (hessian[j * m + j] as number) + lambda;
    }
    for (let i = 0; i < m; i++) for (let j = 0; j < i; j++) hessian[j * m + i] = hessian[i * m + j] as number;
    const step = solveSpd(hessian, gradient, m);
    let scale = 1;
    let next = new Float64Array(m);
    let nextLl = Number.NEGATIVE_INFINITY;
    for (let halvings = 0; halvings < 30; halvings++) {
      for (let j = 0; j < m; j++) next[j] = (beta[j] as number) + scale * (step[j] as number);
      nextLl = penalizedLogLikelihood(data, next, lambda);
      if (nextLl >= ll - 1e-12 * Math.abs(ll)) break;
      scale /= 2;
    }
    let moved = 0;
    for (let j = 0; j < m; j++) moved = Math.max(moved, Math.abs((next[j] as number) - (beta[j] as number)));
    beta.set(next);
    ll = nextLl;
    next = new Float64Array(m);
    if (moved <= tolerance * (1 + maxAbs(beta))) {
      converged = true;
      break;
    }
  }
  return { coefficients: beta, iterations, converged, penalizedLogLikelihood: ll };
}

function maxAbs(values: Float64Array): number {
  let out = 0;
  for (const v of values) out = Math.max(out, Math.abs(v));
  return out;
}
