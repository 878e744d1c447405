/**
 * List segments and rules over membership inside computeSegments. Expected members are worked out here from
 * the `customer(i)` objects of a computation without lists or membership rules (the RFM, lifecycle and cluster
 * ids each customer has), with plain set operations; unknown ids are counted by hand.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { type ComputedSegmentation, computeSegments } from "../../../shared/engine/compute";
import { ComputeError } from "../../../shared/engine/errors";
import { ingestTransactions } from "../../../shared/engine/ingest";
import { ruleEvaluationOrder, segmentReferences } from "../../../shared/engine/memberships";
import { validateSegmentDefinition } from "../../../shared/engine/rules";
import { AggregateState } from "../../../shared/engine/state";
import type { ComputeSettings, CustomerScores } from "../../../shared/engine/types";
import { textSource } from "./byte-source";

const AS_OF = "2024-07-01";
const DAY_MS = 86_400_000;
const AS_OF_DAY = Date.parse(`${AS_OF}T00:00:00Z`) / DAY_MS;

function lcg(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 48271) % 2147483647;
    return s / 2147483647;
  };
}

/** 80 customers with 1–8 orders over the last 500 days. */
function transactions(): string {
  const next = lcg(77);
  const lines = ["customer_id,order_id,order_date,amount"];
  let order = 0;
  for (let c = 0; c < 80; c++) {
    const orders = 1 + Math.floor(next() * 8);
    const lastAgo = Math.floor(next() * 500);
    for (let k = 0; k < orders; k++) {
      const day = AS_OF_DAY - lastAgo - Math.floor(next() * 200);
      const iso = new Date(day * DAY_MS).toISOString().slice(0, 10);
      lines.push(`M${String(c).padStart(3, "0")},o${order++},${iso},${(5 + next() * 300).toFixed(2)}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

const ids = (list: readonly CustomerScores[]) => list.map((c) => c.customerId).sort();

describe("list segments and membership rules", () => {
  let state: AggregateState;
  let plain: CustomerScores[];
  const settings = (extra: Partial<ComputeSettings>): ComputeSettings => ({
    asOf: AS_OF,
    clusters: { k: 3 },
    value: false,
    ...extra,
  });
  const membersOf = (result: ComputedSegmentation, segmentId: string): string[] => {
    const out: string[] = [];
    for (let i = 0; i < result.customerCount; i++) {
      const c = result.customer(i);
      if (c.segments.includes(segmentId)) out.push(c.customerId);
    }
    return out.sort();
  };

  beforeAll(async () => {
    state = new AggregateState();
    await ingestTransactions(textSource(transactions()), { format: "csv" }, state);
    const base = computeSegments(state, settings({}));
    plain = Array.from({ length: base.customerCount }, (_, i) => base.customer(i));
  });

  it("a list's members are its ids that are customers; the others are counted once and reported", () => {
    const known = ["M003", "M010", "M010", "M042", "M079"];
    const unknown = ["nobody-1", "nobody-2", "nobody-1"];
    const result = computeSegments(
      state,
      settings({ lists: [{ id: "list:vip", name: "VIP", customerIds: [...known, ...unknown] }] }),
    );
    expect(membersOf(result, "list:vip")).toEqual(["M003", "M010", "M042", "M079"]);
    const summary = result.segments.find((s) => s.id === "list:vip");
    expect(summary).toMatchObject({ family: "list", name: "VIP", size: 4, unknownIds: 2 });
    // Economics like any family: the members' net spend, summed in cents.
    const cents = plain
      .filter((c) => ["M003", "M010", "M042", "M079"].includes(c.customerId))
      .reduce((sum, c) => sum + Math.round(c.monetary * 100), 0);
    expect(summary?.revenue).toBe(cents / 100);
    expect(result.issues).toContainEqual(
      expect.objectContaining({ code: "LIST_UNKNOWN_IDS", stage: "lists", segment: "list:vip" }),
    );
    expect(result.issues.find((i) => i.code === "LIST_UNKNOWN_IDS")?.message).toMatch(/^2 ids/);
  });

  it('"Champions not in list:already-contacted" is one rule segment', () => {
    const champions = plain.filter((c) => c.segments.includes("rfm:champions"));
    expect(champions.length).toBeGreaterThan(3);
    const contacted = [champions[0]?.customerId, champions[2]?.customerId, "M000", "ghost"] as string[];
    const result = computeSegments(
      state,
      settings({
        lists: [{ id: "list:already-contacted", name: "Already contacted", customerIds: contacted }],
        rules: [
          {
            id: "rule:champions-to-contact",
            name: "Champions not yet contacted",
            rule: {
              and: [
                { field: "segment", op: "in_segment", value: "rfm:champions" },
                { field: "segment", op: "not_in_segment", value: "list:already-contacted" },
              ],
            },
          },
        ],
      }),
    );
    const expected = ids(champions.filter((c) => !contacted.includes(c.customerId)));
    expect(membersOf(result, "rule:champions-to-contact")).toEqual(expected);
    expect(expected.length).toBe(champions.length - 2);
  });

  it("rule segments that name rule segments are evaluated after them, whatever their order", () => {
    const lapsedOrCooling = (c: CustomerScores) =>
      c.segments.includes("lifecycle:lapsed") || c.segments.includes("lifecycle:cooling");
    const cluster = plain[0]?.cluster as string;
    const result = computeSegments(
      state,
      settings({
        rules: [
          {
            id: "rule:c",
            name: "C",
            rule: { field: "segment", op: "in_segment", value: "rule:b" },
          },
          {
            id: "rule:b",
            name: "B",
            rule: {
              and: [
                { field: "segment", op: "in_segment", value: "rule:a" },
                { field: "segment", op: "not_in_segment", value: cluster },
              ],
            },
          },
          {
            id: "rule:a",
            name: "A",
            rule: { field: "lifecycle", op: "in", value: ["lapsed", "cooling"] },
          },
        ],
      }),
    );
    const a = ids(plain.filter(lapsedOrCooling));
    const b = ids(plain.filter((c) => lapsedOrCooling(c) && c.cluster !== cluster));
    expect(a.length).toBeGreaterThan(b.length);
    expect(b.length).toBeGreaterThan(0);
    expect(membersOf(result, "rule:a")).toEqual(a);
    expect(membersOf(result, "rule:b")).toEqual(b);
    expect(membersOf(result, "rule:c")).toEqual(b);
    // Summaries keep the settings' order.
    expect(result.segments.filter((s) => s.family === "rule").map((s) => s.id)).toEqual([
      "rule:c",
      "rule:b",
      "rule:a",
    ]);
  });

  it("a cycle is refused with the path of the condition that closes it", () => {
    const run = () =>
      computeSegments(
        state,
        settings({
          rules: [
            { id: "rule:x", name: "X", rule: { field: "frequency", op: "gte", value: 2 } },
            {
              id: "rule:a",
              name: "A",
              rule: {
                or: [
                  { field: "frequency", op: "gte", value: 3 },
                  { field: "segment", op: "in_segment", value: "rule:b" },
                ],
              },
            },
            {
              id: "rule:b",
              name: "B",
              rule: { not: { field: "segment", op: "in_segment", value: "rule:a" } },
            },
          ],
        }),
      );
    expect(run).toThrow(ComputeError);
    try {
      run();
    } catch (error) {
      expect(error).toMatchObject({ code: "BAD_RULE", field: "rules[2].rule.not.value" });
      expect((error as Error).message).toContain("rule:a → rule:b → rule:a");
    }
    const self = ruleEvaluationOrder([
      { id: "rule:s", rule: { field: "segment", op: "not_in_segment", value: "rule:s" } },
    ]);
    expect(self).toEqual({ ok: false, cycle: { ids: ["rule:s", "rule:s"], index: 0, path: "rule.value" } });
  });

  it("a segment that does not exist has no members, with a warning naming the condition", () => {
    const result = computeSegments(
      state,
      settings({
        rules: [
          { id: "rule:in", name: "In", rule: { field: "segment", op: "in_segment", value: "list:gone" } },
          {
            id: "rule:out",
            name: "Out",
            rule: { field: "segment", op: "not_in_segment", value: "cluster:c99" },
          },
        ],
      }),
    );
    expect(membersOf(result, "rule:in")).toEqual([]);
    expect(membersOf(result, "rule:out")).toEqual(ids(plain));
    expect(result.issues).toContainEqual(
      expect.objectContaining({ code: "RULE_UNKNOWN_SEGMENT", segment: "rule:in", path: "rule" }),
    );
  });

  it("the schema takes one segment id of any family and refuses the operators elsewhere", () => {
    const check = (rule: unknown) => validateSegmentDefinition({ name: "n", rule }, { prefix: "body" });
    for (const id of ["rfm:champions", "lifecycle:new", "cluster:c2", "value:top", "rule:x", "list:vip"]) {
      expect(check({ field: "segment", op: "in_segment", value: id }).ok).toBe(true);
    }
    expect(check({ and: [{ field: "segment", op: "in_segment", value: "vip" }] })).toEqual({
      ok: false,
      issues: [expect.objectContaining({ path: "body.rule.and[0].value", code: "invalid_value" })],
    });
    expect(check({ field: "segment", op: "in_segment", value: ["list:a"] }).ok).toBe(false);
    expect(check({ field: "frequency", op: "in_segment", value: "list:a" })).toEqual({
      ok: false,
      issues: [expect.objectContaining({ path: "body.rule.op", code: "operator_not_allowed" })],
    });
    expect(check({ field: "segment", op: "eq", value: "list:a" })).toEqual({
      ok: false,
      issues: [expect.objectContaining({ path: "body.rule.op", code: "operator_not_allowed" })],
    });
    expect(check({ field: "attributes.x", op: "not_in_segment", value: "list:a" }).ok).toBe(false);
  });

  it("lists the segments a rule names with their paths", () => {
    expect(
      segmentReferences({
        and: [
          { field: "segment", op: "in_segment", value: "rfm:champions" },
          { not: { field: "segment", op: "in_segment", value: "list:a" } },
          { field: "frequency", op: "gt", value: 1 },
        ],
      }),
    ).toEqual([
      { segmentId: "rfm:champions", path: "rule.and[0].value" },
      { segmentId: "list:a", path: "rule.and[1].not.value" },
    ]);
  });
});
