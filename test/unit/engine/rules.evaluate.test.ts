/**
 * Every operator on every kind of field, over ten hand-made customers (indexes 0..9). Each expected member list
 * is worked out by hand from the table below; the working sits next to the tricky cases.
 */
import { describe, expect, it } from "vitest";
import {
  type AttributeType,
  type AttributeValue,
  type CategoricalColumn,
  compileRule,
  countMembers,
  type NumericColumn,
  parseIsoDay,
  type Rule,
  RuleCompileError,
  ruleSchema,
  type TraitSource,
} from "../../../shared/engine/rules";

const AS_OF = "2024-07-01";
const NaN_ = Number.NaN;

function day(iso: string): number {
  const d = parseIsoDay(iso);
  if (d === undefined) throw new Error(`bad fixture date ${iso}`);
  return d;
}

// ---- the table ---------------------------------------------------------------------------------------------
//
// idx  frequency monetary last_purchase rfm_segment      lifecycle  web   books
//  0   0         —        —             —(code -1)       —(255)     —     —
//  1   1         10       2024-06-30    new_customers    new        1     0
//  2   2         25.5     2024-06-01    loyal            active     0.5   0
//  3   3         100      2024-05-31    at_risk          active     0     1
//  4   5         250      2024-01-01    champions        at_risk    0.25  0.5
//  5   5         250      2023-12-31    champions        lapsed     0.75  0.5
//  6   8         -20      2024-07-01    cant_lose_them   reactiv.   0     0.2
//  7   1         10.5     2023-07-01    lost             lapsed     1     0
//  8   0         0        2024-06-01    —(code 99)       new        —     —
//  9   12        1000     2022-02-28    loyal            active     0.5   0.1
//
// As of 2024-07-01, {days_ago: 30} is 2024-06-01 (June has 30 days), {days_ago: 365} is 2023-07-02 (the year
// to 2024-07-01 has 366 days because of 2024-02-29).

const frequency = Int32Array.from([0, 1, 2, 3, 5, 5, 8, 1, 0, 12]);
const monetary = Float64Array.from([NaN_, 10, 25.5, 100, 250, 250, -20, 10.5, 0, 1000]);
const lastPurchase = Float64Array.from(
  [
    null,
    "2024-06-30",
    "2024-06-01",
    "2024-05-31",
    "2024-01-01",
    "2023-12-31",
    "2024-07-01",
    "2023-07-01",
    "2024-06-01",
    "2022-02-28",
  ].map((d) => (d === null ? NaN_ : day(d))),
);
const rfmSegment: CategoricalColumn = {
  dictionary: ["champions", "loyal", "at_risk", "lost", "new_customers", "cant_lose_them"],
  codes: Int32Array.from([-1, 4, 1, 2, 0, 0, 5, 3, 99, 1]),
};
const lifecycle: CategoricalColumn = {
  dictionary: ["new", "active", "at_risk", "lapsed", "reactivated"],
  codes: Uint8Array.from([255, 0, 1, 1, 2, 3, 4, 3, 0, 1]),
};
const web = Float64Array.from([NaN_, 1, 0.5, 0, 0.25, 0.75, 0, 1, NaN_, 0.5]);
const books = [NaN_, 0, 0, 1, 0.5, 0.5, 0.2, 0, NaN_, 0.1];

// Attributes. "—" marks a missing value; "(wrong type)" values do not match the declared type and count as missing.
//
// idx  country            age           vip           signup_date     interests          ref
//  0   US                 30            true          2020-01-15      [music, sports]    2024-01-01
//  1   DE                 —             false         2024-06-15      []                 x
//  2   US                 45            —             —               —                  x
//  3   —                  18            true          2024-06-01      [sports]           x
//  4   United Kingdom     65            false         2019-12-31      [books, music]     x
//  5   FR                 30            true          2024-07-01      [Music]            x
//  6   US                 22.5          "true" (wt)   "2024-01-01"(wt) "music" (wt)      x
//  7   "" (empty: —)      "40" (wt)     false         2023-07-01      [travel]           x
//  8   Germany            NaN (—)       true          2024-06-02      [sports, travel]   x
//  9   42 (wt)            0             —             2021-03-10      —                  x
const attributes: Record<string, { type: AttributeType; values: (AttributeValue | string | number)[] }> = {
  country: {
    type: "string",
    values: ["US", "DE", "US", null, "United Kingdom", "FR", "US", "", "Germany", 42],
  },
  age: { type: "number", values: [30, null, 45, 18, 65, 30, 22.5, "40", NaN_, 0] },
  vip: { type: "boolean", values: [true, false, null, true, false, true, "true", false, true, null] },
  signup_date: {
    type: "date",
    values: [
      day("2020-01-15"),
      day("2024-06-15"),
      null,
      day("2024-06-01"),
      day("2019-12-31"),
      day("2024-07-01"),
      "2024-01-01",
      day("2023-07-01"),
      day("2024-06-02"),
      day("2021-03-10"),
    ],
  },
  interests: {
    type: "list",
    values: [
      ["music", "sports"],
      [],
      null,
      ["sports"],
      ["books", "music"],
      ["Music"],
      "music",
      ["travel"],
      ["sports", "travel"],
      null,
    ],
  },
  ref: { type: "string", values: ["2024-01-01", "x", "x", "x", "x", "x", "x", "x", "x", "x"] },
};

const numericColumns: Partial<Record<string, NumericColumn>> = {
  frequency,
  monetary,
  last_purchase: lastPurchase,
};

const source: TraitSource = {
  size: 10,
  numeric: (trait) => numericColumns[trait],
  categorical: (trait) =>
    trait === "rfm_segment" ? rfmSegment : trait === "lifecycle" ? lifecycle : undefined,
  share: (dimension, key) => {
    if (dimension === "channel") return key === "web" ? web : new Float64Array(10);
    return key === "books" ? (i) => books[i] ?? NaN_ : undefined;
  },
  attributeType: (name) => attributes[name]?.type,
  attribute: (i, name) => (attributes[name]?.values[i] ?? null) as AttributeValue,
};

// The same data, with attributes read through per-attribute readers resolved at compile time.
const readerSource: TraitSource = {
  ...source,
  attributeReader: (name) => {
    const column = attributes[name];
    return column && ((i) => (column.values[i] ?? null) as AttributeValue);
  },
};

function members(rule: Rule, src: TraitSource = source): number[] {
  const parsed = ruleSchema.safeParse(rule);
  if (!parsed.success) throw new Error(`fixture rule is invalid: ${JSON.stringify(parsed.error.issues)}`);
  const compiled = compileRule(parsed.data, src, { asOf: AS_OF });
  const bits = compiled.evaluate();
  const ids: number[] = [];
  bits.forEach((b, i) => {
    if (b === 1) ids.push(i);
    // The single-customer path must agree with the column path.
    expect(compiled.matches(i), `matches(${i}) for ${JSON.stringify(rule)}`).toBe(b === 1);
  });
  expect(countMembers(bits)).toBe(ids.length);
  return ids;
}

type Case = [op: string, value: unknown, expected: number[]];

function table(field: string, cases: Case[]) {
  it.each(cases)(`${field} %s %j`, (op, value, expected) => {
    const rule = (value === undefined ? { field, op } : { field, op, value }) as Rule;
    expect(members(rule)).toEqual(expected);
    expect(members(rule, readerSource)).toEqual(expected);
  });
}

const ALL = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
/** The integers from..to-1. */
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe("numeric trait in an Int32Array (no missing values)", () => {
  // frequency = [0, 1, 2, 3, 5, 5, 8, 1, 0, 12]
  table("frequency", [
    ["eq", 5, [4, 5]],
    ["neq", 1, [0, 2, 3, 4, 5, 6, 8, 9]],
    ["in", [0, 12], [0, 8, 9]],
    ["not_in", [0, 1], [2, 3, 4, 5, 6, 9]],
    // lists longer than 16 values are hashed rather than scanned
    ["in", [...range(100, 117), 12], [9]],
    ["not_in", [...range(100, 117), 0], [1, 2, 3, 4, 5, 6, 7, 9]],
    ["gt", 5, [6, 9]],
    ["gte", 5, [4, 5, 6, 9]],
    ["lt", 2, [0, 1, 7, 8]],
    ["lte", 2, [0, 1, 2, 7, 8]],
    ["between", [1, 3], [1, 2, 3, 7]],
    ["exists", undefined, ALL],
    ["not_exists", undefined, []],
  ]);
});

describe("numeric trait in a Float64Array (NaN is missing)", () => {
  // monetary = [—, 10, 25.5, 100, 250, 250, -20, 10.5, 0, 1000]; customer 0 is never matched except by not_exists
  table("monetary", [
    ["eq", 250, [4, 5]],
    ["neq", 10, [2, 3, 4, 5, 6, 7, 8, 9]],
    ["in", [10, 0, 1000], [1, 8, 9]],
    ["not_in", [10, 0], [2, 3, 4, 5, 6, 7, 9]],
    ["not_in", [...range(100, 117), 0], [1, 2, 4, 5, 6, 7, 9]],
    ["gt", 10, [2, 3, 4, 5, 7, 9]],
    ["gte", 10, [1, 2, 3, 4, 5, 7, 9]],
    ["lt", 0, [6]],
    ["lte", 10, [1, 6, 8]],
    ["between", [10, 100], [1, 2, 3, 7]],
    ["between", [-20, -20], [6]],
    ["exists", undefined, [1, 2, 3, 4, 5, 6, 7, 8, 9]],
    ["not_exists", undefined, [0]],
  ]);
});

describe("date trait (day numbers, absolute and relative dates)", () => {
  table("last_purchase", [
    ["eq", "2024-06-01", [2, 8]],
    ["eq", { days_ago: 30 }, [2, 8]],
    ["eq", { days_ago: 0 }, [6]],
    ["neq", "2024-06-01", [1, 3, 4, 5, 6, 7, 9]],
    ["in", ["2024-01-01", "2023-12-31"], [4, 5]],
    ["in", [{ days_ago: 1 }, { days_ago: 0 }], [1, 6]],
    ["not_in", ["2024-06-01"], [1, 3, 4, 5, 6, 7, 9]],
    ["gt", "2024-06-01", [1, 6]],
    ["gte", { days_ago: 30 }, [1, 2, 6, 8]],
    ["lt", "2024-01-01", [5, 7, 9]],
    ["lte", "2024-01-01", [4, 5, 7, 9]],
    ["between", ["2024-01-01", "2024-06-01"], [2, 3, 4, 8]],
    // 2024-05-31 .. 2024-06-30
    ["between", [{ days_ago: 31 }, { days_ago: 1 }], [1, 2, 3, 8]],
    ["before", "2024-01-01", [5, 7, 9]],
    // before 2023-07-02
    ["before", { days_ago: 365 }, [7, 9]],
    // after 2024-06-01
    ["after", { days_ago: 30 }, [1, 6]],
    ["after", "2023-12-31", [1, 2, 3, 4, 6, 8]],
    ["exists", undefined, [1, 2, 3, 4, 5, 6, 7, 8, 9]],
    ["not_exists", undefined, [0]],
  ]);
});

describe("categorical trait with Int32Array codes (-1 and 99 are outside the dictionary)", () => {
  table("rfm_segment", [
    ["eq", "champions", [4, 5]],
    ["eq", "hibernating", []],
    ["neq", "champions", [1, 2, 3, 6, 7, 9]],
    ["in", ["loyal", "lost"], [2, 7, 9]],
    ["not_in", ["loyal", "lost"], [1, 3, 4, 5, 6]],
    // "lo" is in loyal, lost and cant_lose_them
    ["contains", "lo", [2, 6, 7, 9]],
    ["starts_with", "c", [4, 5, 6]],
    ["exists", undefined, [1, 2, 3, 4, 5, 6, 7, 9]],
    ["not_exists", undefined, [0, 8]],
  ]);
});

describe("categorical trait with Uint8Array codes (255 is outside the dictionary)", () => {
  table("lifecycle", [
    ["eq", "active", [2, 3, 9]],
    ["in", ["lapsed", "new"], [1, 5, 7, 8]],
    ["neq", "new", [2, 3, 4, 5, 6, 7, 9]],
    ["exists", undefined, [1, 2, 3, 4, 5, 6, 7, 8, 9]],
    ["not_exists", undefined, [0]],
  ]);
});

describe("share from a column", () => {
  // web = [—, 1, 0.5, 0, 0.25, 0.75, 0, 1, —, 0.5]
  table("channel_share.web", [
    ["eq", 0.5, [2, 9]],
    ["neq", 1, [2, 3, 4, 5, 6, 9]],
    ["in", [0, 1], [1, 3, 6, 7]],
    ["not_in", [0, 1], [2, 4, 5, 9]],
    ["gt", 0.5, [1, 5, 7]],
    ["gte", 0.5, [1, 2, 5, 7, 9]],
    ["lt", 0.25, [3, 6]],
    ["lte", 0.25, [3, 4, 6]],
    ["between", [0.25, 0.75], [2, 4, 5, 9]],
    ["exists", undefined, [1, 2, 3, 4, 5, 6, 7, 9]],
    ["not_exists", undefined, [0, 8]],
  ]);
  // A channel no customer used: the source returns zeros, so "less than 10%" is everyone.
  table("channel_share.fax", [["lt", 0.1, ALL]]);
});

describe("share from a reader function", () => {
  // books = [—, 0, 0, 1, 0.5, 0.5, 0.2, 0, —, 0.1]
  table("category_share.books", [
    ["eq", 0.5, [4, 5]],
    ["neq", 0, [3, 4, 5, 6, 9]],
    ["in", [0.1, 0.2], [6, 9]],
    ["not_in", [0], [3, 4, 5, 6, 9]],
    ["gt", 0, [3, 4, 5, 6, 9]],
    ["gte", 0.5, [3, 4, 5]],
    ["lt", 0.2, [1, 2, 7, 9]],
    ["lte", 0.2, [1, 2, 6, 7, 9]],
    ["between", [0.1, 0.5], [4, 5, 6, 9]],
    ["exists", undefined, [1, 2, 3, 4, 5, 6, 7, 9]],
    ["not_exists", undefined, [0, 8]],
  ]);
});

describe("string attribute", () => {
  table("attributes.country", [
    ["eq", "US", [0, 2, 6]],
    ["neq", "US", [1, 4, 5, 8]],
    ["in", ["DE", "FR", "Germany"], [1, 5, 8]],
    ["not_in", ["US", "DE"], [4, 5, 8]],
    ["contains", "U", [0, 2, 4, 6]],
    // "an" occurs in "Germany" only ("United Kingdom" has no "an")
    ["contains", "an", [8]],
    ["starts_with", "G", [8]],
    ["starts_with", "U", [0, 2, 4, 6]],
    ["exists", undefined, [0, 1, 2, 4, 5, 6, 8]],
    ["not_exists", undefined, [3, 7, 9]],
  ]);
  // An ISO-looking value on a string attribute is compared as text.
  table("attributes.ref", [["eq", "2024-01-01", [0]]]);
});

describe("number attribute", () => {
  table("attributes.age", [
    ["eq", 30, [0, 5]],
    ["neq", 30, [2, 3, 4, 6, 9]],
    ["in", [18, 65], [3, 4]],
    ["not_in", [30, 0], [2, 3, 4, 6]],
    ["gt", 30, [2, 4]],
    ["gte", 30, [0, 2, 4, 5]],
    ["lt", 22.5, [3, 9]],
    ["lte", 22.5, [3, 6, 9]],
    ["between", [18, 30], [0, 3, 5, 6]],
    ["exists", undefined, [0, 2, 3, 4, 5, 6, 9]],
    ["not_exists", undefined, [1, 7, 8]],
  ]);
});

describe("boolean attribute", () => {
  table("attributes.vip", [
    ["eq", true, [0, 3, 5, 8]],
    ["eq", false, [1, 4, 7]],
    ["neq", true, [1, 4, 7]],
    ["in", [true], [0, 3, 5, 8]],
    ["in", [true, false], [0, 1, 3, 4, 5, 7, 8]],
    ["not_in", [false], [0, 3, 5, 8]],
    ["exists", undefined, [0, 1, 3, 4, 5, 7, 8]],
    ["not_exists", undefined, [2, 6, 9]],
  ]);
});

describe("date attribute", () => {
  table("attributes.signup_date", [
    ["eq", "2024-06-01", [3]],
    ["eq", { days_ago: 0 }, [5]],
    ["neq", "2024-06-01", [0, 1, 4, 5, 7, 8, 9]],
    ["in", ["2024-06-01", "2024-06-02"], [3, 8]],
    ["in", [{ days_ago: 30 }, "2024-07-01"], [3, 5]],
    ["not_in", ["2024-06-01"], [0, 1, 4, 5, 7, 8, 9]],
    ["gt", "2024-06-01", [1, 5, 8]],
    ["gte", "2024-06-01", [1, 3, 5, 8]],
    ["lt", "2020-01-15", [4]],
    ["lte", "2020-01-15", [0, 4]],
    ["between", ["2020-01-01", "2023-12-31"], [0, 7, 9]],
    ["between", [{ days_ago: 30 }, { days_ago: 0 }], [1, 3, 5, 8]],
    ["before", { days_ago: 30 }, [0, 4, 7, 9]],
    ["after", "2024-06-01", [1, 5, 8]],
    ["exists", undefined, [0, 1, 3, 4, 5, 7, 8, 9]],
    ["not_exists", undefined, [2, 6]],
  ]);
});

describe("list attribute", () => {
  table("attributes.interests", [
    // element match, case-sensitive: customer 5 has "Music"
    ["contains", "music", [0, 4]],
    ["contains", "sports", [0, 3, 8]],
    ["exists", undefined, [0, 1, 3, 4, 5, 7, 8]],
    ["not_exists", undefined, [2, 6, 9]],
  ]);
});

describe("values that cannot match in this data", () => {
  function compiled(rule: Rule) {
    return compileRule(rule, source, { asOf: AS_OF });
  }

  it.each<[Rule, number[], string]>([
    [{ field: "attributes.country", op: "gt", value: 5 }, [], "type_mismatch"],
    [{ field: "attributes.country", op: "eq", value: 42 }, [], "type_mismatch"],
    [{ field: "attributes.ref", op: "gt", value: "2024-01-01" }, [], "type_mismatch"],
    [{ field: "attributes.age", op: "contains", value: "3" }, [], "type_mismatch"],
    [{ field: "attributes.signup_date", op: "contains", value: "2024" }, [], "type_mismatch"],
    [{ field: "attributes.interests", op: "eq", value: "music" }, [], "type_mismatch"],
    [{ field: "attributes.vip", op: "eq", value: "true" }, [], "type_mismatch"],
    [{ field: "attributes.nickname", op: "eq", value: "x" }, [], "unknown_attribute"],
    [{ field: "attributes.nickname", op: "neq", value: "x" }, [], "unknown_attribute"],
    [{ field: "attributes.nickname", op: "exists" }, [], "unknown_attribute"],
    [{ field: "attributes.nickname", op: "not_exists" }, ALL, "unknown_attribute"],
    [{ field: "clv", op: "gt", value: 0 }, [], "trait_unavailable"],
    [{ field: "clv", op: "not_exists" }, ALL, "trait_unavailable"],
    [{ field: "cluster", op: "eq", value: "c1" }, [], "trait_unavailable"],
    [{ field: "category_share.toys", op: "gt", value: 0 }, [], "share_unavailable"],
  ])("%j matches %j with warning %s", (rule, expected, code) => {
    expect(members(rule)).toEqual(expected);
    expect(compiled(rule).warnings).toEqual([expect.objectContaining({ path: "rule", code })]);
  });

  it("points the warning at the condition inside a tree", () => {
    const rule: Rule = {
      and: [{ field: "frequency", op: "gt", value: 1 }, { not: { field: "clv", op: "gt", value: 1 } }],
    };
    expect(compiled(rule).warnings.map((w) => w.path)).toEqual(["rule.and[1].not"]);
  });

  it("has no warnings for a rule that fits the data", () => {
    expect(compiled({ field: "attributes.age", op: "gt", value: 1 }).warnings).toEqual([]);
  });
});

describe("and / or / not", () => {
  it("and intersects", () => {
    // frequency >= 2: [2,3,4,5,6,9]; country US: [0,2,6]
    const rule: Rule = {
      and: [
        { field: "frequency", op: "gte", value: 2 },
        { field: "attributes.country", op: "eq", value: "US" },
      ],
    };
    expect(members(rule)).toEqual([2, 6]);
  });

  it("or unites", () => {
    // champions [4,5]; vip [0,3,5,8]
    const rule: Rule = {
      or: [
        { field: "rfm_segment", op: "eq", value: "champions" },
        { field: "attributes.vip", op: "eq", value: true },
      ],
    };
    expect(members(rule)).toEqual([0, 3, 4, 5, 8]);
  });

  it("not is plain negation, so it differs from neq on missing values", () => {
    // country US: [0,2,6]; its complement includes the customers without a country (3, 7, 9)
    expect(members({ not: { field: "attributes.country", op: "eq", value: "US" } })).toEqual([
      1, 3, 4, 5, 7, 8, 9,
    ]);
    expect(members({ field: "attributes.country", op: "neq", value: "US" })).toEqual([1, 4, 5, 8]);
    expect(members({ not: { field: "attributes.country", op: "not_exists" } })).toEqual([
      0, 1, 2, 4, 5, 6, 8,
    ]);
  });

  it("combines nested groups", () => {
    // after 2024-06-01: [1,6]; monetary >= 250: [4,5,9]; or -> [1,4,5,6,9]
    // vip eq false: [1,4,7]; not -> [0,2,3,5,6,8,9]; and -> [5,6,9]
    const rule: Rule = {
      and: [
        {
          or: [
            { field: "last_purchase", op: "after", value: { days_ago: 30 } },
            { field: "monetary", op: "gte", value: 250 },
          ],
        },
        { not: { field: "attributes.vip", op: "eq", value: false } },
      ],
    };
    expect(members(rule)).toEqual([5, 6, 9]);
  });

  it("folds conditions that can never match", () => {
    // clv is not computed: "clv gt 0" is false for all, "clv not_exists" true for all
    const never: Rule = { field: "clv", op: "gt", value: 0 };
    const always: Rule = { field: "clv", op: "not_exists" };
    const some: Rule = { field: "frequency", op: "eq", value: 5 };
    expect(members({ and: [some, never] })).toEqual([]);
    expect(members({ and: [some, always] })).toEqual([4, 5]);
    expect(members({ or: [some, always] })).toEqual(ALL);
    expect(members({ or: [some, never] })).toEqual([4, 5]);
    expect(members({ not: never })).toEqual(ALL);
    expect(members({ not: { and: [always, always] } })).toEqual([]);
  });

  it("evaluates ten levels of nesting", () => {
    // nine nots around "frequency eq 5" ([4,5]): an odd number of negations gives the complement
    let rule: Rule = { field: "frequency", op: "eq", value: 5 };
    for (let i = 0; i < 9; i++) rule = { not: rule };
    expect(members(rule)).toEqual([0, 1, 2, 3, 6, 7, 8, 9]);
    // nine nested single-child ands and ors alternate but keep the condition's members
    let nested: Rule = { field: "frequency", op: "eq", value: 5 };
    for (let i = 0; i < 9; i++) nested = i % 2 === 0 ? { and: [nested] } : { or: [nested, nested] };
    expect(members(nested)).toEqual([4, 5]);
  });
});

describe("compile contract", () => {
  it("reuses a caller's output buffer and resolves asOf given as a day number", () => {
    const compiled = compileRule({ field: "last_purchase", op: "eq", value: { days_ago: 0 } }, source, {
      asOf: day("2024-06-01"),
    });
    const out = new Uint8Array(10).fill(7);
    expect(compiled.evaluate(out)).toBe(out);
    expect([...out]).toEqual([0, 0, 1, 0, 0, 0, 0, 0, 1, 0]);
  });

  it("answers false for an index outside the customers", () => {
    const compiled = compileRule({ field: "frequency", op: "exists" }, source, { asOf: AS_OF });
    expect([compiled.matches(-1), compiled.matches(10), compiled.matches(9)]).toEqual([false, false, true]);
  });

  it.each<[string, () => unknown, string]>([
    [
      "a bad asOf",
      () => compileRule({ field: "frequency", op: "exists" }, source, { asOf: "2024-13-01" }),
      "invalid_as_of",
    ],
    [
      "a rule that skipped validation",
      () => compileRule({ field: "frequency", op: "gt", value: "x" }, source, { asOf: AS_OF }),
      "invalid_value",
    ],
    ["an empty group", () => compileRule({ and: [] }, source, { asOf: AS_OF }), "empty_group"],
    [
      "a column shorter than the customers",
      () => compileRule({ field: "frequency", op: "exists" }, { ...source, size: 11 }, { asOf: AS_OF }),
      "column_too_short",
    ],
    [
      "an output buffer that is too short",
      () =>
        compileRule({ field: "frequency", op: "exists" }, source, { asOf: AS_OF }).evaluate(
          new Uint8Array(3),
        ),
      "output_too_short",
    ],
  ])("throws a RuleCompileError for %s", (_, run, code) => {
    expect(run).toThrow(RuleCompileError);
    try {
      run();
    } catch (error) {
      expect(error).toMatchObject({ code });
    }
  });
});
