/**
 * The answer to GET /datasets/{datasetId}/customers/{customerId}, from the committed version and the
 * customer's stored view. Plain code with no schema library, so that the lookup function's small bundle
 * (./lookup) can build the answer from it.
 */

import { familyOfId } from "../engine/segment-ids";

/** The parts of a committed version the answer reads. */
export interface AnswerVersion {
  version: number;
  runId: string;
  asOf: string;
  segments: ReadonlyArray<{ id: string; family: string; name: string }>;
  clusters?: {
    featureNames: readonly string[];
    ids: readonly string[];
    descriptions: readonly string[];
    centroids: readonly (readonly number[])[];
  };
  value?: Record<string, unknown>;
}

/** A customer's stored view (CustomerView in ../model), as far as the answer reads it. */
export interface AnswerView {
  firstPurchase: string;
  lastPurchase: string;
  frequency: number;
  monetary: number;
  r: number;
  f: number;
  m: number;
  rfm: string;
  lifecycle?: string | undefined;
  cluster?: string | undefined;
  probabilityAlive?: number | undefined;
  expectedPurchases?: number | undefined;
  expectedPurchasesLow?: number | undefined;
  expectedPurchasesHigh?: number | undefined;
  clv?: number | undefined;
  clvLow?: number | undefined;
  clvHigh?: number | undefined;
  repeatPurchases?: number | undefined;
  nextBestCategory?: string | undefined;
  segments: readonly string[];
}

const MODEL_LABELS: Record<string, string> = { bgNbd: "BG/NBD", paretoNbd: "Pareto/NBD", mbgNbd: "MBG/NBD" };

/** The repeat-purchase model of a version; versions from before the model choice fitted BG/NBD only. */
export function selectedModelOf(current: Pick<AnswerVersion, "value">): string {
  const selected = current.value?.selectedModel;
  return typeof selected === "string" && selected in MODEL_LABELS ? selected : "bgNbd";
}

/**
 * Whether the customer's probability of being alive says anything: BG/NBD lets a customer drop out only
 * after a repeat purchase, so it holds every customer without one alive with probability 1 whatever the time
 * since their purchase. Without a stored count of repeat purchases, one purchase day means none.
 */
export function churnRiskKnown(model: string, view: AnswerView): boolean {
  if (model !== "bgNbd") return true;
  const repeats = view.repeatPurchases ?? (view.firstPurchase === view.lastPurchase ? 0 : 1);
  return repeats > 0;
}

export const CHURN_RISK_NOTES = {
  known: (model: string) =>
    `1 − probabilityAlive: the probability, under the ${MODEL_LABELS[model] ?? model} model, that the customer has already stopped buying for good as of asOf.`,
  unknown:
    "Unknown: the BG/NBD model lets a customer stop buying only after a repeat purchase, so it cannot tell whether a customer with one purchase day is still a customer.",
} as const;

function predictionsOf(current: AnswerVersion, view: AnswerView) {
  if (view.probabilityAlive === undefined) return null;
  const model = selectedModelOf(current);
  const known = churnRiskKnown(model, view);
  const horizonDays = current.value?.horizonDays;
  const interval = (low: number | undefined, high: number | undefined) =>
    low !== undefined && high !== undefined ? { low, high } : null;
  return {
    model,
    probabilityAlive: known ? view.probabilityAlive : null,
    churnRisk: known ? Math.round((1 - view.probabilityAlive) * 10_000) / 10_000 : null,
    churnRiskBasis: known ? ("model" as const) : ("unknown" as const),
    churnRiskNote: known ? CHURN_RISK_NOTES.known(model) : CHURN_RISK_NOTES.unknown,
    expectedPurchases: view.expectedPurchases ?? null,
    expectedPurchasesInterval: interval(view.expectedPurchasesLow, view.expectedPurchasesHigh),
    clv: view.clv ?? null,
    clvInterval: interval(view.clvLow, view.clvHigh),
    horizonDays: typeof horizonDays === "number" ? horizonDays : null,
  };
}

function daysBetween(fromIso: string, toIso: string): number {
  return Math.round((Date.parse(`${toIso}T00:00:00Z`) - Date.parse(`${fromIso}T00:00:00Z`)) / 86_400_000);
}

/** A cluster as answers describe it: name, description and centroid from the version's model. */
export function clusterOf(current: AnswerVersion, id: string) {
  const model = current.clusters;
  const k = model ? model.ids.indexOf(id) : -1;
  const summary = current.segments.find((s) => s.id === id);
  return {
    id,
    name: summary?.name ?? id,
    description: model && k >= 0 ? (model.descriptions[k] ?? null) : null,
    centroid:
      model && k >= 0
        ? Object.fromEntries(model.featureNames.map((f, j) => [f, model.centroids[k]?.[j] ?? null]))
        : null,
  };
}

export function customerAnswer(
  datasetId: string,
  customerId: string,
  current: AnswerVersion,
  view: AnswerView,
) {
  const names = new Map(current.segments.map((s) => [s.id, s]));
  return {
    datasetId,
    customerId,
    version: current.version,
    runId: current.runId,
    asOf: current.asOf,
    firstPurchase: view.firstPurchase,
    lastPurchase: view.lastPurchase,
    recencyDays: daysBetween(view.lastPurchase, current.asOf),
    frequency: view.frequency,
    monetary: view.monetary,
    scores: { r: view.r, f: view.f, m: view.m, rfm: view.rfm },
    lifecycle: view.lifecycle
      ? { id: view.lifecycle, name: names.get(view.lifecycle)?.name ?? view.lifecycle }
      : null,
    cluster: view.cluster ? clusterOf(current, view.cluster) : null,
    predictions: predictionsOf(current, view),
    nextBestCategory: view.nextBestCategory ?? null,
    segments: view.segments.map((id) => ({
      id,
      family: names.get(id)?.family ?? familyOfId(id),
      name: names.get(id)?.name ?? id,
    })),
  };
}
