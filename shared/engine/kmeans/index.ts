/**
 * Behavioural clusters of customers: k-means on standardized features, k chosen by silhouette within bounds
 * (or fixed), each cluster described in words, and cluster ids kept stable from run to run.
 *
 * ```ts
 * const { model, assignment } = clusterCustomers(customerFeatures({ frequency, monetary, recencyDays }), {
 *   kMin: 3, kMax: 8, seed: 1, previous: lastRun,   // lastRun: PreviousClusters from the model of last run
 * });
 * model.ids[assignment[i]]   // "cluster:c2", the cluster of customer i
 * ```
 *
 * Method, in order:
 * 1. Every feature is standardized to z-scores (a constant feature becomes all zeros). All distances,
 *    inertia and silhouettes are in z-units; centroids are reported back in original units too.
 * 2. Fitting. With n <= 3 × `seedingSampleSize` (default 16,384) each candidate k is fitted `nInit` times
 *    (default 6) on all rows: greedy k-means++ seeding, then Lloyd iterations with Hamerly's bounds; the
 *    lowest inertia wins. With more rows, the restarts run on each of three independent uniform samples of
 *    that size (`nInit` per sample, stopped at a coarse tolerance of 1e-4); each sample's best centres are
 *    brought to a coarse optimum on all rows, and the best of those is iterated on all rows to `tol`. The
 *    reported model and inertia are always those of the full data. Why several samples: centres fitted on a
 *    sample land next to a good local minimum, but near-equal minima of the full data (common with integer
 *    order counts) cannot be told apart on one sample; full-data runs from a few samples settle it, at a
 *    fraction of the cost of full-data restarts. (On 1 M synthetic customers, k = 8, this matched or beat
 *    the best of scikit-learn's ten full-data restarts in every seed tried; see the k-means comparison of `npm run bench` in BENCHMARKS.md.)
 * 3. Automatic k: for each k in [kMin, kMax] the mean silhouette is computed exactly on a fixed random
 *    subset of `sampleSize` (default 2,000) rows of the first fitting sample, labelled by that k's fit on that
 *    sample; the highest wins, the smaller k on a tie. With a fixed `k` its silhouette is still reported.
 *    Only the first sample's fit enters the score, so the other samples are fitted for the chosen k alone (or
 *    for a k the first sample has too few distinct rows for), and the subset's pairwise distances are
 *    computed once for all candidates: the same k, scores and model as fitting every candidate on every
 *    sample (`kSelection: "reference"`), in about a third of the time.
 * 4. Clusters are ordered by size, biggest first, then given ids (see ./identity) and described in words
 *    (see ./describe); the model lists them in id order.
 *
 * From FIT_THREADS_MIN_ROWS rows on, the fits of steps 2 and 3 on the fitting samples run on every core
 * (./fit-threads.ts): the calling thread and helper threads each take the next fit, and the caller blocks until
 * all are done, so the function stays synchronous and its result is the one-thread result.
 *
 * Everything random flows from `seed` through a 32-bit integer generator: the same input and options give
 * the same output on any Node version. Data with fewer distinct rows than k yields fewer clusters; no rows
 * yields an empty model.
 */

import { availableParallelism } from "node:os";
import { describeClusters } from "./describe";
import { ClusteringInputError } from "./errors";
import {
  defaultFitWorkerUrl,
  type Fit,
  type FitRequest,
  type FitThreadStats,
  FitThreads,
} from "./fit-threads";
import { assignIds, type PreviousClusters } from "./identity";
import { bestOfRestarts, createWorkspace, hamerly, type LloydResult } from "./lloyd";
import { createRandom, deriveSeed, sampleIndices } from "./random";
import { meanSilhouette, silhouetteScorer } from "./silhouette";
import { standardize, toOriginal } from "./standardize";

export { DESCRIBE_THRESHOLDS, describeClusters } from "./describe";
export { type ClusteringErrorCode, ClusteringInputError } from "./errors";
export { CUSTOMER_FEATURES, type CustomerFeature, type CustomerValues, customerFeatures } from "./features";
export { type FitThreadStats, prestartFitThreads } from "./fit-threads";
export { clusterId, optimalAssignment, type PreviousClusters } from "./identity";

export interface KMeansOptions {
  /** Fixed number of clusters; when absent, k is chosen in [kMin, kMax] by silhouette. */
  k?: number;
  /** Default 3. */
  kMin?: number;
  /** Default 8. */
  kMax?: number;
  /** Default 1. Any number; used as an unsigned 32-bit integer. */
  seed?: number;
  /** Seeded restarts per candidate k and fitting sample, best inertia kept. Default 6. */
  nInit?: number;
  /** Maximum assignment passes per fit. Default 300. */
  maxIter?: number;
  /** Stop when the summed squared centre shift (z-units) is at most this. Default 1e-6. */
  tol?: number;
  /** Rows in the silhouette subset (cost grows with its square). Default 2,000, at most 10,000. */
  sampleSize?: number;
  /**
   * Rows per fitting sample; with more than three samples' worth of rows, restarts and the choice of k run on
   * three samples. Default 16,384.
   */
  seedingSampleSize?: number;
  /** Feature names when features are given as an array. Default "f0", "f1", … */
  featureNames?: readonly string[];
  /** The previous run's clusters, for stable ids. */
  previous?: PreviousClusters;
  /** Largest centroid distance (z-units) at which a new cluster may inherit an old id. Default unlimited. */
  maxMatchDistance?: number;
  /**
   * How automatic k is found. "fast" (default): candidates are fitted on the first fitting sample and scored
   * from pairwise distances computed once (see the module header). "reference": every candidate is fitted on
   * every sample and each silhouette computed from scratch; the same answer, kept to check and time "fast".
   */
  kSelection?: "fast" | "reference";
  /**
   * Threads that fit the candidates of automatic k and the fitting samples' fits (with more than three
   * samples' worth of rows): default os.availableParallelism() from FIT_THREADS_MIN_ROWS rows on, else 1 (the
   * calling thread alone). The result is the same for any count (./fit-threads.ts).
   */
  threads?: number;
  /**
   * The fitting threads' entry (default: ./worker.ts from source, else the bundle this module is in), their
   * counts when `stats` is given, and, for tests, `callerFits: false` to leave every fit to the helpers and
   * `stallMs`, how long helpers that make no progress are waited for (default STALL_MS).
   */
  fitThreads?: { workerUrl?: URL; stats?: FitThreadStats; callerFits?: boolean; stallMs?: number };
}

export interface ClusterModel {
  k: number;
  /** Sum of squared distances to the nearest centre over all rows, in z-units. */
  inertia: number;
  featureNames: string[];
  /** Population mean and scale of each feature (the scale is 1 for a constant feature). */
  means: number[];
  stds: number[];
  /** k rows of feature values in the features' own units (log features stay logs). */
  centroids: number[][];
  /** The same centroids in z-scores. */
  centroidsZ: number[][];
  /** Stable ids, `cluster:c<number>`. */
  ids: string[];
  /** Words from the centroid, e.g. "frequent, high spend, recent" (see ./describe). */
  descriptions: string[];
  /** Rows per cluster. */
  sizes: number[];
  /** Mean silhouette per candidate k (sampled); a single entry when k was fixed. */
  silhouettes: { k: number; score: number }[];
  /** Assignment passes of the final fit. */
  iterations: number;
  converged: boolean;
  /** Previous ids that no cluster inherited. */
  retiredIds: string[];
  /** Counter for the next new id; pass it back in `previous.nextId`. */
  nextId: number;
}

export interface ClusteringResult {
  model: ClusterModel;
  /** Row i belongs to cluster `model.ids[assignment[i]]`. */
  assignment: Uint16Array;
}

export const MAX_CLUSTERS = 64;

/** What the next run needs from this one to keep ids stable. */
export function previousFrom(model: ClusterModel): PreviousClusters {
  return {
    featureNames: model.featureNames,
    ids: model.ids,
    centroids: model.centroids,
    nextId: model.nextId,
  };
}

/**
 * From this many rows on, the fits run on every core by default: below it the fits take less time than
 * starting a thread (measured in BENCHMARKS.md, "Choosing k").
 */
export const FIT_THREADS_MIN_ROWS = 100_000;
/** Most threads one clustering fits on. */
export const MAX_FIT_THREADS = 16;

/** Independent fitting samples for large n, and the tolerance of fits that only rank candidates. */
const FIT_SAMPLES = 3;
const COARSE_TOL = 1e-4;

interface Resolved {
  fixedK: number | undefined;
  kMin: number;
  kMax: number;
  seed: number;
  nInit: number;
  maxIter: number;
  tol: number;
  sampleSize: number;
  seedingSampleSize: number;
  maxMatchDistance: number;
  kSelection: "fast" | "reference";
  threads: number | undefined;
}

function resolveOptions(options: KMeansOptions): Resolved {
  const integer = (
    name: keyof KMeansOptions,
    value: number | undefined,
    fallback: number,
    min: number,
    max: number,
  ) => {
    if (value === undefined) return fallback;
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new ClusteringInputError(
        "CLUSTERING_BAD_OPTION",
        `must be an integer from ${min} to ${max}`,
        name,
      );
    }
    return value;
  };
  const fixedK = options.k === undefined ? undefined : integer("k", options.k, 0, 1, MAX_CLUSTERS);
  const kMin = integer("kMin", options.kMin, 3, 2, MAX_CLUSTERS);
  const kMax = integer("kMax", options.kMax, Math.max(8, kMin), 2, MAX_CLUSTERS);
  if (kMin > kMax) throw new ClusteringInputError("CLUSTERING_BAD_OPTION", "must not exceed kMax", "kMin");
  const seed = options.seed ?? 1;
  if (!Number.isFinite(seed))
    throw new ClusteringInputError("CLUSTERING_BAD_OPTION", "must be a number", "seed");
  const tol = options.tol ?? 1e-6;
  if (!(tol >= 0 && Number.isFinite(tol))) {
    throw new ClusteringInputError("CLUSTERING_BAD_OPTION", "must be a finite number >= 0", "tol");
  }
  const maxMatchDistance = options.maxMatchDistance ?? Number.POSITIVE_INFINITY;
  if (!(maxMatchDistance >= 0)) {
    throw new ClusteringInputError("CLUSTERING_BAD_OPTION", "must be a number >= 0", "maxMatchDistance");
  }
  const kSelection = options.kSelection ?? "fast";
  if (kSelection !== "fast" && kSelection !== "reference") {
    throw new ClusteringInputError("CLUSTERING_BAD_OPTION", 'must be "fast" or "reference"', "kSelection");
  }
  return {
    fixedK,
    kMin,
    kMax,
    seed: seed >>> 0,
    nInit: integer("nInit", options.nInit, 6, 1, 1000),
    maxIter: integer("maxIter", options.maxIter, 300, 1, 100_000),
    tol,
    sampleSize: integer("sampleSize", options.sampleSize, 2000, 10, 10_000),
    seedingSampleSize: integer("seedingSampleSize", options.seedingSampleSize, 16_384, 100, 2 ** 31),
    maxMatchDistance,
    kSelection,
    threads:
      options.threads === undefined ? undefined : integer("threads", options.threads, 1, 1, MAX_FIT_THREADS),
  };
}

function readFeatures(
  features: Readonly<Record<string, Float64Array>> | readonly Float64Array[],
  featureNames: readonly string[] | undefined,
): { names: string[]; columns: Float64Array[]; n: number } {
  let names: string[];
  let columns: Float64Array[];
  if (Array.isArray(features)) {
    columns = [...(features as readonly Float64Array[])];
    names = featureNames ? [...featureNames] : columns.map((_, f) => `f${f}`);
    if (names.length !== columns.length) {
      throw new ClusteringInputError(
        "CLUSTERING_BAD_OPTION",
        `${names.length} names for ${columns.length} feature columns`,
        "featureNames",
      );
    }
  } else {
    names = Object.keys(features);
    columns = names.map((name) => (features as Readonly<Record<string, Float64Array>>)[name] as Float64Array);
  }
  if (columns.length === 0)
    throw new ClusteringInputError("CLUSTERING_NO_FEATURES", "no feature columns given");
  if (new Set(names).size !== names.length) {
    throw new ClusteringInputError("CLUSTERING_BAD_OPTION", "feature names must be distinct", "featureNames");
  }
  const n = columns[0]?.length ?? 0;
  columns.forEach((col, f) => {
    const name = names[f] as string;
    if (!(col instanceof Float64Array)) {
      throw new ClusteringInputError("CLUSTERING_BAD_FEATURE", "must be a Float64Array", name);
    }
    if (col.length !== n) {
      throw new ClusteringInputError(
        "CLUSTERING_LENGTH_MISMATCH",
        `has ${col.length} rows, expected ${n}`,
        name,
      );
    }
    for (let i = 0; i < n; i++) {
      const v = col[i] as number;
      // v - v is NaN exactly for NaN and ±Infinity.
      if (v - v !== 0)
        throw new ClusteringInputError("CLUSTERING_NON_FINITE", "is not a finite number", name, i);
    }
  });
  return { names, columns, n };
}

function gather(data: Float64Array, d: number, rows: Uint32Array): Float64Array {
  const out = new Float64Array(rows.length * d);
  for (let r = 0; r < rows.length; r++) {
    const p = (rows[r] as number) * d;
    for (let f = 0; f < d; f++) out[r * d + f] = data[p + f] as number;
  }
  return out;
}

export function clusterCustomers(
  features: Readonly<Record<string, Float64Array>> | readonly Float64Array[],
  options: KMeansOptions = {},
): ClusteringResult {
  const opts = resolveOptions(options);
  const { names, columns, n } = readFeatures(features, options.featureNames);
  const std = standardize(columns, n);
  const d = std.d;

  if (n === 0) {
    const ids = assignIds([], names, std.means, std.stds, options.previous, opts.maxMatchDistance);
    return {
      model: {
        k: 0,
        inertia: 0,
        featureNames: names,
        means: std.means,
        stds: std.stds,
        centroids: [],
        centroidsZ: [],
        ids: [],
        descriptions: [],
        sizes: [],
        silhouettes: [],
        iterations: 0,
        converged: true,
        retiredIds: ids.retired,
        nextId: ids.nextId,
      },
      assignment: new Uint16Array(0),
    };
  }

  // Fitting data: all rows, or several independent samples (see the module header).
  // Below three samples' worth of rows, fitting on all rows costs no more than the samples would.
  const sampled = n > FIT_SAMPLES * opts.seedingSampleSize;
  const fast = opts.kSelection === "fast";
  // Helper threads start first, so that they load while this thread prepares the samples.
  const threads = sampled && fast ? startFitThreads(n, opts, options.fitThreads) : undefined;
  return fitAndBuild(n, d, std, names, sampled, opts, options, threads);
}

/** The threads clusterCustomers fits on for `rows` rows by default (its `threads` option). */
export function defaultFitThreads(rows: number): number {
  return rows >= FIT_THREADS_MIN_ROWS ? Math.min(MAX_FIT_THREADS, availableParallelism()) : 1;
}

/** Helper threads for the fits (one thread fewer than the count: the caller fits too), or none. */
function startFitThreads(
  n: number,
  opts: Resolved,
  hooks: KMeansOptions["fitThreads"],
): FitThreads | undefined {
  const count = opts.threads ?? defaultFitThreads(n);
  const fits = opts.fixedK === undefined ? Math.max(FIT_SAMPLES, opts.kMax - opts.kMin + 1) : FIT_SAMPLES;
  const helpers = Math.min(count, fits) - 1;
  if (helpers < 1) return undefined;
  const url = hooks?.workerUrl ?? defaultFitWorkerUrl();
  if (url === undefined) return undefined;
  return new FitThreads(helpers, url, hooks?.stats);
}

function fitAndBuild(
  n: number,
  d: number,
  std: ReturnType<typeof standardize>,
  names: string[],
  sampled: boolean,
  opts: Resolved,
  options: KMeansOptions,
  threads: FitThreads | undefined,
): ClusteringResult {
  const sampleCount = sampled ? FIT_SAMPLES : 1;
  const fits: { data: Float64Array; m: number }[] = [];
  for (let s = 0; s < sampleCount; s++) {
    if (!sampled) {
      fits.push({ data: std.data, m: n });
    } else {
      const rows = sampleIndices(n, opts.seedingSampleSize, createRandom(deriveSeed(opts.seed, 1, s)));
      fits.push({ data: gather(std.data, d, rows), m: rows.length });
    }
  }
  const fitTol = sampled ? Math.max(opts.tol, COARSE_TOL) : opts.tol;

  const first = fits[0] as { data: Float64Array; m: number };
  const silhouetteRows = sampleIndices(first.m, opts.sampleSize, createRandom(deriveSeed(opts.seed, 2)));
  const silhouetteData = gather(first.data, d, silhouetteRows);
  const silhouetteLabels = new Int32Array(silhouetteRows.length);

  const candidates: number[] = [];
  if (opts.fixedK !== undefined) candidates.push(Math.min(opts.fixedK, n));
  else for (let k = Math.min(opts.kMin, n); k <= Math.min(opts.kMax, n); k++) candidates.push(k);

  const ws = createWorkspace(n, Math.max(...fits.map((fit) => fit.m)));
  const seedsOf = (k: number, s: number) =>
    Array.from({ length: opts.nInit }, (_, r) => deriveSeed(opts.seed, 3, k, s, r));
  const fitHere = (request: FitRequest): Fit => {
    const fit = fits[request.sample] as { data: Float64Array; m: number };
    return bestOfRestarts(
      fit.data,
      fit.m,
      d,
      request.k,
      request.seeds.length,
      (r) => request.seeds[r] as number,
      request.maxIter,
      request.tol,
      ws,
    );
  };
  // Fits made ahead on every thread, by k and sample; fitSample takes them from here when it can.
  const ahead = new Map<string, Fit>();
  const fitAhead = (pairs: [number, number][]) => {
    if (threads === undefined || pairs.length < 2) return;
    const requests = pairs.map(([k, s]) => ({
      k,
      sample: s,
      seeds: seedsOf(k, s),
      maxIter: opts.maxIter,
      tol: fitTol,
    }));
    const hooks = options.fitThreads;
    const results = threads.run(fits, d, requests, fitHere, hooks?.callerFits, hooks?.stallMs);
    pairs.forEach(([k, s], i) => {
      ahead.set(`${k}:${s}`, results[i] as Fit);
    });
  };
  const fitSample = (k: number, s: number): Fit =>
    ahead.get(`${k}:${s}`) ??
    fitHere({ k, sample: s, seeds: seedsOf(k, s), maxIter: opts.maxIter, tol: fitTol });
  const fast = opts.kSelection === "fast" && candidates.length > 1;
  // The dearest fits first (larger k), so that the threads finish together.
  if (fast) fitAhead([...candidates].reverse().map((k) => [k, 0]));
  else if (opts.kSelection === "fast") fitAhead(fits.map((_, s) => [candidates[0] as number, s]));
  const score = fast
    ? silhouetteScorer(silhouetteData, silhouetteRows.length, d)
    : (labels: Int32Array, k: number) => meanSilhouette(silhouetteData, silhouetteRows.length, d, labels, k);
  const silhouettes: { k: number; score: number }[] = [];
  // The chosen candidate's fits, possibly of the first sample only (`complete` false) until the end.
  let chosen: { k: number; fits: Fit[]; complete: boolean } | undefined;
  let chosenScore = Number.NEGATIVE_INFINITY;
  for (const k of candidates) {
    const first = fitSample(k, 0);
    // The first sample alone decides the score; the others are needed now only when the first has fewer
    // distinct rows than k, since another sample may have more.
    const complete = !fast || first.k < k;
    const perSample = complete ? fits.map((_, s) => (s === 0 ? first : fitSample(k, s))) : [first];
    // Fewer distinct rows than k: keep only fits with the most clusters; larger k would find the same.
    const found = Math.max(...perSample.map((fit) => fit.k));
    const usable = perSample.filter((fit) => fit.k === found);
    const distinctExhausted = found < k;
    const probe = first.k === found ? first : undefined;
    let candidateScore = Number.NEGATIVE_INFINITY;
    if (probe !== undefined) {
      for (let s = 0; s < silhouetteRows.length; s++) {
        silhouetteLabels[s] = probe.labels[silhouetteRows[s] as number] as number;
      }
      candidateScore = score(silhouetteLabels, found);
      if (!distinctExhausted || chosen === undefined) silhouettes.push({ k: found, score: candidateScore });
    }
    if (chosen === undefined || (!distinctExhausted && candidateScore > chosenScore)) {
      chosen = { k, fits: usable, complete };
      chosenScore = candidateScore;
    }
    if (distinctExhausted) break;
  }
  if (chosen === undefined) throw new RangeError("no candidate k");
  if (!chosen.complete) {
    // The first sample found all k clusters, so the usable fits are those of the other samples that did too.
    const k = chosen.k;
    fitAhead(fits.slice(1).map((_, i) => [k, i + 1]));
    for (let s = 1; s < fits.length; s++) {
      const fit = fitSample(chosen.k, s);
      if (fit.k === chosen.k) chosen.fits.push(fit);
    }
  }

  let final: LloydResult;
  let labels: Int32Array;
  const chosenFits = chosen.fits;
  if (!sampled) {
    final = chosenFits[0] as Fit;
    labels = (chosenFits[0] as Fit).labels;
  } else {
    // Each sample's best fit is brought to a coarse optimum on all rows; the best of those is then refined
    // to the requested tolerance. Full-data runs decide between local minima the samples cannot tell apart.
    let start = (chosenFits[0] as Fit).centers;
    if (chosenFits.length > 1) {
      let bestInertia = Number.POSITIVE_INFINITY;
      for (const fit of chosenFits) {
        const coarse = hamerly(std.data, n, d, fit.centers.slice(), fit.k, opts.maxIter, fitTol, ws);
        if (coarse.inertia < bestInertia) {
          bestInertia = coarse.inertia;
          start = coarse.centers;
        }
      }
    }
    final = hamerly(std.data, n, d, start.slice(), chosenFits[0]?.k ?? 1, opts.maxIter, opts.tol, ws);
    labels = ws.labels;
  }

  return buildResult(final, labels, n, d, names, std.means, std.stds, silhouettes, options.previous, opts);
}

/** Orders clusters by size, gives ids and words, and lists them in id order. */
function buildResult(
  fit: LloydResult,
  labels: Int32Array,
  n: number,
  d: number,
  names: string[],
  means: number[],
  stds: number[],
  silhouettes: { k: number; score: number }[],
  previous: PreviousClusters | undefined,
  opts: Resolved,
): ClusteringResult {
  const k = fit.k;
  const sizes = new Array<number>(k).fill(0);
  for (let i = 0; i < n; i++) sizes[labels[i] as number] = (sizes[labels[i] as number] as number) + 1;
  const bySize = Array.from({ length: k }, (_, j) => j).sort(
    (a, b) => (sizes[b] as number) - (sizes[a] as number) || a - b,
  );
  const z = bySize.map((j) => Array.from(fit.centers.subarray(j * d, (j + 1) * d)));
  const identity = assignIds(z, names, means, stds, previous, opts.maxMatchDistance);
  const original = z.map((row) => toOriginal(row, means, stds));
  const words = describeClusters(names, z, original);

  const byId = bySize
    .map((_, r) => r)
    .sort((a, b) => compareIds(identity.ids[a] as string, identity.ids[b] as string));
  const position = new Int32Array(k);
  byId.forEach((r, out) => {
    position[bySize[r] as number] = out;
  });
  const assignment = new Uint16Array(n);
  for (let i = 0; i < n; i++) assignment[i] = position[labels[i] as number] as number;

  return {
    model: {
      k,
      inertia: fit.inertia,
      featureNames: names,
      means,
      stds,
      centroids: byId.map((r) => original[r] as number[]),
      centroidsZ: byId.map((r) => z[r] as number[]),
      ids: byId.map((r) => identity.ids[r] as string),
      descriptions: byId.map((r) => words[r] as string),
      sizes: byId.map((r) => sizes[bySize[r] as number] as number),
      silhouettes,
      iterations: fit.iterations,
      converged: fit.converged,
      retiredIds: identity.retired,
      nextId: identity.nextId,
    },
    assignment,
  };
}

/** `cluster:c2` before `cluster:c10`; ids without a number after the numbered ones, alphabetically. */
function compareIds(a: string, b: string): number {
  const na = /^cluster:c(\d+)$/.exec(a);
  const nb = /^cluster:c(\d+)$/.exec(b);
  if (na && nb) return Number(na[1]) - Number(nb[1]);
  if (na) return -1;
  if (nb) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}
