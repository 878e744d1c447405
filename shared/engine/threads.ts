/**
 * Starting the engine's worker threads. A worker runs a module of the engine: from source (tests, tsx runs)
 * its TypeScript file, loaded through tsx; in a bundle (the segment CLI, a Lambda handler) the bundle itself,
 * which holds every engine module and tells them apart by the thread's workerData. A bundle's entry must
 * therefore start no work of its own at its top level in a worker thread (check isMainThread).
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";

/**
 * The entry a worker thread runs: `source` (a .ts module, resolved from `self`) when `self` (the calling
 * module's import.meta.url) is TypeScript, else `self`, the bundle; undefined when it is not a local file.
 */
export function workerEntry(self: string, source: string): URL | undefined {
  const url = new URL(self);
  if (url.protocol !== "file:") return undefined;
  const target = url.pathname.endsWith(".ts") ? new URL(source, url) : url;
  return existsSync(fileURLToPath(target)) ? target : undefined;
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
