/**
 * The sharded computation run locally: the same plan, partition, aggregate, order-check and merge functions
 * the cloud steps call (shared/engine/shard), with a pool of worker threads for the partition, aggregate and
 * check tasks. Where the cloud steps pass parts, partials and order lists through the object store, this
 * runner passes them between its threads in memory: each buffer is transferred (not copied) from the thread
 * that made it to the one that reads it, so the shuffle costs no file writes or reads. The merge runs in the
 * calling thread.
 *
 * Memory: the parts of every range are held between the partition and the aggregate steps (about the
 * upload's size, in the process, outside the V8 heaps); a worker holds one range, or one bucket's parts and
 * state, at a time. A bucket's parts are dropped once it is aggregated; in the rare run whose check finds an
 * order in two buckets, the buckets to rebuild get their parts again from a second partition of the ranges.
 *
 *   const run = await runShardedLocal({ file, settings, workers: 2, workerFile });
 *   run.merged.result  // the ComputedSegmentation computeSegments gives on the whole file
 */
import { closeSync, existsSync, openSync, readSync, statSync } from "node:fs";
import nodeModule from "node:module";
import { availableParallelism } from "node:os";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import {
  aggregateContext,
  type BucketForeignOrders,
  type ComputeSettings,
  combineForeignOrders,
  FileError,
  type FileErrorCode,
  type ForeignOrders,
  type MergedSegmentation,
  mergePartials,
  ORDER_SLICES,
  PLAN_HEAD_BYTES,
  planShards,
  type ReaderOptions,
  type ShardPlan,
} from "../../shared/engine";
import {
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
  buckets?: number;
  /** The worker entry: the bundled worker (worker.mjs), or worker.ts itself when running from source. */
  workerFile: string;
  /** V8 old-generation limit of each worker, MB (default 1024). */
  workerHeapMB?: number;
}

export interface LocalShardRun {
  merged: MergedSegmentation;
  plan: ShardPlan;
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
  private readonly running = new Map<number, Job>();

  constructor(size: number, file: string, heapMB: number) {
    if (!existsSync(file)) throw new Error(`No shard worker at ${file}`);
    this.memory = Array.from({ length: size }, () => ({ heapUsedMB: 0, externalMB: 0, totalMB: 0 }));
    for (let w = 0; w < size; w++) {
      const worker = startWorker(file, heapMB);
      worker.on("message", (message: WorkerMessage) => {
        this.memory[w] = message.memory;
        const job = this.running.get(w);
        this.running.delete(w);
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
        this.idle.push(w);
        this.pump();
      });
      worker.on("error", (error) => {
        const job = this.running.get(w);
        this.running.delete(w);
        job?.fail(error);
      });
      this.workers.push(worker);
      this.idle.push(w);
    }
  }

  /** Runs a task on the next idle worker; the buffers of `transfer` move to it (unusable here after). */
  run(task: ShardTask, transfer: ArrayBuffer[] = []): Promise<ShardTaskResult> {
    return new Promise((done, fail) => {
      this.queue.push({ task, transfer, done, fail });
      this.pump();
    });
  }

  private pump(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const w = this.idle.shift() as number;
      const job = this.queue.shift() as Job;
      this.running.set(w, job);
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
  const pool = new Pool(workers, options.workerFile, options.workerHeapMB ?? 1024);
  try {
    let t = performance.now();
    const headBytes = head(options.file, size);
    const plan = await planShards(headBytes, size, {
      reader,
      ...(options.rangeBytes === undefined ? {} : { rangeBytes: options.rangeBytes }),
      ...(options.buckets === undefined ? {} : { buckets: options.buckets }),
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

    // Partition: every range's parts, parts[bucket][range].
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
          });
          if (r.kind !== "partition") throw new Error("Unexpected task result");
          r.parts.forEach((part, b) => {
            if (keep(b)) (parts[b] as Uint8Array[])[range.index] = part;
          });
          return { index: r.index, lines: r.lines, currencies: r.currencies };
        }),
      );
      return { parts, results };
    };
    t = performance.now();
    const first = await partitionAll(() => true);
    const partitionSeconds = (performance.now() - t) / 1000;
    let shuffleBytes = 0;
    for (const bucket of first.parts) for (const part of bucket) shuffleBytes += part.length;

    t = performance.now();
    const context = aggregateContext(balanced, first.results, options.settings);
    const parts: (Uint8Array[] | undefined)[] = first.parts;
    const bucketIds = Array.from({ length: balanced.buckets }, (_, b) => b);
    const aggregate = async (bucket: number, foreignOrders?: ForeignOrders) => {
      const given = parts[bucket];
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
        buffers(given),
      );
      if (r.kind !== "aggregate") throw new Error("Unexpected task result");
      // The parts come back with the result, and are dropped here.
      return { partial: r.partial, orders: r.orders };
    };
    const aggregates = await Promise.all(bucketIds.map((bucket) => aggregate(bucket)));
    const aggregateSeconds = (performance.now() - t) / 1000;

    t = performance.now();
    const checks = await Promise.all(
      Array.from({ length: ORDER_SLICES }, async (_, slice) => {
        const lists = aggregates.map((a) => a.orders[slice] as Uint8Array);
        const r = await pool.run({ kind: "check", slice, lists }, buffers(lists));
        if (r.kind !== "check") throw new Error("Unexpected task result");
        return r.conflicts;
      }),
    );
    const checkSeconds = (performance.now() - t) / 1000;

    t = performance.now();
    // The buckets to rebuild get their parts again from a second partition, run at the first rebuild.
    const conflicts: BucketForeignOrders[][] = checks;
    const rebuilt = new Set(combineForeignOrders(conflicts).keys());
    let again: Promise<void> | undefined;
    const merged = await mergePartials(
      aggregates.map((a) => a.partial),
      options.settings,
      {
        conflicts,
        rebuild: async (bucket, foreignOrders) => {
          again ??= partitionAll((b) => rebuilt.has(b)).then((second) => {
            for (const b of rebuilt) parts[b] = second.parts[b];
          });
          await again;
          return (await aggregate(bucket, foreignOrders)).partial;
        },
      },
    );
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
      taskMs: pool.taskMs,
    };
  } finally {
    await pool.close();
  }
}
