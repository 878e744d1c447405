/**
 * `npm run segment`'s stages on a synthetic file, the value stage and the write compared in the same run:
 *
 * - now, value stage on its own thread (the CLI's default from 200,000 customers);
 * - now, value stage in the calling thread (`--value-thread-min` above the customer count);
 * - with `--before <dir>`: the CLI of another checkout (e.g. `git worktree add /tmp/before <commit>` with
 *   `ln -s "$PWD/node_modules" /tmp/before/`), run from that directory on the same file.
 *
 * Each run is `node scripts/launch.mjs scripts/segment.ts <file> --as-of … --k …` under /usr/bin/time, so each
 * row has the process's wall time, its CPU time (user + system, every thread) and peak RSS next to the
 * stage seconds of the CLI's summary line (read + aggregate, rfm, clusters, value and the value thread's own
 * time, compute, write, total). Configurations alternate, `--repeat` rounds; medians are printed with the load
 * average at the start and the end, and written to `<out-dir>/segment-stages.json`. Fails if the runs'
 * per-customer files of the two ways differ in a byte, and says whether the earlier checkout's is the same.
 *
 *   npx tsx scripts/bench/segment-stages.ts [--size 1m] [--repeat 3] [--k 8] [--before <dir>] [--out-dir bench-out]
 */
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join, resolve } from "node:path";
import { checkOrExit, parseOrExit, size, wholeNumber } from "../cli";
import { DEFAULT_SPEC, syntheticFile } from "./generate";
import { median } from "./median";

const CLI = {
  name: "bench segment-stages",
  usage: `usage: npx tsx scripts/bench/segment-stages.ts [--size 1m] [--repeat 3] [--k 8] [--before <dir>] [--out-dir bench-out]
  --size     customers in the synthetic file (default 1m)
  --repeat   rounds of every configuration, interleaved (default 3)
  --k        clusters of the segment run (default 8)
  --before   a checkout of an earlier commit whose CLI is run too, as the baseline
  --out-dir  where the file, the outputs and segment-stages.json go (default bench-out)
`,
  options: {
    size: { type: "string", default: "1m" },
    repeat: { type: "string", default: "3" },
    k: { type: "string", default: "8" },
    before: { type: "string" },
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

interface Run {
  wall: number;
  cpu: number;
  maxRssMB: number;
  seconds: Record<string, number>;
}

/** Runs the CLI of `root` under /usr/bin/time; its summary line and the process's resource use. */
function runCli(root: string, args: string[]): Promise<Run> {
  return new Promise((ok, fail) => {
    const child = spawn(
      "/usr/bin/time",
      ["-f", "TIME %e %U %S %M", process.execPath, "scripts/launch.mjs", "scripts/segment.ts", ...args],
      { cwd: root, stdio: ["ignore", "pipe", "pipe"] },
    );
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
      const time = /TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)/.exec(stderr);
      if (code !== 0 || time === null) {
        fail(new Error(`segment in ${root} exited with ${code}:\n${stderr}`));
        return;
      }
      let summary: { seconds: Record<string, number> };
      try {
        summary = JSON.parse(stdout.trim().split("\n").pop() ?? "");
      } catch {
        fail(new Error(`no JSON summary from segment in ${root}:\n${stdout}`));
        return;
      }
      ok({
        wall: Number(time[1]),
        cpu: Math.round((Number(time[2]) + Number(time[3])) * 100) / 100,
        maxRssMB: Math.round(Number(time[4]) / 1024),
        seconds: summary.seconds,
      });
    });
  });
}

const loadAtStart = loadavg();
const file = syntheticFile(outDir, { ...DEFAULT_SPEC, customers });
console.error(`file ${file.path}: ${file.rows} rows, ${(file.bytes / 1e6).toFixed(0)} MB`);
const before = values.before === undefined ? undefined : resolve(values.before);
const configurations: { name: string; root: string; extra: string[] }[] = [
  { name: "now, value on its own thread", root: ROOT, extra: ["--value-thread-min", "0"] },
  { name: "now, value in the calling thread", root: ROOT, extra: ["--value-thread-min", String(2 ** 52)] },
  ...(before === undefined ? [] : [{ name: `before (${before})`, root: before, extra: [] }]),
];
// Builds each CLI's bundle if it is stale, so that no timed run pays for it.
for (const c of configurations) await runCli(c.root, ["--help"]).catch(() => undefined);

const runs: Record<string, Run[]> = {};
const outputs = configurations.map((_, i) => join(outDir, `segment-stages-${customers}-${i}.csv`));
for (let round = 0; round < repeat; round++) {
  for (const [i, c] of configurations.entries()) {
    const load = loadavg()[0]?.toFixed(1);
    const run = await runCli(c.root, [
      file.path,
      "--as-of",
      file.asOf,
      "--k",
      String(k),
      "--out",
      outputs[i] as string,
      ...c.extra,
    ]);
    const list = runs[c.name] ?? [];
    list.push(run);
    runs[c.name] = list;
    console.log(
      JSON.stringify({ round: round + 1, configuration: c.name, loadAverage: Number(load), ...run }),
    );
  }
}
// The two ways of the same code must agree to the byte; an earlier checkout may differ where later work
// changed the output, which is reported.
const first = readFileSync(outputs[0] as string);
if (!readFileSync(outputs[1] as string).equals(first))
  throw new Error(`${outputs[1]} differs from ${outputs[0]}`);
const beforeSame = before === undefined ? undefined : readFileSync(outputs[2] as string).equals(first);

const stages = [
  "readAggregate",
  "rfm",
  "clusters",
  "value",
  "valueThread",
  "nextBestCategory",
  "compute",
  "write",
  "total",
];
const rows = Object.entries(runs).map(([name, list]) => {
  const row: Record<string, number | string> = { configuration: name };
  row.wall = median(list.map((r) => r.wall));
  row.cpu = median(list.map((r) => r.cpu));
  row.maxRssMB = median(list.map((r) => r.maxRssMB));
  for (const s of stages) {
    const xs = list.map((r) => r.seconds[s]).filter((x): x is number => x !== undefined);
    if (xs.length > 0) row[s] = median(xs);
  }
  return row;
});
console.table(rows);
const loadAtEnd = loadavg();
console.error(
  `load average ${loadAtStart.map((l) => l.toFixed(1)).join(" / ")} at the start, ` +
    `${loadAtEnd.map((l) => l.toFixed(1)).join(" / ")} at the end; per-customer files of both ways identical` +
    (beforeSame === undefined
      ? ""
      : beforeSame
        ? ", and the earlier checkout's too"
        : "; the earlier checkout's differs"),
);
writeFileSync(
  join(outDir, "segment-stages.json"),
  `${JSON.stringify({ customers, repeat, k, loadAtStart, loadAtEnd, beforeSame, medians: rows, runs }, null, 1)}\n`,
);
