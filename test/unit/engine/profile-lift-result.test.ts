/**
 * Profile inputs from a computed result (shared/engine/profiles/from-result.ts): a small dataset is ingested and
 * segmented, and every segment's profile (k = 1, so nothing is hidden) is checked against figures worked out
 * here from the raw rows: net spend and buyers per category (orders on or before asOf, a negative net counting
 * 0), and counts per country; attribute kinds follow their types.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { type ComputedSegmentation, computeSegments } from "../../../shared/engine/compute";
import { ingestCustomers, ingestTransactions } from "../../../shared/engine/ingest";
import { type CategoricalProfile, profileInputOf, profileSegments } from "../../../shared/engine/profiles";
import { AggregateState } from "../../../shared/engine/state";
import { ResultTraits } from "../../../shared/engine/traits";
import { textSource } from "./byte-source";

const AS_OF = "2024-07-01";
const AS_OF_DAY = Date.parse(`${AS_OF}T00:00:00Z`) / 86_400_000;
const iso = (day: number) => new Date(day * 86_400_000).toISOString().slice(0, 10);

function lcg(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 48271) % 2147483647;
    return s / 2147483647;
  };
}

interface Row {
  customer: string;
  day: number;
  cents: number;
  category: string;
}

function generate() {
  const next = lcg(14);
  const rows: Row[] = [];
  const customers: { id: string; country: string; age: string; vip: string; signup: string }[] = [];
  const pick = <T>(list: readonly T[]) => list[Math.floor(next() * list.length)] as T;
  for (let c = 0; c < 80; c++) {
    const customer = `K${c}`;
    const orders = 1 + Math.floor(next() * 5);
    for (let k = 0; k < orders; k++) {
      const day = AS_OF_DAY - Math.floor(next() * 500) + 5; // a few after asOf, which must not count
      const cents = 100 + Math.floor(next() * 20_000);
      const category = pick(["books", "music", "toys", ""]);
      rows.push({ customer, day, cents, category });
      if (next() < 0.2) rows.push({ customer, day: day + 1, cents: -Math.floor(cents * 1.5), category });
    }
    customers.push({
      id: customer,
      country: pick(["US", "DE", "FR", ""]),
      age: pick(["18", "31", "44", "67", ""]),
      vip: pick(["yes", "no"]),
      signup: pick(["2023-01-04", "2023-12-31", "2024-05-20", ""]),
    });
  }
  return { rows, customers };
}

describe("profiles from a computed result", () => {
  const data = generate();
  let result: ComputedSegmentation;

  beforeAll(async () => {
    const state = new AggregateState();
    const tx = data.rows.map(
      (r, k) => `${r.customer},o${k},${iso(r.day)},${(r.cents / 100).toFixed(2)},${r.category}`,
    );
    await ingestTransactions(
      textSource(`customer_id,order_id,order_date,amount,category\n${tx.join("\n")}\n`),
      { format: "csv" },
      state,
    );
    const lines = data.customers.map((c) => `${c.id},${c.country},${c.age},${c.vip},${c.signup}`);
    await ingestCustomers(
      textSource(`customer_id,country,age,vip,signup\n${lines.join("\n")}\n`),
      { format: "csv" },
      state,
    );
    result = computeSegments(state, { asOf: AS_OF });
  });

  it("matches spend per category and counts per country worked out from the rows", () => {
    const traits = new ResultTraits(result);
    const ids = result.segments.map((s) => s.id);
    const input = profileInputOf(result, traits, ids, ["country", "age", "vip", "signup", "absent"]);
    expect(input.attributes?.map((a) => [a.name, a.kind])).toEqual([
      ["country", "categorical"],
      ["age", "numeric"],
      ["vip", "categorical"],
      ["signup", "date"],
    ]);
    expect(input.dimensions?.map((d) => d.dimension)).toEqual(["category"]);
    const profiles = profileSegments(input, { k: 1, top: 10 });
    expect(profiles.map((p) => p.segmentId)).toEqual(ids.filter((id) => traits.membership(id) !== undefined));
    expect(profiles.length).toBeGreaterThan(5);

    // Net per customer and category from the rows.
    const net = new Map<string, Map<string, number>>();
    for (const r of data.rows) {
      if (r.day > AS_OF_DAY) continue;
      const byCategory = net.get(r.customer) ?? new Map<string, number>();
      byCategory.set(r.category, (byCategory.get(r.category) ?? 0) + r.cents);
      net.set(r.customer, byCategory);
    }
    const country = new Map(data.customers.map((c) => [c.id, c.country]));
    const membersOf = new Map<string, string[]>();
    for (let i = 0; i < result.customerCount; i++) {
      const c = result.customer(i);
      for (const s of c.segments) membersOf.set(s, [...(membersOf.get(s) ?? []), c.customerId]);
    }
    let checked = 0;
    for (const profile of profiles) {
      const members = membersOf.get(profile.segmentId) ?? [];
      expect(profile.size).toBe(members.length);
      for (const item of profile.spend[0]?.items ?? []) {
        if (item.suppressed) throw new Error("nothing is hidden at k = 1");
        const positive = members.map((m) => Math.max(0, net.get(m)?.get(item.value) ?? 0));
        expect(item.netCents).toBe(positive.reduce((a, b) => a + b, 0));
        expect(item.buyers).toBe(positive.filter((v) => v > 0).length);
        checked++;
      }
      const countries = profile.attributes[0] as CategoricalProfile;
      for (const item of countries.items) {
        if (item.suppressed) throw new Error("nothing is hidden at k = 1");
        expect(item.count).toBe(members.filter((m) => country.get(m) === item.value).length);
        checked++;
      }
      if (countries.missing && !countries.missing.suppressed) {
        expect(countries.missing.count).toBe(members.filter((m) => country.get(m) === "").length);
      }
    }
    expect(checked).toBeGreaterThan(20);
  });
});
