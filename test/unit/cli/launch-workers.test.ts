/**
 * The engine's helper threads in a bundle: scripts/launch.mjs bundles each worker module the entry holds on
 * its own next to the bundle (shared/engine/threads.ts WORKER_BUNDLES), and a helper started from the bundle
 * runs that small file, not the whole bundle. The scratch entry below throws at its top level in any thread
 * but the main one, so a helper that loaded the whole bundle would take no fit; with its worker bundle gone,
 * the same bundle falls back to itself and its helpers indeed take none (the caller fits everything).
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WORKER_BUNDLES } from "../../../shared/engine/threads";
import { type NodeOutcome as Outcome, runNode } from "../../support/node-process";

const root = resolve(import.meta.dirname, "../../..");
const LAUNCHER = join(root, "scripts/launch.mjs");
/** A run that has not exited by then hangs: a busy machine takes seconds to bundle, never minutes. */
const HANG_MS = 300_000;

const engine = (path: string) => JSON.stringify(join(root, "shared/engine", path));

/**
 * Reports where the helpers' entries resolve and how many fits a clustering's helpers took; the caller waits
 * argv[0] ms (default: k-means' own wait) for helpers that make no progress before it fits their fits itself.
 */
const ENTRY = `import { isMainThread } from "node:worker_threads";
import { clusterCustomers, customerFeatures } from ${engine("kmeans/index.ts")};
import { defaultFitWorkerUrl } from ${engine("kmeans/fit-threads.ts")};
import { syntheticCustomers } from ${engine("kmeans/synthetic.ts")};
import { defaultWorkerUrl } from ${engine("parallel/index.ts")};
import { ValueThread } from ${engine("value-thread.ts")};

if (!isMainThread) throw new Error("a helper thread loaded the whole bundle");

export async function main(argv: readonly string[]): Promise<number> {
  const stats = { helpers: 0, fitsOnHelpers: 0, fitsOnCaller: 0 };
  const features = customerFeatures(syntheticCustomers(20_000, 1));
  clusterCustomers(features, {
    seed: 1,
    seedingSampleSize: 4000,
    k: 5,
    threads: 3,
    fitThreads: { stats, callerFits: false, stallMs: Number(argv[0] ?? 30_000) },
  });
  const urls = { kmeans: defaultFitWorkerUrl()?.href, range: defaultWorkerUrl()?.href, value: typeof ValueThread };
  process.stdout.write(JSON.stringify({ urls, stats }) + "\\n");
  return 0;
}
`;

function run(cwd: string, args: string[]): Promise<Outcome> {
  return runNode(args, { cwd });
}

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), "launch-workers-"));
  await writeFile(join(scratch, "entry.ts"), ENTRY);
  await mkdir(join(scratch, "node_modules"));
  await writeFile(join(scratch, "node_modules/.package-lock.json"), '{"lockfileVersion": 3}\n');
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe("the engine's worker bundles", () => {
  it("are built next to a bundle that holds the engine, and its helpers run them, not the bundle", {
    timeout: HANG_MS,
  }, async () => {
    const outcome = await run(scratch, [LAUNCHER, "entry.ts"]);
    expect(outcome.stderr).toBe("");
    expect(outcome.code).toBe(0);
    const dist = join(scratch, "dist");
    expect((await readdir(dist)).sort()).toEqual([
      "engine-kmeans-worker.mjs",
      "engine-range-worker.mjs",
      "engine-value-worker.mjs",
      "entry.inputs.json",
      "entry.mjs",
    ]);
    const list = JSON.parse(await readFile(join(dist, "entry.inputs.json"), "utf8"));
    expect([...list.workers].sort()).toEqual([
      "engine-kmeans-worker",
      "engine-range-worker",
      "engine-value-worker",
    ]);
    // The worker modules' own inputs are in the list, so an edit to one rebuilds.
    expect(Object.keys(list.inputs)).toContain(
      relative(scratch, join(root, "shared/engine/kmeans/worker.ts")),
    );
    const report = JSON.parse(outcome.stdout);
    expect(report.urls.kmeans).toBe(pathToFileURL(join(dist, WORKER_BUNDLES.kmeans)).href);
    expect(report.urls.range).toBe(pathToFileURL(join(dist, WORKER_BUNDLES.range)).href);
    // Three fits of k = 5, every one on the two helpers, which therefore loaded their own entry.
    expect(report.stats).toEqual({ helpers: 2, fitsOnHelpers: 3, fitsOnCaller: 0 });
    // The k-means worker holds no part of the CLI's entry.
    const kmeans = await readFile(join(dist, WORKER_BUNDLES.kmeans), "utf8");
    expect(kmeans).not.toContain("loaded the whole bundle");

    // Without its worker bundle, the bundle starts itself as before: this entry's helpers then take no fit.
    await rm(join(dist, WORKER_BUNDLES.kmeans));
    const runner = `import(${JSON.stringify(pathToFileURL(join(dist, "entry.mjs")).href)}).then((m) => m.main(["300"]))`;
    const fallback = await run(scratch, ["--input-type=module", "-e", runner]);
    expect(fallback.code).toBe(0);
    const without = JSON.parse(fallback.stdout);
    expect(without.urls.kmeans).toBe(pathToFileURL(join(dist, "entry.mjs")).href);
    expect(without.stats).toEqual({ helpers: 2, fitsOnHelpers: 0, fitsOnCaller: 3 });
  });
});
