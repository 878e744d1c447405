/**
 * Money exact to the cent (money.ts): the rounding rule against BigInt arithmetic, and every money figure of
 * the CDNOW master file's segments against sums of the file's amounts made in BigInt from their text.
 */
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { computeSegments } from "../../../shared/engine/compute";
import { ingestTransactions } from "../../../shared/engine/ingest";
import { centsText, meanRounded, roundToCent, sumAmounts } from "../../../shared/engine/money";
import { AggregateState } from "../../../shared/engine/state";
import { sharedData } from "../../support/shared-data";
import { chunked } from "./byte-source";

const CDNOW = sharedData("cdnow/cdnow-master-transactions.csv");

/** total / n rounded half away from zero, in BigInt. */
function bigMean(total: bigint, n: bigint): bigint {
  const magnitude = total < 0n ? -total : total;
  const rounded = (2n * magnitude + n) / (2n * n);
  return total < 0n ? -rounded : rounded;
}

function centsOf(text: string): bigint {
  const [whole = "0", fraction = ""] = text.replace("-", "").split(".");
  const cents = BigInt(whole) * 100n + BigInt(fraction.padEnd(2, "0"));
  return text.startsWith("-") ? -cents : cents;
}

/** The decimal a JSON number of these cents must print as. */
function jsonOf(cents: bigint): string {
  const abs = cents < 0n ? -cents : cents;
  const text = `${abs / 100n}.${(abs % 100n).toString().padStart(2, "0")}`.replace(/\.?0+$/, "");
  return `${cents < 0n && abs !== 0n ? "-" : ""}${text}`;
}

describe("the rounding rule", () => {
  it("rounds a mean of integer cents half away from zero, exactly, as BigInt does", () => {
    expect(meanRounded(5, 2)).toBe(3);
    expect(meanRounded(-5, 2)).toBe(-3);
    expect(meanRounded(7, 4)).toBe(2);
    expect(Object.is(meanRounded(-1, 4), 0)).toBe(true);
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(10n ** 15n) + 1n, max: 10n ** 15n - 1n }),
        fc.bigInt({ min: 1n, max: 10n ** 7n }),
        (total, n) => meanRounded(Number(total), Number(n)) === Number(bigMean(total, n)),
      ),
      { seed: 7, numRuns: 5000 },
    );
  });

  it("rounds a model's value to the cent, and writes cents as their decimal", () => {
    expect(roundToCent(12.345)).toBe(12.35);
    expect(roundToCent(-12.355)).toBe(-12.36);
    expect(roundToCent(0.1 + 0.2)).toBe(0.3);
    expect(centsText(-305)).toBe("-3.05");
    expect(centsText(999_999_999_999_999)).toBe("9999999999999.99");
    expect(String(sumAmounts([0.1, 0.2, 0.7, 2500277.31]))).toBe("2500278.31");
  });
});

describe("money on the CDNOW master file", () => {
  it("gives every segment's revenue and order value, and the dataset's revenue, to the cent", async () => {
    const bytes = readFileSync(CDNOW);
    const rows = bytes.toString("utf8").trim().split("\n").slice(1);
    const header = bytes.toString("utf8").split("\n")[0]?.split(",") ?? [];
    const at = { customer: header.indexOf("customer_id"), amount: header.indexOf("amount") };
    const perCustomer = new Map<string, { cents: bigint; orders: bigint }>();
    let floatSum = 0;
    for (const row of rows) {
      const fields = row.split(",");
      const amount = (fields[at.amount] as string).trim();
      floatSum += Number(amount);
      const c = perCustomer.get(fields[at.customer] as string) ?? { cents: 0n, orders: 0n };
      c.cents += centsOf(amount);
      if (centsOf(amount) >= 0n) c.orders += 1n;
      perCustomer.set(fields[at.customer] as string, c);
    }
    const total = [...perCustomer.values()].reduce((s, c) => s + c.cents, 0n);
    // The premise: summed as floats, the file's amounts are not their exact total.
    expect(String(floatSum)).not.toBe(jsonOf(total));

    const state = new AggregateState();
    const report = await ingestTransactions(chunked(bytes, [65536]), { format: "csv" }, state);
    expect(report.rowsRejected).toBe(0);
    const result = computeSegments(state, { asOf: "1998-07-01", clusters: false, value: false });
    expect(BigInt(result.totalCents)).toBe(total);
    const rfm = result.segments.filter((s) => s.family === "rfm");
    expect(String(sumAmounts(rfm.map((s) => s.revenue)))).toBe(jsonOf(total));

    const members = new Map<string, { cents: bigint; orders: bigint }>();
    for (let i = 0; i < result.customerCount; i++) {
      const c = result.customer(i);
      const hand = perCustomer.get(c.customerId) as { cents: bigint; orders: bigint };
      expect(JSON.stringify(c.monetary)).toBe(jsonOf(hand.cents));
      for (const id of c.segments) {
        const m = members.get(id) ?? { cents: 0n, orders: 0n };
        m.cents += hand.cents;
        m.orders += hand.orders;
        members.set(id, m);
      }
    }
    for (const s of result.segments) {
      const m = members.get(s.id) ?? { cents: 0n, orders: 0n };
      expect(JSON.stringify(s.revenue), s.id).toBe(jsonOf(m.cents));
      expect(JSON.stringify(s.averageOrderValue), s.id).toBe(
        m.orders === 0n ? "0" : jsonOf(bigMean(m.cents, m.orders)),
      );
    }
  }, 60_000);
});
