/**
 * Rule segments: the definition language (zod schemas and the vocabulary of fields and operators), the
 * compiler that evaluates a rule over customers held in columns, and attribute type inference.
 */
export * from "./attributes";
export * from "./catalog";
export * from "./compile";
export * from "./dates";
export * from "./schema";
