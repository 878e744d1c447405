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
