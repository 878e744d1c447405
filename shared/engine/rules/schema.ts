/**
 * The segment definition language as zod schemas. A definition is `{ name, description?, rule }`; a rule is
 * `{ and: Rule[] }`, `{ or: Rule[] }`, `{ not: Rule }` or a condition `{ field, op, value? }`.
 *
 * The rule schema is built one level per allowed depth instead of recursing lazily, so a hostile body nested
 * thousands of levels deep is rejected at the limit without ever recursing that far. Each level checks its node
 * with `checkCondition` (shared with the compiler) and reports problems at the exact path, e.g.
 * `rule.and[2].or[0].value`. `formatRuleIssues` flattens a zod error into `{ path, code, message }` entries
 * for an HTTP 400 body; messages come from the schema and never repeat the submitted values.
 */
import { z } from "zod";
import { checkCondition, isOperator, type Operator, RULE_LIMITS } from "./catalog";

export type RelativeDate = { days_ago: number };
export type ScalarValue = string | number | boolean | RelativeDate;
export type ConditionValue = ScalarValue | ScalarValue[];

export interface Condition {
  field: string;
  op: Operator;
  value?: ConditionValue;
}
export interface AndRule {
  and: Rule[];
}
export interface OrRule {
  or: Rule[];
}
export interface NotRule {
  not: Rule;
}
export type Rule = AndRule | OrRule | NotRule | Condition;

/** One problem with a definition, ready for an HTTP 400 body. */
export interface RuleIssue {
  path: string;
  code: string;
  message: string;
}

const RULE_SHAPE =
  'a rule is an object: {"and": [rules]}, {"or": [rules]}, {"not": rule} or a condition {"field", "op", "value"}';

function isScalarValue(value: unknown): value is ScalarValue {
  if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") return true;
  return (
    typeof value === "object" &&
    value !== null &&
    !Array.isArray(value) &&
    "days_ago" in value &&
    typeof value.days_ago === "number"
  );
}

function isConditionValue(value: unknown): value is ConditionValue {
  return isScalarValue(value) || (Array.isArray(value) && value.every(isScalarValue));
}

/** Counts the conditions of a rule, stopping early once the count passes `stopAbove`. */
export function countConditions(rule: Rule, stopAbove = Number.POSITIVE_INFINITY): number {
  let count = 0;
  const pending: Rule[] = [rule];
  for (let next = pending.pop(); next !== undefined && count <= stopAbove; next = pending.pop()) {
    if ("and" in next) pending.push(...next.and);
    else if ("or" in next) pending.push(...next.or);
    else if ("not" in next) pending.push(next.not);
    else count++;
  }
  return count;
}

interface NodeFields {
  and?: unknown;
  or?: unknown;
  not?: unknown;
  field?: string | undefined;
  op?: string | undefined;
  value?: unknown;
}

const GROUP_KEYS = ["and", "or", "not"] as const;

function addIssue(ctx: z.RefinementCtx, path: (string | number)[], code: string, message: string): void {
  ctx.addIssue({ code: "custom", path, message, params: { code } });
}

/** Checks one node whose children the next level has already validated; false when it added an issue. */
function checkNode(node: NodeFields, ctx: z.RefinementCtx, leaf: boolean): boolean {
  const groups = GROUP_KEYS.filter((key) => node[key] !== undefined);
  const isCondition = node.field !== undefined || node.op !== undefined || node.value !== undefined;
  const forms = groups.length + (isCondition ? 1 : 0);
  if (forms === 0) {
    addIssue(ctx, [], "empty_rule", `empty rule; ${RULE_SHAPE}`);
    return false;
  }
  if (forms > 1) {
    addIssue(
      ctx,
      [],
      "ambiguous_rule",
      "a rule has exactly one of and, or, not, or a condition (field, op, value)",
    );
    return false;
  }
  const group = groups[0];
  if (group === undefined) {
    const checked = checkCondition(node);
    if (checked.ok) return true;
    for (const issue of checked.issues) addIssue(ctx, issue.path, issue.code, issue.message);
    return false;
  }
  if (leaf) {
    addIssue(ctx, [group], "too_deep", `rules nest at most ${RULE_LIMITS.maxDepth} levels deep`);
    return false;
  }
  const children = node[group];
  if (Array.isArray(children) && children.length === 0) {
    addIssue(ctx, [group], "empty_group", `${group} needs at least one rule`);
    return false;
  }
  return true;
}

interface GroupNode {
  and?: Rule[] | undefined;
  or?: Rule[] | undefined;
  not?: Rule | undefined;
  field?: string | undefined;
  op?: string | undefined;
  value?: unknown;
}

/** The typed rule of a node its level has accepted; undefined only for a node that was not accepted. */
function toRule(node: GroupNode): Rule | undefined {
  if (node.and !== undefined) return { and: node.and };
  if (node.or !== undefined) return { or: node.or };
  if (node.not !== undefined) return { not: node.not };
  if (node.field === undefined || !isOperator(node.op)) return undefined;
  if (node.value === undefined) return { field: node.field, op: node.op };
  return isConditionValue(node.value) ? { field: node.field, op: node.op, value: node.value } : undefined;
}

function finish(rule: Rule | undefined, ctx: z.core.$RefinementCtx<unknown>): Rule {
  if (rule) return rule;
  ctx.issues.push({
    code: "custom",
    message: RULE_SHAPE,
    input: undefined,
    params: { code: "invalid_rule" },
  });
  return z.NEVER;
}

const fieldSchema = z.string({ error: "field must be a string" }).optional();
const opSchema = z.string({ error: "op must be a string" }).optional();
const valueSchema = z
  .unknown()
  .optional()
  .meta({ description: 'a number, string, boolean, {"days_ago": n}, or a list of them, as the op requires' });
const objectError = {
  error: (issue: { code: string }) => (issue.code === "invalid_type" ? RULE_SHAPE : undefined),
};

/**
 * Each level is named so that JSON Schema / OpenAPI generation refers to it once instead of inlining the
 * three references per level (and, or, not) into an exponentially large document.
 */
function levelMeta(depth: number) {
  return { id: `SegmentRuleLevel${depth}`, description: `${RULE_SHAPE} (nesting level ${depth})` };
}

/** The deepest level: conditions only; a group here is too deep and its contents are not parsed. */
function leafSchema(): z.ZodType<Rule> {
  const shape = {
    and: z.unknown().optional(),
    or: z.unknown().optional(),
    not: z.unknown().optional(),
    field: fieldSchema,
    op: opSchema,
    value: valueSchema,
  };
  return z
    .strictObject(shape, objectError)
    .superRefine((node, ctx) => {
      checkNode(node, ctx, true);
    })
    .transform(({ field, op, value }, ctx) => finish(toRule({ field, op, value }), ctx))
    .meta(levelMeta(RULE_LIMITS.maxDepth));
}

function groupSchema(depth: number, child: z.ZodType<Rule>): z.ZodType<Rule> {
  const shape = {
    and: z.array(child, { error: "and needs a list of rules" }).optional(),
    or: z.array(child, { error: "or needs a list of rules" }).optional(),
    not: child.optional(),
    field: fieldSchema,
    op: opSchema,
    value: valueSchema,
  };
  return z
    .strictObject(shape, objectError)
    .superRefine((node, ctx) => {
      if (!checkNode(node, ctx, false) || depth !== 1) return;
      // Children that failed keep their raw input as value, so only a tree free of issues is counted.
      if (ctx.issues.length > 0) return;
      const rule = toRule(node);
      const max = RULE_LIMITS.maxConditions;
      if (rule && countConditions(rule, max) > max) {
        addIssue(
          ctx,
          [],
          "too_many_conditions",
          `a rule has at most ${RULE_LIMITS.maxConditions} conditions`,
        );
      }
    })
    .transform((node, ctx) => finish(toRule(node), ctx))
    .meta(levelMeta(depth));
}

function buildRuleSchema(): z.ZodType<Rule> {
  let schema = leafSchema();
  for (let depth = RULE_LIMITS.maxDepth - 1; depth >= 1; depth--) schema = groupSchema(depth, schema);
  return schema;
}

/** A rule tree on its own (the `rule` of a definition). */
export const ruleSchema: z.ZodType<Rule> = buildRuleSchema();

export const segmentDefinitionSchema = z.strictObject({
  name: z.string().trim().min(1, "name must not be empty").max(100, "name has at most 100 characters"),
  description: z.string().max(1000, "description has at most 1000 characters").optional(),
  rule: ruleSchema,
});

export type SegmentDefinition = z.output<typeof segmentDefinitionSchema>;

export interface FormatOptions {
  /** Prepended to every path, e.g. "body" gives "body.rule.and[0].op". */
  prefix?: string;
  /** Most issues listed; one more entry says how many were left out. Default 50. */
  limit?: number;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_KEY_IN_PATH = 40;
const MAX_MESSAGE = 300;

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function appendSegment(path: string, segment: PropertyKey): string {
  if (typeof segment === "number") return `${path}[${segment}]`;
  const key = String(segment);
  if (IDENTIFIER.test(key) && key.length <= MAX_KEY_IN_PATH) return path ? `${path}.${key}` : key;
  return `${path}[${JSON.stringify(truncate(key, MAX_KEY_IN_PATH))}]`;
}

export function formatPath(path: readonly PropertyKey[], prefix = ""): string {
  return path.reduce<string>(appendSegment, prefix);
}

/**
 * Flattens a zod error (from any schema in this module) into a list for an HTTP 400 body. Unknown properties
 * are listed one per key, with long keys shortened, so a hostile body is never echoed back in full.
 */
export function formatRuleIssues(
  error: z.ZodError | readonly z.core.$ZodIssue[],
  options: FormatOptions = {},
): RuleIssue[] {
  const issues = "issues" in error ? error.issues : error;
  const limit = options.limit ?? 50;
  const prefix = options.prefix ?? "";
  const out: RuleIssue[] = [];
  let omitted = 0;
  const push = (issue: RuleIssue) => {
    if (out.length < limit) out.push(issue);
    else omitted++;
  };
  for (const issue of issues) {
    const path = formatPath(issue.path, prefix);
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        push({ path: appendSegment(path, key), code: "unrecognized_keys", message: "unknown property" });
      }
      continue;
    }
    const custom = issue.code === "custom" ? issue.params?.code : undefined;
    push({
      path,
      code: typeof custom === "string" ? custom : issue.code,
      message: truncate(issue.message, MAX_MESSAGE),
    });
  }
  if (omitted > 0) {
    out.push({ path: prefix, code: "too_many_errors", message: `${omitted} more problems not listed` });
  }
  return out;
}

export type DefinitionResult =
  | { ok: true; definition: SegmentDefinition }
  | { ok: false; issues: RuleIssue[] };

/** Validates a parsed JSON body as a segment definition. Never throws. */
export function validateSegmentDefinition(input: unknown, options: FormatOptions = {}): DefinitionResult {
  const parsed = segmentDefinitionSchema.safeParse(input);
  if (parsed.success) return { ok: true, definition: parsed.data };
  return { ok: false, issues: formatRuleIssues(parsed.error, options) };
}
