/**
 * Fitting k-means candidates on several threads while the caller stays synchronous: clusterCustomers (and
 * computeSegments above it) return their result directly, so the calling thread does not wait on promises.
 * It starts helper threads (./worker.ts), posts them a batch of fits in shared memory, fits from the same
 * batch itself, and then blocks (Atomics.wait) until the fits the helpers took are written. Each fit is
 * claimed by exactly one thread through a shared counter, and a fit gives the same bits on any thread, so
 * the result does not depend on which thread fitted what, nor on how many helpers there are.
 *
 * A helper that has not started yet takes nothing, so a slow start only leaves more to the caller; a fit a
 * helper fails is fitted again by the caller; and when helpers make no progress for STALL_MS while fits
 * they took are still open (a thread that died), the caller fits those itself. Helpers stay started for the
 * next clustering (a warm Lambda, a benchmark's rounds); prestartFitThreads starts them ahead of one.
 */
import type { Worker } from "node:worker_threads";
import { startWorker, WORKER_BUNDLES, workerEntry } from "../threads";
import type { LloydResult } from "./lloyd";
import {
  DONE,
  FAILED,
  type FitBatch,
  type FitTask,
  KMEANS_WORKER,
  NEXT_FIT,
  PROGRESS,
  SCALARS,
  STATUS,
} from "./worker";

/** How long the caller waits for helpers that make no progress before it fits their open fits itself. */
export const STALL_MS = 30_000;

export type Fit = LloydResult & { labels: Int32Array };

export interface FitRequest {
  readonly k: number;
  readonly sample: number;
  readonly seeds: readonly number[];
  readonly maxIter: number;
  readonly tol: number;
}

/** Counts of a clustering's fitting threads (KMeansOptions.fitThreads.stats). */
export interface FitThreadStats {
  helpers: number;
  fitsOnHelpers: number;
  fitsOnCaller: number;
}

/**
 * The helper threads' entry: worker.ts from source; in a bundle, worker.ts's own bundle next to it, or the
 * bundle this module is part of.
 */
export function defaultFitWorkerUrl(): URL | undefined {
  return workerEntry(import.meta.url, "./worker.ts", WORKER_BUNDLES.kmeans);
}

/**
 * Helper threads by entry, kept between clusterings (they hold nothing between batches and do not keep the
 * process alive), so that a later clustering, or one started after prestartFitThreads, finds them loaded.
 */
const started = new Map<string, Worker[]>();

function helpers(url: URL, count: number): Worker[] {
  let list = started.get(url.href);
  if (list === undefined) {
    list = [];
    started.set(url.href, list);
  }
  const own = list;
  while (own.length < count) {
    let worker: Worker;
    try {
      worker = startWorker(url, KMEANS_WORKER);
    } catch {
      break;
    }
    // Errors arrive when the caller next runs its event loop; by then the caller has fitted what the thread
    // left open, so they need no handling beyond not being thrown, and the thread leaves the list.
    worker.on("error", () => undefined);
    worker.once("exit", () => {
      const at = own.indexOf(worker);
      if (at >= 0) own.splice(at, 1);
    });
    worker.unref();
    own.push(worker);
  }
  return own.slice(0, count);
}

/**
 * Starts the fitting threads a clustering of `rows` rows would use (see clusterCustomers' `threads`), so that
 * they load while the caller does other work. Changes no result.
 */
export function prestartFitThreads(count: number, url = defaultFitWorkerUrl()): void {
  if (url !== undefined && count > 1) helpers(url, count - 1);
}

export class FitThreads {
  private readonly workers: Worker[];

  constructor(
    count: number,
    url: URL,
    private readonly stats?: FitThreadStats,
  ) {
    this.workers = helpers(url, count);
    if (stats !== undefined) stats.helpers = this.workers.length;
  }

  /**
   * The fits of `requests` on `samples` (row-major, d columns), in request order. `fitHere` fits one request in
   * the calling thread. With `callerFits` false (a test hook) the caller leaves every fit to the helpers
   * unless they make no progress for `stallMs`.
   */
  run(
    samples: readonly { readonly data: Float64Array; readonly m: number }[],
    d: number,
    requests: readonly FitRequest[],
    fitHere: (request: FitRequest) => Fit,
    callerFits = true,
    stallMs = STALL_MS,
  ): Fit[] {
    const count = requests.length;
    const results: (Fit | undefined)[] = new Array(count);
    const local = (t: number) => {
      results[t] = fitHere(requests[t] as FitRequest);
      if (this.stats !== undefined) this.stats.fitsOnCaller++;
    };
    if (this.workers.length === 0) {
      for (let t = 0; t < count; t++) local(t);
      return results as Fit[];
    }
    const control = new Int32Array(new SharedArrayBuffer(4 * (STATUS + count)));
    let values = 0;
    const offsets = samples.map((s) => {
      const offset = values;
      values += s.m * d;
      return { offset, m: s.m };
    });
    const data = new Float64Array(new SharedArrayBuffer(8 * Math.max(1, values)));
    samples.forEach((s, i) => {
      data.set(s.data.subarray(0, s.m * d), (offsets[i] as { offset: number }).offset);
    });
    let bytes = 0;
    const tasks: FitTask[] = requests.map((request) => {
      const m = (offsets[request.sample] as { m: number }).m;
      const labelsAt = bytes;
      bytes += Math.ceil((4 * m) / 8) * 8;
      const centersAt = bytes;
      bytes += 8 * request.k * d;
      const scalarsAt = bytes;
      bytes += 8 * SCALARS;
      return { ...request, labelsAt, centersAt, scalarsAt };
    });
    const out = new SharedArrayBuffer(Math.max(8, bytes));
    const batch: FitBatch = {
      kind: "fits",
      control: control.buffer as SharedArrayBuffer,
      data: data.buffer as SharedArrayBuffer,
      samples: offsets,
      d,
      tasks,
      out,
    };
    for (const worker of this.workers) worker.postMessage(batch);

    if (callerFits) {
      for (let t = Atomics.add(control, NEXT_FIT, 1); t < count; t = Atomics.add(control, NEXT_FIT, 1))
        local(t);
    }
    let seen = Atomics.load(control, PROGRESS);
    let progressAt = performance.now();
    for (;;) {
      let open = false;
      for (let t = 0; t < count; t++) {
        if (results[t] !== undefined) continue;
        const status = Atomics.load(control, STATUS + t);
        if (status === DONE) {
          results[t] = read(
            out,
            tasks[t] as FitTask,
            (offsets[(tasks[t] as FitTask).sample] as { m: number }).m,
          );
          if (this.stats !== undefined) this.stats.fitsOnHelpers++;
        } else if (status === FAILED) local(t);
        else open = true;
      }
      if (!open) break;
      const progress = Atomics.load(control, PROGRESS);
      if (progress !== seen) {
        seen = progress;
        progressAt = performance.now();
      } else if (performance.now() - progressAt > stallMs) {
        // The helpers stopped: the caller takes what no thread took, then what a helper left open.
        for (let t = Atomics.add(control, NEXT_FIT, 1); t < count; t = Atomics.add(control, NEXT_FIT, 1))
          local(t);
        for (let t = 0; t < count; t++) if (results[t] === undefined) local(t);
        break;
      }
      Atomics.wait(control, PROGRESS, seen, 100);
    }
    return results as Fit[];
  }
}

function read(out: SharedArrayBuffer, task: FitTask, m: number): Fit {
  const scalars = new Float64Array(out, task.scalarsAt, SCALARS);
  const length = scalars[4] as number;
  return {
    centers: new Float64Array(out, task.centersAt, length).slice(),
    k: scalars[0] as number,
    inertia: scalars[1] as number,
    iterations: scalars[2] as number,
    converged: scalars[3] === 1,
    labels: new Int32Array(out, task.labelsAt, m).slice(),
  };
}
