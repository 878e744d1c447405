/**
 * The engine on every core against DuckDB on one thread, in the same run, on a synthetic file (./generate.ts):
 *
 * - whole `npm run segment` (`node scripts/launch.mjs scripts/segment.ts <file> --as-of … --k …` with the glibc
 *   tunables that script sets, ../glibc-tunables.ts; npm's own start left out): wall time from spawn to exit,
 *   and its peak RSS (threads included: the summary's maxRss);
 * - DuckDB 1.5 (`@duckdb/node-api`) computing RFM features and quintile scores on one thread (./duckdb-rfm.ts),
 *   bundled and run by plain node: wall time and peak RSS;
 * - read + aggregate alone on one thread and on every core (./parallel-read-child.ts), to show what the
 *   threads change.
 * Configurations alternate, `--repeat` rounds; medians and the ratios to DuckDB are printed and written to
 * `<out-dir>/parallel-read.json` with the load average at the start and the end.
 *
 *   npm run bench -- --parallel-read [--size 1m] [--repeat 3] [--k 8] [--out-dir bench-out]
 */
import { spawn } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { build } from "esbuild";
import { checkOrExit, parseOrExit, size, wholeNumber } from "../cli";
import { glibcTunables } from "../glibc-tunables";
import { DEFAULT_SPEC, syntheticFile } from "./generate";
import { median } from "./median";

const CLI = {
  name: "bench --parallel-read",
  usage: `usage: npm run bench -- --parallel-read [--size 1m] [--repeat 3] [--k 8] [--out-dir bench-out]
  --size     customers in the synthetic file (default 1m)
  --repeat   rounds of every configuration, interleaved (default 3)
  --k        clusters of the segment run (default 8, the yardstick's)
  --out-dir  where the file, the bundles and parallel-read.json go (default bench-out)
`,
  options: {
    size: { type: "string", default: "1m" },
    repeat: { type: "string", default: "3" },
    k: { type: "string", default: "8" },
    "out-dir": { type: "string", default: "bench-out" },
  },
} as const;

const { values } = parseOrExit(CLI);
const { customers, repeat, k } = checkOrExit(CLI, () => ({
  customers: size("size", values.size),
  repeat: wholeNumber("repeat", values.repeat, 1, 100),
  k: wholeNumber("k", values.k, 1, 64),
}));
const ROOT = resolve(import.meta.dirname, "../..");
const outDir = resolve(values["out-dir"]);
const dist = join(outDir, "dist-parallel");

interface Child {
  wall: number;
  out: Record<string, unknown>;
}

/** The engine's children run with the glibc tunables `npm run segment` sets; DuckDB (its own allocator) as it is. */
const ENGINE_ENV = { ...process.env, GLIBC_TUNABLES: glibcTunables() };

function run(command: string, args: string[], env: NodeJS.ProcessEnv = ENGINE_ENV): Promise<Child> {
  return new Promise((ok, fail) => {
    const started = performance.now();
    const child = spawn(command, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("error", fail);
    child.on("close", (code) => {
      const wall = (performance.now() - started) / 1000;
      if (code !== 0) {
        fail(new Error(`${args.join(" ")} exited with ${code}:\n${stderr}`));
        return;
      }
      try {
        ok({ wall, out: JSON.parse(stdout.trim().split("\n").pop() ?? "") as Record<string, unknown> });
      } catch {
        fail(new Error(`no JSON line from ${args.join(" ")}:\n${stdout}\n${stderr}`));
      }
    });
  });
}

const loadAtStart = loadavg();
const file = syntheticFile(outDir, { ...DEFAULT_SPEC, customers });
console.error(`file ${file.path}: ${file.rows} rows, ${(file.bytes / 1e6).toFixed(0)} MB`);
mkdirSync(dist, { recursive: true });
await build({
  entryPoints: {
    "duckdb-rfm": join(ROOT, "scripts/bench/duckdb-rfm.ts"),
    read: join(ROOT, "scripts/bench/parallel-read-child.ts"),
  },
  outdir: dist,
  outExtension: { ".js": ".mjs" },
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  external: ["@duckdb/node-api"],
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
  logLevel: "warning",
});
// Builds the CLI's bundle if it is stale, so that no timed run pays for it.
await run(process.execPath, ["scripts/launch.mjs", "scripts/segment.ts", "--help"]).catch(() => undefined);

const segmentOut = join(outDir, `parallel-read-segments-${customers}.csv`);
const samples: Record<string, { wall: number[]; rss: number[]; extra: Record<string, unknown>[] }> = {};
const add = (name: string, wall: number, rss: number, extra: Record<string, unknown>) => {
  samples[name] ??= { wall: [], rss: [], extra: [] };
  samples[name].wall.push(wall);
  samples[name].rss.push(rss);
  samples[name].extra.push(extra);
};
for (let round = 0; round < repeat; round++) {
  console.error(`round ${round + 1} of ${repeat} (load average ${loadavg()[0]?.toFixed(1)})`);
  const duck = await run(
    process.execPath,
    [join(dist, "duckdb-rfm.mjs"), JSON.stringify({ file: file.path, asOf: file.asOf, threads: 1 })],
    process.env,
  );
  add("duckdb, 1 thread", duck.wall, duck.out.maxRssMB as number, duck.out);
  const segment = await run(process.execPath, [
    "scripts/launch.mjs",
    "scripts/segment.ts",
    file.path,
    "--as-of",
    file.asOf,
    "--k",
    String(k),
    "--out",
    segmentOut,
  ]);
  const peak = segment.out.peakMemoryMB as { maxRss: number };
  add("npm run segment (whole run)", segment.wall, peak.maxRss, {
    readThreads: segment.out.readThreads,
    seconds: segment.out.seconds,
    customers: segment.out.customers,
  });
  if (segment.out.customers !== duck.out.customers) {
    throw new Error(`segment scored ${segment.out.customers} customers, DuckDB ${duck.out.customers}`);
  }
  for (const threads of [1, availableParallelism()]) {
    const read = await run(process.execPath, [
      join(dist, "read.mjs"),
      JSON.stringify({ file: file.path, threads }),
    ]);
    add(
      `read + aggregate, ${threads} thread${threads === 1 ? "" : "s"}`,
      read.wall,
      read.out.maxRssMB as number,
      read.out,
    );
  }
}
rmSync(segmentOut, { force: true });
const loadAtEnd = loadavg();

const duck = samples["duckdb, 1 thread"] as { wall: number[]; rss: number[] };
const table = Object.entries(samples).map(([name, s]) => ({
  name,
  wallMedian: median(s.wall),
  wall: s.wall,
  rssMedianMB: median(s.rss),
  wallVsDuckDb: median(s.wall) / median(duck.wall),
  rssVsDuckDb: median(s.rss) / median(duck.rss),
  extra: s.extra,
}));
console.log("| configuration | wall s (median) | runs | peak RSS MB | wall / DuckDB | RSS / DuckDB |");
console.log("|---|--:|---|--:|--:|--:|");
for (const row of table) {
  console.log(
    `| ${row.name} | ${row.wallMedian.toFixed(2)} | ${row.wall.map((w) => w.toFixed(2)).join(", ")} | ` +
      `${row.rssMedianMB} | ${row.wallVsDuckDb.toFixed(2)} | ${row.rssVsDuckDb.toFixed(2)} |`,
  );
}
for (const [name, s] of Object.entries(samples)) {
  if (!name.startsWith("read")) continue;
  const rounds = s.extra.map((out) => {
    const ms = out.ms as { ranges: number; merge: number; keys?: number };
    return (
      `${(out.seconds as number).toFixed(2)} s in process, ${(out.cpuSeconds as number).toFixed(2)} s CPU` +
      (out.threads === 1
        ? ""
        : ` (ranges ${(ms.ranges / 1000).toFixed(2)} s, of which sorting keys ${((ms.keys ?? 0) / 1000).toFixed(2)} s; merge ${(ms.merge / 1000).toFixed(2)} s)`)
    );
  });
  console.log(`${name}: ${rounds.join("; ")}`);
}
console.log(
  `load average: ${loadAtStart.map((l) => l.toFixed(1)).join(" ")} at the start, ${loadAtEnd.map((l) => l.toFixed(1)).join(" ")} at the end; the engine's children ran with GLIBC_TUNABLES=${JSON.stringify(ENGINE_ENV.GLIBC_TUNABLES)}`,
);
writeFileSync(
  join(outDir, "parallel-read.json"),
  `${JSON.stringify({ date: new Date().toISOString(), file, repeat, k, nproc: availableParallelism(), glibcTunables: ENGINE_ENV.GLIBC_TUNABLES, loadAtStart, loadAtEnd, table }, null, 1)}\n`,
);
