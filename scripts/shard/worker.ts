/**
 * A worker thread of the local sharded runner (local.ts): runs partition, aggregate and order-check tasks,
 * reading the upload and the intermediate files of the run's directory and writing its outputs there, and
 * reports its peak memory.
 */
import { createReadStream, readFileSync, writeFileSync } from "node:fs";
import { getHeapStatistics } from "node:v8";
import { parentPort } from "node:worker_threads";
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
import { ordersPath, partialPath, partPath } from "./paths";

export type ShardTask =
  | { kind: "partition"; file: string; dir: string; plan: ShardPlan; index: number }
  | {
      kind: "aggregate";
      dir: string;
      context: AggregateContext;
      bucket: number;
      foreignOrders?: ForeignOrders;
    }
  | { kind: "check"; dir: string; slice: number; buckets: number };

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
      partBytes: number;
      ms: number;
    }
  | { kind: "aggregate"; bucket: number; ms: number }
  | { kind: "check"; slice: number; conflicts: BucketForeignOrders[]; ms: number };

export type WorkerMessage =
  | { ok: true; result: ShardTaskResult; memory: WorkerMemory }
  | { ok: false; error: { name: string; message: string; code?: string }; memory: WorkerMemory };

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

async function run(task: ShardTask): Promise<ShardTaskResult> {
  if (task.kind === "check") return check(task);
  const started = performance.now();
  if (task.kind === "partition") {
    const { plan, index } = task;
    const source = createReadStream(task.file, {
      start: rangeReadStart(plan, index),
      highWaterMark: 1 << 20,
    });
    const result = await partitionRange(source, plan, index);
    sample();
    result.parts.forEach((part, bucket) => {
      writeFileSync(partPath(task.dir, index, bucket), part);
    });
    return {
      kind: "partition",
      index,
      lines: result.lines,
      currencies: result.currencies,
      bytesRead: result.bytesRead,
      partBytes: result.parts.reduce((n, part) => n + part.length, 0),
      ms: performance.now() - started,
    };
  }
  const { context, bucket, dir } = task;
  const parts = function* () {
    for (let r = 0; r < context.plan.ranges.length; r++) yield readFileSync(partPath(dir, r, bucket));
  };
  const result = await aggregateBucket(parts(), context, bucket, {
    ...(task.foreignOrders === undefined ? {} : { foreignOrders: task.foreignOrders }),
  });
  sample();
  writeFileSync(partialPath(dir, bucket), result.partial);
  result.orders.forEach((list, slice) => {
    writeFileSync(ordersPath(dir, bucket, slice), list);
  });
  return { kind: "aggregate", bucket, ms: performance.now() - started };
}

async function check(task: Extract<ShardTask, { kind: "check" }>): Promise<ShardTaskResult> {
  const started = performance.now();
  const lists = Array.from(
    { length: task.buckets },
    (_, b) => () => createReadStream(ordersPath(task.dir, b, task.slice), { highWaterMark: 1 << 20 }),
  );
  const conflicts = await checkOrderSlice(lists);
  return { kind: "check", slice: task.slice, conflicts, ms: performance.now() - started };
}

const port = parentPort;
if (port === null) throw new Error("The shard worker runs in a worker thread");
// Samples while tasks wait on reads, between the samples taken at each task's largest moment.
setInterval(sample, 25).unref();
port.on("message", (task: ShardTask) => {
  run(task).then(
    (result) => port.postMessage({ ok: true, result, memory: memory() } satisfies WorkerMessage),
    (error: unknown) => {
      const e = error as Error & { code?: string };
      port.postMessage({
        ok: false,
        error: { name: e.name, message: e.message, ...(e.code === undefined ? {} : { code: e.code }) },
        memory: memory(),
      } satisfies WorkerMessage);
    },
  );
});
