/**
 * The rule family's settings: each entry is a business-defined segment, `{ id, name, description?, rule }`,
 * checked with the same schema the API uses (rules/schema.ts) so that a definition the API accepted is accepted
 * here, and anything else fails the computation with the path of the problem.
 */
import { ComputeError } from "./errors";
import type { SegmentDefinition } from "./rfm";
import { type Rule, validateSegmentDefinition } from "./rules";
import type { RuleSegmentSettings } from "./types";

/** Ids of rule segments: `rule:` and a slug, as segment ids are everywhere in the service. */
export const RULE_SEGMENT_ID = /^rule:[a-z0-9][a-z0-9-]{0,63}$/;

/** Most rule segments evaluated in one computation. */
export const MAX_RULE_SEGMENTS = 1000;

export interface RuleSegment {
  definition: SegmentDefinition;
  rule: Rule;
}

/** Validates the rule settings; throws ComputeError BAD_RULE naming the first field at fault. */
export function checkRuleSettings(rules: readonly RuleSegmentSettings[] | undefined): RuleSegment[] {
  if (rules === undefined) return [];
  if (!Array.isArray(rules)) throw new ComputeError("BAD_RULE", "rules must be a list", "rules");
  if (rules.length > MAX_RULE_SEGMENTS) {
    throw new ComputeError("BAD_RULE", `at most ${MAX_RULE_SEGMENTS} rule segments`, "rules");
  }
  const seen = new Set<string>();
  return rules.map((entry: unknown, index) => {
    const at = `rules[${index}]`;
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      throw new ComputeError("BAD_RULE", "a rule segment is an object { id, name, description?, rule }", at);
    }
    const { id, ...rest } = entry as Record<string, unknown>;
    if (typeof id !== "string" || !RULE_SEGMENT_ID.test(id)) {
      throw new ComputeError(
        "BAD_RULE",
        "id must be 'rule:' followed by 1-64 lower-case letters, digits or '-', starting with a letter or digit",
        `${at}.id`,
      );
    }
    if (seen.has(id)) throw new ComputeError("BAD_RULE", "id repeats an earlier rule segment", `${at}.id`);
    seen.add(id);
    const checked = validateSegmentDefinition(rest, { prefix: at });
    if (!checked.ok) {
      const first = checked.issues[0];
      throw new ComputeError(
        "BAD_RULE",
        first?.message ?? "invalid rule segment",
        first?.path ?? at,
        checked.issues,
      );
    }
    const { name, description, rule } = checked.definition;
    return { definition: { id, name, description: description ?? "" }, rule };
  });
}
