/**
 * The real CDNOW master file (69,659 rows, 23,570 customers): totals and every customer's RFM values and
 * scores against an independent computation over csv-parse's records with plain Maps and sorting.
 */
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { parse } from "csv-parse/sync";
import { beforeAll, describe, expect, it } from "vitest";
import { type ComputedSegmentation, computeSegments } from "../../../shared/engine/compute";
import { ingestTransactions } from "../../../shared/engine/ingest";
import { AggregateState } from "../../../shared/engine/state";
import type { IngestReport } from "../../../shared/engine/types";
import { chunked, everyN } from "./byte-source";

const FILE = "/work/shared/data/cdnow/cdnow-master-transactions.csv";
const AS_OF = "1998-07-01";
const DAY_MS = 86_400_000;

interface Reference {
  rows: number;
  totalCents: number;
  customers: Map<string, { frequency: number; cents: number; last: number; first: number }>;
}

function referenceOf(bytes: Buffer): Reference {
  const records = parse(bytes, { columns: true }) as Record<string, string>[];
  const customers: Reference["customers"] = new Map();
  let totalCents = 0;
  const orders = new Set<string>();
  for (const r of records) {
    const cents = Math.round(Number(r.amount) * 100);
    const day = Date.parse(`${r.order_date}T00:00:00Z`) / DAY_MS;
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
  return { rows: records.length, totalCents, customers };
}

/** Score by rank: 1 + ⌊5 · (index of the first equal value in ascending order) / N⌋. */
function scoresByRank(values: number[]): number[] {
  const sorted = [...values].sort((a, b) => a - b);
  const firstIndex = new Map<number, number>();
  sorted.forEach((v, i) => {
    if (!firstIndex.has(v)) firstIndex.set(v, i);
  });
  return values.map((v) => 1 + Math.floor((5 * (firstIndex.get(v) as number)) / values.length));
}

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
    expect(result.segments.reduce((sum, s) => sum + s.size, 0)).toBe(23_570);
    expect(Math.round(result.segments.reduce((sum, s) => sum + s.revenue, 0) * 100)).toBe(
      reference.totalCents,
    );
  });

  it("gives every customer the recency, frequency, monetary value and R, F, M scores of the reference", () => {
    const asOfDay = Date.parse(`${AS_OF}T00:00:00Z`) / DAY_MS;
    const ids = [...reference.customers.keys()];
    const values = ids.map(
      (id) =>
        reference.customers.get(id) as { frequency: number; cents: number; last: number; first: number },
    );
    const r = scoresByRank(values.map((v) => -(asOfDay - v.last)));
    const f = scoresByRank(values.map((v) => v.frequency));
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
      const { customerId, rfm, segments, ...scores } = c;
      expect(customerId).toBe(id);
      expect(rfm).toBe(`${r[k]}${f[k]}${m[k]}`);
      expect(segments).toHaveLength(1);
      expect(scores).toEqual(expected);
    });
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
