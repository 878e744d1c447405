/**
 * The straightforward implementation the engine is measured against: csv-parse records, a Map of order objects
 * keyed by order_id (lines of one order summed, as the data contract says), a Map of customer objects, and
 * scores by sorting. It follows the README's RFM rules and is written without the engine's code, so that it
 * doubles as an independent check of the engine's RFM result.
 */

import { once } from "node:events";
import { createReadStream, createWriteStream } from "node:fs";
import { parse } from "csv-parse";

const DAY_MS = 86_400_000;

/** README grid: row R = 5..1 (index 5 - R), column FM = 1..5. */
const GRID: readonly (readonly string[])[] = [
  ["new-customers", "potential-loyalist", "loyal", "champions", "champions"],
  ["promising", "potential-loyalist", "loyal", "champions", "champions"],
  ["about-to-sleep", "about-to-sleep", "need-attention", "loyal", "loyal"],
  ["hibernating", "hibernating", "at-risk", "at-risk", "cant-lose-them"],
  ["lost", "lost", "at-risk", "cant-lose-them", "cant-lose-them"],
];

export function baselineSegment(r: number, f: number, m: number): string {
  const fm = Math.floor((f + m + 1) / 2);
  return `rfm:${GRID[5 - r]?.[fm - 1]}`;
}

interface Order {
  customer: string;
  day: number;
  cents: number;
}

interface Customer {
  id: string;
  first: number;
  last: number;
  frequency: number;
  /** Distinct days with an order that is not a return: what F scores. */
  days: Set<number>;
  cents: number;
  recency: number;
  r: number;
  f: number;
  m: number;
  segment: string;
}

/**
 * The README's scores, by sorting: each distinct value, worst first, gets q = 1 + ⌊5 · (number of values
 * strictly worse) / N⌋; with five or more distinct values a score is at most one above the previous value's
 * and at least 5 − (number of better distinct values).
 */
function quintiles(values: number[], lowerIsBetter: boolean): number[] {
  const keyed = lowerIsBetter ? values.map((v) => -v) : values;
  const sorted = [...keyed].sort((a, b) => a - b);
  const distinct: { value: number; below: number }[] = [];
  sorted.forEach((v, i) => {
    if (i === 0 || v !== sorted[i - 1]) distinct.push({ value: v, below: i });
  });
  const score = new Map<number, number>();
  let previous = 0;
  distinct.forEach(({ value, below }, j) => {
    let s = 1 + Math.floor((5 * below) / values.length);
    if (distinct.length >= 5) s = Math.max(Math.min(s, previous + 1), 5 - (distinct.length - 1 - j));
    score.set(value, s);
    previous = s;
  });
  return keyed.map((v) => score.get(v) as number);
}

export interface BaselineResult {
  rows: number;
  orders: number;
  customers: number;
  seconds: { readAggregate: number; rfm: number; write: number; total: number };
}

export async function baselineRfm(file: string, asOf: string, out?: string): Promise<BaselineResult> {
  const started = performance.now();
  const asOfDay = Date.parse(`${asOf}T00:00:00Z`) / DAY_MS;
  const orders = new Map<string, Order>();
  let rows = 0;
  const parser = createReadStream(file).pipe(parse({ columns: true }));
  for await (const record of parser as AsyncIterable<Record<string, string>>) {
    rows++;
    const cents = Math.round(Number(record.amount) * 100);
    const day = Math.floor(Date.parse((record.order_date as string).slice(0, 10)) / DAY_MS);
    const existing = orders.get(record.order_id as string);
    if (existing) existing.cents += cents;
    else orders.set(record.order_id as string, { customer: record.customer_id as string, day, cents });
  }
  const aggregated = performance.now();

  const byId = new Map<string, Customer>();
  for (const order of orders.values()) {
    if (order.day > asOfDay) continue;
    let c = byId.get(order.customer);
    if (!c) {
      c = {
        id: order.customer,
        first: Number.POSITIVE_INFINITY,
        last: Number.NEGATIVE_INFINITY,
        frequency: 0,
        days: new Set<number>(),
        cents: 0,
        recency: 0,
        r: 0,
        f: 0,
        m: 0,
        segment: "",
      };
      byId.set(order.customer, c);
    }
    c.cents += order.cents;
    if (order.cents >= 0) {
      c.frequency++;
      c.days.add(order.day);
      c.first = Math.min(c.first, order.day);
      c.last = Math.max(c.last, order.day);
    }
  }
  const customers = [...byId.values()].filter((c) => c.frequency > 0);
  for (const c of customers) c.recency = asOfDay - c.last;
  const r = quintiles(
    customers.map((c) => c.recency),
    true,
  );
  const f = quintiles(
    customers.map((c) => c.days.size),
    false,
  );
  const m = quintiles(
    customers.map((c) => c.cents),
    false,
  );
  customers.forEach((c, i) => {
    c.r = r[i] as number;
    c.f = f[i] as number;
    c.m = m[i] as number;
    c.segment = baselineSegment(c.r, c.f, c.m);
  });
  const scored = performance.now();

  if (out !== undefined) {
    const stream = createWriteStream(out);
    let chunk = "customer_id,recency_days,frequency,monetary_cents,r,f,m,rfm_segment\n";
    for (const c of customers) {
      chunk += `${c.id},${c.recency},${c.frequency},${c.cents},${c.r},${c.f},${c.m},${c.segment}\n`;
      if (chunk.length > 1 << 18) {
        if (!stream.write(chunk)) await once(stream, "drain");
        chunk = "";
      }
    }
    stream.end(chunk);
    await once(stream, "finish");
  }
  const done = performance.now();
  return {
    rows,
    orders: orders.size,
    customers: customers.length,
    seconds: {
      readAggregate: (aggregated - started) / 1000,
      rfm: (scored - aggregated) / 1000,
      write: (done - scored) / 1000,
      total: (done - started) / 1000,
    },
  };
}
