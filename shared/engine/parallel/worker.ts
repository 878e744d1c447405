/**
 * The worker threads of the parallel reader. A thread started with workerData RANGE_WORKER (from this module,
 * or from a bundle that holds it) reads one byte range of a CSV transactions file at a time into a
 * new state with ingestTransactions itself, after the file's header line, sorts its orders' and customers'
 * keys for the merge (keys.ts), and posts the state's columns and the sorted keys (transferred, not copied)
 * with its report, rejected rows and line count.
 *
 * The range owns the lines that start inside it (the shard planner's rule, shard/partition.ts): its bytes
 * are read from rangeReadStart on, the part before the first line start is skipped, and reading stops after
 * the line that straddles the range's end.
 */
import { createReadStream } from "node:fs";
import { isMainThread, parentPort, workerData } from "node:worker_threads";
import { ingestTransactions } from "../ingest";
import type { CsvStats } from "../reader";
import { rangeReadStart, type ShardByteRange } from "../shard";
import { AggregateState } from "../state";
import type { RowError } from "../types";
import { customerKeys, orderKeys } from "./keys";
import { type FromWorker, type RangeResult, type RangeTask, sendError, type ToWorker } from "./protocol";

const LF = 10;

/**
 * The bytes of the lines that start in `range`, from a source that yields the file from `readStart` on
 * (the range's start, or the byte before it to see whether the range starts a line).
 */
export async function* rangeLines(
  source: AsyncIterable<Uint8Array>,
  readStart: number,
  range: ShardByteRange,
): AsyncGenerator<Uint8Array> {
  let offset = readStart;
  let started = readStart === range.start;
  if (started && range.start >= range.end) return;
  for await (const chunk of source) {
    const chunkStart = offset;
    offset += chunk.length;
    let from = 0;
    if (!started) {
      const lf = chunk.indexOf(LF);
      if (lf < 0) continue;
      from = lf + 1;
      started = true;
      if (chunkStart + from >= range.end) return;
    }
    // The last line of the range ends at the first LF at or after its last byte.
    const last = range.end - 1 - chunkStart;
    if (last < chunk.length) {
      const lf = chunk.indexOf(LF, Math.max(from, last));
      if (lf >= 0) {
        yield chunk.subarray(from, lf + 1);
        return;
      }
    }
    if (from < chunk.length) yield from === 0 ? chunk : chunk.subarray(from);
  }
}

/** Chunks posted by the reader, handed out in order; each one taken is acknowledged. */
class PostedChunks {
  private readonly queue: (Uint8Array | null)[] = [];
  private wake: (() => void) | null = null;

  push(chunk: Uint8Array | null): void {
    this.queue.push(chunk);
    this.wake?.();
    this.wake = null;
  }

  async *chunks(ack: () => void): AsyncGenerator<Uint8Array> {
    for (;;) {
      if (this.queue.length === 0) await new Promise<void>((resolve) => (this.wake = resolve));
      const chunk = this.queue.shift();
      if (chunk === null || chunk === undefined) return;
      ack();
      yield chunk;
    }
  }
}

async function readRange(
  task: RangeTask,
  posted: PostedChunks,
  post: (m: FromWorker) => void,
): Promise<{ result: RangeResult; transfer: ArrayBuffer[] }> {
  const started = performance.now();
  if (task.fail === true) throw new Error("The worker was told to fail");
  const { plan, index } = task;
  const range = plan.ranges[index];
  if (range === undefined) throw new RangeError(`The plan has no range ${index}`);
  const readStart = rangeReadStart(plan, index);
  const source: AsyncIterable<Uint8Array> =
    task.source.kind === "file"
      ? createReadStream(task.source.path, { start: readStart, highWaterMark: 1 << 20 })
      : posted.chunks(() => post({ kind: "ack" }));
  async function* text(): AsyncGenerator<Uint8Array> {
    yield Buffer.from(`${plan.header}\n`, "utf8");
    yield* rangeLines(source, readStart, range as ShardByteRange);
    if (task.source.kind === "stream") post({ kind: "enough" });
  }
  const state = new AggregateState();
  if (task.currency !== undefined) state.setCurrency(task.currency);
  const errors: RowError[] = [];
  const stats: CsvStats = { lines: 0, quotedLineBreaks: 0 };
  const currencies = new Set<string>();
  const totals = { absoluteCents: 0 };
  let currencyOrder = -1;
  const report = await ingestTransactions(
    text(),
    {
      ...plan.reader,
      compression: "none",
      // The plan probed the start of the file as a whole read does.
      binaryProbeBytes: 0,
      expectedOrders: task.expectedOrders,
      onRowError: (error) => errors.push(error),
      ...(task.currency === undefined
        ? {
            onOrderAdded: () => {
              if (currencyOrder < 0 && state.currency !== undefined) currencyOrder = state.orderCount - 1;
            },
          }
        : {}),
      ...(task.latestOrderDay === undefined ? {} : { latestOrderDay: task.latestOrderDay }),
      csvStats: stats,
      currencies,
      totals,
    },
    state,
  );
  const keysStarted = performance.now();
  const sortedOrders = orderKeys(state);
  const sortedCustomers = customerKeys(state);
  const keysMs = performance.now() - keysStarted;
  const { parts, transfer } = state.toParts();
  for (const keys of [sortedOrders, sortedCustomers])
    transfer.push(keys.keys.buffer as ArrayBuffer, keys.entries.buffer as ArrayBuffer);
  const result: RangeResult = {
    index,
    parts,
    report,
    errors,
    lines: stats.lines - 1,
    quotedLineBreaks: stats.quotedLineBreaks,
    currencies: [...currencies],
    absoluteCents: totals.absoluteCents,
    currencyOrder,
    orderKeys: sortedOrders,
    customerKeys: sortedCustomers,
    ms: performance.now() - started,
    keysMs,
  };
  return { result, transfer };
}

/** workerData of a thread started to read ranges (the module is bundled with its callers: see index.ts). */
export const RANGE_WORKER = { parallelRead: 1 } as const;

const port = parentPort;
if (!isMainThread && port !== null && (workerData as typeof RANGE_WORKER | undefined)?.parallelRead === 1) {
  let posted = new PostedChunks();
  let current = -1;
  const post = (message: FromWorker) => port.postMessage(message);
  port.on("message", (message: ToWorker) => {
    if (message.kind === "chunk") {
      // Chunks still on their way when the last range said "enough" are dropped.
      if (message.index === current) posted.push(message.bytes);
    } else if (message.kind === "end") {
      if (message.index === current) posted.push(null);
    } else {
      posted = new PostedChunks();
      current = message.index;
      readRange(message, posted, post).then(
        ({ result, transfer }) => {
          port.postMessage({ kind: "done", result } satisfies FromWorker, transfer);
        },
        (error: unknown) => post({ kind: "error", error: sendError(error) }),
      );
    }
  });
}
