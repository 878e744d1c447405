/**
 * Work the value stage does once and hands on (value.ts, clv/validation.ts): the customers' (x, t_x, T)
 * grouping, worked out once for the fit on all the data and its predictions, and once for the three models'
 * holdout predictions.
 * Each shortcut must give the doubles the model's own path gives: the same fit (parameters, log-likelihood,
 * counts) and the same predictions, bit for bit, on the CDNOW sample (weeks, fractional times) and on a
 * simulated MBG/NBD population in whole days (the value stage's unit).
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ClvInputError, compressSummary, predictAll, REPEAT_MODELS } from "../../../shared/engine/clv";
import { REPEAT_MODEL_NAMES } from "../../../shared/engine/clv/models";
import { predictPurchases, tripleGroups } from "../../../shared/engine/clv/validation";
import { simulateMbgNbd } from "../../fixtures/clv/simulate-models";

function cdnowSample() {
  const lines = readFileSync(new URL("../../fixtures/clv/cdnow-sample-summary.csv", import.meta.url), "utf8")
    .trim()
    .split("\n")
    .slice(1);
  const x = new Float64Array(lines.length);
  const tx = new Float64Array(lines.length);
  const T = new Float64Array(lines.length);
  lines.forEach((line, i) => {
    const cells = line.split(",").map(Number);
    x[i] = cells[1] as number;
    tx[i] = cells[2] as number;
    T[i] = cells[3] as number;
  });
  return { x, tx, T };
}

/** MBG/NBD customers over 1–2 years, times cut to whole days as the value stage has them. */
function simulatedDays() {
  const sim = simulateMbgNbd({ r: 0.8, alpha: 40, a: 0.6, b: 4 }, 30_000, { minT: 30, maxT: 730, seed: 41 });
  const T = sim.T.map((t) => Math.floor(t));
  const tx = sim.tx.map((t, i) => Math.min(Math.floor(t), T[i] as number));
  return { x: sim.x, tx, T };
}

const bytes = (a: Float64Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe.each([
  ["the CDNOW sample (weeks)", cdnowSample, 39],
  ["simulated MBG/NBD customers (days)", simulatedDays, 182],
])("%s", (_label, load, holdout) => {
  const data = load();

  it("has repeat buyers and shared triples, so that both paths have work to do", () => {
    const c = compressSummary(data);
    expect(c.x.length).toBeGreaterThan(100);
    expect(c.x.length).toBeLessThan(data.x.length);
    expect(data.x.some((v) => v > 0)).toBe(true);
  });

  it.each(REPEAT_MODEL_NAMES)("fits %s on a grouping given to it as on its own", (name) => {
    const model = REPEAT_MODELS[name];
    const own = model.fit(data.x, data.tx, data.T);
    const given = model.fit(data.x, data.tx, data.T, { compressed: compressSummary(data) });
    expect(given).toEqual(own);
    for (const key of model.paramNames) {
      expect(Object.is(given.params[key], own.params[key]), key).toBe(true);
    }
    expect(Object.is(given.logLikelihood, own.logLikelihood)).toBe(true);
    // From another start too (the refit on all the data starts from the calibration estimate).
    const initial = Object.fromEntries(model.paramNames.map((k) => [k, (own.params[k] as number) * 1.3]));
    expect(model.fit(data.x, data.tx, data.T, { initial, compressed: compressSummary(data) })).toEqual(
      model.fit(data.x, data.tx, data.T, { initial }),
    );
  });

  it.each(REPEAT_MODEL_NAMES)("predicts %s's holdout purchases from shared groups as on its own", (name) => {
    const model = REPEAT_MODELS[name];
    const { params } = model.fit(data.x, data.tx, data.T);
    const groups = tripleGroups(data);
    const own = predictPurchases(model, params, holdout, data);
    const shared = predictPurchases(model, params, holdout, data, groups);
    expect(own.some((v) => v > 0)).toBe(true);
    expect(bytes(shared).equals(bytes(own))).toBe(true);
  });

  it.each(REPEAT_MODEL_NAMES)(
    "scores every customer with %s from a grouping given to it as on its own",
    (name) => {
      const model = REPEAT_MODELS[name];
      const { params } = model.fit(data.x, data.tx, data.T);
      const values = { ...data, mx: data.x.map((x, i) => (x > 0 ? 10 + (i % 7) : 0)) };
      const models = { bgNbd: null, gammaGamma: { p: 6, q: 4, gamma: 15 }, repeat: { model, params } };
      const options = { horizonPeriods: 12, timeUnitsPerYear: holdout === 39 ? 365.25 / 7 : 365.25 };
      const own = predictAll(values, models, options);
      const given = predictAll(values, models, { ...options, compressed: compressSummary(data) });
      for (const key of ["probabilityAlive", "expectedPurchases", "expectedValue", "clv"] as const) {
        expect(bytes(given[key]).equals(bytes(own[key])), key).toBe(true);
      }
      expect(own.clv.some((v) => v > 0)).toBe(true);
    },
  );

  it("refuses a grouping of other customers", () => {
    const other = compressSummary({ x: data.x.slice(1), tx: data.tx.slice(1), T: data.T.slice(1) });
    expect(() => REPEAT_MODELS.mbgNbd.fit(data.x, data.tx, data.T, { compressed: other })).toThrow(
      ClvInputError,
    );
    expect(() =>
      predictAll(
        { ...data, mx: data.x },
        {
          bgNbd: null,
          gammaGamma: null,
          repeat: { model: REPEAT_MODELS.mbgNbd, params: { r: 1, alpha: 5, a: 1, b: 3 } },
        },
        { compressed: other },
      ),
    ).toThrow(ClvInputError);
  });
});
