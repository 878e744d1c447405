/** Rule segments in words, for the segment page and the editor's preview. */
import type { RouteOutput } from "../../shared/client";

export type Rule = RouteOutput<"getDefinition">["rule"];
type Condition = Extract<Rule, { field: string }>;

export const FIELD_LABEL: Record<string, string> = {
  recency_days: "days since last purchase",
  frequency: "number of orders",
  monetary: "total spend",
  r_score: "recency score",
  f_score: "frequency score",
  m_score: "monetary score",
  clv: "predicted lifetime value",
  probability_alive: "probability still a customer",
  expected_purchases: "expected purchases",
  order_count: "order count",
  days_since_last_order: "days since last order",
  average_order_value: "average order value",
  first_purchase: "first purchase",
  last_purchase: "last purchase",
  rfm_segment: "RFM segment",
  cluster: "cluster",
  lifecycle: "lifecycle stage",
  segment: "the customer",
};

export const OP_LABEL: Record<string, string> = {
  eq: "is",
  neq: "is not",
  in: "is one of",
  not_in: "is none of",
  gt: "is more than",
  gte: "is at least",
  lt: "is less than",
  lte: "is at most",
  between: "is between",
  contains: "contains",
  starts_with: "starts with",
  exists: "is known",
  not_exists: "is not known",
  before: "is before",
  after: "is after",
  in_segment: "is in segment",
  not_in_segment: "is not in segment",
};

function value(v: unknown): string {
  if (v && typeof v === "object" && "days_ago" in v)
    return `${(v as { days_ago: number }).days_ago} days ago`;
  return typeof v === "string" ? `“${v}”` : String(v);
}

function condition(c: Condition): string {
  const field = FIELD_LABEL[c.field] ?? c.field;
  const op = OP_LABEL[c.op] ?? c.op;
  if (!("value" in c)) return `${field} ${op}`;
  if (c.op === "between" && Array.isArray(c.value))
    return `${field} ${op} ${value(c.value[0])} and ${value(c.value[1])}`;
  if (Array.isArray(c.value)) return `${field} ${op} ${c.value.map(value).join(", ")}`;
  return `${field} ${op} ${value(c.value)}`;
}

export function describeRule(rule: Rule): string {
  if ("and" in rule) return rule.and.map((r) => wrap(r)).join(" and ");
  if ("or" in rule) return rule.or.map((r) => wrap(r)).join(" or ");
  if ("not" in rule) return `not (${describeRule(rule.not)})`;
  return condition(rule);
}

function wrap(rule: Rule): string {
  return "and" in rule || "or" in rule ? `(${describeRule(rule)})` : describeRule(rule);
}
