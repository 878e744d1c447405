/**
 * Benchmark of choosing k: the engine's k-means on the cluster features of every customer of the synthetic
 * files (./generate.ts), with k chosen in 3–8 by silhouette the default way ("fast") and the reference way that
 * fits every candidate on every fitting sample (as the engine did before), and with k fixed at the chosen k.
 * The time k selection costs is the automatic run's time minus the fixed-k run's, since for the chosen k both
 * fit the same model. Each configuration runs `--repeat` times, interleaved, in this one process; the best and
 * the median are reported, of the wall time and of the process's CPU time (user + system, all threads; on a
 * busy machine the CPU time is the steadier figure of the work done). The one-thread configurations run with
 * `threads: 1`; the same fast selection and fixed k run again on every core (os.availableParallelism(); the
 * fitting threads load a bundle of kmeans/worker.ts, as a bundled CLI or function loads its own bundle), and
 * their k selection is the difference of those two. The run fails (exit 1) if the ways differ in k,
 * silhouettes, model or assignment for any size and seed, threaded or not.
 *
 *   npm run bench -- --k-selection [--sizes 100k,1m] [--seeds 1] [--repeat 3] [--out-dir bench-out]
 */
import { createReadStream, statSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { isDeepStrictEqual } from "node:util";
import { build } from "esbuild";
import { AggregateState, computeSegments, ingestTransactions } from "../../shared/engine";
import {
  type ClusteringResult,
  clusterCustomers,
  customerFeatures,
  type FitThreadStats,
  type KMeansOptions,
} from "../../shared/engine/kmeans";
import { checkOrExit, parseOrExit, size, wholeNumber } from "../cli";
import { DEFAULT_SPEC, syntheticFile } from "./generate";

const CLI = {
  name: "bench --k-selection",
  usage: `usage: npm run bench -- --k-selection [--sizes 100k,1m] [--seeds 1] [--repeat 3] [--out-dir bench-out]
  --sizes    customers per synthetic file (default 100k,1m)
  --seeds    clustering seeds, each checked and timed (default 1)
  --repeat   runs of each configuration, interleaved (default 3)
  --out-dir  where the files and k-selection.json go (default bench-out)
`,
  options: {
    sizes: { type: "string", default: "100k,1m" },
    seeds: { type: "string", default: "1" },
    repeat: { type: "string", default: "3" },
    "out-dir": { type: "string", default: "bench-out" },
  },
} as const;

const { values } = parseOrExit(CLI);
const { sizes, seeds, repeat } = checkOrExit(CLI, () => ({
  sizes: values.sizes.split(",").map((text) => size("sizes", text)),
  seeds: values.seeds.split(",").map((text) => wholeNumber("seeds", text, 0, 2 ** 32 - 1)),
  repeat: wholeNumber("repeat", values.repeat, 1, 100),
}));
const outDir = values["out-dir"];
const threads = availableParallelism();
// The fitting threads run a bundle, as in the CLI and the Lambda functions (a source run would load tsx).
const workerFile = join(outDir, "dist-kmeans", "worker.mjs");
await build({
  entryPoints: [join(import.meta.dirname, "../../shared/engine/kmeans/worker.ts")],
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  outfile: workerFile,
  logLevel: "warning",
});
const workerUrl = pathToFileURL(resolve(workerFile));

/** The day after the synthetic files' last order (2024-12-30). */
const AS_OF = "2024-12-31";

async function featuresOf(customers: number) {
  const file = syntheticFile(outDir, { ...DEFAULT_SPEC, customers });
  const state = new AggregateState();
  await ingestTransactions(
    createReadStream(file.path, { highWaterMark: 1 << 20 }),
    { format: "csv", compression: "auto", expectedOrders: statSync(file.path).size / 40 },
    state,
  );
  const { columns } = computeSegments(state, { asOf: AS_OF, clusters: false, value: false });
  return { file: file.path, features: customerFeatures(columns) };
}

function summary(times: number[]) {
  const sorted = [...times].sort((a, b) => a - b);
  return { best: sorted[0] as number, median: sorted[Math.floor((sorted.length - 1) / 2)] as number };
}

const seconds = (x: number) => `${x.toFixed(3)} s`;

const loadAtStart = loadavg();
console.error(`load average at start ${loadAtStart.map((x) => x.toFixed(2)).join(" ")}`);
const results: Record<string, unknown>[] = [];
let failed = false;
for (const customers of sizes) {
  const { file, features } = await featuresOf(customers);
  for (const seed of seeds) {
    const cpu = {
      fast: [] as number[],
      reference: [] as number[],
      fixed: [] as number[],
      fastThreads: [] as number[],
      fixedThreads: [] as number[],
    };
    const timed = (options: Parameters<typeof clusterCustomers>[1], config: keyof typeof cpu) => {
      const t = performance.now();
      const c = process.cpuUsage();
      const result = clusterCustomers(features, options);
      const used = process.cpuUsage(c);
      cpu[config].push((used.user + used.system) / 1e6);
      return { result, seconds: (performance.now() - t) / 1000 };
    };
    const runs = {
      fast: [] as number[],
      reference: [] as number[],
      fixed: [] as number[],
      fastThreads: [] as number[],
      fixedThreads: [] as number[],
    };
    const fitStats: FitThreadStats[] = [];
    const onThreads = (): KMeansOptions => {
      const stats = { helpers: 0, fitsOnHelpers: 0, fitsOnCaller: 0 };
      fitStats.push(stats);
      return { threads, fitThreads: { workerUrl, stats } };
    };
    let fast: ClusteringResult | undefined;
    let reference: ClusteringResult | undefined;
    let fastThreads: ClusteringResult | undefined;
    let fixedThreads: ClusteringResult | undefined;
    let fixed: ClusteringResult | undefined;
    const configs = ["fast", "reference", "fixed", "fastThreads", "fixedThreads"] as const;
    for (let r = 0; r < repeat; r++) {
      // Rotating the order spreads warm-up and the machine's moods over all of them.
      const order = configs.map((_, i, all) => all[(i + r) % all.length] as keyof typeof runs);
      for (const config of order) {
        const k = (fast ?? reference ?? fastThreads)?.model.k;
        if (config === "fixed" || config === "fixedThreads") {
          if (k === undefined) continue;
          const threaded = config === "fixedThreads";
          const run = timed({ seed, k, ...(threaded ? onThreads() : { threads: 1 }) }, config);
          runs[config].push(run.seconds);
          if (threaded) fixedThreads = run.result;
          else fixed = run.result;
        } else if (config === "fastThreads") {
          const run = timed({ seed, ...onThreads() }, config);
          runs[config].push(run.seconds);
          fastThreads = run.result;
        } else {
          const run = timed({ seed, kSelection: config, threads: 1 }, config);
          runs[config].push(run.seconds);
          if (config === "fast") fast = run.result;
          else reference = run.result;
        }
      }
    }
    if (fast === undefined || reference === undefined || fastThreads === undefined) throw new Error("no run");
    // The fixed-k runs that came before the first automatic one had no k yet: fill up to `repeat`.
    while (runs.fixed.length < repeat) {
      const run = timed({ seed, k: fast.model.k, threads: 1 }, "fixed");
      fixed = run.result;
      runs.fixed.push(run.seconds);
    }
    while (runs.fixedThreads.length < repeat) {
      const run = timed({ seed, k: fast.model.k, ...onThreads() }, "fixedThreads");
      fixedThreads = run.result;
      runs.fixedThreads.push(run.seconds);
    }
    const same = isDeepStrictEqual(fast, reference) && isDeepStrictEqual(fast, fastThreads);
    const sameFixed = isDeepStrictEqual(fixed, fixedThreads);
    if (!same || !sameFixed) failed = true;
    const time = {
      fast: summary(runs.fast),
      reference: summary(runs.reference),
      fixed: summary(runs.fixed),
      fastThreads: summary(runs.fastThreads),
      fixedThreads: summary(runs.fixedThreads),
    };
    const selection = {
      fast: time.fast.best - time.fixed.best,
      reference: time.reference.best - time.fixed.best,
      threads: time.fastThreads.best - time.fixedThreads.best,
    };
    const cpuTime = {
      fast: summary(cpu.fast),
      reference: summary(cpu.reference),
      fixed: summary(cpu.fixed),
      fastThreads: summary(cpu.fastThreads),
      fixedThreads: summary(cpu.fixedThreads),
    };
    const cpuSelection = {
      fast: cpuTime.fast.best - cpuTime.fixed.best,
      reference: cpuTime.reference.best - cpuTime.fixed.best,
      threads: cpuTime.fastThreads.best - cpuTime.fixedThreads.best,
    };
    const row = {
      customers,
      file,
      seed,
      k: { fast: fast.model.k, reference: reference.model.k, threads: fastThreads.model.k },
      silhouettes: fast.model.silhouettes,
      identical: same,
      identicalFixed: sameFixed,
      threads,
      fitThreads: fitStats,
      seconds: time,
      kSelectionSeconds: { ...selection, ratio: selection.fast / selection.reference },
      cpuSeconds: cpuTime,
      kSelectionCpuSeconds: { ...cpuSelection, ratio: cpuSelection.fast / cpuSelection.reference },
      runs,
      cpu,
    };
    results.push(row);
    console.log(
      `${customers.toLocaleString("en-US")} customers, seed ${seed}: k ${fast.model.k} (reference ${reference.model.k}), ` +
        `same result: ${same ? "yes" : "NO"}; whole clustering best of ${repeat}: fast ${seconds(time.fast.best)}, ` +
        `reference ${seconds(time.reference.best)}, k fixed ${seconds(time.fixed.best)}; k selection: fast ` +
        `${seconds(selection.fast)}, reference ${seconds(selection.reference)} (${(selection.fast / selection.reference).toFixed(2)}×)`,
    );
    const helped = fitStats.reduce((sum, stats) => sum + stats.fitsOnHelpers, 0);
    const all = fitStats.reduce((sum, stats) => sum + stats.fitsOnHelpers + stats.fitsOnCaller, 0);
    console.log(
      `  on ${threads} threads (same result: ${same && sameFixed ? "yes" : "NO"}; ${helped} of ${all} fits on helpers): ` +
        `whole clustering best of ${repeat}: fast ${seconds(time.fastThreads.best)}, k fixed ${seconds(time.fixedThreads.best)}; ` +
        `k selection ${seconds(selection.threads)} wall (one thread: ${seconds(selection.fast)}); CPU, all threads: ` +
        `fast ${seconds(cpuTime.fastThreads.best)}, k fixed ${seconds(cpuTime.fixedThreads.best)}, k selection ${seconds(cpuSelection.threads)}`,
    );
    console.log(
      `  CPU time, best of ${repeat}: fast ${seconds(cpuTime.fast.best)}, reference ${seconds(cpuTime.reference.best)}, ` +
        `k fixed ${seconds(cpuTime.fixed.best)}; k selection: fast ${seconds(cpuSelection.fast)}, reference ` +
        `${seconds(cpuSelection.reference)} (${(cpuSelection.fast / cpuSelection.reference).toFixed(2)}×)`,
    );
  }
}
const loadAtEnd = loadavg();
console.error(`load average at end ${loadAtEnd.map((x) => x.toFixed(2)).join(" ")}`);
writeFileSync(
  join(outDir, "k-selection.json"),
  `${JSON.stringify({ date: new Date().toISOString(), loadAtStart, loadAtEnd, repeat, results }, null, 2)}\n`,
);
if (failed) {
  console.error("bench --k-selection: the fast and reference selections differ");
  process.exitCode = 1;
}
