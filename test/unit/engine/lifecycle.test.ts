/**
 * Lifecycle stages on a fixture worked out by hand, as of 2024-07-01. Days before asOf, counted by hand
 * (2024 is a leap year): 06-25 → 6, 06-20 → 11, 06-11 → 20, 06-01 → 30, 05-31 → 31, 05-01 → 61,
 * 04-02 → 90, 04-01 → 91, 03-01 → 122, 01-10 → 173, 01-03 → 180, 01-02 → 181, 2023-12-23 → 191,
 * 2023-12-22 → 192, 2023-06-01 → 396, 2023-05-01 → 427, 2023-01-01 → 547, 2022-01-01 → 912.
 * Gaps between purchase days: 2023-06-01 → 2024-06-20 = 396 − 11 = 385; 2023-12-23 → 2024-06-20 = 180;
 * 2023-12-22 → 2024-06-20 = 181; 2024-05-01 → 06-25 = 55; 06-11 → 06-29 = 18; 2022-01-01 → 2024-03-01 = 790.
 */
import { describe, expect, it } from "vitest";
import { computeSegments } from "../../../shared/engine/compute";
import { ComputeError } from "../../../shared/engine/errors";
import { ingestTransactions } from "../../../shared/engine/ingest";
import {
  LIFECYCLE_DEFAULTS,
  LIFECYCLE_NEW,
  LIFECYCLE_REACTIVATED,
  LIFECYCLE_STAGES,
  lifecycleStage,
  NO_DAY,
  resolveLifecycleWindows,
} from "../../../shared/engine/lifecycle";
import { RFM_SEGMENTS } from "../../../shared/engine/rfm";
import { AggregateState } from "../../../shared/engine/state";
import type { ComputeSettings } from "../../../shared/engine/types";
import { textSource } from "./byte-source";

const AS_OF = "2024-07-01";

// One customer per line of the table; orders in file order. Amounts do not matter here except their sign.
const ORDERS: [customer: string, date: string, amount: number][] = [
  ["N6", "2024-06-25", 10],
  ["N30", "2024-06-01", 10],
  ["N31", "2024-05-31", 10],
  ["NEWMULTI", "2024-06-11", 10],
  ["NEWMULTI", "2024-06-29", 10],
  ["A90", "2024-01-10", 10],
  ["A90", "2024-04-02", 10],
  ["R91", "2024-04-01", 10],
  ["R180", "2024-01-03", 10],
  ["L181", "2024-01-02", 10],
  ["VERYOLD", "2023-06-01", 10],
  ["RE", "2023-06-01", 10],
  ["RE", "2024-06-20", 10],
  ["GAP180", "2023-12-23", 10],
  ["GAP180", "2024-06-20", 10],
  ["GAP181", "2023-12-22", 10],
  ["GAP181", "2024-06-20", 10],
  // Days out of order, and two orders on the last day: the previous purchase day is still 2023-06-01.
  ["REUNORD", "2024-06-20", 10],
  ["REUNORD", "2023-05-01", 10],
  ["REUNORD", "2024-06-20", 15],
  ["REUNORD", "2023-06-01", 10],
  // A return in the gap is not a purchase, and an order after asOf is not seen.
  ["RETURN", "2023-06-01", 10],
  ["RETURN", "2024-03-01", -10],
  ["RETURN", "2024-06-20", 10],
  ["RETURN", "2024-07-05", 10],
  ["BACK", "2023-01-01", 10],
  ["BACK", "2024-05-01", 10],
  ["BACK", "2024-06-25", 10],
  ["OLDRE", "2022-01-01", 10],
  ["OLDRE", "2024-03-01", 10],
];

// customer: [first purchase days, recency, gap before the last purchase day or "—"]
//                     defaults (30/90/180)                  newDays 7, activeDays 30, lapsedDays 365
const EXPECTED: Record<string, [defaults: string, custom: string]> = {
  N6: ["new", "new"], // first 6
  N30: ["new", "active"], // first 30 (new edge); recency 30 (active edge)
  N31: ["active", "cooling"], // first 31, recency 31
  NEWMULTI: ["new", "active"], // first 20, recency 2, gap 18
  A90: ["active", "cooling"], // first 173, recency 90 (active edge), gap 83
  R91: ["cooling", "cooling"], // recency 91
  R180: ["cooling", "cooling"], // recency 180 (cooling edge)
  L181: ["lapsed", "cooling"], // recency 181
  VERYOLD: ["lapsed", "lapsed"], // recency 396
  RE: ["reactivated", "reactivated"], // recency 11, gap 385
  GAP180: ["active", "active"], // recency 11, gap 180: not more than 180
  GAP181: ["reactivated", "active"], // recency 11, gap 181
  REUNORD: ["reactivated", "reactivated"], // recency 11, gap 385
  RETURN: ["reactivated", "reactivated"], // recency 11, gap 385 (the return on 2024-03-01 does not count)
  BACK: ["active", "active"], // recency 6, gap 55
  OLDRE: ["cooling", "cooling"], // recency 122, gap 790: reactivation needs a recent purchase
};

async function fixtureState(): Promise<AggregateState> {
  const lines = ORDERS.map(([c, d, a], k) => `${c},O${k},${d},${a}`);
  const state = new AggregateState();
  await ingestTransactions(
    textSource(`customer_id,order_id,order_date,amount\n${lines.join("\n")}\n`),
    { format: "csv" },
    state,
  );
  return state;
}

function stagesOf(state: AggregateState, settings: Partial<ComputeSettings> = {}) {
  const result = computeSegments(state, { asOf: AS_OF, clusters: false, value: false, ...settings });
  const stages: Record<string, string> = {};
  for (let i = 0; i < result.customerCount; i++) {
    const c = result.customer(i);
    stages[c.customerId] = c.lifecycle;
    expect(c.segments.filter((s) => s.startsWith("lifecycle:"))).toEqual([c.lifecycle]);
  }
  return { result, stages };
}

describe("lifecycle stages", () => {
  it("follow the rules with the default windows (30, 90, 180 days), edges included", async () => {
    const { result, stages } = stagesOf(await fixtureState());
    expect(stages).toEqual(
      Object.fromEntries(Object.entries(EXPECTED).map(([c, [stage]]) => [c, `lifecycle:${stage}`])),
    );
    const sizes = Object.fromEntries(
      result.segments.filter((s) => s.family === "lifecycle").map((s) => [s.id, s.size]),
    );
    expect(sizes).toEqual({
      "lifecycle:new": 3,
      "lifecycle:active": 4,
      "lifecycle:cooling": 3,
      "lifecycle:lapsed": 2,
      "lifecycle:reactivated": 4,
    });
  });

  it("follow the dataset's own windows", async () => {
    const { result, stages } = stagesOf(await fixtureState(), {
      lifecycle: { newDays: 7, activeDays: 30, lapsedDays: 365 },
    });
    expect(stages).toEqual(
      Object.fromEntries(Object.entries(EXPECTED).map(([c, [, stage]]) => [c, `lifecycle:${stage}`])),
    );
    const descriptions = result.segments.filter((s) => s.family === "lifecycle").map((s) => s.description);
    expect(descriptions).toEqual([
      "First purchase in the last 7 days.",
      "Bought in the last 30 days.",
      "Last purchase 31 to 365 days ago.",
      "No purchase in the last 365 days.",
      "Bought in the last 30 days after more than 365 days without a purchase.",
    ]);
    expect(result.lifecycleWindows).toEqual({ newDays: 7, activeDays: 30, lapsedDays: 365 });
  });

  it("fill unset windows from the defaults", async () => {
    expect(LIFECYCLE_DEFAULTS).toEqual({ newDays: 30, activeDays: 90, lapsedDays: 180 });
    expect(resolveLifecycleWindows({ lapsedDays: 365 })).toEqual({
      newDays: 30,
      activeDays: 90,
      lapsedDays: 365,
    });
    // lapsedDays 200 instead of 180: GAP181's gap of 181 days no longer makes a comeback; L181 is cooling.
    const { stages } = stagesOf(await fixtureState(), { lifecycle: { lapsedDays: 200 } });
    expect(stages.GAP181).toBe("lifecycle:active");
    expect(stages.L181).toBe("lifecycle:cooling");
    expect(stages.RE).toBe("lifecycle:reactivated");
  });

  it("put new before reactivated, which only windows the settings refuse could make both hold", () => {
    // Bought 396 and 11 days before asOf (gap 385): new when newDays reaches 396, reactivated otherwise.
    const asOf = 20_000;
    const windows = { newDays: 400, activeDays: 90, lapsedDays: 180 };
    expect(lifecycleStage(windows, asOf, asOf - 396, asOf - 11, asOf - 396)).toBe(LIFECYCLE_NEW);
    expect(lifecycleStage(LIFECYCLE_DEFAULTS, asOf, asOf - 396, asOf - 11, asOf - 396)).toBe(
      LIFECYCLE_REACTIVATED,
    );
    expect(lifecycleStage(LIFECYCLE_DEFAULTS, asOf, asOf - 11, asOf - 11, NO_DAY)).toBe(LIFECYCLE_NEW);
    expect(() => resolveLifecycleWindows(windows)).toThrow(ComputeError);
  });

  it("have ids, names and descriptions", () => {
    expect(LIFECYCLE_STAGES.map((s) => s.id)).toEqual([
      "lifecycle:new",
      "lifecycle:active",
      "lifecycle:cooling",
      "lifecycle:lapsed",
      "lifecycle:reactivated",
    ]);
    expect(LIFECYCLE_STAGES.map((s) => s.name)).toEqual([
      "New",
      "Active",
      "Cooling",
      "Lapsed",
      "Reactivated",
    ]);
    expect(LIFECYCLE_STAGES[2]?.description).toBe("Last purchase 91 to 180 days ago.");
  });

  it("share no name with an RFM segment, so a stage never reads as a segment of scores", () => {
    const rfmNames = new Set(RFM_SEGMENTS.map((s) => s.name.toLowerCase()));
    for (const stage of LIFECYCLE_STAGES) expect(rfmNames.has(stage.name.toLowerCase())).toBe(false);
    const rfmSlugs = new Set(RFM_SEGMENTS.map((s) => s.id.slice(4)));
    for (const stage of LIFECYCLE_STAGES) expect(rfmSlugs.has(stage.id.slice(10))).toBe(false);
  });

  it("read a rule naming the old stage id 'at-risk' as 'cooling'", async () => {
    const rule = (id: string, op: string, value: unknown) => ({
      id: `rule:${id}`,
      name: id,
      rule: { and: [{ field: "lifecycle", op, value }] },
    });
    const { result, stages } = stagesOf(await fixtureState(), {
      rules: [
        rule("r-eq", "eq", "at-risk"),
        rule("r-in", "in", ["at-risk", "lapsed"]),
        rule("r-neq", "neq", "at-risk"),
        rule("cooling", "eq", "cooling"),
      ],
    });
    const cooling = Object.keys(stages).filter((c) => stages[c] === "lifecycle:cooling");
    const lapsed = Object.keys(stages).filter((c) => stages[c] === "lifecycle:lapsed");
    expect(cooling.sort()).toEqual(["OLDRE", "R180", "R91"]);
    const members = (id: string) =>
      Array.from({ length: result.customerCount }, (_, i) => result.customer(i))
        .filter((c) => c.segments.includes(id))
        .map((c) => c.customerId)
        .sort();
    expect(members("rule:r-eq")).toEqual(cooling);
    expect(members("rule:r-in")).toEqual([...cooling, ...lapsed].sort());
    expect(members("rule:r-neq")).toEqual(
      Object.keys(stages)
        .filter((c) => !cooling.includes(c))
        .sort(),
    );
    expect(members("rule:r-eq")).toEqual(members("rule:cooling"));
  });

  it("refuse invalid windows with BAD_LIFECYCLE_WINDOW and the field at fault", () => {
    const state = new AggregateState();
    const cases: [unknown, string][] = [
      [{ newDays: 0 }, "lifecycle.newDays"],
      [{ newDays: -5 }, "lifecycle.newDays"],
      [{ activeDays: 1.5 }, "lifecycle.activeDays"],
      [{ lapsedDays: "180" }, "lifecycle.lapsedDays"],
      [{ lapsedDays: Number.NaN }, "lifecycle.lapsedDays"],
      [{ lapsedDays: 36_501 }, "lifecycle.lapsedDays"],
      // newDays > activeDays
      [{ newDays: 91 }, "lifecycle.newDays"],
      // activeDays >= lapsedDays
      [{ activeDays: 180 }, "lifecycle.lapsedDays"],
      [{ activeDays: 200, lapsedDays: 100 }, "lifecycle.lapsedDays"],
    ];
    for (const [lifecycle, field] of cases) {
      let caught: unknown;
      try {
        computeSegments(state, { asOf: AS_OF, lifecycle: lifecycle as ComputeSettings["lifecycle"] });
      } catch (error) {
        caught = error;
      }
      expect(caught, JSON.stringify(lifecycle)).toBeInstanceOf(ComputeError);
      expect((caught as ComputeError).code).toBe("BAD_LIFECYCLE_WINDOW");
      expect((caught as ComputeError).field).toBe(field);
    }
    // Equal new and active windows are allowed.
    expect(resolveLifecycleWindows({ newDays: 90 })).toEqual({
      newDays: 90,
      activeDays: 90,
      lapsedDays: 180,
    });
  });
});
