/**
 * Attribute families (attribute-families.ts) inside computeSegments, on a fixture small enough that every
 * expected segment, size and revenue below is worked out by hand from the rows written here.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { attributeFamilyProblems, numberSlug, slugOf } from "../../../shared/engine/attribute-families";
import { type ComputedSegmentation, computeSegments } from "../../../shared/engine/compute";
import { ComputeError } from "../../../shared/engine/errors";
import { ingestCustomers, ingestTransactions } from "../../../shared/engine/ingest";
import { AggregateState } from "../../../shared/engine/state";
import type { ComputeSettings, SegmentSummary } from "../../../shared/engine/types";
import { textSource } from "./byte-source";

const AS_OF = "2024-07-01";

// One order each, except j (two orders, one a return) and z (a return only: not a customer of the computation).
const TRANSACTIONS = `customer_id,order_id,order_date,amount
a,1,2024-06-01,10.10
b,2,2024-06-02,20.20
c,3,2024-06-03,30.30
d,4,2024-06-04,40.40
e,5,2024-06-05,5.05
f,6,2024-06-06,1.01
g,7,2024-06-07,2.02
h,8,2024-06-08,3.03
i,9,2024-06-09,4.04
j,10,2024-06-10,6.06
j,11,2024-06-11,-1.00
z,12,2024-06-12,-9.99
`;

// i has no row; k has a row but no order; h's age does not read as a number, g's signup not as a date.
const CUSTOMERS = `customer_id,country,age,signup,vip,tags
a,NO,18,2024-01-15,yes,x;y
b,NO,17.5,2024-03-31,no,x
c,no,-1.5,2024-04-01,,
d,DE,25,2023-12-31,,
e,DE,24.999,2024-02-29,,
f,FR,65,,,
g,Other,100,not a date,,
h,,abc,2024-03-01T23:30:00-02:00,,
j,unknown,-3,2022-07-04,,
k,SE,40,2024-05-05,yes,
z,NO,30,2024-01-01,,
`;

/** Net cents of each customer of the computation, from the rows above. */
const CENTS: Record<string, number> = {
  a: 1010,
  b: 2020,
  c: 3030,
  d: 4040,
  e: 505,
  f: 101,
  g: 202,
  h: 303,
  i: 404,
  j: 506,
};
const TOTAL_CENTS = Object.values(CENTS).reduce((s, c) => s + c, 0);

let state: AggregateState;

beforeAll(async () => {
  state = new AggregateState();
  await ingestTransactions(textSource(TRANSACTIONS), { format: "csv" }, state);
  await ingestCustomers(textSource(CUSTOMERS), { format: "csv" }, state);
});

function compute(extra: Partial<ComputeSettings>): ComputedSegmentation {
  return computeSegments(state, { asOf: AS_OF, clusters: false, value: false, ...extra });
}

/** Members of each segment of a family by id, from the customers' own segment lists. */
function membersOf(result: ComputedSegmentation, prefix: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (let i = 0; i < result.customerCount; i++) {
    const c = result.customer(i);
    const ids = (c.segments as string[]).filter((id) => id.startsWith(`${prefix}:`));
    expect(ids, c.customerId).toHaveLength(1);
    const id = ids[0] as string;
    out[id] = [...(out[id] ?? []), c.customerId].sort();
  }
  return out;
}

const family = (result: ComputedSegmentation, prefix: string): SegmentSummary[] =>
  result.segments.filter((s) => s.id.startsWith(`${prefix}:`));

/** Sizes add up to the customers and revenues (in cents) to the total; each revenue is its members' cents. */
function expectEconomics(result: ComputedSegmentation, prefix: string): void {
  const summaries = family(result, prefix);
  const members = membersOf(result, prefix);
  expect(summaries.reduce((s, x) => s + x.size, 0)).toBe(10);
  expect(summaries.reduce((s, x) => s + Math.round(x.revenue * 100), 0)).toBe(TOTAL_CENTS);
  for (const s of summaries) {
    expect(s.family).toBe("attr");
    const ids = members[s.id] ?? [];
    expect(s.size, s.id).toBe(ids.length);
    expect(Math.round(s.revenue * 100), s.id).toBe(ids.reduce((sum, id) => sum + (CENTS[id] as number), 0));
  }
}

describe("slugs", () => {
  it("lower-case, one '-' per run of other characters, trimmed, at most 64", () => {
    expect(slugOf("United Kingdom")).toBe("united-kingdom");
    expect(slugOf("  Côte d'Ivoire!! ")).toBe("c-te-d-ivoire");
    expect(slugOf("--Sign-up  date--")).toBe("sign-up-date");
    expect(slugOf("x".repeat(70))).toBe("x".repeat(64));
    expect(slugOf("£")).toBe("");
    expect(numberSlug(-1.5)).toBe("minus-1-5");
    expect(numberSlug(18)).toBe("18");
    expect(numberSlug(0.25)).toBe("0-25");
  });
});

describe("a categorical attribute", () => {
  it("gives the top values by customers (ties by text), other and unknown", () => {
    const result = compute({ attributeFamilies: [{ attribute: "country", top: 2 }] });
    // Counts among the computation's customers: NO 2 (a, b), DE 2 (d, e), FR, Other, no, unknown 1 each;
    // h (blank) and i (no row) have none. k (no order) and z (a return only) are not counted.
    expect(family(result, "attr:country").map((s) => [s.id, s.name, s.size, s.revenue])).toEqual([
      ["attr:country:de", "country: DE", 2, 45.45],
      ["attr:country:no", "country: NO", 2, 30.3],
      ["attr:country:other", "country: other", 4, 38.39], // 30.30 + 1.01 + 2.02 + (6.06 − 1.00)
      ["attr:country:unknown", "country: unknown", 2, 7.07],
    ]);
    expect(membersOf(result, "attr:country")).toEqual({
      "attr:country:de": ["d", "e"],
      "attr:country:no": ["a", "b"],
      "attr:country:other": ["c", "f", "g", "j"],
      "attr:country:unknown": ["h", "i"],
    });
    expect(family(result, "attr:country").map((s) => s.attribute)).toEqual([
      { name: "country", value: "DE", kind: "value" },
      { name: "country", value: "NO", kind: "value" },
      { name: "country", value: null, kind: "other" },
      { name: "country", value: null, kind: "unknown" },
    ]);
    expectEconomics(result, "attr:country");
    expect(result.issues).toEqual([]);
  });

  it("gives a value that slugs like an earlier one, or like other or unknown, the next free suffix", () => {
    const result = compute({ attributeFamilies: [{ attribute: "country" }] });
    // Rank: DE, NO (2 each), then FR, Other, no, unknown (code-unit order: upper case first).
    expect(family(result, "attr:country").map((s) => [s.id, s.name])).toEqual([
      ["attr:country:de", "country: DE"],
      ["attr:country:no", "country: NO"],
      ["attr:country:fr", "country: FR"],
      ["attr:country:other-2", "country: Other"],
      ["attr:country:no-2", "country: no"],
      ["attr:country:unknown-2", "country: unknown"],
      ["attr:country:unknown", "country: unknown"],
    ]);
    expect(family(result, "attr:country").some((s) => s.id === "attr:country:other")).toBe(false);
    expect(membersOf(result, "attr:country")["attr:country:no-2"]).toEqual(["c"]);
    expectEconomics(result, "attr:country");
  });

  it("reads a boolean attribute as true and false", () => {
    const result = compute({ attributeFamilies: [{ attribute: "vip" }] });
    expect(membersOf(result, "attr:vip")).toEqual({
      "attr:vip:true": ["a"],
      "attr:vip:false": ["b"],
      "attr:vip:unknown": ["c", "d", "e", "f", "g", "h", "i", "j"],
    });
    // One customer each: ties go by text, "false" before "true".
    expect(family(result, "attr:vip").map((s) => s.attribute?.value ?? null)).toEqual([
      "false",
      "true",
      null,
    ]);
  });

  it("is a family rules may name: in_segment attr:country:no selects its members", () => {
    const result = compute({
      attributeFamilies: [{ attribute: "country", top: 2 }],
      rules: [
        {
          id: "rule:norway",
          name: "Norway",
          rule: { field: "segment", op: "in_segment", value: "attr:country:no" },
        },
        {
          id: "rule:not-de",
          name: "Not DE",
          rule: { field: "segment", op: "not_in_segment", value: "attr:country:de" },
        },
      ],
    });
    const rules = membersOfRule(result);
    expect(rules["rule:norway"]).toEqual(["a", "b"]);
    expect(rules["rule:not-de"]).toEqual(["a", "b", "c", "f", "g", "h", "i", "j"]);
    expect(result.traits.membership("attr:country:other")?.reduce((s, x) => s + x, 0)).toBe(4);
    expect(result.issues).toEqual([]);
  });
});

function membersOfRule(result: ComputedSegmentation): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (let i = 0; i < result.customerCount; i++) {
    const c = result.customer(i);
    for (const id of c.segments as string[])
      if (id.startsWith("rule:")) out[id] = [...(out[id] ?? []), c.customerId].sort();
  }
  return out;
}

describe("a numeric attribute", () => {
  it("gives half-open bands at the breaks: a value equal to a break is in the band above it", () => {
    const result = compute({ attributeFamilies: [{ attribute: "age", breaks: [-1.5, 18, 25] }] });
    expect(family(result, "attr:age").map((s) => [s.id, s.name])).toEqual([
      ["attr:age:below-minus-1-5", "age: under -1.5"],
      ["attr:age:minus-1-5-to-18", "age: -1.5 to under 18"],
      ["attr:age:18-to-25", "age: 18 to under 25"],
      ["attr:age:25-and-over", "age: 25 and over"],
      ["attr:age:unknown", "age: unknown"],
    ]);
    expect(membersOf(result, "attr:age")).toEqual({
      "attr:age:below-minus-1-5": ["j"], // -3
      "attr:age:minus-1-5-to-18": ["b", "c"], // 17.5, -1.5
      "attr:age:18-to-25": ["a", "e"], // 18, 24.999
      "attr:age:25-and-over": ["d", "f", "g"], // 25, 65, 100
      "attr:age:unknown": ["h", "i"], // "abc", no row
    });
    expect(family(result, "attr:age")[1]?.attribute).toEqual({
      name: "age",
      value: "-1.5 to under 18",
      kind: "band",
    });
    expectEconomics(result, "attr:age");
  });

  it("lists every band, empty ones too", () => {
    const result = compute({ attributeFamilies: [{ attribute: "age", breaks: [0.5, 1000, 2000] }] });
    expect(family(result, "attr:age").map((s) => [s.id, s.size])).toEqual([
      ["attr:age:below-0-5", 2], // c -1.5, j -3
      ["attr:age:0-5-to-1000", 6], // a, b, d, e, f, g
      ["attr:age:1000-to-2000", 0],
      ["attr:age:2000-and-over", 0],
      ["attr:age:unknown", 2], // h, i
    ]);
    expectEconomics(result, "attr:age");
  });
});

describe("a date attribute", () => {
  // Days: a 2024-01-15, b 2024-03-31, c 2024-04-01, d 2023-12-31, e 2024-02-29, h 2024-03-02 (UTC of
  // 23:30 at -02:00), j 2022-07-04; f none, g not a date, i no row.
  it.each([
    [
      "month",
      {
        "attr:signup:2022-07": ["j"],
        "attr:signup:2023-12": ["d"],
        "attr:signup:2024-01": ["a"],
        "attr:signup:2024-02": ["e"],
        "attr:signup:2024-03": ["b", "h"],
        "attr:signup:2024-04": ["c"],
        "attr:signup:unknown": ["f", "g", "i"],
      },
      ["2022-07", "2023-12", "2024-01", "2024-02", "2024-03", "2024-04", null],
    ],
    [
      "quarter",
      {
        "attr:signup:2022-q3": ["j"],
        "attr:signup:2023-q4": ["d"],
        "attr:signup:2024-q1": ["a", "b", "e", "h"],
        "attr:signup:2024-q2": ["c"],
        "attr:signup:unknown": ["f", "g", "i"],
      },
      ["2022 Q3", "2023 Q4", "2024 Q1", "2024 Q2", null],
    ],
    [
      "year",
      {
        "attr:signup:2022": ["j"],
        "attr:signup:2023": ["d"],
        "attr:signup:2024": ["a", "b", "c", "e", "h"],
        "attr:signup:unknown": ["f", "g", "i"],
      },
      ["2022", "2023", "2024", null],
    ],
  ] as const)("gives %s cohorts that hold someone, in calendar order", (cohort, members, values) => {
    const result = compute({ attributeFamilies: [{ attribute: "signup", cohort }] });
    expect(membersOf(result, "attr:signup")).toEqual(members);
    expect(family(result, "attr:signup").map((s) => s.id)).toEqual(Object.keys(members));
    expect(family(result, "attr:signup").map((s) => s.attribute?.value)).toEqual(values);
    expect(
      family(result, "attr:signup").every(
        (s) => s.attribute?.kind === (s.attribute?.value === null ? "unknown" : "cohort"),
      ),
    ).toBe(true);
    expectEconomics(result, "attr:signup");
  });
});

describe("attributes that cannot be segmented by", () => {
  it("an attribute no customer has: everyone in unknown, and an issue", () => {
    const result = compute({ attributeFamilies: [{ attribute: "Shoe size" }] });
    expect(family(result, "attr:shoe-size").map((s) => [s.id, s.size])).toEqual([
      ["attr:shoe-size:unknown", 10],
    ]);
    expect(result.issues).toEqual([
      expect.objectContaining({ code: "ATTRIBUTE_UNKNOWN", stage: "attributes", segment: "attr:shoe-size" }),
    ]);
    expectEconomics(result, "attr:shoe-size");
  });

  it("a list attribute: refused with an issue, no segments", () => {
    const result = compute({ attributeTypes: { tags: "list" }, attributeFamilies: [{ attribute: "tags" }] });
    expect(family(result, "attr:tags")).toEqual([]);
    expect(result.issues).toEqual([
      expect.objectContaining({ code: "ATTRIBUTE_LIST_TYPE", stage: "attributes", segment: "attr:tags" }),
    ]);
  });

  it.each([
    [[{ attribute: "age", type: "numeric" }], "attributeFamilies[0].breaks"],
    [[{ attribute: "age", breaks: [1, 1] }], "attributeFamilies[0].breaks[1]"],
    [[{ attribute: "age", breaks: [] }], "attributeFamilies[0].breaks"],
    [[{ attribute: "country", top: 51 }], "attributeFamilies[0].top"],
    [[{ attribute: "country", top: 3, type: "date" }], "attributeFamilies[0].top"],
    [[{ attribute: "country" }, { attribute: "country", top: 2 }], "attributeFamilies[1].attribute"],
    [[{ attribute: "Country" }, { attribute: "country!" }], "attributeFamilies[1].attribute"],
    [[{ attribute: "££" }], "attributeFamilies[0].attribute"],
    [[{ attribute: "signup", cohort: "week" }], "attributeFamilies[0].cohort"],
    [Array.from({ length: 11 }, (_, k) => ({ attribute: `a${k}` })), "attributeFamilies"],
  ])("%j is refused at %s before any work", (entries, field) => {
    let error: unknown;
    try {
      compute({ attributeFamilies: entries as ComputeSettings["attributeFamilies"] });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ComputeError);
    expect((error as ComputeError).code).toBe("BAD_ATTRIBUTE_FAMILY");
    expect((error as ComputeError).field).toBe(field);
    expect(attributeFamilyProblems(entries).length).toBeGreaterThan(0);
  });
});
