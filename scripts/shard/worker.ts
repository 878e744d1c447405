/**
 * A worker thread of the local sharded runner (local.ts): runs partition, aggregate and order-check tasks on
 * bytes the runner hands it (transferred, not copied) and hands its outputs back the same way, and reports its
 * peak memory. The partition reads its byte range of the upload; when the runner shuffles through files, it
 * writes its parts to the run's directory, and the aggregate reads them back one at a time.
 */
import { closeSync, openSync, readFileSync, readSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { getHeapStatistics } from "node:v8";
import { parentPort, workerData } from "node:worker_threads";
import {
  type AggregateContext,
  aggregateBucket,
  type BucketForeignOrders,
  checkOrderSlice,
  type ForeignOrders,
  partitionRange,
  rangeReadStart,
  type ShardPlan,
} from "../../shared/engine";

export type ShardTask =
  | {
      kind: "partition";
      file: string;
      plan: ShardPlan;
      index: number;
      /** Where to write the parts (partFile), rather than hand them back. */
      dir?: string;
    }
  | {
      kind: "aggregate";
      context: AggregateContext;
      bucket: number;
      /**
       * The bucket's part of every range, in range order: the bytes (handed back with the result), or the
       * files the partition wrote.
       */
      parts: Uint8Array[] | { files: string[] };
      foreignOrders?: ForeignOrders;
    }
  /** The slice's order list of every bucket. */
  | { kind: "check"; slice: number; lists: Uint8Array[] };

export interface WorkerMemory {
  /** Peak V8 heap in use (MB). */
  heapUsedMB: number;
  /** Peak memory outside the V8 heap held by this thread's objects: typed arrays and buffers (MB). */
  externalMB: number;
  /** Peak of heap in use + external (MB). */
  totalMB: number;
}

export type ShardTaskResult =
  | {
      kind: "partition";
      index: number;
      lines: number;
      currencies: string[];
      bytesRead: number;
      /** One part per bucket; empty when they were written to files. */
      parts: Uint8Array[];
      /** Bytes of each bucket's part. */
      partBytes: number[];
      ms: number;
    }
  | {
      kind: "aggregate";
      bucket: number;
      partial: Uint8Array;
      orders: Uint8Array[];
      /** The parts the task was given as bytes (none when it read files). */
      parts: Uint8Array[];
      ms: number;
    }
  | { kind: "check"; slice: number; conflicts: BucketForeignOrders[]; ms: number };

export type WorkerMessage =
  | { ok: true; result: ShardTaskResult; memory: WorkerMemory }
  | { ok: false; error: { name: string; message: string; code?: string }; memory: WorkerMemory };

/** What a thread started from the TypeScript source (tests) is given to know it is a shard worker. */
export const SHARD_WORKER = "shard-worker";

/** Size of the reads of a partition task. */
const READ_BYTES = 16 << 20;

/** The file of range r's part of bucket b in a run's directory. */
export function partFile(dir: string, range: number, bucket: number): string {
  return join(dir, `part-${range}-${bucket}`);
}

/** The parts in files, read one at a time as the aggregate asks for them. */
function* readParts(files: readonly string[]): Generator<Uint8Array> {
  for (const file of files) yield readFileSync(file);
}

const peak = { heapUsed: 0, external: 0, total: 0 };

function sample(): void {
  const heap = getHeapStatistics();
  const used = heap.used_heap_size;
  const external = process.memoryUsage().external;
  if (used > peak.heapUsed) peak.heapUsed = used;
  if (external > peak.external) peak.external = external;
  if (used + external > peak.total) peak.total = used + external;
}

function memory(): WorkerMemory {
  sample();
  const mb = (n: number) => Math.round(n / 1048576);
  return { heapUsedMB: mb(peak.heapUsed), externalMB: mb(peak.external), totalMB: mb(peak.total) };
}

/**
 * The file from `start` on, in reads of READ_BYTES, until the end or until the reader stops. Every read goes
 * into the same buffer: partitionRange keeps nothing of a chunk once it asks for the next (it copies what it
 * keeps), and a buffer reused costs no fresh pages at every read.
 */
async function* fileFrom(file: string, start: number): AsyncGenerator<Uint8Array> {
  const fd = openSync(file, "r");
  // Every byte handed on is read first: no need to zero the buffer.
  const bytes = Buffer.allocUnsafeSlow(READ_BYTES);
  try {
    let position = start;
    for (;;) {
      const n = readSync(fd, bytes, 0, bytes.length, position);
      if (n === 0) return;
      position += n;
      yield n === bytes.length ? bytes : bytes.subarray(0, n);
    }
  } finally {
    closeSync(fd);
  }
}

/** The buffers under some views, each once (a list to transfer them with). */
function buffers(views: readonly Uint8Array[]): ArrayBuffer[] {
  return [...new Set(views.map((v) => v.buffer as ArrayBuffer))];
}

async function run(task: ShardTask): Promise<{ result: ShardTaskResult; transfer: ArrayBuffer[] }> {
  const started = performance.now();
  if (task.kind === "partition") {
    const { plan, index } = task;
    const result = await partitionRange(fileFrom(task.file, rangeReadStart(plan, index)), plan, index);
    sample();
    const { dir } = task;
    if (dir !== undefined) {
      for (const [bucket, part] of result.parts.entries()) writeFileSync(partFile(dir, index, bucket), part);
    }
    const parts = dir === undefined ? result.parts : [];
    return {
      result: {
        kind: "partition",
        index,
        lines: result.lines,
        currencies: result.currencies,
        bytesRead: result.bytesRead,
        parts,
        partBytes: result.parts.map((part) => part.length),
        ms: performance.now() - started,
      },
      transfer: buffers(parts),
    };
  }
  if (task.kind === "aggregate") {
    const { context, bucket } = task;
    const parts = Array.isArray(task.parts) ? task.parts : [];
    const source = Array.isArray(task.parts) ? task.parts : readParts(task.parts.files);
    const result = await aggregateBucket(source, context, bucket, {
      ...(task.foreignOrders === undefined ? {} : { foreignOrders: task.foreignOrders }),
    });
    sample();
    return {
      result: {
        kind: "aggregate",
        bucket,
        partial: result.partial,
        orders: result.orders,
        parts,
        ms: performance.now() - started,
      },
      transfer: buffers([result.partial, ...result.orders, ...parts]),
    };
  }
  const conflicts = await checkOrderSlice(task.lists);
  return {
    result: { kind: "check", slice: task.slice, conflicts, ms: performance.now() - started },
    transfer: [],
  };
}

const port = parentPort;
if (port !== null && (workerData === undefined || workerData === SHARD_WORKER)) {
  // Samples while tasks wait, between the samples taken at each task's largest moment.
  setInterval(sample, 25).unref();
  // Tasks run one at a time, in the order they came, and are answered in that order.
  let previous: Promise<unknown> = Promise.resolve();
  port.on("message", (task: ShardTask) => {
    previous = previous.then(() => answer(task));
  });
  const answer = (task: ShardTask) =>
    run(task).then(
      ({ result, transfer }) =>
        port.postMessage({ ok: true, result, memory: memory() } satisfies WorkerMessage, transfer),
      (error: unknown) => {
        const e = error as Error & { code?: string };
        port.postMessage({
          ok: false,
          error: { name: e.name, message: e.message, ...(e.code === undefined ? {} : { code: e.code }) },
          memory: memory(),
        } satisfies WorkerMessage);
      },
    );
}
