/**
 * The run's views and diff (shared/pipeline/outputs.ts) against the simple way kept as the reference
 * (shared/pipeline/outputs-reference.ts): the same view JSON for every customer, the same profiles, and the
 * same diff (customers written with their table views and history, membership changes, the history file) to
 * the byte. Computed on simulated customers (a first run, a refresh a day and a month later, a refresh over
 * an aborted run, an erasure's forgotten customers) and on stored views in shapes the run's fast paths do
 * not take (other key orders, no value inputs, strings that look like prediction keys).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_SPEC, syntheticFile } from "../../scripts/bench/generate";
import { type ComputedSegmentation, computeSegments } from "../../shared/engine/compute";
import { ingestTransactions } from "../../shared/engine/ingest";
import { AggregateState } from "../../shared/engine/state";
import type { CustomerView } from "../../shared/model";
import {
  type DiffHistory,
  diffOutputs,
  encodeOutputs,
  type Outputs,
  outputsAndProfiles,
} from "../../shared/pipeline/outputs";
import { diffOutputsReference, outputsAndProfilesReference } from "../../shared/pipeline/outputs-reference";
import { chunked, everyN } from "./engine/byte-source";

/** A diff as bytes: every write, membership and history line in order. */
const serialized = (diff: ReturnType<typeof diffOutputs>): string =>
  JSON.stringify({ ...diff, history: [...diff.history] });

/** A diff's outcome as text: the diff serialized, or the error it threw. */
function outcome(diff: () => ReturnType<typeof diffOutputs>): string {
  try {
    return serialized(diff());
  } catch (error) {
    return `threw ${(error as Error).name}`;
  }
}

function bothDiffs(committed: Outputs, next: Outputs, aborted?: Outputs, history?: DiffHistory) {
  const fast = outcome(() => diffOutputs(committed, next, aborted, history));
  expect(fast).toBe(outcome(() => diffOutputsReference(committed, next, aborted, history)));
  const parsed = fast.startsWith("threw") ? { customers: [], history: [] } : JSON.parse(fast);
  return parsed as { customers: unknown[]; history: Array<[string, string]> };
}

const day = (iso: string, days: number) =>
  new Date(Date.parse(`${iso}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);

describe("the run's views and diff equal the simple way's", () => {
  let dir: string;
  let today: ComputedSegmentation;
  let tomorrow: ComputedSegmentation;
  let nextMonth: ComputedSegmentation;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "outputs-fast-"));
    const file = syntheticFile(dir, { ...DEFAULT_SPEC, customers: 3_000 });
    const bytes = readFileSync(file.path);
    const state = new AggregateState();
    await ingestTransactions(chunked(bytes, everyN(bytes.length, 65_536)), { format: "csv" }, state);
    today = computeSegments(state, { asOf: file.asOf });
    tomorrow = computeSegments(state, { asOf: day(file.asOf, 1) });
    nextMonth = computeSegments(state, { asOf: day(file.asOf, 30) });
  }, 120_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("builds the same view JSON for every customer, and the same profiles", () => {
    for (const result of [today, nextMonth]) {
      const fast = outputsAndProfiles(result);
      const reference = outputsAndProfilesReference(result);
      expect([...fast.outputs]).toEqual([...reference.outputs]);
      expect(
        Buffer.from(encodeOutputs(fast.outputs)).equals(Buffer.from(encodeOutputs(reference.outputs))),
      ).toBe(true);
      expect([...fast.profiles]).toEqual([...reference.profiles]);
    }
    // The views carry what the fast paths must handle: predictions with value inputs, clusters, segments.
    const sample = JSON.parse(
      outputsAndProfiles(today).outputs.values().next().value as string,
    ) as CustomerView;
    expect(sample.valueInputs).toBeDefined();
    expect(sample.probabilityAlive).toBeDefined();
    expect(sample.cluster).toBeDefined();
  });

  it("diffs a first run, refreshes a day and a month later, and a refresh over an aborted run alike", () => {
    const v1 = outputsAndProfiles(today).outputs;
    const v2 = outputsAndProfiles(tomorrow).outputs;
    const v3 = outputsAndProfiles(nextMonth).outputs;

    const first = bothDiffs(new Map(), v1, undefined, { version: 1, committed: new Map() });
    expect(first.customers).toHaveLength(v1.size);

    const daily = bothDiffs(v1, v2, undefined, { version: 2, committed: new Map(first.history) });
    // Every customer's predictions moved; only some customers' stored views did.
    expect(daily.customers.length).toBeGreaterThan(0);
    expect(daily.customers.length).toBeLessThan(v1.size / 10);

    const monthly = bothDiffs(v1, v3, undefined, { version: 2, committed: new Map(first.history) });
    expect(monthly.customers.length).toBeGreaterThan(daily.customers.length);

    // A run of version 2 died after writing; version 3 repairs what it touched. An erasure forgets two.
    const ids = [...v1.keys()];
    const erased = new Set(ids.slice(0, 2));
    const next = new Map([...v3].filter(([id]) => !erased.has(id)));
    const repaired = bothDiffs(v1, next, v2, {
      version: 3,
      committed: new Map(first.history),
      forget: erased,
    });
    expect(repaired.customers.length).toBeGreaterThan(monthly.customers.length - 2);
    bothDiffs(v1, v1, undefined, { version: 2, committed: new Map(first.history) });
    bothDiffs(v1, new Map());
  });

  it("diffs stored views in other shapes by parsing them, as the simple way does", () => {
    const v1 = outputsAndProfiles(today).outputs;
    const [id, json] = v1.entries().next().value as [string, string];
    const view = JSON.parse(json) as CustomerView;
    const { valueInputs: _inputs, ...noInputs } = view;
    // The same view with its keys in another order: equal table views, so nothing to write.
    const reordered = JSON.stringify(Object.fromEntries(Object.entries(view).reverse()));
    // Strings holding what looks like a prediction key: a different category, which must be written.
    const tricky = (category: string) =>
      JSON.stringify({ ...view, nextBestCategory: category, segments: view.segments });
    const cases: Array<[string | undefined, string | undefined]> = [
      [json, reordered],
      [reordered, json],
      [JSON.stringify(noInputs), json],
      [json, JSON.stringify(noInputs)],
      [tricky(',"clv":1,'), tricky(',"clv":2,')],
      [tricky('x","clv":1,"y":"'), tricky('x","clv":2,"y":"')],
      [json, JSON.stringify({ ...view, probabilityAlive: 0.5, clv: 1e21 })],
      [tricky("valueInputs"), tricky('"valueInputs":{')],
      [json, json.replace(',"clv":', ',"clv":5,"clv":')],
      [json, json.replace(',"clv":', ',"clv":null,"x":')],
      [json, json.replace(',"clv":', ',"clv":"1","x":')],
      [json, JSON.stringify({ ...view, valueInputs: { ...view.valueInputs, x: 99 } })],
      [json, JSON.stringify({ ...view, segments: [...view.segments, "list:vip"] })],
      [json, undefined],
      [undefined, json],
    ];
    for (const [before, after] of cases) {
      const committed: Outputs = new Map(before === undefined ? [] : [[id, before]]);
      const next: Outputs = new Map(after === undefined ? [] : [[id, after]]);
      bothDiffs(committed, next, undefined, { version: 2, committed: new Map() });
    }
    // Writes where the stored views differ, none where only the key order or predictions moved.
    expect(diffOutputs(new Map([[id, json]]), new Map([[id, reordered]])).customers).toEqual([]);
    expect(
      diffOutputs(new Map([[id, tricky(',"clv":1,')]]), new Map([[id, tricky(',"clv":2,')]])).customers,
    ).toHaveLength(1);
  });
});
