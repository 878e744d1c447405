/**
 * The order pass before the value stage, both ways in the same run, and what sealing the orders frees:
 *
 * - two passes: customerTotals as of asOf, then again as of the holdout's calibration end (what
 *   computeSegments did before: the second on the calling thread before the value thread can start);
 * - one pass: the calibration end from a scan of the order days (calibrationEndDayOf), then
 *   customerTotalsWithEarlier.
 *
 * The synthetic file is read as the CLI reads it (every core), then the two ways alternate `--repeat` rounds;
 * each round prints wall and CPU milliseconds (process.cpuUsage: this thread alone works here) and checks the
 * columns of the two ways are equal byte for byte. Then the state is sealed (AggregateState.sealOrders) and
 * the memory V8 accounts outside its heap is printed before and after, each after full collections.
 * Medians and the load average at the start and the end are printed last as JSON. Run with --expose-gc:
 *
 *   node --expose-gc --import tsx scripts/bench/totals-pass.ts [--size 1m] [--repeat 5] [--as-of 2024-12-31]
 */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { loadavg } from "node:os";
import { resolve } from "node:path";
import { calibrationEndDayOf, customerTotals, customerTotalsWithEarlier } from "../../shared/engine/compute";
import { parseDay } from "../../shared/engine/days";
import { ingestTransactionsParallel } from "../../shared/engine/parallel";
import { AggregateState } from "../../shared/engine/state";
import { resolveValueSettings } from "../../shared/engine/value";
import { checkOrExit, parseOrExit, size, wholeNumber } from "../cli";
import { DEFAULT_SPEC, syntheticFile } from "./generate";
import { median } from "./median";

const CLI = {
  name: "bench totals-pass",
  usage: `usage: node --expose-gc --import tsx scripts/bench/totals-pass.ts [--size 1m] [--repeat 5] [--as-of 2024-12-31]
  --size     customers in the synthetic file (default 1m)
  --repeat   rounds of each way, interleaved (default 5)
  --as-of    the evaluation date (default 2024-12-31)
`,
  options: {
    size: { type: "string", default: "1m" },
    repeat: { type: "string", default: "5" },
    "as-of": { type: "string", default: "2024-12-31" },
  },
} as const;

const { values } = parseOrExit(CLI);
const { customers, repeat, asOfDay } = checkOrExit(CLI, () => ({
  customers: size("size", values.size),
  repeat: wholeNumber("repeat", values.repeat, 1, 100),
  asOfDay: parseDay(values["as-of"]) ?? Number.NaN,
}));
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined || Number.isNaN(asOfDay)) {
  process.stderr.write(`${CLI.usage}(run node with --expose-gc; --as-of is yyyy-mm-dd)\n`);
  process.exit(2);
}
const load = { start: loadavg().map((l) => Math.round(l * 100) / 100), end: [] as number[] };

const file = syntheticFile(resolve("bench-out"), { ...DEFAULT_SPEC, customers });
const fileSize = (await stat(file.path)).size;
const read = await ingestTransactionsParallel(
  {
    size: fileSize,
    path: file.path,
    open: (start) => createReadStream(file.path, { start, highWaterMark: 1 << 20 }),
  },
  { format: "csv", compression: "auto", expectedOrders: fileSize / 40 },
  new AggregateState(),
);
const state = read.state;
process.stdout.write(
  `${file.path}: ${state.customerCount} customers, ${state.orderCount} orders, ${read.threads} read threads\n`,
);

function timed<T>(f: () => T): { value: T; wallMs: number; cpuMs: number } {
  const cpu = process.cpuUsage();
  const t = performance.now();
  const value = f();
  const wallMs = performance.now() - t;
  const used = process.cpuUsage(cpu);
  return { value, wallMs: Math.round(wallMs), cpuMs: Math.round((used.user + used.system) / 1000) };
}

function same(a: Record<string, unknown>, b: Record<string, unknown>, names: readonly string[]): boolean {
  return names.every((name) => {
    const x = a[name] as ArrayBufferView;
    const y = b[name] as ArrayBufferView;
    return Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(
      Buffer.from(y.buffer, y.byteOffset, y.byteLength),
    );
  });
}

const settings = resolveValueSettings({});
const rows: { way: string; wallMs: number; cpuMs: number }[] = [];
for (let round = 0; round < repeat; round++) {
  gc();
  const two = timed(() => {
    const day = calibrationEndDayOf(state, asOfDay, settings) as number;
    return { day, totals: customerTotals(state, asOfDay), earlier: customerTotals(state, day) };
  });
  gc();
  const one = timed(() => {
    const day = calibrationEndDayOf(state, asOfDay, settings) as number;
    return customerTotalsWithEarlier(state, asOfDay, day);
  });
  const totalsNames = Object.keys(two.value.totals).filter((n) => n !== "ordersAfterAsOf");
  const equal =
    same(one.value.totals as never, two.value.totals as never, totalsNames) &&
    same(one.value.earlier as never, two.value.earlier as never, [
      "stateIndex",
      "firstPurchaseDay",
      "lastPurchaseDay",
      "purchaseDays",
    ]);
  if (!equal) {
    process.stderr.write("the one pass and the two passes differ\n");
    process.exit(1);
  }
  rows.push({ way: "two passes", wallMs: two.wallMs, cpuMs: two.cpuMs });
  rows.push({ way: "one pass", wallMs: one.wallMs, cpuMs: one.cpuMs });
  process.stdout.write(
    `round ${round + 1}: two passes ${two.wallMs} ms wall, ${two.cpuMs} ms CPU; one pass ${one.wallMs} ms wall, ${one.cpuMs} ms CPU (equal)\n`,
  );
}

async function settledExternal(): Promise<{ rssMB: number; externalMB: number }> {
  for (let i = 0; i < 3; i++) {
    gc?.();
    await new Promise((r) => setTimeout(r, 200));
  }
  const m = process.memoryUsage();
  return { rssMB: Math.round(m.rss / 1048576), externalMB: Math.round(m.external / 1048576) };
}
const beforeSeal = await settledExternal();
state.sealOrders();
const afterSeal = await settledExternal();
load.end = loadavg().map((l) => Math.round(l * 100) / 100);
const medianOf = (way: string, key: "wallMs" | "cpuMs") =>
  median(rows.filter((r) => r.way === way).map((r) => r[key]));
process.stdout.write(
  `${JSON.stringify({
    customers: state.customerCount,
    orders: state.orderCount,
    median: {
      twoPasses: { wallMs: medianOf("two passes", "wallMs"), cpuMs: medianOf("two passes", "cpuMs") },
      onePass: { wallMs: medianOf("one pass", "wallMs"), cpuMs: medianOf("one pass", "cpuMs") },
    },
    seal: { before: beforeSeal, after: afterSeal },
    load,
  })}\n`,
);
