/**
 * The sharded benchmark (`npm run bench -- --sharded`): the local sharded runner (scripts/shard/local.ts,
 * worker threads over a directory of intermediate files) on the large synthetic file, and, in the same run,
 * the single path (one process, read + aggregate + computeSegments) and the sharded path on a file the single
 * path handles, for the ratio and a check that both give the same result.
 *
 *   npm run bench -- --sharded [--customers 10m] [--single-size 1m] [--workers 2] [--range-mb 64] [--buckets 16]
 *
 * Every run is a child process of its own (bundled with esbuild, run by plain node), so its peak RSS is its
 * own; each worker thread reports its own peak V8 heap and external (typed array) memory.
 */
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { DEFAULT_SPEC, type SyntheticFile, syntheticFile } from "./generate";
import type { ShardChildConfig } from "./shard-child";
import type { WorkerOutput } from "./worker";

export interface ShardedBenchOptions {
  root: string;
  outDir: string;
  customers: number;
  singleSize: number;
  workers: number;
  rangeMB: number;
  buckets: number;
  k: number;
}

interface ShardOutput {
  seconds: Record<string, number>;
  report: { rowsRead: number; rowsAccepted: number; rowsRejected: number; ordersAdded: number };
  rowErrors: number;
  rebuilt: number[];
  customers: number;
  ranges: number;
  buckets: number;
  shuffleBytes: number;
  workers: { heapUsedMB: number; externalMB: number; totalMB: number }[];
  clusters: { k: number; inertia: number } | null;
  value: Record<string, unknown> | null;
  segments: { id: string; size: number; revenue: number }[];
  maxRssMB: number;
  loadAverage: { start: number[]; end: number[] };
}

function runJson<T>(args: string[]): Promise<{ out: T; wallSeconds: number }> {
  return new Promise((done, fail) => {
    const started = performance.now();
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => {
      stdout += s;
    });
    child.stderr.setEncoding("utf8").on("data", (s: string) => {
      stderr += s;
    });
    child.on("error", fail);
    child.on("close", (code) => {
      const wallSeconds = (performance.now() - started) / 1000;
      if (code !== 0) {
        fail(new Error(`${args[0]} exited with ${code}:\n${stderr}`));
        return;
      }
      try {
        done({ out: JSON.parse(stdout.trim().split("\n").pop() ?? "") as T, wallSeconds });
      } catch {
        fail(new Error(`no JSON result from ${args[0]}:\n${stdout}\n${stderr}`));
      }
    });
  });
}

const label = (n: number) => (n >= 1e6 ? `${n / 1e6} M` : `${n / 1e3} k`);
const fmt = (n: number, digits = 2) => n.toFixed(digits);
const rate = (rows: number, seconds: number) => `${fmt(rows / seconds / 1e6)} M`;

export async function shardedBench(o: ShardedBenchOptions): Promise<void> {
  const dist = join(o.outDir, "dist");
  console.error("bundling the engine, the sharded runner and its worker with esbuild");
  await build({
    entryPoints: {
      worker: join(o.root, "scripts/bench/worker.ts"),
      "shard-run": join(o.root, "scripts/bench/shard-child.ts"),
      "shard-worker": join(o.root, "scripts/shard/worker.ts"),
    },
    outdir: dist,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    banner: {
      js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
    },
    logLevel: "warning",
  });
  const machine = {
    nproc: availableParallelism(),
    cpu: cpus()[0]?.model ?? "unknown",
    memoryGB: Math.round(totalmem() / 1e9),
    node: process.version,
    loadAverageAtStart: loadavg(),
  };
  console.error(`machine: ${JSON.stringify(machine)}`);
  const data = (n: number): SyntheticFile => {
    console.error(`data: ${label(n)} customers (generated once, then cached in ${o.outDir})`);
    return syntheticFile(o.outDir, { ...DEFAULT_SPEC, customers: n });
  };
  const small = data(o.singleSize);
  const large = data(o.customers);
  const shard = async (file: SyntheticFile) => {
    const config: ShardChildConfig = {
      file: file.path,
      asOf: file.asOf,
      k: o.k,
      workers: o.workers,
      rangeBytes: o.rangeMB << 20,
      buckets: o.buckets,
    };
    console.error(`sharded: ${label(file.spec.customers)} customers, ${o.workers} workers`);
    return runJson<ShardOutput>([join(dist, "shard-run.mjs"), JSON.stringify(config)]);
  };

  console.error(`single path: ${label(small.spec.customers)} customers, one process`);
  const single = await runJson<WorkerOutput>([
    join(dist, "worker.mjs"),
    JSON.stringify({
      mode: "compute",
      file: small.path,
      asOf: small.asOf,
      clusters: { k: o.k },
      value: true,
    }),
  ]);
  const shardedSmall = await shard(small);
  const shardedLarge = o.customers === o.singleSize ? shardedSmall : await shard(large);

  const singleSeconds = single.wallSeconds;
  const s = single.out as WorkerOutput & {
    customers: number;
    clusters: { k: number; inertia: number } | null;
    value: unknown;
  };
  const same =
    s.customers === shardedSmall.out.customers &&
    JSON.stringify(s.clusters) === JSON.stringify(shardedSmall.out.clusters) &&
    JSON.stringify(s.value) === JSON.stringify(shardedSmall.out.value);

  const lines: string[] = [];
  const row = (name: string, file: SyntheticFile, r: { out: ShardOutput; wallSeconds: number }) => {
    const w = r.out.workers;
    const peak = Math.max(...w.map((m) => m.totalMB));
    lines.push(
      `| ${name} | ${label(file.spec.customers)} / ${fmt(file.rows / 1e6, 1)} M rows / ${fmt(file.bytes / 1e9)} GB | ${fmt(
        r.wallSeconds,
      )} | ${fmt(r.out.seconds.partition ?? 0)} | ${fmt(r.out.seconds.aggregate ?? 0)} | ${fmt(
        r.out.seconds.merge ?? 0,
      )} | ${rate(file.rows, r.wallSeconds)} | ${w.map((m) => `${m.totalMB} (${m.heapUsedMB} + ${m.externalMB})`).join(", ")} | ${r.out.maxRssMB} |`,
    );
    return peak;
  };
  lines.push(
    "| run | data | wall s | partition s | aggregate s | merge s | rows/s | peak per worker MB (heap + external) | peak RSS of the process MB |",
  );
  lines.push("|---|---|--:|--:|--:|--:|--:|---|--:|");
  lines.push(
    `| single path, one thread | ${label(small.spec.customers)} / ${fmt(small.rows / 1e6, 1)} M rows | ${fmt(
      singleSeconds,
    )} | | | | ${rate(small.rows, singleSeconds)} | — | ${s.maxRssMB} |`,
  );
  row(`sharded, ${o.workers} workers`, small, shardedSmall);
  const largePeak = row(`sharded, ${o.workers} workers`, large, shardedLarge);
  const ratio = singleSeconds / shardedSmall.wallSeconds;
  const scaled = (singleSeconds * large.rows) / small.rows;
  lines.push("");
  lines.push(
    `- Sharded vs single path at ${label(small.spec.customers)}: ${fmt(shardedSmall.wallSeconds)} s vs ${fmt(
      singleSeconds,
    )} s (**${fmt(ratio)}×**); results ${same ? "identical" : "DIFFERENT"} (customers, k-means inertia, value model).`,
  );
  lines.push(
    `- ${label(large.spec.customers)} customers: ${fmt(shardedLarge.wallSeconds)} s end to end (the single path's rate would take ~${fmt(
      scaled,
      0,
    )} s, if it fit in memory); ${shardedLarge.out.ranges} ranges × ${shardedLarge.out.buckets} buckets; shuffle ${fmt(
      shardedLarge.out.shuffleBytes / 1e9,
    )} GB; rebuilt buckets: ${shardedLarge.out.rebuilt.length}.`,
  );
  lines.push(
    `- Targets: ≤ 120 s ${shardedLarge.wallSeconds <= 120 ? "met" : "NOT met"}; peak per worker ≤ 1 GB ${
      largePeak <= 1024 ? "met" : "NOT met"
    } (${largePeak} MB).`,
  );
  lines.push(
    `- Load average at start ${machine.loadAverageAtStart.map((l) => fmt(l)).join(" ")}, at end ${loadavg()
      .map((l) => fmt(l))
      .join(" ")}.`,
  );
  console.log(lines.join("\n"));
  writeFileSync(
    join(o.outDir, "sharded-results.json"),
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        machine: { ...machine, loadAverageAtEnd: loadavg() },
        options: o,
        single: { file: small, wallSeconds: singleSeconds, out: single.out },
        shardedSmall: { file: small, ...shardedSmall },
        shardedLarge: { file: large, ...shardedLarge },
        identical: same,
      },
      null,
      2,
    )}\n`,
  );
  if (!same) process.exitCode = 1;
}
