/**
 * The real CDNOW master file (69,659 rows, 23,570 customers): totals and every customer's RFM values and
 * scores against an independent computation over csv-parse's records with plain Maps and sorting, the RFM
 * segment sizes from those scores and the grid, and the lifecycle stages.
 */
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { parse } from "csv-parse/sync";
import { beforeAll, describe, expect, it } from "vitest";
import { REPEAT_MODELS, type RepeatModel } from "../../../shared/engine/clv";
import { type ComputedSegmentation, computeSegments } from "../../../shared/engine/compute";
import { ingestTransactions } from "../../../shared/engine/ingest";
import { AggregateState } from "../../../shared/engine/state";
import type { IngestReport } from "../../../shared/engine/types";
import { sharedData } from "../../support/shared-data";
import { chunked, everyN } from "./byte-source";

const FILE = sharedData("cdnow/cdnow-master-transactions.csv");
const AS_OF = "1998-07-01";
const DAY_MS = 86_400_000;

interface Reference {
  rows: number;
  totalCents: number;
  customers: Map<string, { frequency: number; cents: number; last: number; first: number }>;
  /** Distinct order days per customer (the file has no returns: every amount is >= 0). */
  days: Map<string, Set<number>>;
}

function referenceOf(bytes: Buffer): Reference {
  const records = parse(bytes, { columns: true }) as Record<string, string>[];
  const customers: Reference["customers"] = new Map();
  let totalCents = 0;
  const orders = new Set<string>();
  const days: Reference["days"] = new Map();
  for (const r of records) {
    const cents = Math.round(Number(r.amount) * 100);
    const day = Date.parse(`${r.order_date}T00:00:00Z`) / DAY_MS;
    expect(cents).toBeGreaterThanOrEqual(0);
    const set = days.get(r.customer_id as string) ?? new Set<number>();
    set.add(day);
    days.set(r.customer_id as string, set);
    totalCents += cents;
    orders.add(r.order_id as string);
    const c = customers.get(r.customer_id as string) ?? {
      frequency: 0,
      cents: 0,
      last: -Infinity,
      first: Infinity,
    };
    c.frequency++;
    c.cents += cents;
    c.last = Math.max(c.last, day);
    c.first = Math.min(c.first, day);
    customers.set(r.customer_id as string, c);
  }
  expect(orders.size).toBe(records.length);
  return { rows: records.length, totalCents, customers, days };
}

/**
 * Score by rank: 1 + ⌊5 · (index of the first equal value in ascending order) / N⌋. The rule of rfm.ts gives
 * exactly this when no value is held by more than a fifth of the customers, as for CDNOW's recency and spend.
 */
function scoresByRank(values: number[]): number[] {
  const sorted = [...values].sort((a, b) => a - b);
  const firstIndex = new Map<number, number>();
  sorted.forEach((v, i) => {
    if (!firstIndex.has(v)) firstIndex.set(v, i);
  });
  return values.map((v) => 1 + Math.floor((5 * (firstIndex.get(v) as number)) / values.length));
}

/**
 * F by purchase days: 12,054 one-day buyers are more than a fifth of the 23,570 customers, so the rank
 * quintiles would jump from 1 to 3. The rule of rfm.ts, worked here over a Map of counts: the first distinct
 * value scores 1, each next one at most one more than the last and at least 5 − (number of better values),
 * otherwise its rank quintile.
 */
function fScores(days: number[]): number[] {
  const counts = new Map<number, number>();
  for (const d of days) counts.set(d, (counts.get(d) ?? 0) + 1);
  const distinct = [...counts.keys()].sort((a, b) => a - b);
  const score = new Map<number, number>();
  let below = 0;
  let last = 0;
  distinct.forEach((d, j) => {
    const quintile = 1 + Math.floor((5 * below) / days.length);
    last = Math.max(Math.min(quintile, last + 1), 5 - (distinct.length - 1 - j));
    score.set(d, last);
    below += counts.get(d) as number;
  });
  return days.map((d) => score.get(d) as number);
}

/** The RFM grid of the README, written out again: GRID[r - 1][fm - 1]. */
const GRID = [
  ["lost", "lost", "at-risk", "cant-lose-them", "cant-lose-them"],
  ["hibernating", "hibernating", "at-risk", "at-risk", "cant-lose-them"],
  ["about-to-sleep", "about-to-sleep", "need-attention", "loyal", "loyal"],
  ["promising", "potential-loyalist", "loyal", "champions", "champions"],
  ["new-customers", "potential-loyalist", "loyal", "champions", "champions"],
];

describe("CDNOW master file", () => {
  const bytes = readFileSync(FILE);
  let reference: Reference;
  let state: AggregateState;
  let report: IngestReport;
  let result: ComputedSegmentation;

  beforeAll(async () => {
    reference = referenceOf(bytes);
    state = new AggregateState();
    report = await ingestTransactions(chunked(bytes, everyN(bytes.length, 65_536)), { format: "csv" }, state);
    result = computeSegments(state, { asOf: AS_OF });
  });

  it("reads every row as an order of its customer, with the same totals as csv-parse", () => {
    expect(reference.rows).toBe(69_659);
    expect(reference.customers.size).toBe(23_570);
    expect(report).toEqual({
      rowsRead: reference.rows,
      rowsAccepted: reference.rows,
      rowsRejected: 0,
      ordersAdded: reference.rows,
      ordersDuplicate: 0,
      orderLinesMerged: 0,
    });
    expect(state.customerCount).toBe(reference.customers.size);
    let cents = 0;
    for (let j = 0; j < state.orderCount; j++) cents += state.orderCents(j);
    expect(cents).toBe(reference.totalCents);
    expect(result.customerCount).toBe(23_570);
    const rfm = result.segments.filter((s) => s.family === "rfm");
    expect(rfm.reduce((sum, s) => sum + s.size, 0)).toBe(23_570);
    expect(Math.round(rfm.reduce((sum, s) => sum + s.revenue, 0) * 100)).toBe(reference.totalCents);
  });

  it("gives every customer the recency, frequency, monetary value and R, F, M scores of the reference", () => {
    const asOfDay = Date.parse(`${AS_OF}T00:00:00Z`) / DAY_MS;
    const ids = [...reference.customers.keys()];
    const values = ids.map(
      (id) =>
        reference.customers.get(id) as { frequency: number; cents: number; last: number; first: number },
    );
    const r = scoresByRank(values.map((v) => -(asOfDay - v.last)));
    const f = fScores(ids.map((id) => (reference.days.get(id) as Set<number>).size));
    const m = scoresByRank(values.map((v) => v.cents));
    const position = new Map<string, number>();
    for (let i = 0; i < result.customerCount; i++) position.set(result.customerId(i), i);
    ids.forEach((id, k) => {
      const c = result.customer(position.get(id) as number);
      const v = values[k] as { frequency: number; cents: number; last: number; first: number };
      const expected = {
        recencyDays: asOfDay - v.last,
        frequency: v.frequency,
        monetary: v.cents / 100,
        r: r[k],
        f: f[k],
        m: m[k],
        firstPurchase: new Date(v.first * DAY_MS).toISOString().slice(0, 10),
        lastPurchase: new Date(v.last * DAY_MS).toISOString().slice(0, 10),
      };
      const { customerId, rfm, recencyDays, frequency, monetary, firstPurchase, lastPurchase } = c;
      expect(customerId).toBe(id);
      expect(rfm).toBe(`${r[k]}${f[k]}${m[k]}`);
      expect({
        recencyDays,
        frequency,
        monetary,
        r: c.r,
        f: c.f,
        m: c.m,
        firstPurchase,
        lastPurchase,
      }).toEqual(expected);
    });
  });

  it("uses all five F scores, one-day buyers alone at 1, and sizes the RFM segments as the grid says", () => {
    const f = new Map<number, number>();
    const sizes = new Map<string, number>();
    for (let i = 0; i < result.customerCount; i++) {
      const c = result.customer(i);
      const days = (reference.days.get(c.customerId) as Set<number>).size;
      expect(c.f === 1).toBe(days === 1);
      f.set(c.f, (f.get(c.f) ?? 0) + 1);
      const segment = `rfm:${GRID[c.r - 1]?.[Math.floor((c.f + c.m + 1) / 2) - 1]}`;
      sizes.set(segment, (sizes.get(segment) ?? 0) + 1);
    }
    expect([...f.keys()].sort()).toEqual([1, 2, 3, 4, 5]);
    const oneDay = [...reference.days.values()].filter((d) => d.size === 1).length;
    expect(f.get(1)).toBe(oneDay);
    // A repeat buyer is recent and an only purchase is in Q1 1997, so R 4 and 5 need F of 2 or more: New
    // Customers and Promising (R 4–5 with FM 1, that is F = M = 1) are empty in this file.
    for (const s of result.segments.filter((x) => x.family === "rfm")) {
      expect([s.id, s.size]).toEqual([s.id, sizes.get(s.id) ?? 0]);
    }
    expect(sizes.get("rfm:new-customers")).toBeUndefined();
    expect(sizes.get("rfm:promising")).toBeUndefined();
  });

  it("does not count two orders on one day in 1997 as a loyal customer gone quiet", () => {
    // 00002 ordered twice on 1997-01-12 (12.00 and 77.00) and never again: one purchase day, F = 1, so
    // FM ≤ 3 and, with R = 1 (546 − 11 = 535 days, among the oldest fifth), At Risk at most.
    const position = [...Array(result.customerCount).keys()].find((i) => result.customerId(i) === "00002");
    const c = result.customer(position as number);
    expect([c.frequency, c.recencyDays, c.r, c.f]).toEqual([2, 535, 1, 1]);
    expect(c.segments).not.toContain("rfm:cant-lose-them");
    expect(c.segments[0]).toBe(`rfm:${GRID[0]?.[Math.floor((1 + c.m + 1) / 2) - 1]}`);
    for (let i = 0; i < result.customerCount; i++) {
      const other = result.customer(i);
      if ((reference.days.get(other.customerId) as Set<number>).size === 1) {
        expect(other.segments).not.toContain("rfm:cant-lose-them");
      }
    }
  });

  it("puts every customer in exactly one RFM, one lifecycle and one cluster segment", () => {
    expect(result.issues).toEqual([]);
    const model = result.clusters;
    expect(model?.k).toBeGreaterThanOrEqual(3);
    expect(model?.k).toBeLessThanOrEqual(8);
    for (const family of ["rfm", "lifecycle", "cluster"] as const) {
      const segments = result.segments.filter((s) => s.family === family);
      expect(segments.reduce((sum, s) => sum + s.size, 0)).toBe(23_570);
      expect(Math.round(segments.reduce((sum, s) => sum + s.revenue, 0) * 100)).toBe(reference.totalCents);
      const counted = new Map(segments.map((s) => [s.id, 0]));
      for (let i = 0; i < result.customerCount; i++) {
        const mine = result.customer(i).segments.filter((id) => id.startsWith(`${family}:`));
        expect(mine).toHaveLength(1);
        counted.set(mine[0] as string, (counted.get(mine[0] as string) ?? 0) + 1);
      }
      expect(segments.map((s) => [s.id, s.size])).toEqual([...counted]);
    }
    expect(result.segments.filter((s) => s.family === "cluster").map((s) => s.size)).toEqual(model?.sizes);
  });

  it("gives every customer the lifecycle stage of the rules applied to the reference's purchase days", () => {
    const asOfDay = Date.parse(`${AS_OF}T00:00:00Z`) / DAY_MS;
    const counts = new Map<string, number>();
    for (let i = 0; i < result.customerCount; i++) {
      const c = result.customer(i);
      const days = [...(reference.days.get(c.customerId) as Set<number>)].sort((a, b) => a - b);
      const first = days[0] as number;
      const last = days[days.length - 1] as number;
      const previous = days.length > 1 ? (days[days.length - 2] as number) : undefined;
      const recency = asOfDay - last;
      const stage =
        asOfDay - first <= 30
          ? "new"
          : recency <= 90 && previous !== undefined && last - previous > 180
            ? "reactivated"
            : recency <= 90
              ? "active"
              : recency <= 180
                ? "cooling"
                : "lapsed";
      expect(c.lifecycle).toBe(`lifecycle:${stage}`);
      counts.set(stage, (counts.get(stage) ?? 0) + 1);
    }
    // The file ends on 1998-06-30 and nobody's first order is after March 1997.
    expect(counts.get("new")).toBeUndefined();
    for (const stage of ["active", "cooling", "lapsed", "reactivated"])
      expect(counts.get(stage)).toBeGreaterThan(0);
  });

  it("fits the value models on the customers' repeat purchases in days, and scores everyone", () => {
    const asOfDay = Date.parse(`${AS_OF}T00:00:00Z`) / DAY_MS;
    const n = result.customerCount;
    const x = new Float64Array(n);
    const tx = new Float64Array(n);
    const T = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const days = [...(reference.days.get(result.customerId(i)) as Set<number>)];
      const first = Math.min(...days);
      x[i] = days.length - 1;
      tx[i] = Math.max(...days) - first;
      T[i] = asOfDay - first;
    }
    const value = result.value;
    if (value === undefined) throw new Error("no value models");
    // The served model is the one the holdout chose, fitted on all the data as the registry fits it.
    expect(value.selection).toBe("holdout");
    expect(value.selectedModel).toBe(value.validation?.selected);
    const name = value.selectedModel;
    // Its search on all the data starts from the calibration estimate, as value.ts does.
    const initial = value.validation?.models[name]?.fit.params;
    // biome-ignore lint/suspicious/noFocusedTests: the model's fit method, not a focused test
    const fit = (REPEAT_MODELS[name] as RepeatModel).fit(x, tx, T, initial === undefined ? {} : { initial });
    expect(value.timeUnit).toBe("day");
    expect(value.converged).toEqual({ [name]: true, gammaGamma: true });
    expect(value.customers).toBe(23_570);
    expect(value.repeatCustomers).toBe(x.filter((v) => v > 0).length);
    for (const [param, v] of Object.entries(fit.params)) {
      expect(value.models[name]?.params[param]).toBeCloseTo(v, 8);
    }
    expect(value.logLikelihoods[name]).toBeCloseTo(fit.logLikelihood, 6);
    for (let i = 0; i < n; i++) {
      const c = result.customer(i);
      expect(c.probabilityAlive).toBeGreaterThan(0);
      expect(c.probabilityAlive).toBeLessThanOrEqual(1);
      expect(c.expectedPurchases).toBeGreaterThan(0);
      // Served to the cent: a customer the model holds most likely gone may be worth less than half a cent.
      expect(c.clv).toBeGreaterThanOrEqual(0);
      expect(Number.isFinite(c.clv)).toBe(true);
      expect(c.clvLow).toBeLessThanOrEqual(c.clv as number);
      expect(c.clvHigh).toBeGreaterThanOrEqual(c.clv as number);
    }
    const meanClv = (id: string) => result.segments.find((s) => s.id === id)?.meanClv as number;
    expect(meanClv("rfm:champions")).toBeGreaterThan(meanClv("rfm:lost"));
    expect(meanClv("lifecycle:active")).toBeGreaterThan(meanClv("lifecycle:lapsed"));
    expect(Object.keys(result.timings).sort()).toEqual([
      "clusters",
      "lifecycle",
      "lists",
      "nextBestCategory",
      "rfm",
      "rules",
      "value",
    ]);
  });

  it("reads the gzip-compressed file the same, and its state round-trips over two order blocks", async () => {
    const gz = gzipSync(bytes);
    const other = new AggregateState();
    await ingestTransactions(chunked(gz, everyN(gz.length, 10_000)), { format: "csv" }, other);
    const serialized = state.serialize();
    expect(Buffer.from(other.serialize()).equals(Buffer.from(serialized))).toBe(true);
    const back = AggregateState.deserialize(serialized);
    back.verify();
    expect(Buffer.from(back.serialize()).equals(Buffer.from(serialized))).toBe(true);
    const again = await ingestTransactions(
      chunked(bytes, everyN(bytes.length, 100_000)),
      { format: "csv" },
      back,
    );
    expect(again.ordersDuplicate).toBe(reference.rows);
    expect(again.ordersAdded).toBe(0);
  });
});
