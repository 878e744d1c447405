/**
 * The registry of repeat-purchase models (shared/engine/clv/models.ts): every entry answers through the one
 * interface with the same figures as the model's own functions, and checks the parameter record it is given.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  ClvFitError,
  ClvInputError,
  expectedPurchases,
  fitBgNbd,
  fitMbgNbd,
  fitParetoNbd,
  mbgNbdExpectedPurchases,
  mbgNbdProbabilityAlive,
  paretoNbdExpectedPurchases,
  paretoNbdProbabilityAlive,
  probabilityAlive,
  REPEAT_MODEL_NAMES,
  REPEAT_MODELS,
} from "../../../shared/engine/clv";

const x = [0, 1, 2, 5, 0, 3, 7, 1, 0, 2];
const tx = [0, 10, 20, 30, 0, 5, 35, 2, 0, 8];
const T = [40, 40, 38, 39, 20, 30, 40, 10, 35, 12];

describe("repeat-model registry", () => {
  it("lists the three models under their names, with labels and parameter names", () => {
    expect([...REPEAT_MODEL_NAMES]).toEqual(["bgNbd", "paretoNbd", "mbgNbd"]);
    expect(REPEAT_MODEL_NAMES.map((name) => REPEAT_MODELS[name].name)).toEqual([...REPEAT_MODEL_NAMES]);
    expect(REPEAT_MODEL_NAMES.map((name) => REPEAT_MODELS[name].label)).toEqual([
      "BG/NBD",
      "Pareto/NBD",
      "MBG/NBD",
    ]);
    expect(REPEAT_MODELS.bgNbd.paramNames).toEqual(["r", "alpha", "a", "b"]);
    expect(REPEAT_MODELS.paretoNbd.paramNames).toEqual(["r", "alpha", "s", "beta"]);
    expect(REPEAT_MODELS.mbgNbd.paramNames).toEqual(["r", "alpha", "a", "b"]);
  });

  const direct = {
    bgNbd: { fit: fitBgNbd, alive: probabilityAlive, expected: expectedPurchases },
    paretoNbd: { fit: fitParetoNbd, alive: paretoNbdProbabilityAlive, expected: paretoNbdExpectedPurchases },
    mbgNbd: { fit: fitMbgNbd, alive: mbgNbdProbabilityAlive, expected: mbgNbdExpectedPurchases },
  } as const;

  it.each(REPEAT_MODEL_NAMES)("%s through the registry equals its own functions", (name) => {
    const model = REPEAT_MODELS[name];
    const fit = model.fit(x, tx, T);
    const fitOwn = direct[name].fit;
    const own = fitOwn(x, tx, T);
    expect(fit.model).toBe(name);
    expect(fit.params).toEqual(own.params);
    expect(fit.logLikelihood).toBe(own.logLikelihood);
    expect(fit.converged).toBe(own.converged);
    expect(fit.customers).toBe(10);
    expect(model.logLikelihood(fit.params, x, tx, T)).toBeCloseTo(own.logLikelihood, 9);
    // biome-ignore lint/suspicious/noExplicitAny: each model's own parameter type
    const p = own.params as any;
    expect(model.probabilityAlive(fit.params, 3, 20, 39)).toBe(direct[name].alive(p, 3, 20, 39));
    expect(model.expectedPurchases(fit.params, 10, 3, 20, 39)).toBe(direct[name].expected(p, 10, 3, 20, 39));
    expect(model.expectedPurchasesNewCustomer(fit.params, 10)).toBe(direct[name].expected(p, 10, 0, 0, 0));
    // A weighted fit equals the fit on the repeated rows.
    const weights = [1, 2, 1, 1, 3, 1, 1, 2, 1, 1];
    const repeat = (values: number[]): number[] => values.flatMap((v, i) => Array(weights[i]).fill(v));
    const weighted = model.fit(x, tx, T, { weights });
    const repeated = model.fit(repeat(x), repeat(tx), repeat(T));
    expect(weighted.customers).toBe(14);
    expect(weighted.logLikelihood).toBeCloseTo(repeated.logLikelihood, 6);
  });

  it.each(REPEAT_MODEL_NAMES)(
    "%s refuses a parameter record that misses a parameter, and data it cannot fit",
    (name) => {
      const model = REPEAT_MODELS[name];
      const params = Object.fromEntries(model.paramNames.slice(1).map((n) => [n, 1]));
      expect(() => model.probabilityAlive(params, 1, 1, 2)).toThrow(ClvInputError);
      expect(() => model.fit([0, 0, 0], [0, 0, 0], [5, 6, 7])).toThrow(ClvFitError);
      expect(() => model.fit([1], [3], [2])).toThrow(ClvInputError);
    },
  );
});

/**
 * Fits on small arbitrary datasets (up to 30 customers, up to 30 repeat purchases each, ages up to 400
 * periods; seeded fast-check runs) end in finite parameters and a finite log-likelihood, or in the documented
 * ClvFitError: never NaN, Infinity or another error.
 */
describe.each(REPEAT_MODEL_NAMES)("%s fits on small arbitrary data", (name) => {
  const customer = fc
    .tuple(
      fc.integer({ min: 0, max: 30 }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.double({ min: 0, max: 400, noNaN: true }),
    )
    .map(([x, share, T]) => ({ x, tx: x === 0 ? 0 : share * T, T }));

  const model = REPEAT_MODELS[name];
  const fitModel = model.fit.bind(model);

  it("gives finite parameters and likelihood, or ClvFitError", () => {
    fc.assert(
      fc.property(fc.array(customer, { minLength: 1, maxLength: 30 }), (rows) => {
        const x = rows.map((r) => r.x);
        const tx = rows.map((r) => r.tx);
        const T = rows.map((r) => r.T);
        let fit: ReturnType<(typeof REPEAT_MODELS)[typeof name]["fit"]>;
        try {
          fit = fitModel(x, tx, T);
        } catch (error) {
          expect(error).toBeInstanceOf(ClvFitError);
          expect(x.every((v) => v === 0)).toBe(true);
          return;
        }
        expect(Number.isFinite(fit.logLikelihood)).toBe(true);
        for (const v of Object.values(fit.params)) expect(Number.isFinite(v) && v > 0).toBe(true);
      }),
      { seed: 20261207, numRuns: 12 },
    );
  });
});
