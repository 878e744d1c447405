/**
 * The lookup function's checks of what it reads: the path parameters, its configuration, a dataset's committed
 * version (META's `current`) and a customer's stored view. Written out here rather than with zod so that the
 * lookup bundle carries no schema library (zod's mini build and its English messages were 28 KB of the bundle
 * and most of its import time: BENCHMARKS.md, "Lookup bundle with predictions"). Each check accepts, rejects
 * and reports exactly as the zod mini schema it stands for (./lookup-checks-reference.ts, which only tests
 * import): the same value accepted, the same issues in the same order with zod's codes, paths and English
 * messages, so a 400 answer is unchanged (test/unit/lookup-checks.test.ts runs both on many inputs).
 */
import type { ErrorDetail } from "../errors";
import { TENANT_ID_PATTERN } from "../http/auth";
import type { AnswerView } from "./customer-answer";

/** One thing wrong with a value, as zod reports it: a code, the path to the field, an English message. */
export interface CheckIssue {
  code: string;
  path: PropertyKey[];
  message: string;
}

/** The issues of a rejected value (thrown by the checks of stored items: an answer then fails with a 500). */
export class CheckError extends Error {
  constructor(readonly issues: CheckIssue[]) {
    super(issues.map((i) => `${i.path.map(String).join(".")}: ${i.message}`).join("; "));
    this.name = "CheckError";
  }
}

/**
 * Checks `value`, pushing what is wrong to `issues` with paths relative to it; returns the value to keep
 * (a copy for objects and arrays, as zod makes), which means something only when no issue was added.
 */
type Check = ((value: unknown, issues: CheckIssue[]) => unknown) & {
  /** How an object treats the key when it is absent: skipped ("optional") or given a default ("defaulted"). */
  absent?: "optional" | "defaulted";
};

/** zod's name of a value's type in "received …" (util.parsedType, with the locale's NaN and ±Infinity). */
function typeName(value: unknown): string {
  if (typeof value === "number")
    return Number.isNaN(value) ? "NaN" : Number.isFinite(value) ? "number" : `${value}`;
  if (typeof value !== "object") return typeof value;
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  const proto = Object.getPrototypeOf(value);
  const ctor = "constructor" in value ? (value as { constructor: unknown }).constructor : undefined;
  return proto !== Object.prototype && ctor ? (ctor as { name: string }).name : "object";
}

function typeIssue(expected: string, value: unknown): CheckIssue {
  return {
    code: "invalid_type",
    path: [],
    message: `Invalid input: expected ${expected}, received ${typeName(value)}`,
  };
}

/** Moves the issues from `from` on under `key` (zod's prefixIssues). */
function under(key: PropertyKey, issues: CheckIssue[], from: number): void {
  for (let i = from; i < issues.length; i++) (issues[i] as CheckIssue).path.unshift(key);
}

/** Unicode code points of a string (zod measures string lengths in them); a lone surrogate counts as one. */
function codePoints(text: string): number {
  let count = text.length;
  for (let i = 0; i < text.length - 1; i++) {
    if ((text.charCodeAt(i) & 0xfc00) === 0xd800 && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      count--;
      i++;
    }
  }
  return count;
}

/**
 * A length bound as zod's minLength/maxLength checks it: on any value that has a `length` (zod runs them
 * after a type error too), strings in code points, compared as JavaScript compares.
 */
function lengthIssues(
  value: unknown,
  min: number | undefined,
  max: number | undefined,
  issues: CheckIssue[],
): void {
  if (value === null || value === undefined) return;
  const units = (value as { length?: unknown }).length;
  if (units === undefined) return;
  const length = typeof value === "string" ? codePoints(value) : (units as number);
  const origin = Array.isArray(value) ? "array" : typeof value === "string" ? "string" : "unknown";
  const unit = origin === "array" ? " items" : origin === "string" ? " characters" : "";
  const verb = unit ? "to have" : "to be";
  if (min !== undefined && !(length >= min))
    issues.push({
      code: "too_small",
      path: [],
      message: `Too small: expected ${origin} ${verb} >=${min}${unit}`,
    });
  if (max !== undefined && !(length <= max))
    issues.push({
      code: "too_big",
      path: [],
      message: `Too big: expected ${origin} ${verb} <=${max}${unit}`,
    });
}

interface StringRules {
  min?: number;
  max?: number;
  pattern?: RegExp;
  /** The message of a pattern miss; zod's own ("Invalid string: must match pattern …") without it. */
  message?: string;
}

/** z.string() with minLength, maxLength and regex checks. */
export function string(rules: StringRules = {}): Check {
  const { min, max, pattern } = rules;
  const patternMessage = rules.message ?? `Invalid string: must match pattern ${pattern}`;
  return (value, issues) => {
    const isString = typeof value === "string";
    if (!isString) issues.push(typeIssue("string", value));
    if (min !== undefined || max !== undefined) lengthIssues(value, min, max, issues);
    if (isString && pattern) {
      pattern.lastIndex = 0;
      if (!pattern.test(value)) issues.push({ code: "invalid_format", path: [], message: patternMessage });
    }
    return value;
  };
}

/** z.number(), optionally with z.int() and z.nonnegative(): finite numbers only. */
export function number(rules: { int?: boolean; nonnegative?: boolean } = {}): Check {
  return (value, issues) => {
    if (typeof value !== "number" || !Number.isFinite(value)) {
      issues.push(typeIssue("number", value));
      return value;
    }
    if (rules.int) {
      if (!Number.isInteger(value)) {
        // zod stops here (the issue aborts the checks after it).
        issues.push({
          code: "invalid_type",
          path: [],
          message: "Invalid input: expected int, received number",
        });
        return value;
      }
      if (value > Number.MAX_SAFE_INTEGER)
        issues.push({
          code: "too_big",
          path: [],
          message: `Too big: expected int to be <=${Number.MAX_SAFE_INTEGER}`,
        });
      else if (value < Number.MIN_SAFE_INTEGER)
        issues.push({
          code: "too_small",
          path: [],
          message: `Too small: expected int to be >=${Number.MIN_SAFE_INTEGER}`,
        });
    }
    if (rules.nonnegative && value < 0)
      issues.push({ code: "too_small", path: [], message: "Too small: expected number to be >=0" });
    return value;
  };
}

/** z.unknown(). */
export const unknown: Check = (value) => value;

/** z.enum(values) of strings. */
export function oneOf(values: readonly string[]): Check {
  const message = `Invalid option: expected one of ${values.map((v) => `"${v}"`).join("|")}`;
  return (value, issues) => {
    if (!values.includes(value as string)) issues.push({ code: "invalid_value", path: [], message });
    return value;
  };
}

/** z.url(): a string the URL parser takes once trimmed; the value kept is trimmed, tabs and line breaks out. */
export const url: Check = (value, issues) => {
  if (typeof value !== "string") {
    issues.push(typeIssue("string", value));
    return value;
  }
  const trimmed = value.trim();
  if (!URL.canParse(trimmed)) {
    issues.push({ code: "invalid_format", path: [], message: "Invalid URL" });
    return value;
  }
  return trimmed.replace(/[\t\n\r]/g, "");
};

/** z.optional(inner): an absent key is left out, `undefined` kept as it is. */
export function optional(inner: Check): Check {
  const check: Check = (value, issues) => (value === undefined ? undefined : inner(value, issues));
  check.absent = "optional";
  return check;
}

/** z._default(inner, value): `undefined` or absent becomes `fallback` (not checked, as zod does). */
export function withDefault(inner: Check, fallback: unknown): Check {
  const check: Check = (value, issues) => {
    if (value === undefined) return fallback;
    const out = inner(value, issues);
    return out === undefined ? fallback : out;
  };
  check.absent = "defaulted";
  return check;
}

/** z.array(element): a new array of the elements checked, each issue under its index. */
export function array(element: Check): Check {
  return (value, issues) => {
    if (!Array.isArray(value)) {
      issues.push(typeIssue("array", value));
      return value;
    }
    const out = new Array(value.length);
    for (let i = 0; i < value.length; i++) {
      const from = issues.length;
      out[i] = element(value[i], issues);
      if (issues.length > from) under(i, issues, from);
    }
    return out;
  };
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** zod's isPlainObject: an object whose constructor is missing, not a function, or Object-like. */
function isPlainObject(value: unknown): value is Record<PropertyKey, unknown> {
  if (!isObject(value)) return false;
  const ctor = value.constructor;
  if (ctor === undefined || typeof ctor !== "function") return true;
  const proto = (ctor as { prototype?: unknown }).prototype;
  return isObject(proto) && Object.hasOwn(proto, "isPrototypeOf");
}

/** z.record(z.string(), z.unknown()): a copy of the own enumerable string keys; a symbol key is refused. */
export const stringRecord: Check = (value, issues) => {
  if (!isPlainObject(value)) {
    issues.push(typeIssue("record", value));
    return value;
  }
  const out: Record<string, unknown> = {};
  for (const key of Reflect.ownKeys(value)) {
    if (key === "__proto__" || !Object.prototype.propertyIsEnumerable.call(value, key)) continue;
    if (typeof key === "symbol") {
      issues.push({ code: "invalid_key", path: [key], message: "Invalid key in record" });
      continue;
    }
    out[key] = value[key];
  }
  return out;
};

/**
 * z.object(shape), or z.looseObject(shape) with `loose`: a new object of the shape's keys in the shape's
 * order (an absent optional key left out, a default put in), each issue under its key; a loose object then
 * keeps every other enumerable key of the value, in its order.
 */
export function object(shape: Record<string, Check>, loose = false): Check {
  const keys = Object.keys(shape);
  const known = new Set(keys);
  return (value, issues) => {
    if (!isObject(value)) {
      issues.push(typeIssue("object", value));
      return value;
    }
    const out: Record<string, unknown> = {};
    for (const key of keys) {
      const check = shape[key] as Check;
      const present = key in value;
      if (!present && check.absent === "optional") continue;
      const from = issues.length;
      const parsed = check(value[key], issues);
      if (issues.length > from) under(key, issues, from);
      else if (!present && check.absent === undefined)
        issues.push({
          code: "invalid_type",
          path: [key],
          message: "Invalid input: expected nonoptional, received undefined",
        });
      if (present || check.absent === "defaulted") out[key] = parsed;
    }
    if (loose) for (const key in value) if (!known.has(key) && key !== "__proto__") out[key] = value[key];
    return out;
  };
}

/** Runs `check` on `value`: the value kept, or the issues when there are any. */
export function run<T>(
  check: Check,
  value: unknown,
): { ok: true; value: T } | { ok: false; issues: CheckIssue[] } {
  const issues: CheckIssue[] = [];
  const out = check(value, issues);
  return issues.length ? { ok: false, issues } : { ok: true, value: out as T };
}

/** Issues as the details of a 400 answer, at most 50 (shared/http/validation issuesToDetails). */
export function issuesToDetails(where: string, issues: readonly CheckIssue[]): ErrorDetail[] {
  return issues.slice(0, 50).map((issue) => ({
    path: [where, ...issue.path.map(String)].join("."),
    code: issue.code,
    message: issue.message,
  }));
}

// The lookup's own checks ------------------------------------------------------------------------------------

/** The path parameters of the customer lookup: the same rules as datasetIdSchema and customerIdSchema in ../model. */
export const customerParams = object({
  datasetId: string({
    pattern: /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/,
    message: "must be 1-64 letters, digits, '-' or '_', starting with a letter or digit",
  }),
  customerId: string({ min: 1, max: 128 }),
});

export interface CustomerParams {
  datasetId: string;
  customerId: string;
}

/** The part of the service's configuration (shared/config) the lookup function reads, with the same defaults. */
export const lookupEnv = object({
  TABLE_NAME: string({ min: 1 }),
  AWS_REGION: withDefault(string(), "us-east-1"),
  AWS_ENDPOINT_URL_DYNAMODB: optional(url),
  DEFAULT_TENANT: withDefault(string({ pattern: TENANT_ID_PATTERN }), "demo"),
  SCOPE_PREFIX: withDefault(string({ min: 1 }), "segmentation"),
  REQUIRE_TENANT_CLAIM: withDefault(oneOf(["true", "false"]), "false"),
});

export interface LookupEnv {
  TABLE_NAME: string;
  AWS_REGION: string;
  AWS_ENDPOINT_URL_DYNAMODB?: string | undefined;
  DEFAULT_TENANT: string;
  SCOPE_PREFIX: string;
  REQUIRE_TENANT_CLAIM: "true" | "false";
}

/** The function's configuration from `env`, or an error naming each variable at fault. */
export function parseLookupEnv(env: Record<string, string | undefined>): LookupEnv {
  const parsed = run<LookupEnv>(lookupEnv, env);
  if (!parsed.ok) {
    const fields = parsed.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new Error(`Invalid configuration: ${fields}`);
  }
  return parsed.value;
}

const segmentSummary = object({ id: string(), family: string(), name: string(), size: number() });

/** The part of a dataset's committed version (META's `current`) that lookups read. */
export const storedVersion = object({
  version: number({ int: true, nonnegative: true }),
  runId: string(),
  asOf: string(),
  segments: array(segmentSummary),
  clusters: optional(
    object({
      featureNames: array(string()),
      ids: array(string()),
      descriptions: array(string()),
      centroids: array(array(number())),
    }),
  ),
  value: optional(stringRecord),
  servedValue: optional(string()),
});

export interface StoredVersion {
  version: number;
  runId: string;
  asOf: string;
  segments: Array<{ id: string; family: string; name: string; size: number }>;
  clusters?:
    | { featureNames: string[]; ids: string[]; descriptions: string[]; centroids: number[][] }
    | undefined;
  value?: Record<string, unknown> | undefined;
  servedValue?: string | undefined;
}

/** A dataset's META item as lookups read it: its committed version, if any. */
export const storedMeta = object({ current: optional(storedVersion) });

/**
 * The fields of a stored view the answer needs, checked; every other field the view holds is kept, so that
 * a field added to the view (CustomerView in ../model) reaches the answer as the model's schema gives it.
 */
export const storedView = object(
  {
    firstPurchase: string(),
    lastPurchase: string(),
    frequency: number(),
    monetary: number(),
    r: number(),
    f: number(),
    m: number(),
    rfm: string(),
    lifecycle: optional(string()),
    cluster: optional(string()),
    probabilityAlive: optional(number()),
    expectedPurchases: optional(number()),
    expectedPurchasesLow: optional(number()),
    expectedPurchasesHigh: optional(number()),
    clv: optional(number()),
    clvLow: optional(number()),
    clvHigh: optional(number()),
    repeatPurchases: optional(number()),
    nextBestCategory: optional(string()),
    valueInputs: optional(
      object({ x: number(), tx: number(), firstDay: number(), mx: number(), fallbackOrderValue: number() }),
    ),
    segments: array(string()),
  },
  true,
);

/** A customer's stored view as the check passes it: the answer's fields, the value inputs, and any others. */
export interface StoredView extends Omit<AnswerView, "segments"> {
  valueInputs?:
    | { x: number; tx: number; firstDay: number; mx: number; fallbackOrderValue: number }
    | undefined;
  segments: string[];
  [key: string]: unknown;
}

/** `value` checked by a check of a stored item, or a CheckError (which an answer reports as a 500). */
export function parseStored<T>(check: Check, value: unknown): T {
  const parsed = run<T>(check, value);
  if (!parsed.ok) throw new CheckError(parsed.issues);
  return parsed.value;
}
