/**
 * Read + aggregate of a file on `threads` threads (1: ingestTransactions in this thread), in a process of its
 * own, printing one JSON line: seconds, CPU seconds (all threads), the read's stage times (plan, ranges,
 * merge), threads used, why one thread when so, counts, peak RSS.
 *
 *   node bench-out/dist-parallel/read.mjs '{"file":"…","threads":2[,"minBytes":0]}'   (minBytes: threshold)
 */
import { createReadStream, statSync } from "node:fs";
import { isMainThread } from "node:worker_threads";
import { AggregateState, ingestTransactionsParallel } from "../../shared/engine";

async function main(): Promise<void> {
  const { file, threads, minBytes } = JSON.parse(process.argv[2] ?? "{}") as {
    file: string;
    threads: number;
    minBytes?: number;
  };
  const size = statSync(file).size;
  const started = performance.now();
  const cpu = process.cpuUsage();
  const read = await ingestTransactionsParallel(
    { size, path: file, open: (start) => createReadStream(file, { start, highWaterMark: 1 << 20 }) },
    { format: "csv", compression: "auto", expectedOrders: size / 40 },
    new AggregateState(),
    { threads, ...(minBytes === undefined ? {} : { minBytes }) },
  );
  process.stdout.write(
    `${JSON.stringify({
      seconds: (performance.now() - started) / 1000,
      // User + system time of the process, every thread's.
      cpuSeconds: (({ user, system }) => (user + system) / 1e6)(process.cpuUsage(cpu)),
      threads: read.threads,
      oneThread: read.oneThread ?? null,
      ms: read.ms,
      customers: read.state.customerCount,
      orders: read.state.orderCount,
      maxRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
    })}\n`,
  );
}

// The read's worker threads load this bundle too (shared/engine/parallel): only the main thread reads.
if (isMainThread) await main();
