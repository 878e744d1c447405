/**
 * zod at the HTTP edge: parses a value or throws a ValidationError whose details name each field at fault.
 * Messages come from the schema, never from the input, so a rejected body is not echoed back.
 */
import type { z } from "zod";
import { type ErrorDetail, ValidationError } from "../errors";

export type Where = "body" | "query" | "path";

export function issuesToDetails(where: string, issues: readonly z.core.$ZodIssue[]): ErrorDetail[] {
  return issues.slice(0, 50).map((issue) => ({
    path: [where, ...issue.path.map(String)].join("."),
    code: issue.code,
    message: issue.message,
  }));
}

export function parseWith<S extends z.ZodType>(schema: S, value: unknown, where: Where): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new ValidationError(`The request ${where} is invalid`, issuesToDetails(where, parsed.error.issues));
  }
  return parsed.data;
}

/**
 * Numbers DynamoDB can store and the document client will write: 0, or a magnitude from 1e-130 (DynamoDB's
 * smallest) to 2^53 - 1 (beyond which the client refuses a JavaScript number as imprecise).
 */
export const STORABLE_MAGNITUDE = { min: 1e-130, max: Number.MAX_SAFE_INTEGER } as const;

/** Segments of a path shown in a detail; a value nested deeper is named by its first ones and "…". */
const MAX_PATH_SEGMENTS = 32;

interface Node {
  value: unknown;
  parent: Node | undefined;
  key: string;
}

function pathOf(node: Node): string {
  const keys: string[] = [];
  for (let n: Node | undefined = node; n; n = n.parent) keys.push(n.key);
  keys.reverse();
  return keys.length > MAX_PATH_SEGMENTS ? `${keys.slice(0, MAX_PATH_SEGMENTS).join(".")}.…` : keys.join(".");
}

/**
 * Names of Object.prototype's properties (`__proto__`, `constructor`, `toString`, `hasOwnProperty`, …). As a
 * key of a body's object such a name is refused (reservedKeys): zod's records and objects drop an own
 * `__proto__` without a word, and DynamoDB's marshaller fails on an own `constructor`. As data (customers-file
 * headers, NDJSON keys, `attributes.<name>` in a rule) the same names are plain names.
 */
export const RESERVED_KEYS: ReadonlySet<string> = new Set(Object.getOwnPropertyNames(Object.prototype));

/**
 * The keys of a parsed JSON value's objects that name an Object.prototype property, as details naming each
 * (at most 50). Walks without recursion, like unstorableNumbers.
 */
export function reservedKeys(value: unknown, where: string): ErrorDetail[] {
  const details: ErrorDetail[] = [];
  const stack: Node[] = [{ value, parent: undefined, key: where }];
  for (let node = stack.pop(); node !== undefined && details.length < 50; node = stack.pop()) {
    const v = node.value;
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ value: v[i], parent: node, key: String(i) });
    } else if (typeof v === "object" && v !== null) {
      const entries = Object.entries(v);
      for (const [key, child] of entries) {
        if (!RESERVED_KEYS.has(key) || details.length >= 50) continue;
        details.push({
          path: pathOf({ value: child, parent: node, key }),
          code: "reserved_key",
          message: "names a property every JavaScript object has; use another name",
        });
      }
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, child] = entries[i] as [string, unknown];
        if (!RESERVED_KEYS.has(key)) stack.push({ value: child, parent: node, key });
      }
    }
  }
  return details;
}

/**
 * The numbers in a parsed JSON value that could not be stored, as details naming each (at most 50). Walks
 * without recursion and builds a path only for a number at fault, so a body nested to any depth is cheap.
 */
export function unstorableNumbers(value: unknown, where: string): ErrorDetail[] {
  const details: ErrorDetail[] = [];
  const stack: Node[] = [{ value, parent: undefined, key: where }];
  for (let node = stack.pop(); node !== undefined && details.length < 50; node = stack.pop()) {
    const v = node.value;
    if (typeof v === "number") {
      const magnitude = Math.abs(v);
      if (v !== 0 && !(magnitude >= STORABLE_MAGNITUDE.min && magnitude <= STORABLE_MAGNITUDE.max)) {
        details.push({
          path: pathOf(node),
          code: "out_of_range",
          message: "a number must be 0 or of magnitude between 1e-130 and 9007199254740991",
        });
      }
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) {
        stack.push({ value: v[i], parent: node, key: String(i) });
      }
    } else if (typeof v === "object" && v !== null) {
      const entries = Object.entries(v);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, child] = entries[i] as [string, unknown];
        stack.push({ value: child, parent: node, key });
      }
    }
  }
  return details;
}
