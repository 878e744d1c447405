/**
 * One sharded run of the benchmark in a process of its own (so that its peak RSS is its own): the local
 * sharded runner on a file, printing one JSON line of figures.
 *
 *   node bench-out/dist/shard-run.mjs '{"file":"…","asOf":"2024-12-31","k":8,"workers":2}'
 */
import { loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { isMainThread } from "node:worker_threads";
import { runShardedLocal, type ShuffleMode } from "../shard/local";

export interface ShardChildConfig {
  file: string;
  asOf: string;
  k: number;
  workers: number;
  rangeBytes?: number;
  buckets?: number;
  shuffle?: ShuffleMode;
  /** false: the merge's value stage in the calling thread, as before it had a thread of its own. */
  valueThread?: boolean;
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? "{}") as ShardChildConfig;
  const load = loadavg();
  const run = await runShardedLocal({
    file: config.file,
    settings: { asOf: config.asOf, clusters: { k: config.k }, value: {} },
    workers: config.workers,
    workerFile: join(dirname(fileURLToPath(import.meta.url)), "shard-worker.mjs"),
    ...(config.rangeBytes === undefined ? {} : { rangeBytes: config.rangeBytes }),
    ...(config.buckets === undefined ? {} : { buckets: config.buckets }),
    ...(config.shuffle === undefined ? {} : { shuffle: config.shuffle }),
    ...(config.valueThread === false ? { valueThreadFrom: Number.POSITIVE_INFINITY } : {}),
  });
  const { result, report, errors, rebuilt, mergeMs } = run.merged;
  const usage = process.resourceUsage();
  const out = {
    seconds: { ...run.seconds, mergeOnly: mergeMs / 1000, ...stageSeconds(result.timings) },
    /** CPU time of the process, user + system, every thread. */
    cpuSeconds: (usage.userCPUTime + usage.systemCPUTime) / 1e6,
    /** Busy time of the worker threads by task kind, summed over the workers. */
    taskSeconds: stageSeconds(run.taskMs),
    report,
    rowErrors: errors.length,
    rebuilt,
    customers: result.customerCount,
    ranges: run.plan.ranges.length,
    buckets: run.plan.buckets,
    shuffleBytes: run.shuffleBytes,
    shuffle: run.shuffle,
    workers: run.workers,
    clusters: result.clusters ? { k: result.clusters.k, inertia: result.clusters.inertia } : null,
    value: result.value ?? null,
    segments: result.segments.map((s) => ({ id: s.id, size: s.size, revenue: s.revenue })),
    maxRssMB: Math.round(usage.maxRSS / 1024),
    loadAverage: { start: load, end: loadavg() },
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

function stageSeconds(timings: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [stage, ms] of Object.entries(timings)) out[stage] = ms / 1000;
  return out;
}

// The engine's worker threads (the parallel read, k-means fits) load this bundle too: only the main thread runs.
if (isMainThread) {
  main().catch((error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  });
}
