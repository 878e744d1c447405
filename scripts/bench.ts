/**
 * End-to-end benchmark of the engine on deterministic synthetic data (see scripts/bench/generate.ts), against
 * a straightforward csv-parse + Map implementation measured in the same run, and of its k-means against
 * scikit-learn (when `python3` has it) or ml-kmeans.
 *
 *   npm run bench [-- --sizes 100k,1m] [--quick] [--k 8] [--repeat 1] [--baseline-sizes 100k,1m]
 *                    [--ml-kmeans-restarts 3] [--out-dir bench-out] [--report <results.json>]
 *   npm run bench -- --lookups [...]  (bundles, cold start, warm lookups and writes: see scripts/bench/lookups.ts)
 *   npm run bench -- --dry-run [--customers 1m]  (dry runs over a stored version: see scripts/bench/dry-run.ts)
 *   npm run bench -- --k-selection [--sizes 100k,1m]  (choosing k, fast and reference: see scripts/bench/k-selection.ts)
 *   npm run bench -- --cli-startup [--size 100k]  (npm run segment's start-up: see scripts/bench/cli-startup.ts)
 *   npm run bench -- --overlap [--customers 1m] [--segments 30]  (overlap answers: see scripts/bench/overlap.ts)
 *   npm run bench -- --parallel-read [--size 1m] [--repeat 3]  (npm run segment on every core against DuckDB on
 *                    one thread: see scripts/bench/parallel-read.ts)
 *   npm run bench -- --sharded [--customers 10m] [--single-size 1m] [--workers 2] [--range-mb 64] [--buckets auto] [--baseline-buckets 16|none] [--repeat 1]
 *                    [--shuffle auto|memory|files]
 *                    (the sharded computation on worker threads: see scripts/bench/sharded.ts)
 *
 * Every measured configuration runs in a child process of its own (the engine bundled with esbuild and run by
 * plain `node`, as on Lambda), so each one's peak resident memory is its own: read + aggregate alone; + RFM and
 * lifecycle; + clusters; + value; the whole `segment` CLI run including writing its CSV; the baseline; and the
 * k-means comparison. Writes `<out-dir>/results.json` and prints tables; `--report` prints those of an earlier
 * run again. Exits 1 when the engine and the baseline disagree on any customer's RFM.
 */
import { spawn, spawnSync } from "node:child_process";
import { createReadStream, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { build } from "esbuild";
import { DEFAULT_SPEC, type SyntheticFile, syntheticFile } from "./bench/generate";
import type { WorkerConfig, WorkerOutput } from "./bench/worker";
import { checkOrExit, existingFile, parseOrExit, size, wholeNumber } from "./cli";

const ROOT = resolve(import.meta.dirname, "..");

// `npm run bench -- --lookups [its options]` runs the serving-side benchmarks (scripts/bench/lookups.ts).
if (process.argv.includes("--lookups")) {
  process.argv.splice(process.argv.indexOf("--lookups"), 1);
  await import("./bench/lookups");
  process.exit();
}
// `npm run bench -- --parallel-read [its options]` times the whole segment run against DuckDB (scripts/bench/parallel-read.ts).
if (process.argv.includes("--parallel-read")) {
  process.argv.splice(process.argv.indexOf("--parallel-read"), 1);
  await import("./bench/parallel-read");
  process.exit();
}
// `npm run bench -- --overlap [its options]` measures overlap answers at scale (scripts/bench/overlap.ts).
if (process.argv.includes("--overlap")) {
  process.argv.splice(process.argv.indexOf("--overlap"), 1);
  await import("./bench/overlap");
  process.exit();
}
// `npm run bench -- --k-selection [its options]` times choosing k, fast and reference (scripts/bench/k-selection.ts).
if (process.argv.includes("--k-selection")) {
  process.argv.splice(process.argv.indexOf("--k-selection"), 1);
  await import("./bench/k-selection");
  process.exit();
}
// `npm run bench -- --cli-startup [its options]` times the segment CLI's start-up (scripts/bench/cli-startup.ts).
if (process.argv.includes("--cli-startup")) {
  process.argv.splice(process.argv.indexOf("--cli-startup"), 1);
  await import("./bench/cli-startup");
  process.exit();
}
// `npm run bench -- --dry-run [its options]` measures dry runs at scale (scripts/bench/dry-run.ts).
if (process.argv.includes("--dry-run")) {
  process.argv.splice(process.argv.indexOf("--dry-run"), 1);
  await import("./bench/dry-run");
  process.exit();
}

const CLI = {
  name: "bench",
  usage: `usage: npm run bench -- [--sizes 100k,1m] [--quick] [--k 8] [--repeat 1] [--baseline-sizes 100k,1m]
                        [--ml-kmeans-restarts 3] [--out-dir bench-out] [--report <results.json>]
       npm run bench -- --lookups [its options: npm run bench:lookups -- --help]
       npm run bench -- --dry-run [--customers 1m] [--out-dir bench-out]
       npm run bench -- --k-selection [--sizes 100k,1m] [--seeds 1] [--repeat 3] [--out-dir bench-out]
       npm run bench -- --cli-startup [--size 100k] [--repeat 3] [--out-dir bench-out]
       npm run bench -- --parallel-read [--size 1m] [--repeat 3] [--k 8] [--out-dir bench-out]
       npm run bench -- --overlap [--customers 1m] [--segments 30]
       npm run bench -- --sharded [--customers 10m] [--single-size 1m] [--workers 2] [--range-mb 64] [--buckets auto] [--baseline-buckets 16|none] [--repeat 1]
                            [--shuffle auto|memory|files]
  --sizes               customers per measured file, e.g. 100k,1m (default 100k,1m); --quick is 100k
  --k                   clusters (default 8)
  --repeat              runs of each configuration, the best kept (default 1)
  --baseline-sizes      sizes the csv-parse + Map baseline runs on (default: all)
  --ml-kmeans-restarts  restarts of ml-kmeans when scikit-learn is absent (default 3)
  --out-dir             where files and results.json go (default bench-out)
  --report              print the tables of an earlier results.json again
`,
  options: {
    sizes: { type: "string", default: "100k,1m" },
    quick: { type: "boolean", default: false },
    k: { type: "string", default: "8" },
    repeat: { type: "string", default: "1" },
    "baseline-sizes": { type: "string" },
    "ml-kmeans-restarts": { type: "string", default: "3" },
    "out-dir": { type: "string", default: "bench-out" },
    report: { type: "string" },
    sharded: { type: "boolean", default: false },
    customers: { type: "string", default: "10m" },
    "single-size": { type: "string", default: "1m" },
    workers: { type: "string" },
    "range-mb": { type: "string", default: "64" },
    buckets: { type: "string", default: "auto" },
    "baseline-buckets": { type: "string", default: "16" },
    shuffle: { type: "string", default: "auto" },
  },
} as const;
const { values } = parseOrExit(CLI);
const parseSize = (text: string) => size("sizes", text);
const sizes = checkOrExit(CLI, () => (values.quick ? [100_000] : values.sizes.split(",").map(parseSize)));
const baselineSizes = new Set(
  checkOrExit(CLI, () =>
    values["baseline-sizes"] === undefined ? sizes : values["baseline-sizes"].split(",").map(parseSize),
  ),
);
const { k, repeat, mlRestarts } = checkOrExit(CLI, () => ({
  k: wholeNumber("k", values.k, 1, 64),
  repeat: wholeNumber("repeat", values.repeat, 1, 100),
  mlRestarts: wholeNumber("ml-kmeans-restarts", values["ml-kmeans-restarts"], 1, 100),
}));
if (values.report !== undefined) {
  const report = values.report;
  await existingFile(report, "report").catch((error: unknown) =>
    checkOrExit(CLI, () => {
      throw error;
    }),
  );
}
const outDir = resolve(values["out-dir"] as string);
const distDir = join(outDir, "dist");
mkdirSync(distDir, { recursive: true });

function label(n: number): string {
  return n >= 1e6 && n % 1e6 === 0 ? `${n / 1e6}m` : n >= 1e3 && n % 1e3 === 0 ? `${n / 1e3}k` : String(n);
}

// ---- child processes -------------------------------------------------------------------------------------

interface ChildResult<T> {
  out: T;
  wallSeconds: number;
}

/** Runs a command, echoes its stderr, and parses the last line of its stdout as JSON. */
function runChild<T>(command: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<ChildResult<T>> {
  return new Promise((done, fail) => {
    const started = performance.now();
    const child = spawn(command, args, {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
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
      const last = stdout.trim().split("\n").pop() ?? "";
      if (code !== 0) {
        fail(new Error(`${command} ${args.slice(0, 2).join(" ")} exited with ${code}:\n${stderr}`));
        return;
      }
      try {
        done({ out: JSON.parse(last) as T, wallSeconds });
      } catch {
        fail(new Error(`no JSON result from ${command} ${args[0]}:\n${stdout}\n${stderr}`));
      }
    });
  });
}

/** Seconds of a stage in a worker's output; NaN without an output. */
function stageSeconds(o: WorkerOutput | undefined, stage: string): number {
  if (o === undefined) return Number.NaN;
  return (o.seconds as Record<string, number> | undefined)?.[stage] ?? 0;
}

async function worker(config: WorkerConfig, nodeFlags: string[] = []): Promise<WorkerOutput> {
  return (
    await runChild<WorkerOutput>(process.execPath, [
      ...nodeFlags,
      join(distDir, "worker.mjs"),
      JSON.stringify(config),
    ])
  ).out;
}

/** Runs a configuration `repeat` times and keeps the fastest (by `pick`); memory is the highest seen. */
async function best(config: WorkerConfig, pick: (o: WorkerOutput) => number, nodeFlags: string[] = []) {
  let kept: WorkerOutput | undefined;
  let maxRss = 0;
  for (let r = 0; r < repeat; r++) {
    const out = await worker(config, nodeFlags);
    maxRss = Math.max(maxRss, out.maxRssMB);
    if (kept === undefined || pick(out) < pick(kept)) kept = out;
  }
  return { ...(kept as WorkerOutput), maxRssMB: maxRss };
}

// ---- comparison of the engine's per-customer CSV with the baseline's ------------------------------------

async function* lines(path: string): AsyncGenerator<string[]> {
  const reader = createInterface({ input: createReadStream(path), crlfDelay: Number.POSITIVE_INFINITY });
  let header = true;
  for await (const line of reader) {
    if (header) {
      header = false;
      continue;
    }
    // Synthetic ids and every other field are plain, so a split is a faithful CSV parse here.
    if (line !== "") yield line.split(",");
  }
}

interface Agreement {
  customers: number;
  baselineCustomers: number;
  mismatches: number;
  fields: string[];
  firstMismatches: string[];
}

async function compareRfm(enginePath: string, baselinePath: string): Promise<Agreement> {
  const expected = new Map<string, string>();
  for await (const f of lines(baselinePath)) {
    // customer_id,recency_days,frequency,monetary_cents,r,f,m,rfm_segment
    expected.set(f[0] as string, [f[1], f[2], f[3], f[4], f[5], f[6], f[7]].join(","));
  }
  let customers = 0;
  let mismatches = 0;
  const firstMismatches: string[] = [];
  for await (const f of lines(enginePath)) {
    // customer_id,first_purchase,recency_days,frequency,monetary,r,f,m,rfm_segment,…
    customers++;
    const cents = Math.round(Number(f[4]) * 100);
    const got = [f[2], f[3], cents, f[5], f[6], f[7], f[8]].join(",");
    const want = expected.get(f[0] as string);
    if (got !== want) {
      mismatches++;
      if (firstMismatches.length < 5) firstMismatches.push(`${f[0]}: engine ${got}, baseline ${want}`);
    }
    expected.delete(f[0] as string);
  }
  mismatches += expected.size;
  return {
    customers,
    baselineCustomers: customers + expected.size - 0,
    mismatches,
    fields: ["recency_days", "frequency", "monetary", "r", "f", "m", "rfm_segment"],
    firstMismatches,
  };
}

// ---- one size --------------------------------------------------------------------------------------------

interface SegmentSummary {
  rows: { read: number; accepted: number; rejected: number };
  customers: number;
  orders: number;
  seconds: Record<string, number>;
  peakMemoryMB: { maxRss: number; sampledRss: number };
  clusters: { k: number; inertia: number } | null;
  value: unknown;
}

/** The first Python that has scikit-learn (the system one may have it when a pyenv one on PATH does not). */
function pythonWithSklearn(): string | undefined {
  return ["python3", "/usr/bin/python3"].find(
    (python) => spawnSync(python, ["-c", "import sklearn, threadpoolctl"], { stdio: "ignore" }).status === 0,
  );
}

async function benchSize(n: number, python: string | undefined) {
  const tag = label(n);
  console.error(`\n== ${tag} customers`);
  const data: SyntheticFile = syntheticFile(outDir, { ...DEFAULT_SPEC, customers: n });
  console.error(
    `data ${data.path}: ${data.rows} rows, ${(data.bytes / 1e6).toFixed(0)} MB` +
      (data.cached ? " (cached)" : `, generated in ${data.generatedSeconds.toFixed(1)} s`),
  );
  const { path: file, asOf } = data;
  const secs = stageSeconds;

  console.error("read + aggregate");
  const aggregate = await best({ mode: "aggregate", file }, (o) => secs(o, "readAggregate"));
  console.error("+ RFM and lifecycle");
  const rfm = await best(
    { mode: "compute", file, asOf, clusters: false, value: false },
    (o) => secs(o, "readAggregate") + secs(o, "rfm"),
  );
  console.error(`+ clusters (k = ${k})`);
  const clusters = await best({ mode: "compute", file, asOf, clusters: { k, seed: 1 }, value: false }, (o) =>
    secs(o, "clusters"),
  );
  console.error("+ value");
  const value = await best({ mode: "compute", file, asOf, clusters: false, value: true }, (o) =>
    secs(o, "value"),
  );

  console.error("whole run: segment CLI");
  const segmentOut = join(outDir, `segments-${tag}.csv`);
  let whole: { summary: SegmentSummary; wallSeconds: number } | undefined;
  for (let r = 0; r < repeat; r++) {
    const run = await runChild<SegmentSummary>(process.execPath, [
      join(distDir, "segment.mjs"),
      file,
      "--out",
      segmentOut,
      "--as-of",
      asOf,
      "--k",
      String(k),
      "--seed",
      "1",
    ]);
    if (whole === undefined || (run.out.seconds.total as number) < (whole.summary.seconds.total as number)) {
      whole = { summary: run.out, wallSeconds: run.wallSeconds };
    }
  }

  let baseline: WorkerOutput | undefined;
  let agreement: Agreement | undefined;
  if (baselineSizes.has(n)) {
    console.error("baseline: csv-parse + Map of objects");
    const baselineOut = join(outDir, `baseline-${tag}.csv`);
    baseline = await best({ mode: "baseline", file, asOf, out: baselineOut }, (o) => secs(o, "total"), [
      "--max-old-space-size=16384",
    ]);
    agreement = await compareRfm(segmentOut, baselineOut);
    console.error(
      `agreement on RFM: ${agreement.customers - agreement.mismatches} of ${agreement.customers} customers` +
        (agreement.mismatches ? `; first: ${agreement.firstMismatches.join("; ")}` : ""),
    );
  }

  console.error("k-means comparison");
  const zFile = join(outDir, `z-${tag}.f64`);
  const kmeans = await worker({
    mode: "kmeans",
    file,
    asOf,
    k,
    seed: 1,
    // ml-kmeans on arrays of arrays is slow: one seed above 200 k customers.
    restarts: n <= 200_000 ? mlRestarts : Math.min(1, mlRestarts),
    zFile: python ? zFile : undefined,
  });
  let sklearn: Record<string, unknown> | null = null;
  if (python) {
    console.error("scikit-learn reference");
    const engine = kmeans.engine as { centroidsZ: number[][] };
    const centresFile = join(outDir, `engine-centres-${tag}.json`);
    writeFileSync(centresFile, JSON.stringify(engine.centroidsZ));
    sklearn = (
      await runChild<Record<string, unknown>>(
        python,
        [
          join(ROOT, "scripts/bench/sklearn_kmeans.py"),
          zFile,
          String((kmeans.features as string[]).length),
          String(k),
          centresFile,
        ],
        { OMP_NUM_THREADS: "1", OPENBLAS_NUM_THREADS: "1" },
      )
    ).out;
  }

  return { n, k, data, aggregate, rfm, clusters, value, whole, baseline, agreement, kmeans, sklearn };
}

type SizeResult = Awaited<ReturnType<typeof benchSize>>;

// ---- report ----------------------------------------------------------------------------------------------

interface StageRow {
  stage: string;
  /** Best (lowest) time over the processes that ran the stage, and the range over them. */
  seconds: number;
  range: [number, number];
  samples: number;
  rowsPerSecond: number;
  customersPerSecond: number;
  peakMB: number;
}

/**
 * Seconds of each engine stage in every process that ran it. Every engine configuration reads and aggregates
 * the same file and computes RFM and lifecycle, so those stages have five samples each; on a shared machine
 * the best of them is the figure least disturbed by other work.
 */
function stageSamples(r: SizeResult): Record<string, number[]> {
  const s = stageSeconds;
  const whole = r.whole?.summary.seconds ?? {};
  const engine = [r.rfm, r.clusters, r.value];
  return {
    readAggregate: [r.aggregate, ...engine]
      .map((o) => s(o, "readAggregate"))
      .concat(whole.readAggregate ?? []),
    rfm: engine.map((o) => s(o, "rfm")).concat(whole.rfm ?? []),
    lifecycle: engine.map((o) => s(o, "lifecycle")).concat(whole.lifecycle ?? []),
    clusters: [s(r.clusters, "clusters")].concat(whole.clusters ?? []),
    value: [s(r.value, "value")].concat(whole.value ?? []),
  };
}

function stageRows(r: SizeResult): StageRow[] {
  const rows = r.data.rows;
  const customers = r.whole?.summary.customers ?? r.n;
  const samples = stageSamples(r);
  const row = (stage: string, values: number[], peakMB: number): StageRow => {
    const seconds = Math.min(...values);
    return {
      stage,
      seconds,
      range: [seconds, Math.max(...values)],
      samples: values.length,
      rowsPerSecond: rows / seconds,
      customersPerSecond: customers / seconds,
      peakMB,
    };
  };
  const best = (name: string) => Math.min(...(samples[name] as number[]));
  const out = [
    row("read + aggregate", samples.readAggregate as number[], r.aggregate.maxRssMB),
    row("RFM scores + segments", samples.rfm as number[], r.rfm.maxRssMB),
    row(
      "read + aggregate + RFM (target ≤ 6 s at 1 M)",
      [best("readAggregate") + best("rfm")],
      r.rfm.maxRssMB,
    ),
    row("lifecycle", samples.lifecycle as number[], r.rfm.maxRssMB),
    row(`clusters (k-means, k = ${r.k})`, samples.clusters as number[], r.clusters.maxRssMB),
    row("value (BG/NBD + Gamma-Gamma fit, predictions)", samples.value as number[], r.value.maxRssMB),
  ];
  if (r.whole) {
    const w = r.whole.summary;
    out.push(
      row("whole run: segment CLI, write included", [w.seconds.total as number], w.peakMemoryMB.maxRss),
    );
  }
  if (r.baseline) {
    const s = stageSeconds;
    out.push(row("baseline: read + aggregate", [s(r.baseline, "readAggregate")], 0));
    out.push(row("baseline: RFM scores + segments", [s(r.baseline, "rfm")], 0));
    out.push(
      row(
        "baseline: read + aggregate + RFM",
        [s(r.baseline, "readAggregate") + s(r.baseline, "rfm")],
        r.baseline.maxRssMB,
      ),
    );
  }
  return out;
}

function table(rows: StageRow[]): string {
  const head =
    "| stage | seconds (best) | range (processes) | rows/s | customers/s | peak RSS of its process (MB) |\n" +
    "|---|--:|--:|--:|--:|--:|";
  const fmt = (x: number) =>
    x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : x >= 1e3 ? `${(x / 1e3).toFixed(0)} k` : x.toFixed(0);
  return [
    head,
    ...rows.map(
      (r) =>
        `| ${r.stage} | ${r.seconds.toFixed(3)} | ${
          r.samples > 1 ? `${r.range[0].toFixed(2)}–${r.range[1].toFixed(2)} (${r.samples})` : ""
        } | ${fmt(r.rowsPerSecond)} | ${fmt(r.customersPerSecond)} | ${r.peakMB ? r.peakMB : "—"} |`,
    ),
  ].join("\n");
}

function summaryOf(r: SizeResult) {
  const s = stageSeconds;
  const samples = stageSamples(r);
  const engineRfm = Math.min(...(samples.readAggregate as number[])) + Math.min(...(samples.rfm as number[]));
  const baselineRfm = s(r.baseline, "readAggregate") + s(r.baseline, "rfm");
  const engineKmeans = r.kmeans.engine as { seconds: number; inertia: number; iterations: number };
  const reference = (r.sklearn ?? r.kmeans.reference) as {
    inertia: number;
    seconds: number;
    method: string;
  } | null;
  const ml = r.kmeans.reference as { seconds: number; restarts: number } | null;
  const mlOneSeed = ml ? ml.seconds / ml.restarts : Number.NaN;
  return {
    customers: r.n,
    rows: r.data.rows,
    megabytes: r.data.bytes / 1e6,
    readAggregateRfmSeconds: engineRfm,
    baselineReadAggregateRfmSeconds: baselineRfm,
    speedupVersusBaseline: baselineRfm / engineRfm,
    /** The yardstick's "csv-parse + Map + ml-kmeans" pipeline: the baseline plus one ml-kmeans fit. */
    baselineWithMlKmeansSeconds: baselineRfm + mlOneSeed,
    engineWithClustersSeconds: engineRfm + Math.min(...(samples.clusters as number[])),
    wholeRunSeconds: r.whole?.summary.seconds.total,
    wholeRunPeakMB: r.whole?.summary.peakMemoryMB.maxRss,
    kmeans: {
      engineSeconds: engineKmeans.seconds,
      engineInertia: engineKmeans.inertia,
      referenceMethod: reference?.method,
      referenceSeconds: reference?.seconds,
      referenceInertia: reference?.inertia,
      inertiaRatio: reference ? engineKmeans.inertia / reference.inertia : undefined,
      mlKmeans: r.kmeans.reference,
      sklearn: r.sklearn,
    },
    agreement: r.agreement,
  };
}

async function measure(): Promise<SizeResult[]> {
  console.error("bundling the engine and the CLI with esbuild");
  await build({
    entryPoints: { worker: join(ROOT, "scripts/bench/worker.ts"), segment: join(ROOT, "scripts/segment.ts") },
    outdir: distDir,
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
  const python = pythonWithSklearn();
  const idle = await worker({ mode: "idle" });
  console.error(`machine: ${JSON.stringify(machine)}; idle node process ${idle.maxRssMB} MB`);
  if (!python) console.error("python3 with scikit-learn not found: k-means reference is ml-kmeans only");

  const results: SizeResult[] = [];
  for (const n of sizes) results.push(await benchSize(n, python));

  const report = {
    date: new Date().toISOString(),
    machine: { ...machine, loadAverageAtEnd: loadavg() },
    idleNodeRssMB: idle.maxRssMB,
    k,
    repeat,
    spec: DEFAULT_SPEC,
    sizes: results.map((r) => ({ ...summaryOf(r), stages: stageRows(r), targets: targetsOf(r), raw: r })),
  };
  writeFileSync(join(outDir, "results.json"), `${JSON.stringify(report, null, 2)}\n`);
  return results;
}

interface Target {
  target: string;
  measured: string;
  met: boolean;
}

/** The targets of the brief, judged on one size's results (meant for 1 M customers). */
function targetsOf(r: SizeResult): Target[] {
  const s = summaryOf(r);
  const km = s.kmeans;
  const out: Target[] = [
    {
      target: "read + aggregate + RFM + segments ≤ 6 s",
      measured: `${s.readAggregateRfmSeconds.toFixed(2)} s`,
      met: s.readAggregateRfmSeconds <= 6,
    },
    {
      target: "k-means ≤ 1.6 s",
      measured: `${km.engineSeconds.toFixed(2)} s (k = ${r.k})`,
      met: km.engineSeconds <= 1.6,
    },
  ];
  if (km.referenceInertia !== undefined) {
    out.push({
      target: "k-means inertia no worse than the reference",
      measured: `${km.engineInertia.toFixed(1)} vs ${km.referenceInertia.toFixed(1)} (${km.referenceMethod})`,
      met: km.engineInertia <= km.referenceInertia * (1 + 1e-9),
    });
  }
  if (s.wholeRunPeakMB !== undefined) {
    out.push({
      target: "peak memory of the whole run ≤ 500 MB",
      measured: `${s.wholeRunPeakMB} MB`,
      met: s.wholeRunPeakMB <= 500,
    });
  }
  if (Number.isFinite(s.speedupVersusBaseline)) {
    out.push({
      target: "≥ 30× faster than the baseline (read + aggregate + RFM)",
      measured: `${s.speedupVersusBaseline.toFixed(1)}×`,
      met: s.speedupVersusBaseline >= 30,
    });
  }
  return out;
}

function print(results: SizeResult[]): void {
  for (const r of results) {
    const s = summaryOf(r);
    console.log(
      `\n### ${label(r.n)} customers, ${r.data.rows.toLocaleString("en-US")} rows, ${s.megabytes.toFixed(0)} MB CSV\n`,
    );
    console.log(table(stageRows(r)));
    console.log(
      `\nengine vs baseline (read + aggregate + RFM): ${s.readAggregateRfmSeconds.toFixed(2)} s vs ` +
        `${s.baselineReadAggregateRfmSeconds.toFixed(2)} s = ${s.speedupVersusBaseline.toFixed(1)}× faster`,
    );
    if (Number.isFinite(s.baselineWithMlKmeansSeconds)) {
      console.log(
        `with k-means (engine clusters vs one ml-kmeans fit): ${s.engineWithClustersSeconds.toFixed(2)} s vs ` +
          `${s.baselineWithMlKmeansSeconds.toFixed(2)} s = ` +
          `${(s.baselineWithMlKmeansSeconds / s.engineWithClustersSeconds).toFixed(1)}× faster`,
      );
    }
    if (s.agreement) {
      console.log(
        `RFM agreement with the baseline: ${s.agreement.customers - s.agreement.mismatches} of ` +
          `${s.agreement.customers} customers identical (${s.agreement.fields.join(", ")})`,
      );
    }
    const km = s.kmeans;
    console.log(
      `k-means k = ${r.k}: engine ${km.engineSeconds.toFixed(3)} s, inertia ${km.engineInertia.toFixed(1)}` +
        (km.referenceMethod
          ? `; ${km.referenceMethod}: ${km.referenceSeconds?.toFixed(3)} s, inertia ${km.referenceInertia?.toFixed(1)}` +
            ` (engine / reference = ${km.inertiaRatio?.toFixed(5)})`
          : ""),
    );
  }
  const largest = results[results.length - 1];
  if (largest) {
    console.log(
      `\n### targets, at ${label(largest.n)} customers\n\n| target | measured | met |\n|---|---|---|`,
    );
    for (const t of targetsOf(largest))
      console.log(`| ${t.target} | ${t.measured} | ${t.met ? "yes" : "no"} |`);
  }
  console.log(`\nresults: ${values.report ?? join(outDir, "results.json")}`);
  const disagree = results.find((r) => r.agreement && r.agreement.mismatches > 0);
  if (disagree) {
    console.error(`engine and baseline disagree on RFM at ${label(disagree.n)} customers`);
    process.exitCode = 1;
  }
}

if (values.sharded) {
  // --sharded: the sharded computation on worker threads (scripts/bench/sharded.ts).
  const { shardedBench, shuffleMode } = await import("./bench/sharded");
  await shardedBench({
    root: ROOT,
    outDir,
    ...checkOrExit(CLI, () => ({
      customers: size("customers", values.customers),
      singleSize: size("single-size", values["single-size"]),
      workers:
        values.workers === undefined
          ? availableParallelism()
          : wholeNumber("workers", values.workers, 1, 256),
      rangeMB: wholeNumber("range-mb", values["range-mb"], 1, 4096),
      ...(values.buckets === "auto" ? {} : { buckets: wholeNumber("buckets", values.buckets, 1, 4096) }),
      ...(values["baseline-buckets"] === "none"
        ? {}
        : { baselineBuckets: wholeNumber("baseline-buckets", values["baseline-buckets"], 1, 4096) }),
      shuffle: shuffleMode(values.shuffle),
    })),
    k,
    repeat,
  });
} else {
  // --report <results.json> prints the tables of an earlier run again.
  const results = values.report
    ? (JSON.parse(readFileSync(values.report, "utf8")) as { sizes: { raw: SizeResult }[] }).sizes.map(
        (s) => s.raw,
      )
    : await measure();
  print(results);
}
