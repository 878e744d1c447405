/**
 * The per-customer CSV write of `npm run segment` (scripts/segment-csv.ts) on its own, against an earlier
 * checkout's writer in the same process and run:
 *
 * - the synthetic file is read and computed once, as the CLI does it (`--as-of` its evaluation day, `--k`,
 *   seed 1, the value stage on its own thread);
 * - then `--repeat` rounds write the result with this checkout's writeCustomers (scripts/segment.ts: a
 *   temporary file renamed into place, the CLI's `seconds.write`) and, with `--before <dir>`, with that of
 *   another checkout (e.g. `git worktree add /tmp/before <commit>` with `ln -s "$PWD/node_modules"
 *   /tmp/before/`), imported from its sources, alternating which goes first;
 * - each write's wall time, the process's CPU time over it (process.cpuUsage: user + system, every thread)
 *   and the resident memory after it are printed, then the medians with the load average at the start and
 *   the end, and written to `<out-dir>/segment-write.json`. Fails if any write's file differs from the first
 *   one's in a byte.
 *
 *   npx tsx scripts/bench/segment-write.ts [--size 1m] [--repeat 5] [--k 8] [--before <dir>] [--out-dir bench-out]
 */
import { createHash } from "node:crypto";
import { createReadStream, readFileSync, statSync, writeFileSync } from "node:fs";
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
import { writeCustomers } from "../segment";
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

type Write = (result: ComputedSegmentation, path: string) => Promise<void>;

const loadAtStart = loadavg();
const file = syntheticFile(outDir, { ...DEFAULT_SPEC, customers });
console.error(`file ${file.path}: ${file.rows} rows, ${(file.bytes / 1e6).toFixed(0)} MB`);

let t = performance.now();
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
  `read and computed ${result.customerCount} customers in ${((performance.now() - t) / 1000).toFixed(1)} s`,
);

const writers: { name: string; write: Write; out: string }[] = [
  { name: "now", write: writeCustomers, out: join(outDir, `segment-write-${customers}-now.csv`) },
];
if (values.before !== undefined) {
  const before = resolve(values.before);
  const module = (await import(pathToFileURL(join(before, "scripts/segment.ts")).href)) as {
    writeCustomers: Write;
  };
  writers.push({
    name: `before (${before})`,
    write: module.writeCustomers,
    out: join(outDir, `segment-write-${customers}-before.csv`),
  });
}

function digest(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

interface Run {
  wall: number;
  cpu: number;
  rssMB: number;
}
const runs: Record<string, Run[]> = {};
let expected: string | undefined;
for (let round = 0; round < repeat; round++) {
  // Alternate the order, so that neither writer always follows the other's garbage.
  const order = round % 2 === 0 ? writers : [...writers].reverse();
  for (const w of order) {
    const load = loadavg()[0] as number;
    const cpu = process.cpuUsage();
    t = performance.now();
    await w.write(result, w.out);
    const wall = (performance.now() - t) / 1000;
    const used = process.cpuUsage(cpu);
    const run = {
      wall: Math.round(wall * 1000) / 1000,
      cpu: Math.round((used.user + used.system) / 1000) / 1000,
      rssMB: Math.round(process.memoryUsage().rss / 2 ** 20),
    };
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
const rows = Object.entries(runs).map(([name, list]) => ({
  writer: name,
  wallBest: Math.min(...list.map((r) => r.wall)),
  wallMedian: median(list.map((r) => r.wall)),
  cpuBest: Math.min(...list.map((r) => r.cpu)),
  cpuMedian: median(list.map((r) => r.cpu)),
  rssMB: Math.max(...list.map((r) => r.rssMB)),
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
