/**
 * Stable cluster ids: the assignment solver against brute force, the id rules (reuse, new numbers, retired
 * ids never handed out again), and end to end that a small change in the data keeps each group's id.
 */
import { describe, expect, it } from "vitest";
import {
  clusterCustomers,
  customerFeatures,
  optimalAssignment,
  type PreviousClusters,
  previousFrom,
} from "../../../shared/engine/kmeans";
import { assignIds } from "../../../shared/engine/kmeans/identity";
import { createRandom } from "../../../shared/engine/kmeans/random";
import { gaussianBlobs, syntheticCustomers } from "../../../shared/engine/kmeans/synthetic";

/** Least total cost over every one-to-one matching of min(rows, cols) pairs, by trying them all. */
function bruteForceBest(cost: number[][]): number {
  const rows = cost.length;
  const cols = cost[0]?.length ?? 0;
  const transpose = rows > cols;
  const small = transpose ? cols : rows;
  const large = transpose ? rows : cols;
  const at = (s: number, l: number) => (transpose ? cost[l]?.[s] : cost[s]?.[l]) as number;
  let best = Number.POSITIVE_INFINITY;
  const used = new Array<boolean>(large).fill(false);
  const walk = (s: number, total: number) => {
    if (s === small) {
      best = Math.min(best, total);
      return;
    }
    for (let l = 0; l < large; l++) {
      if (used[l]) continue;
      used[l] = true;
      walk(s + 1, total + at(s, l));
      used[l] = false;
    }
  };
  walk(0, 0);
  return best;
}

describe("optimalAssignment", () => {
  it("finds the least total cost, as brute force does, for square and rectangular costs", () => {
    const random = createRandom(12);
    for (let trial = 0; trial < 300; trial++) {
      const rows = 1 + random.nextInt(6);
      const cols = 1 + random.nextInt(6);
      // Small integer costs make ties common, which is where solvers go wrong.
      const cost = Array.from({ length: rows }, () => Array.from({ length: cols }, () => random.nextInt(10)));
      const pairs = optimalAssignment(cost);
      expect(pairs.length).toBe(Math.min(rows, cols));
      expect(new Set(pairs.map(([r]) => r)).size).toBe(pairs.length);
      expect(new Set(pairs.map(([, c]) => c)).size).toBe(pairs.length);
      const total = pairs.reduce((s, [r, c]) => s + (cost[r]?.[c] as number), 0);
      expect(total).toBe(bruteForceBest(cost));
    }
  });

  it("returns no pairs for an empty cost matrix", () => {
    expect(optimalAssignment([])).toEqual([]);
    expect(optimalAssignment([[], []])).toEqual([]);
  });
});

describe("assignIds", () => {
  const names = ["a", "b"];
  const unit = [0, 0];
  const ones = [1, 1];

  it("follows the centroids, not the order the previous clusters were listed in", () => {
    const current = [
      [0, 0],
      [5, 5],
      [10, 0],
    ];
    const previous: PreviousClusters = {
      featureNames: names,
      ids: ["cluster:c3", "cluster:c1", "cluster:c2"],
      centroids: [
        [10.2, 0.1],
        [0.1, -0.2],
        [5.1, 4.9],
      ],
    };
    expect(assignIds(current, names, unit, ones, previous).ids).toEqual([
      "cluster:c1",
      "cluster:c2",
      "cluster:c3",
    ]);
  });

  it("matches in this run's z-scores, with the old centroids converted from original units", () => {
    // Feature b has scale 0.1. Old centroids in original units: c1 = (1, 0), c2 = (0, 0.2), i.e. z-scores
    // (1, 0) and (0, 2). New centroids in z-scores: X = (0.3, 0), Y = (1.2, 2).
    //   in z-scores:  c1-X 0.70 + c2-Y 1.20 = 1.90  <  c1-Y 2.01 + c2-X 2.02 = 4.03   -> X = c1, Y = c2
    //   unconverted:  c1-X 0.70 + c2-Y 2.16 = 2.86  >  c1-Y 2.04 + c2-X 0.36 = 2.40   -> would swap them
    const previous: PreviousClusters = {
      featureNames: names,
      ids: ["cluster:c1", "cluster:c2"],
      centroids: [
        [1, 0],
        [0, 0.2],
      ],
    };
    const current = [
      [0.3, 0],
      [1.2, 2],
    ];
    expect(assignIds(current, names, [0, 0], [1, 0.1], previous).ids).toEqual(["cluster:c1", "cluster:c2"]);
  });

  it("numbers extra clusters after every id ever given, and retires unmatched ones", () => {
    const previous: PreviousClusters = {
      featureNames: names,
      ids: ["cluster:c2", "cluster:c5"],
      centroids: [
        [0, 0],
        [9, 9],
      ],
      nextId: 8,
    };
    const more = assignIds(
      [
        [0, 0.1],
        [3, 3],
        [9, 8.9],
        [-6, 0],
      ],
      names,
      unit,
      ones,
      previous,
    );
    expect(more.ids).toEqual(["cluster:c2", "cluster:c8", "cluster:c5", "cluster:c9"]);
    expect(more.retired).toEqual([]);
    expect(more.nextId).toBe(10);

    const fewer = assignIds([[8.5, 9]], names, unit, ones, previous);
    expect(fewer.ids).toEqual(["cluster:c5"]);
    expect(fewer.retired).toEqual(["cluster:c2"]);
    expect(fewer.nextId).toBe(8);
  });

  it("gives up a match beyond maxMatchDistance", () => {
    const previous: PreviousClusters = { featureNames: names, ids: ["cluster:c1"], centroids: [[0, 0]] };
    expect(assignIds([[3, 4]], names, unit, ones, previous, 4.9)).toEqual({
      ids: ["cluster:c2"],
      retired: ["cluster:c1"],
      nextId: 3,
    });
    expect(assignIds([[3, 4]], names, unit, ones, previous, 5.1).ids).toEqual(["cluster:c1"]);
  });

  it("matches features by name and starts afresh when the features changed", () => {
    const previous: PreviousClusters = {
      featureNames: ["b", "a"],
      ids: ["cluster:c1", "cluster:c2"],
      centroids: [
        [0, 9],
        [9, 0],
      ],
    };
    expect(
      assignIds(
        [
          [0, 9],
          [9, 0],
        ],
        names,
        unit,
        ones,
        previous,
      ).ids,
    ).toEqual(["cluster:c2", "cluster:c1"]);
    const other = assignIds([[0, 9]], ["a", "c"], unit, ones, previous);
    expect(other.ids).toEqual(["cluster:c3"]);
    expect(other.retired).toEqual(["cluster:c1", "cluster:c2"]);
  });

  it("rejects a malformed previous model with the field at fault", () => {
    const bad: [PreviousClusters, string][] = [
      [{ featureNames: names, ids: ["cluster:c1"], centroids: [] }, "previous.centroids"],
      [{ featureNames: names, ids: ["c1"], centroids: [[0, 0]] }, "previous.ids[0]"],
      [
        { featureNames: names, ids: ["cluster:c1", "cluster:c1"], centroids: [unit, unit] },
        "previous.ids[1]",
      ],
      [{ featureNames: names, ids: ["cluster:c1"], centroids: [[0]] }, "previous.centroids[0]"],
      [{ featureNames: names, ids: ["cluster:c1"], centroids: [[0, Number.NaN]] }, "previous.centroids[0]"],
      [{ featureNames: names, ids: ["cluster:c1"], centroids: [unit], nextId: 0 }, "previous.nextId"],
    ];
    for (const [previous, path] of bad) {
      expect(() => assignIds([unit], names, unit, ones, previous)).toThrow(
        expect.objectContaining({
          code: "CLUSTERING_BAD_PREVIOUS",
          details: [expect.objectContaining({ path })],
        }),
      );
    }
  });
});

describe("ids across runs", () => {
  const customers = syntheticCustomers(20_000, 5);
  const newcomers = syntheticCustomers(200, 6);

  /** Drops every 100th customer and appends 200 new ones: a 1% change each way. */
  function perturbed() {
    const keep = [...Array(customers.frequency.length).keys()].filter((i) => i % 100 !== 37);
    const pick = (all: Float64Array, extra: Float64Array) => [...keep.map((i) => all[i] as number), ...extra];
    return {
      keep,
      frequency: pick(customers.frequency, newcomers.frequency),
      monetary: pick(customers.monetary, newcomers.monetary),
      recencyDays: pick(customers.recencyDays, newcomers.recencyDays),
    };
  }

  it("keeps each group's id after a 1% change in the customers", () => {
    const first = clusterCustomers(customerFeatures(customers), { k: 5, seed: 1 });
    const next = perturbed();
    const second = clusterCustomers(customerFeatures(next), {
      k: 5,
      seed: 1,
      previous: previousFrom(first.model),
    });

    expect([...second.model.ids].sort()).toEqual([...first.model.ids].sort());
    expect(second.model.retiredIds).toEqual([]);
    // Same id, same group: centroids within 0.1 standard deviations, and almost every customer kept its id.
    for (const [c, id] of second.model.ids.entries()) {
      const before = first.model.centroidsZ[first.model.ids.indexOf(id)] as number[];
      const after = second.model.centroidsZ[c] as number[];
      expect(Math.hypot(...after.map((v, f) => v - (before[f] as number)))).toBeLessThan(0.1);
    }
    let same = 0;
    next.keep.forEach((i, j) => {
      if (first.model.ids[first.assignment[i] as number] === second.model.ids[second.assignment[j] as number])
        same++;
    });
    expect(same / next.keep.length).toBeGreaterThan(0.97);
  });

  it("gives the same ids for the same data whatever order the previous clusters are listed in", () => {
    const features = customerFeatures(customers);
    const first = clusterCustomers(features, { k: 5, seed: 1 });
    const previous = previousFrom(first.model);
    const order = [3, 0, 4, 1, 2];
    const shuffled: PreviousClusters = {
      ...previous,
      ids: order.map((i) => previous.ids[i] as string),
      centroids: order.map((i) => previous.centroids[i] as number[]),
    };
    const again = clusterCustomers(features, { k: 5, seed: 1, previous: shuffled });
    expect(again.model.ids).toEqual(first.model.ids);
    expect(Array.from(again.assignment)).toEqual(Array.from(first.assignment));
  });

  it("keeps ids with automatic k when blobs are added and removed", () => {
    const centres = [
      [0, 0, 0],
      [12, 0, 0],
      [0, 12, 0],
      [0, 0, 12],
      [12, 12, 12],
    ];
    const four = gaussianBlobs(centres.slice(0, 4), 200, 1, 31);
    const first = clusterCustomers(four.columns, { kMin: 2, kMax: 8, seed: 4 });
    expect(first.model.k).toBe(4);
    const idOfBlob = (run: typeof first, truth: Int32Array, blob: number) =>
      run.model.ids[run.assignment[truth.indexOf(blob)] as number];

    const five = gaussianBlobs(centres, 200, 1, 32);
    const second = clusterCustomers(five.columns, {
      kMin: 2,
      kMax: 8,
      seed: 4,
      previous: previousFrom(first.model),
    });
    expect(second.model.k).toBe(5);
    for (const blob of [0, 1, 2, 3])
      expect(idOfBlob(second, five.truth, blob)).toBe(idOfBlob(first, four.truth, blob));
    expect(idOfBlob(second, five.truth, 4)).toBe("cluster:c5");

    const three = gaussianBlobs([centres[0], centres[2], centres[4]] as number[][], 200, 1, 33);
    const third = clusterCustomers(three.columns, {
      kMin: 2,
      kMax: 8,
      seed: 4,
      previous: previousFrom(second.model),
    });
    expect(third.model.k).toBe(3);
    // The three blobs are centres 0, 2 and 4.
    expect(idOfBlob(third, three.truth, 0)).toBe(idOfBlob(first, four.truth, 0));
    expect(idOfBlob(third, three.truth, 1)).toBe(idOfBlob(first, four.truth, 2));
    expect(idOfBlob(third, three.truth, 2)).toBe("cluster:c5");
    expect([...third.model.retiredIds].sort()).toEqual(
      [idOfBlob(first, four.truth, 1), idOfBlob(first, four.truth, 3)].sort(),
    );
    expect(third.model.nextId).toBe(6);
  });
});
