/**
 * Holdout validation and model choice of the value stage (value.ts, clv/validation.ts), and outputs that are
 * never NaN or Infinity.
 *
 * Expected values are worked out here from the raw orders: each customer's distinct purchase days before and
 * after the calibration end, hence the calibration (x, t_x, T) and the actual holdout purchases; the models'
 * predictions are recomputed per customer with the registry's public functions (which check their input) on
 * the calibration estimates the run reports.
 */
import { describe, expect, it } from "vitest";
import { REPEAT_MODELS } from "../../../shared/engine/clv";
import { MAE_TIE_TOLERANCE, rankByHoldout } from "../../../shared/engine/clv/validation";
import { computeSegments } from "../../../shared/engine/compute";
import { isoDay } from "../../../shared/engine/days";
import { ComputeError } from "../../../shared/engine/errors";
import { ingestTransactions } from "../../../shared/engine/ingest";
import { AggregateState } from "../../../shared/engine/state";
import type { HoldoutModelAccuracy, RepeatModelName } from "../../../shared/engine/types";
import { textSource } from "./byte-source";

const DAY_MS = 86_400_000;
const dayOf = (iso: string) => Date.parse(`${iso}T00:00:00Z`) / DAY_MS;
const isoOf = (day: number) => new Date(day * DAY_MS).toISOString().slice(0, 10);

/** mulberry32: a small seeded generator, so the data are the same on every run. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Order {
  customer: string;
  id: string;
  day: number;
  cents: number;
}

/**
 * Customers who buy at their own Poisson rate and may stop after any purchase (BG/NBD-like), first purchases
 * spread over `spanDays` before asOf; a few orders are returns and some days carry two orders.
 */
function simulate(seed: number, customers: number, asOfDay: number, spanDays: number): Order[] {
  const random = rng(seed);
  const orders: Order[] = [];
  let next = 1;
  for (let c = 0; c < customers; c++) {
    const id = `c${String(c).padStart(5, "0")}`;
    const rate = (-Math.log(1 - random()) * 0.02) / (0.3 + random());
    const dropout = 0.05 + 0.4 * random();
    let day = asOfDay - Math.floor(random() * spanDays);
    for (;;) {
      const cents = 500 + Math.floor(random() * 10_000);
      orders.push({ customer: id, id: `o${next++}`, day, cents });
      if (random() < 0.1) orders.push({ customer: id, id: `o${next++}`, day, cents: 700 });
      if (random() < 0.03) orders.push({ customer: id, id: `o${next++}`, day, cents: -300 });
      if (random() < dropout) break;
      day += Math.max(1, Math.ceil(-Math.log(1 - random()) / rate));
      if (day > asOfDay + 30) break;
    }
  }
  return orders;
}

async function stateOf(orders: Order[]): Promise<AggregateState> {
  const state = new AggregateState();
  const lines = orders.map((o) => `${o.customer},${o.id},${isoOf(o.day)},${(o.cents / 100).toFixed(2)}`);
  await ingestTransactions(
    textSource(`customer_id,order_id,order_date,amount\n${lines.join("\n")}\n`),
    { format: "csv" },
    state,
  );
  return state;
}

/** Per customer, distinct purchase days (orders that are not returns) on or before asOf, ascending. */
function purchaseDays(orders: Order[], asOfDay: number): Map<string, number[]> {
  const days = new Map<string, Set<number>>();
  for (const o of orders) {
    if (o.cents < 0 || o.day > asOfDay) continue;
    const set = days.get(o.customer) ?? new Set<number>();
    set.add(o.day);
    days.set(o.customer, set);
  }
  return new Map([...days].map(([id, set]) => [id, [...set].sort((a, b) => a - b)]));
}

const AS_OF = "2024-06-30";
const ASOF_DAY = dayOf(AS_OF);

describe("holdout validation", () => {
  it("counts the holdout purchases of the raw orders and predicts them as the models' own functions do", async () => {
    const orders = simulate(11, 1500, ASOF_DAY, 600);
    const state = await stateOf(orders);
    const result = computeSegments(state, { asOf: AS_OF, clusters: false });
    const value = result.value;
    const validation = value?.validation;
    if (value === undefined || validation == null) throw new Error("no validation");

    // Default holdout: a quarter of the days from the first order to asOf, at most 365.
    const days = purchaseDays(orders, ASOF_DAY);
    const firstOrder = Math.min(...[...days.values()].map((d) => d[0] as number));
    const holdoutDays = Math.min(365, Math.floor((ASOF_DAY - firstOrder) / 4));
    const calibrationEnd = ASOF_DAY - holdoutDays;
    expect(validation.holdoutDays).toBe(holdoutDays);
    expect(validation.calibrationEnd).toBe(isoOf(calibrationEnd));
    expect(validation.asOf).toBe(AS_OF);

    const cal: { x: number; tx: number; T: number; actual: number }[] = [];
    for (const list of days.values()) {
      const before = list.filter((d) => d <= calibrationEnd);
      if (before.length === 0) continue;
      const first = before[0] as number;
      cal.push({
        x: before.length - 1,
        tx: (before[before.length - 1] as number) - first,
        T: calibrationEnd - first,
        actual: list.length - before.length,
      });
    }
    expect(validation.customers).toBe(cal.length);
    expect(validation.actualRepeatPurchases).toBe(cal.reduce((s, c) => s + c.actual, 0));
    expect(validation.actualRepeatPurchases).toBeGreaterThan(100);

    const names = Object.keys(validation.models) as RepeatModelName[];
    expect(names.sort()).toEqual(["bgNbd", "mbgNbd", "paretoNbd"]);
    for (const name of names) {
      const accuracy = validation.models[name] as HoldoutModelAccuracy;
      const model = REPEAT_MODELS[name];
      // The calibration fit is the registry's fit on the calibration summaries worked out here.
      const fit = model.fit(
        cal.map((c) => c.x),
        cal.map((c) => c.tx),
        cal.map((c) => c.T),
      );
      for (const [param, v] of Object.entries(fit.params)) {
        expect(accuracy.fit.params[param]).toBeCloseTo(v, 8);
      }
      const predicted = cal.map((c) =>
        model.expectedPurchases(accuracy.fit.params, holdoutDays, c.x, c.tx, c.T),
      );
      const total = predicted.reduce((s, p) => s + p, 0);
      const mae = cal.reduce((s, c, i) => s + Math.abs(c.actual - (predicted[i] as number)), 0) / cal.length;
      const rmse = Math.sqrt(
        cal.reduce((s, c, i) => s + (c.actual - (predicted[i] as number)) ** 2, 0) / cal.length,
      );
      expect(accuracy.predictedRepeatPurchases).toBeCloseTo(total, 6);
      expect(accuracy.mae).toBeCloseTo(mae, 10);
      expect(accuracy.rmse).toBeCloseTo(rmse, 10);
      // A sensible model on data of its kind: the total within 25 % of what happened.
      expect(Math.abs(total / validation.actualRepeatPurchases - 1)).toBeLessThan(0.25);

      // The conditional-expectation table, by calibration frequency 0..6 and 7+.
      for (const row of validation.conditionalExpectations) {
        const members = cal
          .map((c, i) => ({ ...c, predicted: predicted[i] as number }))
          .filter((c) => (row.frequency === 7 ? c.x >= 7 : c.x === row.frequency));
        expect(row.customers).toBe(members.length);
        expect(row.label).toBe(row.frequency === 7 ? "7+" : String(row.frequency));
        expect(row.meanActual).toBeCloseTo(members.reduce((s, c) => s + c.actual, 0) / members.length, 12);
        expect(row.meanPredicted[name]).toBeCloseTo(
          members.reduce((s, c) => s + c.predicted, 0) / members.length,
          9,
        );
      }
    }
    const frequencies = new Set(cal.map((c) => Math.min(c.x, 7)));
    expect(validation.conditionalExpectations.map((r) => r.frequency)).toEqual([...frequencies].sort());

    // The lowest MAE is selected (no tie here) and served, refitted on all the data.
    const ranked = [...names].sort(
      (a, b) => (validation.models[a]?.mae as number) - (validation.models[b]?.mae as number),
    );
    expect(validation.metric).toBe("mae");
    expect(validation.selected).toBe(ranked[0]);
    expect(value.selectedModel).toBe(ranked[0]);
    expect(value.selection).toBe("holdout");
    expect(Object.keys(value.models)).toEqual([value.selectedModel]);
    expect(value.validationSkipped).toBeUndefined();
    expect(result.issues.filter((i) => i.code.startsWith("VALUE_HOLDOUT"))).toEqual([]);
  });

  it("serves the model named in the settings, the validation still run, over the holdout days set", async () => {
    const orders = simulate(12, 400, ASOF_DAY, 500);
    const state = await stateOf(orders);
    for (const model of ["bgNbd", "paretoNbd", "mbgNbd"] as const) {
      const result = computeSegments(state, {
        asOf: AS_OF,
        clusters: false,
        value: { model, holdoutDays: 60 },
      });
      expect(result.value?.selectedModel).toBe(model);
      expect(result.value?.selection).toBe("setting");
      expect(result.value?.validation?.holdoutDays).toBe(60);
      expect(result.value?.validation?.calibrationEnd).toBe(isoOf(ASOF_DAY - 60));
      const c = result.customer(0);
      expect(c.clvLow).toBeLessThanOrEqual(c.clv as number);
      expect(c.clvHigh).toBeGreaterThanOrEqual(c.clv as number);
    }
  });

  it("says why there is no holdout when the history is short, and serves the documented default", async () => {
    // Everyone's orders within the last 20 days: a quarter of that is 5 days, under the 7-day minimum.
    const rows: Order[] = [];
    for (let c = 0; c < 30; c++) {
      rows.push({ customer: `s${c}`, id: `a${c}`, day: ASOF_DAY - 20 + (c % 5), cents: 1000 });
      if (c % 2 === 0)
        rows.push({ customer: `s${c}`, id: `b${c}`, day: ASOF_DAY - 3 - (c % 3), cents: 1500 });
    }
    const result = computeSegments(await stateOf(rows), { asOf: AS_OF, clusters: false });
    expect(result.value?.validation).toBeNull();
    expect(result.value?.validationSkipped?.code).toBe("VALUE_HOLDOUT_TOO_SHORT");
    expect(result.value?.selection).toBe("default");
    expect(result.value?.selectedModel).toBe("mbgNbd");
    expect(result.issues.map((i) => i.code)).toContain("VALUE_HOLDOUT_TOO_SHORT");

    // Nobody had bought again by the calibration end.
    const late: Order[] = [];
    for (let c = 0; c < 30; c++) {
      late.push({ customer: `l${c}`, id: `a${c}`, day: ASOF_DAY - 200, cents: 1000 });
      if (c % 3 === 0) late.push({ customer: `l${c}`, id: `b${c}`, day: ASOF_DAY - 10, cents: 900 });
    }
    const second = computeSegments(await stateOf(late), { asOf: AS_OF, clusters: false });
    expect(second.value?.validationSkipped?.code).toBe("VALUE_HOLDOUT_NO_REPEAT_PURCHASES");
    expect(second.value?.selection).toBe("default");

    // The data end long before asOf: nobody buys in the holdout window, so nothing can be compared.
    const stale: Order[] = [];
    for (let c = 0; c < 30; c++) {
      stale.push({ customer: `t${c}`, id: `a${c}`, day: ASOF_DAY - 900 + c, cents: 1000 });
      if (c % 2 === 0) stale.push({ customer: `t${c}`, id: `b${c}`, day: ASOF_DAY - 700 + c, cents: 800 });
    }
    const third = computeSegments(await stateOf(stale), { asOf: AS_OF, clusters: false });
    expect(third.value?.validation).toBeNull();
    expect(third.value?.validationSkipped?.code).toBe("VALUE_HOLDOUT_NO_PURCHASES");
    // The latest purchase is that of t28: ASOF_DAY − 700 + 28 (worked out from the rows above).
    expect(third.value?.validationSkipped?.message).toContain(isoDay(ASOF_DAY - 672));
    expect(third.value?.selectedModel).toBe("mbgNbd");
    expect(third.value?.selection).toBe("default");
  });

  it("refuses bad holdout and model settings with BAD_VALUE_SETTINGS and the field", async () => {
    const state = await stateOf(simulate(13, 20, ASOF_DAY, 300));
    const cases: [unknown, string][] = [
      [{ holdoutDays: 0 }, "value.holdoutDays"],
      [{ holdoutDays: 2.5 }, "value.holdoutDays"],
      [{ holdoutDays: "90" }, "value.holdoutDays"],
      [{ holdoutDays: 3651 }, "value.holdoutDays"],
      [{ model: "pareto" }, "value.model"],
      [{ model: 1 }, "value.model"],
    ];
    for (const [value, field] of cases) {
      let error: unknown;
      try {
        computeSegments(state, { asOf: AS_OF, clusters: false, value: value as never });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ComputeError);
      expect((error as ComputeError).code).toBe("BAD_VALUE_SETTINGS");
      expect((error as ComputeError).field).toBe(field);
    }
  });
});

describe("selection rule", () => {
  const acc = (mae: number, logLikelihood: number) => ({
    mae,
    fit: { params: {}, logLikelihood, converged: true, atBoundary: [] },
  });
  it("takes the lowest MAE", () => {
    expect(rankByHoldout({ bgNbd: acc(0.5, -10), paretoNbd: acc(0.4, -20), mbgNbd: acc(0.45, -5) })).toEqual([
      "paretoNbd",
      "mbgNbd",
      "bgNbd",
    ]);
  });
  it("breaks MAEs within 0.1 % of the lowest by the higher calibration log-likelihood, then the fixed order", () => {
    const low = 0.4;
    const within = low * (1 + MAE_TIE_TOLERANCE * 0.9);
    const beyond = low * (1 + MAE_TIE_TOLERANCE * 1.1);
    expect(rankByHoldout({ bgNbd: acc(within, -10), paretoNbd: acc(low, -20) })[0]).toBe("bgNbd");
    expect(rankByHoldout({ bgNbd: acc(beyond, -10), paretoNbd: acc(low, -20) })[0]).toBe("paretoNbd");
    expect(rankByHoldout({ mbgNbd: acc(low, -7), paretoNbd: acc(low, -7), bgNbd: acc(low, -7) })).toEqual([
      "bgNbd",
      "paretoNbd",
      "mbgNbd",
    ]);
    expect(rankByHoldout({ mbgNbd: acc(low, -7), paretoNbd: acc(low, -7) })[0]).toBe("paretoNbd");
  });
});

/** Every number in a JSON-able value, with its path. */
function numbersOf(value: unknown, path = "$", out: [string, number][] = []): [string, number][] {
  if (typeof value === "number") out.push([path, value]);
  else if (Array.isArray(value)) {
    value.forEach((v, i) => {
      numbersOf(v, `${path}[${i}]`, out);
    });
  } else if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) numbersOf(v, `${path}.${k}`, out);
  }
  return out;
}

describe("never NaN or Infinity", () => {
  async function check(orders: Order[]) {
    const result = computeSegments(await stateOf(orders), { asOf: AS_OF, clusters: false });
    const all: unknown[] = [result.value, result.segments];
    for (let i = 0; i < result.customerCount; i++) all.push(result.customer(i));
    const bad = numbersOf(all).filter(([, v]) => !Number.isFinite(v));
    expect(bad).toEqual([]);
    return result;
  }

  it("with only one-time buyers: no predictions, a reason", async () => {
    const orders = Array.from({ length: 50 }, (_, c) => ({
      customer: `o${c}`,
      id: `x${c}`,
      day: ASOF_DAY - 5 * c,
      cents: 1000 + c,
    }));
    const result = await check(orders);
    expect(result.value).toBeUndefined();
    expect(result.issues.map((i) => i.code)).toContain("VALUE_NO_REPEAT_PURCHASES");
  });

  it("with one customer of 5,000 purchase days, and customers whose first purchase is asOf (T = 0)", async () => {
    const orders = simulate(14, 200, ASOF_DAY, 400);
    for (let k = 0; k < 5000; k++) {
      orders.push({ customer: "heavy", id: `h${k}`, day: ASOF_DAY - 5000 + k + 1, cents: 2000 });
    }
    for (let c = 0; c < 5; c++) orders.push({ customer: `new${c}`, id: `n${c}`, day: ASOF_DAY, cents: 500 });
    const result = await check(orders);
    const value = result.value;
    expect(value).toBeDefined();
    const ids = [...Array(result.customerCount).keys()].map((i) => result.customerId(i));
    const heavy = result.customer(ids.indexOf("heavy"));
    expect(heavy.repeatPurchases).toBe(4999);
    expect(heavy.clv).toBeGreaterThan(0);
    const fresh = result.customer(ids.indexOf("new0"));
    expect(fresh.recencyDays).toBe(0);
    expect(fresh.expectedPurchases).toBeGreaterThanOrEqual(0);
    // Every model was fitted and predicted with on the calibration part (finite, as checked above).
    expect(Object.keys(value?.validation?.models ?? {}).sort()).toEqual(["bgNbd", "mbgNbd", "paretoNbd"]);
  });
});
