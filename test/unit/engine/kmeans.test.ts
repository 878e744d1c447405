/**
 * clusterCustomers end to end: recovery of known clusters, automatic k, determinism, the model's numbers
 * checked against direct computations, words for centroids, and typed errors for bad input.
 */
import { describe, expect, it } from "vitest";
import {
  ClusteringInputError,
  clusterCustomers,
  customerFeatures,
  describeClusters,
} from "../../../shared/engine/kmeans";
import { gaussianBlobs, syntheticCustomers } from "../../../shared/engine/kmeans/synthetic";

/** True when the two labellings are the same partition: a one-to-one map sends every true label to one found label. */
function samePartition(truth: ArrayLike<number>, found: ArrayLike<number>): boolean {
  const forward = new Map<number, number>();
  const backward = new Map<number, number>();
  for (let i = 0; i < truth.length; i++) {
    const t = truth[i] as number;
    const f = found[i] as number;
    if ((forward.get(t) ?? f) !== f || (backward.get(f) ?? t) !== t) return false;
    forward.set(t, f);
    backward.set(f, t);
  }
  return true;
}

/** The first k corners of a hypercube of side 12 in d dimensions (k <= 2^d): with noise sd 1, far apart. */
function corners(k: number, d: number): number[][] {
  return Array.from({ length: k }, (_, c) => Array.from({ length: d }, (_, f) => ((c >> f) & 1) * 12));
}

function zScoresOf(columns: Float64Array[]): number[][] {
  const n = columns[0]?.length ?? 0;
  const stats = columns.map((col) => {
    const mean = col.reduce((s, v) => s + v, 0) / n;
    const sd = Math.sqrt(col.reduce((s, v) => s + (v - mean) ** 2, 0) / n) || 1;
    return { mean, sd };
  });
  return Array.from({ length: n }, (_, i) =>
    columns.map((col, f) => ((col[i] as number) - (stats[f]?.mean as number)) / (stats[f]?.sd as number)),
  );
}

function codeOf(fn: () => unknown): { code: string; path?: string } | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof ClusteringInputError) return { code: error.code, path: error.details[0]?.path };
    throw error;
  }
  return undefined;
}

describe("clusterCustomers on well-separated blobs", () => {
  for (const [k, d] of [
    [3, 2],
    [5, 3],
    [7, 4],
  ] as const) {
    it(`recovers ${k} blobs in ${d} dimensions with k fixed and with k chosen automatically`, () => {
      const { columns, truth } = gaussianBlobs(corners(k, d), 250, 1, k);
      const fixed = clusterCustomers(columns, { k, seed: 5 });
      expect(fixed.model.k).toBe(k);
      expect(samePartition(truth, fixed.assignment)).toBe(true);

      const auto = clusterCustomers(columns, { kMin: 2, kMax: 9, seed: 5 });
      expect(auto.model.k).toBe(k);
      expect(samePartition(truth, auto.assignment)).toBe(true);
      expect(auto.model.silhouettes.map((s) => s.k)).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
      const best = Math.max(...auto.model.silhouettes.map((s) => s.score));
      expect(auto.model.silhouettes.find((s) => s.score === best)?.k).toBe(k);
    });
  }

  it("recovers blobs through the sampled path for large n", () => {
    const { columns, truth } = gaussianBlobs(corners(6, 3), 2000, 1, 17);
    const { model, assignment } = clusterCustomers(columns, { seed: 2, seedingSampleSize: 1500 });
    expect(model.k).toBe(6);
    expect(samePartition(truth, assignment)).toBe(true);
  });

  it("reports centroids, sizes and inertia that match the assignment", () => {
    const { columns } = gaussianBlobs(corners(4, 3), 300, 2, 23);
    const { model, assignment } = clusterCustomers(columns, { k: 4, seed: 1 });
    const z = zScoresOf(columns);
    let inertia = 0;
    for (let c = 0; c < model.k; c++) {
      const members = [...assignment.keys()].filter((i) => assignment[i] === c);
      expect(model.sizes[c]).toBe(members.length);
      columns.forEach((col, f) => {
        const mean = members.reduce((s, i) => s + (col[i] as number), 0) / members.length;
        expect(model.centroids[c]?.[f]).toBeCloseTo(mean, 8);
      });
      for (const i of members) {
        inertia += (z[i] as number[]).reduce(
          (s, v, f) => s + (v - (model.centroidsZ[c]?.[f] as number)) ** 2,
          0,
        );
      }
    }
    expect(model.inertia).toBeCloseTo(inertia, 6);
    expect(model.converged).toBe(true);
  });
});

describe("determinism", () => {
  const features = customerFeatures(syntheticCustomers(6000, 4));

  it("gives identical output for the same seed, on all rows and on samples", () => {
    const runs = [
      () => clusterCustomers(features, { seed: 9 }),
      () => clusterCustomers(features, { seed: 9, seedingSampleSize: 1000 }),
    ];
    for (const run of runs) {
      const a = run();
      const b = run();
      expect(b.model).toEqual(a.model);
      expect(Array.from(b.assignment)).toEqual(Array.from(a.assignment));
    }
  });

  it("uses the seed (another seed draws other starts)", () => {
    const a = clusterCustomers(features, { k: 6, seed: 1, nInit: 1 });
    const b = clusterCustomers(features, { k: 6, seed: 2, nInit: 1 });
    expect(b.model.centroidsZ).not.toEqual(a.model.centroidsZ);
  });
});

describe("descriptions", () => {
  const names = ["logFrequency", "logMonetary", "recencyDays", "logAverageOrderValue"];

  it("reads frequent / high spend / recent and one-time / low spend / lapsed from z-scores", () => {
    const z = [
      [1.2, 1.0, -1.0, 0.1],
      [-0.9, -1.1, 1.3, -0.2],
      [0.1, 0.0, 0.2, 0.0],
    ];
    // Original units: log1p(orders) of 8, 1 and 3 orders.
    const original = [
      [Math.log1p(8), 7, 20, 4],
      [Math.log1p(1), 3, 500, 3],
      [Math.log1p(3), 5, 300, 3.5],
    ];
    expect(describeClusters(names, z, original)).toEqual([
      "frequent, high spend, recent",
      "one-time, low spend, lapsed",
      "occasional, mid spend, lapsing",
    ]);
  });

  it("adds basket size, then strength, then a number to keep names distinct", () => {
    const original = [Math.log1p(6), 6, 30, 4];
    const z = [
      [0.8, 0.9, -0.7, 1.1], // frequent, high spend, recent + big baskets
      [0.9, 0.8, -0.8, -0.9], // frequent, high spend, recent + small baskets
      [1.7, 0.7, -0.6, 0.0], // frequent ... with mid baskets: needs the "very" grade
      [0.6, 0.6, -0.6, 0.0], // same words as the one above even with grades: numbered
      [0.7, 0.7, -0.7, 0.0],
    ];
    expect(
      describeClusters(
        names,
        z,
        z.map(() => original),
      ),
    ).toEqual([
      "frequent, high spend, recent, big baskets",
      "frequent, high spend, recent, small baskets",
      "very frequent, high spend, recent",
      "frequent, high spend, recent (1)",
      "frequent, high spend, recent (2)",
    ]);
  });

  it("names the cluster of best customers in words end to end", () => {
    // 300 best customers (10-14 orders, 1,500-1,875 spent, last order 2-12 days ago), 600 one-time buyers of
    // 30-37 who left 400-700 days ago, 600 in between (3-7 orders, 150-187, 150-450 days).
    const frequency: number[] = [];
    const monetary: number[] = [];
    const recencyDays: number[] = [];
    const groups: [
      count: number,
      orders: number,
      orderSpread: number,
      spend: number,
      recency: number,
      step: number,
    ][] = [
      [300, 10, 5, 1500, 2, 1],
      [600, 1, 1, 30, 400, 30],
      [600, 3, 5, 150, 150, 30],
    ];
    for (const [count, orders, orderSpread, spend, recency, step] of groups) {
      for (let i = 0; i < count; i++) {
        frequency.push(orders + (i % orderSpread));
        monetary.push(spend * (1 + (i % 7) / 20));
        recencyDays.push(recency + (i % 11) * step);
      }
    }
    const features = customerFeatures({ frequency, monetary, recencyDays });
    const { model, assignment } = clusterCustomers(features, { k: 3, seed: 3 });
    expect(model.descriptions[assignment[0] as number]).toBe("frequent, high spend, recent");
    expect(model.descriptions[assignment[300] as number]).toBe("one-time, low spend, lapsed");
  });
});

describe("small and degenerate data", () => {
  it("returns an empty model for no rows, retiring previous ids", () => {
    const { model, assignment } = clusterCustomers(
      { a: new Float64Array(0) },
      {
        previous: { featureNames: ["a"], ids: ["cluster:c1", "cluster:c2"], centroids: [[1], [2]] },
      },
    );
    expect(model.k).toBe(0);
    expect(assignment.length).toBe(0);
    expect(model.retiredIds).toEqual(["cluster:c1", "cluster:c2"]);
    expect(model.nextId).toBe(3);
  });

  it("gives fewer clusters than asked when there are fewer distinct rows", () => {
    const a = new Float64Array([1, 1, 1, 5, 5, 5, 5]);
    const b = new Float64Array([2, 2, 2, 0, 0, 0, 0]);
    const fixed = clusterCustomers({ a, b }, { k: 4 });
    expect(fixed.model.k).toBe(2);
    expect(samePartition([0, 0, 0, 1, 1, 1, 1], fixed.assignment)).toBe(true);
    const auto = clusterCustomers({ a, b });
    expect(auto.model.k).toBe(2);
    const same = clusterCustomers({ a: new Float64Array(5).fill(3) }, { k: 3 });
    expect(same.model.k).toBe(1);
    expect(same.model.centroids).toEqual([[3]]);
  });

  it("handles a single row", () => {
    const { model, assignment } = clusterCustomers({ a: new Float64Array([4]), b: new Float64Array([2]) });
    expect(model.k).toBe(1);
    expect(Array.from(assignment)).toEqual([0]);
    expect(model.ids).toEqual(["cluster:c1"]);
  });
});

describe("bad input", () => {
  const good = () => ({ x: new Float64Array([1, 2, 3, 4]), y: new Float64Array([4, 3, 2, 1]) });

  it("names the feature and row of a value that is not finite", () => {
    const nan = good();
    nan.y[2] = Number.NaN;
    expect(codeOf(() => clusterCustomers(nan))).toEqual({ code: "CLUSTERING_NON_FINITE", path: "y[2]" });
    const inf = good();
    inf.x[0] = Number.POSITIVE_INFINITY;
    expect(codeOf(() => clusterCustomers(inf))).toEqual({ code: "CLUSTERING_NON_FINITE", path: "x[0]" });
  });

  it("rejects columns of different lengths, no columns, and mismatched names", () => {
    expect(codeOf(() => clusterCustomers({ x: new Float64Array(3), y: new Float64Array(4) }))).toEqual({
      code: "CLUSTERING_LENGTH_MISMATCH",
      path: "y",
    });
    expect(codeOf(() => clusterCustomers({}))?.code).toBe("CLUSTERING_NO_FEATURES");
    const plainArray = { x: new Float64Array(2), y: [1, 2] as unknown as Float64Array };
    expect(codeOf(() => clusterCustomers(plainArray))).toEqual({ code: "CLUSTERING_BAD_FEATURE", path: "y" });
    expect(codeOf(() => clusterCustomers([new Float64Array(2)], { featureNames: ["a", "b"] }))).toEqual({
      code: "CLUSTERING_BAD_OPTION",
      path: "featureNames",
    });
    expect(codeOf(() => customerFeatures({ frequency: [1, 2], monetary: [1], recencyDays: [1, 2] }))).toEqual(
      { code: "CLUSTERING_LENGTH_MISMATCH", path: "monetary" },
    );
  });

  it("rejects options out of range with the option named", () => {
    const cases: [object, string][] = [
      [{ k: 0 }, "k"],
      [{ k: 2.5 }, "k"],
      [{ k: 65 }, "k"],
      [{ kMin: 6, kMax: 4 }, "kMin"],
      [{ kMin: 1 }, "kMin"],
      [{ nInit: 0 }, "nInit"],
      [{ maxIter: 0 }, "maxIter"],
      [{ tol: -1 }, "tol"],
      [{ seed: Number.NaN }, "seed"],
      [{ sampleSize: 5 }, "sampleSize"],
      [{ sampleSize: 20_000 }, "sampleSize"],
      [{ maxMatchDistance: -1 }, "maxMatchDistance"],
    ];
    for (const [options, path] of cases) {
      expect(codeOf(() => clusterCustomers(good(), options))).toEqual({
        code: "CLUSTERING_BAD_OPTION",
        path,
      });
    }
  });

  it("is an HTTP 400 error", () => {
    try {
      clusterCustomers(good(), { k: 0 });
    } catch (error) {
      expect(error).toBeInstanceOf(ClusteringInputError);
      expect((error as ClusteringInputError).status).toBe(400);
      return;
    }
    throw new Error("no error thrown");
  });
});
