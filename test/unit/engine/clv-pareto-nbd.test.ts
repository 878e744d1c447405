/**
 * Pareto/NBD (shared/engine/clv/pareto-nbd.ts).
 *
 * - CDNOW sample, calibration period to 1997-09-30 in weeks (test/fixtures/clv/cdnow-sample-summary.csv):
 *   Fader, Hardie & Lee (2005), "A Note on Implementing the Pareto/NBD Model in MATLAB", publish
 *   r = 0.553, α = 10.578, s = 0.606, β = 11.669 and log-likelihood −9595.0; each must be matched within 1%.
 * - The likelihood against a second implementation (the lifetime integral) and the textbook ₂F₁ form, its
 *   gradient against finite differences, the conditional expectation against a posterior integral, and
 *   parameter recovery on simulated data (tolerances stated at each).
 */
import { readFileSync } from "node:fs";
import gammaln from "@stdlib/math-base-special-gammaln";
import hyp2f1 from "@stdlib/math-base-special-hyp2f1";
import { describe, expect, it } from "vitest";
import {
  ClvFitError,
  ClvInputError,
  fitParetoNbd,
  PARETO_NBD_PARAM_NAMES,
  paretoNbdExpectedPurchases,
  paretoNbdExpectedPurchasesNewCustomer,
  paretoNbdLogLikelihood,
  paretoNbdLogLikelihoodWithGradient,
  paretoNbdProbabilityAlive,
} from "../../../shared/engine/clv";
import { logIntegralPositive, standardErrors } from "../../fixtures/clv/numeric";
import { simulateParetoNbd } from "../../fixtures/clv/simulate-models";

function readCdnow() {
  const [header, ...lines] = readFileSync(
    new URL("../../fixtures/clv/cdnow-sample-summary.csv", import.meta.url),
    "utf8",
  )
    .trim()
    .split("\n");
  expect(header?.trim()).toBe("ID,x,t_x,T,zbar");
  const cells = lines.map((line) => line.split(",").map(Number));
  return {
    x: cells.map((c) => c[1] as number),
    tx: cells.map((c) => c[2] as number),
    T: cells.map((c) => c[3] as number),
  };
}

const within = (value: number, published: number, relative: number): boolean =>
  Math.abs(value - published) <= relative * Math.abs(published);

describe("Pareto/NBD on the CDNOW sample", () => {
  const data = readCdnow();

  it("reproduces the published estimates of Fader, Hardie & Lee (2005) within 1%", () => {
    const fit = fitParetoNbd(data.x, data.tx, data.T);
    expect(fit.converged).toBe(true);
    expect(fit.atBoundary).toEqual([]);
    const published = { r: 0.553, alpha: 10.578, s: 0.606, beta: 11.669 } as const;
    for (const name of ["r", "alpha", "s", "beta"] as const) {
      expect(within(fit.params[name], published[name], 0.01), `${name} = ${fit.params[name]}`).toBe(true);
    }
    expect(within(fit.logLikelihood, -9595.0, 0.01), `LL = ${fit.logLikelihood}`).toBe(true);
    // Published to one decimal; the optimum found is closer than that.
    expect(Math.abs(fit.logLikelihood - -9595.0)).toBeLessThan(0.05);
  });
});

/**
 * A second implementation of the likelihood, from the model's story rather than from the ₂F₁ algebra: with
 * λ integrated out (Gamma(r, α)), a customer whose lifetime τ exceeds T contributes Γ(r+x) α^r / (Γ(r) (α+T)^(r+x))
 * and one whose lifetime ended at τ in (t_x, T] contributes Γ(r+x) α^r / (Γ(r) (α+τ)^(r+x)); τ has survival
 * (β/(β+τ))^s and density s β^s / (β+τ)^(s+1) (μ ~ Gamma(s, β) integrated out). The integral over τ is done
 * by Simpson's rule over w = log(α+τ), with a step far below the width of the integrand (1/(r+x+s)), to a
 * relative 1e-9.
 */
function logLikelihoodByLifetime(
  p: { r: number; alpha: number; s: number; beta: number },
  x: number,
  tx: number,
  T: number,
): { logL: number; logAlive: number } {
  const head = gammaln(p.r + x) - gammaln(p.r) + p.r * Math.log(p.alpha);
  const logAlive = p.s * (Math.log(p.beta) - Math.log(p.beta + T)) - (p.r + x) * Math.log(p.alpha + T);
  const w0 = Math.log(p.alpha + tx);
  const w1 = Math.log(p.alpha + T);
  let logDead = Number.NEGATIVE_INFINITY;
  if (w1 > w0) {
    const logDensity = (w: number): number => {
      const tau = Math.exp(w) - p.alpha;
      return (
        Math.log(p.s) + p.s * Math.log(p.beta) - (p.s + 1) * Math.log(p.beta + tau) - (p.r + x) * w + w // dτ = e^w dw
      );
    };
    const steps = 2 * Math.ceil(Math.min(1e6, Math.max(2000, 40 * (p.r + x + p.s + 1) * (w1 - w0))) / 2);
    const h = (w1 - w0) / steps;
    const peak = Math.max(logDensity(w0), logDensity(w1));
    let sum = 0;
    for (let k = 0; k <= steps; k++) {
      const weight = k === 0 || k === steps ? 1 : k % 2 === 1 ? 4 : 2;
      sum += weight * Math.exp(logDensity(w0 + k * h) - peak);
    }
    logDead = peak + Math.log((sum * h) / 3);
  }
  const m = Math.max(logAlive, logDead);
  const logL = head + m + Math.log(Math.exp(logAlive - m) + Math.exp(logDead - m));
  return { logL, logAlive: head + logAlive };
}

/** The likelihood as printed in Fader, Hardie & Lee's note (plain arithmetic, ₂F₁ from @stdlib), for small x. */
function logLikelihoodTextbook(
  p: { r: number; alpha: number; s: number; beta: number },
  x: number,
  tx: number,
  T: number,
): number {
  const { r, alpha, s, beta } = p;
  const a = r + s + x;
  const A0 =
    alpha >= beta
      ? hyp2f1(a, s + 1, a + 1, (alpha - beta) / (alpha + tx)) / (alpha + tx) ** a -
        hyp2f1(a, s + 1, a + 1, (alpha - beta) / (alpha + T)) / (alpha + T) ** a
      : hyp2f1(a, r + x, a + 1, (beta - alpha) / (beta + tx)) / (beta + tx) ** a -
        hyp2f1(a, r + x, a + 1, (beta - alpha) / (beta + T)) / (beta + T) ** a;
  return (
    gammaln(r + x) -
    gammaln(r) +
    r * Math.log(alpha) +
    s * Math.log(beta) +
    Math.log(1 / ((alpha + T) ** (r + x) * (beta + T) ** s) + (s / a) * A0)
  );
}

/** E[X(t) | alive at T] by integrating over the posterior μ ~ Gamma(s, β+T): (r+x)/(α+T) · E[(1 − e^(−μt))/μ]. */
function aliveExpectationByIntegration(
  p: { r: number; alpha: number; s: number; beta: number },
  t: number,
  x: number,
  T: number,
): number {
  const rate = p.beta + T;
  const logMean = logIntegralPositive(
    (mu, logMu) =>
      Math.log(-Math.expm1(-mu * t)) -
      logMu +
      p.s * Math.log(rate) -
      gammaln(p.s) +
      (p.s - 1) * logMu -
      rate * mu,
  );
  return ((p.r + x) / (p.alpha + T)) * Math.exp(logMean);
}

const PUBLISHED = { r: 0.553, alpha: 10.578, s: 0.606, beta: 11.669 };

describe("Pareto/NBD likelihood against independent implementations", () => {
  const customers: [number, number, number][] = [
    [0, 0, 38.86],
    [0, 0, 0.5],
    [1, 1.71, 38.86],
    [2, 30.43, 38.86],
    [5, 12, 12],
    [14, 35.5, 36],
    [40, 70, 78],
    [3000, 9000, 20000],
    [5000, 24000, 30000],
  ];
  const paramSets = [
    PUBLISHED,
    { r: 2.5, alpha: 0.4, s: 0.2, beta: 300 },
    { r: 0.3, alpha: 50, s: 3, beta: 1.5 },
    { r: 1, alpha: 7, s: 1, beta: 7 },
    { r: 0.05, alpha: 0.05, s: 8, beta: 80 },
  ];

  it("agrees with the lifetime integral to 1e-7 in log L, and P(alive) to 1e-7, for x from 0 to 5,000", () => {
    for (const p of paramSets) {
      for (const [x, tx, T] of customers) {
        const expected = logLikelihoodByLifetime(p, x, tx, T);
        const actual = paretoNbdLogLikelihood(p, { x: [x], tx: [tx], T: [T] });
        expect(Number.isFinite(actual)).toBe(true);
        expect(Math.abs(actual - expected.logL), `${JSON.stringify(p)} x=${x} tx=${tx} T=${T}`).toBeLessThan(
          1e-7 * Math.max(1, Math.abs(expected.logL)),
        );
        const alive = paretoNbdProbabilityAlive(p, x, tx, T);
        expect(Math.abs(alive - Math.exp(expected.logAlive - expected.logL))).toBeLessThan(1e-7);
      }
    }
  });

  it("agrees with the textbook ₂F₁ form on every CDNOW customer at the published estimates", () => {
    const data = readCdnow();
    let textbook = 0;
    for (let i = 0; i < data.x.length; i++) {
      textbook += logLikelihoodTextbook(
        PUBLISHED,
        data.x[i] as number,
        data.tx[i] as number,
        data.T[i] as number,
      );
    }
    const actual = paretoNbdLogLikelihood(PUBLISHED, data);
    expect(Math.abs(actual - textbook)).toBeLessThan(1e-8 * Math.abs(textbook));
    expect(Math.abs(actual - -9595.0)).toBeLessThan(0.05);
  });

  it("has the gradient of its own finite differences", () => {
    const data = readCdnow();
    for (const p of paramSets) {
      const { value, gradient } = paretoNbdLogLikelihoodWithGradient(p, data);
      expect(Number.isFinite(value)).toBe(true);
      PARETO_NBD_PARAM_NAMES.forEach((name, j) => {
        const h = 1e-6;
        const up = paretoNbdLogLikelihood({ ...p, [name]: p[name] * Math.exp(h) }, data);
        const down = paretoNbdLogLikelihood({ ...p, [name]: p[name] * Math.exp(-h) }, data);
        const numeric = (up - down) / (2 * h);
        expect(Math.abs((gradient[j] as number) - numeric), `${name} at ${JSON.stringify(p)}`).toBeLessThan(
          1e-5 * Math.max(1, Math.abs(numeric)),
        );
      });
    }
  });

  it("gives the conditional expectation of the posterior integral, and the new-customer one at x = t_x = T = 0", () => {
    for (const p of paramSets) {
      for (const [x, tx, T] of customers.slice(0, 7)) {
        for (const t of [0.5, 52, 400]) {
          const { logL, logAlive } = logLikelihoodByLifetime(p, x, tx, T);
          const expected = Math.exp(logAlive - logL) * aliveExpectationByIntegration(p, t, x, T);
          const actual = paretoNbdExpectedPurchases(p, t, x, tx, T);
          expect(Math.abs(actual - expected), `${JSON.stringify(p)} x=${x} T=${T} t=${t}`).toBeLessThan(
            1e-6 * Math.max(1e-3, expected),
          );
        }
      }
      expect(paretoNbdExpectedPurchasesNewCustomer(p, 39)).toBeCloseTo(
        aliveExpectationByIntegration(p, 39, 0, 0),
        8,
      );
    }
    // s = 1 exactly takes the logarithmic limit.
    const p = { r: 1, alpha: 7, s: 1, beta: 7 };
    expect(paretoNbdExpectedPurchasesNewCustomer(p, 10)).toBeCloseTo(
      aliveExpectationByIntegration(p, 10, 0, 0),
      9,
    );
  });
});

/**
 * Parameter recovery: 20,000 customers simulated from known parameters (test/fixtures/clv/simulate-models.ts,
 * seeded), ages uniform on [20, 100]. Tolerance 4 standard errors of each log-parameter, from the observed
 * information of that sample; the test also bounds those errors (below 0.25), so it cannot pass by being loose.
 */
describe("Pareto/NBD parameter recovery", () => {
  const sets = [
    { r: 0.55, alpha: 10.5, s: 0.6, beta: 11.7 },
    { r: 1.5, alpha: 5, s: 0.4, beta: 20 },
    { r: 0.3, alpha: 2, s: 1.5, beta: 60 },
  ];
  sets.forEach((truth, k) => {
    it(`recovers r=${truth.r} α=${truth.alpha} s=${truth.s} β=${truth.beta}`, () => {
      const sim = simulateParetoNbd(truth, 20_000, { minT: 20, maxT: 100, seed: 500 + k });
      const fit = fitParetoNbd(sim.x, sim.tx, sim.T);
      expect(fit.converged).toBe(true);
      expect(fit.atBoundary).toEqual([]);
      const theta = PARETO_NBD_PARAM_NAMES.map((name) => Math.log(fit.params[name]));
      const se = standardErrors(
        (t) =>
          paretoNbdLogLikelihoodWithGradient(
            {
              r: Math.exp(t[0] as number),
              alpha: Math.exp(t[1] as number),
              s: Math.exp(t[2] as number),
              beta: Math.exp(t[3] as number),
            },
            sim,
          ).gradient,
        theta,
      );
      PARETO_NBD_PARAM_NAMES.forEach((name, j) => {
        expect(se[j], `standard error of log ${name}`).toBeLessThan(0.25);
        const z = ((theta[j] as number) - Math.log(truth[name])) / (se[j] as number);
        expect(Math.abs(z), `${name}: estimate ${fit.params[name]}, truth ${truth[name]}`).toBeLessThan(4);
      });
    });
  });
});

describe("Pareto/NBD robustness", () => {
  it("stays finite for x in the thousands and T in the tens of thousands", () => {
    const x = [0, 1, 3000, 8000, 2, 12000];
    const tx = [0, 5, 15000, 39000, 100, 49000];
    const T = [50000, 40000, 20000, 40000, 30000, 50000];
    const fit = fitParetoNbd(x, tx, T);
    for (const v of Object.values(fit.params)) expect(Number.isFinite(v) && v > 0).toBe(true);
    expect(Number.isFinite(fit.logLikelihood)).toBe(true);
    for (let i = 0; i < x.length; i++) {
      const alive = paretoNbdProbabilityAlive(fit.params, x[i] as number, tx[i] as number, T[i] as number);
      expect(alive >= 0 && alive <= 1).toBe(true);
      const e = paretoNbdExpectedPurchases(fit.params, 365, x[i] as number, tx[i] as number, T[i] as number);
      expect(Number.isFinite(e) && e >= 0).toBe(true);
    }
  });

  it("refuses data without a repeat purchase, and bad parameters, with the documented errors", () => {
    expect(() => fitParetoNbd([0, 0], [0, 0], [3, 4])).toThrow(ClvFitError);
    expect(() => paretoNbdProbabilityAlive({ ...PUBLISHED, s: 0 }, 1, 1, 2)).toThrow(ClvInputError);
    expect(() => paretoNbdLogLikelihood(PUBLISHED, { x: [1], tx: [3], T: [2] })).toThrow(ClvInputError);
  });
});
