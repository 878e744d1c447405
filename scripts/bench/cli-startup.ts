/**
 * Benchmark of the segment CLI's start-up: the wall time of a whole run on a synthetic file (./generate.ts)
 * against the engine's own time that the run reports (`seconds.total` of its summary line, from reading the
 * file to the renamed output), in the same run, for
 * - `tsx scripts/segment.ts` (what `npm run segment` ran before: TypeScript compiled at every start);
 * - `node scripts/launch.mjs scripts/segment.ts` (what it runs now: the prebuilt bundle, dist/segment.mjs);
 * - `npm run segment` itself, npm's own start included.
 * Configurations alternate, `--repeat` runs each, best and median reported. Each configuration's `--help` is
 * timed too (start-up and exit alone, no engine), and once a launch that has to rebuild the bundle (its input
 * list removed first).
 *
 *   npm run bench -- --cli-startup [--size 100k] [--repeat 3] [--out-dir bench-out]
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { checkOrExit, parseOrExit, size, wholeNumber } from "../cli";
import { DEFAULT_SPEC, syntheticFile } from "./generate";

const CLI = {
  name: "bench --cli-startup",
  usage: `usage: npm run bench -- --cli-startup [--size 100k] [--repeat 3] [--out-dir bench-out]
  --size     customers in the synthetic file (default 100k)
  --repeat   runs of each configuration, interleaved (default 3)
  --out-dir  where the file and cli-startup.json go (default bench-out)
`,
  options: {
    size: { type: "string", default: "100k" },
    repeat: { type: "string", default: "3" },
    "out-dir": { type: "string", default: "bench-out" },
  },
} as const;

const { values } = parseOrExit(CLI);
const { customers, repeat } = checkOrExit(CLI, () => ({
  customers: size("size", values.size),
  repeat: wholeNumber("repeat", values.repeat, 1, 100),
}));
const outDir = values["out-dir"];
const ROOT = resolve(import.meta.dirname, "../..");
const NPM = process.platform === "win32" ? "npm.cmd" : "npm";

interface Launch {
  wall: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

function timedRun(command: string, args: string[]): Promise<Launch> {
  return new Promise((ok, fail) => {
    const started = performance.now();
    const child = spawn(command, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("error", fail);
    child.on("close", (code) => ok({ wall: (performance.now() - started) / 1000, code, stdout, stderr }));
  });
}

const file = syntheticFile(outDir, { ...DEFAULT_SPEC, customers }).path;
const scratch = mkdtempSync(join(tmpdir(), "cli-startup-"));
const runArgs = [file, "--as-of", "2024-12-31", "--out", join(scratch, "segments.csv")];
const CONFIGS = {
  tsx: [process.execPath, [join(ROOT, "node_modules/tsx/dist/cli.mjs"), "scripts/segment.ts", ...runArgs]],
  launcher: [process.execPath, ["scripts/launch.mjs", "scripts/segment.ts", ...runArgs]],
  npm: [NPM, ["run", "--silent", "segment", "--", ...runArgs]],
} as const satisfies Record<string, readonly [string, readonly string[]]>;
type Config = keyof typeof CONFIGS;

async function measureHelp(config: Config): Promise<number> {
  const [command, args] = CONFIGS[config];
  const help = [...args.slice(0, args.length - runArgs.length), "--help"];
  const run = await timedRun(command, help);
  if (run.code !== 0) throw new Error(`${config} --help exited ${run.code}: ${run.stderr}`);
  return run.wall;
}

async function measure(config: Config) {
  const [command, args] = CONFIGS[config];
  const run = await timedRun(command, [...args]);
  if (run.code !== 0) throw new Error(`${config} exited ${run.code}: ${run.stderr}`);
  const summary = JSON.parse(run.stdout.trim().split("\n").at(-1) ?? "{}") as {
    seconds?: { total?: number };
  };
  const engine = summary.seconds?.total;
  if (typeof engine !== "number") throw new Error(`${config}: no summary line`);
  return { wall: run.wall, engine, overhead: run.wall - engine };
}

const loadAtStart = loadavg();
console.error(`load average at start ${loadAtStart.map((x) => x.toFixed(2)).join(" ")}`);
try {
  // A launch that must rebuild the bundle, then one that need not.
  const help = ["scripts/launch.mjs", "scripts/segment.ts", "--help"];
  rmSync(join(ROOT, "dist/segment.inputs.json"), { force: true });
  const rebuild = await timedRun(process.execPath, help);
  const reuse = await timedRun(process.execPath, help);
  console.log(
    `--help through the launcher: ${rebuild.wall.toFixed(3)} s rebuilding, ${reuse.wall.toFixed(3)} s not`,
  );

  const runs: Record<Config, { wall: number; engine: number; overhead: number }[]> = {
    tsx: [],
    launcher: [],
    npm: [],
  };
  const helps: Record<Config, number[]> = { tsx: [], launcher: [], npm: [] };
  const names = Object.keys(CONFIGS) as Config[];
  for (let r = 0; r < repeat; r++) {
    for (let i = 0; i < names.length; i++) {
      const config = names[(i + r) % names.length] as Config;
      runs[config].push(await measure(config));
      helps[config].push(await measureHelp(config));
    }
  }
  const table = names.map((config) => {
    const overheads = runs[config].map((x) => x.overhead).sort((a, b) => a - b);
    const walls = runs[config].map((x) => x.wall).sort((a, b) => a - b);
    const help = [...helps[config]].sort((a, b) => a - b);
    const median = (xs: number[]) => xs[Math.floor((xs.length - 1) / 2)] as number;
    return {
      config,
      wallBest: walls[0] as number,
      wallMedian: median(walls),
      overheadBest: overheads[0] as number,
      overheadMedian: median(overheads),
      helpBest: help[0] as number,
      helpMedian: median(help),
    };
  });
  for (const row of table) {
    console.log(
      `${row.config.padEnd(8)} wall best ${row.wallBest.toFixed(3)} s, median ${row.wallMedian.toFixed(3)} s; ` +
        `over the engine's own time: best ${row.overheadBest.toFixed(3)} s, median ${row.overheadMedian.toFixed(3)} s; ` +
        `--help: best ${row.helpBest.toFixed(3)} s, median ${row.helpMedian.toFixed(3)} s`,
    );
  }
  const loadAtEnd = loadavg();
  console.error(`load average at end ${loadAtEnd.map((x) => x.toFixed(2)).join(" ")}`);
  writeFileSync(
    join(outDir, "cli-startup.json"),
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        file,
        loadAtStart,
        loadAtEnd,
        repeat,
        helpSeconds: { rebuilding: rebuild.wall, notRebuilding: reuse.wall },
        table,
        runs,
        helps,
      },
      null,
      2,
    )}\n`,
  );
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
