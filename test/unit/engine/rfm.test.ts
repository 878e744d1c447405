/**
 * RFM: the hand-worked fixture (test/fixtures/engine/rfm-small.expected.md has the working), quintile scores
 * against a direct count, the segment grid cell by cell, and computation edge cases.
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
  reverseQuintileScores,
  rfmSegmentCode,
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
          meanProbabilityAlive: null,
        };
      }),
    );
  });
});

describe("quintile scores", () => {
  const naive = (values: number[], better: (a: number, b: number) => boolean) =>
    values.map((v) => 1 + Math.floor((5 * values.filter((w) => better(v, w)).length) / values.length));

  it("equal 1 + ⌊5·(number strictly worse)/N⌋ counted directly, ties included", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer({ min: -3, max: 6 }), fc.integer({ min: -1e9, max: 1e9 })), {
          minLength: 1,
          maxLength: 60,
        }),
        (values) => {
          expect([...quintileScores(values)]).toEqual(naive(values, (v, w) => w < v));
          expect([...reverseQuintileScores(values)]).toEqual(naive(values, (v, w) => w > v));
        },
      ),
      { seed: SEED, numRuns: 500 },
    );
  });

  it("split distinct values into five equal classes", () => {
    expect([...quintileScores([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])]).toEqual([1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
    expect([...reverseQuintileScores([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])]).toEqual([
      5, 5, 4, 4, 3, 3, 2, 2, 1, 1,
    ]);
    expect([...quintileScores([7, 7, 7])]).toEqual([1, 1, 1]);
    expect([...reverseQuintileScores([7, 7, 7])]).toEqual([1, 1, 1]);
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

describe("computation", () => {
  async function stateOf(text: string) {
    const state = new AggregateState();
    await ingestTransactions(textSource(text), { format: "csv" }, state);
    return state;
  }

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
