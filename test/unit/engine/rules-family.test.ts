/**
 * The rule family inside computeSegments: each definition's members equal the customers a plain JavaScript
 * filter picks from the `customer(i)` objects, with attributes and channel/category shares worked out here from
 * the raw rows (not through the engine). Also: warnings for conditions that cannot match, and refusal of bad
 * definitions with the path of the problem.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { type ComputedSegmentation, computeSegments } from "../../../shared/engine/compute";
import { ComputeError } from "../../../shared/engine/errors";
import { ingestCustomers, ingestTransactions } from "../../../shared/engine/ingest";
import { AggregateState } from "../../../shared/engine/state";
import { ResultTraits } from "../../../shared/engine/traits";
import type { ComputeSettings, CustomerScores } from "../../../shared/engine/types";
import { textSource } from "./byte-source";

const AS_OF = "2024-07-01";
const AS_OF_MS = Date.parse(`${AS_OF}T00:00:00Z`);
const DAY_MS = 86_400_000;

function lcg(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 48271) % 2147483647;
    return s / 2147483647;
  };
}

const pick = <T>(next: () => number, list: readonly T[]): T => list[Math.floor(next() * list.length)] as T;

interface Row {
  customer: string;
  day: number;
  cents: number;
  channel: string;
  category: string;
}

/** 60 customers, 1–6 orders each over the last 400 days, some returns, four channels (one empty). */
function generate() {
  const next = lcg(2024);
  const rows: Row[] = [];
  const attributes: Record<string, string>[] = [];
  for (let c = 0; c < 60; c++) {
    const customer = `K${String(c).padStart(3, "0")}`;
    const orders = 1 + Math.floor(next() * 6);
    const lastAgo = Math.floor(next() * 400);
    for (let k = 0; k < orders; k++) {
      const day = Math.round(AS_OF_MS / DAY_MS) - lastAgo - Math.floor(next() * 120);
      const cents = 500 + Math.floor(next() * 30_000);
      const channel = pick(next, ["web", "app", "store", ""]);
      const category = pick(next, ["books", "music", "toys"]);
      rows.push({ customer, day, cents, channel, category });
      if (next() < 0.15)
        rows.push({ customer, day: day + 3, cents: -Math.floor(cents / 2), channel, category });
    }
    attributes.push({
      customer_id: customer,
      country: pick(next, ["US", "DE", "FR", ""]),
      age: pick(next, ["18", "25", "31", "44", "50", "67", ""]),
      vip: pick(next, ["yes", "no", ""]),
      signup_date: pick(next, ["2022-03-04", "2023-12-31", "2024-01-01", "2024-05-20", ""]),
      interests: pick(next, ["books;music", "toys", "books", "", "music|toys"]),
    });
  }
  return { rows, attributes };
}

const iso = (day: number) => new Date(day * DAY_MS).toISOString().slice(0, 10);

/** Net cents per channel (category) of each customer, from the raw rows, orders on or before asOf. */
function shares(rows: Row[], dimension: "channel" | "category", key: string): Map<string, number> {
  const net = new Map<string, Map<string, number>>();
  const asOfDay = AS_OF_MS / DAY_MS;
  for (const r of rows) {
    if (r.day > asOfDay) continue;
    const byValue = net.get(r.customer) ?? new Map<string, number>();
    byValue.set(r[dimension], (byValue.get(r[dimension]) ?? 0) + r.cents);
    net.set(r.customer, byValue);
  }
  const out = new Map<string, number>();
  for (const [customer, byValue] of net) {
    const positive = [...byValue.values()].filter((v) => v > 0).reduce((s, v) => s + v, 0);
    out.set(customer, positive > 0 ? Math.max(0, byValue.get(key) ?? 0) / positive : Number.NaN);
  }
  return out;
}

type Plain = CustomerScores & { attributes: Record<string, string> };

describe("the rule family", () => {
  const data = generate();
  let state: AggregateState;
  let base: ComputedSegmentation;
  let plain: Plain[];

  beforeAll(async () => {
    state = new AggregateState();
    const tx = data.rows.map(
      (r, k) => `${r.customer},o${k},${iso(r.day)},${(r.cents / 100).toFixed(2)},${r.channel},${r.category}`,
    );
    await ingestTransactions(
      textSource(`customer_id,order_id,order_date,amount,channel,category\n${tx.join("\n")}\n`),
      { format: "csv" },
      state,
    );
    const header = Object.keys(data.attributes[0] as object);
    const lines = data.attributes.map((a) => header.map((h) => a[h]).join(","));
    await ingestCustomers(textSource(`${header.join(",")}\n${lines.join("\n")}\n`), { format: "csv" }, state);
    base = computeSegments(state, { asOf: AS_OF });
    const byId = new Map(data.attributes.map((a) => [a.customer_id as string, a]));
    plain = Array.from({ length: base.customerCount }, (_, i) => {
      const c = base.customer(i);
      return { ...c, attributes: byId.get(c.customerId) as Record<string, string> };
    });
  });

  it("evaluates every definition to the members a plain filter picks", () => {
    const asOfDay = AS_OF_MS / DAY_MS;
    const web = shares(data.rows, "channel", "web");
    const books = shares(data.rows, "category", "books");
    const clvs = plain.map((c) => c.clv as number).sort((a, b) => a - b);
    const medianClv = clvs[Math.floor(clvs.length / 2)] as number;
    const someCluster = String((plain[0] as Plain).cluster).slice("cluster:".length);
    const age = (c: Plain) => (c.attributes.age === "" ? undefined : Number(c.attributes.age));

    const cases: [string, unknown, (c: Plain) => boolean][] = [
      [
        "active-big",
        {
          and: [
            { field: "lifecycle", op: "in", value: ["active", "new"] },
            { field: "monetary", op: "gte", value: 100 },
          ],
        },
        (c) => ["lifecycle:active", "lifecycle:new"].includes(c.lifecycle) && c.monetary >= 100,
      ],
      [
        "loyal-ish",
        { field: "rfm_segment", op: "in", value: ["champions", "loyal", "cant-lose-them"] },
        (c) => ["rfm:champions", "rfm:loyal", "rfm:cant-lose-them"].some((s) => c.segments.includes(s)),
      ],
      [
        "one-cluster",
        { field: "cluster", op: "eq", value: someCluster },
        (c) => c.cluster === `cluster:${someCluster}`,
      ],
      ["valuable", { field: "clv", op: "gt", value: medianClv }, (c) => (c.clv as number) > medianClv],
      [
        "fading",
        {
          and: [
            { field: "probability_alive", op: "lt", value: 0.9 },
            { field: "expected_purchases", op: "gte", value: 0.05 },
          ],
        },
        (c) => (c.probabilityAlive as number) < 0.9 && (c.expectedPurchases as number) >= 0.05,
      ],
      [
        "not-de",
        { not: { field: "attributes.country", op: "eq", value: "DE" } },
        (c) => c.attributes.country !== "DE",
      ],
      [
        "middle-aged",
        { field: "attributes.age", op: "between", value: [30, 50] },
        (c) => {
          const a = age(c);
          return a !== undefined && a >= 30 && a <= 50;
        },
      ],
      [
        "web",
        { field: "channel_share.web", op: "gte", value: 0.5 },
        (c) => (web.get(c.customerId) as number) >= 0.5,
      ],
      [
        "books",
        {
          or: [
            { field: "category_share.books", op: "gt", value: 0.3 },
            { field: "attributes.interests", op: "contains", value: "books" },
          ],
        },
        (c) =>
          (books.get(c.customerId) as number) > 0.3 ||
          /(^|[;|])books([;|]|$)/.test(c.attributes.interests ?? ""),
      ],
      [
        "recent-first",
        { field: "first_purchase", op: "after", value: { days_ago: 120 } },
        (c) => Date.parse(`${c.firstPurchase}T00:00:00Z`) / DAY_MS > asOfDay - 120,
      ],
      [
        "regulars",
        {
          and: [
            { field: "average_order_value", op: "gt", value: 60 },
            { field: "order_count", op: "gte", value: 2 },
            { field: "days_since_last_order", op: "lte", value: 200 },
            { field: "f_score", op: "gte", value: 3 },
          ],
        },
        (c) => c.monetary / c.frequency > 60 && c.frequency >= 2 && c.recencyDays <= 200 && c.f >= 3,
      ],
      ["vip", { field: "attributes.vip", op: "eq", value: true }, (c) => c.attributes.vip === "yes"],
      [
        "early-signup",
        { field: "attributes.signup_date", op: "before", value: "2024-01-01" },
        (c) => c.attributes.signup_date !== "" && (c.attributes.signup_date as string) < "2024-01-01",
      ],
    ];
    const rules = cases.map(([slug, rule]) => ({ id: `rule:${slug}`, name: slug, rule }));
    const result = computeSegments(state, {
      asOf: AS_OF,
      rules,
      attributeTypes: { interests: "list" },
    });
    expect(result.issues.filter((issue) => issue.stage === "rules")).toEqual([]);
    for (const [slug, , filter] of cases) {
      const id = `rule:${slug}`;
      const expected = plain.filter(filter).map((c) => c.customerId);
      const found: string[] = [];
      for (let i = 0; i < result.customerCount; i++) {
        const c = result.customer(i);
        if (c.segments.includes(id)) found.push(c.customerId);
      }
      expect(found, slug).toEqual(expected);
      // The test means something only if the rule splits the customers.
      expect(expected.length, slug).toBeGreaterThan(0);
      expect(expected.length, slug).toBeLessThan(plain.length);
      const summary = result.segments.find((s) => s.id === id);
      const members = plain.filter(filter);
      expect(summary?.size).toBe(members.length);
      expect(summary?.revenue).toBeCloseTo(
        members.reduce((s, c) => s + c.monetary, 0),
        6,
      );
      // Rounded to the cent (engine/money.ts): within half a cent of the exact mean, on a whole cent.
      const meanClv = summary?.meanClv as number;
      const exact = members.reduce((s, c) => s + (c.clv as number), 0) / members.length;
      expect(Math.abs(meanClv - exact)).toBeLessThanOrEqual(0.005 + 1e-9);
      expect(Math.abs(meanClv * 100 - Math.round(meanClv * 100))).toBeLessThan(1e-6);
    }
    // Adding rules leaves the other families as they were.
    expect(result.segments.filter((s) => s.family !== "rule")).toEqual(base.segments);
  });

  it("works out shares the same customer by customer as from the customers × values matrix", () => {
    const dense = new ResultTraits(base);
    const sparse = new ResultTraits(base, {}, { maxDenseEntries: 0 });
    const keys: ["channel" | "category", string][] = [
      ["channel", "web"],
      ["channel", "app"],
      ["channel", "store"],
      ["channel", "fax"],
      ["category", "books"],
      ["category", "toys"],
    ];
    for (const [dimension, key] of keys) {
      const reference = shares(data.rows, dimension, key);
      const expected = plain.map((c) => reference.get(c.customerId) as number);
      for (const traits of [dense, sparse]) {
        const column = [...(traits.share(dimension, key) as Float64Array)];
        expect(column.map((v) => Number.isNaN(v))).toEqual(expected.map((v) => Number.isNaN(v)));
        column.forEach((v, i) => {
          if (!Number.isNaN(v)) expect(v).toBeCloseTo(expected[i] as number, 12);
        });
      }
    }
  });

  it("reports conditions that cannot match in this data, and matches nobody with them", () => {
    const result = computeSegments(state, {
      asOf: AS_OF,
      clusters: false,
      value: false,
      rules: [
        { id: "rule:nope", name: "No such attribute", rule: { field: "attributes.nope", op: "exists" } },
        {
          id: "rule:cluster",
          name: "Cluster without clusters",
          rule: {
            and: [
              { field: "frequency", op: "gte", value: 1 },
              { field: "cluster", op: "eq", value: "c1" },
            ],
          },
        },
      ],
    });
    expect(result.issues).toEqual([
      {
        code: "RULE_UNKNOWN_ATTRIBUTE",
        message: "the customers data has no such attribute",
        stage: "rules",
        segment: "rule:nope",
        path: "rule",
      },
      {
        code: "RULE_TRAIT_UNAVAILABLE",
        message: "cluster was not computed for this dataset",
        stage: "rules",
        segment: "rule:cluster",
        path: "rule.and[1]",
      },
    ]);
    expect(result.segments.filter((s) => s.family === "rule").map((s) => s.size)).toEqual([0, 0]);
  });

  it("refuses bad definitions with BAD_RULE and the path of the problem", () => {
    const good = { id: "rule:ok", name: "OK", rule: { field: "frequency", op: "gte", value: 1 } };
    const cases: [unknown[], string][] = [
      [[{ ...good, id: "ok" }], "rules[0].id"],
      [[{ ...good, id: "rule:Upper" }], "rules[0].id"],
      [[good, { ...good }], "rules[1].id"],
      [[{ ...good, name: "" }], "rules[0].name"],
      [
        [good, { ...good, id: "rule:b", rule: { field: "frequency", op: "like", value: 1 } }],
        "rules[1].rule.op",
      ],
      [[{ ...good, rule: { and: [{ field: "nope", op: "eq", value: 1 }] } }], "rules[0].rule.and[0].field"],
      [["not an object"], "rules[0]"],
    ];
    for (const [rules, field] of cases) {
      let caught: unknown;
      try {
        computeSegments(state, { asOf: AS_OF, rules: rules as ComputeSettings["rules"] });
      } catch (error) {
        caught = error;
      }
      expect(caught, field).toBeInstanceOf(ComputeError);
      expect((caught as ComputeError).code).toBe("BAD_RULE");
      expect((caught as ComputeError).field).toBe(field);
    }
  });

  it("refuses an attribute type that does not exist", () => {
    expect(() =>
      computeSegments(state, {
        asOf: AS_OF,
        attributeTypes: { age: "integer" } as unknown as ComputeSettings["attributeTypes"],
      }),
    ).toThrow(expect.objectContaining({ code: "BAD_ATTRIBUTE_TYPE", field: "attributeTypes.age" }));
  });
});
