/**
 * Stable cluster identities from one run to the next. The previous run's centroids (original units, with
 * their ids) are put into this run's z-score space, and new centroids are matched to old ones by the
 * assignment of least total Euclidean distance (Hungarian algorithm, via `munkres`). A matched cluster keeps
 * its id; an unmatched new cluster gets the next unused number; unmatched old ids are retired and never
 * handed out again, as long as the caller passes back `nextId`.
 */
import { munkres } from "munkres";
import { ClusteringInputError } from "./errors";

export interface PreviousClusters {
  featureNames: readonly string[];
  ids: readonly string[];
  /** One row per id, values in the order of `featureNames`, original units. */
  centroids: readonly (readonly number[])[];
  /** Counter for the next new id; defaults to one past the highest `cluster:cN` among `ids`. */
  nextId?: number;
}

export interface IdentityResult {
  ids: string[];
  /** Previous ids that no new cluster took. */
  retired: string[];
  nextId: number;
}

const ID_PATTERN = /^cluster:[a-z0-9][a-z0-9-]{0,63}$/;
const NUMBERED = /^cluster:c(\d+)$/;

export function clusterId(n: number): string {
  return `cluster:c${n}`;
}

/** Optimal one-to-one assignment minimizing total cost; rectangular costs leave rows or columns unassigned. */
export function optimalAssignment(cost: readonly (readonly number[])[]): Array<[row: number, col: number]> {
  if (cost.length === 0 || (cost[0] ?? []).length === 0) return [];
  return munkres(cost).map(([r, c]) => [r, c] as [number, number]);
}

function validatePrevious(previous: PreviousClusters): void {
  const bad = (message: string, field: string, row?: number): never => {
    throw new ClusteringInputError("CLUSTERING_BAD_PREVIOUS", message, field, row);
  };
  if (previous.ids.length !== previous.centroids.length) {
    bad(`${previous.ids.length} ids but ${previous.centroids.length} centroids`, "previous.centroids");
  }
  const seen = new Set<string>();
  previous.ids.forEach((id, i) => {
    if (typeof id !== "string" || !ID_PATTERN.test(id))
      bad("is not a cluster id like 'cluster:c1'", "previous.ids", i);
    if (seen.has(id)) bad("repeats an earlier id", "previous.ids", i);
    seen.add(id);
  });
  previous.centroids.forEach((row, i) => {
    if (row.length !== previous.featureNames.length) {
      bad(`has ${row.length} values for ${previous.featureNames.length} features`, "previous.centroids", i);
    }
    if (!row.every((v) => Number.isFinite(v)))
      bad("holds a value that is not a finite number", "previous.centroids", i);
  });
  if (previous.nextId !== undefined && !(Number.isSafeInteger(previous.nextId) && previous.nextId >= 1)) {
    bad("must be an integer >= 1", "previous.nextId");
  }
}

/**
 * Ids for new clusters. `current` are the new centroids in z-scores, in the caller's order (new ids are
 * numbered in that order); `means`/`stds` are this run's standardization, used to bring old centroids into
 * the same space. Old clusters are matched only when the previous run used the same features (any order);
 * `maxDistance` (z-units) refuses matches between clusters too far apart to be the same group.
 */
export function assignIds(
  current: readonly (readonly number[])[],
  featureNames: readonly string[],
  means: readonly number[],
  stds: readonly number[],
  previous: PreviousClusters | undefined,
  maxDistance = Number.POSITIVE_INFINITY,
): IdentityResult {
  let nextId = 1;
  const ids: (string | undefined)[] = current.map(() => undefined);
  const retired: string[] = [];
  if (previous !== undefined) {
    validatePrevious(previous);
    for (const id of previous.ids) {
      const m = NUMBERED.exec(id);
      if (m) nextId = Math.max(nextId, Number(m[1]) + 1);
    }
    nextId = Math.max(nextId, previous.nextId ?? 1);

    const order = featureNames.map((name) => previous.featureNames.indexOf(name));
    const sameFeatures =
      previous.featureNames.length === featureNames.length && order.every((index) => index >= 0);
    const taken = new Set<number>();
    if (sameFeatures && current.length > 0 && previous.ids.length > 0) {
      const oldZ = previous.centroids.map((row) =>
        order.map((index, f) => ((row[index] as number) - (means[f] as number)) / (stds[f] as number)),
      );
      const distance = current.map((c) =>
        oldZ.map((o) => Math.sqrt(c.reduce((s, v, f) => s + (v - (o[f] as number)) ** 2, 0))),
      );
      // Pairs beyond maxDistance get a cost larger than any admissible total, so the solver avoids them
      // whenever it can, and they are dropped if it cannot.
      const finite = distance.flat().filter((v) => v <= maxDistance);
      const big = 1 + finite.reduce((s, v) => s + v, 0);
      const cost = distance.map((row) => row.map((v) => (v <= maxDistance ? v : big)));
      for (const [r, c] of optimalAssignment(cost)) {
        if ((distance[r]?.[c] as number) > maxDistance) continue;
        ids[r] = previous.ids[c];
        taken.add(c);
      }
    }
    previous.ids.forEach((id, c) => {
      if (!taken.has(c)) retired.push(id);
    });
  }
  const out = ids.map((id) => id ?? clusterId(nextId++));
  return { ids: out, retired, nextId };
}
