/**
 * MBG/NBD (shared/engine/clv/mbg-nbd.ts).
 *
 * - CDNOW sample, calibration period in weeks (test/fixtures/clv/cdnow-sample-summary.csv, the same 2,357
 *   customers as lifetimes/datasets/cdnow_customers_summary.csv): the lifetimes package
 *   (CamDavidsonPilon/lifetimes, tests/test_estimation.py, TestModifiedBetaGammaFitter
 *   .test_params_out_is_close_to_BTYDplus) checks its ModifiedBetaGeoFitter against BTYDplus's estimates
 *   r = 0.525, α = 6.183, a = 0.891, b = 1.614 to 3 decimals; the fit here must round to them as well
 *   (within 0.0005).
 * - The likelihood and P(alive) against direct integrals over λ and p, the gradient against finite
 *   differences, the conditional expectation against a posterior integral, parameter recovery and P(alive)
 *   calibration on simulated data (tolerances stated at each).
 */
import { readFileSync } from "node:fs";
import gammaln from "@stdlib/math-base-special-gammaln";
import { describe, expect, it } from "vitest";
import {
  ClvFitError,
  ClvInputError,
  fitMbgNbd,
  MBG_NBD_PARAM_NAMES,
  type MbgNbdParams,
  mbgNbdExpectedPurchases,
  mbgNbdExpectedPurchasesNewCustomer,
  mbgNbdLogLikelihood,
  mbgNbdLogLikelihoodWithGradient,
  mbgNbdProbabilityAlive,
} from "../../../shared/engine/clv";
import { logIntegralPositive, logIntegralUnit, standardErrors } from "../../fixtures/clv/numeric";
import { simulateMbgNbd } from "../../fixtures/clv/simulate-models";

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

describe("MBG/NBD on the CDNOW sample", () => {
  const data = readCdnow();

  it("matches the BTYDplus estimates that lifetimes' test suite uses (3 decimals)", () => {
    const fit = fitMbgNbd(data.x, data.tx, data.T);
    expect(fit.converged).toBe(true);
    expect(fit.atBoundary).toEqual([]);
    expect(Math.abs(fit.params.r - 0.525)).toBeLessThan(0.0005);
    expect(Math.abs(fit.params.alpha - 6.183)).toBeLessThan(0.0005);
    expect(Math.abs(fit.params.a - 0.891)).toBeLessThan(0.0005);
    expect(Math.abs(fit.params.b - 1.614)).toBeLessThan(0.0005);
  });

  it("finds the same optimum from a distant start", () => {
    const fit = fitMbgNbd(data.x, data.tx, data.T, { initial: { r: 5, alpha: 0.1, a: 20, b: 0.05 } });
    expect(fit.converged).toBe(true);
    expect(Math.abs(fit.params.r - 0.525)).toBeLessThan(0.0005);
    expect(Math.abs(fit.params.b - 1.614)).toBeLessThan(0.0005);
  });
});

/**
 * A second implementation from the model's story: given λ and p, a customer is alive at T with likelihood
 * (1−p)^(x+1) λ^x e^(−λT), or dropped out right after the last purchase with p (1−p)^x λ^x e^(−λ t_x). λ and p
 * are independent, so L = E_p[(1−p)^(x+1)] E_λ[λ^x e^(−λT)] + E_p[p (1−p)^x] E_λ[λ^x e^(−λ t_x)], each
 * expectation a one-dimensional integral done numerically (test/fixtures/clv/numeric.ts), with no Beta or
 * Gamma function algebra.
 */
function logBetaDensity(a: number, b: number, logP: number, log1mP: number): number {
  return (a - 1) * logP + (b - 1) * log1mP + gammaln(a + b) - gammaln(a) - gammaln(b);
}

function logGammaDensity(shape: number, rate: number, lambda: number, logLambda: number): number {
  return shape * Math.log(rate) - gammaln(shape) + (shape - 1) * logLambda - rate * lambda;
}

function byIntegration(
  p: MbgNbdParams,
  x: number,
  tx: number,
  T: number,
): { logL: number; logAlive: number } {
  const stay = logIntegralUnit(
    (_, log1mP, logP) => logBetaDensity(p.a, p.b, logP, log1mP) + (x + 1) * log1mP,
  );
  const leave = logIntegralUnit(
    (_, log1mP, logP) => logBetaDensity(p.a, p.b, logP, log1mP) + logP + x * log1mP,
  );
  const purchases = (tau: number): number =>
    logIntegralPositive(
      (lambda, logLambda) => logGammaDensity(p.r, p.alpha, lambda, logLambda) + x * logLambda - lambda * tau,
    );
  const logAlive = stay + purchases(T);
  const logDead = leave + purchases(tx);
  const m = Math.max(logAlive, logDead);
  return { logL: m + Math.log(Math.exp(logAlive - m) + Math.exp(logDead - m)), logAlive };
}

/**
 * E[X(t) | alive at T]: p | alive ~ Beta(a, b+x+1) and λ | alive ~ Gamma(r+x, α+T); an active customer makes
 * (1 − e^(−λpt))/p purchases in t on average, and E_λ[e^(−λpt)] = ((α+T)/(α+T+pt))^(r+x); the p integral is
 * numerical.
 */
function aliveExpectationByIntegration(p: MbgNbdParams, t: number, x: number, T: number): number {
  const rho = p.r + x;
  const scale = p.alpha + T;
  return Math.exp(
    logIntegralUnit(
      (prob, log1mP, logP) =>
        logBetaDensity(p.a, p.b + x + 1, logP, log1mP) +
        Math.log(-Math.expm1(-rho * Math.log1p((prob * t) / scale))) -
        logP,
    ),
  );
}

describe("MBG/NBD likelihood against independent implementations", () => {
  const customers: [number, number, number][] = [
    [0, 0, 38.86],
    [0, 0, 0],
    [1, 1.71, 38.86],
    [2, 30.43, 38.86],
    [7, 20, 20],
    [25, 60, 70],
  ];
  const paramSets: MbgNbdParams[] = [
    { r: 0.525, alpha: 6.183, a: 0.891, b: 1.614 },
    { r: 2, alpha: 0.5, a: 3, b: 0.4 },
    { r: 0.2, alpha: 40, a: 0.3, b: 9 },
  ];

  it("agrees with the direct integrals over λ and p to 1e-7 in log L and in P(alive)", () => {
    for (const p of paramSets) {
      for (const [x, tx, T] of customers) {
        const expected = byIntegration(p, x, tx, T);
        const actual = mbgNbdLogLikelihood(p, { x: [x], tx: [tx], T: [T] });
        expect(Math.abs(actual - expected.logL), `${JSON.stringify(p)} x=${x}`).toBeLessThan(
          1e-7 * Math.max(1, Math.abs(expected.logL)),
        );
        expect(
          Math.abs(mbgNbdProbabilityAlive(p, x, tx, T) - Math.exp(expected.logAlive - expected.logL)),
        ).toBeLessThan(1e-7);
      }
    }
  });

  it("has the gradient of its own finite differences", () => {
    const data = readCdnow();
    for (const p of paramSets) {
      const { gradient } = mbgNbdLogLikelihoodWithGradient(p, data);
      MBG_NBD_PARAM_NAMES.forEach((name, j) => {
        const h = 1e-6;
        const up = mbgNbdLogLikelihood({ ...p, [name]: p[name] * Math.exp(h) }, data);
        const down = mbgNbdLogLikelihood({ ...p, [name]: p[name] * Math.exp(-h) }, data);
        const numeric = (up - down) / (2 * h);
        expect(Math.abs((gradient[j] as number) - numeric), `${name}`).toBeLessThan(
          1e-5 * Math.max(1, Math.abs(numeric)),
        );
      });
    }
  });

  it("gives the conditional expectation of the posterior integral, and the new customer's at x = t_x = T = 0", () => {
    for (const p of paramSets) {
      for (const [x, tx, T] of customers) {
        for (const t of [0.5, 39, 300]) {
          const alive = mbgNbdProbabilityAlive(p, x, tx, T);
          const expected = alive * aliveExpectationByIntegration(p, t, x, T);
          const actual = mbgNbdExpectedPurchases(p, t, x, tx, T);
          expect(Math.abs(actual - expected), `${JSON.stringify(p)} x=${x} T=${T} t=${t}`).toBeLessThan(
            1e-6 * Math.max(1e-3, expected),
          );
        }
      }
      // A new customer may drop out right after the first purchase: alive with probability b/(a+b).
      expect(mbgNbdExpectedPurchasesNewCustomer(p, 39)).toBeCloseTo(
        (p.b / (p.a + p.b)) * aliveExpectationByIntegration(p, 39, 0, 0),
        8,
      );
    }
  });
});

/**
 * Parameter recovery and calibration on 20,000 simulated customers (test/fixtures/clv/simulate-models.ts,
 * seeded; ages uniform on [20, 100]). Tolerance 4 standard errors of each log-parameter from the observed
 * information, those errors themselves below 0.25. P(alive) at the true parameters must be calibrated: its
 * mean over the customers is within 4 standard deviations (√Σ P(1−P)) of the number actually alive at T,
 * for the one-time buyers (x = 0) on their own too.
 */
describe("MBG/NBD parameter recovery", () => {
  const sets: MbgNbdParams[] = [
    { r: 0.5, alpha: 6, a: 0.9, b: 1.6 },
    { r: 2, alpha: 10, a: 0.4, b: 5 },
    { r: 1, alpha: 3, a: 2, b: 8 },
  ];
  sets.forEach((truth, k) => {
    it(`recovers r=${truth.r} α=${truth.alpha} a=${truth.a} b=${truth.b}, and P(alive) is calibrated`, () => {
      const sim = simulateMbgNbd(truth, 20_000, { minT: 20, maxT: 100, seed: 700 + k });
      const fit = fitMbgNbd(sim.x, sim.tx, sim.T);
      expect(fit.converged).toBe(true);
      expect(fit.atBoundary).toEqual([]);
      const theta = MBG_NBD_PARAM_NAMES.map((name) => Math.log(fit.params[name]));
      const se = standardErrors(
        (t) =>
          mbgNbdLogLikelihoodWithGradient(
            {
              r: Math.exp(t[0] as number),
              alpha: Math.exp(t[1] as number),
              a: Math.exp(t[2] as number),
              b: Math.exp(t[3] as number),
            },
            sim,
          ).gradient,
        theta,
      );
      MBG_NBD_PARAM_NAMES.forEach((name, j) => {
        expect(se[j], `standard error of log ${name}`).toBeLessThan(0.25);
        const z = ((theta[j] as number) - Math.log(truth[name])) / (se[j] as number);
        expect(Math.abs(z), `${name}: estimate ${fit.params[name]}, truth ${truth[name]}`).toBeLessThan(4);
      });
      for (const onlyOneTime of [false, true]) {
        let predicted = 0;
        let variance = 0;
        let actual = 0;
        for (let i = 0; i < sim.x.length; i++) {
          if (onlyOneTime && sim.x[i] !== 0) continue;
          const q = mbgNbdProbabilityAlive(
            truth,
            sim.x[i] as number,
            sim.tx[i] as number,
            sim.T[i] as number,
          );
          predicted += q;
          variance += q * (1 - q);
          actual += sim.alive[i] as number;
        }
        expect(Math.abs(predicted - actual), `one-time buyers only: ${onlyOneTime}`).toBeLessThan(
          4 * Math.sqrt(variance),
        );
      }
    });
  });
});

describe("MBG/NBD robustness", () => {
  it("stays finite for x in the thousands and T in the tens of thousands", () => {
    const x = [0, 1, 3000, 8000, 2, 12000];
    const tx = [0, 5, 15000, 39000, 100, 49000];
    const T = [50000, 40000, 20000, 40000, 30000, 50000];
    const fit = fitMbgNbd(x, tx, T);
    for (const v of Object.values(fit.params)) expect(Number.isFinite(v) && v > 0).toBe(true);
    expect(Number.isFinite(fit.logLikelihood)).toBe(true);
    for (let i = 0; i < x.length; i++) {
      const alive = mbgNbdProbabilityAlive(fit.params, x[i] as number, tx[i] as number, T[i] as number);
      expect(alive >= 0 && alive <= 1).toBe(true);
      const e = mbgNbdExpectedPurchases(fit.params, 365, x[i] as number, tx[i] as number, T[i] as number);
      expect(Number.isFinite(e) && e >= 0).toBe(true);
    }
  });

  it("refuses data without a repeat purchase, and bad parameters, with the documented errors", () => {
    expect(() => fitMbgNbd([0, 0], [0, 0], [3, 4])).toThrow(ClvFitError);
    expect(() => mbgNbdProbabilityAlive({ r: 1, alpha: 1, a: -1, b: 1 }, 1, 1, 2)).toThrow(ClvInputError);
  });
});
