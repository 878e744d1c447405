/**
 * One measured configuration of the benchmark, run in a child process of its own so that its peak memory
 * (`process.resourceUsage().maxRSS`) is its own. The configuration is a JSON argument; the result is one JSON
 * line on stdout.
 *
 *   node bench-out/dist/worker.mjs '{"mode":"compute","file":"…","asOf":"2024-12-31","clusters":false,"value":false}'
 *
 * Modes:
 * - `idle`: nothing (the resident memory of Node itself);
 * - `aggregate`: read + aggregate only;
 * - `compute`: read + aggregate, then computeSegments with the given clusters/value settings;
 * - `baseline`: the csv-parse + Map implementation (./baseline.ts), writing its per-customer RFM to `out`;
 * - `kmeans`: read + aggregate + RFM, then the engine's k-means on the customers' features with a fixed k,
 *   timed on its own, its inertia recomputed here, optionally ml-kmeans on the same z-scores (k-means++, best
 *   of `restarts`), and the z-scores written to `zFile` for an external reference (scikit-learn).
 */
import { createReadStream, statSync, writeFileSync } from "node:fs";
import { isMainThread } from "node:worker_threads";
import { kmeans as mlKmeans } from "ml-kmeans";
import {
  AggregateState,
  type ComputeSettings,
  computeSegments,
  ingestTransactions,
} from "../../shared/engine";
import { clusterCustomers, customerFeatures } from "../../shared/engine/kmeans";
import { baselineRfm } from "./baseline";

export type WorkerConfig =
  | { mode: "idle" }
  | { mode: "aggregate"; file: string }
  | { mode: "compute"; file: string; asOf: string; clusters: ComputeSettings["clusters"]; value: boolean }
  | { mode: "baseline"; file: string; asOf: string; out: string }
  | {
      mode: "kmeans";
      file: string;
      asOf: string;
      k: number;
      seed: number;
      /** ml-kmeans restarts on the same data; 0 skips it. */
      restarts: number;
      zFile?: string;
    };

export interface WorkerOutput {
  mode: WorkerConfig["mode"];
  /** Peak resident memory of this process, MB. */
  maxRssMB: number;
  /** Resident memory when the configuration started (Node and the loaded code), MB. */
  startRssMB: number;
  /** CPU time of the process, user + system, every thread (s). */
  cpuSeconds?: number;
  [key: string]: unknown;
}

const startRss = process.memoryUsage.rss();

async function ingest(file: string) {
  const state = new AggregateState();
  let rejected = 0;
  const t = performance.now();
  const report = await ingestTransactions(
    createReadStream(file, { highWaterMark: 1 << 20 }),
    {
      format: "csv",
      compression: "auto",
      expectedOrders: statSync(file).size / 40,
      onRowError: () => rejected++,
    },
    state,
  );
  return { state, report, seconds: (performance.now() - t) / 1000 };
}

/** Row-major z-scores with the population standard deviation, computed here independently of the engine. */
function zScores(columns: Float64Array[], rows: number): Float64Array {
  const d = columns.length;
  const out = new Float64Array(rows * d);
  columns.forEach((col, f) => {
    let mean = 0;
    for (let i = 0; i < rows; i++) mean += col[i] as number;
    mean /= rows;
    let variance = 0;
    for (let i = 0; i < rows; i++) variance += ((col[i] as number) - mean) ** 2;
    const sd = Math.sqrt(variance / rows) || 1;
    for (let i = 0; i < rows; i++) out[i * d + f] = ((col[i] as number) - mean) / sd;
  });
  return out;
}

/** Sum over rows of the squared distance to the nearest centre. */
function nearestInertia(z: Float64Array, d: number, centres: readonly (readonly number[])[]): number {
  let total = 0;
  for (let p = 0; p < z.length; p += d) {
    let best = Number.POSITIVE_INFINITY;
    for (const c of centres) {
      let s = 0;
      for (let f = 0; f < d; f++) s += ((z[p + f] as number) - (c[f] as number)) ** 2;
      if (s < best) best = s;
    }
    total += best;
  }
  return total;
}

async function runConfig(config: WorkerConfig): Promise<Record<string, unknown>> {
  switch (config.mode) {
    case "idle":
      return {};
    case "aggregate": {
      const { state, report, seconds } = await ingest(config.file);
      return {
        seconds: { readAggregate: seconds },
        report,
        customers: state.customerCount,
        orders: state.orderCount,
      };
    }
    case "compute": {
      const { state, report, seconds } = await ingest(config.file);
      const t = performance.now();
      const result = computeSegments(state, {
        asOf: config.asOf,
        clusters: config.clusters,
        value: config.value ? {} : false,
      });
      const computeSeconds = (performance.now() - t) / 1000;
      const timings: Record<string, number> = {};
      for (const [stage, ms] of Object.entries(result.timings)) timings[stage] = ms / 1000;
      return {
        seconds: { readAggregate: seconds, compute: computeSeconds, ...timings },
        report,
        customers: result.customerCount,
        orders: state.orderCount,
        clusters: result.clusters ? { k: result.clusters.k, inertia: result.clusters.inertia } : null,
        value: result.value ?? null,
        issues: result.issues,
      };
    }
    case "baseline":
      return { ...(await baselineRfm(config.file, config.asOf, config.out)) };
    case "kmeans": {
      const { state, seconds } = await ingest(config.file);
      const result = computeSegments(state, { asOf: config.asOf, clusters: false, value: false });
      const c = result.columns;
      const features = customerFeatures({
        frequency: c.frequency,
        monetary: c.monetary,
        recencyDays: c.recencyDays,
      });
      const t = performance.now();
      const { model } = clusterCustomers(features, { k: config.k, seed: config.seed });
      const engineSeconds = (performance.now() - t) / 1000;
      const columns = Object.values(features);
      const n = result.customerCount;
      const z = zScores(columns, n);
      const engine = {
        seconds: engineSeconds,
        inertia: nearestInertia(z, columns.length, model.centroidsZ),
        modelInertia: model.inertia,
        iterations: model.iterations,
        centroidsZ: model.centroidsZ,
      };
      if (config.zFile !== undefined) {
        writeFileSync(config.zFile, new Uint8Array(z.buffer, z.byteOffset, z.byteLength));
      }
      let reference: Record<string, unknown> | null = null;
      if (config.restarts > 0) {
        const points: number[][] = [];
        for (let i = 0; i < n; i++)
          points.push(Array.from(z.subarray(i * columns.length, (i + 1) * columns.length)));
        let best = Number.POSITIVE_INFINITY;
        const t0 = performance.now();
        for (let r = 0; r < config.restarts; r++) {
          const fit = mlKmeans(points, config.k, {
            initialization: "kmeans++",
            seed: r + 1,
            maxIterations: 300,
          });
          best = Math.min(best, nearestInertia(z, columns.length, fit.centroids));
        }
        reference = {
          method: `ml-kmeans 7, k-means++ seeding, best of ${config.restarts} seeds, up to 300 iterations`,
          seconds: (performance.now() - t0) / 1000,
          restarts: config.restarts,
          inertia: best,
        };
      }
      return {
        seconds: { readAggregate: seconds },
        customers: n,
        features: Object.keys(features),
        engine,
        reference,
      };
    }
  }
}

async function workerMain(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? "{}") as WorkerConfig;
  const out = await runConfig(config);
  const usage = process.resourceUsage();
  const line: WorkerOutput = {
    mode: config.mode,
    ...out,
    maxRssMB: Math.round(usage.maxRSS / 1024),
    cpuSeconds: (usage.userCPUTime + usage.systemCPUTime) / 1e6,
    startRssMB: Math.round(startRss / 1048576),
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

// The engine's worker threads (the parallel read, k-means fits) load this bundle too: only the main thread runs.
if (isMainThread) {
  workerMain().catch((error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  });
}
