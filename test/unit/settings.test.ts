/**
 * Settings the API accepts must not fail the runs they start (reliability property 7: bad input is refused
 * up front with the field at fault, not turned into a run that fails on every retry). Every settings object
 * the schema accepts, partial ones included, the engine computes with, as a run hands it over
 * (computeSettingsFor); and the evaluation date, the one free-form value, is accepted by the schema exactly
 * when the engine can compute with it.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AggregateState, computeSegments } from "../../shared/engine";
import { ComputeError } from "../../shared/engine/errors";
import { ingestTransactions } from "../../shared/engine/ingest";
import { datasetMetaSchema, datasetSettingsSchema } from "../../shared/model";
import { computeSettingsFor } from "../../shared/pipeline/run";
import { fuzzRuns, fuzzSeed } from "../support/fuzz";
import { textSource } from "./engine/byte-source";

// Forty customers with one to four orders over 2024, enough for clusters and value models to be fitted.
const rows = ["customer_id,order_id,order_date,amount"];
for (let c = 0; c < 40; c++) {
  for (let o = 0; o <= c % 4; o++) {
    rows.push(
      `c${c},o${c}-${o},2024-${String(1 + ((c + 3 * o) % 12)).padStart(2, "0")}-15,${5 + c * 3 + o}.00`,
    );
  }
}
const state = new AggregateState();
await ingestTransactions(textSource(`${rows.join("\n")}\n`), { format: "csv" }, state);

/** Whether the engine computes with this evaluation date (throws BAD_AS_OF when it cannot). */
function engineTakes(asOf: string): boolean {
  try {
    computeSegments(state, { asOf, clusters: false, value: false, rules: [] });
    return true;
  } catch (error) {
    if (error instanceof ComputeError && error.code === "BAD_AS_OF") return false;
    throw error;
  }
}

describe("settings.asOf", () => {
  it.each([
    ["2024-02-29", true],
    ["2025-02-28", true],
    ["2025-02-29", false],
    ["2025-02-31", false],
    ["2025-13-01", false],
    ["2025-00-10", false],
    ["2025-04-31", false],
  ])("%s is accepted: %s, by the schema and by the engine alike", (asOf, valid) => {
    const parsed = datasetSettingsSchema.safeParse({ asOf });
    expect(parsed.success).toBe(valid);
    if (!parsed.success) expect(parsed.error.issues[0]?.path).toEqual(["asOf"]);
    expect(engineTakes(asOf)).toBe(valid);
  });

  it("is accepted by the schema exactly when the engine can compute with it", () => {
    const digits = (n: number, width: number) => String(n).padStart(width, "0");
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 9999 }),
        fc.integer({ min: 0, max: 13 }),
        fc.integer({ min: 0, max: 32 }),
        (y, m, d) => {
          const asOf = `${digits(y, 4)}-${digits(m, 2)}-${digits(d, 2)}`;
          expect(datasetSettingsSchema.safeParse({ asOf }).success, asOf).toBe(engineTakes(asOf));
        },
      ),
      { seed: fuzzSeed(), numRuns: fuzzRuns(500) },
    );
  });
});

describe("settings", () => {
  const days = fc.oneof(fc.integer({ min: 1, max: 400 }), fc.integer({ min: 1, max: 3650 }));
  const k = fc.integer({ min: 2, max: 20 });
  /** Mostly four increasing cut points in range, which the schema accepts; sometimes anything. */
  const increasing = (valid: fc.Arbitrary<number>, any: fc.Arbitrary<number>) =>
    fc.oneof(
      {
        weight: 9,
        arbitrary: fc.uniqueArray(valid, { minLength: 4, maxLength: 4 }).map((a) => a.sort((x, y) => x - y)),
      },
      { weight: 1, arbitrary: fc.array(any, { minLength: 3, maxLength: 5 }) },
    );
  const settings = fc.record(
    {
      asOf: fc.constantFrom("2024-12-31", "2025-06-30"),
      lifecycle: fc.oneof(
        fc.record({ newDays: days, activeDays: days, lapsedDays: days }, { requiredKeys: [] }),
        // Mostly windows in the right order, which the schema accepts.
        fc
          .tuple(days, days, days)
          .map((w) => w.sort((a, b) => a - b))
          .map(([a, b, c]) => ({ newDays: a, activeDays: b, lapsedDays: c + 1 })),
      ),
      clusters: fc.record(
        { enabled: fc.boolean(), k, kMin: k, kMax: k, seed: fc.integer({ min: 0, max: 1000 }) },
        { requiredKeys: [] },
      ),
      rfm: fc.record({
        thresholds: fc.record(
          {
            r: increasing(fc.integer({ min: 0, max: 400 }), fc.integer({ min: -2, max: 400 })),
            f: increasing(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 0, max: 20 })),
            m: increasing(
              fc.integer({ min: -10_000, max: 500_000 }).map((cents) => cents / 100),
              fc.double({ min: -100, max: 5000, noNaN: true }),
            ),
          },
          { requiredKeys: [] },
        ),
      }),
      value: fc.record(
        {
          enabled: fc.boolean(),
          horizonDays: days,
          annualDiscountRate: fc.double({ min: 0, max: 1, noNaN: true }),
        },
        { requiredKeys: [] },
      ),
      segmentBy: fc.oneof(
        // Mostly entries of one kind each on distinct attributes, which the schema accepts.
        {
          weight: 4,
          arbitrary: fc.uniqueArray(
            fc.oneof(
              fc.record({ attribute: fc.constant("country"), top: fc.integer({ min: 1, max: 50 }) }),
              fc.record({
                attribute: fc.constant("age"),
                breaks: fc
                  .uniqueArray(fc.double({ min: -100, max: 100, noNaN: true }), {
                    minLength: 1,
                    maxLength: 20,
                  })
                  .map((a) => a.sort((x, y) => x - y)),
              }),
              fc.record({
                attribute: fc.constant("signup"),
                cohort: fc.constantFrom("month", "quarter", "year"),
              }),
              fc.record({ attribute: fc.constant("x y") }),
            ),
            { maxLength: 4, selector: (e) => e.attribute },
          ),
        },
        // Sometimes names that repeat or share a slug, keys that do not fit the type, breaks out of order.
        {
          weight: 1,
          arbitrary: fc.array(
            fc.record(
              {
                attribute: fc.constantFrom("country", "Country", "age", "signup", "x y"),
                type: fc.constantFrom("categorical", "numeric", "date"),
                top: fc.integer({ min: 0, max: 51 }),
                breaks: fc.array(fc.integer({ min: -50, max: 50 }), { maxLength: 4 }),
                cohort: fc.constantFrom("month", "quarter", "year"),
              },
              { requiredKeys: ["attribute"] },
            ),
            { maxLength: 3 },
          ),
        },
      ),
    },
    { requiredKeys: [] },
  );

  it("the schema accepts are computed with, as a run hands them to the engine", () => {
    let accepted = 0;
    fc.assert(
      fc.property(settings, (raw) => {
        const parsed = datasetSettingsSchema.safeParse(raw);
        if (!parsed.success) return;
        accepted++;
        const meta = datasetMetaSchema.parse({
          tenantId: "t",
          datasetId: "d",
          createdAt: "2024-01-01T00:00:00.000Z",
          settings: parsed.data,
        });
        try {
          computeSegments(state, computeSettingsFor(meta, parsed.data.asOf ?? "2025-01-01", []));
        } catch (error) {
          if (error instanceof ComputeError) {
            throw new Error(
              `accepted settings fail a run: ${error.code} ${error.field}: ${JSON.stringify(raw)}`,
            );
          }
          throw error;
        }
      }),
      { seed: fuzzSeed(), numRuns: fuzzRuns(200) },
    );
    expect(accepted).toBeGreaterThan(50);
    // Some 150 computations with clusters and value models: minutes on a busy machine; the limit catches a hang.
  }, 600_000);

  it.each([
    [{ lifecycle: { newDays: 200 } }, "lifecycle.newDays"],
    [{ lifecycle: { activeDays: 200 } }, "lifecycle.activeDays"],
    [{ lifecycle: { lapsedDays: 60 } }, "lifecycle.lapsedDays"],
    [{ clusters: { kMax: 2 } }, "clusters.kMin"],
    [{ rfm: { thresholds: { f: [1, 3, 3, 9] } } }, "rfm.thresholds.f.2"],
    [{ rfm: { thresholds: { m: [10, 20.005, 30, 40] } } }, "rfm.thresholds.m.1"],
    [{ rfm: { thresholds: { r: [30, 90, 180] } } }, "rfm.thresholds.r"],
    [{ rfm: { thresholds: { x: [1, 2, 3, 4] } } }, "rfm.thresholds"],
    [{ segmentBy: [{ attribute: "country" }, { attribute: "country", top: 3 }] }, "segmentBy.1.attribute"],
    [{ segmentBy: [{ attribute: "Country" }, { attribute: "country " }] }, "segmentBy.1.attribute"],
    [{ segmentBy: [{ attribute: "age", type: "numeric" }] }, "segmentBy.0.breaks"],
    [{ segmentBy: [{ attribute: "age", breaks: [18, 25, 25] }] }, "segmentBy.0.breaks.2"],
    [{ segmentBy: [{ attribute: "age", breaks: [18], top: 3 }] }, "segmentBy.0.top"],
    [{ segmentBy: [{ attribute: "age", top: 0 }] }, "segmentBy.0.top"],
    [{ segmentBy: [{ attribute: "signup", cohort: "week" }] }, "segmentBy.0.cohort"],
    [{ segmentBy: [{ attribute: "age", colour: "red" }] }, "segmentBy.0"],
  ])("%j, which a run would fail on with the defaults filled in, is refused at %s", (raw, path) => {
    const parsed = datasetSettingsSchema.safeParse(raw);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((i) => i.path.join("."))).toEqual([path]);
  });
});

describe("settings.rfm", () => {
  it("reaches the engine: fixed thresholds decide the scores of a run", () => {
    const settings = datasetSettingsSchema.parse({
      rfm: {
        thresholds: { r: [0, 1, 2, 3], f: [2, 3, 4, 5], m: [1_000_000, 1_000_001, 1_000_002, 1_000_003] },
      },
    });
    const meta = datasetMetaSchema.parse({
      tenantId: "t",
      datasetId: "d",
      createdAt: "2024-01-01",
      settings,
    });
    const result = computeSegments(state, {
      ...computeSettingsFor(meta, "2025-06-30", []),
      clusters: false,
      value: false,
    });
    // Every order is in 2024, more than 3 days before 2025-06-30 (R 1); nobody spent 10,000 (M 1); F is 1 for
    // one purchase day, else its number of days capped at 5 (the fixture's days: c % 4 + 1, months apart).
    for (let i = 0; i < result.customerCount; i++) {
      const c = result.customer(i);
      const days = (Number(c.customerId.slice(1)) % 4) + 1;
      expect([c.customerId, c.r, c.f, c.m]).toEqual([c.customerId, 1, days === 1 ? 1 : days, 1]);
    }
  });
});
