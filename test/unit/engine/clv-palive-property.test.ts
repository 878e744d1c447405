/**
 * Properties every repeat-purchase model (shared/engine/clv/models.ts) must have, over wide ranges of
 * parameters (each from e^−5 to e^5) and customers (x up to 5,000, ages up to 50,000 periods). fast-check runs
 * are seeded, so a failure reproduces.
 *
 * - For a fixed frequency x and last-purchase time t_x, P(alive) never rises as the time since the last
 *   purchase (T − t_x) grows: a customer who keeps not buying can only look more likely to be gone.
 * - One-time buyers (x = 0): under Pareto/NBD and MBG/NBD, P(alive) < 1 as soon as any time has passed; under
 *   BG/NBD it is exactly 1 whatever the time, since BG/NBD lets a customer drop out only after a repeat
 *   purchase (the layers that present BG/NBD's P(alive) must say so).
 * - P(alive) is in [0, 1]; the expected purchases are finite, >= 0, and at most what a customer who never
 *   drops out would make, t · (r+x)/(α+T) (the posterior mean rate times the horizon), up to 1e-9 relative
 *   and 1e-9 absolute (the closed forms' rounding near their removable singularities, e.g. a = 1, is of order
 *   1e-11 purchases); the log-likelihood is finite.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { REPEAT_MODEL_NAMES, REPEAT_MODELS } from "../../../shared/engine/clv";

const SEED = 20261207;
const logUniform = fc.double({ min: -5, max: 5, noNaN: true }).map(Math.exp);
const frequency = fc.oneof(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 5000 }));
const time = fc.oneof(
  fc.double({ min: 0, max: 100, noNaN: true }),
  fc.double({ min: 0, max: 50_000, noNaN: true }),
);

function paramsFor(names: readonly string[], values: number[]): Record<string, number> {
  return Object.fromEntries(names.map((name, j) => [name, values[j] as number]));
}

const fourParams = fc.tuple(logUniform, logUniform, logUniform, logUniform);

describe.each(REPEAT_MODEL_NAMES)("%s: P(alive) and expectations", (name) => {
  const model = REPEAT_MODELS[name];

  it("P(alive) never rises as the time since the last purchase grows", () => {
    fc.assert(
      fc.property(fourParams, frequency, time, time, time, (values, x, txRaw, gap1, gap2) => {
        const params = paramsFor(model.paramNames, values);
        const tx = x === 0 ? 0 : txRaw;
        const [near, far] = gap1 <= gap2 ? [gap1, gap2] : [gap2, gap1];
        const before = model.probabilityAlive(params, x, tx, tx + near);
        const after = model.probabilityAlive(params, x, tx, tx + far);
        expect(before >= 0 && before <= 1 && after >= 0 && after <= 1).toBe(true);
        expect(after).toBeLessThanOrEqual(before + 1e-12);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it(
    name === "bgNbd"
      ? "P(alive) of a one-time buyer is exactly 1 at any age (BG/NBD's dropout follows repeat purchases only)"
      : "P(alive) of a one-time buyer is below 1 once any time has passed",
    () => {
      fc.assert(
        fc.property(fourParams, fc.double({ min: 0.01, max: 50_000, noNaN: true }), (values, T) => {
          const alive = model.probabilityAlive(paramsFor(model.paramNames, values), 0, 0, T);
          if (name === "bgNbd") expect(alive).toBe(1);
          else expect(alive).toBeLessThan(1);
        }),
        { seed: SEED, numRuns: 300 },
      );
    },
  );

  it("expected purchases are finite, >= 0 and within the no-dropout bound; the log-likelihood is finite", () => {
    fc.assert(
      fc.property(
        fourParams,
        frequency,
        time,
        time,
        fc.double({ min: 0, max: 5000, noNaN: true }),
        (values, x, txRaw, gap, t) => {
          const params = paramsFor(model.paramNames, values);
          const tx = x === 0 ? 0 : txRaw;
          const T = tx + gap;
          const expected = model.expectedPurchases(params, t, x, tx, T);
          expect(Number.isFinite(expected) && expected >= 0).toBe(true);
          const r = params.r as number;
          const alpha = params.alpha as number;
          expect(expected).toBeLessThanOrEqual((((r + x) * t) / (alpha + T)) * (1 + 1e-9) + 1e-9);
          const fresh = model.expectedPurchasesNewCustomer(params, t);
          expect(Number.isFinite(fresh) && fresh >= 0).toBe(true);
          expect(Number.isFinite(model.logLikelihood(params, [x], [tx], [T]))).toBe(true);
        },
      ),
      { seed: SEED, numRuns: 300 },
    );
  });
});
