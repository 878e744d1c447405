/**
 * Benchmark of lookalike segments (shared/engine/lookalike) in a run, on simulated customers: 1 to 5 orders
 * each over two years in 30 categories and 4 channels, a customers file with a country of 30 values and an
 * age (5 % missing). computeSegments runs with the value models and clusters off, once without and once
 * with `--lookalikes` lookalikes of RFM segments (top 10 % each); printed: the lookalike stage's time beside
 * the other stages' (CPU time, and the stage's wall time), the customers trained on, and the first lookalike's AUC (a check figure, so the work
 * cannot be skipped), with the load average, as the machine may be shared.
 *
 *   npx tsx scripts/bench/lookalikes.ts [--customers 1m] [--lookalikes 3]
 */
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { computeSegments } from "../../shared/engine/compute";
import { ingestCustomers, ingestTransactions } from "../../shared/engine/ingest";
import { AggregateState } from "../../shared/engine/state";
import type { ComputeSettings } from "../../shared/engine/types";
import { size } from "../cli";
import { mulberry32 } from "../random";

const { values } = parseArgs({ options: { customers: { type: "string" }, lookalikes: { type: "string" } } });
const N = size("customers", values.customers ?? "1m");
const LOOKALIKES = size("lookalikes", values.lookalikes ?? "3");

const next = mulberry32(21);

/** The text in chunks of about 8 MB, as a file would be read. */
async function* chunks(lines: () => Generator<string>): AsyncGenerator<Uint8Array> {
  let buffer: string[] = [];
  let size = 0;
  for (const line of lines()) {
    buffer.push(line);
    size += line.length + 1;
    if (size > 8_000_000) {
      yield Buffer.from(`${buffer.join("\n")}\n`);
      buffer = [];
      size = 0;
    }
  }
  if (buffer.length > 0) yield Buffer.from(`${buffer.join("\n")}\n`);
}

const start = Date.parse("2023-01-01T00:00:00Z");
function* transactions(): Generator<string> {
  yield "customer_id,order_id,order_date,amount,category,channel";
  let order = 0;
  for (let c = 0; c < N; c++) {
    const orders = 1 + Math.floor(next() ** 2 * 5);
    for (let k = 0; k < orders; k++) {
      const day = new Date(start + Math.floor(next() * 730) * 86_400_000).toISOString().slice(0, 10);
      const category = `cat${Math.floor(next() ** 2 * 30)}`;
      const channel = ["web", "app", "store", "phone"][Math.floor(next() ** 1.5 * 4)];
      yield `C${c},O${order++},${day},${(5 + next() * 195).toFixed(2)},${category},${channel}`;
    }
  }
}
function* customers(): Generator<string> {
  yield "customer_id,country,age";
  for (let c = 0; c < N; c++) {
    const age = next() < 0.05 ? "" : String(18 + Math.floor(next() * 60));
    yield `C${c},country${Math.floor(next() ** 2 * 30)},${age}`;
  }
}

const state = new AggregateState();
let t = performance.now();
await ingestTransactions(chunks(transactions), { format: "csv" }, state);
await ingestCustomers(chunks(customers), { format: "csv" }, state);
console.log(
  `ingested ${state.customerCount} customers, ${state.orderCount} orders in ${Math.round(performance.now() - t)} ms`,
);

const base: ComputeSettings = { asOf: "2025-01-01", clusters: false, value: false };
const seeds = ["rfm:champions", "rfm:loyal", "rfm:at-risk", "rfm:hibernating", "rfm:potential-loyalist"];
const withLookalikes: ComputeSettings = {
  ...base,
  lookalikes: Array.from({ length: LOOKALIKES }, (_, i) => ({
    id: `lookalike:l${i}`,
    name: `L${i}`,
    seed: seeds[i % seeds.length] as string,
    size: { percent: 10 },
  })),
};
const cpuMs = (since: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
};
let c = process.cpuUsage();
const plainSegments = computeSegments(state, base).segments.length;
const plainCpu = cpuMs(c);
c = process.cpuUsage();
t = performance.now();
const result = computeSegments(state, withLookalikes);
const wall = performance.now() - t;
const withCpu = cpuMs(c);
const report = result.segments.find((s) => s.family === "lookalike")?.lookalike;
console.log(
  JSON.stringify(
    {
      customers: result.customerCount,
      lookalikes: LOOKALIKES,
      segmentsWithout: plainSegments,
      segmentsWith: result.segments.length,
      // CPU time, which a busy machine does not inflate as it does the wall time.
      computeCpuMsWithout: Math.round(plainCpu),
      computeCpuMsWith: Math.round(withCpu),
      lookalikeCpuMsEach: Math.round((withCpu - plainCpu) / LOOKALIKES),
      lookalikeStageWallMs: Math.round(result.timings.lookalikes ?? 0),
      wallMs: Math.round(wall),
      trained: report?.trained,
      features: report?.features.length,
      firstAuc: report?.auc,
      loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
    },
    null,
    2,
  ),
);
