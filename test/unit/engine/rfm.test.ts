/**
 * RFM: the hand-worked fixture (test/fixtures/engine/rfm-small.expected.md has the working), the scores'
 * properties (ties kept, all five used, monotone, rank quintiles where no tie spans a fifth) and a direct count
 * of their rule, hand-worked tied data, fixed thresholds, the segment grid cell by cell, and computation edge
 * cases.
 */
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { computeSegments } from "../../../shared/engine/compute";
import { ComputeError } from "../../../shared/engine/errors";
import { ingestTransactions } from "../../../shared/engine/ingest";
import {
  fmScore,
  quintileScores,
  RFM_SEGMENTS,
  type RfmSettings,
  resolveRfmThresholds,
  reverseQuintileScores,
  reverseThresholdScores,
  rfmSegmentCode,
  thresholdScores,
} from "../../../shared/engine/rfm";
import { AggregateState } from "../../../shared/engine/state";
import type { RowError } from "../../../shared/engine/types";
import { chunked, textSource } from "./byte-source";

const SEED = 42;
const fixture = (name: string) => new URL(`../../fixtures/engine/${name}`, import.meta.url);

interface Expected {
  asOf: string;
  report: Record<string, number>;
  rowErrors: { row: number; column: string; code: string }[];
  stateCustomers: number;
  customerCount: number;
  customers: Record<string, unknown>[];
  segments: { id: string; size: number; revenueCents: number; orders: number }[];
  totalRevenueCents: number;
}

describe("the hand-worked fixture", () => {
  const expected = JSON.parse(readFileSync(fixture("rfm-small.expected.json"), "utf8")) as Expected;

  it("gives every customer the values, scores and segment worked out by hand, and the segment economics", async () => {
    const errors: RowError[] = [];
    const state = new AggregateState();
    const report = await ingestTransactions(
      chunked(readFileSync(fixture("rfm-small.csv")), [5, 100, 101, 333]),
      { format: "csv", onRowError: (e) => errors.push(e) },
      state,
    );
    expect(report).toEqual(expected.report);
    expect(errors.map(({ row, column, code }) => ({ row, column, code }))).toEqual(expected.rowErrors);
    expect(state.customerCount).toBe(expected.stateCustomers);

    const result = computeSegments(state, { asOf: expected.asOf, clusters: false, value: false });
    expect(result.asOf).toBe(expected.asOf);
    expect(result.customerCount).toBe(expected.customerCount);
    expect(Array.from({ length: result.customerCount }, (_, i) => result.customer(i))).toEqual(
      expected.customers,
    );

    const total = expected.totalRevenueCents;
    expect(result.segments.filter((s) => s.family === "rfm")).toEqual(
      expected.segments.map((s) => {
        const definition = RFM_SEGMENTS.find((d) => d.id === s.id);
        return {
          id: s.id,
          family: "rfm",
          name: definition?.name,
          description: definition?.description,
          size: s.size,
          share: s.size / expected.customerCount,
          revenue: s.revenueCents / 100,
          revenueShare: s.revenueCents / total,
          averageOrderValue: s.orders === 0 ? 0 : s.revenueCents / 100 / s.orders,
          meanClv: null,
          meanClvLow: null,
          meanClvHigh: null,
          meanProbabilityAlive: null,
        };
      }),
    );
  });
});

/** Scores of each value, worked out directly from the rule of rfm.ts over the distinct values (worst first). */
function referenceScores(values: readonly number[], higherIsBetter: boolean): number[] {
  const worse = (a: number, b: number) => (higherIsBetter ? a < b : a > b);
  const distinct = [...new Set(values)].sort((a, b) => (worse(a, b) ? -1 : worse(b, a) ? 1 : 0));
  const n = values.length;
  const d = distinct.length;
  const score = new Map<number, number>();
  let previous = 0;
  distinct.forEach((v, j) => {
    const below = values.filter((w) => worse(w, v)).length;
    let s = 1 + Math.floor((5 * below) / n);
    if (d >= 5) s = Math.max(Math.min(s, previous + 1), 5 - (d - 1 - j));
    score.set(v, s);
    previous = s;
  });
  return values.map((v) => score.get(v) as number);
}

const columns = fc.array(
  fc.oneof(
    fc.integer({ min: 1, max: 6 }),
    fc.constantFrom(1, 1, 1, 2),
    fc.integer({ min: -1e9, max: 1e9 }),
    fc.double({ min: -1e6, max: 1e6, noNaN: true }),
  ),
  { minLength: 1, maxLength: 80 },
);

describe("data-driven scores", () => {
  const both = (values: number[]) => [
    { values, scores: [...quintileScores(values)], better: (a: number, b: number) => a > b },
    { values, scores: [...reverseQuintileScores(values)], better: (a: number, b: number) => a < b },
  ];

  it("never split a tie, and never score a better value lower", () => {
    fc.assert(
      fc.property(columns, (values) => {
        for (const { scores, better } of both(values)) {
          for (let i = 0; i < values.length; i++) {
            for (let k = 0; k < values.length; k++) {
              const vi = values[i] as number;
              const vk = values[k] as number;
              if (vi === vk) expect(scores[i]).toBe(scores[k]);
              if (better(vi, vk)) expect(scores[i]).toBeGreaterThanOrEqual(scores[k] as number);
            }
          }
        }
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it("use all five scores when there are five or more distinct values", () => {
    fc.assert(
      fc.property(columns, (values) => {
        fc.pre(new Set(values).size >= 5);
        for (const { scores } of both(values)) expect(new Set(scores)).toEqual(new Set([1, 2, 3, 4, 5]));
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it("are the rank quintiles 1 + ⌊5·(number strictly worse)/N⌋ when no value is held by more than a fifth", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: -1e6, max: 1e6 }), { minLength: 10, maxLength: 60 }),
        (unique) => {
          // Each value at most twice among at least fifteen: no tie group exceeds a fifth.
          const values = [...unique, ...unique.slice(0, Math.floor(unique.length / 2))];
          const naive = (better: (a: number, b: number) => boolean) =>
            values.map(
              (v) => 1 + Math.floor((5 * values.filter((w) => better(v, w)).length) / values.length),
            );
          expect([...quintileScores(values)]).toEqual(naive((v, w) => w < v));
          expect([...reverseQuintileScores(values)]).toEqual(naive((v, w) => w > v));
        },
      ),
      { seed: SEED, numRuns: 200 },
    );
  });

  it("follow the rule over distinct values, counted directly", () => {
    fc.assert(
      fc.property(columns, (values) => {
        expect([...quintileScores(values)]).toEqual(referenceScores(values, true));
        expect([...reverseQuintileScores(values)]).toEqual(referenceScores(values, false));
      }),
      { seed: SEED, numRuns: 500 },
    );
  });

  it("on tied data, worked by hand", () => {
    // Purchase days of 11 customers: 1 (six), 2 (two), 3, 4, 9. D = 5, N = 11, below = 0, 6, 8, 9, 10, so the
    // rank quintiles 1 + ⌊5·below/11⌋ are 1, 3, 4, 5, 5: F = 2 would be empty. No skip: 1, 2, 3, 4; the
    // floors 5 − (5 − j) = 1 … 5 lift the best value to 5.
    const f = [1, 2, 1, 9, 1, 3, 1, 4, 1, 2, 1];
    expect([...quintileScores(f)]).toEqual([1, 2, 1, 5, 1, 3, 1, 4, 1, 2, 1]);
    // Recency of 10 customers: 0 days (five), 10, 20, 30, 40, 50. Worst first: 50, 40, 30, 20, 10, 0 with
    // below = 0 … 5, so q = 1, 1, 2, 2, 3, 3 (nobody would score R 4 or 5); floors j − 1 = 0 … 5 (j = 1 … 6)
    // make them 1, 1, 2, 3, 4, 5.
    const r = [0, 50, 0, 40, 0, 30, 0, 20, 0, 10];
    expect([...reverseQuintileScores(r)]).toEqual([5, 1, 5, 1, 5, 2, 5, 3, 5, 4]);
    // Fewer than five distinct values: the rank quintiles, ties together. 1 (six) → 1; 2 (two): 1 + ⌊30/10⌋ =
    // 4; 3: 1 + ⌊40/10⌋ = 5; 7: 1 + ⌊45/10⌋ = 5.
    expect([...quintileScores([1, 1, 2, 1, 3, 1, 7, 1, 2, 1])]).toEqual([1, 1, 4, 1, 5, 1, 5, 1, 4, 1]);
    expect([...quintileScores([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])]).toEqual([1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
    expect([...reverseQuintileScores([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])]).toEqual([
      5, 5, 4, 4, 3, 3, 2, 2, 1, 1,
    ]);
    expect([...quintileScores([7, 7, 7])]).toEqual([1, 1, 1]);
    expect([...reverseQuintileScores([7, 7, 7])]).toEqual([1, 1, 1]);
  });
});

describe("fixed thresholds", () => {
  const cuts = fc
    .uniqueArray(fc.integer({ min: 0, max: 400 }), { minLength: 4, maxLength: 4 })
    .map((a) => a.sort((x, y) => x - y));

  it("apply the cut points exactly: F and M 1 + #{cuts ≤ value}, R 5 − #{cuts < recency}", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 400 }), { maxLength: 50 }), cuts, (values, t) => {
        expect([...thresholdScores(values, t)]).toEqual(
          values.map((v) => 1 + t.filter((c) => c <= v).length),
        );
        expect([...reverseThresholdScores(values, t)]).toEqual(
          values.map((v) => 5 - t.filter((c) => c < v).length),
        );
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it("score values at and around each cut as documented", () => {
    // f: [2, 3, 5, 10]: one purchase day 1, two 2, three or four 3, five to nine 4, ten or more 5.
    expect([...thresholdScores([1, 2, 3, 4, 5, 9, 10, 50], [2, 3, 5, 10])]).toEqual([1, 2, 3, 3, 4, 4, 5, 5]);
    // r: [30, 90, 180, 365]: within 30 days 5, 31–90 4, 91–180 3, 181–365 2, older 1.
    expect([...reverseThresholdScores([0, 30, 31, 90, 91, 180, 181, 365, 366], [30, 90, 180, 365])]).toEqual([
      5, 5, 4, 4, 3, 3, 2, 2, 1,
    ]);
  });

  it("are checked, naming the field at fault, and m cut points become cents", () => {
    expect(resolveRfmThresholds(undefined)).toEqual({});
    expect(resolveRfmThresholds({ thresholds: { m: [10, 49.99, 100, 250.5] } })).toEqual({
      m: [1000, 4999, 10000, 25050],
    });
    const bad: [unknown, string][] = [
      [[], "rfm"],
      [{ limits: {} }, "rfm.limits"],
      [{ thresholds: [] }, "rfm.thresholds"],
      [{ thresholds: { x: [1, 2, 3, 4] } }, "rfm.thresholds.x"],
      [{ thresholds: { f: [1, 2, 3] } }, "rfm.thresholds.f"],
      [{ thresholds: { f: [0, 2, 3, 4] } }, "rfm.thresholds.f[0]"],
      [{ thresholds: { f: [1, 2, 2.5, 4] } }, "rfm.thresholds.f[2]"],
      [{ thresholds: { r: [30, 90, 90, 365] } }, "rfm.thresholds.r[2]"],
      [{ thresholds: { r: [-1, 90, 180, 365] } }, "rfm.thresholds.r[0]"],
      [{ thresholds: { m: [10, 20, 30.001, 40] } }, "rfm.thresholds.m[2]"],
      [{ thresholds: { m: [10, 20, "30", 40] } }, "rfm.thresholds.m[2]"],
      [{ thresholds: { m: [10, 20, 40, Number.POSITIVE_INFINITY] } }, "rfm.thresholds.m[3]"],
    ];
    for (const [settings, field] of bad) {
      const thrown = (() => {
        try {
          resolveRfmThresholds(settings as RfmSettings);
        } catch (error) {
          return error;
        }
        return undefined;
      })();
      expect(thrown).toBeInstanceOf(ComputeError);
      expect({ code: (thrown as ComputeError).code, field: (thrown as ComputeError).field }).toEqual({
        code: "BAD_RFM_THRESHOLDS",
        field,
      });
    }
  });

  it("are used by the computation instead of the ranks, dimension by dimension", async () => {
    const state = await stateOf(
      [
        "customer_id,order_id,order_date,amount",
        "a,1,2024-01-10,10.00",
        "a,2,2024-01-10,5.00",
        "b,3,2023-06-01,100.00",
        "b,4,2023-07-01,150.00",
        "b,5,2023-08-01,0.01",
        "c,6,2024-01-30,49.99",
      ].join("\n"),
    );
    const result = computeSegments(state, {
      asOf: "2024-02-01",
      clusters: false,
      value: false,
      rfm: { thresholds: { r: [7, 30, 90, 180], m: [15, 50, 100, 250.01] } },
    });
    // a: recency 22 (≤ 30 → 4), one purchase day (two orders), 15.00 (≥ 15 → 2). b: recency 184 (> 180 → 1),
    // 250.01 (≥ 250.01 → 5). c: recency 2 → 5, 49.99 (< 50 → 2). F from the data: purchase days 1, 3, 1 → D = 2,
    // rank quintiles 1, 1 + ⌊5·2/3⌋ = 4, 1.
    const scores = [0, 1, 2].map((i) => result.customer(i)).map((c) => [c.customerId, c.r, c.f, c.m]);
    expect(scores).toEqual([
      ["a", 4, 1, 2],
      ["b", 1, 4, 5],
      ["c", 5, 1, 2],
    ]);
    expect(() =>
      computeSegments(state, { asOf: "2024-02-01", rfm: { thresholds: { f: [3, 2, 5, 9] } } }),
    ).toThrow(/four increasing cut points/);
  });
});

describe("segments", () => {
  it("follow the grid for all 125 score triples", () => {
    const grid: Record<number, string[]> = {
      5: ["new-customers", "potential-loyalist", "loyal", "champions", "champions"],
      4: ["promising", "potential-loyalist", "loyal", "champions", "champions"],
      3: ["about-to-sleep", "about-to-sleep", "need-attention", "loyal", "loyal"],
      2: ["hibernating", "hibernating", "at-risk", "at-risk", "cant-lose-them"],
      1: ["lost", "lost", "at-risk", "cant-lose-them", "cant-lose-them"],
    };
    for (let r = 1; r <= 5; r++) {
      for (let f = 1; f <= 5; f++) {
        for (let m = 1; m <= 5; m++) {
          const fm = Math.round((f + m) / 2 + 1e-9);
          expect(fmScore(f, m)).toBe(fm);
          expect(RFM_SEGMENTS[rfmSegmentCode(r, f, m)]?.id).toBe(`rfm:${grid[r]?.[fm - 1]}`);
        }
      }
    }
  });

  it("are eleven, with distinct ids, names and descriptions", () => {
    expect(RFM_SEGMENTS).toHaveLength(11);
    for (const key of ["id", "name", "description"] as const) {
      expect(new Set(RFM_SEGMENTS.map((s) => s[key])).size).toBe(11);
    }
  });
});

async function stateOf(text: string) {
  const state = new AggregateState();
  await ingestTransactions(textSource(text), { format: "csv" }, state);
  return state;
}

describe("computation", () => {
  it("lists every segment even when there are no customers", () => {
    const result = computeSegments(new AggregateState(), { asOf: "2024-01-01" });
    expect(result.customerCount).toBe(0);
    expect(
      result.segments
        .filter((s) => s.family === "rfm")
        .map((s) => [s.id, s.size, s.share, s.revenue, s.revenueShare, s.averageOrderValue, s.meanClv]),
    ).toEqual(RFM_SEGMENTS.map((s) => [s.id, 0, 0, 0, 0, 0, null]));
    expect(() => result.customer(0)).toThrow(RangeError);
  });

  it("ignores orders after asOf, and scores nobody whose orders are all returns", async () => {
    const state = await stateOf(
      "customer_id,order_id,order_date,amount\na,1,2024-01-10,10\na,2,2024-03-01,99\nb,3,2024-01-05,-4\nc,4,2024-03-01,5\n",
    );
    const result = computeSegments(state, { asOf: "2024-02-01" });
    expect(result.customerCount).toBe(1);
    expect(result.customer(0)).toMatchObject({
      customerId: "a",
      frequency: 1,
      monetary: 10,
      recencyDays: 22,
    });
    const later = computeSegments(state, { asOf: "2024-03-01" });
    expect(later.customerCount).toBe(2);
    expect(later.customer(0)).toMatchObject({ customerId: "a", frequency: 2, monetary: 109, recencyDays: 0 });
  });

  it("exposes columns, per-customer orders and distinct purchase days for other families", async () => {
    const state = await stateOf(
      "customer_id,order_id,order_date,amount\na,1,2024-01-10,10\nb,2,2024-01-11,5\na,3,2024-01-10,7\na,4,2024-01-12,-2\na,5,2024-01-20,1\n",
    );
    const result = computeSegments(state, { asOf: "2024-02-01" });
    expect([...result.columns.frequency]).toEqual([3, 1]);
    expect([...result.columns.returns]).toEqual([1, 0]);
    expect([...result.columns.monetaryCents]).toEqual([1600, 500]);
    expect([...result.purchaseDays()]).toEqual([2, 1]);
    const { offsets, orders } = result.customerOrders();
    expect([...offsets]).toEqual([0, 4, 5]);
    expect([...orders]).toEqual([0, 2, 3, 4, 1]);
  });

  it("rejects an asOf that is not a calendar date", () => {
    for (const asOf of ["", "2024-02-30", "2024-01-01T00:00:00Z", "yesterday"]) {
      expect(() => computeSegments(new AggregateState(), { asOf })).toThrow(ComputeError);
    }
  });
});
