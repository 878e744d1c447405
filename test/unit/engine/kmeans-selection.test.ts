/**
 * Choosing k without fitting every candidate on every sample: the default selection ("fast") against the
 * reference one that fits every candidate on every fitting sample and computes each silhouette from scratch.
 * On planted clusters of known k (through the sampled path and on all rows), on customer-shaped data and on
 * the CDNOW demo file, both give the same k, the same silhouettes and the same model and assignment, and the
 * planted partition is recovered. The fits are counted, so a selection that went back to fitting every
 * candidate on every sample fails here; the reused pairwise distances give meanSilhouette's scores bit for bit.
 * Fitting on helper threads (./fit-threads.ts) gives the one-thread result too, whichever thread fits what:
 * all fits on helpers, some, or none because the helper never starts.
 */
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { isDeepStrictEqual } from "node:util";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { computeSegments, fitThreadsFor } from "../../../shared/engine/compute";
import { ingestTransactions } from "../../../shared/engine/ingest";
import {
  clusterCustomers,
  customerFeatures,
  defaultFitThreads,
  type FitThreadStats,
  type KMeansOptions,
} from "../../../shared/engine/kmeans";
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

describe("fitThreadsFor", () => {
  it("leaves the value stage's thread a core, never going below one thread, and lets a setting decide", () => {
    const rows = 1_000_000;
    const cores = defaultFitThreads(rows);
    expect(fitThreadsFor({}, rows, false)).toBe(cores);
    expect(fitThreadsFor({}, rows, true)).toBe(Math.max(1, cores - 1));
    expect(fitThreadsFor({}, 1_000, true)).toBe(1);
    expect(fitThreadsFor({}, 1_000, false)).toBe(1);
    expect(fitThreadsFor({ threads: 3 }, rows, true)).toBe(3);
    expect(fitThreadsFor({ threads: 1 }, rows, false)).toBe(1);
  });
});

describe("fitting on helper threads", () => {
  let dir: string;
  let workerUrl: URL;
  let deadUrl: URL;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "kmeans-threads-"));
    const outfile = join(dir, "kmeans-worker.mjs");
    await build({
      entryPoints: [new URL("../../../shared/engine/kmeans/worker.ts", import.meta.url).pathname],
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      outfile,
      logLevel: "silent",
    });
    workerUrl = pathToFileURL(outfile);
    // A worker entry that fails as it loads: its thread never takes a fit.
    const dead = join(dir, "dead-worker.mjs");
    writeFileSync(dead, 'throw new Error("no fits here");\n');
    deadUrl = pathToFileURL(dead);
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const stats = (): FitThreadStats => ({ helpers: 0, fitsOnHelpers: 0, fitsOnCaller: 0 });

  it("every fit on helpers: the reference's k, silhouettes, model and assignment", {
    timeout: 300_000,
  }, () => {
    const { columns, truth } = gaussianBlobs(corners(5, 3), 4000, 1, 32);
    const options = { kMin: 2, kMax: 9, seed: 7, seedingSampleSize: 1500 };
    const counts = stats();
    fits.mockClear();
    const threaded = clusterCustomers(columns, {
      ...options,
      threads: 3,
      fitThreads: { workerUrl, stats: counts, callerFits: false },
    });
    // The calling thread fitted nothing by bestOfRestarts: eight candidates and the chosen k's other two
    // samples were fitted on the two helpers.
    expect(fits.mock.calls.length).toBe(0);
    expect(counts).toEqual({ helpers: 2, fitsOnHelpers: 10, fitsOnCaller: 0 });
    const reference = clusterCustomers(columns, { ...options, kSelection: "reference" });
    expect(threaded.model.k).toBe(5);
    expect(samePartition(truth, threaded.assignment)).toBe(true);
    expect(threaded.model).toEqual(reference.model);
    expect(isDeepStrictEqual(threaded.assignment, reference.assignment)).toBe(true);
  });

  for (const seed of [1, 2]) {
    it(`caller and helper share the fits, customer-shaped data, seed ${seed}`, { timeout: 300_000 }, () => {
      const features = customerFeatures(syntheticCustomers(20_000, seed));
      const options = { seed, seedingSampleSize: 4000 };
      const counts = stats();
      const threaded = clusterCustomers(features, {
        ...options,
        threads: 2,
        fitThreads: { workerUrl, stats: counts },
      });
      expect(counts.helpers).toBe(1);
      expect(counts.fitsOnHelpers + counts.fitsOnCaller).toBe(8);
      const one = clusterCustomers(features, { ...options, threads: 1 });
      const reference = clusterCustomers(features, { ...options, kSelection: "reference" });
      expect(threaded.model).toEqual(one.model);
      expect(threaded.model).toEqual(reference.model);
      expect(isDeepStrictEqual(threaded.assignment, one.assignment)).toBe(true);
      // A fixed k: its three samples' fits on the threads.
      const fixedCounts = stats();
      const fixed = clusterCustomers(features, {
        ...options,
        k: 5,
        threads: 3,
        fitThreads: { workerUrl, stats: fixedCounts, callerFits: false },
      });
      expect(fixedCounts).toEqual({ helpers: 2, fitsOnHelpers: 3, fitsOnCaller: 0 });
      const fixedOne = clusterCustomers(features, { ...options, k: 5, threads: 1 });
      expect(fixed.model).toEqual(fixedOne.model);
      expect(isDeepStrictEqual(fixed.assignment, fixedOne.assignment)).toBe(true);
    });
  }

  it("a helper that never starts: the caller fits everything, same result", { timeout: 300_000 }, () => {
    const features = customerFeatures(syntheticCustomers(20_000, 3));
    const options = { seed: 3, seedingSampleSize: 4000 };
    const counts = stats();
    const threaded = clusterCustomers(features, {
      ...options,
      threads: 2,
      fitThreads: { workerUrl: deadUrl, stats: counts, callerFits: false, stallMs: 300 },
    });
    expect(counts).toEqual({ helpers: 1, fitsOnHelpers: 0, fitsOnCaller: 8 });
    const one = clusterCustomers(features, { ...options, threads: 1 });
    expect(threaded.model).toEqual(one.model);
    expect(isDeepStrictEqual(threaded.assignment, one.assignment)).toBe(true);
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
