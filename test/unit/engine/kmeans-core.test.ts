/**
 * The k-means building blocks against independent, plain implementations written here: accelerated Lloyd
 * against textbook Lloyd, silhouette against a hand-worked example and a direct O(n²) loop, the generator
 * against the published xoshiro128** sequence.
 */
import { describe, expect, it } from "vitest";
import { createWorkspace, hamerly, seedPlusPlus } from "../../../shared/engine/kmeans/lloyd";
import { createRandom, sampleIndices, xoshiro128ss } from "../../../shared/engine/kmeans/random";
import { meanSilhouette } from "../../../shared/engine/kmeans/silhouette";
import { standardize, toOriginal, toStandard } from "../../../shared/engine/kmeans/standardize";

/**
 * Textbook Lloyd: assign every row to its nearest centre (an exact tie keeps the current centre, else the
 * lowest index), give an emptied cluster the row farthest from its centre among clusters with two or more
 * rows, recompute every mean from scratch; stop when no row changes.
 */
function plainLloyd(data: Float64Array, n: number, d: number, init: Float64Array, k: number) {
  const centers = init.slice();
  const labels = new Int32Array(n).fill(-1);
  const dist = (i: number, j: number) => {
    let s = 0;
    for (let f = 0; f < d; f++) s += ((data[i * d + f] as number) - (centers[j * d + f] as number)) ** 2;
    return s;
  };
  for (let pass = 0; pass < 1000; pass++) {
    let changed = 0;
    for (let i = 0; i < n; i++) {
      const current = labels[i] as number;
      let best = Math.max(current, 0);
      let bestDistance = dist(i, best);
      for (let j = 0; j < k; j++) {
        const s = dist(i, j);
        if (s < bestDistance) {
          best = j;
          bestDistance = s;
        }
      }
      if (best !== current) {
        labels[i] = best;
        changed++;
      }
    }
    if (changed === 0) break;
    const counts = new Array<number>(k).fill(0);
    for (let i = 0; i < n; i++) counts[labels[i] as number] = (counts[labels[i] as number] as number) + 1;
    for (let j = 0; j < k; j++) {
      if ((counts[j] as number) > 0) continue;
      let far = -1;
      let farDistance = -1;
      for (let i = 0; i < n; i++) {
        if ((counts[labels[i] as number] as number) < 2) continue;
        const s = dist(i, labels[i] as number);
        if (s > farDistance) {
          farDistance = s;
          far = i;
        }
      }
      counts[labels[far] as number] = (counts[labels[far] as number] as number) - 1;
      labels[far] = j;
      counts[j] = 1;
    }
    for (let j = 0; j < k; j++) {
      const sum = new Array<number>(d).fill(0);
      for (let i = 0; i < n; i++) {
        if (labels[i] !== j) continue;
        for (let f = 0; f < d; f++) sum[f] = (sum[f] as number) + (data[i * d + f] as number);
      }
      const inv = 1 / (counts[j] as number);
      for (let f = 0; f < d; f++) centers[j * d + f] = (sum[f] as number) * inv;
    }
  }
  let inertia = 0;
  for (let i = 0; i < n; i++) inertia += dist(i, labels[i] as number);
  return { labels, centers, inertia };
}

/** Integer-valued rows: every sum is exact in float64, so both implementations see identical means. */
function integerRows(n: number, d: number, groups: number, seed: number): Float64Array {
  const random = createRandom(seed);
  const data = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    const g = random.nextInt(groups);
    for (let f = 0; f < d; f++) data[i * d + f] = g * 7 * ((f % 2) * 2 - 1) + random.nextInt(15);
  }
  return data;
}

describe("hamerly (accelerated Lloyd)", () => {
  for (const [d, k, seed] of [
    [4, 8, 1],
    [4, 5, 2],
    [3, 6, 3],
    [2, 4, 4],
    [5, 3, 5],
  ] as const) {
    it(`ends where plain Lloyd ends from the same start (d = ${d}, k = ${k})`, () => {
      const n = 3000;
      const data = integerRows(n, d, 5, seed);
      const ws = createWorkspace(n);
      const start = seedPlusPlus(data, n, d, k, createRandom(seed), ws).centers;
      const plain = plainLloyd(data, n, d, start, k);
      const fast = hamerly(data, n, d, start.slice(), k, 1000, 0, ws);
      expect(fast.converged).toBe(true);
      expect(Array.from(ws.labels.subarray(0, n))).toEqual(Array.from(plain.labels));
      for (const [i, v] of fast.centers.entries()) expect(v).toBeCloseTo(plain.centers[i] as number, 9);
      expect(fast.inertia).toBeCloseTo(plain.inertia, 6);
    });
  }

  it("refills an emptied cluster with the farthest point, as plain Lloyd does", () => {
    const n = 500;
    const d = 2;
    const data = integerRows(n, d, 3, 9);
    // The third start is far from every row, so the first assignment leaves it empty.
    const start = new Float64Array([0, 0, 10, -10, 1e4, 1e4]);
    const plain = plainLloyd(data, n, d, start, 3);
    const ws = createWorkspace(n);
    const fast = hamerly(data, n, d, start.slice(), 3, 1000, 0, ws);
    expect(new Set(ws.labels.subarray(0, n)).size).toBe(3);
    expect(Array.from(ws.labels.subarray(0, n))).toEqual(Array.from(plain.labels));
    expect(fast.inertia).toBeCloseTo(plain.inertia, 6);
  });

  it("stops at maxIter and reports it has not converged", () => {
    const n = 2000;
    const data = integerRows(n, 4, 6, 11);
    const ws = createWorkspace(n);
    const start = seedPlusPlus(data, n, 4, 6, createRandom(2), ws).centers;
    const result = hamerly(data, n, 4, start, 6, 1, 0, ws);
    expect(result.iterations).toBe(1);
    expect(result.converged).toBe(false);
  });
});

describe("seedPlusPlus", () => {
  it("picks k distinct data rows as centres", () => {
    const n = 400;
    const data = integerRows(n, 3, 4, 21);
    const ws = createWorkspace(n);
    const { centers, k } = seedPlusPlus(data, n, 3, 6, createRandom(5), ws);
    expect(k).toBe(6);
    const rows = new Set<string>();
    for (let i = 0; i < n; i++) rows.add(Array.from(data.subarray(i * 3, i * 3 + 3)).join(","));
    const picked = new Set<string>();
    for (let j = 0; j < k; j++) picked.add(Array.from(centers.subarray(j * 3, j * 3 + 3)).join(","));
    expect(picked.size).toBe(6);
    for (const c of picked) expect(rows.has(c)).toBe(true);
  });

  it("returns fewer centres when the data has fewer distinct rows than k", () => {
    // Three distinct rows, each repeated 50 times.
    const data = new Float64Array(150 * 2);
    for (let i = 0; i < 150; i++) {
      data[i * 2] = i % 3;
      data[i * 2 + 1] = (i % 3) * 2;
    }
    const ws = createWorkspace(150);
    const { centers, k } = seedPlusPlus(data, 150, 2, 5, createRandom(1), ws);
    expect(k).toBe(3);
    const picked = [0, 1, 2].map((j) => `${centers[j * 2]},${centers[j * 2 + 1]}`).sort();
    expect(picked).toEqual(["0,0", "1,2", "2,4"]);
  });
});

describe("meanSilhouette", () => {
  it("matches the hand-worked value on two pairs and a singleton", () => {
    // Clusters A = {0, 1}, B = {4, 5}, C = {10} on a line.
    //   x=0: a = 1, b = min(mean(4,5), 10) = 4.5 -> s = 3.5/4.5 = 7/9
    //   x=1: a = 1, b = min(mean(3,4), 9) = 3.5 -> s = 2.5/3.5 = 5/7
    //   x=4: a = 1, b = min(mean(4,3), 6) = 3.5 -> 5/7;  x=5: a = 1, b = min(mean(5,4), 5) = 4.5 -> 7/9
    //   x=10: alone in C -> 0
    // mean = (2·7/9 + 2·5/7 + 0) / 5
    const data = new Float64Array([0, 1, 4, 5, 10]);
    const expected = (2 * (7 / 9) + 2 * (5 / 7)) / 5;
    expect(meanSilhouette(data, 5, 1, [0, 0, 1, 1, 2], 3)).toBeCloseTo(expected, 12);
  });

  it("agrees with a direct pairwise computation", () => {
    const m = 300;
    const d = 3;
    const random = createRandom(8);
    const data = new Float64Array(m * d).map(() => random.next() * 10);
    const labels = Array.from({ length: m }, () => random.nextInt(4));
    const distance = (i: number, j: number) =>
      Math.hypot(
        ...Array.from({ length: d }, (_, f) => (data[i * d + f] as number) - (data[j * d + f] as number)),
      );
    let total = 0;
    for (let i = 0; i < m; i++) {
      const byCluster = new Map<number, number[]>();
      for (let j = 0; j < m; j++) {
        if (j === i) continue;
        const list = byCluster.get(labels[j] as number) ?? [];
        list.push(distance(i, j));
        byCluster.set(labels[j] as number, list);
      }
      const own = byCluster.get(labels[i] as number);
      if (!own) continue;
      const a = own.reduce((s, v) => s + v, 0) / own.length;
      const b = Math.min(
        ...[...byCluster]
          .filter(([c]) => c !== labels[i])
          .map(([, l]) => l.reduce((s, v) => s + v, 0) / l.length),
      );
      total += (b - a) / Math.max(a, b);
    }
    expect(meanSilhouette(data, m, d, labels, 4)).toBeCloseTo(total / m, 10);
  });
});

describe("random numbers", () => {
  it("xoshiro128** reproduces the reference sequence for the state (1, 2, 3, 4)", () => {
    const random = xoshiro128ss(1, 2, 3, 4);
    const out = Array.from({ length: 10 }, () => random.nextUint32());
    // The reference implementation's output for this state, recomputed independently from the algorithm.
    expect(out).toEqual([
      11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849, 3729100597, 4258142804,
    ]);
  });

  it("gives the same stream for the same seed and another for another seed", () => {
    const a = Array.from({ length: 5 }, createRandom(42).next);
    const b = Array.from({ length: 5 }, createRandom(42).next);
    const c = Array.from({ length: 5 }, createRandom(43).next);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    for (const v of a) expect(v >= 0 && v < 1).toBe(true);
  });

  it("samples distinct sorted indices, each about equally often", () => {
    const random = createRandom(3);
    const hits = new Array<number>(100).fill(0);
    for (let draw = 0; draw < 2000; draw++) {
      const rows = Array.from(sampleIndices(100, 10, random));
      expect(rows.length).toBe(10);
      expect(new Set(rows).size).toBe(10);
      expect(rows).toEqual([...rows].sort((x, y) => x - y));
      for (const r of rows) hits[r] = (hits[r] as number) + 1;
    }
    // Each index is drawn with probability 0.1: expected 200, standard deviation about 13.4.
    for (const h of hits) expect(Math.abs(h - 200)).toBeLessThan(70);
    expect(Array.from(sampleIndices(5, 9, random))).toEqual([0, 1, 2, 3, 4]);
  });
});

describe("standardize", () => {
  it("gives z-scores with the population mean and deviation, and zeros for a constant column", () => {
    const a = new Float64Array([2, 4, 4, 4, 5, 5, 7, 9]); // mean 5, population sd 2
    const constant = new Float64Array(8).fill(3);
    const { data, means, stds } = standardize([a, constant], 8);
    expect(means).toEqual([5, 3]);
    expect(stds).toEqual([2, 1]);
    expect(Array.from({ length: 8 }, (_, i) => data[i * 2])).toEqual([-1.5, -0.5, -0.5, -0.5, 0, 0, 1, 2]);
    expect(Array.from({ length: 8 }, (_, i) => data[i * 2 + 1])).toEqual(new Array(8).fill(0));
    expect(toOriginal(toStandard([9, 3], means, stds), means, stds)).toEqual([9, 3]);
  });
});
