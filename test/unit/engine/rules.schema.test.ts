/**
 * Segment definitions that the schema must accept or refuse, each refusal with its exact path and code.
 */
import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  formatRuleIssues,
  RULE_LIMITS,
  type RuleIssue,
  ruleSchema,
  segmentDefinitionSchema,
  validateSegmentDefinition,
} from "../../../shared/engine/rules";

function issuesOf(rule: unknown, extra: Record<string, unknown> = {}): RuleIssue[] {
  const result = validateSegmentDefinition({ name: "test", rule, ...extra });
  if (result.ok) throw new Error("expected the definition to be refused");
  return result.issues;
}

/** The path and code of each issue, the part of an error a client acts on. */
function pathsAndCodes(rule: unknown, extra: Record<string, unknown> = {}): [string, string][] {
  return issuesOf(rule, extra).map((i) => [i.path, i.code]);
}

const cond = (field: string, op: string, value?: unknown) =>
  value === undefined ? { field, op } : { field, op, value };

describe("accepted definitions", () => {
  it.each<[string, unknown]>([
    ["a numeric condition", cond("frequency", "gt", 3)],
    ["a relative date", cond("last_purchase", "after", { days_ago: 30 })],
    ["an absolute date range", cond("first_purchase", "between", ["2024-01-01", "2024-12-31"])],
    [
      "a relative date range, older first",
      cond("last_purchase", "between", [{ days_ago: 90 }, { days_ago: 30 }]),
    ],
    ["a categorical list", cond("rfm_segment", "in", ["champions", "loyal"])],
    ["a share", cond("channel_share.web", "gte", 0.5)],
    ["a share with a dotted key", cond("category_share.books.fiction", "between", [0, 1])],
    ["a string attribute", cond("attributes.country", "eq", "DE")],
    ["a boolean attribute", cond("attributes.consent email", "eq", true)],
    ["an attribute date comparison", cond("attributes.signup_date", "lt", "2024-01-01")],
    ["an attribute number range", cond("attributes.age", "between", [18, 30])],
    ["an attribute list of dates", cond("attributes.signup_date", "in", ["2024-01-01", { days_ago: 3 }])],
    [
      "an attribute list of strings that look like dates or not",
      cond("attributes.code", "in", ["2024-01-01", "x"]),
    ],
    ["exists without a value", cond("clv", "exists")],
    [
      "a tree",
      {
        and: [
          cond("r_score", "gte", 4),
          { or: [cond("lifecycle", "eq", "active"), { not: cond("cluster", "exists") }] },
        ],
      },
    ],
  ])("%s", (_, rule) => {
    const result = validateSegmentDefinition({ name: "  Big spenders ", description: "d", rule });
    expect(result).toEqual({ ok: true, definition: { name: "Big spenders", description: "d", rule } });
  });

  it("accepts exactly the depth limit", () => {
    let rule: unknown = cond("frequency", "exists");
    for (let level = 1; level < RULE_LIMITS.maxDepth; level++) rule = { not: rule };
    expect(validateSegmentDefinition({ name: "deep", rule }).ok).toBe(true);
  });

  it("accepts exactly the condition limit", () => {
    const rule = {
      and: Array.from({ length: RULE_LIMITS.maxConditions }, () => cond("frequency", "exists")),
    };
    expect(validateSegmentDefinition({ name: "wide", rule }).ok).toBe(true);
  });
});

describe("refused conditions", () => {
  it.each<[string, unknown, [string, string][]]>([
    ["an unknown field", cond("recency", "gt", 1), [["rule.field", "unknown_field"]]],
    ["a share without a key", cond("channel_share.", "gt", 0.1), [["rule.field", "invalid_field"]]],
    ["an attribute without a name", cond("attributes.", "exists"), [["rule.field", "invalid_field"]]],
    [
      "an attribute name with a control character",
      cond("attributes.a\nb", "exists"),
      [["rule.field", "invalid_field"]],
    ],
    ["a field that is not a string", { field: 3, op: "exists" }, [["rule.field", "invalid_type"]]],
    ["a missing field", { op: "exists" }, [["rule.field", "missing_field"]]],
    ["a missing op", { field: "frequency", value: 1 }, [["rule.op", "missing_operator"]]],
    ["an unknown op", cond("frequency", "greater", 1), [["rule.op", "unknown_operator"]]],
    [
      "unknown field and op together",
      cond("nope", "nah", 1),
      [
        ["rule.field", "unknown_field"],
        ["rule.op", "unknown_operator"],
      ],
    ],
    ["gt on a categorical trait", cond("rfm_segment", "gt", 3), [["rule.op", "operator_not_allowed"]]],
    ["before on a number", cond("frequency", "before", "2024-01-01"), [["rule.op", "operator_not_allowed"]]],
    [
      "contains on a share",
      cond("channel_share.web", "contains", "x"),
      [["rule.op", "operator_not_allowed"]],
    ],
    [
      "starts_with on a date trait",
      cond("last_purchase", "starts_with", "2024"),
      [["rule.op", "operator_not_allowed"]],
    ],
    ["a string for a number", cond("frequency", "gt", "3"), [["rule.value", "invalid_value"]]],
    ["a number for a category", cond("cluster", "eq", 3), [["rule.value", "invalid_value"]]],
    ["a boolean for a number", cond("monetary", "eq", true), [["rule.value", "invalid_value"]]],
    [
      "a non-date string for gt on an attribute",
      cond("attributes.country", "gt", "DE"),
      [["rule.value", "invalid_value"]],
    ],
    ["an empty string", cond("attributes.country", "eq", ""), [["rule.value", "invalid_value"]]],
    ["an overlong string", cond("attributes.country", "eq", "x".repeat(1001)), [["rule.value", "too_long"]]],
    ["an impossible date", cond("last_purchase", "before", "2024-02-30"), [["rule.value", "invalid_value"]]],
    [
      "a date-time",
      cond("last_purchase", "before", "2024-02-01T00:00:00Z"),
      [["rule.value", "invalid_value"]],
    ],
    [
      "a negative days_ago",
      cond("last_purchase", "after", { days_ago: -1 }),
      [["rule.value", "invalid_value"]],
    ],
    [
      "a fractional days_ago",
      cond("last_purchase", "after", { days_ago: 1.5 }),
      [["rule.value", "invalid_value"]],
    ],
    [
      "extra keys beside days_ago",
      cond("last_purchase", "after", { days_ago: 1, x: 1 }),
      [["rule.value", "invalid_value"]],
    ],
    ["a share above 1", cond("channel_share.web", "gt", 1.5), [["rule.value", "out_of_range"]]],
    ["a missing value", cond("frequency", "gt"), [["rule.value", "missing_value"]]],
    ["a value for exists", cond("frequency", "exists", 1), [["rule.value", "unexpected_value"]]],
    [
      "null for not_exists",
      { field: "frequency", op: "not_exists", value: null },
      [["rule.value", "unexpected_value"]],
    ],
    ["in with a scalar", cond("frequency", "in", 3), [["rule.value", "invalid_value"]]],
    ["in with an empty list", cond("frequency", "in", []), [["rule.value", "invalid_value"]]],
    [
      "in with bad elements",
      cond("frequency", "not_in", [1, "2", 3, null]),
      [
        ["rule.value[1]", "invalid_value"],
        ["rule.value[3]", "invalid_value"],
      ],
    ],
    [
      "in with too many values",
      cond(
        "frequency",
        "in",
        Array.from({ length: 1001 }, (_, i) => i),
      ),
      [["rule.value", "too_many_values"]],
    ],
    [
      "in with mixed types on an attribute",
      cond("attributes.age", "in", [1, "a"]),
      [["rule.value", "mixed_types"]],
    ],
    ["between with one value", cond("frequency", "between", [1]), [["rule.value", "invalid_value"]]],
    ["between with three values", cond("frequency", "between", [1, 2, 3]), [["rule.value", "invalid_value"]]],
    [
      "between with a bad bound",
      cond("frequency", "between", [1, "x"]),
      [["rule.value[1]", "invalid_value"]],
    ],
    ["between out of order", cond("frequency", "between", [5, 1]), [["rule.value", "invalid_range"]]],
    [
      "between dates out of order",
      cond("last_purchase", "between", ["2024-02-01", "2024-01-01"]),
      [["rule.value", "invalid_range"]],
    ],
    [
      "between relative dates, newer first",
      cond("last_purchase", "between", [{ days_ago: 1 }, { days_ago: 30 }]),
      [["rule.value", "invalid_range"]],
    ],
    [
      "between mixing absolute and relative dates",
      cond("last_purchase", "between", ["2024-01-01", { days_ago: 1 }]),
      [["rule.value", "invalid_value"]],
    ],
    [
      "between mixing a number and a date",
      cond("attributes.x", "between", [1, "2024-01-01"]),
      [["rule.value", "invalid_value"]],
    ],
    [
      "between shares out of range",
      cond("channel_share.web", "between", [0.5, 2]),
      [["rule.value[1]", "out_of_range"]],
    ],
  ])("%s", (_, rule, expected) => {
    expect(pathsAndCodes(rule)).toEqual(expected);
  });

  it("says what between needs, at the path of the faulty condition", () => {
    const rule = {
      and: [
        cond("frequency", "gt", 1),
        cond("monetary", "gt", 1),
        { or: [cond("monetary", "between", [10, 1])] },
      ],
    };
    const issues = issuesOf(rule);
    expect(issues).toEqual([
      {
        path: "rule.and[2].or[0].value",
        code: "invalid_range",
        message: "between needs [low, high] with low <= high",
      },
    ]);
    expect(issues.map((i) => `${i.path}: ${i.message}`)).toEqual([
      "rule.and[2].or[0].value: between needs [low, high] with low <= high",
    ]);
  });

  it("refuses a hole in a sparse list (possible from JavaScript callers, not from JSON)", () => {
    const sparse: number[] = [];
    sparse[0] = 1;
    sparse[2] = 3;
    expect(pathsAndCodes(cond("frequency", "in", sparse))).toEqual([["rule.value[1]", "invalid_value"]]);
  });

  it("names the allowed operators when one does not apply", () => {
    expect(issuesOf(cond("rfm_segment", "gt", 3))[0]?.message).toBe(
      "gt does not apply to a categorical trait; use one of eq, neq, in, not_in, contains, starts_with, exists, not_exists",
    );
  });
});

describe("refused rule structures", () => {
  it.each<[string, unknown, [string, string][]]>([
    ["a rule that is not an object", "frequency > 3", [["rule", "invalid_type"]]],
    ["a rule that is a list", [cond("frequency", "exists")], [["rule", "invalid_type"]]],
    ["an empty rule", {}, [["rule", "empty_rule"]]],
    ["an empty and", { and: [] }, [["rule.and", "empty_group"]]],
    [
      "an empty or inside and",
      { and: [cond("frequency", "exists"), { or: [] }] },
      [["rule.and[1].or", "empty_group"]],
    ],
    ["and that is not a list", { and: cond("frequency", "exists") }, [["rule.and", "invalid_type"]]],
    ["not that is a list", { not: [cond("frequency", "exists")] }, [["rule.not", "invalid_type"]]],
    [
      "and beside or",
      { and: [cond("frequency", "exists")], or: [cond("frequency", "exists")] },
      [["rule", "ambiguous_rule"]],
    ],
    [
      "a group beside a condition",
      { not: cond("frequency", "exists"), field: "frequency" },
      [["rule", "ambiguous_rule"]],
    ],
    ["an unknown key", { ...cond("frequency", "exists"), extra: 1 }, [["rule.extra", "unrecognized_keys"]]],
    [
      "an element that is not a rule",
      { or: [cond("frequency", "exists"), 5] },
      [["rule.or[1]", "invalid_type"]],
    ],
    [
      "errors in several branches",
      { and: [cond("x", "exists"), { not: cond("frequency", "gt", "1") }, { or: [{}] }] },
      [
        ["rule.and[0].field", "unknown_field"],
        ["rule.and[1].not.value", "invalid_value"],
        ["rule.and[2].or[0]", "empty_rule"],
      ],
    ],
  ])("%s", (_, rule, expected) => {
    expect(pathsAndCodes(rule)).toEqual(expected);
  });

  it("refuses one level too deep, at the group that goes too far", () => {
    let rule: unknown = cond("frequency", "exists");
    for (let level = 0; level < RULE_LIMITS.maxDepth; level++) rule = { and: [rule] };
    // the condition sits at level 11; the and at level 10 is where nesting must stop
    const path = `rule${".and[0]".repeat(RULE_LIMITS.maxDepth - 1)}.and`;
    expect(pathsAndCodes(rule)).toEqual([[path, "too_deep"]]);
  });

  it("refuses a body nested a hundred thousand levels deep without recursing into it", () => {
    let rule: unknown = cond("frequency", "exists");
    for (let level = 0; level < 100_000; level++) rule = { not: rule };
    expect(pathsAndCodes(rule)).toEqual([[`rule${".not".repeat(RULE_LIMITS.maxDepth)}`, "too_deep"]]);
  });

  it("refuses one condition too many, counted across the tree", () => {
    const half = Array.from({ length: RULE_LIMITS.maxConditions / 2 }, () => cond("frequency", "exists"));
    const rule = { or: [{ and: half }, { not: { and: [...half, cond("monetary", "exists")] } }] };
    expect(pathsAndCodes(rule)).toEqual([["rule", "too_many_conditions"]]);
  });
});

describe("the definition around the rule", () => {
  it.each<[string, unknown, [string, string][]]>([
    ["a missing name", { rule: cond("frequency", "exists") }, [["name", "invalid_type"]]],
    ["a blank name", { name: "   ", rule: cond("frequency", "exists") }, [["name", "too_small"]]],
    ["a long name", { name: "n".repeat(101), rule: cond("frequency", "exists") }, [["name", "too_big"]]],
    ["a missing rule", { name: "x" }, [["rule", "invalid_type"]]],
    [
      "an unknown property",
      { name: "x", rule: cond("frequency", "exists"), owner: "me" },
      [["owner", "unrecognized_keys"]],
    ],
  ])("%s", (_, definition, expected) => {
    const result = validateSegmentDefinition(definition);
    expect(result.ok ? [] : result.issues.map((i) => [i.path, i.code])).toEqual(expected);
  });

  it.each([null, 3, "text", []])("refuses %j as a definition", (definition) => {
    const result = validateSegmentDefinition(definition);
    expect(result.ok ? [] : result.issues.map((i) => [i.path, i.code])).toEqual([["", "invalid_type"]]);
  });
});

describe("error bodies", () => {
  const canary = "CANARY-7f3a9c";

  it("never repeat submitted values", () => {
    const rule = {
      and: [
        cond("frequency", "gt", canary),
        cond("attributes.country", "gt", canary),
        cond("rfm_segment", "in", [canary, 3]),
        cond("frequency", "between", [canary, 1]),
        cond("last_purchase", "before", canary),
        cond(`${canary}`, canary, canary),
      ],
    };
    const body = JSON.stringify(issuesOf(rule));
    expect(body).not.toContain(canary);
  });

  it("shorten long keys in paths and keep identifiers as they are", () => {
    const longKey = "k".repeat(10_000);
    const issues = issuesOf({ ...cond("frequency", "exists"), [longKey]: 1, "with space": 2, ok_key: 3 });
    expect(issues.map((i) => i.path)).toEqual([
      `rule["${"k".repeat(39)}…"]`,
      'rule["with space"]',
      "rule.ok_key",
    ]);
  });

  it("list at most the limit, then say how many were left out", () => {
    const rule = { or: Array.from({ length: 120 }, () => cond("nope", "exists")) };
    const issues = issuesOf(rule);
    expect(issues).toHaveLength(51);
    expect(issues[49]).toEqual(expect.objectContaining({ path: "rule.or[49].field", code: "unknown_field" }));
    expect(issues[50]).toEqual({ path: "", code: "too_many_errors", message: "70 more problems not listed" });
  });

  it("take a prefix for the HTTP layer and accept a zod error or its issues", () => {
    const parsed = segmentDefinitionSchema.safeParse({ name: "x", rule: cond("frequency", "gt") });
    if (parsed.success) throw new Error("expected a failure");
    const expected = [{ path: "body.rule.value", code: "missing_value", message: "gt needs a value" }];
    expect(formatRuleIssues(parsed.error, { prefix: "body" })).toEqual(expected);
    expect(formatRuleIssues(parsed.error.issues, { prefix: "body" })).toEqual(expected);
  });
});

describe("schema as a contract", () => {
  it("parses a bare rule with ruleSchema", () => {
    expect(ruleSchema.safeParse(cond("frequency", "gt", 1)).success).toBe(true);
    expect(ruleSchema.safeParse({ and: [] }).success).toBe(false);
  });

  it("converts to a compact JSON Schema for the API document", () => {
    const schema = z.toJSONSchema(segmentDefinitionSchema, { io: "input" });
    const text = JSON.stringify(schema);
    // one definition per nesting level, each referenced rather than inlined three times over
    expect(Object.keys(schema.$defs ?? {}).sort()).toEqual(
      Array.from({ length: RULE_LIMITS.maxDepth }, (_, i) => `SegmentRuleLevel${i + 1}`).sort(),
    );
    expect(text.length).toBeLessThan(20_000);
  });
});
