/**
 * Reading a plain CSV transactions file on every core: the file is cut into byte ranges at line starts with
 * the shard planner (planShards, one range per worker thread), each worker reads its range into a state of
 * its own with ingestTransactions, and the states merge, in file order, into the state a read of the whole
 * file in one thread gives (merge.ts): the same customers in the same order, the same orders, amounts,
 * dictionaries and currency (serialize() byte for byte), the same report counts, and the same rejected rows
 * with the same line numbers, in the same order.
 *
 * The file is read in one thread instead, with ingestTransactions itself, when that is all it can be:
 * NDJSON or gzip, a file smaller than minBytes, one thread available, no worker entry to start, options
 * only a whole read has (onCustomerAdded, onOrderAdded, isForeignOrder, binaryProbeBytes), a header the
 * planner refuses, or a merge that cannot be exact (merge.ts). A worker that fails for any reason other
 * than the source's own error also gives way to a read in one thread, so the outcome, a state or a
 * FileError, is always the one-thread read's. An error of the source (a broken stream) is rethrown as it is.
 *
 * The worker threads run worker.ts: from source through tsx, or, in a bundle, the bundle itself (it holds
 * worker.ts), started with workerData RANGE_WORKER. A bundle's entry must therefore start no work of its own
 * at its top level in a worker thread (check isMainThread), as the segment CLI does.
 *
 * The source is a file's size and a way to read it from an offset: a local file's path (the workers open it
 * themselves), or a stream per range that this thread reads and posts to its worker, a few chunks ahead
 * (S3 ranged GETs in the compute function): no range is held whole in memory.
 */
import { availableParallelism } from "node:os";
import type { Worker } from "node:worker_threads";
import { type IngestOptions, ingestTransactions } from "../ingest";
import { PLAN_HEAD_BYTES, planShards, rangeReadStart, type ShardPlan } from "../shard";
import type { AggregateState } from "../state";
import { startWorker, WORKER_BUNDLES, workerEntry } from "../threads";
import type { IngestReport } from "../types";
import { type MergeRefusal, mergeRanges } from "./merge";
import { type FromWorker, type RangeResult, type RangeTask, receivedError, type ToWorker } from "./protocol";
// Bundled with every caller, so that a bundle can start itself as a worker (defaultWorkerUrl).
import { RANGE_WORKER } from "./worker";

export { isEmptyState, type MergeRefusal } from "./merge";

/**
 * Files below this size are read in one thread: starting the workers (some 0.3 s) and the merge (about 0.4 s
 * per 100 MB on one core when this was measured; less since it walks sorted keys) cost more than two threads
 * save below it. Measured on 2 cores (BENCHMARKS.md,
 * "Reading on every core"): 18 MB and 42 MB files took 0.6 s and 1.0 s on two threads against 0.36 s and
 * 0.72 s on one, 422 MB 6.2 s against 7.0 s; the break-even lies near 140 MB.
 */
export const PARALLEL_MIN_BYTES = 256 << 20;
/** Most worker threads one read starts. */
export const MAX_READ_THREADS = 16;
/** Chunks posted to a worker and not yet taken by it, per worker. */
const CHUNKS_AHEAD = 4;

export interface RangeSource {
  /** The file's size in bytes. */
  readonly size: number;
  /** The file's bytes from `start` to its end; the reader returns the iterator when it has enough. */
  open(start: number): AsyncIterable<Uint8Array>;
  /** A local file's path: the workers then open the file themselves. */
  readonly path?: string;
}

export interface ParallelOptions {
  /** Worker threads (default os.availableParallelism(), at most MAX_READ_THREADS); below 2, one thread. */
  readonly threads?: number;
  /** Files smaller than this are read in one thread (default PARALLEL_MIN_BYTES). */
  readonly minBytes?: number;
  /** Byte ranges (default one per thread; more than threads are read one after another). */
  readonly ranges?: number;
  /** The worker entry (default: defaultWorkerUrl()). */
  readonly workerUrl?: URL;
  /** Test hook: the worker of this range fails as if it had crashed. */
  readonly failRange?: number;
}

/** Why a read went to one thread. */
export type OneThreadReason =
  | "ONE_THREAD"
  | "SMALL_FILE"
  | "NOT_CSV"
  | "OPTIONS"
  | "NO_WORKER"
  | "PLAN"
  | "WORKER_FAILED"
  | MergeRefusal;

export interface ParallelRead {
  /** The state holding the file's rows: the state passed in, or a new one when that was empty. */
  readonly state: AggregateState;
  readonly report: IngestReport;
  /** Threads that read the file (1 when read in one thread). */
  readonly threads: number;
  readonly ranges: number;
  /** Why the file was read in one thread, when it was. */
  readonly oneThread?: OneThreadReason;
  /** Stage times; `keys`, within `ranges`, is the longest a worker took to sort its range's keys. */
  readonly ms: { plan: number; ranges: number; merge: number; keys: number };
}

/**
 * The worker entry: the TypeScript source of worker.ts when this module runs from source (tsx, tests), else
 * worker.ts's own bundle next to the bundle this module was bundled into (a Lambda handler, the segment CLI),
 * or where that is absent that bundle itself, which holds worker.ts too and serves ranges in a thread started
 * with its workerData.
 */
export function defaultWorkerUrl(): URL | undefined {
  return workerEntry(import.meta.url, "./worker.ts", WORKER_BUNDLES.range);
}

async function headOf(source: RangeSource): Promise<Uint8Array> {
  const want = Math.min(source.size, PLAN_HEAD_BYTES);
  const out = new Uint8Array(want);
  let at = 0;
  for await (const chunk of source.open(0)) {
    const take = Math.min(chunk.length, want - at);
    out.set(chunk.subarray(0, take), at);
    at += take;
    if (at >= want) break;
  }
  return at === want ? out : out.subarray(0, at);
}

/** The source error that ended a posting loop, kept apart from worker failures. */
class SourceFailure {
  constructor(readonly error: unknown) {}
}

/** One worker thread, given range tasks one at a time. */
class RangeWorker {
  private readonly worker: Worker;
  private job: {
    done: (r: RangeResult) => void;
    fail: (e: unknown) => void;
    ack: () => void;
    enough: () => void;
  } | null = null;
  private failure: unknown;

  constructor(url: URL) {
    this.worker = startWorker(url, RANGE_WORKER);
    this.worker.on("message", (message: FromWorker) => {
      const job = this.job;
      if (job === null) return;
      if (message.kind === "ack") job.ack();
      else if (message.kind === "enough") job.enough();
      else if (message.kind === "done") {
        this.job = null;
        job.done(message.result);
      } else {
        this.job = null;
        job.fail(receivedError(message.error));
      }
    });
    const fail = (error: unknown) => {
      this.failure ??= error;
      const job = this.job;
      this.job = null;
      job?.fail(error);
    };
    this.worker.on("error", fail);
    this.worker.on("exit", (code) => fail(new Error(`The read worker stopped (exit code ${code})`)));
  }

  /** Reads a range; for a stream source, posts the bytes from `open` a few chunks ahead. */
  async read(task: RangeTask, open: (() => AsyncIterable<Uint8Array>) | undefined): Promise<RangeResult> {
    if (this.failure !== undefined) throw this.failure;
    let ahead = 0;
    let enough = false;
    let wake: (() => void) | null = null;
    const nudge = () => {
      wake?.();
      wake = null;
    };
    const result = new Promise<RangeResult>((done, fail) => {
      this.job = {
        done,
        fail,
        ack: () => {
          ahead--;
          nudge();
        },
        enough: () => {
          enough = true;
          nudge();
        },
      };
    });
    let finished = false;
    result.then(
      () => {
        finished = true;
        nudge();
      },
      () => {
        finished = true;
        nudge();
      },
    );
    this.worker.postMessage(task satisfies ToWorker);
    if (open !== undefined) {
      try {
        for await (const chunk of open()) {
          if (enough || finished) break;
          // Transfer the chunk's memory when it is all the chunk's; copy a view of a shared buffer.
          const whole = chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength;
          const bytes = whole ? chunk : chunk.slice();
          this.worker.postMessage({ kind: "chunk", index: task.index, bytes } satisfies ToWorker, [
            bytes.buffer as ArrayBuffer,
          ]);
          ahead++;
          while (ahead >= CHUNKS_AHEAD && !enough && !finished) {
            await new Promise<void>((resolve) => (wake = resolve));
          }
        }
      } catch (error) {
        throw new SourceFailure(error);
      }
      if (!enough && !finished)
        this.worker.postMessage({ kind: "end", index: task.index } satisfies ToWorker);
    }
    return result;
  }

  /** Stops the thread; a range still being read fails, which ends its posting loop. */
  async close(): Promise<void> {
    this.worker.removeAllListeners("exit");
    const job = this.job;
    this.job = null;
    job?.fail(new Error("The read was stopped"));
    await this.worker.terminate();
  }
}

/**
 * Reads a transactions file into `state` as ingestTransactions(source.open(0), options, state) does, on
 * several threads when the file is a plain CSV large enough (see the module header). Use the returned
 * state: it is `state` unless `state` was empty. When the read throws, discard `state`, as after
 * ingestTransactions.
 */
export async function ingestTransactionsParallel(
  source: RangeSource,
  options: IngestOptions,
  state: AggregateState,
  parallel: ParallelOptions = {},
): Promise<ParallelRead> {
  const started = performance.now();
  const threads = Math.min(
    MAX_READ_THREADS,
    Math.max(1, Math.floor(parallel.threads ?? availableParallelism())),
  );
  const oneThread = async (reason: OneThreadReason, plan = 0): Promise<ParallelRead> => {
    const t = performance.now();
    const report = await ingestTransactions(source.open(0), options, state);
    return {
      state,
      report,
      threads: 1,
      ranges: 1,
      oneThread: reason,
      ms: { plan, ranges: performance.now() - t, merge: 0, keys: 0 },
    };
  };
  if (threads < 2) return oneThread("ONE_THREAD");
  if (options.format !== "csv") return oneThread("NOT_CSV");
  if (source.size < (parallel.minBytes ?? PARALLEL_MIN_BYTES)) return oneThread("SMALL_FILE");
  if (
    options.onCustomerAdded !== undefined ||
    options.onOrderAdded !== undefined ||
    options.isForeignOrder !== undefined ||
    options.binaryProbeBytes !== undefined ||
    options.csvStats !== undefined ||
    options.currencies !== undefined ||
    options.keepTables !== undefined
  ) {
    return oneThread("OPTIONS");
  }
  const url = parallel.workerUrl ?? defaultWorkerUrl();
  if (url === undefined) return oneThread("NO_WORKER");

  let plan: ShardPlan;
  try {
    const rangeCount = Math.max(1, Math.floor(parallel.ranges ?? threads));
    plan = await planShards(await headOf(source), source.size, {
      reader: {
        format: "csv",
        ...(options.compression === undefined ? {} : { compression: options.compression }),
        ...(options.columns === undefined ? {} : { columns: options.columns }),
      },
      rangeBytes: Math.max(1, Math.ceil(source.size / rangeCount)),
      buckets: 1,
    });
  } catch {
    // The read in one thread meets the same problem and reports it as it always does.
    return oneThread("PLAN");
  }
  const planMs = performance.now() - started;
  if (plan.ranges.length < 2) return oneThread("SMALL_FILE", planMs);

  const t = performance.now();
  const dataBytes = source.size - plan.dataStart;
  const tasks: RangeTask[] = plan.ranges.map((range) => ({
    kind: "range",
    index: range.index,
    plan,
    source: source.path === undefined ? { kind: "stream" } : { kind: "file", path: source.path },
    ...(state.currency === undefined ? {} : { currency: state.currency }),
    ...(options.latestOrderDay === undefined ? {} : { latestOrderDay: options.latestOrderDay }),
    expectedOrders:
      ((options.expectedOrders ?? dataBytes / 40) * (range.end - range.start)) / Math.max(1, dataBytes),
    ...(parallel.failRange === range.index ? { fail: true } : {}),
  }));
  const workerCount = Math.min(threads, tasks.length);
  const workers = Array.from({ length: workerCount }, () => new RangeWorker(url));
  const results: RangeResult[] = new Array(tasks.length);
  let rangesMs: number;
  try {
    let next = 0;
    await Promise.all(
      workers.map(async (worker) => {
        while (next < tasks.length) {
          const task = tasks[next++] as RangeTask;
          const start = rangeReadStart(plan, task.index);
          results[task.index] = await worker.read(
            task,
            source.path === undefined ? () => source.open(start) : undefined,
          );
        }
      }),
    );
    rangesMs = performance.now() - t;
  } catch (error) {
    await Promise.all(workers.map((w) => w.close()));
    if (error instanceof SourceFailure) throw error.error;
    return oneThread("WORKER_FAILED", planMs);
  }
  await Promise.all(workers.map((w) => w.close()));

  const m = performance.now();
  const merged = mergeRanges(results, state, plan.headerLine);
  if (!merged.ok) return oneThread(merged.refusal, planMs);
  if (options.onRowError !== undefined) for (const error of merged.errors) options.onRowError(error);
  if (options.totals !== undefined) options.totals.absoluteCents = merged.absoluteCents;
  return {
    state: merged.state,
    report: merged.report,
    threads: workerCount,
    ranges: tasks.length,
    ms: {
      plan: planMs,
      ranges: rangesMs,
      merge: performance.now() - m,
      keys: Math.max(...results.map((r) => r.keysMs)),
    },
  };
}
