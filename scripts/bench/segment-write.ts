/**
 * The per-customer CSV write of `npm run segment` (scripts/segment-csv.ts) on its own, against an earlier
 * checkout's writer in the same process and run:
 *
 * - the synthetic file is read and computed once, as the CLI does it (`--as-of` its evaluation day, `--k`,
 *   seed 1, the value stage on its own thread);
 * - then `--repeat` rounds write the result to a file with this checkout's writeCustomerRows (what the CLI's
 *   `seconds.write` times besides opening, closing and renaming the file) and, with `--before <dir>`, with
 *   that of another checkout (e.g. `git worktree add /tmp/before <commit>` with `ln -s "$PWD/node_modules"
 *   /tmp/before/`), imported from its sources; the writers alternate, and so does which goes first;
 * - each write's wall time, the process's CPU time over it (process.cpuUsage: user + system, every thread,
 *   so the file writes' own time too), and the resident memory before it and at its highest during it
 *   (sampled at each write to the file, every MiB or so) are printed, then each writer's best and median
 *   with the load average at the start and the end, and written to `<out-dir>/segment-write.json`. Fails if
 *   any write's file differs from the first one's in a byte.
 *
 *   npx tsx scripts/bench/segment-write.ts [--size 1m] [--repeat 5] [--k 8] [--before <dir>] [--out-dir bench-out]
 */
import { createHash } from "node:crypto";
import { createReadStream, readFileSync, statSync, writeFileSync } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { loadavg } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import {
  AggregateState,
  type ComputedSegmentation,
  computeSegments,
  ingestTransactionsParallel,
} from "../../shared/engine";
import { checkOrExit, parseOrExit, size, wholeNumber } from "../cli";
import { OUTPUT_COLUMNS } from "../segment";
import { writeCustomerRows } from "../segment-csv";
import { DEFAULT_SPEC, syntheticFile } from "./generate";
import { median } from "./median";

const CLI = {
  name: "bench segment-write",
  usage: `usage: npx tsx scripts/bench/segment-write.ts [--size 1m] [--repeat 5] [--k 8] [--before <dir>] [--out-dir bench-out]
  --size     customers in the synthetic file (default 1m)
  --repeat   rounds of every writer, interleaved (default 5)
  --k        clusters of the computation (default 8)
  --before   a checkout of an earlier commit whose writer is run too, as the baseline
  --out-dir  where the file, the outputs and segment-write.json go (default bench-out)
`,
  options: {
    size: { type: "string", default: "1m" },
    repeat: { type: "string", default: "5" },
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
const outDir = resolve(values["out-dir"]);

type Write = (result: ComputedSegmentation, columns: readonly string[], file: FileHandle) => Promise<void>;

const loadAtStart = loadavg();
const file = syntheticFile(outDir, { ...DEFAULT_SPEC, customers });
console.error(`file ${file.path}: ${file.rows} rows, ${(file.bytes / 1e6).toFixed(0)} MB`);

const started = performance.now();
const bytes = statSync(file.path).size;
const read = await ingestTransactionsParallel(
  {
    size: bytes,
    path: file.path,
    open: (start) => createReadStream(file.path, { start, highWaterMark: 1 << 20 }),
  },
  { format: "csv", expectedOrders: bytes / 40 },
  new AggregateState(),
);
const result = computeSegments(
  read.state,
  { asOf: file.asOf, clusters: { k, seed: 1 }, value: {} },
  { valueThread: true },
);
console.error(
  `read and computed ${result.customerCount} customers in ${((performance.now() - started) / 1000).toFixed(1)} s`,
);

const writers: { name: string; write: Write; out: string }[] = [
  { name: "now", write: writeCustomerRows, out: join(outDir, `segment-write-${customers}-now.csv`) },
];
if (values.before !== undefined) {
  const before = resolve(values.before);
  const module = (await import(pathToFileURL(join(before, "scripts/segment-csv.ts")).href)) as {
    writeCustomerRows: Write;
  };
  writers.push({
    name: `before (${before})`,
    write: module.writeCustomerRows,
    out: join(outDir, `segment-write-${customers}-before.csv`),
  });
}

interface Run {
  wall: number;
  cpu: number;
  rssBeforeMB: number;
  rssPeakMB: number;
}

/** Writes the result with `write` to `path`, sampling the resident memory at each write to the file. */
async function timed(write: Write, path: string): Promise<Run> {
  const handle = await open(path, "w");
  try {
    const rssBefore = process.memoryUsage.rss();
    let rssPeak = rssBefore;
    const sampling = new Proxy(handle, {
      get(target, key) {
        if (key !== "write") return Reflect.get(target, key);
        return (...args: Parameters<FileHandle["write"]>) => {
          rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
          return target.write(...args);
        };
      },
    });
    const cpu = process.cpuUsage();
    const t = performance.now();
    await write(result, OUTPUT_COLUMNS, sampling);
    const wall = (performance.now() - t) / 1000;
    const used = process.cpuUsage(cpu);
    rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
    return {
      wall: Math.round(wall * 1000) / 1000,
      cpu: Math.round((used.user + used.system) / 1000) / 1000,
      rssBeforeMB: Math.round(rssBefore / 2 ** 20),
      rssPeakMB: Math.round(rssPeak / 2 ** 20),
    };
  } finally {
    await handle.close();
  }
}

function digest(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

const runs: Record<string, Run[]> = {};
let expected: string | undefined;
for (let round = 0; round < repeat; round++) {
  // Alternate the order, so that neither writer always follows the other's garbage.
  const order = round % 2 === 0 ? writers : [...writers].reverse();
  for (const w of order) {
    const load = loadavg()[0] as number;
    const run = await timed(w.write, w.out);
    const hash = digest(w.out);
    expected ??= hash;
    if (hash !== expected)
      throw new Error(`${w.out} (${w.name}, round ${round + 1}) differs from the first write`);
    const list = runs[w.name] ?? [];
    list.push(run);
    runs[w.name] = list;
    console.log(
      JSON.stringify({ round: round + 1, writer: w.name, loadAverage: Number(load.toFixed(1)), ...run }),
    );
  }
}
const rounded = (x: number) => Math.round(x * 1000) / 1000;
const rows = Object.entries(runs).map(([name, list]) => ({
  writer: name,
  wallBest: Math.min(...list.map((r) => r.wall)),
  wallMedian: rounded(median(list.map((r) => r.wall))),
  cpuBest: Math.min(...list.map((r) => r.cpu)),
  cpuMedian: rounded(median(list.map((r) => r.cpu))),
  rssPeakOverBeforeMB: Math.max(...list.map((r) => r.rssPeakMB - r.rssBeforeMB)),
}));
console.table(rows);
const loadAtEnd = loadavg();
console.error(
  `${result.customerCount} rows, ${statSync(writers[0]?.out as string).size} bytes; load average ` +
    `${loadAtStart.map((l) => l.toFixed(1)).join(" / ")} at the start, ` +
    `${loadAtEnd.map((l) => l.toFixed(1)).join(" / ")} at the end; every write's file identical`,
);
writeFileSync(
  join(outDir, "segment-write.json"),
  `${JSON.stringify({ customers, repeat, k, loadAtStart, loadAtEnd, medians: rows, runs }, null, 1)}\n`,
);
