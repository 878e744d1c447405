/**
 * The evaluation-date rule (the fixed asOf, else today in UTC) and the STALE_DATA issue: raised exactly when
 * the latest purchase is more than lapsedDays before asOf, i.e. exactly when every customer is lapsed.
 */
import { describe, expect, it } from "vitest";
import { computeSegments } from "../../../shared/engine/compute";
import { evaluationDate, staleDataIssue } from "../../../shared/engine/evaluation-date";
import { ingestTransactions } from "../../../shared/engine/ingest";
import { AggregateState } from "../../../shared/engine/state";
import { textSource } from "./byte-source";

const DAY = (iso: string) => Date.parse(`${iso}T00:00:00Z`) / 86_400_000;

async function stateOf(rows: string[]): Promise<AggregateState> {
  const state = new AggregateState();
  await ingestTransactions(
    textSource(`customer_id,order_id,order_date,amount\n${rows.join("\n")}\n`),
    { format: "csv" },
    state,
  );
  return state;
}

describe("evaluationDate", () => {
  it("is the fixed asOf when there is one, otherwise the UTC calendar day of now", () => {
    expect(evaluationDate("1998-07-01", new Date("2026-12-07T10:00:00Z"))).toBe("1998-07-01");
    // 23:30 on Dec 31 at UTC−5 is already Jan 1 in UTC.
    expect(evaluationDate(undefined, new Date("2025-12-31T23:30:00-05:00"))).toBe("2026-01-01");
    expect(evaluationDate(undefined, new Date("2026-03-01T00:00:00Z"))).toBe("2026-03-01");
  });
});

describe("STALE_DATA", () => {
  const windows = { newDays: 30, activeDays: 90, lapsedDays: 180 };

  it("is raised one day past the lapsed window, not on its last day", () => {
    const latest = DAY("2024-01-01");
    expect(staleDataIssue(Int32Array.of(latest - 10, latest), latest + 180, windows)).toBeUndefined();
    const issue = staleDataIssue(Int32Array.of(latest, latest - 10), latest + 181, windows);
    expect(issue).toEqual({
      code: "STALE_DATA",
      stage: "data",
      message:
        "The latest order (2024-01-01) is 181 days before the evaluation date (2024-06-30): every customer " +
        "looks lapsed (no purchase in the last 180 days) and recency ranks only how old the data is. If the " +
        "data ends there, set the dataset's asOf to 2024-01-02 to evaluate as of the data's end.",
    });
    expect(staleDataIssue(new Int32Array(0), latest + 1000, windows)).toBeUndefined();
  });

  it("counts thousands with separators, as the CDNOW demo evaluated today would read", () => {
    // 1998-06-30 → 2026-06-30: 28 × 365 days and 7 leap days (2000 … 2024), 10,227; 2026-06-30 → 2026-12-07:
    // 1 + 31 + 31 + 30 + 31 + 30 + 6 = 160; in all 10,387.
    const issue = staleDataIssue(Int32Array.of(DAY("1998-06-30")), DAY("2026-12-07"), windows);
    expect(issue?.message).toContain("is 10,387 days before the evaluation date (2026-12-07)");
  });

  it("follows the computation: every customer lapsed when raised, with the dataset's own windows", async () => {
    const state = await stateOf(["a,1,2024-01-01,10", "b,2,2023-12-01,20", "c,3,2024-01-05,-5"]);
    const settings = { clusters: false as const, value: false as const };
    const fresh = computeSegments(state, { ...settings, asOf: "2024-06-29" });
    expect(fresh.issues).toEqual([]);
    // 2024-01-01 + 181 days. The later return of c (not a purchase) does not make the data fresh.
    const stale = computeSegments(state, { ...settings, asOf: "2024-06-30" });
    expect(stale.issues.map((i) => [i.code, i.stage])).toEqual([["STALE_DATA", "data"]]);
    const stages = Array.from({ length: stale.customerCount }, (_, i) => stale.customer(i).lifecycle);
    expect(stages).toEqual(["lifecycle:lapsed", "lifecycle:lapsed"]);
    // A longer lapsed window: the same data is not stale.
    const longer = computeSegments(state, {
      ...settings,
      asOf: "2024-06-30",
      lifecycle: { lapsedDays: 365 },
    });
    expect(longer.issues).toEqual([]);
    expect(longer.customer(0).lifecycle).toBe("lifecycle:cooling");
  });
});
