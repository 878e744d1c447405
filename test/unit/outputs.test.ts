import { describe, expect, it } from "vitest";
import type { CustomerView, RunRecord } from "../../shared/model";
import { decodeOutputs, diffOutputs, encodeOutputs, type Outputs } from "../../shared/pipeline/outputs";
import { IDS_PER_EVENT, membershipEvents } from "../../shared/pipeline/run";
import { tableViewOf } from "../../shared/pipeline/served-view";

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
    expect(diffOutputs(a, new Map(a))).toEqual({
      customers: [],
      memberships: [],
      history: new Map(),
      historyEntries: 0,
    });
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

describe("predictions evaluated when read", () => {
  const inputs = { x: 3, tx: 120, firstDay: 20_000, mx: 25.5, fallbackOrderValue: 30 };
  // Keys in viewOf's order: the scores, the predictions, the inputs, the segments last.
  const { segments: _none, ...scores } = view("444", []);
  const predicted = (p: number, e: number, clv: number, segments = ["rfm:loyal"]): CustomerView => ({
    ...scores,
    probabilityAlive: p,
    expectedPurchases: e,
    expectedPurchasesLow: e / 2,
    expectedPurchasesHigh: e * 2,
    clv,
    clvLow: clv / 2,
    clvHigh: clv * 2,
    repeatPurchases: 3,
    valueInputs: inputs,
    segments,
  });

  it("stores the view without its seven predictions, the other keys in their order", () => {
    const table = tableViewOf(predicted(0.8, 2, 100));
    expect(Object.keys(table)).toEqual([
      "firstPurchase",
      "lastPurchase",
      "frequency",
      "monetary",
      "r",
      "f",
      "m",
      "rfm",
      "repeatPurchases",
      "valueInputs",
      "segments",
    ]);
    expect(tableViewOf(view("555", ["rfm:champions"]))).toEqual(view("555", ["rfm:champions"]));
  });

  it("stores a view computed before predictions were evaluated when read whole, so its prev still serves them", () => {
    const { valueInputs: _inputs, ...old } = predicted(0.8, 2, 100);
    expect(tableViewOf(old)).toEqual(old);
    // The run that replaces such a version rewrites the customer, keeping the old view for readers meanwhile.
    const diff = diffOutputs(outputs({ A: old }), outputs({ A: predicted(0.8, 2, 100) }));
    expect(diff.customers.map((c) => [c.customerId, c.previous])).toEqual([["A", old]]);
    expect(Object.keys(diff.customers[0]?.view ?? {})).not.toContain("probabilityAlive");
  });

  it("rewrites no customer whose predictions alone moved, however far", () => {
    const committed = outputs({ A: predicted(0.8, 2, 100), B: predicted(0.5, 1, 40) });
    const next = outputs({ A: predicted(0.2, 9, 1_000), B: predicted(0.5, 1, 40.01) });
    expect(diffOutputs(committed, next).customers).toEqual([]);
  });

  it("rewrites a customer when its inputs, scores or segments change, writing the table view", () => {
    const committed = outputs({
      I: predicted(0.8, 2, 100),
      S: predicted(0.8, 2, 100),
      K: predicted(0.8, 2, 100),
    });
    const next = outputs({
      I: { ...predicted(0.8, 2, 100), valueInputs: { ...inputs, x: 4 } },
      S: predicted(0.8, 2, 100, ["rfm:champions"]),
      K: { ...predicted(0.8, 2, 100), r: 3, rfm: "344" },
    });
    const diff = diffOutputs(committed, next);
    expect(diff.customers.map((c) => c.customerId).sort()).toEqual(["I", "K", "S"]);
    for (const c of diff.customers) {
      expect(Object.keys(c.view ?? {})).not.toContain("probabilityAlive");
      expect(c.view?.valueInputs).toBeDefined();
    }
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
