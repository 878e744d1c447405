/**
 * The order pass that gives the totals as of asOf and the value stage's calibration columns together
 * (customerTotalsWithEarlier) equals two passes of customerTotals, field by field and byte for byte: on the
 * CDNOW demo file, and on generated orders with returns, orders after asOf, days out of order, amounts past the
 * int32 range, and customers with no purchase before the earlier day. The calibration end it is computed for
 * is the one the value stage asks for (worked out by hand below), and computeSegments gives the result of the
 * two-pass way, which passes the totals as of any day to segmentsFromTotals.
 */
import { createReadStream } from "node:fs";
import { describe, expect, it } from "vitest";
import { mulberry32 as random } from "../../../scripts/random";
import {
  calibrationEndDayOf,
  computeSegments,
  customerTotals,
  customerTotalsWithEarlier,
  firstPurchaseDayOf,
  segmentsFromTotals,
} from "../../../shared/engine/compute";
import { parseDay } from "../../../shared/engine/days";
import { ingestTransactions } from "../../../shared/engine/ingest";
import { AggregateState } from "../../../shared/engine/state";
import type { ComputeSettings } from "../../../shared/engine/types";
import { resolveValueSettings } from "../../../shared/engine/value";

const CDNOW = "scripts/local/demo/cdnow-transactions.csv.gz";
const HOLDOUT_FIELDS = ["stateIndex", "firstPurchaseDay", "lastPurchaseDay", "purchaseDays"] as const;

function bytes(a: ArrayBufferView): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** Every typed-array field of `actual` equals `expected`'s byte for byte, and the other fields are equal. */
function expectSameColumns(actual: object, expected: object, fields: readonly string[]): void {
  for (const name of fields) {
    const a = (actual as Record<string, unknown>)[name];
    const e = (expected as Record<string, unknown>)[name];
    if (ArrayBuffer.isView(e)) {
      expect(ArrayBuffer.isView(a), name).toBe(true);
      expect((a as Uint8Array).length, name).toBe((e as Uint8Array).length);
      expect(bytes(a as ArrayBufferView).equals(bytes(e)), name).toBe(true);
    } else {
      expect(a, name).toEqual(e);
    }
  }
}

/** Checks the one pass against two passes of customerTotals as of asOfDay and earlierDay. */
function expectOnePassEqualsTwo(state: AggregateState, asOfDay: number, earlierDay: number): void {
  const { totals, earlier } = customerTotalsWithEarlier(state, asOfDay, earlierDay);
  const reference = customerTotals(state, asOfDay);
  expectSameColumns(totals, reference, Object.keys(reference));
  expect(Object.keys(totals).sort()).toEqual(Object.keys(reference).sort());
  const referenceEarlier = customerTotals(state, earlierDay);
  expectSameColumns(earlier, referenceEarlier, HOLDOUT_FIELDS);
  expect(Object.keys(earlier).sort()).toEqual([...HOLDOUT_FIELDS].sort());
}

/**
 * Orders of `customers` customers over 400 days before asOf and 30 after, in no order of day: one in eight a
 * return, one in forty an amount past the int32 range (either sign), a fifth of the customers buying only after
 * `lateFrom` (some of them with returns before it).
 */
function generatedState(seed: number, customers: number, asOfDay: number, lateFrom: number): AggregateState {
  const next = random(seed);
  const state = new AggregateState();
  for (let c = 0; c < customers; c++) state.customers.append(Buffer.from(`C${c}`), 0, `C${c}`.length);
  let order = 0;
  for (let c = 0; c < customers; c++) {
    const late = next() < 0.2;
    const orders = 1 + Math.floor(next() * 12);
    for (let o = 0; o < orders; o++) {
      const returning = next() < 0.125;
      const from = late && !returning ? lateFrom + 1 : asOfDay - 400;
      const day = from + Math.floor(next() * (asOfDay + 30 - from + 1));
      let cents = 1 + Math.floor(next() * 50_000);
      if (next() < 0.025) cents = 2 ** 31 + Math.floor(next() * 1e9);
      if (returning) cents = -cents;
      state.addOrder(order, order * 7 + 1, c, day, cents, 0, 0);
      order++;
    }
  }
  return state;
}

describe("the totals as of asOf and as of the calibration end in one pass", () => {
  it("equal two passes of customerTotals on the CDNOW demo file", async () => {
    const state = new AggregateState();
    await ingestTransactions(createReadStream(CDNOW), { format: "csv" }, state);
    const asOfDay = parseDay("1998-07-01") as number;
    const day = calibrationEndDayOf(state, asOfDay, resolveValueSettings({}));
    expect(day).toBeDefined();
    expectOnePassEqualsTwo(state, asOfDay, day as number);
    // Another day as well, and one before every order (no customer has bought by then).
    expectOnePassEqualsTwo(state, asOfDay, parseDay("1997-03-15") as number);
    const none = customerTotalsWithEarlier(state, asOfDay, parseDay("1996-01-01") as number).earlier;
    expect(none.stateIndex.length).toBe(0);
  });

  it("equal two passes with returns, orders after asOf, days out of order and large amounts", () => {
    const asOfDay = parseDay("2024-12-31") as number;
    const lateFrom = asOfDay - 100;
    const state = generatedState(7, 3000, asOfDay, lateFrom);
    expect(state.bigCents.size).toBeGreaterThan(0);
    const totals = customerTotals(state, asOfDay);
    expect(totals.ordersAfterAsOf).toBeGreaterThan(0);
    const earlier = customerTotals(state, lateFrom);
    // Customers who bought only later are in the totals as of asOf and not in the earlier ones.
    expect(earlier.stateIndex.length).toBeLessThan(totals.stateIndex.length - 300);
    expectOnePassEqualsTwo(state, asOfDay, lateFrom);
    for (const day of [asOfDay - 1, asOfDay - 200, asOfDay - 399, asOfDay - 401]) {
      expectOnePassEqualsTwo(state, asOfDay, day);
    }
  });

  it("refuses an earlier day that is not before asOf", () => {
    const state = generatedState(1, 10, 20_000, 19_900);
    expect(() => customerTotalsWithEarlier(state, 20_000, 20_000)).toThrow(RangeError);
  });
});

describe("the calibration end before the pass", () => {
  it("is the first purchase on or before asOf, returns and later orders left out", () => {
    const asOfDay = parseDay("2024-12-31") as number;
    const state = new AggregateState();
    for (const id of ["a", "b", "c"]) state.customers.append(Buffer.from(id), 0, 1);
    state.addOrder(1, 1, 0, asOfDay - 500, -1000, 0, 0); // a return: not a purchase
    state.addOrder(2, 2, 1, asOfDay - 450, -(2 ** 33), 0, 0); // a large return
    state.addOrder(3, 3, 2, asOfDay + 10, 500, 0, 0); // after asOf
    state.addOrder(4, 4, 0, asOfDay - 40, 700, 0, 0);
    state.addOrder(5, 5, 1, asOfDay - 400, 2 ** 33, 0, 0); // the first purchase, a large amount
    expect(firstPurchaseDayOf(state, asOfDay)).toBe(asOfDay - 400);
    expect(Math.min(...customerTotals(state, asOfDay).firstPurchaseDay)).toBe(asOfDay - 400);
    // The default holdout is a quarter of the 400 days from the first purchase to asOf: 100 days.
    expect(calibrationEndDayOf(state, asOfDay, resolveValueSettings({}))).toBe(asOfDay - 100);
    expect(calibrationEndDayOf(state, asOfDay, resolveValueSettings({ holdoutDays: 30 }))).toBe(asOfDay - 30);
    // 20 days of history give a holdout of 5 days, too short to validate on.
    expect(calibrationEndDayOf(state, asOfDay - 380, resolveValueSettings({}))).toBeUndefined();
    // Nothing bought on or before asOf: asOf itself.
    expect(firstPurchaseDayOf(state, asOfDay - 401)).toBe(asOfDay - 401);
  });
});

describe("computeSegments with the one pass", () => {
  it("gives the result of the two-pass way (totals as of any day asked for)", async () => {
    const state = new AggregateState();
    await ingestTransactions(createReadStream(CDNOW), { format: "csv" }, state);
    const settings: ComputeSettings = { asOf: "1998-07-01", clusters: { k: 4 } };
    for (const options of [{}, { valueThread: true }]) {
      const one = computeSegments(state, settings, options);
      const asOfDay = one.asOfDay;
      const two = segmentsFromTotals(
        state,
        customerTotals(state, asOfDay),
        settings,
        (day) => customerTotals(state, day),
        options,
      );
      expect(one.value?.validation).toBeDefined();
      expect(JSON.stringify(one.value)).toBe(JSON.stringify(two.value));
      expect(one.issues).toEqual(two.issues);
      expect(one.customerCount).toBe(two.customerCount);
      expectSameColumns(one.columns, two.columns, Object.keys(two.columns));
      for (const i of [0, 1, Math.floor(one.customerCount / 2), one.customerCount - 1]) {
        expect(one.customer(i)).toEqual(two.customer(i));
      }
    }
  });
});
