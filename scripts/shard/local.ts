/**
 * The sharded computation run locally: the same plan, partition, aggregate, order-check and merge functions
 * the cloud steps call (shared/engine/shard), with a pool of worker threads for the partition, aggregate and
 * check tasks and a directory standing in for the object store (a file per part, partial and order-list
 * slice), so that no thread holds more than one range or one bucket at a time. The merge runs in the calling
 * thread.
 *
 *   const run = await runShardedLocal({ file, settings, workers: 2 });
 *   run.merged.result  // the ComputedSegmentation computeSegments gives on the whole file
 */
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import {
  aggregateContext,
  type ComputeSettings,
  FileError,
  type FileErrorCode,
  type MergedSegmentation,
  mergePartials,
  ORDER_SLICES,
  PLAN_HEAD_BYTES,
  planShards,
  type ReaderOptions,
  type ShardPlan,
} from "../../shared/engine";
import { partialPath } from "./paths";
import type { ShardTask, ShardTaskResult, WorkerMemory, WorkerMessage } from "./worker";

export interface LocalShardOptions {
  /** The transactions file. */
  file: string;
  settings: ComputeSettings;
  reader?: ReaderOptions;
  /** Worker threads (default: the machine's cores). */
  workers?: number;
  rangeBytes?: number;
  buckets?: number;
  /** The worker entry (default: worker.mjs next to this module when bundled, worker.ts otherwise). */
  workerFile: string;
  /** Directory for the intermediate files (default: a new one under the OS temp dir, removed at the end). */
  dir?: string;
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
  /** Bytes of parts written (the shuffle). */
  shuffleBytes: number;
}

class Pool {
  private readonly workers: Worker[] = [];
  private readonly idle: number[] = [];
  private readonly queue: {
    task: ShardTask;
    done: (r: ShardTaskResult) => void;
    fail: (e: Error) => void;
  }[] = [];
  readonly memory: WorkerMemory[];
  private readonly running = new Map<
    number,
    { done: (r: ShardTaskResult) => void; fail: (e: Error) => void }
  >();

  constructor(size: number, file: string, heapMB: number) {
    this.memory = Array.from({ length: size }, () => ({ heapUsedMB: 0, externalMB: 0, totalMB: 0 }));
    for (let w = 0; w < size; w++) {
      const worker = new Worker(file, { resourceLimits: { maxOldGenerationSizeMb: heapMB } });
      worker.on("message", (message: WorkerMessage) => {
        this.memory[w] = message.memory;
        const job = this.running.get(w);
        this.running.delete(w);
        if (message.ok) job?.done(message.result);
        else {
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

  run(task: ShardTask): Promise<ShardTaskResult> {
    return new Promise((done, fail) => {
      this.queue.push({ task, done, fail });
      this.pump();
    });
  }

  private pump(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const w = this.idle.shift() as number;
      const job = this.queue.shift() as (typeof this.queue)[number];
      this.running.set(w, job);
      (this.workers[w] as Worker).postMessage(job.task);
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

export async function runShardedLocal(options: LocalShardOptions): Promise<LocalShardRun> {
  const started = performance.now();
  const reader = options.reader ?? { format: "csv" };
  const size = statSync(options.file).size;
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "shard-"));
  const pool = new Pool(
    options.workers ?? availableParallelism(),
    options.workerFile,
    options.workerHeapMB ?? 1024,
  );
  try {
    let t = performance.now();
    const plan = await planShards(head(options.file, size), size, {
      reader,
      ...(options.rangeBytes === undefined ? {} : { rangeBytes: options.rangeBytes }),
      ...(options.buckets === undefined ? {} : { buckets: options.buckets }),
    });
    const planSeconds = (performance.now() - t) / 1000;

    t = performance.now();
    const partitions = await Promise.all(
      plan.ranges.map((range) =>
        pool.run({ kind: "partition", file: options.file, dir, plan, index: range.index }),
      ),
    );
    const partitionSeconds = (performance.now() - t) / 1000;
    const shuffleBytes = partitions.reduce((n, p) => n + (p.kind === "partition" ? p.partBytes : 0), 0);

    t = performance.now();
    const context = aggregateContext(
      plan,
      partitions.flatMap((p) => (p.kind === "partition" ? [p] : [])),
      options.settings,
    );
    const buckets = Array.from({ length: plan.buckets }, (_, b) => b);
    await Promise.all(buckets.map((bucket) => pool.run({ kind: "aggregate", dir, context, bucket })));
    const aggregateSeconds = (performance.now() - t) / 1000;

    t = performance.now();
    const checks = await Promise.all(
      Array.from({ length: ORDER_SLICES }, (_, slice) =>
        pool.run({ kind: "check", dir, slice, buckets: plan.buckets }),
      ),
    );
    const checkSeconds = (performance.now() - t) / 1000;

    t = performance.now();
    const merged = await mergePartials(
      buckets.map((b) => async () => readFileSync(partialPath(dir, b))),
      options.settings,
      {
        conflicts: checks.map((c) => (c.kind === "check" ? c.conflicts : [])),
        rebuild: async (bucket, foreignOrders) => {
          await pool.run({ kind: "aggregate", dir, context, bucket, foreignOrders });
          return readFileSync(partialPath(dir, bucket));
        },
      },
    );
    const mergeSeconds = (performance.now() - t) / 1000;
    return {
      merged,
      plan,
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
    };
  } finally {
    await pool.close();
    if (ownDir) rmSync(dir, { recursive: true, force: true });
  }
}
