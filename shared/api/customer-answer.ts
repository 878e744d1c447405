/**
 * The answer to GET /datasets/{datasetId}/customers/{customerId}, from the committed version and the
 * customer's stored view. Plain code with no schema library, so both the read routes (./read) and the lookup
 * function's small bundle (./lookup) build the same answer from it.
 */

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
  clv?: number | undefined;
  segments: readonly string[];
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
  const horizonDays = current.value?.horizonDays;
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
    predictions:
      view.probabilityAlive !== undefined
        ? {
            probabilityAlive: view.probabilityAlive,
            churnRisk: Math.round((1 - view.probabilityAlive) * 10_000) / 10_000,
            expectedPurchases: view.expectedPurchases ?? null,
            clv: view.clv ?? null,
            horizonDays: horizonDays ?? null,
          }
        : null,
    segments: view.segments.map((id) => ({
      id,
      family: names.get(id)?.family ?? id.split(":")[0],
      name: names.get(id)?.name ?? id,
    })),
  };
}
