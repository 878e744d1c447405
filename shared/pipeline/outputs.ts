/**
 * The per-customer view a run publishes, kept in S3 next to the aggregate state as gzipped NDJSON, and the
 * diff between two views that decides which table items a run writes.
 */
import { gunzipSync, gzipSync } from "node:zlib";
import { amountOfCents, centsOfAmount, meanRounded, roundToCent } from "../engine/money";
import type { CustomerScores, SegmentationResult } from "../engine/types";
import { type CustomerView, customerViewSchema, type StoredSegmentSummary } from "../model";
import type { CustomerWrite, MembershipWrite } from "./ports";

/** Customer id -> canonical JSON of the view (stable key order, so equal views give equal strings). */
export type Outputs = Map<string, string>;

const round = (x: number, digits: number) => {
  const scale = 10 ** digits;
  return Math.round(x * scale) / scale;
};

export function viewOf(
  result: SegmentationResult,
  i: number,
  c: CustomerScores = result.customer(i),
): { id: string; view: CustomerView } {
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
    ...(c.repeatPurchases !== undefined && c.probabilityAlive !== undefined
      ? { repeatPurchases: c.repeatPurchases }
      : {}),
    ...(c.nextBestCategory !== undefined ? { nextBestCategory: c.nextBestCategory } : {}),
    segments: [...c.segments].sort(),
  };
  return { id: c.customerId, view };
}

/**
 * How far a prediction may drift before a customer is rewritten. Predictions move a little every day as
 * customers age; rewriting every customer daily for changes nobody acts on would cost a write each.
 * Scores, segments and every other field are compared exactly.
 */
export const PREDICTION_TOLERANCE = {
  /** Absolute. */
  probabilityAlive: 0.005,
  /** Relative, with the absolute floor below for values near zero. */
  expectedPurchases: 0.005,
  expectedPurchasesFloor: 0.005,
  clv: 0.005,
  clvFloor: 0.01,
} as const;

function within(a: number | undefined, b: number | undefined, relative: number, floor: number): boolean {
  if (a === undefined || b === undefined) return a === b;
  return Math.abs(a - b) <= Math.max(floor, relative * Math.max(Math.abs(a), Math.abs(b)));
}

/** True when two views differ at most in predictions, each within its tolerance. */
export function sameWithinTolerance(a: CustomerView, b: CustomerView): boolean {
  const purchases = (x: number | undefined, y: number | undefined) =>
    within(x, y, PREDICTION_TOLERANCE.expectedPurchases, PREDICTION_TOLERANCE.expectedPurchasesFloor);
  const value = (x: number | undefined, y: number | undefined) =>
    within(x, y, PREDICTION_TOLERANCE.clv, PREDICTION_TOLERANCE.clvFloor);
  return (
    JSON.stringify(withoutPredictions(a)) === JSON.stringify(withoutPredictions(b)) &&
    within(a.probabilityAlive, b.probabilityAlive, 0, PREDICTION_TOLERANCE.probabilityAlive) &&
    purchases(a.expectedPurchases, b.expectedPurchases) &&
    purchases(a.expectedPurchasesLow, b.expectedPurchasesLow) &&
    purchases(a.expectedPurchasesHigh, b.expectedPurchasesHigh) &&
    value(a.clv, b.clv) &&
    value(a.clvLow, b.clvLow) &&
    value(a.clvHigh, b.clvHigh)
  );
}

/** A view without the predictions, which are compared within their tolerances. */
function withoutPredictions(v: CustomerView) {
  const {
    probabilityAlive: _p,
    expectedPurchases: _e,
    expectedPurchasesLow: _el,
    expectedPurchasesHigh: _eh,
    clv: _c,
    clvLow: _cl,
    clvHigh: _ch,
    ...rest
  } = v;
  return rest;
}

/**
 * Keeps the committed view of every customer whose new view is the same within tolerance, so the version's
 * outputs file stays equal to what the table holds. Returns how many were kept.
 */
export function keepWithinTolerance(committed: Outputs, next: Outputs): number {
  let kept = 0;
  for (const [id, json] of next) {
    const before = committed.get(id);
    if (before === undefined || before === json) continue;
    if (sameWithinTolerance(parseView(before) as CustomerView, parseView(json) as CustomerView)) {
      next.set(id, before);
      kept++;
    }
  }
  return kept;
}

export type SegmentProfile = NonNullable<StoredSegmentSummary["profile"]>;

interface ProfileSums {
  n: number;
  recency: number;
  frequency: number;
  /** Net spend of the members, in integer cents. */
  monetaryCents: number;
  rfm: Record<string, number>;
  lifecycle: Record<string, number>;
}

/** The per-customer views of a result, and the profile of every segment, in one pass over the customers. */
export function outputsOf(result: SegmentationResult): Outputs {
  return outputsAndProfiles(result).outputs;
}

export function outputsAndProfiles(result: SegmentationResult): {
  outputs: Outputs;
  profiles: Map<string, SegmentProfile>;
} {
  const outputs: Outputs = new Map();
  const sums = new Map<string, ProfileSums>();
  for (let i = 0; i < result.customerCount; i++) {
    const c = result.customer(i);
    const { id, view } = viewOf(result, i, c);
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

export function encodeOutputs(outputs: Outputs): Uint8Array {
  const lines: string[] = [];
  for (const [id, view] of outputs) lines.push(`${JSON.stringify(id)}\t${view}`);
  return gzipSync(Buffer.from(lines.join("\n"), "utf8"));
}

export function decodeOutputs(bytes: Uint8Array): Outputs {
  const outputs: Outputs = new Map();
  const text = gunzipSync(bytes).toString("utf8");
  if (text === "") return outputs;
  for (const line of text.split("\n")) {
    const tab = line.indexOf("\t");
    const id: unknown = JSON.parse(line.slice(0, tab));
    if (typeof id !== "string") throw new Error("Corrupt outputs file");
    outputs.set(id, line.slice(tab + 1));
  }
  return outputs;
}

const parseView = (json: string | undefined): CustomerView | null =>
  json === undefined ? null : customerViewSchema.parse(JSON.parse(json));

export interface Diff {
  customers: CustomerWrite[];
  memberships: MembershipWrite[];
}

/**
 * What a run must write to move readers from `committed` to `next`. Customers an aborted run (`aborted`)
 * touched are rewritten even when unchanged, which undoes whatever that run left behind.
 */
export function diffOutputs(committed: Outputs, next: Outputs, aborted?: Outputs): Diff {
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
  for (const id of ids) {
    const before = committed.get(id);
    const after = next.get(id);
    const repair = touched.has(id);
    if (before === after && !repair) continue;
    const previous = parseView(before);
    const view = parseView(after);
    customers.push({ customerId: id, view, previous });

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
  return { customers, memberships };
}
