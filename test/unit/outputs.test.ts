import { describe, expect, it } from "vitest";
import type { CustomerView, RunRecord } from "../../shared/model";
import {
  decodeOutputs,
  diffOutputs,
  encodeOutputs,
  keepWithinTolerance,
  type Outputs,
} from "../../shared/pipeline/outputs";
import { IDS_PER_EVENT, membershipEvents } from "../../shared/pipeline/run";

const view = (rfm: string, segments: string[]): CustomerView => ({
  firstPurchase: "2025-01-01",
  lastPurchase: "2025-02-01",
  frequency: 2,
  monetary: 10,
  r: Number(rfm[0]),
  f: Number(rfm[1]),
  m: Number(rfm[2]),
  rfm,
  segments,
});

const outputs = (entries: Record<string, CustomerView>): Outputs =>
  new Map(Object.entries(entries).map(([id, v]) => [id, JSON.stringify(v)]));

describe("diffOutputs", () => {
  it("writes nothing when nothing changed", () => {
    const a = outputs({ A: view("555", ["rfm:champions"]), B: view("111", ["rfm:lost"]) });
    expect(diffOutputs(a, new Map(a))).toEqual({ customers: [], memberships: [] });
  });

  it("writes changed, added and removed customers, and exactly the memberships that moved", () => {
    const before = outputs({
      A: view("555", ["rfm:champions"]),
      B: view("111", ["rfm:lost"]),
      C: view("333", ["rfm:need-attention"]),
    });
    const after = outputs({
      A: view("555", ["rfm:champions"]),
      B: view("211", ["rfm:hibernating"]),
      D: view("511", ["rfm:new-customers"]),
    });
    const diff = diffOutputs(before, after);
    expect(
      diff.customers.map((c) => [c.customerId, c.view?.rfm ?? null, c.previous?.rfm ?? null]).sort(),
    ).toEqual([
      ["B", "211", "111"],
      ["C", null, "333"],
      ["D", "511", null],
    ]);
    expect(
      diff.memberships.map((m) => `${m.customerId} ${m.segmentId} ${m.previous}->${m.member}`).sort(),
    ).toEqual([
      "B rfm:hibernating false->true",
      "B rfm:lost true->false",
      "C rfm:need-attention true->false",
      "D rfm:new-customers false->true",
    ]);
  });

  it("rewrites what an aborted run touched, even where the new result equals the committed one", () => {
    const committed = outputs({ A: view("555", ["rfm:champions"]), B: view("111", ["rfm:lost"]) });
    const aborted = outputs({ A: view("444", ["rfm:loyal"]), B: view("111", ["rfm:lost"]) });
    const diff = diffOutputs(committed, new Map(committed), aborted);
    expect(diff.customers).toEqual([
      { customerId: "A", view: view("555", ["rfm:champions"]), previous: view("555", ["rfm:champions"]) },
    ]);
    expect(diff.memberships.map((m) => `${m.segmentId} ${m.previous}->${m.member}`).sort()).toEqual([
      "rfm:champions true->true",
      "rfm:loyal false->false",
    ]);
  });
});

describe("outputs file", () => {
  it("round-trips through its encoding, ids with tabs and quotes included", () => {
    const a = outputs({ 'x\ty"z': view("555", ["rfm:champions"]), B: view("111", []) });
    expect(decodeOutputs(encodeOutputs(a))).toEqual(a);
    expect(decodeOutputs(encodeOutputs(new Map()))).toEqual(new Map());
  });
});

describe("keepWithinTolerance", () => {
  const predicted = (p: number, e: number, clv: number, segments = ["rfm:loyal"]): CustomerView => ({
    ...view("444", segments),
    probabilityAlive: p,
    expectedPurchases: e,
    clv,
  });

  it("keeps the committed view when only predictions moved, each within its tolerance", () => {
    const committed = outputs({ A: predicted(0.8, 2, 100) });
    // 0.004 absolute, 0.4 % and 0.4 % relative: all inside 0.005 / 0.5 % / 0.5 %.
    const next = outputs({ A: predicted(0.804, 2.008, 100.4) });
    expect(keepWithinTolerance(committed, next)).toBe(1);
    expect(next.get("A")).toBe(committed.get("A"));
    expect(diffOutputs(committed, next).customers).toEqual([]);
  });

  it("rewrites a customer when any prediction leaves its tolerance or anything else changes", () => {
    const committed = outputs({
      P: predicted(0.8, 2, 100),
      E: predicted(0.8, 2, 100),
      C: predicted(0.8, 2, 100),
      S: predicted(0.8, 2, 100),
    });
    const next = outputs({
      P: predicted(0.806, 2, 100),
      E: predicted(0.8, 2.02, 100),
      C: predicted(0.8, 2, 101),
      S: predicted(0.8, 2, 100, ["rfm:champions"]),
    });
    expect(keepWithinTolerance(committed, next)).toBe(0);
    expect(
      diffOutputs(committed, next)
        .customers.map((c) => c.customerId)
        .sort(),
    ).toEqual(["C", "E", "P", "S"]);
  });

  it("holds the 80% interval bounds to their prediction's tolerance", () => {
    const bounded = (clvLow: number, highE: number): CustomerView => ({
      ...predicted(0.8, 2, 100),
      expectedPurchasesLow: 1.5,
      expectedPurchasesHigh: highE,
      clvLow,
      clvHigh: 130,
    });
    const committed = outputs({ K: bounded(80, 2.5), L: bounded(80, 2.5), H: bounded(80, 2.5) });
    // 0.3 % on clvLow and 0.4 % on expectedPurchasesHigh: kept; 1 % on either: rewritten.
    const next = outputs({ K: bounded(80.24, 2.51), L: bounded(80.8, 2.5), H: bounded(80, 2.525) });
    expect(keepWithinTolerance(committed, next)).toBe(1);
    expect(
      diffOutputs(committed, next)
        .customers.map((c) => c.customerId)
        .sort(),
    ).toEqual(["H", "L"]);
  });

  it("uses the absolute floors for values near zero", () => {
    const committed = outputs({ A: predicted(0.01, 0.001, 0) });
    const next = outputs({ A: predicted(0.012, 0.004, 0.009) });
    expect(keepWithinTolerance(committed, next)).toBe(1);
  });
});

describe("membershipEvents", () => {
  const run: RunRecord = {
    tenantId: "t",
    datasetId: "d",
    runId: "r1",
    trigger: "refresh",
    status: "succeeded",
    startedAt: "2025-01-01T00:00:00Z",
    attempts: 1,
    version: 4,
  };

  it("reports who entered and left each segment, skipping rewrites that change nothing", () => {
    const events = membershipEvents(run, [
      { segmentId: "rfm:lost", customerId: "A", member: true, previous: false },
      { segmentId: "rfm:lost", customerId: "B", member: false, previous: true },
      { segmentId: "rfm:lost", customerId: "C", member: true, previous: true },
      { segmentId: "rfm:champions", customerId: "B", member: true, previous: false },
    ]);
    expect(events.map((e) => e.detail)).toEqual([
      {
        tenantId: "t",
        datasetId: "d",
        runId: "r1",
        version: 4,
        segmentId: "rfm:champions",
        part: 1,
        parts: 1,
        entered: ["B"],
        left: [],
      },
      {
        tenantId: "t",
        datasetId: "d",
        runId: "r1",
        version: 4,
        segmentId: "rfm:lost",
        part: 1,
        parts: 1,
        entered: ["A"],
        left: ["B"],
      },
    ]);
  });

  it("splits a large change into parts of at most IDS_PER_EVENT ids, losing none", () => {
    const writes = Array.from({ length: IDS_PER_EVENT * 2 + 3 }, (_, i) => ({
      segmentId: "rfm:lost",
      customerId: `C${i}`,
      member: i % 3 !== 0,
      previous: i % 3 === 0,
    }));
    const events = membershipEvents(run, writes);
    expect(events).toHaveLength(3);
    const ids = events.flatMap((e) => [...(e.detail.entered as string[]), ...(e.detail.left as string[])]);
    expect(new Set(ids).size).toBe(writes.length);
    for (const e of events) {
      expect((e.detail.entered as string[]).length + (e.detail.left as string[]).length).toBeLessThanOrEqual(
        IDS_PER_EVENT,
      );
      expect(e.detail.parts).toBe(3);
    }
  });
});
