/**
 * Next best category (shared/engine/next-best-category.ts): the scores, ties, k threshold and bought categories
 * on a fixture worked out by hand; the hit rate on generated data with planted structure (a group that buys
 * Jazz three times as often) against the most popular category, and on data without structure; no leakage of
 * held-out orders into the calibration recommendations; the skips.
 */
import { describe, expect, it } from "vitest";
import { mulberry32 as random } from "../../../scripts/random";
import {
  calibrationSegmentsOf,
  computeSegments,
  customerTotals,
  resolveComputeSettings,
  type SpendByValue,
  segmentsFromTotals,
} from "../../../shared/engine/compute";
import { parseDay } from "../../../shared/engine/days";
import { ComputeError } from "../../../shared/engine/errors";
import { ingestTransactions } from "../../../shared/engine/ingest";
import {
  categorySpendOf,
  evaluateNextBestCategory,
  type NbcReport,
  rankCategories,
  recommendCategories,
  splitCategorySpend,
} from "../../../shared/engine/next-best-category";
import { groupOrders, positionsOf } from "../../../shared/engine/orders";
import { AggregateState } from "../../../shared/engine/state";
import { textSource } from "./byte-source";

// ---- the hand-worked fixture -------------------------------------------------------------------------------
//
// Twenty customers in two segments of ten; categories coded so that code order is not name order:
// 1 G, 2 E, 3 D, 4 C, 5 B, 6 A. What each group bought (net spend above zero):
//   s0: 4 × {A, G}   2 × {B, G}   2 × {A, C}   1 × A returned (net −5.00)   1 × only orders without a category
//   s1: 3 × {B, G}   3 × {B}      2 × {C, D}   2 × {E}
// Buyers of all 20: A 6, B 8, C 4, D 2, E 2, G 9.  Popular order: G 9, B 8, A 6, C 4, D 2 = E 2 → D, E.
// Score = b_s × lift = (x/10)² / (b/20), x the buyers in the segment, b of all:
//   s0: A 36/6 × 0.2 = 1.2 (b_s 0.6, b 0.3, lift 2);  G 36/9 × 0.2 = 0.8;  C 4/4 × 0.2 = 0.2;  B 4/8 × 0.2 = 0.1
//   s1: B 36/8 × 0.2 = 0.9;  D 4/2 × 0.2 = 0.4;  E 0.4 (tie with D, same b: name D first);
//       G 9/9 × 0.2 = 0.2 and C 4/4 × 0.2 = 0.2 (tie: G has more buyers overall, first)
// So with k = 2: s0 ranks A, G, C, B and s1 ranks B, D, E, G, C. With k = 3 only categories with ≥ 3 buyers
// in the segment stay: s0 A (6), G (6); s1 B (6), G (3).
// Recommendations, the first of the segment's ranking the customer has not bought:
//   k = 2: {A,G} → C, {B,G} → A, {A,C} → G, A returned → A, none → A; {B,G} → D, {B} → D, {C,D} → B, {E} → B
//   k = 3: {A,G} → none, {B,G} → A, {A,C} → G, A returned → A, none → A; {B,G} → none, {B} → G, {C,D} → B, {E} → B

const NAMES = ["G", "E", "D", "C", "B", "A"];
const code = (name: string) => NAMES.indexOf(name) + 1;

interface Group {
  segment: number;
  count: number;
  /** Category name (or "" for orders without one) and net cents. */
  spend: [string, number][];
  k2: string | null;
  k3: string | null;
}

const GROUPS: Group[] = [
  {
    segment: 0,
    count: 4,
    spend: [
      ["A", 1000],
      ["G", 500],
    ],
    k2: "C",
    k3: null,
  },
  {
    segment: 0,
    count: 2,
    spend: [
      ["B", 700],
      ["G", 100],
    ],
    k2: "A",
    k3: "A",
  },
  {
    segment: 0,
    count: 2,
    spend: [
      ["A", 300],
      ["C", 2000],
    ],
    k2: "G",
    k3: "G",
  },
  { segment: 0, count: 1, spend: [["A", -500]], k2: "A", k3: "A" },
  { segment: 0, count: 1, spend: [["", 4000]], k2: "A", k3: "A" },
  {
    segment: 1,
    count: 3,
    spend: [
      ["B", 100],
      ["G", 100],
      ["", 50],
    ],
    k2: "D",
    k3: null,
  },
  { segment: 1, count: 3, spend: [["B", 900]], k2: "D", k3: "G" },
  {
    segment: 1,
    count: 2,
    spend: [
      ["C", 100],
      ["D", 100],
    ],
    k2: "B",
    k3: "B",
  },
  { segment: 1, count: 2, spend: [["E", 100]], k2: "B", k3: "B" },
];

function fixture() {
  const segmentOf: number[] = [];
  const offsets = [0];
  const codes: number[] = [];
  const net: number[] = [];
  const expected: { k2: string | null; k3: string | null }[] = [];
  for (const g of GROUPS) {
    for (let i = 0; i < g.count; i++) {
      segmentOf.push(g.segment);
      for (const [name, cents] of g.spend) {
        codes.push(name === "" ? 0 : code(name));
        net.push(cents);
      }
      offsets.push(codes.length);
      expected.push({ k2: g.k2, k3: g.k3 });
    }
  }
  const spend: SpendByValue = {
    offsets: Uint32Array.from(offsets),
    codes: Uint32Array.from(codes),
    net: Float64Array.from(net),
  };
  return { segmentOf: Uint8Array.from(segmentOf), spend, expected };
}

describe("scores and recommendations worked out by hand", () => {
  it("ranks each segment's candidates by b_s × lift, ties by buyers then name; k drops thin categories", () => {
    const { segmentOf, spend } = fixture();
    const ranking = rankCategories(segmentOf, 2, spend, NAMES, 2);
    const names = (s: number) => ranking.segments[s]?.map((c) => c.name);
    expect(names(0)).toEqual(["A", "G", "C", "B"]);
    expect(names(1)).toEqual(["B", "D", "E", "G", "C"]);
    expect(ranking.popular.map((c) => NAMES[c - 1])).toEqual(["G", "B", "A", "C", "D", "E"]);
    const a = ranking.segments[0]?.[0];
    expect(a).toMatchObject({ name: "A", segmentBuyers: 6, buyers: 6 });
    expect(a?.segmentShare).toBeCloseTo(0.6, 12);
    expect(a?.share).toBeCloseTo(0.3, 12);
    expect(a?.lift).toBeCloseTo(2, 12);
    expect(a?.score).toBeCloseTo(1.2, 12);
    const scores1 = ranking.segments[1]?.map((c) => c.score) ?? [];
    for (const [got, want] of scores1.map((s, i) => [s, [0.9, 0.4, 0.4, 0.2, 0.2][i]] as const))
      expect(got).toBeCloseTo(want as number, 12);

    const k3 = rankCategories(segmentOf, 2, spend, NAMES, 3);
    expect(k3.segments[0]?.map((c) => c.name)).toEqual(["A", "G"]);
    expect(k3.segments[1]?.map((c) => c.name)).toEqual(["B", "G"]);
  });

  it("recommends the best candidate not bought yet (net spend above zero), none when all are bought", () => {
    const { segmentOf, spend, expected } = fixture();
    for (const k of [2, 3] as const) {
      const codes = recommendCategories(rankCategories(segmentOf, 2, spend, NAMES, k), segmentOf, spend, 6);
      const got = Array.from(codes, (c) => (c === 0 ? null : (NAMES[c - 1] as string)));
      expect(got).toEqual(expected.map((e) => (k === 2 ? e.k2 : e.k3)));
    }
  });
});

// ---- generated data ----------------------------------------------------------------------------------------

const AS_OF = "2024-12-31";
const AS_OF_DAY = parseDay(AS_OF) as number;
const HOLDOUT_DAYS = 90;
const CALIBRATION_END = AS_OF_DAY - HOLDOUT_DAYS;
const CATEGORIES = ["Blues", "Classical", "Country", "Folk", "Jazz", "Pop", "Rock", "Soul"];
/** The category weights of an order: Pop and Rock most popular, Jazz second to last. */
const WEIGHTS = [3.5, 2, 3, 3, 2.5, 4, 4, 3.5];
const JAZZ = CATEGORIES.indexOf("Jazz");

interface Generated {
  rows: string[];
  /** Customer ids of the frequent buyers. */
  frequent: Set<string>;
}

const dateOf = (day: number) => new Date(day * 86_400_000).toISOString().slice(0, 10);

/**
 * A fifth of the customers buy often and lately (3 to 5 orders in the 60 days before the holdout window, two in
 * it): the RFM family puts them in its top segments. When `plant`, they buy Jazz three times as often per
 * order as everyone else (weight 7.5 instead of 2.5), which makes Jazz their likeliest category (24 % of
 * their orders against Pop's 13 %) while it stays one of the least popular overall. The others have 1 to 3 orders over the 630 days before the holdout window,
 * and half of them one order in it.
 */
function generate(seed: number, customers: number, plant: boolean): Generated {
  const next = random(seed);
  const rows: string[] = [];
  const frequent = new Set<string>();
  let order = 0;
  for (let c = 0; c < customers; c++) {
    const id = `C${String(c).padStart(5, "0")}`;
    const often = next() < 0.2;
    if (often) frequent.add(id);
    const weights = WEIGHTS.map((w, i) => (i === JAZZ && often && plant ? 3 * w : w));
    const total = weights.reduce((a, b) => a + b, 0);
    const days: number[] = [];
    const before = often ? 3 + Math.floor(next() * 3) : 1 + Math.floor(next() * 3);
    for (let o = 0; o < before; o++) days.push(CALIBRATION_END - Math.floor(next() * (often ? 60 : 630)));
    const after = often ? 2 : next() < 0.5 ? 1 : 0;
    for (let o = 0; o < after; o++) days.push(CALIBRATION_END + 1 + Math.floor(next() * HOLDOUT_DAYS));
    for (const day of days) {
      let u = next() * total;
      let category = 0;
      while (category < weights.length - 1 && u >= (weights[category] as number))
        u -= weights[category++] as number;
      const cents = 1000 + Math.floor(next() * 4000);
      rows.push(`${id},O${order++},${dateOf(day)},${(cents / 100).toFixed(2)},${CATEGORIES[category]}`);
    }
  }
  return { rows, frequent };
}

async function stateOf(rows: readonly string[]): Promise<AggregateState> {
  const state = new AggregateState();
  await ingestTransactions(
    textSource(`customer_id,order_id,order_date,amount,category\n${rows.join("\n")}\n`),
    { format: "csv" },
    state,
  );
  return state;
}

const evaluated = (report: NbcReport | undefined) => {
  if (report === undefined || "skipped" in report) throw new Error(`no hit rate: ${JSON.stringify(report)}`);
  return report;
};

const SETTINGS = { asOf: AS_OF, clusters: false as const, value: false as const };

/** The evaluation of a run on `rows`, with the recommendations it made from the calibration orders by customer. */
async function evaluate(rows: readonly string[]) {
  const state = await stateOf(rows);
  const resolved = resolveComputeSettings(SETTINGS);
  const nbc = resolved.nextBestCategory;
  if (nbc === undefined) throw new Error("next best category is on by default");
  const full = computeSegments(state, SETTINGS);
  const recommended = new Map<string, string | null>();
  const report = evaluateNextBestCategory(
    state,
    AS_OF_DAY,
    nbc,
    {
      stateIndex: full.columns.stateIndex,
      spend: splitCategorySpend(state, full.customerOrders(), CALIBRATION_END),
    },
    (day) => calibrationSegmentsOf(state, resolved, "rfm", day),
    (stateIndex, codes) => {
      for (let p = 0; p < stateIndex.length; p++) {
        const c = codes[p] as number;
        recommended.set(
          state.customerId(stateIndex[p] as number),
          c === 0 ? null : state.categories.get(c - 1),
        );
      }
    },
  );
  expect(full.nextBestCategory).toEqual(report);
  return { state, full, report: evaluated(report), recommended };
}

/**
 * The evaluation counted again from the rows (every amount is positive, so a category is bought when it has an
 * order): who is evaluated, the hits of the recommendations made from calibration, and those of the most
 * popular category; `only` counts the customers where exactly one of the two is right.
 */
function countFromRows(rows: readonly string[], recommended: ReadonlyMap<string, string | null>) {
  const before = new Map<string, Set<string>>();
  const after = new Map<string, Set<string>>();
  for (const row of rows) {
    const [id, , date, , category] = row.split(",") as [string, string, string, string, string];
    const side = (parseDay(date) as number) <= CALIBRATION_END ? before : after;
    const set = side.get(id) ?? new Set<string>();
    set.add(category);
    side.set(id, set);
  }
  const buyers = new Map<string, number>();
  for (const set of before.values()) for (const c of set) buyers.set(c, (buyers.get(c) ?? 0) + 1);
  const popular = [...buyers].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([c]) => c);
  let customers = 0;
  let hits = 0;
  let baselineHits = 0;
  let onlyRecommendation = 0;
  let onlyBaseline = 0;
  for (const [id, bought] of before) {
    const fresh = [...(after.get(id) ?? [])].filter((c) => !bought.has(c));
    if (fresh.length === 0) continue;
    customers++;
    const pick = recommended.get(id) ?? null;
    const hit = pick !== null && fresh.includes(pick);
    const baseline = popular.find((c) => !bought.has(c));
    const baselineHit = baseline !== undefined && fresh.includes(baseline);
    if (hit) hits++;
    if (baselineHit) baselineHits++;
    if (hit && !baselineHit) onlyRecommendation++;
    if (baselineHit && !hit) onlyBaseline++;
  }
  return { customers, hits, baselineHits, discordant: onlyRecommendation + onlyBaseline };
}

describe("hit rate on held-out orders", () => {
  it("beats the most popular category where a segment buys Jazz three times as often", async () => {
    const { rows, frequent } = generate(7, 10_000, true);
    const { full, report, recommended } = await evaluate(rows);
    expect(report).toMatchObject({ family: "rfm", holdoutDays: 90, calibrationEnd: dateOf(CALIBRATION_END) });
    const counted = countFromRows(rows, recommended);
    expect(report).toMatchObject({
      customersEvaluated: counted.customers,
      hits: counted.hits,
      baselineHits: counted.baselineHits,
    });
    expect(counted.customers).toBeGreaterThan(1000);
    expect(report.hitRate).toBe(Math.round((report.hits / report.customersEvaluated) * 10_000) / 10_000);
    expect(report.baselineHitRate).toBe(
      Math.round((report.baselineHits / report.customersEvaluated) * 10_000) / 10_000,
    );
    // McNemar: were the two equally good, hits − baselineHits would have mean 0 and variance `discordant`.
    expect(report.hits - report.baselineHits).toBeGreaterThan(3 * Math.sqrt(counted.discordant));
    // Most frequent buyers who have not bought Jazz are recommended Jazz.
    const jazzBuyers = new Set(rows.filter((r) => r.endsWith(",Jazz")).map((r) => r.split(",")[0]));
    let open = 0;
    let jazz = 0;
    for (let i = 0; i < full.customerCount; i++) {
      const c = full.customer(i);
      if (!frequent.has(c.customerId) || c.segments.includes("rfm:lost")) continue;
      if (jazzBuyers.has(c.customerId)) continue;
      open++;
      if (c.nextBestCategory === "Jazz") jazz++;
    }
    expect(open).toBeGreaterThan(50);
    expect(jazz / open).toBeGreaterThan(0.8);
  });

  it("is reported honestly on data without structure: not significantly above the baseline", async () => {
    const { rows } = generate(11, 10_000, false);
    const { report, recommended } = await evaluate(rows);
    const counted = countFromRows(rows, recommended);
    expect(report).toMatchObject({
      customersEvaluated: counted.customers,
      hits: counted.hits,
      baselineHits: counted.baselineHits,
    });
    expect(counted.customers).toBeGreaterThan(1000);
    expect(report.hits - report.baselineHits).toBeLessThanOrEqual(3 * Math.sqrt(counted.discordant));
  });

  it("makes the calibration recommendations without the held-out orders", async () => {
    const { rows } = generate(3, 1500, true);
    const inCalibration = (row: string) =>
      (parseDay(row.split(",")[2] as string) as number) <= CALIBRATION_END;
    // The same calibration orders; every held-out one changed to Classical in the second data set.
    const changed = rows.map((row) => (inCalibration(row) ? row : row.replace(/,[A-Za-z]+$/, ",Classical")));
    const a = await evaluate(rows);
    const b = await evaluate(changed);
    expect(a.recommended.size).toBeGreaterThan(1000);
    expect(b.recommended).toEqual(a.recommended);
    // What a run as of the calibration end serves, having never seen anything later.
    const before = computeSegments(a.state, { ...SETTINGS, asOf: dateOf(CALIBRATION_END) });
    const served = new Map<string, string | null>();
    for (let i = 0; i < before.customerCount; i++) {
      const c = before.customer(i);
      served.set(c.customerId, c.nextBestCategory ?? null);
    }
    expect(served).toEqual(a.recommended);
    // The held-out orders do count where they should: in who is evaluated and who is hit.
    expect(b.report).not.toEqual(a.report);
  });
});

describe("a result merged from shards", () => {
  it("recommends from the merged spend as a whole read does, and says the hit rate needs orders", async () => {
    const { rows } = generate(5, 800, true);
    const state = await stateOf(rows);
    const whole = computeSegments(state, SETTINGS);
    // What a sharded merge hands the engine: the per-customer totals and each customer's spend per category,
    // no orders (a source that is not the state).
    const totals = customerTotals(state, AS_OF_DAY);
    const groups = groupOrders(state, AS_OF_DAY, positionsOf(state.customerCount, totals.stateIndex));
    const spend = categorySpendOf(state, groups);
    const merged = segmentsFromTotals(
      {
        customerId: (i) => state.customerId(i),
        attribute: (name) => state.attribute(name),
        attributeNames: () => state.attributeNames(),
        channels: state.channels,
        categories: state.categories,
        spend: { channel: spend, category: spend },
      },
      totals,
      SETTINGS,
    );
    expect(merged.state).toBeUndefined();
    expect(merged.nextBestCategory).toEqual({
      family: "rfm",
      skipped: { code: "NBC_NO_ORDERS", message: expect.any(String) },
    });
    let recommended = 0;
    for (let i = 0; i < whole.customerCount; i++) {
      expect(merged.customer(i).nextBestCategory).toBe(whole.customer(i).nextBestCategory);
      if (whole.customer(i).nextBestCategory !== undefined) recommended++;
    }
    expect(recommended).toBeGreaterThan(400);
  });
});

describe("skips and settings", () => {
  it("no categories: NBC_NO_CATEGORIES and no recommendation", async () => {
    const state = await stateOf(["a,1,2024-01-05,10.00,", "b,2,2024-06-01,20.00,", "a,3,2024-11-01,5.00,"]);
    const result = computeSegments(state, { asOf: AS_OF, clusters: false, value: false });
    expect(result.nextBestCategory).toEqual({
      family: "rfm",
      skipped: { code: "NBC_NO_CATEGORIES", message: expect.any(String) },
    });
    expect(result.customer(0).nextBestCategory).toBeUndefined();
  });

  it("too little history: recommendations still made, the hit rate skipped", async () => {
    const rows = Array.from(
      { length: 12 },
      (_, i) => `c${i},o${i},2024-12-01,10.00,${i < 11 ? "Rock" : "Pop"}`,
    );
    const result = computeSegments(await stateOf(rows), {
      asOf: AS_OF,
      clusters: false,
      value: false,
      nextBestCategory: { k: 1 },
    });
    expect(result.nextBestCategory).toMatchObject({ skipped: { code: "NBC_TOO_LITTLE_HISTORY" } });
    const recommended = Array.from({ length: 12 }, (_, i) => result.customer(i).nextBestCategory);
    // Everyone is in one RFM segment here, where Rock (11 buyers) scores above Pop (1): the Rock buyers get Pop.
    expect(recommended.filter((r) => r === "Pop")).toHaveLength(11);
    expect(recommended.filter((r) => r === "Rock")).toHaveLength(1);
  });

  it("false turns it off; bad settings name the field", async () => {
    const state = await stateOf(["a,1,2024-01-05,10.00,Rock"]);
    const off = computeSegments(state, { asOf: AS_OF, nextBestCategory: false });
    expect(off.nextBestCategory).toBeUndefined();
    expect(off.timings.nextBestCategory).toBeUndefined();
    for (const [bad, field] of [
      [{ holdoutDays: 0 }, "nextBestCategory.holdoutDays"],
      [{ holdoutDays: 3651 }, "nextBestCategory.holdoutDays"],
      [{ family: "cluster" }, "nextBestCategory.family"],
      [{ k: 1.5 }, "nextBestCategory.k"],
    ] as const) {
      const run = () =>
        computeSegments(state, { asOf: AS_OF, nextBestCategory: bad as unknown as { holdoutDays: number } });
      expect(run).toThrow(ComputeError);
      expect(run).toThrow(expect.objectContaining({ code: "BAD_NEXT_BEST_CATEGORY_SETTINGS", field }));
    }
  });
});
