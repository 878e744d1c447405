/**
 * Customer attributes from a customers file: inferring each column's type from its text, and parsing text into
 * typed values for rule evaluation.
 *
 * Inference rules, applied to every non-empty value of a column (values are trimmed; an empty value is
 * missing and says nothing about the type):
 * - boolean: every value is true/false/yes/no, in any letter case;
 * - number: every value is a plain decimal such as `42`, `-3.5`, `1e6`, with no leading zero before other
 *   digits (`007` and `02139` are codes, not numbers), no thousands separators, and finite;
 * - date: every value is an ISO date `yyyy-mm-dd` or date-time `yyyy-mm-ddThh:mm[:ss[.fff]][Z|±hh:mm]`;
 * - string: anything else, and a column with no values at all.
 * `list` is never inferred; declare it for columns holding several values separated by `;` or `|`.
 * A declared type always wins over the inferred one.
 */
import { parseIsoDateTimeDay } from "./dates";

export const ATTRIBUTE_TYPES = ["string", "number", "boolean", "date", "list"] as const;
export type AttributeType = (typeof ATTRIBUTE_TYPES)[number];

/** A typed attribute value: dates are day numbers (days since 1970-01-01 UTC); null is missing. */
export type AttributeValue = string | number | boolean | readonly string[] | null;

const DECIMAL = /^[+-]?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;
const INFERRED_TRUE = new Set(["true", "yes"]);
const INFERRED_FALSE = new Set(["false", "no"]);
// A declared boolean also accepts the short and numeric spellings that are too ambiguous to infer from.
const DECLARED_TRUE = new Set([...INFERRED_TRUE, "y", "t", "1"]);
const DECLARED_FALSE = new Set([...INFERRED_FALSE, "n", "f", "0"]);
const LIST_SEPARATOR = /[;|]/;

export function parseDecimal(text: string): number | undefined {
  if (!DECIMAL.test(text)) return undefined;
  const value = Number(text);
  return Number.isFinite(value) ? value : undefined;
}

/** Streams a column's values and reports the narrowest type that fits all of them. */
export class AttributeTypeInference {
  private values = 0;
  private couldBeNumber = true;
  private couldBeBoolean = true;
  private couldBeDate = true;

  observe(raw: string): void {
    const text = raw.trim();
    if (text === "") return;
    this.values++;
    if (this.couldBeBoolean) {
      const lower = text.toLowerCase();
      this.couldBeBoolean = INFERRED_TRUE.has(lower) || INFERRED_FALSE.has(lower);
    }
    if (this.couldBeNumber) this.couldBeNumber = parseDecimal(text) !== undefined;
    if (this.couldBeDate) this.couldBeDate = parseIsoDateTimeDay(text) !== undefined;
  }

  get type(): AttributeType {
    if (this.values === 0) return "string";
    if (this.couldBeBoolean) return "boolean";
    if (this.couldBeNumber) return "number";
    if (this.couldBeDate) return "date";
    return "string";
  }
}

export function inferAttributeType(values: Iterable<string>): AttributeType {
  const inference = new AttributeTypeInference();
  for (const value of values) inference.observe(value);
  return inference.type;
}

/** Infers the type of every column; `declared` types override the inferred ones. */
export function inferAttributeTypes(
  columns: Readonly<Record<string, Iterable<string>>>,
  declared: Readonly<Record<string, AttributeType>> = {},
): Record<string, AttributeType> {
  // fromEntries defines own properties, so a column named "__proto__" is kept like any other.
  return Object.fromEntries(
    Object.entries(columns).map(([name, values]) => [
      name,
      Object.hasOwn(declared, name) ? (declared[name] ?? "string") : inferAttributeType(values),
    ]),
  );
}

export type ParsedAttribute =
  | { ok: true; value: AttributeValue }
  | { ok: false; code: "invalid_number" | "invalid_boolean" | "invalid_date"; reason: string };

/** Parses one cell as the given type; an empty cell is a missing value (null), never an error. */
export function parseAttributeValue(raw: string, type: AttributeType): ParsedAttribute {
  const text = raw.trim();
  if (text === "") return { ok: true, value: null };
  switch (type) {
    case "string":
      return { ok: true, value: text };
    case "number": {
      const value = parseDecimal(text);
      return value === undefined
        ? { ok: false, code: "invalid_number", reason: "not a plain decimal number" }
        : { ok: true, value };
    }
    case "boolean": {
      const lower = text.toLowerCase();
      if (DECLARED_TRUE.has(lower)) return { ok: true, value: true };
      if (DECLARED_FALSE.has(lower)) return { ok: true, value: false };
      return { ok: false, code: "invalid_boolean", reason: "not one of true/false, yes/no, y/n, t/f, 1/0" };
    }
    case "date": {
      const value = parseIsoDateTimeDay(text);
      return value === undefined
        ? { ok: false, code: "invalid_date", reason: "not an ISO date or date-time" }
        : { ok: true, value };
    }
    case "list": {
      const items = text
        .split(LIST_SEPARATOR)
        .map((item) => item.trim())
        .filter((item) => item !== "");
      return { ok: true, value: items };
    }
  }
}
