/**
 * The capacity and cost model's measurements: one full run of the pipeline's computation in this process on
 * synthetic data (scripts/bench/generate.ts), stage by stage, with the process's peak memory, and what a
 * daily refresh changes. Everything a run holds is measured: the aggregate state, the computed columns, the
 * per-customer views (outputs) the run diffs and stores, and the diff itself. The table writes are counted
 * (items per customer), not timed: DynamoDB Local's speed says nothing about DynamoDB's.
 *
 * Run in a child process per size by `npm run bench -- --capacity` (scripts/bench.ts), or directly:
 *
 *   tsx scripts/bench/capacity.ts <customers> [--dir bench-out]
 *
 * Prints one JSON line: sizes, seconds per stage, peak RSS, bytes per customer, items written per customer
 * on a full run and on the next day's refresh.
 */
import { createReadStream, readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { AggregateState, computeSegments, ingestTransactions } from "../../shared/engine";
import { encodeMemberPages } from "../../shared/pipeline/member-pages";
import { encodeMembership, Membership } from "../../shared/pipeline/membership";
import { diffOutputs, encodeOutputs, outputsAndProfiles } from "../../shared/pipeline/outputs";
import { diffOutputsReference, outputsAndProfilesReference } from "../../shared/pipeline/outputs-reference";
import type { CustomerWrite } from "../../shared/pipeline/ports";
import { customerItem } from "../../shared/store/dynamo";
import { checkOrExit, parseOrExit, wholeNumber } from "../cli";
import { DEFAULT_SPEC, syntheticFile } from "./generate";
import { writeUnits } from "./item-size";

/** Write units of the customer items a run puts, sized as the store writes them (ids as long as the service's). */
function unitsOf(writes: readonly CustomerWrite[], version: number): number {
  let units = 0;
  for (const w of writes) units += writeUnits(customerItem("tenant-0001", "dataset-0001", version, w));
  return units;
}

/** The two ways of building and diffing the views: the run's own (pipeline/outputs.ts) and the simple reference. */
export type ViewsWay = "run" | "reference";
const VIEWS_WAYS = {
  run: { outputsAndProfiles, diffOutputs },
  reference: { outputsAndProfiles: outputsAndProfilesReference, diffOutputs: diffOutputsReference },
} as const;

type Stage = "read" | "compute" | "outputs" | "encode" | "diff" | "refresh" | "memberPages";

export interface CapacityMeasurement {
  /** Which way built and diffed the views. */
  views: ViewsWay;
  customers: number;
  rows: number;
  bytes: number;
  seconds: Record<Stage, number>;
  /** CPU seconds of the process (user + system, all threads) in each stage. */
  cpuSeconds: Record<Stage, number>;
  /** Peak resident memory of this process (VmHWM), and its resident memory before the run. */
  peakRssMb: number;
  baseRssMb: number;
  /** The process's peak resident memory (VmHWM) at the end of each stage: where the peak was reached. */
  peakRssMbAfter: Record<Stage, number>;
  encodedOutputsBytes: number;
  /** Table items a full run writes (customer items; members are pages in S3), and the next day's refresh. */
  itemsFullRun: number;
  itemsRefresh: number;
  /** Write units of those items (one per started KB of each item). */
  unitsFullRun: number;
  unitsRefresh: number;
  /** S3 PUTs of a version's member pages (one per segment and the index), and their bytes. */
  memberPagePuts: number;
  memberPageBytes: number;
  customersChangedByRefresh: number;
  /** The machine's 1-minute load average at the start and the end of the measurement. */
  load: [number, number];
}

function peakRssMb(): number {
  const status = readFileSync("/proc/self/status", "utf8");
  const match = /VmHWM:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) / 1024 : process.memoryUsage().rss / 2 ** 20;
}

function nextDay(iso: string): string {
  return new Date(Date.parse(`${iso}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
}

/**
 * One full run and the next day's refresh, as one compute function runs each: what a run no longer needs is
 * let go as it would be (the full run's writes are counted and dropped before the refresh, which holds the
 * committed views and the new ones, as a refresh does).
 */
export async function measureCapacity(
  customers: number,
  dir: string,
  views: ViewsWay = "run",
): Promise<CapacityMeasurement> {
  const way = VIEWS_WAYS[views];
  const file = syntheticFile(dir, { ...DEFAULT_SPEC, customers });
  const load: [number, number] = [loadavg()[0] as number, 0];
  const baseRssMb = process.memoryUsage().rss / 2 ** 20;
  const zero = { read: 0, compute: 0, outputs: 0, encode: 0, diff: 0, refresh: 0, memberPages: 0 };
  const seconds: Record<Stage, number> = { ...zero };
  const cpuSeconds: Record<Stage, number> = { ...zero };
  const peakRssMbAfter: Record<Stage, number> = { ...zero };
  let t = performance.now();
  let cpu = process.cpuUsage();
  const stage = (name: Stage) => {
    const used = process.cpuUsage(cpu);
    seconds[name] = (performance.now() - t) / 1000;
    cpuSeconds[name] = (used.user + used.system) / 1e6;
    peakRssMbAfter[name] = peakRssMb();
    t = performance.now();
    cpu = process.cpuUsage();
  };
  const state = new AggregateState();
  await ingestTransactions(
    createReadStream(file.path, { highWaterMark: 1 << 20 }),
    { format: "csv", compression: "none", expectedOrders: file.rows },
    state,
  );
  stage("read");

  const result = computeSegments(state, { asOf: file.asOf });
  const customerCount = result.customerCount;
  const segmentIds = result.segments.map((s) => s.id);
  stage("compute");
  const { outputs } = way.outputsAndProfiles(result);
  stage("outputs");
  const encodedOutputsBytes = encodeOutputs(outputs).length;
  stage("encode");
  const full = way.diffOutputs(new Map(), outputs);
  stage("diff");
  const itemsFullRun = full.customers.length;
  const unitsFullRun = unitsOf(full.customers, 1);
  t = performance.now();
  cpu = process.cpuUsage();
  const pages = encodeMemberPages(new Membership(encodeMembership(outputs, segmentIds)), 1);
  stage("memberPages");
  let memberPageBytes = JSON.stringify(pages.index).length;
  for (const body of pages.objects.values()) memberPageBytes += body.length;

  // The next day's refresh: same state, one day later, diffed against this run's views. As a run does: a
  // customer is rewritten only when what the table stores of it (its view without the predictions, which
  // readers evaluate: pipeline/served-view.ts) or its history changes.
  const tomorrow = way.outputsAndProfiles(computeSegments(state, { asOf: nextDay(file.asOf) })).outputs;
  const refresh = way.diffOutputs(outputs, tomorrow);
  stage("refresh");
  load[1] = loadavg()[0] as number;

  return {
    views,
    customers: customerCount,
    rows: file.rows,
    bytes: file.bytes,
    seconds,
    cpuSeconds,
    peakRssMb: peakRssMb(),
    baseRssMb,
    peakRssMbAfter,
    encodedOutputsBytes,
    itemsFullRun,
    itemsRefresh: refresh.customers.length,
    unitsFullRun,
    unitsRefresh: unitsOf(refresh.customers, 2),
    memberPagePuts: pages.objects.size + 1,
    memberPageBytes,
    customersChangedByRefresh: refresh.customers.length,
    load,
  };
}

/**
 * List prices used by the model: us-east-1, as published on the AWS pricing pages for Lambda (arm64),
 * DynamoDB (on-demand, after the November 2024 reduction), S3 Standard, Step Functions (standard workflows)
 * and EventBridge (custom events), read on 2026-11-23.
 */
export const PRICES = {
  date: "2026-11-23",
  lambdaGbSecond: 0.0000133334,
  lambdaRequest: 0.2 / 1e6,
  dynamoWriteUnit: 0.625 / 1e6,
  s3Put: 0.005 / 1000,
  s3Get: 0.0004 / 1000,
  stepTransition: 0.025 / 1000,
  event: 1 / 1e6,
} as const;

/** What the model assumes and cannot measure here; each is stated next to the figures. */
export const ASSUMPTIONS = {
  /** Lambda's memory limit, and what a run may use of it (the rest: runtime, SDK, buffers). */
  lambdaMemoryMb: 10_240,
  usableMemoryShare: 0.9,
  lambdaTimeoutSeconds: 900,
  /** Memory of the compute function as deployed, and the coordinator of sharded runs. */
  computeMemoryMb: 3008,
  /** One S3 GetObject stream into Lambda, MB/s; reading overlaps parsing, so the slower of the two counts. */
  s3StreamMbPerSecond: 90,
  /** Table writes one function sustains (BatchWriteItem, 25 items a call, 8 calls in flight, ~20 ms each). */
  writesPerSecondPerFunction: 10_000,
  /**
   * Write units of a run's own items (dataset item updates, run record, upload, version), whatever its size:
   * 83-107 measured on DynamoDB Local for the CDNOW sample (test/integration/write-units.test.ts); the dataset
   * item grows with the segments and the committed summary, so this allows for twice that.
   */
  runOwnWriteUnits: 250,
  /** Lambda's single-thread speed relative to this machine's (the engine uses one core). */
  lambdaSpeedFactor: 1,
} as const;

export interface CapacityModel {
  bytesPerCustomer: number;
  baseMb: number;
  cpuSecondsPerMillion: number;
  rowsPerSecond: number;
  itemsPerCustomerFullRun: number;
  itemsPerCustomerRefresh: number;
  unitsPerCustomerFullRun: number;
  unitsPerCustomerRefresh: number;
  maxCustomersByMemory: number;
  maxCustomersByTime: number;
  maxCustomers: number;
  costFullRunPerMillion: { lambda: number; dynamo: number; other: number; total: number };
  costRefreshPerMillion: { lambda: number; dynamo: number; other: number; total: number };
}

/** The model from measurements at two sizes (slope between them, so fixed costs drop out). */
export function capacityModel(small: CapacityMeasurement, large: CapacityMeasurement): CapacityModel {
  const a = ASSUMPTIONS;
  const dc = large.customers - small.customers;
  const bytesPerCustomer = ((large.peakRssMb - small.peakRssMb) * 2 ** 20) / dc;
  const baseMb = small.peakRssMb - (small.customers * bytesPerCustomer) / 2 ** 20;
  const cpu = (m: CapacityMeasurement) =>
    m.seconds.read +
    m.seconds.compute +
    m.seconds.outputs +
    m.seconds.encode +
    m.seconds.diff +
    m.seconds.memberPages;
  const cpuPerCustomer = (cpu(large) - cpu(small)) / dc / a.lambdaSpeedFactor;
  const bytesPerRow = large.bytes / large.rows;
  const rowsPerCustomer = large.rows / large.customers;
  // Reading is bounded by the slower of parsing and the S3 stream.
  const readPerCustomer = Math.max(
    large.seconds.read / large.customers,
    (rowsPerCustomer * bytesPerRow) / (a.s3StreamMbPerSecond * 1e6),
  );
  const itemsFull = large.itemsFullRun / large.customers;
  const itemsRefresh = large.itemsRefresh / large.customers;
  const unitsFull = large.unitsFullRun / large.customers;
  const unitsRefresh = large.unitsRefresh / large.customers;
  const secondsPerCustomer =
    cpuPerCustomer -
    large.seconds.read / large.customers +
    readPerCustomer +
    itemsFull / a.writesPerSecondPerFunction;
  const usableMb = a.lambdaMemoryMb * a.usableMemoryShare;
  const maxByMemory = Math.floor(((usableMb - baseMb) * 2 ** 20) / bytesPerCustomer);
  const maxByTime = Math.floor(a.lambdaTimeoutSeconds / secondsPerCustomer);

  const gb = a.computeMemoryMb / 1024;
  const million = 1e6;
  const fullSeconds = secondsPerCustomer * million;
  // A refresh reads the stored state (a small share of a run) and recomputes, diffs and writes what changed.
  const refreshCpu = large.seconds.refresh / large.customers;
  const refreshSeconds =
    (refreshCpu / a.lambdaSpeedFactor + itemsRefresh / a.writesPerSecondPerFunction) * million;
  const events = (items: number) => Math.ceil((items * million) / 500);
  const cost = (seconds: number, items: number, units: number) => {
    const lambda = seconds * gb * PRICES.lambdaGbSecond + PRICES.lambdaRequest;
    // The customer items' units, and the run's own writes (the dataset item, the run record, the upload and
    // the version: a fixed number a run whatever its size, measured by test/integration/write-units.test.ts).
    const dynamo = (units * million + a.runOwnWriteUnits) * PRICES.dynamoWriteUnit;
    // A handful of S3 requests (the upload, state and outputs in 8 MiB parts), the version's member pages
    // (one PUT per segment and the index, whatever the run changed) and the change events.
    const s3Requests =
      4 + Math.ceil((million * (bytesPerCustomer / 4)) / (8 * 2 ** 20)) + large.memberPagePuts;
    const other = s3Requests * PRICES.s3Put + 2 * PRICES.s3Get + events(items) * PRICES.event;
    return { lambda, dynamo, other, total: lambda + dynamo + other };
  };
  return {
    bytesPerCustomer,
    baseMb,
    cpuSecondsPerMillion: cpuPerCustomer * million,
    rowsPerSecond: large.rows / large.seconds.read,
    itemsPerCustomerFullRun: itemsFull,
    itemsPerCustomerRefresh: itemsRefresh,
    unitsPerCustomerFullRun: unitsFull,
    unitsPerCustomerRefresh: unitsRefresh,
    maxCustomersByMemory: maxByMemory,
    maxCustomersByTime: maxByTime,
    maxCustomers: Math.min(maxByMemory, maxByTime),
    costFullRunPerMillion: cost(fullSeconds, itemsFull, unitsFull),
    costRefreshPerMillion: cost(refreshSeconds, itemsRefresh, unitsRefresh),
  };
}

if (process.argv[1]?.endsWith("capacity.ts")) {
  const cli = {
    name: "bench:capacity",
    usage: `usage: npm run bench:capacity   (the model from 100,000 and 1,000,000 customers, both ways of the views)
       tsx scripts/bench/capacity.ts [--model] [--views run|reference|both] [--dir bench-out] <customers>...
  --model  measure each size in a process of its own and print the capacity and cost model
  --views  how the views are built and diffed: the run's own way (pipeline/outputs.ts), the simple reference
           (pipeline/outputs-reference.ts), or both, each size's two processes one after the other
           (default: run; with --model, both)
  --dir    where generated files go (default bench-out)
`,
    allowPositionals: true,
    options: {
      dir: { type: "string", default: "bench-out" },
      model: { type: "boolean", default: false },
      views: { type: "string" },
    },
  } as const;
  const { values, positionals } = parseOrExit(cli);
  checkOrExit(cli, () => {
    for (const p of positionals) wholeNumber("customers", p, 1, 100_000_000);
    if (values.views !== undefined && !["run", "reference", "both"].includes(values.views)) {
      throw new Error(`--views must be run, reference or both, not ${values.views}`);
    }
    if (values.views === "both" && !values.model) throw new Error("--views both needs --model");
  });
  const views = values.views ?? (values.model ? "both" : "run");
  if (!values.model) {
    const measured = await measureCapacity(Number(positionals[0] ?? 200_000), values.dir, views as ViewsWay);
    process.stdout.write(`${JSON.stringify(measured)}\n`);
  } else {
    // Each size and way in a process of its own, so each peak is its own; the ways alternate, size by size.
    const { execFileSync } = await import("node:child_process");
    const sizes = (positionals.length > 0 ? positionals : ["100000", "1000000"]).map(Number);
    const ways: ViewsWay[] = views === "both" ? ["reference", "run"] : [views as ViewsWay];
    const runs = new Map<ViewsWay, CapacityMeasurement[]>(ways.map((w) => [w, []]));
    for (const n of sizes) {
      for (const way of ways) {
        const out = execFileSync(
          process.execPath,
          ["--import", "tsx", process.argv[1] as string, String(n), "--views", way, "--dir", values.dir],
          { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] },
        );
        const measured = JSON.parse(out.trim().split("\n").pop() as string) as CapacityMeasurement;
        process.stdout.write(`${JSON.stringify(measured)}\n`);
        runs.get(way)?.push(measured);
      }
    }
    for (const [way, measured] of runs) {
      const model = capacityModel(
        measured[0] as CapacityMeasurement,
        measured[measured.length - 1] as CapacityMeasurement,
      );
      process.stdout.write(
        `\nviews built and diffed the ${way === "run" ? "run's own way" : "reference way"}\n` +
          `${JSON.stringify({ views: way, assumptions: ASSUMPTIONS, prices: PRICES, model }, null, 2)}\n\n`,
      );
      process.stdout.write(markdown(measured, model));
    }
  }
}

/** The figures as BENCHMARKS.md shows them. */
function markdown(runs: readonly CapacityMeasurement[], model: CapacityModel): string {
  const n = (x: number, digits = 0) => x.toLocaleString("en-US", { maximumFractionDigits: digits });
  const usd = (x: number) => `$${x < 0.01 ? x.toFixed(4) : x.toFixed(2)}`;
  const lines = [
    "| customers | rows | read s | compute s | views s | diff s | member pages s (PUTs) | next-day refresh s | peak RSS MB | items / write units (full) | items / write units (refresh) |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...runs.map(
      (r) =>
        `| ${n(r.customers)} | ${n(r.rows)} | ${n(r.seconds.read, 1)} | ${n(r.seconds.compute, 1)} | ${n(r.seconds.outputs + r.seconds.encode, 1)} | ${n(r.seconds.diff, 1)} | ${n(r.seconds.memberPages, 1)} (${n(r.memberPagePuts)}) | ${n(r.seconds.refresh, 1)} | ${n(r.peakRssMb)} | ${n(r.itemsFullRun)} / ${n(r.unitsFullRun)} | ${n(r.itemsRefresh)} / ${n(r.unitsRefresh)} |`,
    ),
    "",
    "| customers | CPU s: read / compute / views / diff / member pages / refresh | peak RSS MB after: compute / views / diff / refresh | load average at start / end |",
    "|---:|---:|---:|---:|",
    ...runs.map((r) => {
      const c = r.cpuSeconds;
      const p = r.peakRssMbAfter;
      return `| ${n(r.customers)} | ${[c.read, c.compute, c.outputs + c.encode, c.diff, c.memberPages, c.refresh].map((x) => n(x, 1)).join(" / ")} | ${[p.compute, p.encode, p.diff, p.refresh].map((x) => n(x)).join(" / ")} | ${r.load.map((x) => n(x, 1)).join(" / ")} |`;
    }),
    "",
    "| model figure | value |",
    "|---|---:|",
    `| memory per customer (slope of peak RSS) | ${n(model.bytesPerCustomer)} bytes |`,
    `| fixed memory (intercept) | ${n(model.baseMb)} MB |`,
    `| CPU per million customers (read, compute, views, diff) | ${n(model.cpuSecondsPerMillion)} s |`,
    `| rows read per second | ${n(model.rowsPerSecond)} |`,
    `| table items per customer: full run / daily refresh | ${n(model.itemsPerCustomerFullRun, 2)} / ${n(model.itemsPerCustomerRefresh, 4)} |`,
    `| write units per customer: full run / daily refresh | ${n(model.unitsPerCustomerFullRun, 3)} / ${n(model.unitsPerCustomerRefresh, 4)} |`,
    `| largest dataset in one function, by memory (10 GB) | ${n(model.maxCustomersByMemory)} customers |`,
    `| largest dataset in one function, by time (15 min, writes included) | ${n(model.maxCustomersByTime)} customers |`,
    `| full run per million customers: Lambda / DynamoDB / S3+events / total | ${usd(model.costFullRunPerMillion.lambda)} / ${usd(model.costFullRunPerMillion.dynamo)} / ${usd(model.costFullRunPerMillion.other)} / **${usd(model.costFullRunPerMillion.total)}** |`,
    `| daily refresh per million customers: Lambda / DynamoDB / S3+events / total | ${usd(model.costRefreshPerMillion.lambda)} / ${usd(model.costRefreshPerMillion.dynamo)} / ${usd(model.costRefreshPerMillion.other)} / **${usd(model.costRefreshPerMillion.total)}** |`,
    "",
  ];
  return lines.join("\n");
}
