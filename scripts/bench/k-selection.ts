/**
 * Benchmark of choosing k: the engine's k-means on the cluster features of every customer of the synthetic
 * files (./generate.ts), with k chosen in 3–8 by silhouette the default way ("fast") and the reference way that
 * fits every candidate on every fitting sample (as the engine did before), and with k fixed at the chosen k.
 * The time k selection costs is the automatic run's time minus the fixed-k run's, since for the chosen k both
 * fit the same model. Each configuration runs `--repeat` times, interleaved, in this one process; the best and
 * the median are reported, of the wall time and of the process's CPU time (user + system; the engine runs on
 * one thread, so on a busy machine the CPU time is the steadier figure of the work done). The run fails (exit 1) if the two ways differ in k, silhouettes, model or
 * assignment for any size and seed.
 *
 *   npm run bench -- --k-selection [--sizes 100k,1m] [--seeds 1] [--repeat 3] [--out-dir bench-out]
 */
import { createReadStream, statSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { AggregateState, computeSegments, ingestTransactions } from "../../shared/engine";
import { type ClusteringResult, clusterCustomers, customerFeatures } from "../../shared/engine/kmeans";
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
    const cpu = { fast: [] as number[], reference: [] as number[], fixed: [] as number[] };
    const timed = (options: Parameters<typeof clusterCustomers>[1], config: keyof typeof cpu) => {
      const t = performance.now();
      const c = process.cpuUsage();
      const result = clusterCustomers(features, options);
      const used = process.cpuUsage(c);
      cpu[config].push((used.user + used.system) / 1e6);
      return { result, seconds: (performance.now() - t) / 1000 };
    };
    const runs = { fast: [] as number[], reference: [] as number[], fixed: [] as number[] };
    let fast: ClusteringResult | undefined;
    let reference: ClusteringResult | undefined;
    for (let r = 0; r < repeat; r++) {
      // Rotating the order spreads warm-up and the machine's moods over all three.
      const order = (["fast", "reference", "fixed"] as const).map(
        (_, i, all) => all[(i + r) % 3] as keyof typeof runs,
      );
      for (const config of order) {
        if (config === "fixed") {
          const k = (fast ?? reference)?.model.k;
          if (k === undefined) continue;
          runs.fixed.push(timed({ seed, k }, "fixed").seconds);
        } else {
          const run = timed({ seed, kSelection: config }, config);
          runs[config].push(run.seconds);
          if (config === "fast") fast = run.result;
          else reference = run.result;
        }
      }
    }
    if (fast === undefined || reference === undefined) throw new Error("no run");
    // The fixed-k runs that came before the first automatic one had no k yet: fill up to `repeat`.
    while (runs.fixed.length < repeat) runs.fixed.push(timed({ seed, k: fast.model.k }, "fixed").seconds);
    const same = isDeepStrictEqual(fast, reference);
    if (!same) failed = true;
    const time = { fast: summary(runs.fast), reference: summary(runs.reference), fixed: summary(runs.fixed) };
    const selection = {
      fast: time.fast.best - time.fixed.best,
      reference: time.reference.best - time.fixed.best,
    };
    const cpuTime = { fast: summary(cpu.fast), reference: summary(cpu.reference), fixed: summary(cpu.fixed) };
    const cpuSelection = {
      fast: cpuTime.fast.best - cpuTime.fixed.best,
      reference: cpuTime.reference.best - cpuTime.fixed.best,
    };
    const row = {
      customers,
      file,
      seed,
      k: { fast: fast.model.k, reference: reference.model.k },
      silhouettes: fast.model.silhouettes,
      identical: same,
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
