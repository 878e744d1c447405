/**
 * Choosing k without fitting every candidate on every sample: the default selection ("fast") against the
 * reference one that fits every candidate on every fitting sample and computes each silhouette from scratch.
 * On planted clusters of known k (through the sampled path and on all rows), on customer-shaped data and on
 * the CDNOW demo file, both give the same k, the same silhouettes and the same model and assignment, and the
 * planted partition is recovered. The fits are counted, so a selection that went back to fitting every
 * candidate on every sample fails here; the reused pairwise distances give meanSilhouette's scores bit for bit.
 */
import { createReadStream } from "node:fs";
import { isDeepStrictEqual } from "node:util";
import { describe, expect, it, vi } from "vitest";
import { computeSegments } from "../../../shared/engine/compute";
import { ingestTransactions } from "../../../shared/engine/ingest";
import { clusterCustomers, customerFeatures, type KMeansOptions } from "../../../shared/engine/kmeans";
import { bestOfRestarts } from "../../../shared/engine/kmeans/lloyd";
import { createRandom } from "../../../shared/engine/kmeans/random";
import { meanSilhouette, silhouetteScorer } from "../../../shared/engine/kmeans/silhouette";
import { gaussianBlobs, syntheticCustomers } from "../../../shared/engine/kmeans/synthetic";
import { AggregateState } from "../../../shared/engine/state";

vi.mock("../../../shared/engine/kmeans/lloyd", async (importOriginal) => {
  const original = await importOriginal<typeof import("../../../shared/engine/kmeans/lloyd")>();
  return { ...original, bestOfRestarts: vi.fn(original.bestOfRestarts) };
});
const fits = vi.mocked(bestOfRestarts);

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

/** The first k corners of a hypercube of side 12 in d dimensions: with noise sd 1, far apart. */
function corners(k: number, d: number): number[][] {
  return Array.from({ length: k }, (_, c) => Array.from({ length: d }, (_, f) => ((c >> f) & 1) * 12));
}

type Features = Readonly<Record<string, Float64Array>> | readonly Float64Array[];

/** Both selections on the same data; the fits each made (bestOfRestarts calls, one per candidate and sample). */
function bothSelections(features: Features, options: KMeansOptions) {
  fits.mockClear();
  const fast = clusterCustomers(features, options);
  const fastFits = fits.mock.calls.length;
  fits.mockClear();
  const reference = clusterCustomers(features, { ...options, kSelection: "reference" });
  const referenceFits = fits.mock.calls.length;
  return { fast, reference, fastFits, referenceFits };
}

describe("choosing k on planted clusters", () => {
  for (const [k, d, seed] of [
    [3, 2, 31],
    [5, 3, 32],
    [7, 4, 33],
  ] as const) {
    it(`finds ${k} planted clusters in ${d} dimensions through the sampled path, as the reference does`, () => {
      // 4,000 rows per blob, fitting samples of 1,500: more than three samples' worth, so the sampled path.
      const { columns, truth } = gaussianBlobs(corners(k, d), 4000, 1, seed);
      const options = { kMin: 2, kMax: 9, seed: 7, seedingSampleSize: 1500 };
      const { fast, reference, fastFits, referenceFits } = bothSelections(columns, options);
      expect(fast.model.k).toBe(k);
      expect(samePartition(truth, fast.assignment)).toBe(true);
      expect(fast.model.silhouettes).toEqual(reference.model.silhouettes);
      expect(fast.model).toEqual(reference.model);
      expect(isDeepStrictEqual(fast.assignment, reference.assignment)).toBe(true);
      // Eight candidates: the reference fits each on three samples; fast fits each on the first sample and
      // the chosen one on the other two.
      expect(referenceFits).toBe(8 * 3);
      expect(fastFits).toBe(8 + 2);
    });
  }

  it("finds planted clusters on all rows (small n), as the reference does", () => {
    const { columns, truth } = gaussianBlobs(corners(6, 3), 300, 1, 34);
    const { fast, reference, fastFits, referenceFits } = bothSelections(columns, {
      kMin: 2,
      kMax: 9,
      seed: 3,
    });
    expect(fast.model.k).toBe(6);
    expect(samePartition(truth, fast.assignment)).toBe(true);
    expect(fast.model).toEqual(reference.model);
    expect(isDeepStrictEqual(fast.assignment, reference.assignment)).toBe(true);
    // One fitting sample (all rows): one fit per candidate either way.
    expect(fastFits).toBe(8);
    expect(referenceFits).toBe(8);
  });

  it("gives the chosen k the same model and assignment as fixing that k", () => {
    const { columns } = gaussianBlobs(corners(4, 3), 3000, 1.5, 35);
    const options = { seed: 11, seedingSampleSize: 2000 };
    const auto = clusterCustomers(columns, options);
    expect(auto.model.k).toBe(4);
    const fixed = clusterCustomers(columns, { ...options, k: 4 });
    const { silhouettes: _auto, ...autoModel } = auto.model;
    const { silhouettes: _fixed, ...fixedModel } = fixed.model;
    expect(autoModel).toEqual(fixedModel);
    expect(isDeepStrictEqual(auto.assignment, fixed.assignment)).toBe(true);
  });
});

describe("choosing k where silhouettes are close", () => {
  for (const seed of [1, 2, 3]) {
    it(`chooses the reference's k on customer-shaped data, seed ${seed}`, () => {
      const features = customerFeatures(syntheticCustomers(20_000, seed));
      const { fast, reference } = bothSelections(features, { seed, seedingSampleSize: 4000 });
      expect(fast.model.k).toBe(reference.model.k);
      expect(fast.model).toEqual(reference.model);
      expect(isDeepStrictEqual(fast.assignment, reference.assignment)).toBe(true);
    });
  }

  it("chooses the reference's k on the CDNOW demo file", { timeout: 300_000 }, async () => {
    const state = new AggregateState();
    await ingestTransactions(
      createReadStream("scripts/local/demo/cdnow-transactions.csv.gz"),
      { format: "csv", compression: "auto" },
      state,
    );
    const { columns } = computeSegments(state, { asOf: "1998-07-01", clusters: false, value: false });
    expect(columns.frequency.length).toBe(23_570);
    const features = customerFeatures(columns);
    const { fast, reference } = bothSelections(features, { seed: 1 });
    expect(fast.model.k).toBe(reference.model.k);
    expect(fast.model.silhouettes).toEqual(reference.model.silhouettes);
    expect(isDeepStrictEqual(fast.assignment, reference.assignment)).toBe(true);
  });

  it("fits every sample of a candidate the first sample has too few distinct rows for", () => {
    // Five distinct rows repeated: k = 6 and above exhaust them on every sample.
    const n = 6000;
    const a = new Float64Array(n);
    const b = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      a[i] = i % 5;
      b[i] = (i % 5) ** 2;
    }
    const { fast, reference, fastFits, referenceFits } = bothSelections(
      { a, b },
      { kMin: 3, kMax: 8, seed: 2, seedingSampleSize: 1000 },
    );
    expect(fast.model.k).toBe(reference.model.k);
    expect(fast.model).toEqual(reference.model);
    // Candidates 3, 4, 5 and then 6, which finds only five: the search stops there.
    expect(referenceFits).toBe(4 * 3);
    expect(fastFits).toBeLessThan(referenceFits);
  });
});

describe("silhouetteScorer", () => {
  it("gives meanSilhouette's score bit for bit, labelling after labelling", () => {
    const m = 700;
    const d = 4;
    const random = createRandom(12);
    const data = new Float64Array(m * d).map(() => random.next() * 5);
    const score = silhouetteScorer(data, m, d);
    for (const k of [1, 2, 3, 5, 8]) {
      // Labels that leave some clusters empty or with one row, too.
      const labels = Int32Array.from({ length: m }, (_, i) =>
        i < 3 ? k - 1 : random.nextInt(Math.max(1, k - 2)),
      );
      expect(Object.is(score(labels, k), meanSilhouette(data, m, d, labels, k))).toBe(true);
    }
  });

  it("falls back to meanSilhouette on samples too large to keep every distance", () => {
    const m = 3000;
    const random = createRandom(13);
    const data = new Float64Array(m).map(() => random.next());
    const labels = Int32Array.from({ length: m }, () => random.nextInt(3));
    expect(silhouetteScorer(data, m, 1)(labels, 3)).toBe(meanSilhouette(data, m, 1, labels, 3));
  });
});
