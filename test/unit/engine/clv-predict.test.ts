/**
 * CLV, the batch scorer and the fallbacks for data the models cannot describe.
 *
 * CLV = margin · E[M] · Σ_{k=1..H} (E[X(kL)] − E[X((k−1)L)]) · (1 + d)^(−k/periodsPerYear), L = timeUnitsPerYear /
 * periodsPerYear. The expected purchases come from `expectedPurchases` (checked against integration in
 * clv-bgnbd.test.ts); here the sums and discount factors are worked out independently in each test.
 */
import { describe, expect, it } from "vitest";
import {
  type BgNbdParams,
  ClvInputError,
  customerLifetimeValue,
  expectedAverageValue,
  expectedPurchases,
  fitValueModels,
  type GammaGammaParams,
  predictAll,
  probabilityAlive,
} from "../../../shared/engine/clv";
import { simulateBgNbd } from "../../fixtures/clv/simulate";

const BG: BgNbdParams = { r: 0.2425929, alpha: 4.4135316, a: 0.7928861, b: 2.4257534 };
const GG: GammaGammaParams = { p: 6.2488, q: 3.7446, gamma: 15.4477 };
const WEEKS_PER_YEAR = 365.25 / 7;
const MONTH = WEEKS_PER_YEAR / 12;

describe("customerLifetimeValue", () => {
  it("is one month's purchases discounted by one twelfth of a year, for a one-month horizon", () => {
    // 0.3 · 25 · E[X(4.348 weeks)] / 1.1^(1/12)
    const e = expectedPurchases(BG, MONTH, 2, 30.43, 38.86);
    const clv = customerLifetimeValue(BG, 25, 2, 30.43, 38.86, {
      horizonPeriods: 1,
      annualDiscountRate: 0.1,
      margin: 0.3,
    });
    expect(clv).toBeCloseTo((0.3 * 25 * e) / 1.1 ** (1 / 12), 12);
  });

  it("telescopes to margin · value · E[X(horizon)] without discounting", () => {
    const clv = customerLifetimeValue(BG, 40, 5, 20, 38, { annualDiscountRate: 0, margin: 0.5 });
    expect(clv).toBeCloseTo(0.5 * 40 * expectedPurchases(BG, 12 * MONTH, 5, 20, 38), 10);
  });

  it("discounts each month's purchases from the end of that month", () => {
    // Two yearly periods at 10 %: first-year purchases / 1.1, second-year purchases / 1.21.
    const year1 = expectedPurchases(BG, WEEKS_PER_YEAR, 3, 10, 30);
    const year2 = expectedPurchases(BG, 2 * WEEKS_PER_YEAR, 3, 10, 30);
    const clv = customerLifetimeValue(BG, 10, 3, 10, 30, {
      horizonPeriods: 2,
      periodsPerYear: 1,
      annualDiscountRate: 0.1,
    });
    expect(clv).toBeCloseTo(10 * (year1 / 1.1 + (year2 - year1) / 1.21), 12);
  });

  it("uses the time unit it is told: days instead of weeks", () => {
    // The same customer and model in days: α scales with the unit, r, a, b do not.
    const inDays: BgNbdParams = { ...BG, alpha: BG.alpha * 7 };
    const weeks = customerLifetimeValue(BG, 10, 3, 10, 30);
    const days = customerLifetimeValue(inDays, 10, 3, 70, 210, { timeUnitsPerYear: 365.25 });
    expect(days).toBeCloseTo(weeks, 10);
  });

  it("falls as the discount rate rises", () => {
    const at = (annualDiscountRate: number) =>
      customerLifetimeValue(BG, 10, 3, 10, 30, { annualDiscountRate });
    expect(at(0)).toBeGreaterThan(at(0.1));
    expect(at(0.1)).toBeGreaterThan(at(0.5));
  });

  it("rejects options out of range with the option named", () => {
    const cases: [object, string][] = [
      [{ horizonPeriods: 0 }, "horizonPeriods"],
      [{ horizonPeriods: 2.5 }, "horizonPeriods"],
      [{ periodsPerYear: 0 }, "periodsPerYear"],
      [{ annualDiscountRate: -1 }, "annualDiscountRate"],
      [{ timeUnitsPerYear: Number.NaN }, "timeUnitsPerYear"],
      [{ margin: Number.POSITIVE_INFINITY }, "margin"],
    ];
    for (const [options, field] of cases) {
      let error: unknown;
      try {
        customerLifetimeValue(BG, 10, 1, 1, 2, options);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ClvInputError);
      expect((error as ClvInputError).code).toBe("CLV_BAD_OPTION");
      expect((error as ClvInputError).details[0]?.path).toBe(field);
    }
  });
});

describe("predictAll", () => {
  // Duplicated triples on purpose: the batch path computes each distinct triple once.
  const data = {
    x: [0, 2, 2, 7, 0, 1, 2],
    tx: [0, 30.43, 30.43, 35, 0, 1.71, 30.43],
    T: [38.86, 38.86, 38.86, 38, 20, 38.86, 38.86],
    mx: [0, 22.35, 50, 14, 0, 11.77, 22.35],
  };

  it("gives each customer what the one-customer functions give", () => {
    const options = { horizonPeriods: 6, annualDiscountRate: 0.08, margin: 0.25 };
    const scores = predictAll(data, { bgNbd: BG, gammaGamma: GG }, options);
    expect(scores.horizon).toBeCloseTo(6 * MONTH, 12);
    for (let i = 0; i < data.x.length; i++) {
      const [x, tx, T, m] = [data.x[i], data.tx[i], data.T[i], data.mx[i]] as [
        number,
        number,
        number,
        number,
      ];
      const value = expectedAverageValue(GG, x, m);
      expect(scores.probabilityAlive[i]).toBe(probabilityAlive(BG, x, tx, T));
      expect(scores.expectedPurchases[i]).toBeCloseTo(expectedPurchases(BG, 6 * MONTH, x, tx, T), 12);
      expect(scores.expectedValue[i]).toBe(value);
      expect(scores.valueFromModel[i]).toBe(1);
      expect(scores.clv[i]).toBeCloseTo(customerLifetimeValue(BG, value, x, tx, T, options), 10);
    }
  });

  it("gives customers who differ only in t_x their own P(alive) and expectations", () => {
    // Same x and T, t_x from 0 to T: the expensive part of equation (10) is shared, P(alive) is not.
    const tx = [0, 1, 5, 20, 38, 38.86];
    const shared = { x: tx.map(() => 3), tx, T: tx.map(() => 38.86), mx: tx.map(() => 20) };
    const options = { horizonPeriods: 12, annualDiscountRate: 0.1 };
    const scores = predictAll(shared, { bgNbd: BG, gammaGamma: GG }, options);
    for (let i = 0; i < tx.length; i++) {
      const t = tx[i] as number;
      expect(scores.probabilityAlive[i]).toBe(probabilityAlive(BG, 3, t, 38.86));
      expect(scores.expectedPurchases[i]).toBeCloseTo(expectedPurchases(BG, 12 * MONTH, 3, t, 38.86), 12);
      const value = expectedAverageValue(GG, 3, 20);
      expect(scores.clv[i]).toBeCloseTo(customerLifetimeValue(BG, value, 3, t, 38.86, options), 10);
    }
    expect(new Set(scores.probabilityAlive).size).toBe(tx.length);
  });

  it("uses the caller's fallback order value when there is no Gamma-Gamma model", () => {
    const fallbackOrderValue = [11, 12, 13, 14, 15, 16, 17];
    const scores = predictAll({ ...data, fallbackOrderValue }, { bgNbd: BG, gammaGamma: null });
    expect(Array.from(scores.expectedValue)).toEqual(fallbackOrderValue);
    expect(Array.from(scores.valueFromModel)).toEqual([0, 0, 0, 0, 0, 0, 0]);
  });

  it("falls back to the customer's own mean, else the pooled mean, without a model or caller value", () => {
    const scores = predictAll(data, { bgNbd: BG, gammaGamma: null });
    // Pooled mean weighted by repeat orders: (2·22.35 + 2·50 + 7·14 + 1·11.77 + 2·22.35) / (2+2+7+1+2) = 299.17 / 14.
    const pooled = 299.17 / 14;
    expect(Array.from(scores.expectedValue).map((v) => Number(v.toFixed(10)))).toEqual(
      [pooled, 22.35, 50, 14, pooled, 11.77, 22.35].map((v) => Number(v.toFixed(10))),
    );
  });

  it("falls back for x = 0 when the fitted population mean does not exist (q <= 1)", () => {
    const heavyTailed: GammaGammaParams = { p: 2, q: 0.8, gamma: 10 };
    const scores = predictAll(
      { ...data, fallbackOrderValue: [9, 9, 9, 9, 8, 9, 9] },
      {
        bgNbd: BG,
        gammaGamma: heavyTailed,
      },
    );
    expect(scores.expectedValue[0]).toBe(9);
    expect(scores.expectedValue[4]).toBe(8);
    expect(scores.valueFromModel[0]).toBe(0);
    // x = 2: p·x + q − 1 = 3.8 > 0, so the model's posterior mean exists.
    expect(scores.expectedValue[1]).toBeCloseTo((2 * (10 + 2 * 22.35)) / 3.8, 12);
    expect(scores.valueFromModel[1]).toBe(1);
  });

  it("expects no purchases and no value when there is no purchase model", () => {
    const scores = predictAll(data, { bgNbd: null, gammaGamma: GG });
    expect(Array.from(scores.probabilityAlive)).toEqual([1, 1, 1, 1, 1, 1, 1]);
    expect(Array.from(scores.expectedPurchases)).toEqual([0, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(scores.clv)).toEqual([0, 0, 0, 0, 0, 0, 0]);
  });

  it("names the row of a missing repeat-order mean", () => {
    let error: unknown;
    try {
      predictAll({ ...data, mx: [0, 22, Number.NaN, 1, 0, 1, 1] }, { bgNbd: BG, gammaGamma: GG });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ClvInputError);
    expect((error as ClvInputError).details[0]?.path).toBe("mx[2]");
  });
});

describe("fitValueModels", () => {
  it("reports both models as missing when nobody bought twice, and scores everyone 0", () => {
    const data = { x: [0, 0, 0], tx: [0, 0, 0], T: [5, 10, 20], mx: [0, 0, 0] };
    const fits = fitValueModels(data);
    expect(fits.models).toEqual({ bgNbd: null, gammaGamma: null });
    expect(fits.issues.map((i) => [i.model, i.code])).toEqual([
      ["bg-nbd", "CLV_NO_REPEAT_PURCHASES"],
      ["gamma-gamma", "CLV_NO_MONETARY_DATA"],
    ]);
    const scores = predictAll({ ...data, fallbackOrderValue: [30, 40, 50] }, fits.models);
    expect(Array.from(scores.clv)).toEqual([0, 0, 0]);
    expect(Array.from(scores.expectedValue)).toEqual([30, 40, 50]);
  });

  it("fits the purchase model alone when every repeat order was refunded", () => {
    const sim = simulateBgNbd({ r: 0.5, alpha: 5, a: 1, b: 3 }, 500, { minT: 10, maxT: 50, seed: 3 });
    const mx = Array.from(sim.x, (x) => (x > 0 ? -4 : 0));
    const fits = fitValueModels({ x: sim.x, tx: sim.tx, T: sim.T, mx });
    expect(fits.bgNbd?.converged).toBe(true);
    expect(fits.gammaGamma).toBeNull();
    expect(fits.issues.map((i) => i.code)).toEqual(["CLV_NO_MONETARY_DATA"]);
  });

  it("still returns finite scores for a handful of customers", () => {
    const data = { x: [0, 1, 3], tx: [0, 2, 9], T: [4, 10, 12], mx: [0, 20, 35] };
    const fits = fitValueModels(data);
    expect(fits.bgNbd).not.toBeNull();
    expect(fits.gammaGamma).not.toBeNull();
    const scores = predictAll(data, fits.models);
    for (const array of [
      scores.probabilityAlive,
      scores.expectedPurchases,
      scores.expectedValue,
      scores.clv,
    ]) {
      for (const v of array) expect(Number.isFinite(v)).toBe(true);
    }
  });

  it("passes bad input through as an error rather than an issue", () => {
    expect(() => fitValueModels({ x: [1, -2], tx: [1, 1], T: [2, 2], mx: [1, 1] })).toThrow(ClvInputError);
  });
});
