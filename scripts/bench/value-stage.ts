/**
 * The value stage's cost on the benchmark's synthetic data: computeSegments with value on and off (clusters
 * off) on one state, timed in wall seconds and in CPU seconds of this process (user + system), the second
 * being what a machine shared with other work distorts least. Prints one JSON line.
 *
 *   npx tsx scripts/bench/value-stage.ts [--customers 100k|1m] [--engine <path of shared/engine/index.ts>]
 *
 * `--engine` measures another checkout's engine (e.g. a `git worktree` of an earlier commit) on the same file.
 */
import { createReadStream } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { DEFAULT_SPEC, syntheticFile } from "./generate";

const { values } = parseArgs({
  options: {
    customers: { type: "string", default: "100k" },
    engine: { type: "string", default: resolve(import.meta.dirname, "../../shared/engine/index.ts") },
    "out-dir": { type: "string", default: "bench-out" },
  },
});
const customers =
  Number.parseFloat(values.customers) *
  (/m$/i.test(values.customers) ? 1e6 : /k$/i.test(values.customers) ? 1e3 : 1);
const data = syntheticFile(resolve(values["out-dir"]), { ...DEFAULT_SPEC, customers });
const engine = await import(values.engine);
const state = new engine.AggregateState();
await engine.ingestTransactions(createReadStream(data.path), { format: "csv" }, state);

function run(value: boolean) {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const result = engine.computeSegments(state, {
    asOf: data.asOf,
    clusters: false,
    value: value ? {} : false,
  });
  const cpu = process.cpuUsage(cpu0);
  return {
    cpu: (cpu.user + cpu.system) / 1e6,
    wall: (performance.now() - t0) / 1000,
    valueWall: result.timings.value / 1000,
    model: result.value?.selectedModel ?? (result.value ? "bgNbd" : undefined),
  };
}
run(false);
const off = run(false);
const on = run(true);
console.log(
  JSON.stringify({
    engine: values.engine,
    customers,
    valueWallSeconds: on.valueWall,
    valueCpuSeconds: Math.round((on.cpu - off.cpu) * 100) / 100,
    servedModel: on.model,
  }),
);
