/**
 * Runs a TypeScript command-line script from a JavaScript bundle, so that starting it compiles nothing:
 *
 *   node scripts/launch.mjs scripts/segment.ts [its arguments]      (what `npm run segment` runs)
 *
 * The entry is bundled with esbuild into `dist/<name>.mjs` under the working directory, once, and rebuilt
 * whenever it is missing or any file it was built from has changed: next to the bundle, `dist/<name>.inputs.json`
 * lists every input esbuild read (the entry, the project's modules, the packages' files) with its size and
 * modification time, plus this file and `node_modules/.package-lock.json` (rewritten by every `npm ci` and
 * `npm install`, whose package files keep the fixed dates of their tarballs). A launch stats those files and
 * rebuilds on any difference, so the bundle never runs code older than its sources. Bundle and list are
 * written to temporary names and renamed into place, so launches at the same time never read half a file.
 *
 * When the entry's bundle holds one of the engine's worker modules (WORKERS, the names of
 * shared/engine/threads.ts WORKER_BUNDLES), that module is also bundled on its own into `dist/`, e.g.
 * `dist/engine-kmeans-worker.mjs`, in the same build: the engine's helper threads start that small file
 * rather than the whole bundle. The list of inputs covers those builds too.
 *
 * The bundle is imported into this process and its exported `main(argv)` run; the number it resolves to is
 * the exit code. An error it throws is printed with its stack on stderr, prefixed by the script's name, exit 1.
 */
import { randomUUID } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, extname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const LAUNCHER = fileURLToPath(import.meta.url);
/** Inputs of every bundle besides those esbuild reports (paths relative to the working directory). */
const ALWAYS = ["node_modules/.package-lock.json"];

/**
 * The engine's worker modules (relative to the project that holds this launcher) and the file each is bundled
 * into next to a bundle that holds it: the names of shared/engine/threads.ts WORKER_BUNDLES.
 */
export const WORKERS = [
  { source: "shared/engine/kmeans/worker.ts", out: "engine-kmeans-worker" },
  { source: "shared/engine/parallel/worker.ts", out: "engine-range-worker" },
  { source: "shared/engine/value-thread.ts", out: "engine-value-worker" },
];
const PROJECT = resolve(LAUNCHER, "../..");

/** Recorded for an input that changed during the build: matches no file. */
const CHANGED = { size: -1, mtimeMs: -1 };

/** Size and modification time of a file, or null when it does not exist. */
function stamp(path) {
  const stats = statSync(path, { throwIfNoEntry: false });
  return stats === undefined ? null : { size: stats.size, mtimeMs: stats.mtimeMs };
}

function sameStamp(a, b) {
  return a === null || b === null ? a === b : a.size === b.size && a.mtimeMs === b.mtimeMs;
}

/** True when the bundle exists and every input it was built from is as it was then. */
function fresh(root, bundle, list) {
  let recorded;
  try {
    recorded = JSON.parse(readFileSync(list, "utf8"));
  } catch {
    return false;
  }
  if (stamp(bundle) === null || typeof recorded !== "object" || recorded === null) return false;
  const workers = recorded.workers ?? [];
  if (!Array.isArray(workers) || workers.some((out) => stamp(join(root, "dist", `${out}.mjs`)) === null)) {
    return false;
  }
  if (!sameStamp(stamp(LAUNCHER), recorded.launcher ?? null)) return false;
  const inputs = recorded.inputs;
  if (typeof inputs !== "object" || inputs === null) return false;
  for (const [path, was] of Object.entries(inputs)) {
    if (!sameStamp(stamp(resolve(root, path)), was)) return false;
  }
  return true;
}

/**
 * Bundles `entry` (a path relative to `root`) into `root/dist/<name>.mjs` unless the bundle there is fresh.
 * Returns the bundle's path and whether it was built now.
 */
export async function ensureBundle(root, entry) {
  const name = basename(entry, extname(entry));
  const dist = join(root, "dist");
  const bundle = join(dist, `${name}.mjs`);
  const list = join(dist, `${name}.inputs.json`);
  if (fresh(root, bundle, list)) return { bundle, built: false };

  const { build } = await import("esbuild");
  mkdirSync(dist, { recursive: true });
  // A file modified after the build started may have been read before the change: it is recorded as changed,
  // so the next launch builds again.
  const started = Date.now();
  const launcher = stamp(LAUNCHER);
  const before = new Map(ALWAYS.map((path) => [path, stamp(join(root, path))]));
  const tmp = `${bundle}.${randomUUID()}.tmp`;
  const options = {
    absWorkingDir: root,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    // Packages published as CommonJS call require(); an ES module has none of its own.
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
    },
    metafile: true,
    logLevel: "warning",
  };
  /** Worker bundles written to temporary names: [temporary, final]. */
  const written = [];
  try {
    const result = await build({ ...options, entryPoints: [entry], outfile: tmp });
    const read = Object.keys(result.metafile.inputs).filter((path) => !path.includes(":"));
    const held = new Set(read.map((path) => resolve(root, path)));
    const workers = WORKERS.filter((w) => held.has(join(PROJECT, w.source)));
    if (workers.length > 0) {
      const tag = randomUUID();
      const own = await build({
        ...options,
        entryPoints: workers.map((w) => ({ in: join(PROJECT, w.source), out: `${w.out}.${tag}` })),
        outdir: dist,
        outExtension: { ".js": ".mjs" },
      });
      for (const w of workers) written.push([join(dist, `${w.out}.${tag}.mjs`), join(dist, `${w.out}.mjs`)]);
      for (const path of Object.keys(own.metafile.inputs)) if (!path.includes(":")) read.push(path);
    }
    const inputs = {};
    for (const [path, was] of before) inputs[path] = was;
    for (const path of read) {
      // Inputs are relative to absWorkingDir; a few virtual ones (namespaced, e.g. "<define:…>") are no files.
      const now = stamp(resolve(root, path));
      inputs[relative(root, resolve(root, path))] ??= now !== null && now.mtimeMs >= started ? CHANGED : now;
    }
    const listTmp = `${list}.${randomUUID()}.tmp`;
    const record = { entry, launcher, workers: workers.map((w) => w.out), inputs };
    writeFileSync(listTmp, `${JSON.stringify(record, null, 1)}\n`);
    // The workers first: a launch that finds the new bundle finds its workers.
    for (const [from, to] of written) renameSync(from, to);
    renameSync(tmp, bundle);
    renameSync(listTmp, list);
  } finally {
    rmSync(tmp, { force: true });
    for (const [from] of written) rmSync(from, { force: true });
  }
  return { bundle, built: true };
}

async function launch() {
  const [entry, ...args] = process.argv.slice(2);
  if (entry === undefined) {
    process.stderr.write("usage: node scripts/launch.mjs <entry.ts> [arguments]\n");
    return 2;
  }
  const name = basename(entry, extname(entry));
  try {
    const { bundle } = await ensureBundle(process.cwd(), entry);
    const script = await import(pathToFileURL(bundle).href);
    if (typeof script.main !== "function") throw new Error(`${entry} exports no main(argv)`);
    return await script.main(args);
  } catch (error) {
    process.stderr.write(`${name}: ${error?.stack ?? String(error)}\n`);
    return 1;
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === LAUNCHER) {
  process.exitCode = await launch();
}
