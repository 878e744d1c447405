/**
 * The simple way of building a run's views and diffing them (./outputs.ts does the same faster): each view an
 * object built by spreads and stringified, each changed view parsed back with its schema. Kept as the
 * reference the tests and the capacity bench (`--views reference`) compare the run's own functions against:
 * same views, same diff, to the byte.
 */
import { amountOfCents, centsOfAmount, meanRounded, roundToCent } from "../engine/money";
import type { CustomerScores, SegmentationResult } from "../engine/types";
import { changeOf, entriesOf, type Histories, withEntry } from "../history/entries";
import { type CustomerView, customerViewSchema } from "../model";
import type { Diff, DiffHistory, Outputs, SegmentProfile } from "./outputs";
import type { CustomerWrite, MembershipWrite } from "./ports";
import { tableViewOf, type ViewPredictions } from "./served-view";

const round = (x: number, digits: number) => {
  const scale = 10 ** digits;
  return Math.round(x * scale) / scale;
};

function viewPredictionsReference(c: {
  probabilityAlive?: number | undefined;
  expectedPurchases?: number | undefined;
  expectedPurchasesLow?: number | undefined;
  expectedPurchasesHigh?: number | undefined;
  clv?: number | undefined;
  clvLow?: number | undefined;
  clvHigh?: number | undefined;
}): ViewPredictions {
  return {
    ...(c.probabilityAlive !== undefined ? { probabilityAlive: round(c.probabilityAlive, 4) } : {}),
    ...(c.expectedPurchases !== undefined ? { expectedPurchases: round(c.expectedPurchases, 4) } : {}),
    ...(c.expectedPurchasesLow !== undefined
      ? { expectedPurchasesLow: round(c.expectedPurchasesLow, 4) }
      : {}),
    ...(c.expectedPurchasesHigh !== undefined
      ? { expectedPurchasesHigh: round(c.expectedPurchasesHigh, 4) }
      : {}),
    ...(c.clv !== undefined ? { clv: roundToCent(c.clv) } : {}),
    ...(c.clvLow !== undefined ? { clvLow: roundToCent(c.clvLow) } : {}),
    ...(c.clvHigh !== undefined ? { clvHigh: roundToCent(c.clvHigh) } : {}),
  };
}

export function viewOfReference(
  result: SegmentationResult,
  i: number,
  c: CustomerScores = result.customer(i),
): { id: string; view: CustomerView } {
  const inputs = c.probabilityAlive !== undefined ? result.valueInputsOf?.(i) : undefined;
  const view: CustomerView = {
    firstPurchase: c.firstPurchase,
    lastPurchase: c.lastPurchase,
    frequency: c.frequency,
    monetary: c.monetary,
    r: c.r,
    f: c.f,
    m: c.m,
    rfm: c.rfm,
    lifecycle: c.lifecycle,
    ...(c.cluster !== undefined ? { cluster: c.cluster } : {}),
    ...viewPredictionsReference(c),
    ...(c.repeatPurchases !== undefined && c.probabilityAlive !== undefined
      ? { repeatPurchases: c.repeatPurchases }
      : {}),
    ...(c.nextBestCategory !== undefined ? { nextBestCategory: c.nextBestCategory } : {}),
    // What a reader predicts the customer from with the version's served model (./served-view).
    ...(inputs !== undefined ? { valueInputs: inputs } : {}),
    segments: [...c.segments].sort(),
  };
  return { id: c.customerId, view };
}

interface ProfileSums {
  n: number;
  recency: number;
  frequency: number;
  /** Net spend of the members, in integer cents. */
  monetaryCents: number;
  rfm: Record<string, number>;
  lifecycle: Record<string, number>;
}

export function outputsAndProfilesReference(result: SegmentationResult): {
  outputs: Outputs;
  profiles: Map<string, SegmentProfile>;
} {
  const outputs: Outputs = new Map();
  const sums = new Map<string, ProfileSums>();
  for (let i = 0; i < result.customerCount; i++) {
    const c = result.customer(i);
    const { id, view } = viewOfReference(result, i, c);
    outputs.set(id, JSON.stringify(view));
    const rfm = c.segments.find((s) => s.startsWith("rfm:"));
    for (const segment of c.segments) {
      let sum = sums.get(segment);
      if (!sum) {
        sum = { n: 0, recency: 0, frequency: 0, monetaryCents: 0, rfm: {}, lifecycle: {} };
        sums.set(segment, sum);
      }
      sum.n++;
      sum.recency += c.recencyDays;
      sum.frequency += c.frequency;
      sum.monetaryCents += centsOfAmount(c.monetary);
      if (rfm) sum.rfm[rfm] = (sum.rfm[rfm] ?? 0) + 1;
      sum.lifecycle[c.lifecycle] = (sum.lifecycle[c.lifecycle] ?? 0) + 1;
    }
  }
  const profiles = new Map<string, SegmentProfile>();
  for (const summary of result.segments) {
    const sum = sums.get(summary.id);
    const mean = (total: number) => (sum && sum.n > 0 ? round(total / sum.n, 4) : null);
    profiles.set(summary.id, {
      meanRecencyDays: mean(sum?.recency ?? 0),
      meanFrequency: mean(sum?.frequency ?? 0),
      // To the cent, halves away from zero (money.ts).
      meanMonetary: sum && sum.n > 0 ? amountOfCents(meanRounded(sum.monetaryCents, sum.n)) : null,
      rfm: sum?.rfm ?? {},
      lifecycle: sum?.lifecycle ?? {},
    });
  }
  return { outputs, profiles };
}

const parseView = (json: string | undefined): CustomerView | null =>
  json === undefined ? null : customerViewSchema.parse(JSON.parse(json));

const sameTableView = (a: CustomerView | null, b: CustomerView | null): boolean =>
  a === null || b === null ? a === b : JSON.stringify(tableViewOf(a)) === JSON.stringify(tableViewOf(b));

/**
 * What a run must write to move readers from `committed` to `next`: the customers whose stored item changes
 * (its table view, or its history when its segments changed), with the history the item carries. Customers
 * an aborted run (`aborted`) touched are rewritten even when unchanged, with their committed history, which
 * undoes whatever that run left behind. Without `history`, no entry is made and items carry none.
 */
export function diffOutputsReference(
  committed: Outputs,
  next: Outputs,
  aborted?: Outputs,
  history?: DiffHistory,
): Diff {
  const touched = new Set<string>();
  if (aborted) {
    for (const [id, json] of aborted) if (committed.get(id) !== json) touched.add(id);
    for (const id of committed.keys()) if (!aborted.has(id)) touched.add(id);
  }
  const ids = new Set<string>(next.keys());
  for (const id of committed.keys()) ids.add(id);
  for (const id of touched) ids.add(id);

  const customers: CustomerWrite[] = [];
  const memberships: MembershipWrite[] = [];
  const histories: Histories = new Map(history?.committed ?? []);
  let historyEntries = 0;
  for (const id of ids) {
    const before = committed.get(id);
    const after = next.get(id);
    const repair = touched.has(id);
    if (before === after && !repair) continue;
    const previous = parseView(before);
    const view = parseView(after);

    const { entered, left } = changeOf(previous?.segments ?? [], view?.segments ?? []);
    const moved = entered.length > 0 || left.length > 0;
    let entries = history ? entriesOf(history.committed.get(id)) : [];
    if (history && moved) {
      entries = withEntry(entries, { v: history.version, e: entered, l: left });
      histories.set(id, JSON.stringify(entries));
      historyEntries++;
    }
    if (moved || repair || !sameTableView(previous, view)) {
      customers.push({
        customerId: id,
        view: view && tableViewOf(view),
        previous: previous && tableViewOf(previous),
        ...(entries.length > 0 ? { history: entries } : {}),
      });
    }

    const was = new Set(previous?.segments ?? []);
    const now = new Set(view?.segments ?? []);
    const segments = new Set([...was, ...now]);
    if (repair) for (const s of parseView(aborted?.get(id))?.segments ?? []) segments.add(s);
    for (const segmentId of segments) {
      const member = now.has(segmentId);
      const prior = was.has(segmentId);
      if (member !== prior || repair)
        memberships.push({ segmentId, customerId: id, member, previous: prior });
    }
  }
  for (const id of history?.forget ?? []) histories.delete(id);
  return { customers, memberships, history: histories, historyEntries };
}
