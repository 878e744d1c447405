/**
 * Segments over segments: list segments (customer ids the business uploads or edits by hand) and the order in
 * which rule segments that name other segments (`in_segment` / `not_in_segment`) are evaluated.
 *
 * - A list segment `list:<slug>` has as members the customers of the computation whose ids are on the list.
 *   Ids that are not customers of the computation (no order up to the evaluation date, or never seen) are kept
 *   on the list, counted and reported (`unknownIds`, issue LIST_UNKNOWN_IDS), never dropped.
 * - A rule segment may name any segment id of any family. Rule segments that name rule segments are evaluated
 *   after them (a topological order); a cycle is refused with the path of the condition that closes it.
 */
import { ComputeError } from "./errors";
import type { SegmentDefinition } from "./rfm";
import type { Rule } from "./rules";
import { formatPath } from "./rules/schema";

/** Ids of list segments: `list:` and a slug. */
export const LIST_SEGMENT_ID = /^list:[a-z0-9][a-z0-9-]{0,63}$/;

/** Most list segments one computation evaluates. */
export const MAX_LIST_SEGMENTS = 100;

/** Unknown ids a list's report shows as a sample. */
export const UNKNOWN_SAMPLE = 10;

export interface ListSegmentSettings {
  id: string;
  name: string;
  description?: string;
  customerIds: readonly string[];
}

export interface ListSegment {
  definition: SegmentDefinition;
  customerIds: readonly string[];
}

/** Validates the list settings; throws ComputeError BAD_LIST naming the first field at fault. */
export function checkListSettings(lists: readonly ListSegmentSettings[] | undefined): ListSegment[] {
  if (lists === undefined) return [];
  if (!Array.isArray(lists)) throw new ComputeError("BAD_LIST", "lists must be a list", "lists");
  if (lists.length > MAX_LIST_SEGMENTS) {
    throw new ComputeError("BAD_LIST", `at most ${MAX_LIST_SEGMENTS} list segments`, "lists");
  }
  const seen = new Set<string>();
  return lists.map((entry, index) => {
    const at = `lists[${index}]`;
    if (typeof entry?.id !== "string" || !LIST_SEGMENT_ID.test(entry.id)) {
      throw new ComputeError(
        "BAD_LIST",
        "id must be 'list:' followed by 1-64 lower-case letters, digits or '-'",
        `${at}.id`,
      );
    }
    if (seen.has(entry.id)) throw new ComputeError("BAD_LIST", "id repeats an earlier list", `${at}.id`);
    seen.add(entry.id);
    if (typeof entry.name !== "string" || entry.name.trim() === "") {
      throw new ComputeError("BAD_LIST", "a list needs a name", `${at}.name`);
    }
    if (
      !Array.isArray(entry.customerIds) ||
      entry.customerIds.some((id: unknown) => typeof id !== "string")
    ) {
      throw new ComputeError("BAD_LIST", "customerIds must be a list of strings", `${at}.customerIds`);
    }
    return {
      definition: { id: entry.id, name: entry.name, description: entry.description ?? "" },
      customerIds: entry.customerIds,
    };
  });
}

/** Where a list is evaluated: the customers by position. */
export interface CustomerPositions {
  readonly customerCount: number;
  customerId(position: number): string;
}

const positionMaps = new WeakMap<CustomerPositions, Map<string, number>>();

/** Customer id → position, built once per result. */
export function positionsById(result: CustomerPositions): Map<string, number> {
  let map = positionMaps.get(result);
  if (!map) {
    map = new Map();
    for (let i = 0; i < result.customerCount; i++) map.set(result.customerId(i), i);
    positionMaps.set(result, map);
  }
  return map;
}

export interface ListMembership {
  /** 1 at the position of each customer on the list. */
  members: Uint8Array;
  /** Distinct ids on the list that are not customers of the computation. */
  unknownIds: number;
  /** The first few of them, in the list's order. */
  unknownSample: string[];
}

/** The members of a list among the customers of a result; repeated ids count once. */
export function listMembership(result: CustomerPositions, customerIds: readonly string[]): ListMembership {
  const positions = positionsById(result);
  const members = new Uint8Array(result.customerCount);
  const unknown = new Set<string>();
  const unknownSample: string[] = [];
  for (const id of customerIds) {
    const p = positions.get(id);
    if (p !== undefined) members[p] = 1;
    else if (!unknown.has(id)) {
      unknown.add(id);
      if (unknownSample.length < UNKNOWN_SAMPLE) unknownSample.push(id);
    }
  }
  return { members, unknownIds: unknown.size, unknownSample };
}

/** One membership condition of a rule: the segment it names and where, e.g. "rule.and[1].value". */
export interface SegmentReference {
  segmentId: string;
  path: string;
}

/** Every segment a rule names in a membership condition, in the order they appear. */
export function segmentReferences(rule: Rule, path = "rule"): SegmentReference[] {
  const out: SegmentReference[] = [];
  const visit = (node: Rule, at: string) => {
    if ("and" in node) {
      for (const [i, r] of node.and.entries()) visit(r, `${at}.and[${i}]`);
    } else if ("or" in node) {
      for (const [i, r] of node.or.entries()) visit(r, `${at}.or[${i}]`);
    } else if ("not" in node) visit(node.not, `${at}.not`);
    else if ((node.op === "in_segment" || node.op === "not_in_segment") && typeof node.value === "string") {
      out.push({ segmentId: node.value, path: formatPath(["value"], at) });
    }
  };
  visit(rule, path);
  return out;
}

/** A cycle among rule segments: the ids around it and the condition of the first that closes it. */
export interface RuleCycle {
  /** e.g. ["rule:a", "rule:b", "rule:a"]. */
  ids: string[];
  /** Index (in the input) of the segment whose condition closes the cycle, and that condition's path. */
  index: number;
  path: string;
}

/**
 * The order in which to evaluate rule segments so that each comes after the rule segments it names (input
 * order otherwise), or the first cycle found. References to segments that are not rule segments of the input
 * (other families, lists, unknown ids) do not constrain the order.
 */
export function ruleEvaluationOrder<T extends { id: string; rule: Rule }>(
  segments: readonly T[],
): { ok: true; order: number[] } | { ok: false; cycle: RuleCycle } {
  const index = new Map(segments.map((s, i) => [s.id, i]));
  const refs = segments.map((s) => segmentReferences(s.rule).filter((r) => index.has(r.segmentId)));
  const state = new Uint8Array(segments.length); // 0 new, 1 on the current path, 2 done
  const order: number[] = [];
  const stack: number[] = [];
  // Depth-first, iterative so that a long chain of references cannot overflow the call stack.
  for (let root = 0; root < segments.length; root++) {
    if (state[root] !== 0) continue;
    const next = [0];
    stack.push(root);
    state[root] = 1;
    while (stack.length > 0) {
      const top = stack.length - 1;
      const node = stack[top] as number;
      const k = next[top] as number;
      const edges = refs[node] as SegmentReference[];
      if (k >= edges.length) {
        state[node] = 2;
        order.push(node);
        stack.pop();
        next.pop();
        continue;
      }
      next[top] = k + 1;
      const edge = edges[k] as SegmentReference;
      const target = index.get(edge.segmentId) as number;
      if (state[target] === 1) {
        const from = stack.indexOf(target);
        const ids = [...stack.slice(from), target].map((i) => (segments[i] as T).id);
        return { ok: false, cycle: { ids, index: node, path: edge.path } };
      }
      if (state[target] === 0) {
        state[target] = 1;
        stack.push(target);
        next.push(0);
      }
    }
  }
  return { ok: true, order };
}

/** ruleEvaluationOrder for the engine's settings: a cycle is a ComputeError BAD_RULE at its path. */
export function orderRuleSegments<T extends { definition: SegmentDefinition; rule: Rule }>(
  segments: readonly T[],
): number[] {
  const ordered = ruleEvaluationOrder(segments.map((s) => ({ id: s.definition.id, rule: s.rule })));
  if (ordered.ok) return ordered.order;
  const { ids, index, path } = ordered.cycle;
  throw new ComputeError(
    "BAD_RULE",
    `rule segments name each other in a cycle: ${ids.join(" → ")}`,
    `rules[${index}].${path}`,
  );
}
