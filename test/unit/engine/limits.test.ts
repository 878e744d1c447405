/**
 * Limits that keep money exact (ingest.ts): |amount| per row, the sum of |amounts| per customer and per
 * dataset, each past its limit a rejected row with its own code, never a wrong sum or a crash; rows dated
 * after the latest accepted day are rejected FUTURE_DATE. Expected sums are worked in BigInt from the file's
 * text, and the row numbers by hand (the file's lines; the header is line 1).
 */
import { describe, expect, it } from "vitest";
import { computeSegments } from "../../../shared/engine/compute";
import { parseDay } from "../../../shared/engine/days";
import {
  ingestTransactions,
  MAX_AMOUNT_CENTS,
  MAX_CUSTOMER_CENTS,
  MAX_DATASET_CENTS,
} from "../../../shared/engine/ingest";
import { AggregateState } from "../../../shared/engine/state";
import type { RowError } from "../../../shared/engine/types";
import { textSource } from "./byte-source";

const HEADER = "customer_id,order_id,order_date,amount";
/** The largest amount a row may have (MAX_AMOUNT_CENTS), written out. */
const BIG = "99999999999.99";
const BIG_CENTS = 9_999_999_999_999n;

async function ingest(text: string, state = new AggregateState(), latestOrderDay?: number) {
  const errors: RowError[] = [];
  const report = await ingestTransactions(
    textSource(text, [13, 4096]),
    {
      format: "csv",
      onRowError: (e) => errors.push(e),
      ...(latestOrderDay === undefined ? {} : { latestOrderDay }),
    },
    state,
  );
  return { state, report, errors: errors.map(({ row, code }) => [row, code]) };
}

function decimalOf(cents: bigint): string {
  const abs = cents < 0n ? -cents : cents;
  return `${cents < 0n ? "-" : ""}${abs / 100n}.${(abs % 100n).toString().padStart(2, "0")}`;
}

describe("the limits", () => {
  it("keep every sum of a dataset below 2^53 cents and within 15 significant digits as an amount", () => {
    expect(MAX_AMOUNT_CENTS).toBeLessThanOrEqual(MAX_CUSTOMER_CENTS);
    expect(MAX_CUSTOMER_CENTS).toBeLessThanOrEqual(MAX_DATASET_CENTS);
    expect(BigInt(MAX_DATASET_CENTS)).toBeLessThan(2n ** 53n);
    // The largest sum prints as its exact decimal.
    expect(String(MAX_DATASET_CENTS / 100)).toBe("9999999999999.99");
    expect(String(-MAX_DATASET_CENTS / 100)).toBe("-9999999999999.99");
  });
});

describe("amounts past the limits", () => {
  it("rows of 9999999999999.99 are each past the row limit, and the run's sums stay exact", async () => {
    const rows = Array.from({ length: 2000 }, (_, k) => `c${k},o${k},2024-01-01,9999999999999.99`);
    const { state, report, errors } = await ingest(`${HEADER}\nok,o,2024-01-01,0.10\n${rows.join("\n")}\n`);
    expect(report).toMatchObject({ rowsRead: 2001, rowsAccepted: 1, rowsRejected: 2000 });
    // Line 1 is the header, line 2 the good row: the big rows are lines 3 to 2002.
    expect(errors).toEqual(Array.from({ length: 2000 }, (_, k) => [k + 3, "AMOUNT_TOO_LARGE"]));
    expect(computeSegments(state, { asOf: "2024-01-02", clusters: false, value: false }).totalCents).toBe(10);
  });

  it("rejects the rows past the dataset limit, in file order, and sums the rest exactly", async () => {
    // Customer k's order on line k + 2. A hundred rows sum to 999,999,999,999,900 cents, within the limit
    // (10^15 − 1); the 101st would pass it, and so would each row after it.
    const rows = Array.from({ length: 2000 }, (_, k) => `c${k},o${k},2024-01-01,${BIG}`);
    const { state, report, errors } = await ingest(`${HEADER}\n${rows.join("\n")}\n`);
    expect(report).toMatchObject({ rowsRead: 2000, rowsAccepted: 100, rowsRejected: 1900 });
    expect(errors).toEqual(Array.from({ length: 1900 }, (_, k) => [k + 102, "DATASET_TOTAL_TOO_LARGE"]));
    const result = computeSegments(state, { asOf: "2024-01-02", clusters: false, value: false });
    expect(BigInt(result.totalCents)).toBe(100n * BIG_CENTS);
    const rfm = result.segments.filter((s) => s.family === "rfm");
    const revenueCents = rfm.reduce((sum, s) => sum + BigInt(Math.round(s.revenue * 100)), 0n);
    expect(revenueCents).toBe(100n * BIG_CENTS);
    for (const s of rfm) expect(s.revenue).toBe(Number(decimalOf(BigInt(s.size) * BIG_CENTS)));
  });

  it("rejects a row past the row limit, and the rows that would pass their customer's limit", async () => {
    const c = Array.from(
      { length: 10 },
      (_, k) => `c,c${k},2024-01-0${k < 9 ? k + 1 : 9},${k === 1 ? "-" : ""}${BIG}`,
    );
    const text = [
      HEADER,
      `a,o1,2024-01-01,${BIG}`, // 2: exactly the row limit, accepted
      "b,o2,2024-01-01,100000000000.00", // 3: one cent past it
      "b,o3,2024-01-01,-100000000000.00", // 4: a return counts by its size
      ...c, // 5-14: c's orders, the second a return: c's sum of |amounts| 10 · BIG = 99,999,999,999,990
      "c,o15,2024-01-10,0.09", // 15: 99,999,999,999,999 cents, exactly the customer limit
      "c,o16,2024-01-11,0.01", // 16: one cent past it
      "c,c9,2024-01-09,0.01", // 17: a further line of an order of c's counts too
      "d,o18,2024-01-11,0.01", // 18: another customer is not held back
    ].join("\n");
    const { state, report, errors } = await ingest(`${text}\n`);
    expect(errors).toEqual([
      [3, "AMOUNT_TOO_LARGE"],
      [4, "AMOUNT_TOO_LARGE"],
      [16, "CUSTOMER_TOTAL_TOO_LARGE"],
      [17, "CUSTOMER_TOTAL_TOO_LARGE"],
    ]);
    expect(report).toMatchObject({ rowsRead: 17, rowsAccepted: 13, rowsRejected: 4, ordersAdded: 13 });
    // b has no order, so it is not a customer of the state at all.
    expect(state.findCustomer("b")).toBe(-1);
    const result = computeSegments(state, { asOf: "2024-01-12", clusters: false, value: false });
    const scores = Array.from({ length: result.customerCount }, (_, i) => result.customer(i));
    // c's net spend: 8 · BIG (9 orders less the return) + 0.09.
    expect(String(scores.find((x) => x.customerId === "c")?.monetary)).toBe(decimalOf(8n * BIG_CENTS + 9n));
  });

  it("counts a customer's earlier lines that cancel out, and its orders of an earlier file, at its limit", async () => {
    // An earlier file: x's order p0 of 0.05.
    const first = await ingest(`${HEADER}\nx,p0,2023-12-01,0.05\n`);
    const state = AggregateState.deserialize(first.state.serialize());
    const text = [
      HEADER,
      `x,m1,2024-01-01,${BIG}`, // 2
      `x,m1,2024-01-01,-${BIG}`, // 3: a further line of m1, which now nets 0; x's sum of |amounts| 2 · BIG
      `x,m2,2024-01-02,${BIG}`, // 4
      `x,m2,2024-01-02,-${BIG}`, // 5: 4 · BIG
      ...Array.from({ length: 6 }, (_, k) => `x,m${k + 3},2024-01-03,${BIG}`), // 6-11: 10 · BIG
      "x,m9,2024-01-04,0.04", // 12: 10 · BIG + 0.05 + 0.04 = 99,999,999,999,999 cents, x's limit exactly
      "y,m10,2024-01-04,0.01", // 13: another customer, accepted
      "x,m11,2024-01-05,0.01", // 14: one cent past x's limit
      "x,m2,2024-01-02,0.01", // 15: a further line of x's order m2, past it too
      "y,m12,2024-01-05,0.01", // 16
    ].join("\n");
    const { report, errors } = await ingest(`${text}\n`, state);
    expect(errors).toEqual([
      [14, "CUSTOMER_TOTAL_TOO_LARGE"],
      [15, "CUSTOMER_TOTAL_TOO_LARGE"],
    ]);
    expect(report).toMatchObject({ rowsRead: 15, rowsAccepted: 13, ordersAdded: 11, orderLinesMerged: 2 });
    const result = computeSegments(state, { asOf: "2024-01-06", clusters: false, value: false });
    // What the dataset nets: x 6 · BIG + 0.05 + 0.04, y 0.02.
    expect(result.totalCents).toBe(Number(6n * BIG_CENTS + 11n));
  });

  it("counts what the state already holds, after a reload: the dataset limit to the cent", async () => {
    const hundred = Array.from({ length: 100 }, (_, k) => `c${k},o${k},2024-01-01,${BIG}`);
    const first = await ingest(`${HEADER}\n${hundred.join("\n")}\n`);
    const state = AggregateState.deserialize(first.state.serialize());
    // 100 · BIG = 10^15 − 100 cents: 1.00 more is one cent past the limit, 0.99 exactly the limit, and a
    // return of 0.01 after it one cent past again.
    const { report, errors } = await ingest(
      `${HEADER}\nx,p1,2024-01-02,1.00\nx,p2,2024-01-02,0.99\ny,p3,2024-01-02,-0.01\n`,
      state,
    );
    expect(errors).toEqual([
      [2, "DATASET_TOTAL_TOO_LARGE"],
      [4, "DATASET_TOTAL_TOO_LARGE"],
    ]);
    expect(report).toMatchObject({ rowsAccepted: 1, ordersAdded: 1 });
    const result = computeSegments(state, { asOf: "2024-01-03", clusters: false, value: false });
    expect(result.totalCents).toBe(MAX_DATASET_CENTS);
  });
});

describe("future dates", () => {
  it("rejects rows dated after the latest accepted day, and keeps that day itself", async () => {
    const latest = parseDay("2026-12-08") as number;
    const text = [
      HEADER,
      "a,o1,2026-12-08,1.00", // 2: the latest day accepted
      "a,o2,2026-12-09,1.00", // 3
      "b,o3,2030-01-01,2.00", // 4
      "c,o4,9999-12-31,3.00", // 5
      "c,o5,2026-12-08T23:59:59-05:00,4.00", // 6: 2026-12-09 in UTC
    ].join("\n");
    const { state, report, errors } = await ingest(`${text}\n`, new AggregateState(), latest);
    expect(errors).toEqual([
      [3, "FUTURE_DATE"],
      [4, "FUTURE_DATE"],
      [5, "FUTURE_DATE"],
      [6, "FUTURE_DATE"],
    ]);
    expect(report).toMatchObject({ rowsRead: 5, rowsAccepted: 1, rowsRejected: 4 });
    expect(state.customerCount).toBe(1);
    // Without a latest day (the engine alone, as the CLI uses it), nothing is refused for its date.
    expect((await ingest(`${text}\n`)).errors).toEqual([]);
  });

  it("keeps accepted orders dated after asOf out of the result, and the result's issues count them", async () => {
    const text = [
      HEADER,
      "a,o1,2024-06-01,1.00",
      "a,o2,2024-07-02,2.00",
      "b,o3,2024-07-03,3.00",
      "c,o4,2024-07-01,4.00",
    ];
    const { state } = await ingest(`${text.join("\n")}\n`);
    const result = computeSegments(state, { asOf: "2024-07-01", clusters: false, value: false });
    // b's only order is after asOf: b is not scored; a's second order waits for a later evaluation.
    expect(result.customerCount).toBe(2);
    expect(result.totalCents).toBe(500);
    expect(result.issues).toContainEqual({
      code: "ORDERS_AFTER_AS_OF",
      stage: "data",
      message:
        "2 orders are dated after the evaluation date (2024-07-01): kept, and counted from the first evaluation on or after their day",
    });
    const later = computeSegments(state, { asOf: "2024-07-03", clusters: false, value: false });
    expect(later.totalCents).toBe(1000);
    expect(later.issues.map((i) => i.code)).not.toContain("ORDERS_AFTER_AS_OF");
  });
});
