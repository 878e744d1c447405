/**
 * The vocabulary of rule segments: which fields exist, which operators apply to each kind of field, and what
 * value each operator takes. `checkCondition` is the single judge of a condition; the zod schema reports its
 * findings and the compiler uses its normalized output, so validation and evaluation cannot disagree.
 */
import { parseIsoDay } from "./dates";

export const NUMERIC_TRAITS = [
  "recency_days",
  "frequency",
  "monetary",
  "r_score",
  "f_score",
  "m_score",
  "clv",
  "probability_alive",
  "expected_purchases",
  "order_count",
  "days_since_last_order",
  "average_order_value",
] as const;
export type NumericTrait = (typeof NUMERIC_TRAITS)[number];

export const DATE_TRAITS = ["first_purchase", "last_purchase"] as const;
export type DateTrait = (typeof DATE_TRAITS)[number];

export const CATEGORICAL_TRAITS = ["rfm_segment", "cluster", "lifecycle"] as const;
export type CategoricalTrait = (typeof CATEGORICAL_TRAITS)[number];

export const SHARE_DIMENSIONS = ["channel", "category"] as const;
export type ShareDimension = (typeof SHARE_DIMENSIONS)[number];

export const OPERATORS = [
  "eq",
  "neq",
  "in",
  "not_in",
  "gt",
  "gte",
  "lt",
  "lte",
  "between",
  "contains",
  "starts_with",
  "exists",
  "not_exists",
  "before",
  "after",
  "in_segment",
  "not_in_segment",
] as const;
export type Operator = (typeof OPERATORS)[number];

/** The field of membership conditions: `{ "field": "segment", "op": "in_segment", "value": "rfm:champions" }`. */
export const MEMBERSHIP_FIELD = "segment";
export const MEMBERSHIP_OPS = ["in_segment", "not_in_segment"] as const;
export type MembershipOperator = (typeof MEMBERSHIP_OPS)[number];

/**
 * Families a membership condition may name; `value` is accepted for segments of a value family. Lookalike ids
 * have the form of a reference, but a computation evaluates rules before lookalikes, so it knows none of them.
 */
export const SEGMENT_FAMILIES = [
  "rfm",
  "cluster",
  "lifecycle",
  "value",
  "rule",
  "list",
  "attr",
  "lookalike",
] as const;
/** A segment id a membership condition names: `<family>:<slug>`, or `attr:<attribute-slug>:<value-slug>`. */
export const SEGMENT_REFERENCE =
  /^(?:(?:rfm|cluster|lifecycle|value|rule|list|lookalike):[a-z0-9][a-z0-9-]{0,63}|attr:[a-z0-9][a-z0-9-]{0,63}:[a-z0-9][a-z0-9-]{0,63})$/;

/** Limits that keep a definition cheap to validate, store and evaluate. */
export const RULE_LIMITS = {
  /** Levels of rule nodes from the root to the deepest condition, both counted. */
  maxDepth: 10,
  maxConditions: 200,
  /** Entries of an `in` / `not_in` list. */
  maxListValues: 1000,
  maxStringLength: 1000,
  /** Length of the name after `channel_share.`, `category_share.` or `attributes.`. */
  maxKeyLength: 128,
  maxDaysAgo: 36_500,
} as const;

export type FieldKind = "number" | "share" | "date" | "category" | "attribute" | "membership";

export type FieldRef =
  | { kind: "number"; trait: NumericTrait }
  | { kind: "date"; trait: DateTrait }
  | { kind: "category"; trait: CategoricalTrait }
  | { kind: "share"; dimension: ShareDimension; key: string }
  | { kind: "attribute"; name: string }
  | { kind: "membership" };

const ALL_OPS: readonly Operator[] = OPERATORS;
/** Operators that compare a value (all but the membership operators). */
const VALUE_OPS: readonly Operator[] = OPERATORS.filter(
  (op) => !(MEMBERSHIP_OPS as readonly string[]).includes(op),
);
const NUMBER_OPS: readonly Operator[] = [
  "eq",
  "neq",
  "in",
  "not_in",
  "gt",
  "gte",
  "lt",
  "lte",
  "between",
  "exists",
  "not_exists",
];
export const OPERATORS_BY_KIND: Readonly<Record<FieldKind, readonly Operator[]>> = {
  number: NUMBER_OPS,
  share: NUMBER_OPS,
  date: [...NUMBER_OPS, "before", "after"],
  category: ["eq", "neq", "in", "not_in", "contains", "starts_with", "exists", "not_exists"],
  attribute: VALUE_OPS,
  membership: MEMBERSHIP_OPS,
};

const KIND_LABEL: Readonly<Record<FieldKind, string>> = {
  number: "a numeric trait",
  share: "a share",
  date: "a date trait",
  category: "a categorical trait",
  attribute: "an attribute",
  membership: "segment",
};

/** A date written in a rule: absolute, or relative to the evaluation date. */
export type DateOperand = { day: number } | { daysAgo: number };

/** A single value of a condition after validation. */
export type Operand =
  | { kind: "number"; value: number }
  | { kind: "date"; value: DateOperand }
  | { kind: "boolean"; value: boolean }
  /** `day` is set when the string is also an ISO date, which matters only for attributes of type date. */
  | { kind: "string"; value: string; day?: number };

export type NormalCondition =
  | { field: FieldRef; op: "exists" | "not_exists" }
  | {
      field: FieldRef;
      op: "eq" | "neq" | "gt" | "gte" | "lt" | "lte" | "before" | "after" | "contains" | "starts_with";
      operand: Operand;
    }
  | { field: FieldRef; op: "in" | "not_in"; operands: Operand[] }
  | { field: FieldRef; op: "between"; low: Operand; high: Operand }
  /** Membership of the segment `segmentId` (any family) in the same computation. */
  | { field: FieldRef; op: MembershipOperator; segmentId: string };

/** A problem found in a condition; `path` is relative to the condition object. */
export interface LocalIssue {
  path: (string | number)[];
  code: string;
  message: string;
}

export type CheckResult = { ok: true; condition: NormalCondition } | { ok: false; issues: LocalIssue[] };

const FIELD_PREFIXES = [
  ["channel_share.", "channel"],
  ["category_share.", "category"],
] as const;
const ATTRIBUTE_PREFIX = "attributes.";
// Control characters in a key are never legitimate and would make paths and logs ambiguous.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

export function isOperator(value: unknown): value is Operator {
  return typeof value === "string" && (ALL_OPS as readonly string[]).includes(value);
}

function includes<T extends string>(list: readonly T[], value: string): value is T {
  return (list as readonly string[]).includes(value);
}

const UNKNOWN_FIELD_MESSAGE =
  `unknown field; expected one of ${[...NUMERIC_TRAITS, ...DATE_TRAITS, ...CATEGORICAL_TRAITS, MEMBERSHIP_FIELD].join(", ")}, ` +
  "channel_share.<channel>, category_share.<category> or attributes.<name>";

export type FieldResult = { ok: true; field: FieldRef } | { ok: false; code: string; message: string };

/** Resolves a field name such as `frequency`, `channel_share.web` or `attributes.country`. */
export function resolveField(field: string): FieldResult {
  if (includes(NUMERIC_TRAITS, field)) return { ok: true, field: { kind: "number", trait: field } };
  if (includes(DATE_TRAITS, field)) return { ok: true, field: { kind: "date", trait: field } };
  if (includes(CATEGORICAL_TRAITS, field)) return { ok: true, field: { kind: "category", trait: field } };
  if (field === MEMBERSHIP_FIELD) return { ok: true, field: { kind: "membership" } };
  for (const [prefix, dimension] of FIELD_PREFIXES) {
    if (field.startsWith(prefix)) {
      const key = field.slice(prefix.length);
      const bad = checkKey(key, `${prefix}<${dimension}>`);
      return bad ?? { ok: true, field: { kind: "share", dimension, key } };
    }
  }
  if (field.startsWith(ATTRIBUTE_PREFIX)) {
    const name = field.slice(ATTRIBUTE_PREFIX.length);
    const bad = checkKey(name, "attributes.<name>");
    return bad ?? { ok: true, field: { kind: "attribute", name } };
  }
  return { ok: false, code: "unknown_field", message: UNKNOWN_FIELD_MESSAGE };
}

function checkKey(key: string, form: string): FieldResult | undefined {
  if (key.length === 0 || key.length > RULE_LIMITS.maxKeyLength || CONTROL_CHARS.test(key)) {
    return {
      ok: false,
      code: "invalid_field",
      message: `${form} needs a name of 1 to ${RULE_LIMITS.maxKeyLength} printable characters`,
    };
  }
  return undefined;
}

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

/** A relative date `{ "days_ago": n }` with nothing else in it. */
function readRelativeDate(value: unknown): { daysAgo: number } | undefined {
  if (!isPlainRecord(value)) return undefined;
  const keys = Object.keys(value);
  if (keys.length !== 1 || keys[0] !== "days_ago") return undefined;
  const n = value.days_ago;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > RULE_LIMITS.maxDaysAgo) return undefined;
  return { daysAgo: n };
}

function readDate(value: unknown): DateOperand | undefined {
  if (typeof value === "string") {
    const day = parseIsoDay(value);
    return day === undefined ? undefined : { day };
  }
  return readRelativeDate(value);
}

const DATE_TEXT = `a date ("yyyy-mm-dd" or {"days_ago": n} with 0 <= n <= ${RULE_LIMITS.maxDaysAgo})`;

/** What an operand must be, by the kind of value a field holds. */
type ValueKind = "number" | "share" | "date" | "string" | "scalar" | "ordered";

const VALUE_TEXT: Readonly<Record<ValueKind, string>> = {
  number: "a number",
  share: "a number between 0 and 1",
  date: DATE_TEXT,
  string: `a string of 1 to ${RULE_LIMITS.maxStringLength} characters`,
  scalar: `a string, number, boolean or ${DATE_TEXT}`,
  ordered: `a number or ${DATE_TEXT}`,
};

type ReadResult = { ok: true; operand: Operand } | { ok: false; code: string };

function readString(value: unknown): ReadResult {
  if (typeof value !== "string" || value.length === 0) return { ok: false, code: "invalid_value" };
  if (value.length > RULE_LIMITS.maxStringLength) return { ok: false, code: "too_long" };
  return { ok: true, operand: { kind: "string", value } };
}

/** Reads one operand of the given kind. */
function readOperand(value: unknown, kind: ValueKind): ReadResult {
  switch (kind) {
    case "number":
      return isFiniteNumber(value)
        ? { ok: true, operand: { kind: "number", value } }
        : { ok: false, code: "invalid_value" };
    case "share":
      if (!isFiniteNumber(value)) return { ok: false, code: "invalid_value" };
      return value >= 0 && value <= 1
        ? { ok: true, operand: { kind: "number", value } }
        : { ok: false, code: "out_of_range" };
    case "date": {
      const date = readDate(value);
      return date
        ? { ok: true, operand: { kind: "date", value: date } }
        : { ok: false, code: "invalid_value" };
    }
    case "string":
      return readString(value);
    case "ordered": {
      if (isFiniteNumber(value)) return { ok: true, operand: { kind: "number", value } };
      const date = readDate(value);
      return date
        ? { ok: true, operand: { kind: "date", value: date } }
        : { ok: false, code: "invalid_value" };
    }
    case "scalar": {
      if (isFiniteNumber(value)) return { ok: true, operand: { kind: "number", value } };
      if (typeof value === "boolean") return { ok: true, operand: { kind: "boolean", value } };
      if (typeof value === "string") {
        const read = readString(value);
        if (!read.ok || read.operand.kind !== "string") return read;
        const day = parseIsoDay(value);
        return { ok: true, operand: day === undefined ? read.operand : { kind: "string", value, day } };
      }
      const relative = readRelativeDate(value);
      return relative
        ? { ok: true, operand: { kind: "date", value: relative } }
        : { ok: false, code: "invalid_value" };
    }
  }
}

/** The operand kind an operator takes on a field kind (exists / not_exists take none). */
function valueKindFor(op: Operator, kind: FieldKind): ValueKind {
  if (op === "contains" || op === "starts_with") return "string";
  if (op === "before" || op === "after") return "date";
  if (kind === "number") return "number";
  if (kind === "share") return "share";
  if (kind === "date") return "date";
  if (kind === "category") return "string";
  return op === "eq" || op === "neq" || op === "in" || op === "not_in" ? "scalar" : "ordered";
}

/** Groups operands whose values can be compared with one another in a list or a range. */
function comparableClass(operand: Operand): string {
  if (operand.kind === "date") return "date";
  if (operand.kind === "string" && operand.day !== undefined) return "date-string";
  return operand.kind;
}

/**
 * Whether the values of a list can be compared with one field: all numbers, all booleans, all strings (ISO
 * dates among them), or all dates (relative dates and ISO strings).
 */
function oneType(operands: readonly Operand[]): boolean {
  const classes = new Set(operands.map(comparableClass));
  if (classes.size <= 1) return true;
  const within = (allowed: readonly string[]) => [...classes].every((c) => allowed.includes(c));
  return within(["string", "date-string"]) || within(["date", "date-string"]);
}

function rangeOrdered(low: Operand, high: Operand): boolean | "mixed" {
  if (low.kind === "number" && high.kind === "number") return low.value <= high.value;
  if (low.kind === "date" && high.kind === "date") {
    const a = low.value;
    const b = high.value;
    if ("day" in a && "day" in b) return a.day <= b.day;
    if ("daysAgo" in a && "daysAgo" in b) return a.daysAgo >= b.daysAgo;
    return "mixed";
  }
  return "mixed";
}

export interface RawCondition {
  field?: string | undefined;
  op?: string | undefined;
  value?: unknown;
}

/** Most element errors reported for one list; the rest would only repeat the same message. */
const MAX_ELEMENT_ISSUES = 5;

/**
 * Validates one condition and normalizes its value. Messages describe what is expected and never repeat the
 * value that was given.
 */
export function checkCondition(raw: RawCondition): CheckResult {
  const issues: LocalIssue[] = [];
  let field: FieldRef | undefined;
  if (raw.field === undefined) {
    issues.push({ path: ["field"], code: "missing_field", message: "a condition needs a field" });
  } else {
    const resolved = resolveField(raw.field);
    if (resolved.ok) field = resolved.field;
    else issues.push({ path: ["field"], code: resolved.code, message: resolved.message });
  }
  let op: Operator | undefined;
  if (raw.op === undefined) {
    issues.push({ path: ["op"], code: "missing_operator", message: "a condition needs an op" });
  } else if (isOperator(raw.op)) {
    op = raw.op;
  } else {
    issues.push({
      path: ["op"],
      code: "unknown_operator",
      message: `unknown op; expected one of ${ALL_OPS.join(", ")}`,
    });
  }
  if (!field || !op) return { ok: false, issues };

  const allowed = OPERATORS_BY_KIND[field.kind];
  if (!allowed.includes(op)) {
    const message = `${op} does not apply to ${KIND_LABEL[field.kind]}; use one of ${allowed.join(", ")}`;
    return { ok: false, issues: [{ path: ["op"], code: "operator_not_allowed", message }] };
  }

  const value = raw.value;
  if (op === "in_segment" || op === "not_in_segment") {
    if (typeof value !== "string" || !SEGMENT_REFERENCE.test(value)) {
      return {
        ok: false,
        issues: [
          {
            path: ["value"],
            code: "invalid_value",
            message: `${op} needs one segment id, <family>:<slug> with family one of ${SEGMENT_FAMILIES.join(", ")}`,
          },
        ],
      };
    }
    return { ok: true, condition: { field, op, segmentId: value } };
  }
  if (op === "exists" || op === "not_exists") {
    if (value !== undefined) {
      return {
        ok: false,
        issues: [{ path: ["value"], code: "unexpected_value", message: `${op} takes no value` }],
      };
    }
    return { ok: true, condition: { field, op } };
  }
  if (value === undefined) {
    return {
      ok: false,
      issues: [{ path: ["value"], code: "missing_value", message: `${op} needs a value` }],
    };
  }

  const kind = valueKindFor(op, field.kind);
  const expected = VALUE_TEXT[kind];
  const fail = (path: (string | number)[], code: string, message: string): CheckResult => ({
    ok: false,
    issues: [{ path, code, message }],
  });

  if (op === "in" || op === "not_in") {
    const listText = `${op} needs a non-empty list of up to ${RULE_LIMITS.maxListValues} values, each ${expected}`;
    if (!Array.isArray(value) || value.length === 0) return fail(["value"], "invalid_value", listText);
    if (value.length > RULE_LIMITS.maxListValues) return fail(["value"], "too_many_values", listText);
    const operands: Operand[] = [];
    const elementIssues: LocalIssue[] = [];
    // An index loop, not forEach, so that holes in a sparse array are read (as undefined) and refused.
    for (let index = 0; index < value.length; index++) {
      const read = readOperand(value[index], kind);
      if (read.ok) operands.push(read.operand);
      else if (elementIssues.length < MAX_ELEMENT_ISSUES) {
        elementIssues.push({
          path: ["value", index],
          code: read.code,
          message: `each value of ${op} must be ${expected}`,
        });
      }
    }
    if (elementIssues.length > 0) return { ok: false, issues: elementIssues };
    if (!oneType(operands)) {
      return fail(["value"], "mixed_types", `${op} needs values of one type`);
    }
    return { ok: true, condition: { field, op, operands: operands.map((o) => renamedStage(field, o)) } };
  }

  if (op === "between") {
    const shape =
      kind === "ordered"
        ? "between needs [low, high]: two numbers or two dates"
        : `between needs [low, high], each ${expected}`;
    if (!Array.isArray(value) || value.length !== 2) return fail(["value"], "invalid_value", shape);
    const low = readOperand(value[0], kind);
    const high = readOperand(value[1], kind);
    if (!low.ok) return fail(["value", 0], low.code, shape);
    if (!high.ok) return fail(["value", 1], high.code, shape);
    const ordered = rangeOrdered(low.operand, high.operand);
    if (ordered === "mixed") {
      return fail(
        ["value"],
        "invalid_value",
        "between needs two numbers, two absolute dates or two relative dates",
      );
    }
    if (!ordered) return fail(["value"], "invalid_range", "between needs [low, high] with low <= high");
    return { ok: true, condition: { field, op, low: low.operand, high: high.operand } };
  }

  const read = readOperand(value, kind);
  if (!read.ok) return fail(["value"], read.code, `${op} needs ${expected}`);
  const operand = op === "eq" || op === "neq" ? renamedStage(field, read.operand) : read.operand;
  return { ok: true, condition: { field, op, operand } };
}

/**
 * Lifecycle stages renamed since rules could name them: "at-risk" is now "cooling" (lifecycle.ts). A rule
 * that compares the lifecycle field with the old name keeps matching the same customers.
 */
export const RENAMED_LIFECYCLE_STAGES: ReadonlyMap<string, string> = new Map([["at-risk", "cooling"]]);

function renamedStage(field: FieldRef, operand: Operand): Operand {
  if (field.kind !== "category" || field.trait !== "lifecycle" || operand.kind !== "string") return operand;
  const renamed = RENAMED_LIFECYCLE_STAGES.get(operand.value);
  return renamed === undefined ? operand : { kind: "string", value: renamed };
}
