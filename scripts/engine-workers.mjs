/**
 * Bundles the engine's worker modules (scripts/launch.mjs WORKERS) into a directory, each into its own file
 * (e.g. engine-kmeans-worker.mjs), for a Lambda function whose bundle holds the engine: its helper threads
 * then start that small file rather than the whole function (shared/engine/threads.ts). Run by the
 * functions' bundling (infra/constructs/service-function.ts) after the handler is bundled:
 *
 *   node scripts/engine-workers.mjs <output directory>
 *
 * Built as the handler is: ESM for node22, minified, with a `require` for the CommonJS packages inside.
 */
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { WORKERS } from "./launch.mjs";

const PROJECT = resolve(fileURLToPath(import.meta.url), "../..");

export async function buildEngineWorkers(outdir) {
  await build({
    absWorkingDir: PROJECT,
    entryPoints: WORKERS.map((w) => ({ in: join(PROJECT, w.source), out: w.out })),
    outdir,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node22",
    mainFields: ["module", "main"],
    minify: true,
    banner: {
      js: 'import { createRequire as __createRequire } from "node:module"; const require = __createRequire(import.meta.url);',
    },
    logLevel: "warning",
  });
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [outdir] = process.argv.slice(2);
  if (outdir === undefined) {
    process.stderr.write("usage: node scripts/engine-workers.mjs <output directory>\n");
    process.exitCode = 2;
  } else {
    await buildEngineWorkers(resolve(outdir));
  }
}
