/**
 * Load test of the lookup route while a large run computes and writes: starts the local service (or uses
 * one given with --api and --token), loads a generated dataset (scripts/bench/generate.ts, cached under
 * bench-out/), then keeps `--concurrency` keep-alive connections busy with customer lookups while a
 * replacement upload of the dataset (another seed: every customer changes, so every customer item is
 * rewritten) is computed and written. Reports throughput, p50/p99/max latency and
 * errors before the run, during the window the run was writing (from the run's own timings), and overall.
 *
 *   npm run load [-- --customers 100k] [--concurrency 32] [--idle-seconds 10] [--warmup-seconds 3]
 *                   [--api URL --token T] [--out-dir bench-out]
 *
 * The first `--warmup-seconds` of lookups (JIT compilation of the handler and of DynamoDB Local) are not
 * counted; then `--idle-seconds` of lookups alone, then the replacement upload.
 *
 * Exits 1 when any lookup failed (a status other than 200, or no answer).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createReadStream, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { DEFAULT_SPEC, syntheticFile } from "./bench/generate";
import { checkOrExit, parseOrExit, size, UsageError, wholeNumber } from "./cli";
import { freePort } from "./emulators/net";
import { postFile, requestUpload, waitForRun } from "./local/upload";

const ROOT = resolve(import.meta.dirname, "..");
const DATASET = "load";

const CLI = {
  name: "load",
  usage: `usage: npm run load -- [--customers 100k] [--concurrency 32] [--idle-seconds 10] [--warmup-seconds 3]
                       [--api <url> --token <jwt>] [--out-dir bench-out] [--wait-minutes 30]
  --customers       customers in the generated dataset, e.g. 10k or 1m (default 100k)
  --concurrency     lookups in flight at once (default 32)
  --idle-seconds    seconds of lookups alone before the replacement upload (default 10)
  --warmup-seconds  seconds of lookups not counted, first (default 3)
  --api, --token    use a running service instead of starting one (both or neither)
  --out-dir         where generated files and results go (default bench-out)
  --wait-minutes    how long a run may show no progress before the test gives up (default 30)
`,
  options: {
    customers: { type: "string", default: "100k" },
    concurrency: { type: "string", default: "32" },
    "idle-seconds": { type: "string", default: "10" },
    "warmup-seconds": { type: "string", default: "3" },
    api: { type: "string" },
    token: { type: "string" },
    "out-dir": { type: "string", default: "bench-out" },
    "wait-minutes": { type: "string", default: "30" },
  },
} as const;
const { values } = parseOrExit(CLI);

const { customers, concurrency, idleSeconds, warmupSeconds, waitMs } = checkOrExit(CLI, () => {
  if ((values.api === undefined) !== (values.token === undefined))
    throw new UsageError("--api and --token go together");
  return {
    customers: size("customers", values.customers),
    concurrency: wholeNumber("concurrency", values.concurrency, 1, 1024),
    idleSeconds: wholeNumber("idle-seconds", values["idle-seconds"], 0, 3600),
    warmupSeconds: wholeNumber("warmup-seconds", values["warmup-seconds"], 0, 3600),
    waitMs: wholeNumber("wait-minutes", values["wait-minutes"], 1, 24 * 60) * 60_000,
  };
});
const outDir = resolve(values["out-dir"] as string);
const say = (line = "") => process.stdout.write(`${line}\n`);

/** Starts `npm start` on a free port with its own data directory; resolves with its URL and token. */
async function startService(): Promise<{ api: string; token: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      join(ROOT, "node_modules/tsx/dist/cli.mjs"),
      join(ROOT, "scripts/local.ts"),
      "--port",
      String(port),
      "--data-dir",
      join(ROOT, ".local/load"),
      "--reset",
      "--no-demo",
      "--refresh-every",
      "0",
    ],
    { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, LOG_LEVEL: "ERROR" } },
  );
  let api: string | undefined;
  let token: string | undefined;
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  await new Promise<void>((done, fail) => {
    child.once("exit", (code) => fail(new Error(`the local service exited (${code}) before it was ready`)));
    lines.on("line", (line) => {
      api ??= /^API:\s+(\S+)/.exec(line)?.[1];
      token ??= /export TOKEN=(\S+)/.exec(line)?.[1];
      if (line.startsWith("Ready.")) done();
    });
  });
  if (!api || !token) throw new Error("the local service did not print its URL and token");
  return { api, token, child };
}

/** The first `n` distinct customer ids of a generated file. */
async function customerIds(path: string, n: number): Promise<string[]> {
  const ids = new Set<string>();
  const lines = createInterface({ input: createReadStream(path) });
  for await (const line of lines) {
    const id = line.slice(0, line.indexOf(","));
    if (id !== "customer_id") ids.add(id);
    if (ids.size >= n) break;
  }
  lines.close();
  return [...ids];
}

interface Sample {
  /** Start, ms since the load began. */
  at: number;
  ms: number;
  ok: boolean;
}

function summary(samples: Sample[], seconds: number) {
  const sorted = samples.map((s) => s.ms).sort((a, b) => a - b);
  const q = (p: number) =>
    sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? Number.NaN;
  return {
    requests: samples.length,
    perSecond: samples.length / seconds,
    p50: q(0.5),
    p99: q(0.99),
    max: sorted.at(-1) ?? Number.NaN,
    errors: samples.filter((s) => !s.ok).length,
  };
}

async function main() {
  mkdirSync(outDir, { recursive: true });
  const spec = { ...DEFAULT_SPEC, customers };
  say(`Generating ${customers} customers (cached in ${outDir})…`);
  const first = syntheticFile(outDir, spec);
  const second = syntheticFile(outDir, { ...spec, seed: spec.seed + 1 });
  say(`  ${first.rows} and ${second.rows} rows`);

  const service = values.api ? undefined : await startService();
  const api = (values.api as string | undefined) ?? (service?.api as string);
  const token = (values.token as string | undefined) ?? (service?.token as string);
  const auth = { authorization: `Bearer ${token}` };
  try {
    const created = await fetch(`${api}/datasets`, {
      method: "POST",
      headers: { "content-type": "application/json", ...auth },
      body: JSON.stringify({ datasetId: DATASET, settings: { asOf: first.asOf } }),
    });
    if (created.status !== 201 && created.status !== 409)
      throw new Error(`POST /datasets answered ${created.status}: ${await created.text()}`);

    say("Loading the dataset (first upload)…");
    const t0 = performance.now();
    const initial = await upload(api, token, first.path, "replace");
    const run1 = await waitForRun(api, DATASET, initial, waitMs, token);
    if (run1.status !== "succeeded")
      throw new Error(`the first run ${run1.status}: ${JSON.stringify(run1.error)}`);
    say(`  ${run1.counts?.customers} customers in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const ids = await customerIds(first.path, 20_000);
    const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
    const get = (path: string) =>
      new Promise<number>((done, fail) => {
        const req = request(`${api}${path}`, { agent, headers: auth }, (res) => {
          res.resume();
          res.on("end", () => done(res.statusCode ?? 0));
          res.on("error", fail);
        });
        req.on("error", fail);
        req.end();
      });
    const samples: Sample[] = [];
    let start = performance.now();
    let recording = false;
    let stop = false;
    let n = 0;
    const worker = async () => {
      while (!stop) {
        const id = ids[(n++ * 7919) % ids.length] as string;
        const t0 = performance.now();
        let ok = false;
        try {
          ok = (await get(`/datasets/${DATASET}/customers/${encodeURIComponent(id)}`)) === 200;
        } catch {
          ok = false;
        }
        // Requests started during the warm-up are not counted.
        if (recording && t0 >= start) samples.push({ at: t0 - start, ms: performance.now() - t0, ok });
      }
    };
    say(`Lookups: ${concurrency} concurrent, ${idleSeconds} s alone, then during a replacement upload…`);
    const workers = Array.from({ length: concurrency }, worker);
    await new Promise((ok) => setTimeout(ok, warmupSeconds * 1000));
    start = performance.now();
    recording = true;
    await new Promise((ok) => setTimeout(ok, idleSeconds * 1000));
    const uploadAt = performance.now() - start;
    const replacement = await upload(api, token, second.path, "replace");
    const run2 = await waitForRun(api, DATASET, replacement, waitMs, token);
    const runDoneAt = performance.now() - start;
    await new Promise((ok) => setTimeout(ok, 2000));
    stop = true;
    await Promise.all(workers);
    const endAt = performance.now() - start;
    agent.destroy();
    if (run2.status !== "succeeded")
      throw new Error(`the second run ${run2.status}: ${JSON.stringify(run2.error)}`);

    // The run's own timings place its write phase: it ends at commit, just before the run finishes.
    const runRes = await fetch(`${api}/datasets/${DATASET}/runs/${run2.runId}`, { headers: auth });
    const run = (await runRes.json()) as {
      timingsMs?: Record<string, number>;
      counts?: Record<string, number>;
    };
    const writeMs = run.timingsMs?.writeMs ?? 0;
    const writeWindow = { from: Math.max(uploadAt, runDoneAt - writeMs), to: runDoneAt };

    const idle = samples.filter((s) => s.at < uploadAt);
    const writing = samples.filter((s) => s.at >= writeWindow.from && s.at + s.ms <= writeWindow.to);
    const results = {
      date: new Date().toISOString(),
      customers,
      concurrency,
      run: { runId: run2.runId, timingsMs: run.timingsMs, counts: run.counts },
      writeWindowSeconds: [writeWindow.from / 1000, writeWindow.to / 1000],
      alone: summary(idle, uploadAt / 1000),
      whileWriting: summary(writing, (writeWindow.to - writeWindow.from) / 1000),
      overall: summary(samples, endAt / 1000),
    };
    say();
    say(
      `Replacement run: ${run.counts?.customersWritten ?? "?"} customers ` +
        `written in ${(writeMs / 1000).toFixed(1)} s (window ${results.writeWindowSeconds.map((x) => x.toFixed(1)).join("–")} s)`,
    );
    const row = (label: string, s: ReturnType<typeof summary>) =>
      `  ${label.padEnd(14)} ${String(s.requests).padStart(8)} ${s.perSecond.toFixed(0).padStart(8)} ` +
      `${s.p50.toFixed(1).padStart(8)} ${s.p99.toFixed(1).padStart(8)} ${s.max.toFixed(1).padStart(8)} ${String(s.errors).padStart(7)}`;
    say(
      `  ${"phase".padEnd(14)} ${"requests".padStart(8)} ${"req/s".padStart(8)} ${"p50 ms".padStart(8)} ${"p99 ms".padStart(8)} ${"max ms".padStart(8)} ${"errors".padStart(7)}`,
    );
    say(row("alone", results.alone));
    say(row("while writing", results.whileWriting));
    say(row("overall", results.overall));
    const file = join(outDir, "load.json");
    writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
    say(`figures: ${file}`);
    if (results.overall.errors > 0) process.exitCode = 1;
  } finally {
    service?.child.kill("SIGTERM");
  }
}

async function upload(api: string, token: string, path: string, mode: "append" | "replace"): Promise<string> {
  const fileName = "transactions.csv";
  const { uploadId, url, fields } = await requestUpload(api, DATASET, fileName, { token, mode });
  await postFile(url, fields, readFileSync(path), fileName);
  return uploadId;
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
