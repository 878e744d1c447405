/**
 * The sharded benchmark (`npm run bench -- --sharded`): the local sharded runner (scripts/shard/local.ts,
 * worker threads passing their buffers in memory) on the large synthetic file, and, in the same run, the
 * single path (one process, read + aggregate + computeSegments) and the sharded path on a file the single
 * path handles, in interleaved rounds, for the ratio and a check that both give the same result. Each round
 * runs the sharded path twice on that file: with the merge's value stage on a thread of its own (the runner's
 * default) and in the merge's thread (the way before it, the baseline), whose results must be identical too.
 *
 *   npm run bench -- --sharded [--customers 10m] [--single-size 1m] [--workers 2] [--range-mb 64] [--buckets auto]
 *                              [--baseline-buckets 16|none] [--repeat 1] [--shuffle auto|memory|files]
 *
 * Buckets: "auto" lets the runner pick them from the upload's size (bucketsFor: one per 32 MB, at least 16).
 * On the large file the bench then also runs the sharded path with --baseline-buckets (16, the number before
 * the runner picked it), in the same process tree one after the other, and checks that both runs give the same
 * customers, k-means inertia, value model and segments.
 *
 * Every run is a child process of its own (bundled with esbuild, run by plain node), so its peak RSS and CPU
 * time are its own; each worker thread reports its own peak V8 heap and external (typed array) memory and its
 * busy time. Each row gives the load average before and after it: on a shared machine wall time follows the
 * load, CPU time and the worker threads' busy time much less.
 *
 * Every child (single path and sharded alike) runs with glibc's malloc asking for transparent huge pages for
 * its large blocks, as `npm run segment` runs the engine (GLIBC_TUNABLES=glibc.malloc.hugetlb=1,
 * ../glibc-tunables.ts; the kernel's THP mode "madvise" honours it): a run
 * maps some tens of GB afresh over its life (parts, order lists, buckets' states, partials, the merge's
 * columns), and on a virtual machine each first touch of a 4 KB page costs some 15 µs, about 3.5 s a GB,
 * against a tenth of that in 2 MB pages. An environment that sets GLIBC_TUNABLES (even empty, for glibc's
 * defaults: `GLIBC_TUNABLES= npm run bench -- --sharded`) is passed on as it is instead.
 */
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { glibcTunables } from "../glibc-tunables";
import type { ShuffleMode } from "../shard/local";
import { DEFAULT_SPEC, type SyntheticFile, syntheticFile } from "./generate";
import { median } from "./median";
import type { ShardChildConfig } from "./shard-child";
import type { WorkerOutput } from "./worker";

export interface ShardedBenchOptions {
  root: string;
  outDir: string;
  customers: number;
  singleSize: number;
  workers: number;
  rangeMB: number;
  /** Customer buckets; undefined: the runner's choice from the upload's size. */
  buckets?: number;
  /** Buckets of a second run on the large file, the baseline (undefined: none). */
  baselineBuckets?: number;
  k: number;
  /** Rounds of the single path and the sharded path on the small file, interleaved (default 1). */
  repeat?: number;
  /** How the runner passes the parts (scripts/shard/local.ts; default auto). */
  shuffle?: ShuffleMode;
}

/** The --shuffle option's value; throws naming the choices. */
export function shuffleMode(text: string): ShuffleMode {
  if (text === "auto" || text === "memory" || text === "files") return text;
  throw new Error("--shuffle must be auto, memory or files");
}

interface ShardOutput {
  seconds: Record<string, number>;
  cpuSeconds: number;
  taskSeconds: Record<string, number>;
  report: { rowsRead: number; rowsAccepted: number; rowsRejected: number; ordersAdded: number };
  rowErrors: number;
  rebuilt: number[];
  customers: number;
  ranges: number;
  buckets: number;
  shuffleBytes: number;
  shuffle: "memory" | "files";
  workers: { heapUsedMB: number; externalMB: number; totalMB: number }[];
  clusters: { k: number; inertia: number } | null;
  value: Record<string, unknown> | null;
  segments: { id: string; size: number; revenue: number }[];
  maxRssMB: number;
  loadAverage: { start: number[]; end: number[] };
}

/** glibc's tunables of the children: the engine's (../glibc-tunables.ts), unless the environment names some. */
export const CHILD_GLIBC_TUNABLES = glibcTunables();

function runJson<T>(args: string[]): Promise<{ out: T; wallSeconds: number }> {
  return new Promise((done, fail) => {
    const started = performance.now();
    const child = spawn(process.execPath, args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, GLIBC_TUNABLES: CHILD_GLIBC_TUNABLES },
    });
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
const load = (l: readonly number[]) => (l[0] ?? 0).toFixed(1);

type Timed<T> = { out: T; wallSeconds: number; load: { start: number[]; end: number[] } };

async function timed<T>(args: string[]): Promise<Timed<T>> {
  const start = loadavg();
  const r = await runJson<T>(args);
  return { ...r, load: { start, end: loadavg() } };
}

export async function shardedBench(o: ShardedBenchOptions): Promise<void> {
  const dist = join(o.outDir, "dist");
  const rounds = o.repeat ?? 1;
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
      // Under a name of its own: bundled modules import createRequire themselves.
      js: "import { createRequire as requireFromBanner } from 'node:module'; const require = requireFromBanner(import.meta.url);",
    },
    logLevel: "warning",
  });
  const machine = {
    nproc: availableParallelism(),
    cpu: cpus()[0]?.model ?? "unknown",
    memoryGB: Math.round(totalmem() / 1e9),
    node: process.version,
    loadAverageAtStart: loadavg(),
    glibcTunables: CHILD_GLIBC_TUNABLES,
  };
  console.error(`machine: ${JSON.stringify(machine)}`);
  const data = (n: number): SyntheticFile => {
    console.error(`data: ${label(n)} customers (generated once, then cached in ${o.outDir})`);
    return syntheticFile(o.outDir, { ...DEFAULT_SPEC, customers: n });
  };
  const small = data(o.singleSize);
  const large = data(o.customers);
  const shard = async (file: SyntheticFile, valueThread = true, buckets = o.buckets) => {
    const config: ShardChildConfig = {
      file: file.path,
      asOf: file.asOf,
      k: o.k,
      workers: o.workers,
      rangeBytes: o.rangeMB << 20,
      ...(buckets === undefined ? {} : { buckets }),
      shuffle: o.shuffle ?? "auto",
      valueThread,
    };
    console.error(
      `sharded: ${label(file.spec.customers)} customers, ${o.workers} workers, ${buckets ?? "auto"} buckets, value stage ${
        valueThread ? "on its own thread" : "in the merge's thread"
      }`,
    );
    return timed<ShardOutput>([join(dist, "shard-run.mjs"), JSON.stringify(config)]);
  };
  type SingleOutput = WorkerOutput & {
    customers: number;
    clusters: { k: number; inertia: number } | null;
    value: unknown;
  };
  const singleRun = () => {
    console.error(`single path: ${label(small.spec.customers)} customers, one process`);
    return timed<SingleOutput>([
      join(dist, "worker.mjs"),
      JSON.stringify({
        mode: "compute",
        file: small.path,
        asOf: small.asOf,
        clusters: { k: o.k },
        value: true,
      }),
    ]);
  };

  // Interleaved rounds on the small file, so that a change of load falls on both paths alike.
  const singles: Timed<SingleOutput>[] = [];
  const shardedSmalls: Timed<ShardOutput>[] = [];
  const valueInMerge: Timed<ShardOutput>[] = [];
  for (let round = 0; round < rounds; round++) {
    singles.push(await singleRun());
    valueInMerge.push(await shard(small, false));
    shardedSmalls.push(await shard(small));
  }
  const shardedLarge = o.customers === o.singleSize ? undefined : await shard(large);
  const baselineLarge =
    shardedLarge === undefined ||
    o.baselineBuckets === undefined ||
    o.baselineBuckets === shardedLarge.out.buckets
      ? undefined
      : await shard(large, true, o.baselineBuckets);
  const sameLarge =
    baselineLarge === undefined ||
    shardedLarge === undefined ||
    (baselineLarge.out.customers === shardedLarge.out.customers &&
      JSON.stringify(baselineLarge.out.clusters) === JSON.stringify(shardedLarge.out.clusters) &&
      JSON.stringify(baselineLarge.out.value) === JSON.stringify(shardedLarge.out.value) &&
      JSON.stringify(baselineLarge.out.segments) === JSON.stringify(shardedLarge.out.segments));

  const same = [...shardedSmalls, ...valueInMerge].every((sharded) =>
    singles.every(
      (single) =>
        single.out.customers === sharded.out.customers &&
        JSON.stringify(single.out.clusters) === JSON.stringify(sharded.out.clusters) &&
        JSON.stringify(single.out.value) === JSON.stringify(sharded.out.value),
    ),
  );

  const lines: string[] = [];
  const sec = (r: ShardOutput, key: string) => fmt(r.seconds[key] ?? 0);
  const shardRow = (name: string, file: SyntheticFile, r: Timed<ShardOutput>) => {
    const w = r.out.workers;
    const t = r.out.taskSeconds;
    lines.push(
      `| ${name} | ${label(file.spec.customers)} / ${fmt(file.rows / 1e6, 1)} M rows | ${fmt(r.wallSeconds)} | ${fmt(
        r.out.cpuSeconds,
      )} | ${sec(r.out, "partition")} | ${sec(r.out, "aggregate")} | ${sec(r.out, "check")} | ${sec(r.out, "merge")} (${sec(
        r.out,
        "mergeOnly",
      )} / ${sec(r.out, "clusters")} / ${sec(r.out, "value")}${
        r.out.seconds.valueThread === undefined ? "" : ` / ${sec(r.out, "valueThread")}`
      }) | ${r.out.shuffle} | ${fmt(t.partition ?? 0)} / ${fmt(t.aggregate ?? 0)} / ${fmt(
        t.check ?? 0,
      )} | ${rate(file.rows, r.wallSeconds)} | ${w.map((m) => `${m.totalMB} (${m.heapUsedMB} + ${m.externalMB})`).join(", ")} | ${
        r.out.maxRssMB
      } | ${load(r.load.start)} → ${load(r.load.end)} |`,
    );
    return Math.max(...w.map((m) => m.totalMB));
  };
  lines.push(
    "| run | data | wall s | CPU s | partition s | aggregate s | check s | merge s (put together / k-means / value [/ value thread]) | shuffle | worker busy s (partition / aggregate / check) | rows/s | peak per worker MB (heap + external) | peak RSS MB | load 1 min |",
  );
  lines.push("|---|---|--:|--:|--:|--:|--:|--:|---|--:|--:|---|--:|---|");
  for (let round = 0; round < rounds; round++) {
    const single = singles[round] as Timed<SingleOutput>;
    lines.push(
      `| round ${round + 1}: single path, one thread | ${label(small.spec.customers)} / ${fmt(small.rows / 1e6, 1)} M rows | ${fmt(
        single.wallSeconds,
      )} | ${fmt(single.out.cpuSeconds ?? 0)} | | | | | | | ${rate(small.rows, single.wallSeconds)} | — | ${
        single.out.maxRssMB
      } | ${load(single.load.start)} → ${load(single.load.end)} |`,
    );
    shardRow(
      `round ${round + 1}: sharded, ${o.workers} workers, value stage in the merge's thread (before)`,
      small,
      valueInMerge[round] as Timed<ShardOutput>,
    );
    shardRow(
      `round ${round + 1}: sharded, ${o.workers} workers`,
      small,
      shardedSmalls[round] as Timed<ShardOutput>,
    );
  }
  if (baselineLarge !== undefined) {
    shardRow(
      `sharded, ${o.workers} workers, ${baselineLarge.out.buckets} buckets (baseline)`,
      large,
      baselineLarge,
    );
  }
  const largePeak =
    shardedLarge === undefined
      ? Math.max(...shardedSmalls.flatMap((r) => r.out.workers.map((m) => m.totalMB)))
      : shardRow(`sharded, ${o.workers} workers, ${shardedLarge.out.buckets} buckets`, large, shardedLarge);
  const singleWall = median(singles.map((r) => r.wallSeconds));
  const shardedWall = median(shardedSmalls.map((r) => r.wallSeconds));
  const singleCpu = median(singles.map((r) => r.out.cpuSeconds ?? 0));
  const shardedCpu = median(shardedSmalls.map((r) => r.out.cpuSeconds));
  const beforeWall = median(valueInMerge.map((r) => r.wallSeconds));
  const beforeCpu = median(valueInMerge.map((r) => r.out.cpuSeconds));
  const mergeOf = (runs: Timed<ShardOutput>[]) => median(runs.map((r) => r.out.seconds.merge ?? 0));
  lines.push("");
  lines.push(
    `- Sharded vs single path at ${label(small.spec.customers)} (medians of ${rounds}): wall ${fmt(shardedWall)} s vs ${fmt(
      singleWall,
    )} s (**${fmt(singleWall / shardedWall)}×** the single path's speed), CPU ${fmt(shardedCpu)} s vs ${fmt(
      singleCpu,
    )} s; results ${same ? "identical" : "DIFFERENT"} (customers, k-means inertia, value model).`,
  );
  lines.push(
    `- The merge's value stage on a thread of its own vs in the merge's thread (medians of ${rounds}): wall ${fmt(
      shardedWall,
    )} s vs ${fmt(beforeWall)} s, merge ${fmt(mergeOf(shardedSmalls))} s vs ${fmt(mergeOf(valueInMerge))} s, CPU ${fmt(
      shardedCpu,
    )} s vs ${fmt(beforeCpu)} s.`,
  );
  const big = shardedLarge ?? (shardedSmalls[shardedSmalls.length - 1] as Timed<ShardOutput>);
  const bigFile = shardedLarge === undefined ? small : large;
  lines.push(
    `- ${label(bigFile.spec.customers)} customers: ${fmt(big.wallSeconds)} s end to end, ${fmt(big.out.cpuSeconds)} s of CPU (the single path's rate would take ~${fmt(
      (singleWall * bigFile.rows) / small.rows,
      0,
    )} s); ${big.out.ranges} ranges × ${big.out.buckets} buckets; shuffle ${fmt(
      big.out.shuffleBytes / 1e9,
    )} GB in memory; rebuilt buckets: ${big.out.rebuilt.length}.`,
  );
  if (baselineLarge !== undefined && shardedLarge !== undefined) {
    lines.push(
      `- ${label(large.spec.customers)} customers in ${shardedLarge.out.buckets} buckets vs ${baselineLarge.out.buckets}: wall ${fmt(
        shardedLarge.wallSeconds,
      )} s vs ${fmt(baselineLarge.wallSeconds)} s, CPU ${fmt(shardedLarge.out.cpuSeconds)} s vs ${fmt(
        baselineLarge.out.cpuSeconds,
      )} s; results ${sameLarge ? "identical" : "DIFFERENT"} (customers, k-means inertia, value model, segments).`,
    );
  }
  if (shardedLarge !== undefined) {
    lines.push(
      `- Targets: ≤ 120 s ${shardedLarge.wallSeconds <= 120 ? "met" : "NOT met"}; peak per worker ≤ 1 GB ${
        largePeak <= 1024 ? "met" : "NOT met"
      } (${largePeak} MB).`,
    );
  }
  lines.push(
    `- Load average (1 / 5 / 15 min) at start ${machine.loadAverageAtStart.map((l) => fmt(l)).join(" / ")}, at end ${loadavg()
      .map((l) => fmt(l))
      .join(" / ")}; every child ran with GLIBC_TUNABLES=${JSON.stringify(CHILD_GLIBC_TUNABLES)}.`,
  );
  console.log(lines.join("\n"));
  writeFileSync(
    join(o.outDir, "sharded-results.json"),
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        machine: { ...machine, loadAverageAtEnd: loadavg() },
        options: o,
        single: singles.map((r) => ({ file: small, ...r })),
        shardedSmall: shardedSmalls.map((r) => ({ file: small, ...r })),
        shardedLarge: shardedLarge === undefined ? null : { file: large, ...shardedLarge },
        baselineLarge: baselineLarge === undefined ? null : { file: large, ...baselineLarge },
        identical: same && sameLarge,
      },
      null,
      2,
    )}\n`,
  );
  if (!same || !sameLarge) process.exitCode = 1;
}
