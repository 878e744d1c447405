/**
 * The fits recover the parameters that simulated data were made with (test/fixtures/clv/simulate.ts, seeded),
 * and the closed forms agree with what the simulated process actually does.
 *
 * Tolerance of a recovered parameter: 4 standard errors of its log, the standard error coming from the observed
 * information (the Hessian of the log-likelihood at the estimate) of that very sample. At 20,000 customers
 * (BG/NBD) or 10,000 repeaters (Gamma-Gamma) those errors are 1–10 %; each test also checks they are that
 * small, so the tolerance cannot silently become loose. A correct estimator lands within 4 standard errors
 * with probability 0.99994 per parameter; the seeds are fixed, so the outcome is deterministic.
 */
import { describe, expect, it } from "vitest";
import {
  type BgNbdParams,
  bgNbdLogLikelihoodWithGradient,
  expectedPurchases,
  expectedPurchasesNewCustomer,
  fitBgNbd,
  fitGammaGamma,
  type GammaGammaParams,
  gammaGammaLogLikelihoodWithGradient,
  probabilityAlive,
} from "../../../shared/engine/clv";
import { standardErrors } from "../../fixtures/clv/numeric";
import { simulateBgNbd, simulateGammaGamma } from "../../fixtures/clv/simulate";

const BG_NBD_SETS: BgNbdParams[] = [
  { r: 0.25, alpha: 4, a: 0.8, b: 2.5 },
  { r: 2, alpha: 10, a: 0.3, b: 5 },
  { r: 0.8, alpha: 20, a: 2, b: 1.5 },
  { r: 1.5, alpha: 3, a: 1.2, b: 6 },
];

describe("BG/NBD parameter recovery", () => {
  BG_NBD_SETS.forEach((truth, k) => {
    it(`recovers r=${truth.r} α=${truth.alpha} a=${truth.a} b=${truth.b} from 20,000 simulated customers`, () => {
      const sim = simulateBgNbd(truth, 20_000, { minT: 20, maxT: 100, seed: 100 + k });
      const fit = fitBgNbd(sim.x, sim.tx, sim.T);
      expect(fit.converged).toBe(true);
      expect(fit.atBoundary).toEqual([]);
      const names = ["r", "alpha", "a", "b"] as const;
      const theta = names.map((n) => Math.log(fit.params[n]));
      const se = standardErrors(
        (t) =>
          bgNbdLogLikelihoodWithGradient(
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
      names.forEach((name, j) => {
        expect(se[j], `standard error of log ${name}`).toBeLessThan(0.1);
        const z = ((theta[j] as number) - Math.log(truth[name])) / (se[j] as number);
        expect(Math.abs(z), `${name}: estimate ${fit.params[name]}, truth ${truth[name]}`).toBeLessThan(4);
      });
    });
  });
});

const GAMMA_GAMMA_SETS: GammaGammaParams[] = [
  { p: 6, q: 4, gamma: 15 },
  { p: 2, q: 10, gamma: 300 },
  { p: 0.8, q: 3, gamma: 5 },
];

describe("Gamma-Gamma parameter recovery", () => {
  GAMMA_GAMMA_SETS.forEach((truth, k) => {
    it(`recovers p=${truth.p} q=${truth.q} γ=${truth.gamma} from 10,000 simulated repeaters`, () => {
      const x = Float64Array.from({ length: 10_000 }, (_, i) => 1 + (i % 10));
      const { mx } = simulateGammaGamma(truth, x, 200 + k);
      const fit = fitGammaGamma(x, mx);
      expect(fit.converged).toBe(true);
      const names = ["p", "q", "gamma"] as const;
      const theta = names.map((n) => Math.log(fit.params[n]));
      const se = standardErrors(
        (t) =>
          gammaGammaLogLikelihoodWithGradient(
            { p: Math.exp(t[0] as number), q: Math.exp(t[1] as number), gamma: Math.exp(t[2] as number) },
            x,
            mx,
          ).gradient,
        theta,
      );
      names.forEach((name, j) => {
        expect(se[j], `standard error of log ${name}`).toBeLessThan(0.12);
        const z = ((theta[j] as number) - Math.log(truth[name])) / (se[j] as number);
        expect(Math.abs(z), `${name}: estimate ${fit.params[name]}, truth ${truth[name]}`).toBeLessThan(4);
      });
    });
  });
});

/**
 * Conditional expectations are checked where they can be observed: among customers grouped by x, the mean of
 * P(alive | x, t_x, T) must match the share actually alive at T, and the mean of E[X(t) | x, t_x, T] the mean
 * purchases actually made in the next t (E[E[Y | data] | group] = E[Y | group]). Tolerance: 4 standard errors
 * of the observed group mean.
 */
describe("BG/NBD closed forms against the simulated process", () => {
  const groups: [number, number][] = [
    [0, 0],
    [1, 1],
    [2, 2],
    [3, 4],
    [5, 9],
    [10, Number.POSITIVE_INFINITY],
  ];
  BG_NBD_SETS.slice(0, 3).forEach((truth, k) => {
    it(`match observed dropout and holdout purchases for r=${truth.r} α=${truth.alpha} a=${truth.a} b=${truth.b}`, () => {
      const t = 52;
      const sim = simulateBgNbd(truth, 60_000, { minT: 20, maxT: 100, seed: 300 + k, holdout: t });
      for (const [lo, hi] of groups) {
        let n = 0;
        let predicted = 0;
        let actual = 0;
        let actualSquares = 0;
        let predictedAlive = 0;
        let alive = 0;
        for (let i = 0; i < sim.x.length; i++) {
          const x = sim.x[i] as number;
          if (x < lo || x > hi) continue;
          const tx = sim.tx[i] as number;
          const T = sim.T[i] as number;
          n++;
          predicted += expectedPurchases(truth, t, x, tx, T);
          predictedAlive += probabilityAlive(truth, x, tx, T);
          actual += sim.holdout[i] as number;
          actualSquares += (sim.holdout[i] as number) ** 2;
          alive += sim.alive[i] as number;
        }
        if (n < 100) continue;
        const mean = actual / n;
        const se = Math.sqrt((actualSquares / n - mean * mean) / n);
        expect(Math.abs(predicted / n - mean), `purchases, x in [${lo}, ${hi}]`).toBeLessThan(4 * se);
        const share = alive / n;
        if (lo === 0) {
          // BG/NBD customers can only drop out after a repeat purchase.
          expect(share).toBe(1);
          expect(predictedAlive / n).toBe(1);
        } else {
          const seAlive = Math.sqrt((share * (1 - share)) / n);
          expect(Math.abs(predictedAlive / n - share), `alive, x in [${lo}, ${hi}]`).toBeLessThan(
            4 * seAlive,
          );
        }
      }
    });

    it(`match the mean purchases of new customers over their first year for r=${truth.r} α=${truth.alpha}`, () => {
      const t = 52;
      const sim = simulateBgNbd(truth, 60_000, { minT: t, maxT: t, seed: 400 + k });
      let sum = 0;
      let squares = 0;
      for (const v of sim.x) {
        sum += v;
        squares += v * v;
      }
      const n = sim.x.length;
      const mean = sum / n;
      const se = Math.sqrt((squares / n - mean * mean) / n);
      expect(Math.abs(expectedPurchasesNewCustomer(truth, t) - mean)).toBeLessThan(4 * se);
    });
  });
});

describe("fitting on unique triples", () => {
  it("gives the same estimate with weights as with every customer listed", () => {
    // Ages and purchase times on a day grid, as real data are, so many customers share a triple.
    const sim = simulateBgNbd({ r: 0.5, alpha: 6, a: 0.9, b: 3 }, 4000, {
      minT: 10,
      maxT: 30,
      seed: 9,
      grid: 1 / 7,
    });
    const full = fitBgNbd(sim.x, sim.tx, sim.T);
    expect(full.uniqueTriples).toBeLessThan(sim.x.length * 0.6);
    // Group by hand into (x, t_x, T) -> count.
    const counts = new Map<string, number>();
    for (let i = 0; i < sim.x.length; i++) {
      const key = `${sim.x[i]}|${sim.tx[i]}|${sim.T[i]}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    const rows = [...counts].map(([key, count]) => [...key.split("|").map(Number), count] as number[]);
    const weighted = fitBgNbd(
      rows.map((r) => r[0] as number),
      rows.map((r) => r[1] as number),
      rows.map((r) => r[2] as number),
      { weights: rows.map((r) => r[3] as number) },
    );
    expect(weighted.customers).toBe(sim.x.length);
    expect(weighted.uniqueTriples).toBe(full.uniqueTriples);
    expect(weighted.logLikelihood).toBeCloseTo(full.logLikelihood, 6);
    for (const name of ["r", "alpha", "a", "b"] as const) {
      expect(weighted.params[name] / full.params[name]).toBeCloseTo(1, 6);
    }
  });
});
