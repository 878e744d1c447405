/**
 * Benchmark of behavioural clustering: k-means on n deterministic synthetic customers (default 1 M, the four
 * customer features, fixed k = 8), reporting seconds and inertia (z-units) of `clusterCustomers`, and the same
 * for `ml-kmeans` (k-means++, one run) on a smaller n as a baseline, alongside ours on that n for the ratio.
 *
 *   npx tsx scripts/bench-kmeans.ts [--n 1000000] [--k 8] [--baseline-n 100000] [--repeat 3] [--seed 7]
 *
 * Inertia of either method is recomputed here by a plain nearest-centre loop over the standardized rows, so
 * both are measured the same way.
 */
import { parseArgs } from "node:util";
import { kmeans } from "ml-kmeans";
import { clusterCustomers, customerFeatures } from "../shared/engine/kmeans";
import { syntheticCustomers } from "../shared/engine/kmeans/synthetic";

const { values } = parseArgs({
  options: {
    n: { type: "string", default: "1000000" },
    k: { type: "string", default: "8" },
    "baseline-n": { type: "string", default: "100000" },
    repeat: { type: "string", default: "3" },
    seed: { type: "string", default: "7" },
  },
});
const n = Number(values.n);
const k = Number(values.k);
const baselineN = Number(values["baseline-n"]);
const repeat = Number(values.repeat);
const dataSeed = Number(values.seed);

/** Row-major z-scores, computed independently of the module (population standard deviation). */
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

function seconds(start: number): number {
  return (performance.now() - start) / 1000;
}

function runOurs(rows: number, label: string): { seconds: number; inertia: number } {
  const features = customerFeatures(syntheticCustomers(rows, dataSeed));
  const columns = Object.values(features);
  const z = zScores(columns, rows);
  let best = { seconds: Number.POSITIVE_INFINITY, inertia: Number.NaN };
  for (let r = 0; r < repeat; r++) {
    const start = performance.now();
    const { model } = clusterCustomers(features, { k, seed: r + 1 });
    const took = seconds(start);
    const inertia = nearestInertia(z, columns.length, model.centroidsZ);
    console.log(
      `${label} run ${r + 1}: ${took.toFixed(3)} s, inertia ${inertia.toFixed(1)} (model ${model.inertia.toFixed(1)}),` +
        ` ${model.iterations} final passes`,
    );
    if (took < best.seconds) best = { seconds: took, inertia };
  }
  return best;
}

console.log(`clusterCustomers, n = ${n}, k = ${k}, 4 features, best of ${repeat}`);
const ours = runOurs(n, "ours");

console.log(`\nbaseline n = ${baselineN}`);
const small = runOurs(baselineN, "ours");
const features = customerFeatures(syntheticCustomers(baselineN, dataSeed));
const columns = Object.values(features);
const z = zScores(columns, baselineN);
const points: number[][] = [];
for (let i = 0; i < baselineN; i++)
  points.push(Array.from(z.subarray(i * columns.length, (i + 1) * columns.length)));
const start = performance.now();
const reference = kmeans(points, k, { initialization: "kmeans++", seed: 1, maxIterations: 300 });
const refSeconds = seconds(start);
const refInertia = nearestInertia(z, columns.length, reference.centroids);
console.log(
  `ml-kmeans (k-means++, 1 run): ${refSeconds.toFixed(3)} s, inertia ${refInertia.toFixed(1)}, ${reference.iterations} iterations`,
);

console.log("\nsummary");
console.log(`  ours ${n} rows: ${ours.seconds.toFixed(3)} s, inertia ${ours.inertia.toFixed(1)}`);
console.log(`  ours ${baselineN} rows: ${small.seconds.toFixed(3)} s, inertia ${small.inertia.toFixed(1)}`);
console.log(
  `  ml-kmeans ${baselineN} rows: ${refSeconds.toFixed(3)} s (${(refSeconds / small.seconds).toFixed(1)}x ours),` +
    ` inertia ${refInertia.toFixed(1)} (${(refInertia / small.inertia).toFixed(5)}× ours)`,
);
console.log(
  `  peak resident memory of this process: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`,
);
