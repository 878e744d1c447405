/**
 * The cluster family: behavioural clusters of the scored customers by k-means (kmeans/index.ts) on the four
 * RFM features of kmeans/features.ts (log orders, log net spend, days since the last order, log average order
 * value), standardized. Segment ids are the model's stable ids (`cluster:cN`), the name is the model's
 * description in words ("Frequent, high spend, recent"), and the description gives the centre in the data's
 * own units.
 *
 * With fewer scored customers than the smallest k allowed (kMin, or k when fixed) nothing is clustered and the
 * result says why; data with fewer distinct customers than k gives fewer clusters (kmeans/index.ts).
 */
import { ComputeError } from "./errors";
import {
  ClusteringInputError,
  type ClusteringResult,
  type ClusterModel,
  clusterCustomers,
  customerFeatures,
  type KMeansOptions,
} from "./kmeans";
import type { SegmentDefinition } from "./rfm";
import type { ClusterSettings, ComputeIssue } from "./types";

/** Defaults of the cluster settings (kMax defaults to max(8, kMin)). */
export const CLUSTER_DEFAULTS = Object.freeze({ kMin: 3, kMax: 8, seed: 1 });

const SETTING_KEYS = ["k", "kMin", "kMax", "seed", "previous"] as const;

function options(settings: ClusterSettings): KMeansOptions {
  const out: KMeansOptions = { seed: CLUSTER_DEFAULTS.seed, kMin: CLUSTER_DEFAULTS.kMin };
  for (const key of SETTING_KEYS) {
    if (settings[key] !== undefined) Object.assign(out, { [key]: settings[key] });
  }
  if (out.kMax === undefined) out.kMax = Math.max(CLUSTER_DEFAULTS.kMax, out.kMin ?? 0);
  return out;
}

function translate(error: unknown): never {
  if (error instanceof ClusteringInputError) {
    const field = error.field === undefined ? "clusters" : `clusters.${error.field}`;
    throw new ComputeError("BAD_CLUSTER_SETTINGS", `${field}: ${error.message}`, field);
  }
  throw error;
}

/**
 * Checks the settings (bounds of k, seed, the previous model) without clustering anything; throws ComputeError
 * BAD_CLUSTER_SETTINGS naming the field.
 */
export function checkClusterSettings(settings: ClusterSettings): KMeansOptions {
  const resolved = options(settings);
  try {
    clusterCustomers({ f: new Float64Array(0) }, resolved);
  } catch (error) {
    translate(error);
  }
  return resolved;
}

export type ClusterStage = { ok: true; result: ClusteringResult } | { ok: false; issue: ComputeIssue };

/** Clusters the customers from their RFM columns; `threads` fits them on that many threads (kmeans `threads`). */
export function clusterStage(
  columns: {
    readonly frequency: ArrayLike<number>;
    readonly monetary: ArrayLike<number>;
    readonly recencyDays: ArrayLike<number>;
  },
  settings: ClusterSettings,
  threads?: number,
): ClusterStage {
  const resolved = checkClusterSettings(settings);
  const n = columns.frequency.length;
  const least = resolved.k ?? resolved.kMin ?? CLUSTER_DEFAULTS.kMin;
  if (n < least) {
    return {
      ok: false,
      issue: {
        code: "CLUSTERS_TOO_FEW_CUSTOMERS",
        message: `${n} customers with orders; clustering needs at least ${least}`,
        stage: "clusters",
      },
    };
  }
  try {
    const options = threads === undefined ? resolved : { ...resolved, threads };
    return { ok: true, result: clusterCustomers(customerFeatures(columns), options) };
  } catch (error) {
    return translate(error);
  }
}

function capitalized(text: string): string {
  return text.length === 0 ? text : `${text[0]?.toUpperCase()}${text.slice(1)}`;
}

function rounded(value: number): string {
  return value.toLocaleString("en-US", { maximumFractionDigits: value < 10 ? 1 : 0 });
}

/** Segment definitions of the clusters, in the model's id order. */
export function clusterDefinitions(model: ClusterModel): SegmentDefinition[] {
  const feature = (c: number, name: string): number | undefined => {
    const f = model.featureNames.indexOf(name);
    return f < 0 ? undefined : model.centroids[c]?.[f];
  };
  return model.ids.map((id, c) => {
    const parts: string[] = [];
    const orders = feature(c, "logFrequency");
    const spend = feature(c, "logMonetary");
    const recency = feature(c, "recencyDays");
    const basket = feature(c, "logAverageOrderValue");
    // Log features are averaged in logs, so the centre is a typical (geometric-mean-like) customer.
    if (orders !== undefined) parts.push(`${rounded(Math.expm1(orders))} orders`);
    if (spend !== undefined) parts.push(`${rounded(Math.expm1(spend))} spent`);
    if (basket !== undefined) parts.push(`${rounded(Math.expm1(basket))} per order`);
    if (recency !== undefined) {
      const days = Math.max(0, Math.round(recency));
      parts.push(`last order ${days.toLocaleString("en-US")} ${days === 1 ? "day" : "days"} ago`);
    }
    const description = model.descriptions[c] ?? id;
    return {
      id,
      name: capitalized(description),
      description: `Typical customer: ${parts.join(", ")}.`,
    };
  });
}
