/**
 * Segments local files with the engine, without AWS:
 *
 *   npm run segment -- <transactions file> [--customers <file>] [--out <file>] [--as-of yyyy-mm-dd]
 *                      [--k <n>] [--seed <n>] [--format csv|ndjson] [--holdout-days <n>]
 *                      [--horizon-days <n>] [--model auto|bgnbd|pareto|mbgnbd]
 *                      [--parallel-min-mb <n>] [--value-thread-min <n>] [--profiles <file>]
 *
 * Reads a transactions file (CSV with a header or NDJSON; gzip is detected from its bytes; the format comes
 * from the name, `.ndjson`/`.jsonl` being NDJSON, unless --format says), and optionally a customers file,
 * computes RFM, lifecycle stages, clusters and predicted value, and writes one CSV row per customer with at
 * least one order to --out (default `<transactions file>.segments.csv`), streamed in chunks and renamed into
 * place when complete.
 *
 * - `--as-of` fixes the evaluation date; without it the file is evaluated as of today (UTC), the rule the
 *   service follows for a dataset without a fixed asOf (shared/engine/evaluation-date.ts). When the latest
 *   order is more than 180 days (the lapsed window) before the evaluation date, the summary's issues carry
 *   STALE_DATA and stderr says so: for a historical file, pass the day after its last order as --as-of.
 * - `--k` fixes the number of clusters (1–64); without it k is chosen from 3–8 by silhouette. `--seed` seeds
 *   the clustering (default 1).
 * - `--holdout-days` sets the holdout window the repeat-purchase models are validated on (default a quarter
 *   of the span from the first order to the evaluation date, at most 365 days); `--horizon-days` the horizon
 *   of expected purchases and CLV (default 365); `--model` fixes the repeat-purchase model (BG/NBD,
 *   Pareto/NBD or MBG/NBD) instead of the one with the lowest holdout error (auto, the default).
 * - `--profiles <file>` also writes every segment's profile with lift (README "Segment profiles": spend per
 *   category and channel, customer attributes, each against all customers; cells of fewer than 10 customers
 *   suppressed) as JSON `{ k, top, profiles: { [segmentId]: profile } }`; the summary then carries
 *   `profiles: { segments, ms }`.
 * - Rejected rows are counted; the first few (row, column, code, reason) are listed on stderr.
 * - A plain CSV transactions file of 256 MiB or more (`--parallel-min-mb` sets the size) is read and
 *   aggregated on every core (worker threads over byte ranges, shared/engine/parallel), with the result of a
 *   read in one thread; the summary's `readThreads` says how many read it.
 * - With 200,000 customers or more (`--value-thread-min` sets the count) the value stage runs on a thread of
 *   its own while the clusters are fitted (shared/engine/value-thread.ts), with the result of one thread;
 *   the summary's `seconds.valueThread` is then that thread's time, and `seconds.value` the wait for it.
 *   `seconds.nextBestCategory` is the next best category's time, spent while that thread works. The clusters
 *   are then fitted on one thread fewer than the cores, leaving that thread a core.
 * - Without `--profiles` the orders are let go once the order pass has its totals (after the next best
 *   category when orders carry categories): the CSV needs none of them, and the run's peak memory is lower.
 * - The last line of stdout is a JSON summary: counts, seconds per stage, peak memory, the cluster model's
 *   k and inertia, every fitted model's parameters under `models` (bgNbd, paretoNbd, mbgNbd, gammaGamma),
 *   the model selected and how, and the holdout validation record.
 * - The per-customer CSV carries the selected model's predictions over the horizon and their 80% intervals
 *   (expected_purchases_low/high, clv_low/high), and each customer's next best category (README "Next best
 *   category"; empty when there is none). The summary's `nextBestCategory` is its hit rate on the last 90 days
 *   of orders against the most popular category, or why it was skipped (NBC_NO_CATEGORIES without categories).
 *
 * Exit codes: 0 done; 1 a file cannot be read or is not valid (the message carries the FileError code, or the
 * system's error code such as ENOENT); 2 bad arguments.
 */
import { createReadStream } from "node:fs";
import { type FileHandle, open, rename, stat, unlink, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { isMainThread } from "node:worker_threads";
import {
  AggregateState,
  type ComputedSegmentation,
  ComputeError,
  type ComputeIssue,
  type ComputeSettings,
  computeSegments,
  evaluationDate,
  FileError,
  type FileFormat,
  type IngestReport,
  ingestCustomers,
  ingestTransactionsParallel,
  parseDay,
  type RepeatModelFitSummary,
  type RepeatModelName,
  type RowError,
  type ValueModelSummary,
  type ValueValidation,
} from "../shared/engine";
import type { GammaGammaParams } from "../shared/engine/clv";
import type { NbcReport } from "../shared/engine/next-best-category";
import { profilesOf } from "../shared/engine/profiles";
import { MAX_HORIZON_DAYS } from "../shared/engine/value";
import { VALUE_THREAD_MIN_CUSTOMERS } from "../shared/engine/value-thread";
import { parseErrorMessage, wantsHelpIn } from "./cli";
import { writeCustomerRows } from "./segment-csv";

export const OUTPUT_COLUMNS = [
  "customer_id",
  "first_purchase",
  "recency_days",
  "frequency",
  "monetary",
  "r",
  "f",
  "m",
  "rfm_segment",
  "cluster",
  "lifecycle_stage",
  "probability_alive",
  "expected_purchases",
  "expected_purchases_low",
  "expected_purchases_high",
  "clv",
  "clv_low",
  "clv_high",
  "next_best_category",
] as const;

/** Where the CLI writes; process.stdout / process.stderr by default, string collectors in tests. */
export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

const USAGE = `usage: npm run segment -- <transactions file> [--customers <file>] [--out <file>]
                           [--as-of yyyy-mm-dd] [--k <n>] [--seed <n>] [--format csv|ndjson]
                           [--holdout-days <n>] [--horizon-days <n>] [--model auto|bgnbd|pareto|mbgnbd]
                           [--profiles <file>] [--parallel-min-mb <n>] [--value-thread-min <n>]`;

/** --model's words and the engine's model names. */
const MODEL_OPTION = { auto: "auto", bgnbd: "bgNbd", pareto: "paretoNbd", mbgnbd: "mbgNbd" } as const;

/** Rejected rows listed on stderr; all are counted. */
const LISTED_ROW_ERRORS = 5;

class UsageError extends Error {}

interface Options {
  transactions: string;
  customers: string | undefined;
  out: string;
  asOf: string | undefined;
  k: number | undefined;
  seed: number;
  format: FileFormat | undefined;
  holdoutDays: number | undefined;
  horizonDays: number | undefined;
  parallelMinMb: number | undefined;
  valueThreadMin: number;
  model: (typeof MODEL_OPTION)[keyof typeof MODEL_OPTION] | undefined;
  profiles: string | undefined;
}

const OPTIONS = {
  customers: { type: "string" },
  out: { type: "string" },
  "as-of": { type: "string" },
  k: { type: "string" },
  seed: { type: "string" },
  format: { type: "string" },
  "holdout-days": { type: "string" },
  "horizon-days": { type: "string" },
  "parallel-min-mb": { type: "string" },
  "value-thread-min": { type: "string" },
  model: { type: "string" },
  profiles: { type: "string" },
} as const;

function parseArgv(argv: readonly string[]) {
  try {
    return parseArgs({ args: [...argv], allowPositionals: true, strict: true, options: OPTIONS });
  } catch (error) {
    throw new UsageError(parseErrorMessage(error));
  }
}

function parseOptions(argv: readonly string[]): Options {
  const parsed = parseArgv(argv);
  const { values, positionals } = parsed;
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0
        ? "a transactions file is required"
        : `one transactions file expected, got ${positionals.length}: ${positionals.join(" ")}`,
    );
  }
  const transactions = positionals[0] as string;
  const asOf = values["as-of"];
  if (asOf !== undefined && !(/^\d{4}-\d{2}-\d{2}$/.test(asOf) && parseDay(asOf) !== undefined)) {
    throw new UsageError(`--as-of must be a calendar date yyyy-mm-dd, got "${asOf}"`);
  }
  const integer = (name: string, text: string | undefined, min: number, max: number): number | undefined => {
    if (text === undefined) return undefined;
    const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
    if (!(Number.isSafeInteger(n) && n >= min && n <= max)) {
      throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, got "${text}"`);
    }
    return n;
  };
  const format = values.format;
  if (format !== undefined && format !== "csv" && format !== "ndjson") {
    throw new UsageError(`--format must be csv or ndjson, got "${format}"`);
  }
  return {
    transactions,
    customers: values.customers,
    out: values.out ?? `${transactions}.segments.csv`,
    asOf,
    k: integer("k", values.k, 1, 64),
    seed: integer("seed", values.seed, 0, 0xffffffff) ?? 1,
    format,
    holdoutDays: integer("holdout-days", values["holdout-days"], 1, 3650),
    horizonDays: integer("horizon-days", values["horizon-days"], 1, MAX_HORIZON_DAYS),
    parallelMinMb: integer("parallel-min-mb", values["parallel-min-mb"], 0, 1 << 20),
    valueThreadMin:
      integer("value-thread-min", values["value-thread-min"], 0, Number.MAX_SAFE_INTEGER) ??
      VALUE_THREAD_MIN_CUSTOMERS,
    model: modelOption(values.model),
    profiles: values.profiles,
  };
}

function modelOption(text: string | undefined): Options["model"] {
  if (text === undefined) return undefined;
  if (!Object.hasOwn(MODEL_OPTION, text)) {
    throw new UsageError(`--model must be one of ${Object.keys(MODEL_OPTION).join(", ")}, got "${text}"`);
  }
  return MODEL_OPTION[text as keyof typeof MODEL_OPTION];
}

function formatOf(path: string, declared: FileFormat | undefined): FileFormat {
  if (declared) return declared;
  return /\.(ndjson|jsonl)(\.gz)?$/i.test(path) ? "ndjson" : "csv";
}

/** A file problem that ends the run with exit code 1. */
class InputError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function openInput(path: string, what: string): Promise<number> {
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new InputError("NOT_A_FILE", `${what} ${path} is not a file`);
    return info.size;
  } catch (error) {
    if (error instanceof InputError) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? "UNREADABLE";
    throw new InputError(code, `cannot read ${what} ${path} (${code})`);
  }
}

class RowErrors {
  count = 0;
  readonly first: RowError[] = [];
  add = (error: RowError): void => {
    this.count++;
    if (this.first.length < LISTED_ROW_ERRORS) this.first.push(error);
  };

  print(io: CliIo, what: string): void {
    if (this.count === 0) return;
    io.stderr.write(`${what}: ${this.count} row${this.count === 1 ? "" : "s"} rejected\n`);
    for (const e of this.first) {
      io.stderr.write(`  line ${e.row}${e.column ? `, column ${e.column}` : ""}: ${e.code} ${e.reason}\n`);
    }
    if (this.count > this.first.length) io.stderr.write(`  … and ${this.count - this.first.length} more\n`);
  }
}

/**
 * Writes the per-customer CSV to `path` through a temporary file renamed into place when complete
 * (segment-csv.ts writes the rows).
 */
export async function writeCustomers(result: ComputedSegmentation, path: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  let file: FileHandle | undefined;
  try {
    file = await open(tmp, "w");
    await writeCustomerRows(result, OUTPUT_COLUMNS, file);
    await file.close();
    file = undefined;
    await rename(tmp, path);
  } catch (error) {
    await file?.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    const code = (error as NodeJS.ErrnoException).code ?? "WRITE_FAILED";
    throw new InputError(code, `cannot write ${path} (${code})`);
  }
}

/** Writes a text file through a temporary file renamed into place. */
async function writeText(text: string, path: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    await writeFile(tmp, text);
    await rename(tmp, path);
  } catch (error) {
    await unlink(tmp).catch(() => {});
    const code = (error as NodeJS.ErrnoException).code ?? "WRITE_FAILED";
    throw new InputError(code, `cannot write ${path} (${code})`);
  }
}

function seconds(ms: number): number {
  return Math.round(ms) / 1000;
}

/** Samples resident memory between event-loop turns; process.resourceUsage().maxRSS has the true peak. */
function rssSampler(): { stop(): number } {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 20);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, process.memoryUsage.rss());
    },
  };
}

function megabytes(bytes: number): number {
  return Math.round(bytes / 1048576);
}

/**
 * A repeat-purchase model's fit as the summary lists it: on all the data for the model refitted to serve the
 * predictions, else on the calibration part of the holdout validation (orders up to its calibrationEnd).
 */
export type ModelFit = RepeatModelFitSummary & { fittedOn: "all" | "calibration" };

function fitOf(value: ValueModelSummary, name: RepeatModelName): ModelFit | null {
  const all = value.models[name];
  if (all) return { ...all, fittedOn: "all" };
  const calibration = value.validation?.models[name]?.fit;
  return calibration ? { ...calibration, fittedOn: "calibration" } : null;
}

export interface SegmentSummaryLine {
  input: string;
  output: string;
  asOf: string;
  asOfDefaulted: boolean;
  rows: { read: number; accepted: number; rejected: number };
  customerRows?: { read: number; accepted: number; rejected: number };
  orders: number;
  /** Customers with at least one order (rows of the output), and all customers known. */
  customers: number;
  customersKnown: number;
  /** Threads that read the transactions file (1 for NDJSON, gzip, small files). */
  readThreads: number;
  seconds: Record<string, number>;
  peakMemoryMB: { maxRss: number; sampledRss: number };
  clusters: { k: number; inertia: number } | null;
  /** Every model fitted on all the data, by name; null for a model not fitted or whose fit failed. */
  models: {
    bgNbd: ModelFit | null;
    paretoNbd: ModelFit | null;
    mbgNbd: ModelFit | null;
    gammaGamma: { params: GammaGammaParams; logLikelihood: number | null; converged: boolean | null } | null;
  } | null;
  /** The model behind the predictions, and how it was chosen (holdout, setting or default). */
  selectedModel: RepeatModelName | null;
  selection: ValueModelSummary["selection"] | null;
  /** The holdout validation; null when it could not be done (validationSkipped says why) or without models. */
  validation: ValueValidation | null;
  validationSkipped: { code: string; message: string } | null;
  value: ValueModelSummary | null;
  /** The next best category's hit rate against the most popular category, or why not; null when off. */
  nextBestCategory: NbcReport | null;
  issues: ComputeIssue[];
}

async function run(options: Options, io: CliIo): Promise<SegmentSummaryLine> {
  const started = performance.now();
  const sampler = rssSampler();
  const size = await openInput(options.transactions, "transactions file");
  if (options.customers !== undefined) await openInput(options.customers, "customers file");

  let state = new AggregateState();
  const rejected = new RowErrors();
  const format = formatOf(options.transactions, options.format);
  let t = performance.now();
  let report: IngestReport;
  let readThreads = 1;
  try {
    const path = options.transactions;
    // A plain CSV large enough is read on every core (shared/engine/parallel), with the same result.
    const read = await ingestTransactionsParallel(
      { size, path, open: (start) => createReadStream(path, { start, highWaterMark: 1 << 20 }) },
      {
        format,
        compression: "auto",
        onRowError: rejected.add,
        // About 40 bytes per CSV row; a gzip file is some 4–5 times smaller than its text.
        expectedOrders: format === "csv" ? size / 40 : undefined,
      },
      state,
      options.parallelMinMb === undefined ? {} : { minBytes: options.parallelMinMb * 1048576 },
    );
    state = read.state;
    report = read.report;
    readThreads = read.threads;
  } catch (error) {
    throw inputError(error, "transactions file", options.transactions);
  }
  rejected.print(io, options.transactions);
  let customerReport: IngestReport | undefined;
  if (options.customers !== undefined) {
    const customerErrors = new RowErrors();
    try {
      customerReport = await ingestCustomers(
        createReadStream(options.customers, { highWaterMark: 1 << 20 }),
        {
          format: formatOf(options.customers, undefined),
          compression: "auto",
          onRowError: customerErrors.add,
        },
        state,
      );
    } catch (error) {
      throw inputError(error, "customers file", options.customers);
    }
    customerErrors.print(io, options.customers);
  }
  // Nothing adds an order from here on: the order ids' hashes go (8 bytes an order), lowering the run's peak.
  state.sealOrders();
  const readMs = performance.now() - t;

  const asOf = evaluationDate(options.asOf, new Date());
  const settings: ComputeSettings = {
    asOf,
    clusters: options.k === undefined ? { seed: options.seed } : { k: options.k, seed: options.seed },
    value: {
      ...(options.holdoutDays !== undefined ? { holdoutDays: options.holdoutDays } : {}),
      ...(options.horizonDays !== undefined ? { horizonDays: options.horizonDays } : {}),
      ...(options.model !== undefined ? { model: options.model } : {}),
    },
  };
  t = performance.now();
  const result = computeSegments(state, settings, {
    valueThread: state.customerCount >= options.valueThreadMin,
    // The CSV needs no order: the orders go once the order pass has its totals. The profiles read them.
    releaseOrders: options.profiles === undefined,
  });
  const computeMs = performance.now() - t;

  t = performance.now();
  await writeCustomers(result, options.out);
  const writeMs = performance.now() - t;

  let profiles: { segments: number; ms: number } | undefined;
  if (options.profiles !== undefined) {
    t = performance.now();
    const computed = profilesOf(result);
    const ms = Math.round(performance.now() - t);
    const { k, top } = computed;
    await writeText(JSON.stringify({ k, top, profiles: computed.profiles }), options.profiles);
    profiles = { segments: Object.keys(computed.profiles).length, ms };
  }

  const stage = (name: string): number => seconds(result.timings[name] ?? 0);
  const value = result.value;
  const sampled = sampler.stop();
  return {
    input: options.transactions,
    output: options.out,
    asOf,
    asOfDefaulted: options.asOf === undefined,
    rows: { read: report.rowsRead, accepted: report.rowsAccepted, rejected: report.rowsRejected },
    ...(customerReport
      ? {
          customerRows: {
            read: customerReport.rowsRead,
            accepted: customerReport.rowsAccepted,
            rejected: customerReport.rowsRejected,
          },
        }
      : {}),
    orders: state.orderCount,
    customers: result.customerCount,
    customersKnown: state.customerCount,
    readThreads,
    seconds: {
      readAggregate: seconds(readMs),
      rfm: stage("rfm"),
      lifecycle: stage("lifecycle"),
      clusters: stage("clusters"),
      value: stage("value"),
      ...(result.timings.valueThread === undefined ? {} : { valueThread: stage("valueThread") }),
      ...(result.timings.nextBestCategory === undefined
        ? {}
        : { nextBestCategory: stage("nextBestCategory") }),
      compute: seconds(computeMs),
      write: seconds(writeMs),
      total: seconds(performance.now() - started),
    },
    peakMemoryMB: {
      maxRss: Math.round(process.resourceUsage().maxRSS / 1024),
      sampledRss: megabytes(sampled),
    },
    clusters: result.clusters ? { k: result.clusters.k, inertia: result.clusters.inertia } : null,
    models: value
      ? {
          bgNbd: fitOf(value, "bgNbd"),
          paretoNbd: fitOf(value, "paretoNbd"),
          mbgNbd: fitOf(value, "mbgNbd"),
          gammaGamma: value.gammaGamma
            ? {
                params: value.gammaGamma,
                logLikelihood: value.logLikelihoods.gammaGamma,
                converged: value.converged.gammaGamma,
              }
            : null,
        }
      : null,
    selectedModel: value?.selectedModel ?? null,
    selection: value?.selection ?? null,
    validation: value?.validation ?? null,
    validationSkipped: value?.validationSkipped ?? null,
    value: value ?? null,
    ...(profiles !== undefined ? { profiles } : {}),
    nextBestCategory: result.nextBestCategory ?? null,
    issues: result.issues,
  };
}

function inputError(error: unknown, what: string, path: string): unknown {
  if (error instanceof FileError) return new InputError(error.code, `${what} ${path}: ${error.message}`);
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === "string") return new InputError(code, `cannot read ${what} ${path} (${code})`);
  return error;
}

/** Runs the CLI; resolves to the exit code. */
export async function main(argv: readonly string[], io: CliIo = process): Promise<number> {
  if (wantsHelpIn(argv, OPTIONS)) {
    io.stdout.write(`${USAGE}\n`);
    return 0;
  }
  let options: Options;
  try {
    options = parseOptions(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr.write(`segment: ${error.message} (--help for usage)\n`);
    return 2;
  }
  try {
    const summary = await run(options, io);
    io.stderr.write(
      `segment: ${summary.customers} customers written to ${summary.output} (as of ${summary.asOf})\n`,
    );
    for (const issue of summary.issues) {
      if (issue.stage === "data") io.stderr.write(`segment: ${issue.code}: ${issue.message}\n`);
    }
    io.stdout.write(`${JSON.stringify(summary)}\n`);
    return 0;
  } catch (error) {
    if (error instanceof InputError) {
      io.stderr.write(`segment: ${error.message} [${error.code}]\n`);
      return 1;
    }
    if (error instanceof ComputeError) {
      io.stderr.write(`segment: ${error.message} [${error.code}]\n`);
      return 2;
    }
    throw error;
  }
}

// Not in the worker threads of the parallel reader, which load this module's bundle to read ranges.
const invoked =
  isMainThread &&
  process.argv[1] !== undefined &&
  resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invoked) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`segment: ${(error as Error).stack ?? String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
