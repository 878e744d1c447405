/**
 * Attribute families: segments by a customer attribute from a customers file, one family per setting entry,
 * each customer of the computation in exactly one segment of each family (so sizes add up to the customer
 * count and revenues to the total, as in the RFM and lifecycle families).
 *
 * Ids are `attr:<attribute-slug>:<value-slug>`. A slug is the text lower-cased, each run of characters
 * outside [a-z0-9] made one "-", leading and trailing "-" trimmed, cut to 64 characters; an empty value slug
 * is "value". The value slugs `other` and `unknown` are reserved: a real value whose slug is one of them, or
 * that slugs like a value before it, gets "-2", "-3", … in rank order.
 *
 * - categorical: the `top` values by number of customers (default 10; ties by value text, code-unit order)
 *   are a segment each, named "<attribute>: <value>"; every other value is in `other`. Booleans read as
 *   "true" / "false".
 * - numeric: half-open bands at the breaks b1 < … < bm: `below-<b1>` ("under b1"), `<bi>-to-<bi+1>` ("bi to
 *   under bi+1"), `<bm>-and-over` ("bm and over"); every band is a segment, empty or not. A number's slug is
 *   its decimal text with "-" as "minus-" and "." as "-" (-1.5 → "minus-1-5").
 * - date: cohorts by month (`2024-03`), quarter (`2024-q1`, "2024 Q1") or year (`2024`); only cohorts that
 *   hold someone, in calendar order.
 * Customers without a value (or whose value does not read as the family's type) are in `unknown`, present when
 * someone is. The `other` segment is present when some value is outside the top.
 *
 * The type is the entry's `type`; without one, `breaks` make it numeric, `cohort` a date and `top`
 * categorical; else the attribute's type (declared, or inferred by traits.ts): a date gives monthly cohorts,
 * anything else categorical values. A list attribute is refused (issue ATTRIBUTE_LIST_TYPE, no segments); an
 * attribute no customer of the computation has gives issue ATTRIBUTE_UNKNOWN and a family of `unknown` alone.
 */

import type { ComputedSegmentation } from "./compute";
import { isoDay } from "./days";
import { ComputeError } from "./errors";
import type { SegmentDefinition } from "./rfm";
import { parseAttributeValue } from "./rules/attributes";
import type { ResultTraits } from "./traits";
import type { ComputeIssue, SegmentAttribute } from "./types";

export const ATTRIBUTE_FAMILY_TYPES = ["categorical", "numeric", "date"] as const;
export type AttributeFamilyType = (typeof ATTRIBUTE_FAMILY_TYPES)[number];
export const COHORTS = ["month", "quarter", "year"] as const;
export type Cohort = (typeof COHORTS)[number];

/** One attribute to segment by (the dataset setting `segmentBy[i]`). */
export interface AttributeFamilySettings {
  /** The attribute's name, as the customers file's header has it. */
  attribute: string;
  type?: AttributeFamilyType;
  /** Categorical: values that get a segment of their own, 1..50. Default 10. */
  top?: number;
  /** Numeric: 1..20 strictly increasing finite numbers; required when type is numeric. */
  breaks?: readonly number[];
  /** Date: the cohort length. Default "month". */
  cohort?: Cohort;
}

export const ATTRIBUTE_FAMILY_LIMITS = {
  maxFamilies: 10,
  maxTop: 50,
  defaultTop: 10,
  maxBreaks: 20,
  maxSlug: 64,
} as const;

/** An entry checked: `type` undefined means the attribute's own type decides. */
export interface ResolvedAttributeFamily {
  readonly attribute: string;
  /** `attr:<attribute-slug>`. */
  readonly prefix: string;
  readonly type: AttributeFamilyType | undefined;
  readonly top: number;
  readonly breaks: readonly number[];
  readonly cohort: Cohort;
}

/** The slug rule of ids: lower-case, runs outside [a-z0-9] one "-", trimmed of "-", at most 64 characters. */
export function slugOf(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, ATTRIBUTE_FAMILY_LIMITS.maxSlug);
}

/** A number's decimal text as a slug: "-" → "minus-", "." → "-" (-1.5 → "minus-1-5"). */
export function numberSlug(n: number): string {
  return slugOf(String(n).replaceAll("-", "minus-").replaceAll(".", "-").replaceAll("+", ""));
}

/** One problem with the entries, `path` relative to the list (e.g. [2, "breaks", 1]). */
export interface AttributeFamilyProblem {
  path: (string | number)[];
  message: string;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Every problem of a list of entries, in order; none when the engine can compute with it. */
export function attributeFamilyProblems(entries: unknown): AttributeFamilyProblem[] {
  if (!Array.isArray(entries)) return [{ path: [], message: "must be a list of attributes to segment by" }];
  const problems: AttributeFamilyProblem[] = [];
  if (entries.length > ATTRIBUTE_FAMILY_LIMITS.maxFamilies) {
    problems.push({ path: [], message: `at most ${ATTRIBUTE_FAMILY_LIMITS.maxFamilies} attributes` });
  }
  const names = new Map<string, number>();
  const slugs = new Map<string, number>();
  entries.forEach((entry: unknown, i) => {
    const at = (...rest: (string | number)[]) => [i, ...rest];
    if (!isRecord(entry)) {
      problems.push({ path: at(), message: "must be an object with an attribute" });
      return;
    }
    for (const key of Object.keys(entry)) {
      if (!["attribute", "type", "top", "breaks", "cohort"].includes(key))
        problems.push({ path: at(key), message: `unknown key ${key}` });
    }
    const { attribute, type, top, breaks, cohort } = entry;
    if (typeof attribute !== "string" || attribute.trim() === "" || attribute.length > 128) {
      problems.push({ path: at("attribute"), message: "must be an attribute name of 1 to 128 characters" });
    } else if (slugOf(attribute) === "") {
      problems.push({ path: at("attribute"), message: "must hold a letter or digit, for the segment ids" });
    } else if (names.has(attribute)) {
      problems.push({
        path: at("attribute"),
        message: `${attribute} is already segmented by (entry ${names.get(attribute)})`,
      });
    } else if (slugs.has(slugOf(attribute))) {
      problems.push({
        path: at("attribute"),
        message: `${attribute} has the id attr:${slugOf(attribute)} of entry ${slugs.get(slugOf(attribute))}`,
      });
    }
    if (typeof attribute === "string") {
      if (!names.has(attribute)) names.set(attribute, i);
      if (!slugs.has(slugOf(attribute))) slugs.set(slugOf(attribute), i);
    }
    if (type !== undefined && !(ATTRIBUTE_FAMILY_TYPES as readonly unknown[]).includes(type)) {
      problems.push({ path: at("type"), message: `must be one of ${ATTRIBUTE_FAMILY_TYPES.join(", ")}` });
    }
    if (
      top !== undefined &&
      !(Number.isInteger(top) && (top as number) >= 1 && (top as number) <= ATTRIBUTE_FAMILY_LIMITS.maxTop)
    ) {
      problems.push({
        path: at("top"),
        message: `must be a whole number from 1 to ${ATTRIBUTE_FAMILY_LIMITS.maxTop}`,
      });
    }
    if (cohort !== undefined && !(COHORTS as readonly unknown[]).includes(cohort)) {
      problems.push({ path: at("cohort"), message: `must be one of ${COHORTS.join(", ")}` });
    }
    if (breaks !== undefined) {
      if (!Array.isArray(breaks) || breaks.length < 1 || breaks.length > ATTRIBUTE_FAMILY_LIMITS.maxBreaks) {
        problems.push({
          path: at("breaks"),
          message: `must be 1 to ${ATTRIBUTE_FAMILY_LIMITS.maxBreaks} increasing numbers`,
        });
      } else {
        breaks.forEach((b: unknown, k) => {
          if (typeof b !== "number" || !Number.isFinite(b)) {
            problems.push({ path: at("breaks", k), message: "must be a finite number" });
          } else if (k > 0 && typeof breaks[k - 1] === "number" && !(b > (breaks[k - 1] as number))) {
            problems.push({ path: at("breaks", k), message: "breaks must be strictly increasing" });
          }
        });
      }
    }
    const effective = type ?? (breaks !== undefined ? "numeric" : cohort !== undefined ? "date" : undefined);
    if (effective === "numeric" && breaks === undefined) {
      problems.push({ path: at("breaks"), message: "a numeric attribute needs breaks" });
    }
    if (top !== undefined && effective !== undefined && effective !== "categorical") {
      problems.push({ path: at("top"), message: `top applies to categorical attributes, not ${effective}` });
    }
    if (breaks !== undefined && effective !== "numeric") {
      problems.push({ path: at("breaks"), message: `breaks apply to numeric attributes, not ${effective}` });
    }
    if (cohort !== undefined && effective !== "date") {
      problems.push({ path: at("cohort"), message: `cohort applies to date attributes, not ${effective}` });
    }
  });
  return problems;
}

/** Checks the entries (ComputeError BAD_ATTRIBUTE_FAMILY naming the first problem) and fills in defaults. */
export function checkAttributeFamilySettings(entries: unknown): ResolvedAttributeFamily[] {
  if (entries === undefined) return [];
  const [problem] = attributeFamilyProblems(entries);
  if (problem !== undefined) {
    const field = problem.path.reduce<string>(
      (f, p) => (typeof p === "number" ? `${f}[${p}]` : `${f}.${p}`),
      "attributeFamilies",
    );
    throw new ComputeError("BAD_ATTRIBUTE_FAMILY", problem.message, field);
  }
  return (entries as AttributeFamilySettings[]).map((e) => ({
    attribute: e.attribute,
    prefix: `attr:${slugOf(e.attribute)}`,
    type:
      e.type ??
      (e.breaks !== undefined
        ? "numeric"
        : e.cohort !== undefined
          ? "date"
          : e.top !== undefined
            ? "categorical"
            : undefined),
    top: e.top ?? ATTRIBUTE_FAMILY_LIMITS.defaultTop,
    breaks: e.breaks ?? [],
    cohort: e.cohort ?? "month",
  }));
}

/** A segment of an attribute family: its definition and what it stands for. */
export interface AttributeSegmentDefinition extends SegmentDefinition {
  readonly attribute: SegmentAttribute;
}

/** One attribute family: position i is in segments[codes[i]]. */
export interface AttributeFamily {
  readonly prefix: string;
  readonly segments: readonly AttributeSegmentDefinition[];
  readonly codes: Uint32Array;
}

const UNKNOWN = -1;

/** Gives reserved-free, distinct value slugs in the order asked. */
class SlugRegistry {
  private readonly used = new Set(["other", "unknown"]);
  take(text: string): string {
    const base = slugOf(text) || "value";
    if (!this.used.has(base)) {
      this.used.add(base);
      return base;
    }
    for (let n = 2; ; n++) {
      const suffix = `-${n}`;
      const slug = `${base.slice(0, ATTRIBUTE_FAMILY_LIMITS.maxSlug - suffix.length)}${suffix}`;
      if (!this.used.has(slug)) {
        this.used.add(slug);
        return slug;
      }
    }
  }
}

/**
 * The attribute families of a result, in the order of the entries; issues for refused and unknown
 * attributes go to `issues`. A refused entry gives no family.
 */
export function attributeFamilies(
  result: ComputedSegmentation,
  traits: ResultTraits,
  entries: readonly ResolvedAttributeFamily[],
  issues: ComputeIssue[],
): AttributeFamily[] {
  const families: AttributeFamily[] = [];
  for (const entry of entries) {
    const family = attributeFamily(result, traits, entry, issues);
    if (family !== undefined) families.push(family);
  }
  return families;
}

function attributeFamily(
  result: ComputedSegmentation,
  traits: ResultTraits,
  entry: ResolvedAttributeFamily,
  issues: ComputeIssue[],
): AttributeFamily | undefined {
  const { attribute: name, prefix } = entry;
  const n = result.customerCount;
  const declared = traits.attributeType(name);
  if (declared === "list") {
    issues.push({
      code: "ATTRIBUTE_LIST_TYPE",
      message: `${name} holds lists of values, which cannot be segmented by: no segments`,
      stage: "attributes",
      segment: prefix,
    });
    return undefined;
  }
  const type: AttributeFamilyType = entry.type ?? (declared === "date" ? "date" : "categorical");
  const column = result.source.attribute(name);
  // Each distinct text is read once: keys[code] is the value's key for the family's type (null: unknown).
  const keys: (string | number | null)[] = [null];
  if (column !== undefined) {
    for (let v = 0; v < column.values.size; v++) keys.push(readValue(column.values.get(v), type, declared));
  }
  const codeOf = new Int32Array(n);
  const stateIndex = result.columns.stateIndex;
  let known = 0;
  for (let i = 0; i < n; i++) {
    const code = column === undefined ? 0 : column.code(stateIndex[i] as number);
    codeOf[i] = code;
    if (keys[code] !== null) known++;
  }
  const unknownSegment = (): AttributeSegmentDefinition => ({
    id: `${prefix}:unknown`,
    name: `${name}: unknown`,
    description: `Customers without a ${name} value`,
    attribute: { name, value: null, kind: "unknown" },
  });
  if (known === 0) {
    issues.push({
      code: "ATTRIBUTE_UNKNOWN",
      message: `no customer of this computation has a value of ${name}: everyone is in ${prefix}:unknown`,
      stage: "attributes",
      segment: prefix,
    });
    return { prefix, segments: [unknownSegment()], codes: new Uint32Array(n) };
  }
  // group[code]: the segment index of a value code, UNKNOWN for no value.
  const group = new Int32Array(keys.length).fill(UNKNOWN);
  const segments: AttributeSegmentDefinition[] = [];
  const slugs = new SlugRegistry();
  if (type === "numeric") {
    const breaks = entry.breaks;
    const labels = [
      { slug: `below-${numberSlug(breaks[0] as number)}`, text: `under ${breaks[0]}` },
      ...breaks.slice(0, -1).map((b, k) => ({
        slug: `${numberSlug(b)}-to-${numberSlug(breaks[k + 1] as number)}`,
        text: `${b} to under ${breaks[k + 1]}`,
      })),
      {
        slug: `${numberSlug(breaks[breaks.length - 1] as number)}-and-over`,
        text: `${breaks[breaks.length - 1]} and over`,
      },
    ];
    for (const { slug, text } of labels) {
      segments.push({
        id: `${prefix}:${slugs.take(slug)}`,
        name: `${name}: ${text}`,
        description: `Customers whose ${name} is ${text}`,
        attribute: { name, value: text, kind: "band" },
      });
    }
    for (let code = 1; code < keys.length; code++) {
      const x = keys[code];
      if (typeof x !== "number") continue;
      // The number of breaks at or below x is the band: a value equal to a break opens the band above it.
      let band = 0;
      while (band < breaks.length && x >= (breaks[band] as number)) band++;
      group[code] = band;
    }
  } else if (type === "date") {
    const cohorts = new Map<string, number[]>();
    for (let code = 1; code < keys.length; code++) {
      const day = keys[code];
      if (typeof day !== "number") continue;
      const text = isoDay(day);
      const year = text.slice(0, 4);
      const month = Number(text.slice(5, 7));
      const key =
        entry.cohort === "year"
          ? year
          : entry.cohort === "quarter"
            ? `${year}-q${Math.ceil(month / 3)}`
            : text.slice(0, 7);
      const cohort = cohorts.get(key) ?? [];
      cohort.push(code);
      cohorts.set(key, cohort);
    }
    // Cohorts that hold a customer of the computation, in calendar order (their keys sort so).
    const held = new Uint8Array(keys.length);
    for (let i = 0; i < n; i++) held[codeOf[i] as number] = 1;
    const present = [...cohorts].filter(([, c]) => c.some((code) => held[code] === 1));
    present.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const [key, cohort] of present) {
      const text = entry.cohort === "quarter" ? key.replace("-q", " Q") : key;
      const index = segments.length;
      segments.push({
        id: `${prefix}:${slugs.take(key)}`,
        name: `${name}: ${text}`,
        description: `Customers whose ${name} falls in ${text}`,
        attribute: { name, value: text, kind: "cohort" },
      });
      for (const code of cohort) group[code] = index;
    }
  } else {
    // Customers per value text (several codes may read as one value).
    const valueIndex = new Map<string, number>();
    const valueOfCode = new Int32Array(keys.length).fill(UNKNOWN);
    const texts: string[] = [];
    for (let code = 1; code < keys.length; code++) {
      const text = keys[code];
      if (typeof text !== "string") continue;
      let v = valueIndex.get(text);
      if (v === undefined) {
        v = texts.length;
        texts.push(text);
        valueIndex.set(text, v);
      }
      valueOfCode[code] = v;
    }
    const counts = new Float64Array(texts.length);
    for (let i = 0; i < n; i++) {
      const v = valueOfCode[codeOf[i] as number] as number;
      if (v !== UNKNOWN) counts[v] = (counts[v] as number) + 1;
    }
    const ranked = texts
      .map((_, v) => v)
      .filter((v) => (counts[v] as number) > 0)
      .sort((a, b) => {
        const d = (counts[b] as number) - (counts[a] as number);
        if (d !== 0) return d;
        const x = texts[a] as string;
        const y = texts[b] as string;
        return x < y ? -1 : x > y ? 1 : 0;
      });
    const top = ranked.slice(0, entry.top);
    const segmentOfValue = new Int32Array(texts.length).fill(UNKNOWN);
    for (const v of top) {
      const text = texts[v] as string;
      segmentOfValue[v] = segments.length;
      segments.push({
        id: `${prefix}:${slugs.take(text)}`,
        name: `${name}: ${text}`,
        description: `Customers whose ${name} is ${JSON.stringify(text)}`,
        attribute: { name, value: text, kind: "value" },
      });
    }
    if (ranked.length > top.length) {
      const other = segments.length;
      segments.push({
        id: `${prefix}:other`,
        name: `${name}: other`,
        description: `Customers whose ${name} is none of its ${top.length} most common values`,
        attribute: { name, value: null, kind: "other" },
      });
      for (const v of ranked.slice(top.length)) segmentOfValue[v] = other;
    }
    for (let code = 1; code < keys.length; code++) {
      const v = valueOfCode[code] as number;
      if (v !== UNKNOWN) group[code] = segmentOfValue[v] as number;
    }
  }
  const codes = new Uint32Array(n);
  let unknownCode = -1;
  for (let i = 0; i < n; i++) {
    const g = group[codeOf[i] as number] as number;
    if (g !== UNKNOWN) {
      codes[i] = g;
      continue;
    }
    if (unknownCode < 0) {
      unknownCode = segments.length;
      segments.push(unknownSegment());
    }
    codes[i] = unknownCode;
  }
  return { prefix, segments, codes };
}

/**
 * A value's key for the family's type: trimmed text (categorical; "true"/"false" for a boolean attribute),
 * a number (numeric) or a day number (date); null when it does not read as one.
 */
function readValue(
  raw: string,
  type: AttributeFamilyType,
  declared: string | undefined,
): string | number | null {
  const text = raw.trim();
  if (text === "") return null;
  if (type === "categorical") {
    if (declared !== "boolean") return text;
    const parsed = parseAttributeValue(text, "boolean");
    return parsed.ok && typeof parsed.value === "boolean" ? String(parsed.value) : null;
  }
  const parsed = parseAttributeValue(text, type === "numeric" ? "number" : "date");
  return parsed.ok && typeof parsed.value === "number" ? parsed.value : null;
}
