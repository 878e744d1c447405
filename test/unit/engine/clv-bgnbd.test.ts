/**
 * BG/NBD closed forms against a second method. The model's quantities are integrals over a customer's latent
 * purchase rate λ ~ Gamma(r, α) and dropout probability p ~ Beta(a, b); here those integrals are done
 * numerically (test/fixtures/clv/numeric.ts), without the Beta/Gamma-function algebra or the hypergeometric
 * function the module uses:
 *
 *   L = ∫∫ [(1−p)^x λ^x e^(−λT) + [x>0] p (1−p)^(x−1) λ^x e^(−λ t_x)] g(λ) h(p) dλ dp   (each term factorises)
 *   P(alive) = ∫∫ (1−p)^x λ^x e^(−λT) g h / L
 *   E[X(t) | ·] = ∫∫ (1−p)^x λ^x e^(−λT) · (1 − e^(−λpt))/p · g h / L
 *
 * since a customer alive at T with (λ, p) makes (1 − e^(−λpt))/p purchases in expectation over the next t.
 * For E the λ-integral is the elementary Gamma integral ∫ g λ^x e^(−λs) dλ ∝ (α+s)^(−(r+x)), which leaves a
 * one-dimensional integral over p, done numerically.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type BgNbdParams,
  bgNbdLogLikelihood,
  bgNbdLogLikelihoodWithGradient,
  ClvFitError,
  ClvInputError,
  expectedPurchases,
  expectedPurchasesNewCustomer,
  fitBgNbd,
  probabilityAlive,
} from "../../../shared/engine/clv";
import { logIntegralPositive, logIntegralUnit } from "../../fixtures/clv/numeric";
import { simulateBgNbd } from "../../fixtures/clv/simulate";

function logAddExp(u: number, v: number): number {
  const m = Math.max(u, v);
  return m === Number.NEGATIVE_INFINITY ? m : m + Math.log(Math.exp(u - m) + Math.exp(v - m));
}

/** The three quantities by numerical integration, as described in the header. */
function byIntegration(p: BgNbdParams, t: number, x: number, tx: number, T: number) {
  const { r, alpha, a, b } = p;
  const rx = r + x;
  const logRatio = rx * Math.log((alpha + T) / (alpha + tx));
  const logH = (logP: number, log1mP: number): number => (a - 1) * logP + (b - 1) * log1mP;
  const logZh = logIntegralUnit((_p, l1, lp) => logH(lp, l1));
  const logZg = logIntegralPositive((lambda, logLambda) => (r - 1) * logLambda - alpha * lambda);
  // p-integrals of the two likelihood terms (the second scaled by ((α+T)/(α+t_x))^(r+x)).
  const logAlive = logIntegralUnit((_p, l1, lp) => logH(lp, l1) + x * l1);
  const logDead =
    x > 0 ? logIntegralUnit((_p, l1, lp) => logH(lp, l1) + lp + (x - 1) * l1) : Number.NEGATIVE_INFINITY;
  const logDenominator = logAddExp(logAlive, logDead + logRatio);
  const logFuture = logIntegralUnit(
    (prob, l1, lp) =>
      logH(lp, l1) + x * l1 - lp + Math.log(-Math.expm1(-rx * Math.log1p((prob * t) / (alpha + T)))),
  );
  const lambdaT = logIntegralPositive((l, ll) => (rx - 1) * ll - l * (alpha + T)) - logZg;
  const lambdaTx = logIntegralPositive((l, ll) => (rx - 1) * ll - l * (alpha + tx)) - logZg;
  return {
    logLikelihood: logAddExp(lambdaT + logAlive, lambdaTx + logDead) - logZh,
    alive: Math.exp(logAlive - logDenominator),
    expected: Math.exp(logFuture - logDenominator),
  };
}

const CDNOW: BgNbdParams = { r: 0.2425929, alpha: 4.4135316, a: 0.7928861, b: 2.4257534 };
const PARAMETER_SETS: { name: string; params: BgNbdParams; tolerance: number }[] = [
  { name: "CDNOW estimates", params: CDNOW, tolerance: 1e-9 },
  {
    name: "frequent buyers, rare dropout (a < 1)",
    params: { r: 2, alpha: 10, a: 0.3, b: 5 },
    tolerance: 1e-9,
  },
  { name: "frequent dropout (a > 1)", params: { r: 0.8, alpha: 20, a: 2, b: 1.5 }, tolerance: 1e-9 },
  // Removable singularities of equation (10), evaluated by interpolation (documented error ~1e-7).
  { name: "a within 1e-4 of 1", params: { r: 1, alpha: 5, a: 1.00002, b: 3 }, tolerance: 5e-7 },
  {
    name: "a + b within 1e-4 of 1 (x = 0)",
    params: { r: 0.5, alpha: 3, a: 0.4, b: 0.60001 },
    tolerance: 5e-7,
  },
];
// [t, x, t_x, T]: a new customer, no repeat yet, the FHL 2005 example customer, a recent one-time repeater,
// a heavy buyer, an extreme buyer, one who has long been silent (P(alive) ~ 1e-52), a very old customer, a
// horizon far beyond the data, and a horizon of minutes.
const POINTS: [number, number, number, number][] = [
  [39, 0, 0, 0],
  [39, 0, 0, 38.86],
  [39, 2, 30.43, 38.86],
  [52, 1, 1.71, 38.86],
  [52, 50, 48, 52],
  [10, 300, 299, 300],
  [52, 100, 50, 150],
  [52, 3, 20, 1e4],
  [1000, 20, 5, 10],
  [0.001, 4, 3, 5],
];

describe("BG/NBD closed forms against numerical integration", () => {
  for (const { name, params, tolerance } of PARAMETER_SETS) {
    it(`agree for ${name}`, () => {
      for (const [t, x, tx, T] of POINTS) {
        const reference = byIntegration(params, t, x, tx, T);
        const where = `t=${t} x=${x} tx=${tx} T=${T}`;
        const ll = bgNbdLogLikelihood(params, { x: [x], tx: [tx], T: [T] });
        expect(Math.abs(ll - reference.logLikelihood), where).toBeLessThan(1e-9 * Math.max(1, Math.abs(ll)));
        const alive = probabilityAlive(params, x, tx, T);
        expect(Math.abs(alive / reference.alive - 1), where).toBeLessThan(1e-9);
        const expected = expectedPurchases(params, t, x, tx, T);
        expect(Math.abs(expected / reference.expected - 1), where).toBeLessThan(tolerance);
      }
    });
  }

  it("gives the unconditional expectation (7) for a customer just acquired", () => {
    expect(expectedPurchasesNewCustomer(CDNOW, 39)).toBe(expectedPurchases(CDNOW, 39, 0, 0, 0));
    const reference = byIntegration(CDNOW, 39, 0, 0, 0).expected;
    expect(Math.abs(expectedPurchasesNewCustomer(CDNOW, 39) / reference - 1)).toBeLessThan(1e-9);
  });
});

describe("BG/NBD log-likelihood gradient", () => {
  it("matches central finite differences in log-parameters", () => {
    const sim = simulateBgNbd({ r: 0.6, alpha: 8, a: 1.4, b: 3 }, 400, { minT: 5, maxT: 60, seed: 11 });
    const data = { x: sim.x, tx: sim.tx, T: sim.T };
    for (const params of [CDNOW, { r: 1.3, alpha: 2, a: 0.5, b: 9 }]) {
      const { gradient } = bgNbdLogLikelihoodWithGradient(params, data);
      const names = ["r", "alpha", "a", "b"] as const;
      names.forEach((name, j) => {
        const h = 1e-5;
        const up = bgNbdLogLikelihood({ ...params, [name]: params[name] * Math.exp(h) }, data);
        const down = bgNbdLogLikelihood({ ...params, [name]: params[name] * Math.exp(-h) }, data);
        const numeric = (up - down) / (2 * h);
        expect(Math.abs((gradient[j] as number) - numeric), name).toBeLessThan(
          1e-5 * Math.max(1, Math.abs(numeric)),
        );
      });
    }
  });
});

describe("BG/NBD numerics at extremes", () => {
  it("stays finite and in range for huge x, t_x, T and horizons", () => {
    const cases: [number, number, number, number][] = [
      [52, 1e6, 1e5, 1e5 + 1],
      [1e9, 1e6, 1e5, 1e5],
      [52, 5000, 1, 1e9],
      [1e7, 0, 0, 1e9],
      [52, 1, 0, 1e12],
      [1e-12, 10, 5, 6],
    ];
    for (const params of PARAMETER_SETS.map((s) => s.params)) {
      for (const [t, x, tx, T] of cases) {
        const alive = probabilityAlive(params, x, tx, T);
        const expected = expectedPurchases(params, t, x, tx, T);
        const ll = bgNbdLogLikelihood(params, { x: [x], tx: [tx], T: [T] });
        expect(alive).toBeGreaterThanOrEqual(0);
        expect(alive).toBeLessThanOrEqual(1);
        expect(Number.isFinite(expected) && expected >= 0, `E at ${[t, x, tx, T]}`).toBe(true);
        expect(Number.isFinite(ll), `LL at ${[t, x, tx, T]}`).toBe(true);
      }
    }
    // A customer who bought a million times and is still buying: about (r+x)/(α+T) per unit of time.
    const rate = (CDNOW.r + 1e6) / (CDNOW.alpha + 1e5);
    expect(expectedPurchases(CDNOW, 1, 1e6, 1e5, 1e5) / rate).toBeCloseTo(1, 3);
  });

  it("is accurate when the fitted dropout distribution is concentrated (a, b in the millions)", () => {
    // Small datasets without dropout heterogeneity fit a, b near the search bound (e^18). Then p ~ Beta(a, b+x)
    // is nearly a point mass and E[(1 − (1 + p s)^(−(r+x))) / p] is its delta-method value g(μ) + g''(μ) σ² / 2
    // to about σ³/μ³ ≈ 1e-10, computed here in closed form.
    const p: BgNbdParams = { r: 0.84, alpha: 29.5, a: 1.2e7, b: 2.1e7 };
    for (let k = 0; k < 200; k++) {
      const x = k % 5;
      const T = 200 + k;
      const t = 30 * (1 + (k % 12));
      const s = t / (p.alpha + T);
      const rho = p.r + x;
      const beta = p.b + x;
      const mu = p.a / (p.a + beta);
      const variance = (p.a * beta) / ((p.a + beta) ** 2 * (p.a + beta + 1));
      const h = 1 - (1 + mu * s) ** -rho;
      const h1 = rho * s * (1 + mu * s) ** (-rho - 1);
      const h2 = -rho * (rho + 1) * s * s * (1 + mu * s) ** (-rho - 2);
      const g = h / mu;
      const g2 = h2 / mu - (2 * h1) / mu ** 2 + (2 * h) / mu ** 3;
      // x = t_x = 0 keeps P(alive) at 1, so the expectation is the alive customer's.
      const expected =
        expectedPurchases(p, t, x, x === 0 ? 0 : T, T) / (x === 0 ? 1 : probabilityAlive(p, x, T, T));
      expect(expected / (g + (g2 * variance) / 2) - 1).toBeCloseTo(0, 9);
    }
  });

  it("gives P(alive) in [0, 1] and expectations that are finite and grow with the horizon (property)", () => {
    const positive = (min: number, max: number) =>
      fc.double({ min: Math.log(min), max: Math.log(max), noNaN: true }).map(Math.exp);
    fc.assert(
      fc.property(
        fc.record({
          r: positive(0.01, 50),
          alpha: positive(0.01, 1e3),
          a: positive(0.02, 50),
          b: positive(0.02, 50),
        }),
        fc.integer({ min: 0, max: 10_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        positive(1e-3, 1e5),
        positive(1e-3, 1e4),
        (params, x, share, T, t) => {
          const tx = x === 0 ? 0 : share * T;
          const alive = probabilityAlive(params, x, tx, T);
          const shorter = expectedPurchases(params, t, x, tx, T);
          const longer = expectedPurchases(params, 2 * t, x, tx, T);
          return (
            alive >= 0 &&
            alive <= 1 &&
            Number.isFinite(shorter) &&
            shorter >= 0 &&
            Number.isFinite(longer) &&
            longer >= shorter * (1 - 1e-9)
          );
        },
      ),
      { numRuns: 500, seed: 20240601 },
    );
  });
});

describe("BG/NBD input errors", () => {
  const params = CDNOW;

  it("names the field and row of a bad value", () => {
    const bad = (x: number[], tx: number[], T: number[]) => {
      try {
        fitBgNbd(x, tx, T);
      } catch (error) {
        return error;
      }
      return undefined;
    };
    const cases: [number[], number[], number[], string, string][] = [
      [[1, 1.5], [1, 1], [2, 2], "CLV_BAD_VALUE", "x[1]"],
      [[1, -1], [1, 1], [2, 2], "CLV_BAD_VALUE", "x[1]"],
      [[1, 2], [1, Number.NaN], [2, 2], "CLV_BAD_VALUE", "tx[1]"],
      [[1, 2], [1, 3], [2, 2], "CLV_BAD_VALUE", "T[1]"],
      [[1, 2], [1, 1], [2, Number.POSITIVE_INFINITY], "CLV_BAD_VALUE", "T[1]"],
      [[1, 2], [1], [2, 2], "CLV_LENGTH_MISMATCH", "tx"],
      [[], [], [], "CLV_EMPTY", "x"],
    ];
    for (const [x, tx, T, code, path] of cases) {
      const error = bad(x, tx, T);
      expect(error).toBeInstanceOf(ClvInputError);
      expect((error as ClvInputError).code).toBe(code);
      expect((error as ClvInputError).status).toBe(400);
      expect((error as ClvInputError).details[0]?.path).toBe(path);
    }
  });

  it("rejects parameters that are not positive and finite", () => {
    expect(() => probabilityAlive({ ...params, a: 0 }, 1, 1, 2)).toThrow(ClvInputError);
    expect(() => expectedPurchases({ ...params, r: Number.NaN }, 1, 1, 1, 2)).toThrow(ClvInputError);
    expect(() => expectedPurchases(params, -1, 1, 1, 2)).toThrow(ClvInputError);
  });

  it("refuses to fit when nobody made a repeat purchase, with a typed error", () => {
    const error = (() => {
      try {
        fitBgNbd([0, 0, 0], [0, 0, 0], [10, 20, 30]);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ClvFitError);
    expect((error as ClvFitError).code).toBe("CLV_NO_REPEAT_PURCHASES");
  });
});
