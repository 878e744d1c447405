/**
 * The engine's worker bundles in the functions' assets (infra/constructs/service-function.ts ENGINE_FUNCTIONS,
 * scripts/engine-workers.mjs): a function that runs the engine ships each worker module's own bundle next to
 * its handler, where the engine's helper threads look for it (shared/engine/threads.ts WORKER_BUNDLES);
 * the other functions ship none.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceFunction } from "../../infra/constructs/service-function";
import { WORKER_BUNDLES } from "../../shared/engine/threads";
import { type CliSynth, cliSynth, functionAssetDir } from "./assembly";
import { removeOutdirs, type Synthesized, synth } from "./synth";

let sx: Synthesized;
let bundled: CliSynth;
beforeAll(async () => {
  sx = synth();
  bundled = await cliSynth();
});
afterAll(removeOutdirs);

const workers = Object.values(WORKER_BUNDLES).sort();

function assetFiles(fn: ServiceFunction): string[] {
  return readdirSync(functionAssetDir(bundled, fn.logicalId)).sort();
}

describe("engine worker bundles in the functions' assets", () => {
  it("compute, refresh and the shard functions ship each worker next to the handler", () => {
    expect(bundled.code, bundled.stderr).toBe(0);
    const { pipeline, sharding } = sx.stack;
    for (const fn of [pipeline.compute, pipeline.refresh, sharding.workers, sharding.coordinator]) {
      const files = assetFiles(fn);
      expect(files, fn.node.path).toContain("index.mjs");
      for (const worker of workers) expect(files, fn.node.path).toContain(worker);
      // The k-means worker is its module alone: no part of the handler (no SDK, no zod).
      const kmeans = readFileSync(
        join(functionAssetDir(bundled, fn.logicalId), WORKER_BUNDLES.kmeans),
        "utf8",
      );
      expect(kmeans.length, fn.node.path).toBeLessThan(50_000);
      expect(kmeans.includes("client-dynamodb"), fn.node.path).toBe(false);
    }
  });

  it("the other functions ship none", () => {
    const { api, pipeline } = sx.stack;
    for (const fn of [
      api.functions.lookupApi,
      api.functions.readApi,
      api.functions.writeApi,
      pipeline.sweeper,
    ]) {
      const files = assetFiles(fn);
      for (const worker of workers) expect(files, fn.node.path).not.toContain(worker);
    }
  });
});
