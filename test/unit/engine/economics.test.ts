/**
 * Segment economics of every family on the hand-worked fixture (test/fixtures/engine/rfm-small.*: returns,
 * multi-line orders, a rejected row, an order after asOf), uploaded twice so that every order also arrives as a
 * duplicate. Size, share, revenue, revenue share and average order value come from the working in
 * rfm-small.expected.md; mean CLV and mean probability alive from the clv module's closed forms evaluated here
 * on the fitted parameters and the model inputs worked by hand, then averaged over the members worked by hand.
 * Also: the per-customer model inputs with returns, same-day orders and days out of order, and the cases
 * where the value models are skipped.
 */
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import {
  type BgNbdParams,
  customerLifetimeValue,
  expectedAverageValue,
  expectedPurchases,
  type GammaGammaParams,
  probabilityAlive,
} from "../../../shared/engine/clv";
import { type ComputedSegmentation, computeSegments } from "../../../shared/engine/compute";
import { ComputeError } from "../../../shared/engine/errors";
import { ingestTransactions } from "../../../shared/engine/ingest";
import { RFM_SEGMENTS } from "../../../shared/engine/rfm";
import { AggregateState } from "../../../shared/engine/state";
import type { ComputeSettings, SegmentSummary } from "../../../shared/engine/types";
import { valueInputs } from "../../../shared/engine/value";
import { chunked, textSource } from "./byte-source";

const fixture = (name: string) => new URL(`../../fixtures/engine/${name}`, import.meta.url);

interface Expected {
  asOf: string;
  customers: { customerId: string; segments: string[] }[];
  segments: { id: string; size: number; revenueCents: number; orders: number }[];
  lifecycleSegments: { id: string; members: string[]; size: number; revenueCents: number; orders: number }[];
  valueInputs: Record<string, { x: number; tx: number; T: number; mx: number }>;
  totalRevenueCents: number;
  customerCount: number;
}

const expected = JSON.parse(readFileSync(fixture("rfm-small.expected.json"), "utf8")) as Expected;

// Rule segments and their members, from the fixture's rows: net spend per channel (orders without a channel
// form their own group), share = web / sum of the positive channel nets.
//   C01 web 150.00, store 25.50 → 150 / 175.50 = 0.85    C05 web 320 → 1
//   C02 app 60, none 30 → 0     C03 store 200 − 50 → 0     C07 store → 0     C11 app → 0
//   C04, C06, C10 none → 0      C08 app 0.00: no positive spend → share missing, never a member
const RULES: NonNullable<ComputeSettings["rules"]> = [
  { id: "rule:web", name: "Web buyers", rule: { field: "channel_share.web", op: "gte", value: 0.5 } },
  {
    id: "rule:web-or-lapsed",
    name: "Web or lapsed",
    description: "Mostly web, or lapsed",
    rule: {
      or: [
        { field: "channel_share.web", op: "gte", value: 0.5 },
        { field: "lifecycle", op: "eq", value: "lapsed" },
      ],
    },
  },
];
const RULE_SEGMENTS = [
  { id: "rule:web", members: ["C01", "C05"], revenueCents: 17550 + 32000, orders: 3 + 4 },
  {
    id: "rule:web-or-lapsed",
    members: ["C01", "C05", "C06", "C07"],
    revenueCents: 17550 + 32000 + 1500 + 100000,
    orders: 3 + 4 + 1 + 2,
  },
];

// A horizon of 365 days is 12 periods of 365/12 days, each discounted at 10 % a year from its end
// (shared/engine/value.ts): in the clv module's terms, 365.25 time units (days) a year and 365.25 / (365/12)
// periods a year.
const CLV_OPTIONS = {
  horizonPeriods: 12,
  timeUnitsPerYear: 365.25,
  periodsPerYear: (12 * 365.25) / 365,
  annualDiscountRate: 0.1,
};

function closedForms(bg: BgNbdParams, gg: GammaGammaParams) {
  const out = new Map<string, { alive: number; purchases: number; clv: number }>();
  for (const [id, { x, tx, T, mx }] of Object.entries(expected.valueInputs)) {
    out.set(id, {
      alive: probabilityAlive(bg, x, tx, T),
      purchases: expectedPurchases(bg, 365, x, tx, T),
      clv: customerLifetimeValue(bg, expectedAverageValue(gg, x, mx), x, tx, T, CLV_OPTIONS),
    });
  }
  return out;
}

const mean = (values: number[]) => values.reduce((s, v) => s + v, 0) / values.length;

/** A positive model value in whole cents, halves up, through its exact decimal expansion. */
const toCents = (value: number): bigint => BigInt(value.toFixed(2).replace(".", ""));

/** The sum of cents over n, rounded half away from zero, in BigInt. */
function centsMean(cents: bigint[], n: number): number {
  const total = cents.reduce((s, c) => s + c, 0n);
  const magnitude = total < 0n ? -total : total;
  const rounded = (2n * magnitude + BigInt(n)) / (2n * BigInt(n));
  return Number(total < 0n ? -rounded : rounded);
}

describe("segment economics on the hand-worked fixture, uploaded twice", () => {
  let result: ComputedSegmentation;
  let truth: Map<string, { alive: number; purchases: number; clv: number }>;

  beforeAll(async () => {
    const state = new AggregateState();
    const bytes = readFileSync(fixture("rfm-small.csv"));
    await ingestTransactions(chunked(bytes, [7, 250]), { format: "csv" }, state);
    const again = await ingestTransactions(chunked(bytes, [99]), { format: "csv" }, state);
    expect(again.ordersDuplicate).toBe(21);
    expect(again.ordersAdded).toBe(0);
    // BG/NBD named in the settings, so that its closed forms below are the served ones.
    result = computeSegments(state, {
      asOf: expected.asOf,
      clusters: false,
      value: { model: "bgNbd" },
      rules: RULES,
    });
    const value = result.value;
    if (value === undefined || value.gammaGamma === null || value.bgNbd === undefined) {
      throw new Error("value models were not fitted");
    }
    expect(value.selectedModel).toBe("bgNbd");
    expect(value.selection).toBe("setting");
    // Seven of the ten customers had bought by the calibration end (asOf − 76 days, a quarter of the days
    // since the first order: 2024-04-16): too few for a holdout, which the run says.
    expect(value.validation).toBeNull();
    expect(value.validationSkipped?.code).toBe("VALUE_HOLDOUT_TOO_FEW_CUSTOMERS");
    expect(result.issues.map((i) => i.code)).toContain("VALUE_HOLDOUT_TOO_FEW_CUSTOMERS");
    // The premise of the closed forms below: Gamma-Gamma's posterior mean exists for everyone (q > 1).
    expect(value.gammaGamma.q).toBeGreaterThan(1);
    truth = closedForms(value.bgNbd, value.gammaGamma);
  });

  function memberIds(family: string): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const c of expected.customers) {
      for (const id of c.segments.filter((s) => s.startsWith(`${family}:`))) {
        out.set(id, [...(out.get(id) ?? []), c.customerId]);
      }
    }
    return out;
  }

  function check(
    summary: SegmentSummary | undefined,
    hand: { members: string[]; revenueCents: number; orders: number },
  ): void {
    const size = hand.members.length;
    expect(summary?.size).toBe(size);
    expect(summary?.share).toBeCloseTo(size / expected.customerCount, 12);
    // Money exact to the cent: revenue is the cents worked by hand, the order value their mean rounded half
    // away from zero (worked in BigInt here).
    expect(summary?.revenue).toBe(hand.revenueCents / 100);
    expect(summary?.revenueShare).toBeCloseTo(hand.revenueCents / expected.totalRevenueCents, 12);
    expect(summary?.averageOrderValue).toBe(
      hand.orders === 0 ? 0 : centsMean([BigInt(hand.revenueCents)], hand.orders) / 100,
    );
    if (size === 0) {
      expect(summary?.meanClv).toBeNull();
      expect(summary?.meanProbabilityAlive).toBeNull();
      return;
    }
    const of = (id: string) => truth.get(id) as { alive: number; clv: number };
    // The mean of the members' CLVs as served (each to the cent), rounded to the cent.
    expect(summary?.meanClv).toBe(
      centsMean(
        hand.members.map((id) => toCents(of(id).clv)),
        size,
      ) / 100,
    );
    // With BG/NBD served, the mean is over the members with a repeat purchase (x > 0) only.
    const repeaters = hand.members.filter((id) => (expected.valueInputs[id]?.x ?? 0) > 0);
    if (repeaters.length === 0) expect(summary?.meanProbabilityAlive).toBeNull();
    else expect(summary?.meanProbabilityAlive).toBeCloseTo(mean(repeaters.map((id) => of(id).alive)), 10);
  }

  it("scores every customer with the closed forms on the fitted parameters and the inputs worked by hand", () => {
    expect(result.value).toMatchObject({ timeUnit: "day", horizonDays: 365, annualDiscountRate: 0.1 });
    expect(result.value?.customers).toBe(10);
    expect(result.value?.repeatCustomers).toBe(4);
    for (let i = 0; i < result.customerCount; i++) {
      const c = result.customer(i);
      const t = truth.get(c.customerId) as { alive: number; purchases: number; clv: number };
      expect(c.probabilityAlive).toBeCloseTo(t.alive, 12);
      expect(c.expectedPurchases).toBeCloseTo(t.purchases, 10);
      // Served to the cent.
      expect(c.clv).toBe(Number(toCents(t.clv)) / 100);
    }
  });

  it("gives the RFM segments their size, share, revenue, revenue share, order value, mean CLV and P(alive)", () => {
    const members = memberIds("rfm");
    const rfm = result.segments.filter((s) => s.family === "rfm");
    expect(rfm.map((s) => s.id)).toEqual(RFM_SEGMENTS.map((s) => s.id));
    for (const hand of expected.segments) {
      check(
        rfm.find((s) => s.id === hand.id),
        { ...hand, members: members.get(hand.id) ?? [] },
      );
    }
  });

  it("gives the lifecycle stages the same", () => {
    const lifecycle = result.segments.filter((s) => s.family === "lifecycle");
    expect(lifecycle.map((s) => s.id)).toEqual(expected.lifecycleSegments.map((s) => s.id));
    for (const hand of expected.lifecycleSegments) {
      expect(hand.members).toHaveLength(hand.size);
      check(
        lifecycle.find((s) => s.id === hand.id),
        hand,
      );
    }
  });

  it("gives the rule segments the same, with their names and descriptions", () => {
    const rules = result.segments.filter((s) => s.family === "rule");
    expect(rules.map((s) => [s.id, s.name, s.description])).toEqual([
      ["rule:web", "Web buyers", ""],
      ["rule:web-or-lapsed", "Web or lapsed", "Mostly web, or lapsed"],
    ]);
    for (const hand of RULE_SEGMENTS) {
      check(
        rules.find((s) => s.id === hand.id),
        hand,
      );
      for (let i = 0; i < result.customerCount; i++) {
        const c = result.customer(i);
        expect(c.segments.includes(hand.id)).toBe(hand.members.includes(c.customerId));
      }
    }
    expect(result.issues.filter((i) => i.stage === "rules")).toEqual([]);
  });
});

describe("inputs of the value models", () => {
  it("count purchase days, not orders, share returns over the purchases, and accept days out of order", async () => {
    // As of 2024-06-30:
    // R: purchase days 01-01 (two orders, 100 + 50), 03-01 (200), 02-01 (100, listed after 03-01); a return
    //    of 90 on 03-05. x = 2, t_x = 31 + 29 = 60, T = 31 + 29 + 31 + 30 + 31 + 29 = 181, gross 450, first day 150,
    //    net 360: m_x = 360 · (450 − 150) / 450 / 2 = 120; own value per purchase day 360 / 3 = 120.
    // Z: two free orders on 01-01 and 02-01: x = 1, t_x = 31, T = 181, m_x = 0 (no gross value to share out).
    // NEG: 10 on 01-01 and 02-01, a return of 50 on 02-10: net −30, m_x = −30 · 10 / 20 / 1 = −15; own value
    //    per day max(0, −30 / 2) = 0.
    // ONE: one order on 06-30 itself: x = 0, t_x = 0, T = 0; m_x = 0; own value 40.
    const csv = [
      "customer_id,order_id,order_date,amount",
      "R,r1,2024-01-01,100",
      "R,r2,2024-01-01,50",
      "R,r3,2024-03-01,200",
      "R,r4,2024-02-01,100",
      "R,r5,2024-03-05,-90",
      "Z,z1,2024-01-01,0",
      "Z,z2,2024-02-01,0",
      "NEG,n1,2024-01-01,10",
      "NEG,n2,2024-02-01,10",
      "NEG,n3,2024-02-10,-50",
      "ONE,o1,2024-06-30,40",
      "",
    ].join("\n");
    const state = new AggregateState();
    await ingestTransactions(textSource(csv), { format: "csv" }, state);
    const result = computeSegments(state, { asOf: "2024-06-30", clusters: false, value: false });
    expect([...result.purchaseDays()]).toEqual([3, 2, 2, 1]);
    const inputs = valueInputs(result.columns, result.purchaseDays(), result.asOfDay);
    expect([...inputs.x]).toEqual([2, 1, 1, 0]);
    expect([...inputs.tx]).toEqual([60, 31, 31, 0]);
    expect([...inputs.T]).toEqual([181, 181, 181, 0]);
    expect([...inputs.mx]).toEqual([120, 0, -15, 0]);
    expect([...inputs.fallbackOrderValue]).toEqual([120, 0, 0, 40]);
    expect(result.value).toBeUndefined();
    expect(result.columns.clv).toBeUndefined();
    expect(result.customer(0).clv).toBeUndefined();
    expect(result.issues).toEqual([]);
  });
});

describe("value models skipped", () => {
  async function stateOf(rows: string[]) {
    const state = new AggregateState();
    await ingestTransactions(
      textSource(`customer_id,order_id,order_date,amount\n${rows.join("\n")}\n`),
      { format: "csv" },
      state,
    );
    return state;
  }

  it("with fewer than ten customers: a reason, no value columns, no mean CLV", async () => {
    const state = await stateOf(
      Array.from({ length: 9 }, (_, i) => [
        `c${i},a${i},2024-01-0${i + 1},10`,
        `c${i},b${i},2024-03-01,10`,
      ]).flat(),
    );
    const result = computeSegments(state, { asOf: "2024-06-30", clusters: false });
    expect(result.value).toBeUndefined();
    expect(result.issues.map((i) => [i.code, i.stage])).toEqual([["VALUE_TOO_FEW_CUSTOMERS", "value"]]);
    expect(result.columns.probabilityAlive).toBeUndefined();
    expect(result.columns.expectedPurchases).toBeUndefined();
    expect(result.columns.clv).toBeUndefined();
    expect(result.segments.every((s) => s.meanClv === null && s.meanProbabilityAlive === null)).toBe(true);
    expect(Object.keys(result.customer(0))).not.toContain("clv");
  });

  it("when nobody bought on two days: a reason, never an error", async () => {
    const state = await stateOf(
      Array.from({ length: 12 }, (_, i) => [
        `c${i},a${i},2024-01-${10 + i},10`,
        `c${i},b${i},2024-01-${10 + i},5`,
      ]).flat(),
    );
    const result = computeSegments(state, { asOf: "2024-06-30", clusters: false });
    expect(result.value).toBeUndefined();
    expect(result.issues.map((i) => i.code)).toEqual(["VALUE_NO_REPEAT_PURCHASES"]);
    expect(result.columns.clv).toBeUndefined();
  });

  it("when turned off: no reason needed", async () => {
    // Bought 29 days before asOf: recent enough that the data is not stale either.
    const state = await stateOf(["a,1,2024-06-01,10"]);
    const result = computeSegments(state, { asOf: "2024-06-30", clusters: false, value: false });
    expect(result.issues).toEqual([]);
    expect(result.timings.value).toBe(0);
  });

  it("refuses bad value settings with BAD_VALUE_SETTINGS and the field", () => {
    const cases: [unknown, string][] = [
      [{ horizonDays: 0 }, "value.horizonDays"],
      [{ horizonDays: 36.5 }, "value.horizonDays"],
      [{ annualDiscountRate: -0.1 }, "value.annualDiscountRate"],
      [{ annualDiscountRate: Number.POSITIVE_INFINITY }, "value.annualDiscountRate"],
    ];
    for (const [value, field] of cases) {
      let caught: unknown;
      try {
        computeSegments(new AggregateState(), {
          asOf: "2024-06-30",
          value: value as ComputeSettings["value"],
        });
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(ComputeError);
      expect((caught as ComputeError).code).toBe("BAD_VALUE_SETTINGS");
      expect((caught as ComputeError).field).toBe(field);
    }
  });
});
