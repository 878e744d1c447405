/**
 * The sharded computation run locally: the same plan, partition, aggregate, order-check and merge functions
 * the cloud steps call (shared/engine/shard), with a pool of worker threads for the partition, aggregate and
 * check tasks. Where the cloud steps pass parts, partials and order lists through the object store, this
 * runner passes them between its threads in memory: each buffer is transferred (not copied) from the thread
 * that made it to the one that reads it, so the shuffle costs no file writes or reads. The merge runs in the
 * calling thread, and from VALUE_THREAD_MIN_CUSTOMERS customers its value stage runs on a thread of its own
 * beside the clusters' fit (a core the pool's workers leave idle during the merge; the same bits).
 *
 * Memory: the parts of every range are held between the partition and the aggregate steps (about the
 * upload's size, in the process, outside the V8 heaps); a worker holds one range, or one bucket's parts and
 * state, at a time. A bucket's parts are dropped once it is aggregated; in the rare run whose check finds an
 * order in two buckets, the buckets to rebuild get their parts again from a second partition of the ranges.
 * When the upload is larger than the machine can hold so (shuffleBudget), or when asked (`shuffle`), the
 * parts go through files instead: the partition writes them to a temporary directory, the aggregate reads
 * its bucket's back one at a time, and the directory is removed when the run ends, failed or not.
 *
 *   const run = await runShardedLocal({ file, settings, workers: 2, workerFile });
 *   run.merged.result  // the ComputedSegmentation computeSegments gives on the whole file
 */
import { closeSync, existsSync, mkdtempSync, openSync, readSync, rmSync, statSync } from "node:fs";
import nodeModule from "node:module";
import { availableParallelism, freemem, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import {
  aggregateContext,
  type BucketForeignOrders,
  type ComputeSettings,
  combineForeignOrders,
  DEFAULT_BUCKETS,
  FileError,
  type FileErrorCode,
  type ForeignOrders,
  MAX_BUCKETS,
  type MergedSegmentation,
  mergePartials,
  ORDER_SLICES,
  PLAN_HEAD_BYTES,
  planShards,
  type ReaderOptions,
  type ShardPlan,
} from "../../shared/engine";
import { VALUE_THREAD_MIN_CUSTOMERS } from "../../shared/engine/value-thread";
import {
  partFile,
  SHARD_WORKER,
  type ShardTask,
  type ShardTaskResult,
  type WorkerMemory,
  type WorkerMessage,
} from "./worker";

export interface LocalShardOptions {
  /** The transactions file. */
  file: string;
  settings: ComputeSettings;
  reader?: ReaderOptions;
  /** Worker threads (default: the machine's cores). */
  workers?: number;
  /**
   * Target size of a byte range (default: the engine's). The runner rounds the number of ranges up to a
   * multiple of the workers, so that no worker waits for another's last range.
   */
  rangeBytes?: number;
  /** Customer buckets (default bucketsFor(the upload's size)). */
  buckets?: number;
  /** The worker entry: the bundled worker (worker.mjs), or worker.ts itself when running from source. */
  workerFile: string;
  /** V8 old-generation limit of each worker, MB (default 1024). */
  workerHeapMB?: number;
  /**
   * How the parts pass from the partition to the aggregate tasks: in memory, through files in a temporary
   * directory, or (default "auto") in memory when the upload is at most `shuffleBudgetBytes`.
   */
  shuffle?: ShuffleMode;
  /** The largest upload "auto" shuffles in memory, bytes (default shuffleBudget()). */
  shuffleBudgetBytes?: number;
  /** Where the files shuffle makes its temporary directory (default the OS's temp directory). */
  tmpDir?: string;
  /**
   * Fewest customers for which the merge's value stage runs on a thread of its own (default
   * VALUE_THREAD_MIN_CUSTOMERS, as the segment CLI; Infinity: never).
   */
  valueThreadFrom?: number;
}

export type ShuffleMode = "memory" | "files" | "auto";

/**
 * The largest upload the runner shuffles in memory by default: a quarter of the machine's memory, and at most
 * half of what is free when the run starts. The parts take about the upload's size (plus 4 bytes a line) in
 * the process until each bucket is aggregated, on top of the merge's columns and the workers' heaps.
 */
export function shuffleBudget(): number {
  return Math.floor(Math.min(totalmem() / 4, freemem() / 2));
}

/** Bytes of upload per bucket the runner aims at when not told the number of buckets. */
export const BUCKET_BYTES = 32 << 20;

/**
 * The buckets for an upload of `bytes`: one per BUCKET_BYTES, at least DEFAULT_BUCKETS. A bucket's state
 * (its customers' hash table and order columns) grows with its share of the upload, and the aggregate's cost
 * per row with it, as the state outgrows the processor's caches: at 10 M customers, 16 buckets of 270 MB
 * each cost more per row than 129 of 32 MB.
 */
export function bucketsFor(bytes: number): number {
  return Math.min(MAX_BUCKETS, Math.max(DEFAULT_BUCKETS, Math.ceil(bytes / BUCKET_BYTES)));
}

/** The shuffle a run of an upload of `bytes` uses. */
export function chooseShuffle(mode: ShuffleMode, bytes: number, budget: number): "memory" | "files" {
  if (mode !== "auto") return mode;
  return bytes <= budget ? "memory" : "files";
}

export interface LocalShardRun {
  merged: MergedSegmentation;
  plan: ShardPlan;
  /** Wall seconds of each step; the check runs during the merge, whose seconds include it. */
  seconds: {
    plan: number;
    partition: number;
    aggregate: number;
    check: number;
    merge: number;
    total: number;
  };
  /** Peak memory of each worker thread. */
  workers: WorkerMemory[];
  /** Bytes of parts passed from the partition to the aggregate tasks (the shuffle). */
  shuffleBytes: number;
  /** How they passed. */
  shuffle: "memory" | "files";
  /** Milliseconds of the tasks, by kind, summed over the workers (their busy time). */
  taskMs: { partition: number; aggregate: number; check: number };
}

/** A worker thread on the shard worker's entry: the bundle as is, the TypeScript source through tsx's loader. */
function startWorker(file: string, heapMB: number): Worker {
  const options = { resourceLimits: { maxOldGenerationSizeMb: heapMB }, workerData: SHARD_WORKER };
  if (!file.endsWith(".ts")) return new Worker(file, options);
  const api = pathToFileURL(nodeModule.createRequire(import.meta.url).resolve("tsx/esm/api")).href.replace(
    /\.cjs$/,
    ".mjs",
  );
  const code =
    `import { register } from ${JSON.stringify(api)};` +
    `register(); await import(${JSON.stringify(pathToFileURL(file).href)});`;
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(code)}`), options);
}

type Job = {
  task: ShardTask;
  transfer: ArrayBuffer[];
  done: (r: ShardTaskResult) => void;
  fail: (e: Error) => void;
};

class Pool {
  private readonly workers: Worker[] = [];
  private readonly idle: number[] = [];
  private readonly queue: Job[] = [];
  readonly memory: WorkerMemory[];
  readonly taskMs = { partition: 0, aggregate: 0, check: 0 };
  /** The tasks posted to each worker, oldest first (a worker runs its tasks one at a time, in order). */
  private readonly running: Job[][];

  constructor(size: number, file: string, heapMB: number) {
    if (!existsSync(file)) throw new Error(`No shard worker at ${file}`);
    this.memory = Array.from({ length: size }, () => ({ heapUsedMB: 0, externalMB: 0, totalMB: 0 }));
    this.running = Array.from({ length: size }, () => []);
    for (let w = 0; w < size; w++) {
      const worker = startWorker(file, heapMB);
      const posted = this.running[w] as Job[];
      worker.on("message", (message: WorkerMessage) => {
        this.memory[w] = message.memory;
        const job = posted.shift();
        if (message.ok) {
          this.taskMs[message.result.kind] += message.result.ms;
          job?.done(message.result);
        } else {
          const { name, message: text, code } = message.error;
          job?.fail(
            name === "FileError" && code !== undefined
              ? new FileError(code as FileErrorCode, text)
              : Object.assign(new Error(text), { name }),
          );
        }
        if (posted.length === 0) {
          this.idle.push(w);
          this.pump();
        }
      });
      worker.on("error", (error) => {
        for (const job of posted.splice(0)) job.fail(error);
      });
      this.workers.push(worker);
      this.idle.push(w);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  /** Runs a task on the next idle worker; the buffers of `transfer` move to it (unusable here after). */
  run(task: ShardTask, transfer: ArrayBuffer[] = []): Promise<ShardTaskResult> {
    return new Promise((done, fail) => {
      this.queue.push({ task, transfer, done, fail });
      this.pump();
    });
  }

  /**
   * Posts a task to worker w now, behind the tasks it has: the worker goes on through its tasks while this
   * thread is busy (a queued task waits for this thread to hand it out). Use when every worker is idle.
   */
  runOn(w: number, task: ShardTask, transfer: ArrayBuffer[] = []): Promise<ShardTaskResult> {
    return new Promise((done, fail) => {
      const at = this.idle.indexOf(w);
      if (at >= 0) this.idle.splice(at, 1);
      (this.running[w] as Job[]).push({ task, transfer, done, fail });
      (this.workers[w] as Worker).postMessage(task, transfer);
    });
  }

  private pump(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const w = this.idle.shift() as number;
      const job = this.queue.shift() as Job;
      (this.running[w] as Job[]).push(job);
      (this.workers[w] as Worker).postMessage(job.task, job.transfer);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

function head(file: string, size: number): Uint8Array {
  const fd = openSync(file, "r");
  try {
    const bytes = new Uint8Array(Math.min(size, PLAN_HEAD_BYTES));
    readSync(fd, bytes, 0, bytes.length, 0);
    return bytes;
  } finally {
    closeSync(fd);
  }
}

/** The buffers under some views, each once (a list to transfer them with). */
function buffers(views: readonly Uint8Array[]): ArrayBuffer[] {
  return [...new Set(views.map((v) => v.buffer as ArrayBuffer))];
}

export async function runShardedLocal(options: LocalShardOptions): Promise<LocalShardRun> {
  const started = performance.now();
  const reader = options.reader ?? { format: "csv" };
  const size = statSync(options.file).size;
  const workers = options.workers ?? availableParallelism();
  const shuffle = chooseShuffle(
    options.shuffle ?? "auto",
    size,
    options.shuffleBudgetBytes ?? shuffleBudget(),
  );
  const valueThreadFrom = options.valueThreadFrom ?? VALUE_THREAD_MIN_CUSTOMERS;
  const pool = new Pool(workers, options.workerFile, options.workerHeapMB ?? 1024);
  let dir: string | undefined;
  try {
    if (shuffle === "files") dir = mkdtempSync(join(options.tmpDir ?? tmpdir(), "shard-shuffle-"));
    let t = performance.now();
    const headBytes = head(options.file, size);
    const plan = await planShards(headBytes, size, {
      reader,
      ...(options.rangeBytes === undefined ? {} : { rangeBytes: options.rangeBytes }),
      buckets: options.buckets ?? bucketsFor(size),
    });
    // As many ranges as asked for, rounded up to a multiple of the workers: each works the same share.
    const dataBytes = size - plan.dataStart;
    const wanted = Math.ceil(plan.ranges.length / workers) * workers;
    const balanced =
      wanted === plan.ranges.length || dataBytes < wanted
        ? plan
        : await planShards(headBytes, size, {
            reader,
            rangeBytes: Math.ceil(dataBytes / wanted),
            buckets: plan.buckets,
          });
    const planSeconds = (performance.now() - t) / 1000;

    // Partition: every range's parts, parts[bucket][range], in memory (the files are partFile(dir, r, b)).
    const partitionAll = async (keep: (bucket: number) => boolean) => {
      const parts = Array.from(
        { length: balanced.buckets },
        () => new Array<Uint8Array>(balanced.ranges.length),
      );
      const results = await Promise.all(
        balanced.ranges.map(async (range) => {
          const r = await pool.run({
            kind: "partition",
            file: options.file,
            plan: balanced,
            index: range.index,
            ...(dir === undefined ? {} : { dir }),
          });
          if (r.kind !== "partition") throw new Error("Unexpected task result");
          r.parts.forEach((part, b) => {
            if (keep(b)) (parts[b] as Uint8Array[])[range.index] = part;
          });
          return { index: r.index, lines: r.lines, currencies: r.currencies, partBytes: r.partBytes };
        }),
      );
      return { parts, results };
    };
    t = performance.now();
    const first = await partitionAll(() => true);
    const partitionSeconds = (performance.now() - t) / 1000;
    let shuffleBytes = 0;
    for (const { partBytes } of first.results) for (const bytes of partBytes) shuffleBytes += bytes;

    t = performance.now();
    const context = aggregateContext(balanced, first.results, options.settings);
    const parts: (Uint8Array[] | undefined)[] = first.parts;
    const bucketIds = Array.from({ length: balanced.buckets }, (_, b) => b);
    const filesOf = (shuffleDir: string, bucket: number) => ({
      files: balanced.ranges.map((range) => partFile(shuffleDir, range.index, bucket)),
    });
    const aggregate = async (bucket: number, foreignOrders?: ForeignOrders) => {
      // In memory, the parts move to the worker and are dropped after; files stay until the run ends.
      const given = dir === undefined ? parts[bucket] : filesOf(dir, bucket);
      if (given === undefined) throw new Error(`The parts of bucket ${bucket} are gone`);
      parts[bucket] = undefined;
      const r = await pool.run(
        {
          kind: "aggregate",
          context,
          bucket,
          parts: given,
          ...(foreignOrders === undefined ? {} : { foreignOrders }),
        },
        Array.isArray(given) ? buffers(given) : [],
      );
      if (r.kind !== "aggregate") throw new Error("Unexpected task result");
      // The parts come back with the result, and are dropped here.
      return { partial: r.partial, orders: r.orders };
    };
    const aggregates = await Promise.all(bucketIds.map((bucket) => aggregate(bucket)));
    const aggregateSeconds = (performance.now() - t) / 1000;

    // The check runs on the workers while this thread merges, as if no order were in two buckets (the
    // merge without conflicts); when the check finds some after all, the merge runs again with them.
    t = performance.now();
    let checkSeconds = 0;
    const checking = Promise.all(
      Array.from({ length: ORDER_SLICES }, async (_, slice) => {
        const lists = aggregates.map((a) => a.orders[slice] as Uint8Array);
        const r = await pool.runOn(slice % pool.size, { kind: "check", slice, lists }, buffers(lists));
        if (r.kind !== "check") throw new Error("Unexpected task result");
        return r.conflicts;
      }),
    ).then((c) => {
      checkSeconds = (performance.now() - t) / 1000;
      return c;
    });
    const partials = aggregates.map((a) => a.partial);
    const optimistic = mergePartials(partials, options.settings, { valueThreadFrom }).then(
      (merged) => ({ merged }),
      (error: unknown) => ({ error }),
    );
    const conflicts: BucketForeignOrders[][] = await checking;
    const rebuilt = new Set(combineForeignOrders(conflicts).keys());
    let merged: MergedSegmentation;
    const guess = await optimistic;
    if (rebuilt.size === 0) {
      if ("error" in guess) throw guess.error;
      merged = guess.merged;
    } else {
      // In memory, the buckets to rebuild get their parts again from a second partition, run at the first
      // rebuild; their files are still there.
      let again: Promise<void> | undefined;
      merged = await mergePartials(partials, options.settings, {
        conflicts,
        valueThreadFrom,
        rebuild: async (bucket, foreignOrders) => {
          if (dir === undefined) {
            again ??= partitionAll((b) => rebuilt.has(b)).then((second) => {
              for (const b of rebuilt) parts[b] = second.parts[b];
            });
            await again;
          }
          return (await aggregate(bucket, foreignOrders)).partial;
        },
      });
    }
    const mergeSeconds = (performance.now() - t) / 1000;
    return {
      merged,
      plan: balanced,
      seconds: {
        plan: planSeconds,
        partition: partitionSeconds,
        aggregate: aggregateSeconds,
        check: checkSeconds,
        merge: mergeSeconds,
        total: (performance.now() - started) / 1000,
      },
      workers: pool.memory,
      shuffleBytes,
      shuffle,
      taskMs: pool.taskMs,
    };
  } finally {
    await pool.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  }
}
