/**
 * Starting the engine's worker threads. A worker runs a module of the engine: from source (tests, tsx runs)
 * its TypeScript file, loaded through tsx; in a bundle (the segment CLI, a Lambda handler) the worker's own
 * small bundle next to it (WORKER_BUNDLES: built by scripts/launch.mjs and the functions' bundling), which
 * holds that worker module and what it imports only, so a helper thread does not load and initialize the
 * whole CLI or function. Where that file is absent, the bundle itself, which holds every engine module and
 * tells them apart by the thread's workerData; a bundle's entry must therefore start no work of its own at
 * its top level in a worker thread (check isMainThread).
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";

/**
 * The file name of each worker module's own bundle, emitted next to a bundle that holds the module (the
 * launcher's dist/, a function's asset); scripts/launch.mjs and infra/constructs/service-function.ts list
 * the same names.
 */
export const WORKER_BUNDLES = {
  kmeans: "engine-kmeans-worker.mjs",
  range: "engine-range-worker.mjs",
  value: "engine-value-worker.mjs",
} as const;

/**
 * The entry a worker thread runs: `source` (a .ts module, resolved from `self`) when `self` (the calling
 * module's import.meta.url) is TypeScript; else the worker's own bundle `bundled` in the directory of `self`
 * when it is there, else `self`, the bundle; undefined when it is not a local file.
 */
export function workerEntry(self: string, source: string, bundled?: string): URL | undefined {
  const url = new URL(self);
  if (url.protocol !== "file:") return undefined;
  if (url.pathname.endsWith(".ts")) {
    const target = new URL(source, url);
    return existsSync(fileURLToPath(target)) ? target : undefined;
  }
  if (bundled !== undefined) {
    const own = new URL(bundled, url);
    if (own.href !== url.href && existsSync(fileURLToPath(own))) return own;
  }
  return existsSync(fileURLToPath(url)) ? url : undefined;
}

/** Starts a worker thread on `url` with `workerData`; a .ts entry registers tsx's loader first. */
export function startWorker(url: URL, workerData: unknown): Worker {
  if (!url.pathname.endsWith(".ts")) return new Worker(url, { workerData });
  const api = pathToFileURL(createRequire(import.meta.url).resolve("tsx/esm/api")).href.replace(
    /\.cjs$/,
    ".mjs",
  );
  const code =
    `import { register } from ${JSON.stringify(api)};` +
    `register(); await import(${JSON.stringify(url.href)});`;
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(code)}`), { workerData });
}
