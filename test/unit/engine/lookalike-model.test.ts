/**
 * The lookalike model's parts (shared/engine/lookalike): the Newton/IRLS fit of an L2-regularised logistic
 * regression recovers the coefficients simulated data were drawn with (within 4 standard errors from the
 * inverse Fisher information at the fit, so the bound shrinks with the sample), and lands where plain
 * gradient ascent on the same penalised likelihood converges; the AUC equals a brute-force count of pairs
 * with ties counted ½.
 */
import { describe, expect, it } from "vitest";
import {
  fitLogistic,
  type LogisticData,
  penalizedLogLikelihood,
  rocAuc,
} from "../../../shared/engine/lookalike";
import { solveSpd } from "../../../shared/engine/lookalike/model";

/** mulberry32: a small seeded generator, so every run draws the same data. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A standard normal draw (Box–Muller). */
function normal(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/** Rows drawn with standard normal features and y ~ Bernoulli(σ(β0 + x·β)). */
function simulate(beta: readonly number[], rows: number, seed: number): LogisticData {
  const random = rng(seed);
  const p = beta.length - 1;
  const x = new Float64Array(rows * p);
  const y = new Uint8Array(rows);
  for (let r = 0; r < rows; r++) {
    let z = beta[0] as number;
    for (let j = 0; j < p; j++) {
      const v = normal(random);
      x[r * p + j] = v;
      z += (beta[j + 1] as number) * v;
    }
    y[r] = random() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
  }
  return { x, rows, features: p, y };
}

/** Gradient of the penalised log-likelihood, worked out directly from its definition. */
function gradient(data: LogisticData, beta: Float64Array, lambda: number): Float64Array {
  const p = data.features;
  const g = new Float64Array(p + 1);
  for (let r = 0; r < data.rows; r++) {
    let z = beta[0] as number;
    for (let j = 0; j < p; j++) z += (beta[j + 1] as number) * (data.x[r * p + j] as number);
    const residual = (data.y[r] as number) - 1 / (1 + Math.exp(-z));
    g[0] = (g[0] as number) + residual;
    for (let j = 0; j < p; j++) g[j + 1] = (g[j + 1] as number) + residual * (data.x[r * p + j] as number);
  }
  for (let j = 1; j <= p; j++) g[j] = (g[j] as number) - lambda * (beta[j] as number);
  return g;
}

describe("fitLogistic (Newton/IRLS with an L2 penalty)", () => {
  it("recovers the coefficients of simulated logistic data within 4 standard errors", () => {
    const truth = [-0.5, 1, -2, 0.5];
    const data = simulate(truth, 20_000, 7);
    const lambda = 1e-6;
    const fit = fitLogistic(data, lambda);
    expect(fit.converged).toBe(true);
    // Standard errors: square roots of the diagonal of the inverse Fisher information XᵀWX at the fit.
    const p = data.features;
    const m = p + 1;
    const info = new Float64Array(m * m);
    for (let r = 0; r < data.rows; r++) {
      const row = [1, ...Array.from(data.x.subarray(r * p, r * p + p))];
      let z = 0;
      for (let j = 0; j < m; j++) z += (fit.coefficients[j] as number) * (row[j] as number);
      const mu = 1 / (1 + Math.exp(-z));
      for (let i = 0; i < m; i++)
        for (let j = 0; j < m; j++)
          info[i * m + j] =
            (info[i * m + j] as number) + mu * (1 - mu) * (row[i] as number) * (row[j] as number);
    }
    for (let j = 0; j < m; j++) {
      const unit = new Float64Array(m);
      unit[j] = 1;
      const se = Math.sqrt(solveSpd(Float64Array.from(info), unit, m)[j] as number);
      // With 20,000 rows the standard errors are about 0.02–0.03: the bound is tight, not vacuous.
      expect(se).toBeLessThan(0.05);
      expect(Math.abs((fit.coefficients[j] as number) - (truth[j] as number))).toBeLessThan(4 * se);
    }
  });

  it("lands where plain gradient ascent on the same penalised likelihood converges", () => {
    const data = simulate([0.3, 1.5, -1, 0], 2_000, 11);
    const lambda = 25;
    const newton = fitLogistic(data, lambda);
    // Gradient ascent with step 1/L, L ≥ the largest curvature: λ + ¼ Σ‖(1, x)‖².
    const p = data.features;
    let bound = lambda;
    for (let r = 0; r < data.rows; r++) {
      let norm = 1;
      for (let j = 0; j < p; j++) norm += (data.x[r * p + j] as number) ** 2;
      bound += norm / 4;
    }
    const beta = new Float64Array(p + 1);
    let steps = 0;
    for (; steps < 200_000; steps++) {
      const g = gradient(data, beta, lambda);
      let size = 0;
      for (let j = 0; j <= p; j++) {
        beta[j] = (beta[j] as number) + (g[j] as number) / bound;
        size = Math.max(size, Math.abs(g[j] as number));
      }
      if (size < 1e-9) break;
    }
    expect(steps).toBeLessThan(200_000);
    for (let j = 0; j <= p; j++) expect(newton.coefficients[j]).toBeCloseTo(beta[j] as number, 6);
    // The penalty pulls the coefficients towards 0 but not the intercept: the penalised optimum is higher
    // than the likelihood at a coefficient vector moved a little in any direction.
    const ll = penalizedLogLikelihood(data, newton.coefficients, lambda);
    for (let j = 0; j <= p; j++) {
      const moved = Float64Array.from(newton.coefficients);
      moved[j] = (moved[j] as number) + 1e-3;
      expect(penalizedLogLikelihood(data, moved, lambda)).toBeLessThan(ll);
    }
  });

  it("stays finite on separable classes (the penalty bounds the coefficients)", () => {
    const x = Float64Array.from([-2, -1, -0.5, 0.5, 1, 2]);
    const fit = fitLogistic({ x, rows: 6, features: 1, y: [0, 0, 0, 1, 1, 1] }, 1);
    expect(fit.converged).toBe(true);
    expect(Number.isFinite(fit.coefficients[1])).toBe(true);
    expect(fit.coefficients[1]).toBeGreaterThan(0);
  });
});

describe("rocAuc (Mann–Whitney, ties ½)", () => {
  it("equals a brute-force count of pairs on scores with many ties", () => {
    const random = rng(3);
    for (let trial = 0; trial < 20; trial++) {
      const positives = Array.from({ length: 1 + Math.floor(random() * 40) }, () => Math.floor(random() * 6));
      const negatives = Array.from({ length: 1 + Math.floor(random() * 40) }, () => Math.floor(random() * 5));
      let wins = 0;
      for (const a of positives) for (const b of negatives) wins += a > b ? 1 : a === b ? 0.5 : 0;
      expect(rocAuc(positives, negatives)).toBeCloseTo(wins / (positives.length * negatives.length), 12);
    }
  });

  it("is 1, 0 and ½ at the extremes, null without both classes", () => {
    expect(rocAuc([3, 4], [1, 2])).toBe(1);
    expect(rocAuc([1, 2], [3, 4])).toBe(0);
    expect(rocAuc([2, 2], [2])).toBe(0.5);
    expect(rocAuc([], [1])).toBeNull();
    expect(rocAuc([1], [])).toBeNull();
  });
});
