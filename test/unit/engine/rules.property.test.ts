/**
 * Properties of rule segments over random tables and random rules (fixed seeds):
 * - the compiled rule agrees with a naive interpreter, written here independently, that evaluates one plain
 *   object per customer with Date.parse for dates;
 * - De Morgan's laws and double negation hold for the compiled rules;
 * - the validator never throws on arbitrary input, and whatever it accepts compiles.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type AttributeValue,
  type Condition,
  compileRule,
  nextDown,
  nextUp,
  parseIsoDay,
  type Rule,
  ruleSchema,
  type TraitSource,
  validateSegmentDefinition,
} from "../../../shared/engine/rules";

const SEED = 20_240_701;
const AS_OF = "2024-07-01";
const DAY_MS = 86_400_000;
const AS_OF_MS = Date.UTC(2024, 6, 1);

// ---- random customers as plain objects -------------------------------------------------------------------

type PlainValue = string | number | boolean | string[] | null;

interface Plain {
  frequency: number;
  monetary: number | null;
  last_purchase: string | null;
  rfm_segment: string | null;
  web: number | null;
  books: number | null;
  attributes: Record<string, PlainValue>;
}

const ATTRIBUTE_TYPES = {
  country: "string",
  age: "number",
  vip: "boolean",
  signup: "date",
  tags: "list",
} as const;
type AttributeName = keyof typeof ATTRIBUTE_TYPES;
const SEGMENTS = ["champions", "loyal", "lost", "cant_lose_them"];

function isoDaysAgo(days: number): string {
  return new Date(AS_OF_MS - days * DAY_MS).toISOString().slice(0, 10);
}

const numbers = fc.constantFrom(-1, 0, 1, 2, 3, 5, 10.5);
const shares = fc.constantFrom(0, 0.25, 0.5, 1);
const daysAgo = fc.integer({ min: 0, max: 12 });
const isoDates = daysAgo.map(isoDaysAgo);
const words = fc.constantFrom(
  "US",
  "DE",
  "Germany",
  "U",
  "G",
  "champions",
  "loyal",
  "lo",
  "c",
  "music",
  "sports",
);
const orNull = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: null, freq: 4 });

const plainCustomer: fc.Arbitrary<Plain> = fc.record({
  frequency: fc.integer({ min: 0, max: 5 }),
  monetary: orNull(numbers),
  last_purchase: orNull(isoDates),
  rfm_segment: orNull(fc.constantFrom(...SEGMENTS)),
  web: orNull(shares),
  books: orNull(shares),
  attributes: fc.record({
    country: orNull(fc.constantFrom("US", "DE", "Germany", "FR")),
    age: orNull(numbers),
    vip: orNull(fc.boolean()),
    signup: orNull(isoDates),
    tags: orNull(fc.subarray(["music", "sports", "books"])),
  }),
});

const customersArb = fc.array(plainCustomer, { minLength: 1, maxLength: 25 });

/** The columnar view of the plain customers, the way the engine will see them. */
function toSource(customers: readonly Plain[]): TraitSource {
  const n = customers.length;
  const day = (iso: string | null) => (iso === null ? Number.NaN : (parseIsoDay(iso) ?? Number.NaN));
  const frequency = Int32Array.from(customers, (c) => c.frequency);
  const monetary = Float64Array.from(customers, (c) => c.monetary ?? Number.NaN);
  const lastPurchase = Float64Array.from(customers, (c) => day(c.last_purchase));
  const codes = Int32Array.from(customers, (c) =>
    c.rfm_segment === null ? -1 : SEGMENTS.indexOf(c.rfm_segment),
  );
  const web = Float64Array.from(customers, (c) => c.web ?? Number.NaN);
  const books = customers.map((c) => c.books ?? Number.NaN);
  const isName = (name: string): name is AttributeName => Object.hasOwn(ATTRIBUTE_TYPES, name);
  return {
    size: n,
    numeric: (trait) =>
      trait === "frequency"
        ? frequency
        : trait === "monetary"
          ? monetary
          : trait === "last_purchase"
            ? lastPurchase
            : undefined,
    categorical: (trait) => (trait === "rfm_segment" ? { codes, dictionary: SEGMENTS } : undefined),
    share: (dimension, key) => {
      if (dimension === "channel") return key === "web" ? web : new Float64Array(n);
      return key === "books"
        ? (i) => books[i] ?? Number.NaN
        : (i) => (Number.isNaN(books[i] ?? Number.NaN) ? Number.NaN : 0);
    },
    attributeType: (name) => (isName(name) ? ATTRIBUTE_TYPES[name] : undefined),
    attribute: (i, name): AttributeValue => {
      const value = customers[i]?.attributes[name] ?? null;
      return name === "signup" && typeof value === "string" ? day(value) : value;
    },
  };
}

// ---- the naive interpreter ---------------------------------------------------------------------------------

const ISO = /^\d{4}-\d{2}-\d{2}$/;

function naive(rule: Rule, c: Plain): boolean {
  if ("and" in rule) return rule.and.every((r) => naive(r, c));
  if ("or" in rule) return rule.or.some((r) => naive(r, c));
  if ("not" in rule) return !naive(rule.not, c);
  return naiveCondition(rule, c);
}

type Kind = "number" | "date" | "string" | "boolean" | "list";

function lookup(c: Plain, field: string): [PlainValue, Kind] {
  switch (field) {
    case "frequency":
      return [c.frequency, "number"];
    case "monetary":
      return [c.monetary, "number"];
    case "last_purchase":
      return [c.last_purchase, "date"];
    case "rfm_segment":
      return [c.rfm_segment, "string"];
    case "channel_share.web":
      return [c.web, "number"];
    case "channel_share.phone":
      return [0, "number"];
    case "category_share.books":
      return [c.books, "number"];
    case "category_share.toys":
      return [c.books === null ? null : 0, "number"];
  }
  const name = field.slice("attributes.".length);
  const kind: Kind | undefined = (ATTRIBUTE_TYPES as Record<string, Kind>)[name];
  return kind ? [c.attributes[name] ?? null, kind] : [null, "string"];
}

function naiveCondition({ field, op, value }: Condition, c: Plain): boolean {
  const [v, kind] = lookup(c, field);
  if (op === "exists") return v !== null;
  if (op === "not_exists") return v === null;
  if (v === null) return false;
  // An operand as a comparable of this field's kind, or undefined when it does not fit the field.
  const key = (x: unknown): number | string | boolean | undefined => {
    if (kind === "number") return typeof x === "number" ? x : undefined;
    if (kind === "boolean") return typeof x === "boolean" ? x : undefined;
    if (kind === "date") {
      if (typeof x === "string") return ISO.test(x) ? Date.parse(`${x}T00:00:00Z`) : undefined;
      if (typeof x === "object" && x !== null && "days_ago" in x && typeof x.days_ago === "number") {
        return AS_OF_MS - x.days_ago * DAY_MS;
      }
      return undefined;
    }
    return typeof x === "string" ? x : undefined;
  };
  const subject = kind === "date" && typeof v === "string" ? Date.parse(`${v}T00:00:00Z`) : v;
  const ordered = kind === "number" || kind === "date";
  const list = Array.isArray(value) ? value.map(key) : [];
  const k = key(value);
  const lo = list[0];
  const hi = list[1];
  switch (op) {
    case "eq":
      return kind !== "list" && k !== undefined && subject === k;
    case "neq":
      return kind !== "list" && k !== undefined && subject !== k;
    case "in":
      return kind !== "list" && !list.includes(undefined) && list.includes(subject as string);
    case "not_in":
      return kind !== "list" && !list.includes(undefined) && !list.includes(subject as string);
    case "gt":
    case "after":
      return ordered && k !== undefined && (subject as number) > (k as number);
    case "gte":
      return ordered && k !== undefined && (subject as number) >= (k as number);
    case "lt":
    case "before":
      return ordered && k !== undefined && (subject as number) < (k as number);
    case "lte":
      return ordered && k !== undefined && (subject as number) <= (k as number);
    case "between":
      return (
        ordered &&
        lo !== undefined &&
        hi !== undefined &&
        (lo as number) <= (subject as number) &&
        (subject as number) <= (hi as number)
      );
    case "contains":
      if (typeof k !== "string") return false;
      if (kind === "list") return Array.isArray(subject) && subject.includes(k);
      return kind === "string" && typeof subject === "string" && subject.includes(k);
    case "starts_with":
      return (
        kind === "string" && typeof subject === "string" && typeof k === "string" && subject.startsWith(k)
      );
    case "in_segment":
    case "not_in_segment":
      // Membership conditions name no field of this model; the generators never make them.
      return false;
  }
}

// ---- random rules ------------------------------------------------------------------------------------------

const relative = daysAgo.map((d) => ({ days_ago: d }));
const anyDate = fc.oneof(isoDates, relative);
const sortedPair = (arb: fc.Arbitrary<number>) =>
  fc.tuple(arb, arb).map(([a, b]) => (a <= b ? [a, b] : [b, a]));
const dateRange = fc.oneof(
  fc.tuple(daysAgo, daysAgo).map(([a, b]) => [isoDaysAgo(Math.max(a, b)), isoDaysAgo(Math.min(a, b))]),
  fc.tuple(daysAgo, daysAgo).map(([a, b]) => [{ days_ago: Math.max(a, b) }, { days_ago: Math.min(a, b) }]),
);
const listOf = <T>(arb: fc.Arbitrary<T>) => fc.array(arb, { minLength: 1, maxLength: 4 });
const noValue = fc.constant(undefined);

type Ops = Partial<Record<Condition["op"], fc.Arbitrary<unknown>>>;

const numericOps = (values: fc.Arbitrary<number>): Ops => ({
  eq: values,
  neq: values,
  gt: values,
  gte: values,
  lt: values,
  lte: values,
  in: listOf(values),
  not_in: listOf(values),
  between: sortedPair(values),
  exists: noValue,
  not_exists: noValue,
});

const dateOps: Ops = {
  eq: anyDate,
  neq: anyDate,
  gt: anyDate,
  gte: anyDate,
  lt: anyDate,
  lte: anyDate,
  before: anyDate,
  after: anyDate,
  in: listOf(anyDate),
  not_in: listOf(anyDate),
  between: dateRange,
  exists: noValue,
  not_exists: noValue,
};

const categoryOps: Ops = {
  eq: words,
  neq: words,
  contains: words,
  starts_with: words,
  in: listOf(words),
  not_in: listOf(words),
  exists: noValue,
  not_exists: noValue,
};

// Attributes accept any operator; values of every type, so that type mismatches are exercised too.
const homogeneousList = fc.oneof(listOf(words), listOf(numbers), listOf(fc.boolean()), listOf(anyDate));
const attributeOps: Ops = {
  eq: fc.oneof(words, numbers, fc.boolean(), anyDate),
  neq: fc.oneof(words, numbers, fc.boolean(), anyDate),
  gt: fc.oneof(numbers, anyDate),
  gte: fc.oneof(numbers, anyDate),
  lt: fc.oneof(numbers, anyDate),
  lte: fc.oneof(numbers, anyDate),
  before: anyDate,
  after: anyDate,
  in: homogeneousList,
  not_in: homogeneousList,
  between: fc.oneof(sortedPair(numbers), dateRange),
  contains: words,
  starts_with: words,
  exists: noValue,
  not_exists: noValue,
};

function conditionsFor(fields: readonly string[], ops: Ops): fc.Arbitrary<Condition>[] {
  return Object.entries(ops).map(([op, values]) =>
    fc
      .tuple(fc.constantFrom(...fields), values)
      .map(([field, value]) => (value === undefined ? { field, op } : { field, op, value }) as Condition),
  );
}

const conditionArb: fc.Arbitrary<Condition> = fc.oneof(
  ...conditionsFor(["frequency", "monetary"], numericOps(numbers)),
  ...conditionsFor(
    ["channel_share.web", "channel_share.phone", "category_share.books", "category_share.toys"],
    numericOps(shares),
  ),
  ...conditionsFor(["last_purchase"], dateOps),
  ...conditionsFor(["rfm_segment"], categoryOps),
  ...conditionsFor(
    [
      "attributes.country",
      "attributes.age",
      "attributes.vip",
      "attributes.signup",
      "attributes.tags",
      "attributes.nope",
    ],
    attributeOps,
  ),
);

const { rule: ruleArb } = fc.letrec<{ rule: Rule; and: Rule; or: Rule; not: Rule }>((tie) => ({
  rule: fc.oneof({ maxDepth: 3, depthIdentifier: "rule" }, conditionArb, tie("and"), tie("or"), tie("not")),
  and: fc.array(tie("rule"), { minLength: 1, maxLength: 3 }).map((and) => ({ and })),
  or: fc.array(tie("rule"), { minLength: 1, maxLength: 3 }).map((or) => ({ or })),
  not: tie("rule").map((not) => ({ not })),
}));

// ---- properties --------------------------------------------------------------------------------------------

function evaluate(rule: Rule, source: TraitSource): number[] {
  return [...compileRule(rule, source, { asOf: AS_OF }).evaluate()];
}

describe("compiled rules against the naive interpreter", () => {
  it("agree on every customer, through evaluate and matches", () => {
    fc.assert(
      fc.property(customersArb, ruleArb, (customers, rule) => {
        const parsed = ruleSchema.safeParse(rule);
        expect(parsed.success).toBe(true);
        expect(parsed.data).toEqual(rule);
        const compiled = compileRule(rule, toSource(customers), { asOf: AS_OF });
        const expected = customers.map((c) => (naive(rule, c) ? 1 : 0));
        expect([...compiled.evaluate()]).toEqual(expected);
        expect(customers.map((_, i) => (compiled.matches(i) ? 1 : 0))).toEqual(expected);
      }),
      { seed: SEED, numRuns: 400 },
    );
  });

  it("agree on single conditions, where every operator and field meets every kind of value", () => {
    fc.assert(
      fc.property(customersArb, conditionArb, (customers, condition) => {
        const expected = customers.map((c) => (naive(condition, c) ? 1 : 0));
        expect(evaluate(condition, toSource(customers))).toEqual(expected);
      }),
      { seed: SEED + 1, numRuns: 1500 },
    );
  });
});

describe("evaluation in blocks", () => {
  it("agrees with the naive interpreter across block boundaries, with long runs of equal customers", () => {
    // Runs of identical customers make whole blocks match or miss, which is where and/or stop early.
    fc.assert(
      fc.property(
        fc.array(plainCustomer, { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 4097, max: 13_000 }),
        fc.integer({ min: 1, max: 6000 }),
        ruleArb,
        (templates, n, run, rule) => {
          const customers = Array.from(
            { length: n },
            (_, i) => templates[Math.floor(i / run) % templates.length] as Plain,
          );
          const verdicts = templates.map((c) => (naive(rule, c) ? 1 : 0));
          const expected = customers.map((_, i) => verdicts[Math.floor(i / run) % templates.length]);
          expect([...compileRule(rule, toSource(customers), { asOf: AS_OF }).evaluate()]).toEqual(expected);
        },
      ),
      { seed: SEED + 8, numRuns: 60 },
    );
  });
});

describe("laws of the combinators", () => {
  it("De Morgan: not(a and b) = (not a) or (not b), and not(a or b) = (not a) and (not b)", () => {
    fc.assert(
      fc.property(customersArb, ruleArb, ruleArb, (customers, a, b) => {
        const source = toSource(customers);
        const notAnd = evaluate({ not: { and: [a, b] } }, source);
        expect(evaluate({ or: [{ not: a }, { not: b }] }, source)).toEqual(notAnd);
        expect(notAnd).toEqual(customers.map((c) => (naive(a, c) && naive(b, c) ? 0 : 1)));
        const notOr = evaluate({ not: { or: [a, b] } }, source);
        expect(evaluate({ and: [{ not: a }, { not: b }] }, source)).toEqual(notOr);
        expect(notOr).toEqual(customers.map((c) => (naive(a, c) || naive(b, c) ? 0 : 1)));
      }),
      { seed: SEED + 2, numRuns: 300 },
    );
  });

  it("double negation and a rule or its negation", () => {
    fc.assert(
      fc.property(customersArb, ruleArb, (customers, a) => {
        const source = toSource(customers);
        const direct = evaluate(a, source);
        expect(evaluate({ not: { not: a } }, source)).toEqual(direct);
        expect(evaluate({ or: [a, { not: a }] }, source)).toEqual(direct.map(() => 1));
        expect(evaluate({ and: [a, { not: a }] }, source)).toEqual(direct.map(() => 0));
      }),
      { seed: SEED + 3, numRuns: 300 },
    );
  });
});

describe("strict bounds as closed intervals", () => {
  const extremes = [
    0,
    -0,
    Number.MIN_VALUE,
    -Number.MIN_VALUE,
    Number.MAX_VALUE,
    -Number.MAX_VALUE,
    1,
    -1,
    0.1,
  ];
  // Bounds come from validated JSON numbers, so they are finite; the values compared with them need not be.
  const bound = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(...extremes));
  const value = fc.oneof(
    fc.double(),
    fc.constantFrom(...extremes, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
  );
  it("v > x exactly when v >= nextUp(x), and v < x exactly when v <= nextDown(x)", () => {
    fc.assert(
      fc.property(bound, value, fc.constantFrom(0, 1, 2, 3), (x, w, pick) => {
        // compare x with its neighbours as well as with an unrelated w
        const v = [w, x, nextUp(x), nextDown(x)][pick] as number;
        expect(v >= nextUp(x)).toBe(v > x);
        expect(v <= nextDown(x)).toBe(v < x);
      }),
      { seed: SEED + 4, numRuns: 3000 },
    );
  });
});

describe("validator fuzz", () => {
  function checkResult(input: unknown) {
    const result = validateSegmentDefinition(input);
    if (result.ok) return result;
    expect(result.issues.length).toBeGreaterThan(0);
    expect(result.issues.length).toBeLessThanOrEqual(51);
    for (const issue of result.issues) {
      expect(typeof issue.path).toBe("string");
      expect(issue.code).toMatch(/^[a-z_]+$/);
      expect(issue.message.length).toBeGreaterThan(0);
      expect(issue.message.length).toBeLessThanOrEqual(300);
    }
    return result;
  }

  it("never throws on arbitrary JSON, as a definition or as its rule", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        checkResult(value);
        checkResult({ name: "fuzz", rule: value });
      }),
      { seed: SEED + 5, numRuns: 1000 },
    );
  });

  it("never throws on arbitrary JavaScript values", () => {
    fc.assert(
      fc.property(
        fc.anything({ withNullPrototype: true, withBoxedValues: true, withSparseArray: true }),
        (value) => {
          checkResult(value);
          checkResult({ name: "fuzz", rule: value });
        },
      ),
      { seed: SEED + 6, numRuns: 1000 },
    );
  });

  // Rule-shaped input, mostly valid, with wrong pieces here and there: a part of a condition replaced by junk,
  // near-miss fields and ops, extra keys, two forms in one node.
  const junk = fc.jsonValue({ maxDepth: 2 });
  const fieldish = fc.oneof(
    fc.constantFrom("attributes.", "channel_share.", "recency", "Frequency"),
    fc.string(),
    junk,
  );
  const opish = fc.oneof(fc.constantFrom("greater", "EQ", "not"), fc.string(), junk);
  const valueish = fc.oneof(listOf(fc.oneof(numbers, words, anyDate)), dateRange, fc.constant(null), junk);
  const corrupted = fc
    .tuple(conditionArb, fc.constantFrom("field", "op", "value", "extra"), fieldish, opish, valueish)
    .map(([condition, part, field, op, value]): unknown => {
      if (part === "field") return { ...condition, field };
      if (part === "op") return { ...condition, op };
      if (part === "value") return { ...condition, value };
      return { ...condition, extra: value };
    });
  const { node: ruleish } = fc.letrec<{ node: unknown; leaf: unknown }>((tie) => ({
    node: fc.oneof(
      { maxDepth: 3, depthIdentifier: "ruleish" },
      tie("leaf"),
      fc.array(tie("node"), { maxLength: 3 }).map((and) => ({ and })),
      fc.array(tie("node"), { maxLength: 3 }).map((or) => ({ or })),
      tie("node").map((not) => ({ not })),
      fc.tuple(tie("node"), tie("node")).map(([a, b]) => ({ and: [a], not: b })),
    ),
    leaf: fc.oneof(
      { arbitrary: conditionArb, weight: 12 },
      { arbitrary: corrupted, weight: 2 },
      { arbitrary: junk, weight: 1 },
    ),
  }));

  it("never throws on rule-shaped junk, and whatever it accepts compiles and evaluates", () => {
    fc.assert(
      fc.property(ruleish, customersArb, (rule, customers) => {
        const result = checkResult({ name: "fuzz", rule });
        if (!result.ok) return;
        const source = toSource(customers);
        const compiled = compileRule(result.definition.rule, source, { asOf: AS_OF });
        expect(compiled.evaluate()).toHaveLength(customers.length);
        const expected = customers.map((c) => (naive(result.definition.rule, c) ? 1 : 0));
        expect([...compiled.evaluate()]).toEqual(expected);
      }),
      { seed: SEED + 7, numRuns: 1500 },
    );
  });
});
