import { describe, expect, it } from "vitest";
import type { CustomerView } from "../../shared/model";
import { decodeOutputs, diffOutputs, encodeOutputs, type Outputs } from "../../shared/pipeline/outputs";

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
