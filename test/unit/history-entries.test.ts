/**
 * The membership history a run's diff makes: each customer's entries, as the customer item carries them and as
 * the version's history file keeps them. Every expected entry is written out by hand from the segments before
 * and after each run.
 */
import { describe, expect, it } from "vitest";
import {
  HISTORY_CAP,
  HISTORY_MAX_BYTES,
  type StoredEntry,
  storedEntries,
  withEntry,
} from "../../shared/history/entries";
import type { CustomerView } from "../../shared/model";
import { diffOutputs, type Outputs } from "../../shared/pipeline/outputs";

const view = (segments: string[], monetary = 10): CustomerView => ({
  firstPurchase: "2025-01-01",
  lastPurchase: "2025-02-01",
  frequency: 2,
  monetary,
  r: 3,
  f: 3,
  m: 3,
  rfm: "333",
  lifecycle: "active",
  segments,
});

const outputs = (entries: Record<string, CustomerView>): Outputs =>
  new Map(Object.entries(entries).map(([id, v]) => [id, JSON.stringify(v)]));

/** What the diff hands the table, per customer: the history each written item carries. */
const written = (diff: ReturnType<typeof diffOutputs>) =>
  Object.fromEntries(diff.customers.map((c) => [c.customerId, c.history ?? []]));

const file = (diff: ReturnType<typeof diffOutputs>) =>
  Object.fromEntries([...diff.history].map(([id, json]) => [id, JSON.parse(json) as StoredEntry[]]));

describe("history entries made by a run's diff", () => {
  const v1 = outputs({
    A: view(["lifecycle:active", "rfm:champions"]),
    B: view(["rfm:lost"]),
    C: view(["cluster:c1"]),
    D: view(["cluster:c2"]),
  });
  const first = diffOutputs(new Map(), v1, undefined, { version: 1, committed: new Map() });

  it("enters everyone into every segment they are in on a first run", () => {
    const expected = {
      A: [{ v: 1, e: ["lifecycle:active", "rfm:champions"], l: [] }],
      B: [{ v: 1, e: ["rfm:lost"], l: [] }],
      C: [{ v: 1, e: ["cluster:c1"], l: [] }],
      D: [{ v: 1, e: ["cluster:c2"], l: [] }],
    };
    expect(written(first)).toEqual(expected);
    expect(file(first)).toEqual(expected);
    expect(first.historyEntries).toBe(4);
  });

  it("adds an entry for a move and an exit, keeps the others' histories, and writes only changed items", () => {
    const v2 = outputs({
      // A moves from Champions to Loyal, staying active.
      A: view(["lifecycle:active", "rfm:loyal"]),
      // B leaves the dataset (a replace upload without them): it leaves every segment.
      // C is unchanged: no write, its history carried into the new version's file.
      C: view(["cluster:c1"]),
      // D's spend changes, not its segments: its item is rewritten, with its history and no new entry.
      D: view(["cluster:c2"], 25),
      // E is new.
      E: view(["rfm:new-customers"]),
    });
    const second = diffOutputs(v1, v2, undefined, { version: 2, committed: first.history });
    const a = [
      { v: 2, e: ["rfm:loyal"], l: ["rfm:champions"] },
      { v: 1, e: ["lifecycle:active", "rfm:champions"], l: [] },
    ];
    const b = [
      { v: 2, e: [], l: ["rfm:lost"] },
      { v: 1, e: ["rfm:lost"], l: [] },
    ];
    const d = [{ v: 1, e: ["cluster:c2"], l: [] }];
    const e = [{ v: 2, e: ["rfm:new-customers"], l: [] }];
    expect(written(second)).toEqual({ A: a, B: b, D: d, E: e });
    expect(second.customers.find((c) => c.customerId === "B")?.view).toBeNull();
    expect(file(second)).toEqual({ A: a, B: b, C: [{ v: 1, e: ["cluster:c1"], l: [] }], D: d, E: e });
    expect(second.historyEntries).toBe(3);
  });

  it("keeps the newest 64 entries when a 65th comes", () => {
    // Versions 1..64 each moved X between two clusters: newest first, v64 down to v1.
    const full: StoredEntry[] = Array.from({ length: 64 }, (_, i) => {
      const v = 64 - i;
      return { v, e: [`cluster:c${v % 2}`], l: [`cluster:c${(v + 1) % 2}`] };
    });
    expect(HISTORY_CAP).toBe(64);
    const committed = outputs({ X: view(["cluster:c0"]) });
    const next = outputs({ X: view(["cluster:c1"]) });
    const diff = diffOutputs(committed, next, undefined, {
      version: 65,
      committed: new Map([["X", JSON.stringify(full)]]),
    });
    const kept = written(diff).X as StoredEntry[];
    expect(kept).toHaveLength(64);
    expect(kept.map((e) => e.v)).toEqual(Array.from({ length: 64 }, (_, i) => 65 - i));
    expect(kept[0]).toEqual({ v: 65, e: ["cluster:c1"], l: ["cluster:c0"] });
    // Version 1's entry, the oldest, is the one dropped.
    expect(kept.some((e) => e.v === 1)).toBe(false);
    expect(file(diff).X).toEqual(kept);
  });

  it("repairs what an aborted run touched with the committed history and no false entry", () => {
    const committed = outputs({ A: view(["rfm:champions"]), B: view(["rfm:lost"]) });
    const history = new Map([
      ["A", JSON.stringify([{ v: 1, e: ["rfm:champions"], l: [] }])],
      ["B", JSON.stringify([{ v: 1, e: ["rfm:lost"], l: [] }])],
    ]);
    // The dead run (version 2) moved A; the repair (version 3) computes what is committed.
    const aborted = outputs({ A: view(["rfm:loyal"]), B: view(["rfm:lost"]) });
    const diff = diffOutputs(committed, new Map(committed), aborted, { version: 3, committed: history });
    expect(written(diff)).toEqual({ A: [{ v: 1, e: ["rfm:champions"], l: [] }] });
    expect(diff.historyEntries).toBe(0);
    expect(diff.history).toEqual(history);
  });

  it("leaves a forgotten (erased) customer out of the version's history file", () => {
    const committed = outputs({ A: view(["rfm:champions"]), Z: view(["rfm:lost"]) });
    const history = new Map([
      ["A", JSON.stringify([{ v: 1, e: ["rfm:champions"], l: [] }])],
      ["Z", JSON.stringify([{ v: 1, e: ["rfm:lost"], l: [] }])],
    ]);
    const diff = diffOutputs(committed, outputs({ A: view(["rfm:champions"]) }), undefined, {
      version: 2,
      committed: history,
      forget: new Set(["Z"]),
    });
    // Z's item is written once more (its removal, with the entry that it left) before erasure deletes it.
    expect(written(diff)).toEqual({
      Z: [
        { v: 2, e: [], l: ["rfm:lost"] },
        { v: 1, e: ["rfm:lost"], l: [] },
      ],
    });
    expect([...diff.history.keys()]).toEqual(["A"]);
  });
});

describe("stored entries", () => {
  it("reads what an item or a file holds, leaving out what is malformed", () => {
    expect(storedEntries(undefined)).toEqual([]);
    expect(
      storedEntries([{ v: 2, e: ["a"], l: [] }, { v: "3" }, null, { v: 1, e: ["b", 4], l: "x" }]),
    ).toEqual([
      { v: 2, e: ["a"], l: [] },
      { v: 1, e: ["b"], l: [] },
    ]);
  });

  it("drops the oldest entries past 128 KiB of JSON, however many segments a change names", () => {
    // 100 segment ids of 100 characters each: the list is 100 × 102 + 99 commas + 2 brackets = 10,301 bytes,
    // and an entry of a two-digit version {"v":NN,"e":[…],"l":[]} 12 + 10,301 + 8 = 10,321. k entries take
    // 10,321k + (k − 1) commas + 2 brackets = 10,322k + 1 bytes: 12 fit in 131,072 (123,865), 13 do not.
    const ids = Array.from({ length: 100 }, (_, i) => `s${String(i).padStart(99, "0")}`);
    const entry = (v: number): StoredEntry => ({ v, e: ids, l: [] });
    expect(JSON.stringify(entry(10)).length).toBe(10_321);
    const prior = Array.from({ length: 63 }, (_, i) => entry(79 - i));
    const kept = withEntry(prior, entry(80));
    expect(kept.map((e) => e.v)).toEqual([80, 79, 78, 77, 76, 75, 74, 73, 72, 71, 70, 69]);
    expect(JSON.stringify(kept).length).toBe(123_865);
    expect(HISTORY_MAX_BYTES).toBe(131_072);
    // The newest entry stays even when it alone is larger.
    const huge: StoredEntry = { v: 81, e: Array.from({ length: 14 }, () => ids).flat(), l: [] };
    expect(withEntry(kept, huge)).toEqual([huge]);
  });

  it("puts a new entry first and never records a version twice", () => {
    const prior = [{ v: 1, e: ["a"], l: [] }];
    expect(withEntry(prior, { v: 2, e: ["b"], l: ["a"] })).toEqual([{ v: 2, e: ["b"], l: ["a"] }, ...prior]);
    expect(withEntry([{ v: 2, e: ["x"], l: [] }, ...prior], { v: 2, e: ["b"], l: [] })).toEqual([
      { v: 2, e: ["b"], l: [] },
      ...prior,
    ]);
  });
});
