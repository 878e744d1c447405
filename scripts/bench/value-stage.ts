/**
 * The value stage's cost on the benchmark's synthetic data: computeSegments with value on and off (clusters
 * off) on one state, timed in wall seconds and in CPU seconds of this process (user + system), the second
 * being what a machine shared with other work distorts least. Prints one JSON line per round and engine.
 *
 *   npx tsx scripts/bench/value-stage.ts [--customers 100k|1m] [--engine <path of shared/engine/index.ts>]
 *                                        [--before <path of another checkout's shared/engine/index.ts>]
 *                                        [--repeat <n>] [--value-thread]
 *
 * `--engine` measures another checkout's engine (e.g. a `git worktree` of an earlier commit) on the same file.
 * `--before` measures a second engine too, in alternating rounds on the same state (each engine reads the file
 * into a state of its own), and checks that both give the same value summary and prediction columns to the
 * byte. `--value-thread` runs the value stage on its own thread (computeSegments' valueThread option) in the
 * engine measured, for an engine that has it.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { loadavg } from "node:os";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { DEFAULT_SPEC, syntheticFile } from "./generate";

const { values } = parseArgs({
  options: {
    customers: { type: "string", default: "100k" },
    engine: { type: "string", default: resolve(import.meta.dirname, "../../shared/engine/index.ts") },
    before: { type: "string" },
    repeat: { type: "string", default: "1" },
    "value-thread": { type: "boolean", default: false },
    "out-dir": { type: "string", default: "bench-out" },
  },
});
const customers =
  Number.parseFloat(values.customers) *
  (/m$/i.test(values.customers) ? 1e6 : /k$/i.test(values.customers) ? 1e3 : 1);
const data = syntheticFile(resolve(values["out-dir"]), { ...DEFAULT_SPEC, customers });

// biome-ignore lint/suspicious/noExplicitAny: engines of other checkouts are loaded by path
type Engine = { path: string; module: any; state: unknown; thread: boolean };
async function load(path: string, thread: boolean): Promise<Engine> {
  const module = await import(path);
  const state = new module.AggregateState();
  await module.ingestTransactions(createReadStream(data.path), { format: "csv" }, state);
  return { path, module, state, thread };
}
const engines = [await load(values.engine, values["value-thread"])];
if (values.before !== undefined) engines.push(await load(values.before, false));

const predictionColumns = ["probabilityAlive", "expectedPurchases", "clv", "expectedPurchasesLow"];
function run(engine: Engine, value: boolean) {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const result = engine.module.computeSegments(
    engine.state,
    { asOf: data.asOf, clusters: false, value: value ? {} : false },
    ...(engine.thread ? [{ valueThread: true }] : []),
  );
  const cpu = process.cpuUsage(cpu0);
  const digest = createHash("sha256").update(JSON.stringify(result.value ?? null));
  for (const name of [...predictionColumns, "expectedPurchasesHigh", "clvLow", "clvHigh"]) {
    const column = result.columns[name] as Float64Array | undefined;
    if (column !== undefined)
      digest.update(new Uint8Array(column.buffer, column.byteOffset, column.byteLength));
  }
  return {
    cpu: (cpu.user + cpu.system) / 1e6,
    wall: (performance.now() - t0) / 1000,
    valueWall: result.timings.value / 1000,
    valueThread: result.timings.valueThread === undefined ? undefined : result.timings.valueThread / 1000,
    model: result.value?.selectedModel ?? (result.value ? "bgNbd" : undefined),
    digest: digest.digest("hex").slice(0, 16),
  };
}
for (const engine of engines) run(engine, false);
const digests = new Set<string>();
for (let round = 1; round <= Number(values.repeat); round++) {
  for (const engine of engines) {
    const off = run(engine, false);
    const on = run(engine, true);
    digests.add(on.digest);
    console.log(
      JSON.stringify({
        round,
        engine: engine.path,
        customers,
        loadAverage: Math.round((loadavg()[0] as number) * 10) / 10,
        valueWallSeconds: on.valueWall,
        ...(on.valueThread === undefined ? {} : { valueThreadSeconds: on.valueThread }),
        valueCpuSeconds: Math.round((on.cpu - off.cpu) * 100) / 100,
        servedModel: on.model,
        digest: on.digest,
      }),
    );
  }
}
if (digests.size !== 1) throw new Error(`the engines' value stages differ: ${[...digests].join(", ")}`);
