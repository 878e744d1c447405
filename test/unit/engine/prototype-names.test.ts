/**
 * Customer attributes named like Object.prototype's properties (`constructor`, `__proto__`, `toString`, …) are
 * plain attributes in the engine: a customers file (CSV or NDJSON) with such columns keeps them through a
 * serialized state, and rules on them select the customers worked out by hand below.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { computeSegments } from "../../../shared/engine/compute";
import { ingestCustomers, ingestTransactions } from "../../../shared/engine/ingest";
import { AggregateState } from "../../../shared/engine/state";
import { textSource } from "./byte-source";

const NAMES = ["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf"];

describe("attributes named like Object.prototype's properties", () => {
  let state: AggregateState;

  beforeAll(async () => {
    const loaded = new AggregateState();
    await ingestTransactions(
      textSource(
        "customer_id,order_id,order_date,amount\nA,1,2024-01-01,10.00\nB,2,2024-02-01,20.00\nC,3,2024-03-01,5.00\nD,4,2024-03-02,7.00\n",
      ),
      { format: "csv" },
      loaded,
    );
    // A and B from CSV; C from NDJSON, whose "__proto__" key JSON.parse makes an own key; D has none.
    await ingestCustomers(
      textSource(
        "customer_id,constructor,__proto__,toString,hasOwnProperty,valueOf\nA,x,1,yes,p,2024-01-01\nB,y,2,no,,2024-01-02\n",
      ),
      { format: "csv" },
      loaded,
    );
    await ingestCustomers(
      textSource('{"customer_id":"C","constructor":"x","__proto__":"30","toString":"no"}\n'),
      { format: "ndjson" },
      loaded,
    );
    state = AggregateState.deserialize(loaded.serialize());
  });

  it("keeps each as an attribute of its own, through a serialized state", () => {
    expect(state.attributeNames()).toEqual(NAMES);
    const byId = (id: string) => {
      for (let i = 0; i < state.customerCount; i++) if (state.customerId(i) === id) return i;
      throw new Error(id);
    };
    const a = state.attributesOf(byId("A"));
    expect(Object.getPrototypeOf(a)).toBe(Object.prototype);
    expect(Object.entries(a)).toEqual([
      ["constructor", "x"],
      ["__proto__", "1"],
      ["toString", "yes"],
      ["hasOwnProperty", "p"],
      ["valueOf", "2024-01-01"],
    ]);
    expect(Object.entries(state.attributesOf(byId("C")))).toEqual([
      ["constructor", "x"],
      ["__proto__", "30"],
      ["toString", "no"],
    ]);
    expect(Object.entries(state.attributesOf(byId("D")))).toEqual([]);
  });

  // Expected members by hand from the two files above (types inferred: constructor string, __proto__ number,
  // toString boolean, hasOwnProperty string, valueOf date).
  const cases: [unknown, string[]][] = [
    [{ field: "attributes.constructor", op: "eq", value: "x" }, ["A", "C"]],
    [{ field: "attributes.constructor", op: "exists" }, ["A", "B", "C"]],
    [{ field: "attributes.__proto__", op: "gt", value: 1.5 }, ["B", "C"]],
    [{ field: "attributes.toString", op: "eq", value: false }, ["B", "C"]],
    [{ field: "attributes.hasOwnProperty", op: "not_exists" }, ["B", "C", "D"]],
    [{ field: "attributes.valueOf", op: "after", value: "2024-01-01" }, ["B"]],
    [
      {
        and: [
          { field: "attributes.constructor", op: "neq", value: "y" },
          { field: "monetary", op: "gte", value: 6 },
        ],
      },
      ["A"],
    ],
  ];

  for (const [rule, members] of cases) {
    it(`a rule ${JSON.stringify(rule)} selects ${members.join(", ")}`, () => {
      const result = computeSegments(state, {
        asOf: "2024-07-01",
        clusters: false,
        value: false,
        rules: [{ id: "rule:p", name: "p", rule }],
      });
      expect(result.issues.filter((i) => i.stage === "rules")).toEqual([]);
      const picked: string[] = [];
      for (let i = 0; i < result.customerCount; i++) {
        const c = result.customer(i);
        if (c.segments.includes("rule:p")) picked.push(c.customerId);
      }
      expect(picked.sort()).toEqual(members);
      expect(result.segments.find((s) => s.id === "rule:p")?.size).toBe(members.length);
    });
  }
});
