/**
 * Gamma-Gamma closed forms against a second method. The density of a customer's mean repeat-order value m_x
 * is a mixture over their latent rate ν ~ Gamma(q, rate γ) of the Gamma(px, rate xν) density of a mean of x
 * Gamma(p, ν) values; the expected order value is E[p/ν] under ν's posterior ∝ Gamma(ν; q, γ) · f(m_x | ν).
 * Both are integrated numerically over ν here, without the closed forms' algebra.
 */
import gammaln from "@stdlib/math-base-special-gammaln";
import { describe, expect, it } from "vitest";
import {
  ClvFitError,
  ClvInputError,
  expectedAverageValue,
  fitGammaGamma,
  type GammaGammaParams,
  gammaGammaLogLikelihood,
  gammaGammaLogLikelihoodWithGradient,
  populationAverageValue,
} from "../../../shared/engine/clv";
import { logIntegralPositive } from "../../fixtures/clv/numeric";
import { simulateGammaGamma } from "../../fixtures/clv/simulate";

/** log of the Gamma(shape, rate) density at v. */
function logGammaDensity(v: number, shape: number, rate: number): number {
  return shape * Math.log(rate) - gammaln(shape) + (shape - 1) * Math.log(v) - rate * v;
}

function byIntegration(params: GammaGammaParams, x: number, m: number) {
  const { p, q, gamma } = params;
  const logJoint = (nu: number): number => logGammaDensity(nu, q, gamma) + logGammaDensity(m, p * x, x * nu);
  const logDensity = logIntegralPositive(logJoint);
  const logMeanNumerator = logIntegralPositive((nu, logNu) => logJoint(nu) + Math.log(p) - logNu);
  return { logDensity, expected: Math.exp(logMeanNumerator - logDensity) };
}

const SETS: GammaGammaParams[] = [
  { p: 6.25, q: 3.74, gamma: 15.44 },
  { p: 0.7, q: 1.5, gamma: 3 },
  { p: 40, q: 12, gamma: 900 },
];
// [x, m_x]: typical, a single repeat order, a big spender, many small orders.
const POINTS: [number, number][] = [
  [2, 22.35],
  [1, 5],
  [5, 400],
  [200, 2.5],
];

describe("Gamma-Gamma closed forms against numerical integration", () => {
  for (const params of SETS) {
    it(`agree for p=${params.p} q=${params.q} γ=${params.gamma}`, () => {
      for (const [x, m] of POINTS) {
        const reference = byIntegration(params, x, m);
        const ll = gammaGammaLogLikelihood(params, [x], [m]);
        expect(Math.abs(ll - reference.logDensity), `x=${x} m=${m}`).toBeLessThan(
          1e-9 * Math.max(1, Math.abs(ll)),
        );
        const expected = expectedAverageValue(params, x, m);
        expect(Math.abs(expected / reference.expected - 1), `x=${x} m=${m}`).toBeLessThan(1e-9);
      }
    });
  }

  it("gives the population mean pγ/(q−1) for x = 0 and as the prior mean of p/ν", () => {
    const params = SETS[0] as GammaGammaParams;
    const { p, q, gamma } = params;
    const prior = Math.exp(
      logIntegralPositive((nu, logNu) => logGammaDensity(nu, q, gamma) + Math.log(p) - logNu),
    );
    expect(Math.abs(populationAverageValue(params) / prior - 1)).toBeLessThan(1e-9);
    expect(expectedAverageValue(params, 0, 0)).toBe(populationAverageValue(params));
    expect(populationAverageValue({ p: 1, q: 0.9, gamma: 1 })).toBe(Number.POSITIVE_INFINITY);
  });

  it("weights the customer's own mean more the more orders they made", () => {
    const params = SETS[0] as GammaGammaParams;
    const population = populationAverageValue(params);
    const m = 3 * population;
    let previous = population;
    for (const x of [1, 2, 5, 20, 100]) {
      const v = expectedAverageValue(params, x, m);
      expect(v).toBeGreaterThan(previous);
      expect(v).toBeLessThan(m);
      previous = v;
    }
  });

  it("treats a non-positive mean (net refunds) as 0 when predicting", () => {
    const params = SETS[0] as GammaGammaParams;
    expect(expectedAverageValue(params, 3, -10)).toBe(expectedAverageValue(params, 3, 0));
    expect(expectedAverageValue(params, 3, 0)).toBeCloseTo(
      (params.p * params.gamma) / (3 * params.p + params.q - 1),
      12,
    );
  });
});

describe("Gamma-Gamma log-likelihood gradient", () => {
  it("matches central finite differences in log-parameters", () => {
    const x = Float64Array.from({ length: 300 }, (_, i) => 1 + (i % 7));
    const { mx } = simulateGammaGamma({ p: 3, q: 5, gamma: 40 }, x, 21);
    for (const params of SETS) {
      const { gradient } = gammaGammaLogLikelihoodWithGradient(params, x, mx);
      (["p", "q", "gamma"] as const).forEach((name, j) => {
        const h = 1e-5;
        const up = gammaGammaLogLikelihood({ ...params, [name]: params[name] * Math.exp(h) }, x, mx);
        const down = gammaGammaLogLikelihood({ ...params, [name]: params[name] * Math.exp(-h) }, x, mx);
        const numeric = (up - down) / (2 * h);
        expect(Math.abs((gradient[j] as number) - numeric), name).toBeLessThan(
          1e-5 * Math.max(1, Math.abs(numeric)),
        );
      });
    }
  });
});

describe("Gamma-Gamma fitting edge cases", () => {
  it("reports a typed error when no customer has a repeat order of positive value", () => {
    for (const [x, mx] of [
      [
        [0, 0, 0],
        [0, 0, 0],
      ],
      [
        [0, 2, 1],
        [0, -5, 0],
      ],
    ] as [number[], number[]][]) {
      let error: unknown;
      try {
        fitGammaGamma(x, mx);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ClvFitError);
      expect((error as ClvFitError).code).toBe("CLV_NO_MONETARY_DATA");
    }
  });

  it("leaves out repeaters whose mean is not positive, and counts them", () => {
    const x = Float64Array.from({ length: 2000 }, (_, i) => 1 + (i % 5));
    const { mx } = simulateGammaGamma({ p: 4, q: 6, gamma: 50 }, x, 5);
    const clean = fitGammaGamma(x, mx);
    const withRefunds = fitGammaGamma([...x, 3, 2, 0], [...mx, -12, 0, Number.NaN]);
    expect(withRefunds.excluded).toBe(2);
    expect(withRefunds.customers).toBe(2000);
    expect(withRefunds.params.p).toBeCloseTo(clean.params.p, 6);
    expect(withRefunds.params.q).toBeCloseTo(clean.params.q, 6);
    expect(withRefunds.params.gamma).toBeCloseTo(clean.params.gamma, 4);
  });

  it("gives the same fit on weighted rows as on the rows repeated", () => {
    const x = [1, 2, 3, 1, 4, 2, 6, 1];
    const mx = [10, 14.5, 9, 30, 12, 11, 20, 8];
    const counts = [3, 1, 2, 5, 1, 4, 2, 1];
    const expandedX: number[] = [];
    const expandedM: number[] = [];
    counts.forEach((c, i) => {
      for (let k = 0; k < c; k++) {
        expandedX.push(x[i] as number);
        expandedM.push(mx[i] as number);
      }
    });
    const weighted = fitGammaGamma(x, mx, { weights: counts });
    const expanded = fitGammaGamma(expandedX, expandedM);
    expect(weighted.logLikelihood).toBeCloseTo(expanded.logLikelihood, 8);
    expect(weighted.params.p).toBeCloseTo(expanded.params.p, 5);
    expect(weighted.params.q).toBeCloseTo(expanded.params.q, 5);
    expect(weighted.params.gamma).toBeCloseTo(expanded.params.gamma, 4);
  });

  it("names the row of a bad value", () => {
    const cases: [number[], number[], string, string][] = [
      [[1, 2.5], [3, 4], "CLV_BAD_VALUE", "x[1]"],
      [[1, 2], [3, Number.NaN], "CLV_BAD_VALUE", "mx[1]"],
      [[1, 2], [3], "CLV_LENGTH_MISMATCH", "mx"],
    ];
    for (const [x, mx, code, path] of cases) {
      let error: unknown;
      try {
        fitGammaGamma(x, mx);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ClvInputError);
      expect((error as ClvInputError).code).toBe(code);
      expect((error as ClvInputError).details[0]?.path).toBe(path);
    }
    expect(() => fitGammaGamma([1, 2], [3, 4], { weights: [1, -1] })).toThrow(ClvInputError);
  });
});
