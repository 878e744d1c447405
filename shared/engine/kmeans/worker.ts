/**
 * The fitting threads of k-means (see ./fit-threads.ts for the calling side). A thread started with
 * workerData KMEANS_WORKER (from this module, or from a bundle that holds it) takes batches of fits: each fit
 * is a candidate k on one fitting sample, run by bestOfRestarts exactly as the calling thread would run it
 * (same data, same seeds, same code, so the same centres, labels and inertia to the last bit). Fits are
 * claimed one at a time from a counter in shared memory, so the calling thread and every helper take the
 * next unclaimed fit; a helper writes each result into shared memory, marks it done and wakes the caller.
 */
import { isMainThread, parentPort, workerData } from "node:worker_threads";
import { bestOfRestarts, createWorkspace, type Workspace } from "./lloyd";

/** Slots of a batch's control array (Int32). */
export const NEXT_FIT = 0;
export const PROGRESS = 1;
export const STATUS = 2;
/** A fit's status: not taken by a helper (or taken by the caller), being fitted, done, failed. */
export const FREE = 0;
export const WORKING = 1;
export const DONE = 2;
export const FAILED = 3;

export interface FitTask {
  readonly k: number;
  readonly sample: number;
  /** The seed of each restart. */
  readonly seeds: readonly number[];
  readonly maxIter: number;
  readonly tol: number;
  /** Byte offsets in the batch's output buffer: labels (Int32, one per row), centres and scalars (Float64). */
  readonly labelsAt: number;
  readonly centersAt: number;
  readonly scalarsAt: number;
}

export interface FitBatch {
  readonly kind: "fits";
  /** Int32: the next fit to claim, a progress counter, each fit's status. */
  readonly control: SharedArrayBuffer;
  /** Float64: the fitting samples, row-major, back to back. */
  readonly data: SharedArrayBuffer;
  /** Each sample's first value (in Float64 elements) and rows. */
  readonly samples: readonly { readonly offset: number; readonly m: number }[];
  readonly d: number;
  readonly tasks: readonly FitTask[];
  readonly out: SharedArrayBuffer;
}

/** Scalars written after each fit's centres: k found, inertia, iterations, converged, centres' length. */
export const SCALARS = 5;

/** Fits claimed from `batch` until none is left. */
export function serveBatch(batch: FitBatch): void {
  const control = new Int32Array(batch.control);
  let ws: Workspace | undefined;
  const rows = Math.max(1, ...batch.samples.map((s) => s.m));
  for (;;) {
    const t = Atomics.add(control, NEXT_FIT, 1);
    if (t >= batch.tasks.length) return;
    Atomics.store(control, STATUS + t, WORKING);
    let status = FAILED;
    try {
      const task = batch.tasks[t] as FitTask;
      const sample = batch.samples[task.sample] as { offset: number; m: number };
      const data = new Float64Array(batch.data, sample.offset * 8, sample.m * batch.d);
      ws ??= createWorkspace(rows);
      const fit = bestOfRestarts(
        data,
        sample.m,
        batch.d,
        task.k,
        task.seeds.length,
        (r) => task.seeds[r] as number,
        task.maxIter,
        task.tol,
        ws,
      );
      new Int32Array(batch.out, task.labelsAt, sample.m).set(fit.labels);
      new Float64Array(batch.out, task.centersAt, fit.centers.length).set(fit.centers);
      new Float64Array(batch.out, task.scalarsAt, SCALARS).set([
        fit.k,
        fit.inertia,
        fit.iterations,
        fit.converged ? 1 : 0,
        fit.centers.length,
      ]);
      status = DONE;
    } catch {
      // Marked failed: the calling thread fits it itself.
    }
    Atomics.store(control, STATUS + t, status);
    Atomics.add(control, PROGRESS, 1);
    Atomics.notify(control, PROGRESS);
  }
}

/** workerData of a fitting thread (the module is bundled with its callers: see ../threads.ts). */
export const KMEANS_WORKER = { kmeansFits: 1 } as const;

const port = parentPort;
if (!isMainThread && port !== null && (workerData as typeof KMEANS_WORKER | undefined)?.kmeansFits === 1) {
  port.on("message", (batch: FitBatch) => {
    if (batch.kind === "fits") serveBatch(batch);
  });
}
