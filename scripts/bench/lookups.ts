/**
 * Benchmarks of the serving side: what each function's bundle weighs, how long its module takes to load in a
 * fresh process, what the lookup handler adds to a DynamoDB read, and how fast the store writes items.
 *
 *   npm run bench:lookups [-- --only bundles,init,warm,writes,profile] [--quick] [--init-runs 7] [--warm 2000]
 *                            [--write-items 20000] [--warm-storage memory|disk] [--out-dir bench-out]
 *   npm run bench:writes  (the same with --only writes)
 *
 * - bundles: every functions/<name>/handler.ts built with the options the CDK stack bundles it with (esbuild,
 *   minified ESM for node22, the same banner, the AWS SDK inside), and for comparison without the SDK;
 *   esbuild's metafile names the largest contributors. A bare @aws-sdk/client-dynamodb GetItem is built
 *   alongside as the floor of any function on the SDK.
 * - init: each bundle imported by a fresh `node` process, which reports how long the import took (module
 *   parse, evaluation and cold-start wiring: configuration, clients); the median of several processes.
 * - warm: against DynamoDB Local, the lookup bundle's handler invoked in this process with an API Gateway
 *   event, interleaved with bare reads of the same customer item: GetItem with the AWS SDK, GetItem with
 *   aws-lite (the lookup's client), and TransactGetItems of the customer and the dataset's META item, whole
 *   and as the handler reads it (META's committed-version reference only); p50/p99 of each and the ratios.
 *   With `--against <checkout>`, that tree's lookup handler is timed in the same rotation.
 * - writes: DynamoDatasetStore.writeCustomers (BatchWriteItem, 25 items a call) against DynamoDB Local with
 *   one batch in flight and with the store's default concurrency, items per second; sequential and parallel
 *   runs alternate so that both see the same machine. Once with tables in memory, once on disk as the local
 *   service keeps them.
 * - profile (only when asked for): where a warm lookup's time goes, stage by stage (./lookup-profile.ts).
 *
 * Figures go to stdout and to <out-dir>/lookups.json.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import awsLite from "@aws-lite/client";
import { DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, PutCommand } from "@aws-sdk/lib-dynamodb";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { build, type Metafile } from "esbuild";
import { BUNDLE_OPTIONS, ESM_REQUIRE_BANNER } from "../../infra/constructs/service-function";
import type { ServedValueModel } from "../../shared/engine/clv/served";
import type { CustomerView } from "../../shared/model";
import { DynamoDatasetStore } from "../../shared/store/dynamo";
import { CUSTOMER_SK, customerPk, datasetPk, META_SK } from "../../shared/store/keys";
import { lookupPlugin, META_REF_PROJECTION } from "../../shared/store/lookup";
import { checkOrExit, oneOf, parseOrExit, UsageError, wholeNumber } from "../cli";
import { DYNAMODB_LOCAL_CREDENTIALS, startDynamoDbLocal } from "../emulators/dynamodb-local";
import { ensureTable } from "../emulators/resources";
import { profileLookup } from "./lookup-profile";

const ROOT = resolve(import.meta.dirname, "../..");

const PARTS = ["bundles", "init", "warm", "writes", "profile"] as const;
const CLI = {
  name: "bench:lookups",
  usage: `usage: npm run bench:lookups -- [--only bundles,init,warm,writes,profile] [--quick] [--init-runs 7] [--warm 2000]
                               [--write-items 20000] [--warm-storage memory|disk] [--out-dir bench-out]
       npm run bench:writes   (the same with --only writes)
  --only          which parts to run, comma-separated (default: bundles, init, warm and writes); "profile"
                  breaks a warm lookup down: each stage's CPU alone, then the handler's reads against
                  DynamoDB Local with this process's CPU per call (scripts/bench/lookup-profile.ts)
  --quick         fewer runs and calls (init 3, warm 300, writes 5000)
  --init-runs     fresh processes timed per bundle (default 7)
  --warm          warm lookups measured (default 2000)
  --write-items   customer items written per run (default 20000)
  --warm-storage  DynamoDB Local's tables for the warm benchmark: memory (default) or disk
  --out-dir       where results go (default bench-out)
  --against       another checkout's root (e.g. \`git worktree add /tmp/before <commit>\` with node_modules
                  linked in): its lookup-api handler is bundled the same way and timed in the warm series
                  beside this tree's, so that before and after are measured in the same run
`,
  options: {
    only: { type: "string", default: "bundles,init,warm,writes" },
    quick: { type: "boolean", default: false },
    "init-runs": { type: "string" },
    warm: { type: "string" },
    "write-items": { type: "string" },
    "out-dir": { type: "string", default: "bench-out" },
    /** Where DynamoDB Local keeps the tables of the warm benchmark: in memory, or on disk as `npm start` does. */
    "warm-storage": { type: "string", default: "memory" },
    /** Another checkout's root: its lookup handler is measured in the warm series beside this tree's. */
    against: { type: "string" },
  },
} as const;
const { values } = parseOrExit(CLI);
const only = new Set(
  checkOrExit(CLI, () =>
    values.only.split(",").map((part) => {
      if (!(PARTS as readonly string[]).includes(part))
        throw new UsageError(`--only takes parts among ${PARTS.join(", ")}, got "${part}"`);
      return part;
    }),
  ),
);
const quick = values.quick;
const { initRuns, warmCalls, writeItems } = checkOrExit(CLI, () => {
  oneOf("warm-storage", values["warm-storage"], ["memory", "disk"] as const);
  return {
    initRuns: wholeNumber("init-runs", values["init-runs"] ?? (quick ? "3" : "7"), 1, 1000),
    warmCalls: wholeNumber("warm", values.warm ?? (quick ? "300" : "2000"), 1, 10_000_000),
    writeItems: wholeNumber(
      "write-items",
      values["write-items"] ?? (quick ? "5000" : "20000"),
      1,
      10_000_000,
    ),
  };
});
const outDir = resolve(values["out-dir"] as string, "lookups");
mkdirSync(outDir, { recursive: true });

const say = (line = "") => process.stdout.write(`${line}\n`);
const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} KB`;
const ms = (x: number) => `${x.toFixed(x < 10 ? 2 : 1)} ms`;

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}
const sortNum = (xs: number[]) => [...xs].sort((a, b) => a - b);

const figures: Record<string, unknown> = {
  date: new Date().toISOString(),
  node: process.version,
  loadAverageAtStart: loadavg()[0],
};
say(
  `${figures.date}: load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")} on ${availableParallelism()} cores`,
);

// ---- bundles ---------------------------------------------------------------------------------------------

interface Built {
  name: string;
  file: string;
  bytes: number;
  /** The licence notices esbuild wrote beside the bundle (index.mjs.LEGAL.txt), 0 when they are inside it. */
  legalBytes: number;
  withSdk: boolean;
  top: Array<[string, number]>;
}

/** The stack's esbuild settings of a function's bundle (infra/constructs/service-function.ts BUNDLE_OPTIONS). */
interface StackBundleOptions {
  format: "esm";
  target: string;
  mainFields: readonly string[];
  minify: boolean;
  sourcemap: boolean;
  sourcesContent: boolean;
  banner: string;
  legalComments?: "none" | "inline" | "eof" | "linked" | "external";
  external?: readonly string[];
  alias?: Readonly<Record<string, string>>;
}

/**
 * What the stack bundled with before it exported BUNDLE_OPTIONS (an `--against` checkout that predates it):
 * the same settings, licence notices at the end of the bundle (esbuild's default) and nothing external.
 */
const EARLIER_BUNDLE_OPTIONS: StackBundleOptions = {
  format: "esm",
  target: "node22",
  mainFields: ["module", "main"],
  minify: true,
  sourcemap: true,
  sourcesContent: false,
  banner: ESM_REQUIRE_BANNER,
};

/** The package (or source folder) an input of the metafile belongs to. */
function owner(input: string): string {
  const nm = input.lastIndexOf("node_modules/");
  if (nm >= 0) {
    const parts = input.slice(nm + "node_modules/".length).split("/");
    // @stdlib publishes each function (and each of its helpers) as a package of its own: counted as one.
    if (parts[0] === "@stdlib") return "@stdlib/*";
    return parts[0]?.startsWith("@") ? `${parts[0]}/${parts[1]}` : (parts[0] as string);
  }
  const parts = input.split("/");
  return parts.length > 2 ? parts.slice(0, 2).join("/") : input;
}

function contributors(meta: Metafile): Array<[string, number]> {
  const byOwner = new Map<string, number>();
  for (const output of Object.values(meta.outputs))
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs))
      byOwner.set(owner(input), (byOwner.get(owner(input)) ?? 0) + bytesInOutput);
  return [...byOwner].sort((a, b) => b[1] - a[1]);
}

async function bundle(
  name: string,
  entry: { path: string; root?: string } | { code: string },
  withSdk: boolean,
  options: StackBundleOptions = BUNDLE_OPTIONS,
): Promise<Built> {
  const file = join(outDir, `${name}${withSdk ? "" : ".no-sdk"}`, "index.mjs");
  // A notices file of an earlier run must not be counted for a bundle that keeps them inside.
  rmSync(dirname(file), { recursive: true, force: true });
  const result = await build({
    ...("path" in entry
      ? { entryPoints: [entry.path], absWorkingDir: entry.root ?? ROOT }
      : { stdin: { contents: entry.code, resolveDir: ROOT, loader: "ts" as const } }),
    bundle: true,
    platform: "node",
    format: options.format,
    target: options.target,
    mainFields: [...options.mainFields],
    minify: options.minify,
    sourcemap: options.sourcemap,
    sourcesContent: options.sourcesContent,
    banner: { js: options.banner },
    ...(options.legalComments ? { legalComments: options.legalComments } : {}),
    external: [...(options.external ?? []), ...(withSdk ? [] : ["@aws-sdk/*"])],
    ...(options.alias ? { alias: { ...options.alias } } : {}),
    metafile: true,
    outfile: file,
    logLevel: "error",
  });
  const legal = `${file}.LEGAL.txt`;
  return {
    name,
    file,
    bytes: statSync(file).size,
    legalBytes: existsSync(legal) ? statSync(legal).size : 0,
    withSdk,
    top: contributors(result.metafile),
  };
}

/** A function that does nothing but create a DynamoDB client and read one item. */
const BARE_GET_ITEM = `
import { DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb";
const client = new DynamoDBClient({});
export const handler = async () =>
  (await client.send(new GetItemCommand({ TableName: process.env.TABLE_NAME, Key: { pk: { S: "a" }, sk: { S: "b" } } }))).Item ?? null;
`;

async function bundles(): Promise<Built[]> {
  const entries = readdirSync(join(ROOT, "functions")).filter((d) =>
    existsSync(join(ROOT, "functions", d, "handler.ts")),
  );
  const deployed: Built[] = [];
  const rows: string[][] = [];
  for (const dir of entries) {
    const path = join(ROOT, "functions", dir, "handler.ts");
    try {
      const full = await bundle(dir, { path }, true);
      const lean = await bundle(dir, { path }, false);
      deployed.push(full);
      rows.push([dir, kb(full.bytes), kb(lean.bytes), kb(full.legalBytes), String(full.bytes)]);
    } catch (error) {
      rows.push([dir, `build failed: ${(error as Error).message.split("\n")[0]}`, "", "", ""]);
    }
  }
  const bare = await bundle("bare-get-item", { code: BARE_GET_ITEM }, true);
  rows.push(["(bare SDK GetItem)", kb(bare.bytes), "-", kb(bare.legalBytes), String(bare.bytes)]);
  deployed.push(bare);
  // The --against checkout's lookup function, bundled as that checkout's stack bundles it: before and after
  // in the same run (its initialization is timed with the others).
  const before = values.against ? await bundleAgainst() : undefined;
  if (before)
    rows.push([
      `lookup-api of ${values.against}`,
      kb(before.bytes),
      "-",
      kb(before.legalBytes),
      String(before.bytes),
    ]);

  say(
    "Bundles (minified ESM, node22, as the stack builds them: infra/constructs/service-function.ts BUNDLE_OPTIONS)",
  );
  say(table(["function", "deployed", "without SDK", "notices beside", "bytes"], rows));
  for (const b of [...deployed.filter((d) => !d.name.startsWith("bare")), ...(before ? [before] : [])]) {
    say(
      `  ${b.name}: ${b.top
        .slice(0, b.name.startsWith("lookup-api") ? 12 : 6)
        .map(([o, n]) => `${o} ${kb(n)}`)
        .join(", ")}`,
    );
  }
  figures.bundles = [...deployed, ...(before ? [before] : [])].map((b) => ({
    name: b.name,
    bytes: b.bytes,
    legalBytes: b.legalBytes,
    top: b.top.slice(0, 12),
  }));
  return deployed;
}

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) =>
    `  ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join("  ")}`;
  return [line(head), ...rows.map(line)].join("\n");
}

// ---- init ------------------------------------------------------------------------------------------------

/** The environment a deployed function gets, enough for every handler's cold-start configuration. */
const FUNCTION_ENV = {
  TABLE_NAME: "bench",
  BUCKET_NAME: "bench",
  AWS_REGION: "us-east-1",
  AWS_ACCESS_KEY_ID: "bench",
  AWS_SECRET_ACCESS_KEY: "bench",
  LOG_LEVEL: "SILENT",
  SCOPE_PREFIX: "segmentation",
  DEFAULT_TENANT: "demo",
};

/** The import's wall time and the process's CPU time (user + system) during it, in ms. */
const IMPORT_TIMER =
  "const t0 = performance.now(); const c0 = process.cpuUsage(); await import(process.argv[1]); " +
  "const c = process.cpuUsage(c0); " +
  "process.stdout.write(JSON.stringify({ ms: performance.now() - t0, cpuMs: (c.user + c.system) / 1000 }));";

interface ImportTime {
  ms: number;
  cpuMs: number;
}

function importOnce(file: string): Promise<ImportTime> {
  return new Promise((done, fail) => {
    const child = spawn(
      process.execPath,
      ["--input-type=module", "-e", IMPORT_TIMER, pathToFileURL(file).href],
      {
        env: { PATH: process.env.PATH, ...FUNCTION_ENV },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c;
    });
    child.stderr.on("data", (c: Buffer) => {
      err += c;
    });
    child.on("error", fail);
    child.on("close", (code) => {
      if (code !== 0) return fail(new Error(err.split("\n").find((l) => l.trim()) ?? `exit ${code}`));
      done(JSON.parse(out) as ImportTime);
    });
  });
}

async function init(built: Built[]): Promise<void> {
  const rows: string[][] = [];
  const results: Record<string, unknown> = {};
  // Round-robin over the bundles, so that a busier minute of the machine does not fall on one bundle only.
  const runs = new Map<string, ImportTime[]>(built.map((b) => [b.name, []]));
  const failed = new Map<string, string>();
  for (let i = 0; i < initRuns; i++) {
    for (const b of built) {
      if (failed.has(b.name)) continue;
      try {
        runs.get(b.name)?.push(await importOnce(b.file));
      } catch (error) {
        failed.set(b.name, (error as Error).message.slice(0, 80));
      }
    }
  }
  for (const b of built) {
    const imports = runs.get(b.name) ?? [];
    const failure = failed.get(b.name);
    if (failure !== undefined) {
      rows.push([b.name, `failed: ${failure}`, "", "", "", ""]);
      continue;
    }
    const times = imports.map((t) => t.ms);
    const sorted = sortNum(times);
    const cpu = sortNum(imports.map((t) => t.cpuMs));
    rows.push([
      b.name,
      ms(quantile(sorted, 0.5)),
      ms(sorted[0] as number),
      ms(sorted.at(-1) as number),
      ms(quantile(cpu, 0.5)),
      ms(cpu[0] as number),
    ]);
    results[b.name] = {
      medianMs: quantile(sorted, 0.5),
      minMs: sorted[0],
      maxMs: sorted.at(-1),
      cpuMedianMs: quantile(cpu, 0.5),
      cpuMinMs: cpu[0],
      runs: times,
      cpuRuns: imports.map((t) => t.cpuMs),
    };
  }
  say();
  say(
    `Module initialization (fresh node ${process.version} process per import, ${initRuns} runs, interleaved; CPU: user + system of the process during the import)`,
  );
  say(table(["bundle", "median", "min", "max", "CPU median", "CPU min"], rows));
  figures.init = results;
}

// ---- warm ------------------------------------------------------------------------------------------------

const TENANT = "bench";
const DATASET = "shop";

/** A committed dataset shaped as a run leaves it: 30 segments with profiles, a 6-cluster model, value models. */
function metaItem() {
  const rfm = [
    "champions",
    "loyal",
    "potential-loyalists",
    "new",
    "promising",
    "need-attention",
    "about-to-sleep",
    "at-risk",
    "cannot-lose",
    "hibernating",
    "lost",
  ];
  const lifecycle = ["new", "active", "cooling", "lapsed", "reactivated"];
  const clusters = ["c1", "c2", "c3", "c4", "c5", "c6"];
  const summary = (id: string, family: string) => ({
    id,
    family,
    name: id.split(":")[1],
    description: `Customers of ${id}`,
    size: 1234,
    share: 0.0123,
    revenue: 98765.43,
    revenueShare: 0.0321,
    averageOrderValue: 54.32,
    meanClv: 123.45,
    meanProbabilityAlive: 0.67,
    profile: {
      meanRecencyDays: 42.1,
      meanFrequency: 3.2,
      meanMonetary: 210.5,
      rfm: Object.fromEntries(rfm.map((r) => [`rfm:${r}`, 100])),
      lifecycle: Object.fromEntries(lifecycle.map((l) => [`lifecycle:${l}`, 200])),
    },
  });
  const segments = [
    ...rfm.map((r) => summary(`rfm:${r}`, "rfm")),
    ...lifecycle.map((l) => summary(`lifecycle:${l}`, "lifecycle")),
    ...clusters.map((c) => summary(`cluster:${c}`, "cluster")),
    ...["vip", "win-back", "app-first", "big-basket", "one-and-done", "weekenders", "returners", "gift"].map(
      (r) => summary(`rule:${r}`, "rule"),
    ),
  ];
  return {
    pk: datasetPk(TENANT, DATASET),
    sk: META_SK,
    tenantId: TENANT,
    datasetId: DATASET,
    createdAt: "2025-01-01T00:00:00.000Z",
    settings: { asOf: "2025-10-01" },
    current: {
      version: 1,
      runId: "r-bench-1",
      asOf: "2025-10-01",
      completedAt: "2025-10-01T00:05:00.000Z",
      customerCount: 100_000,
      orderCount: 1_000_000,
      segments,
      clusters: {
        k: clusters.length,
        inertia: 1234.5,
        featureNames: ["recency", "frequency", "monetary", "tenure"],
        ids: clusters.map((c) => `cluster:${c}`),
        descriptions: clusters.map((c) => `Cluster ${c}`),
        centroids: clusters.map((_, i) => [i, i + 1, i + 2, i + 3]),
        nextId: 7,
      },
      value: {
        horizonDays: 365,
        selectedModel: "bgNbd",
        bgNbd: SERVED.repeat.params,
        gammaGamma: SERVED.gammaGamma,
      },
      // Read predictions come from this model and the customer's stored inputs (pipeline/served-view.ts).
      servedValue: JSON.stringify(SERVED),
    },
  };
}

/**
 * The served value model of the benchmark's version: BG/NBD in days with its covariances (intervals), the
 * heaviest model to predict from (a hypergeometric function per period of the horizon), and Gamma-Gamma.
 */
const SERVED: ServedValueModel = {
  timeUnit: "day",
  repeat: { model: "bgNbd", params: { r: 0.24, alpha: 4.4, a: 0.79, b: 2.4 } },
  gammaGamma: { p: 6.2, q: 3.7, gamma: 15.4 },
  clv: {
    horizonPeriods: 12,
    periodsPerYear: 12,
    timeUnitsPerYear: 365.25,
    annualDiscountRate: 0.1,
    margin: 1,
  },
  covariances: {
    repeat: [0.01, 0.002, 0, 0, 0.002, 0.012, 0, 0, 0, 0, 0.03, 0.01, 0, 0, 0.01, 0.04],
    gammaGamma: [0.02, 0.01, 0, 0.01, 0.03, 0, 0, 0, 0.01],
  },
  pooledOrderValue: 61.2,
};

/** The customer item's view as runs store it: no predictions, the value models' inputs instead. */
const VIEW: CustomerView = {
  firstPurchase: "2024-02-03",
  lastPurchase: "2025-09-20",
  frequency: 7,
  monetary: 512.4,
  r: 5,
  f: 4,
  m: 4,
  rfm: "544",
  lifecycle: "lifecycle:active",
  cluster: "cluster:c3",
  repeatPurchases: 6,
  valueInputs: { x: 6, tx: 595, firstDay: 19_756, mx: 71.35, fallbackOrderValue: 73.2 },
  segments: ["rfm:champions", "lifecycle:active", "cluster:c3", "rule:vip", "rule:app-first"],
};

/** A table with the benchmark's META and customer items, and the lookup bundle's handler configured for it. */
async function seedWarm(endpoint: string, built: Built[]) {
  const lookupBuilt = built.find((b) => b.name === "lookup-api");
  if (!lookupBuilt) throw new Error("warm needs the lookup-api bundle");
  const dynamo = new DynamoDBClient({
    endpoint,
    region: "us-east-1",
    credentials: DYNAMODB_LOCAL_CREDENTIALS,
  });
  const doc = DynamoDBDocumentClient.from(dynamo, { marshallOptions: { removeUndefinedValues: true } });
  const tableName = `lookups-${Date.now().toString(36)}`;
  await ensureTable(dynamo, tableName);
  const meta = metaItem();
  await doc.send(new PutCommand({ TableName: tableName, Item: meta }));
  const customerKey = { pk: customerPk(TENANT, DATASET, "C0001234"), sk: CUSTOMER_SK };
  const customer = { ...customerKey, v: 1, view: VIEW };
  await doc.send(new PutCommand({ TableName: tableName, Item: customer }));

  Object.assign(process.env, {
    ...FUNCTION_ENV,
    TABLE_NAME: tableName,
    AWS_ENDPOINT_URL_DYNAMODB: endpoint,
    AWS_ACCESS_KEY_ID: DYNAMODB_LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: DYNAMODB_LOCAL_CREDENTIALS.secretAccessKey,
  });
  const { handler } = (await import(pathToFileURL(lookupBuilt.file).href)) as {
    handler: (event: unknown, context: unknown) => Promise<{ statusCode: number }>;
  };
  const event = {
    version: "2.0",
    routeKey: "GET /datasets/{datasetId}/customers/{customerId}",
    rawPath: `/datasets/${DATASET}/customers/C0001234`,
    rawQueryString: "",
    headers: {},
    isBase64Encoded: false,
    pathParameters: { datasetId: DATASET, customerId: "C0001234" },
    requestContext: {
      requestId: "bench",
      authorizer: { jwt: { claims: { scope: "segmentation/read", tenant: TENANT }, scopes: null } },
    },
  };
  const metaKey = { pk: datasetPk(TENANT, DATASET), sk: META_SK };
  return { dynamo, tableName, handler, event, meta, customer, customerKey, metaKey };
}

async function warm(endpoint: string, built: Built[]): Promise<void> {
  const { dynamo, tableName, handler, event, customerKey, metaKey } = await seedWarm(endpoint, built);
  // The bare reads get a client of their own, configured as the handler's.
  const bare = new DynamoDBClient({
    endpoint,
    region: "us-east-1",
    credentials: DYNAMODB_LOCAL_CREDENTIALS,
    maxAttempts: 3,
  });
  const url = new URL(endpoint);
  const lite = await awsLite({
    region: "us-east-1",
    plugins: [lookupPlugin],
    retries: 2,
    protocol: "http",
    host: url.hostname,
    port: Number(url.port),
  });
  const marshalledKey = { pk: { S: customerKey.pk }, sk: { S: customerKey.sk } };
  const against = values.against ? await importHandler(await bundleAgainst()) : undefined;
  const series: Record<string, () => Promise<void>> = {
    handler: async () => {
      const res = await handler(event, {});
      if (res.statusCode !== 200) throw new Error(`lookup answered ${res.statusCode}`);
    },
    ...(against
      ? {
          handlerAgainst: async () => {
            const res = await against(event, {});
            if (res.statusCode !== 200) throw new Error(`the --against lookup answered ${res.statusCode}`);
          },
        }
      : {}),
    getItem: async () => {
      const out = await bare.send(new GetItemCommand({ TableName: tableName, Key: marshalledKey }));
      if (!out.Item) throw new Error("GetItem found nothing");
    },
    liteGetItem: async () => {
      const out = await lite.SegmentationLookup.GetItem({ TableName: tableName, Key: customerKey });
      if (!out.Item) throw new Error("GetItem found nothing");
    },
    transactGet: async () => {
      const out = await lite.SegmentationLookup.TransactGetItems({
        TransactItems: [
          { Get: { TableName: tableName, Key: metaKey } },
          { Get: { TableName: tableName, Key: customerKey } },
        ],
      });
      if (!out.Responses?.[1]?.Item) throw new Error("TransactGetItems found nothing");
    },
    transactRef: async () => {
      const out = await lite.SegmentationLookup.TransactGetItems({
        TransactItems: [
          { Get: { TableName: tableName, Key: metaKey, ...META_REF_PROJECTION } },
          { Get: { TableName: tableName, Key: customerKey } },
        ],
      });
      if (!out.Responses?.[1]?.Item) throw new Error("TransactGetItems found nothing");
    },
  };
  const names = Object.keys(series);
  const times: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  const warmup = Math.min(200, warmCalls);
  for (let i = 0; i < warmup + warmCalls; i++) {
    // Rotate the order so that none of the series always follows the same one.
    for (let j = 0; j < names.length; j++) {
      const name = names[(i + j) % names.length] as string;
      const t0 = performance.now();
      await (series[name] as () => Promise<void>)();
      const t = performance.now() - t0;
      if (i >= warmup) times[name]?.push(t);
    }
  }
  const stats = Object.fromEntries(
    names.map((n) => {
      const s = sortNum(times[n] as number[]);
      return [
        n,
        { p50: quantile(s, 0.5), p99: quantile(s, 0.99), mean: s.reduce((a, b) => a + b, 0) / s.length },
      ];
    }),
  ) as Record<string, { p50: number; p99: number; mean: number }>;
  const stat = (n: string) => stats[n] as { p50: number; p99: number; mean: number };
  say();
  say(
    `Warm lookup against DynamoDB Local, tables ${values["warm-storage"] === "disk" ? "on disk" : "in memory"} (${warmCalls} calls each, interleaved, after ${warmup} warm-up calls)`,
  );
  say(
    table(
      ["call", "p50", "p99", "mean"],
      names.map((n) => [
        {
          handler: "lookup handler (its read, checks, answer, JSON)",
          handlerAgainst: `lookup handler of ${values.against}`,
          getItem: "bare GetItem, AWS SDK (customer item)",
          liteGetItem: "bare GetItem, aws-lite (customer item)",
          transactGet: "bare TransactGetItems, aws-lite (META whole + customer)",
          transactRef: "bare TransactGetItems, aws-lite (META's version reference + customer)",
        }[n] ?? n,
        ms(stat(n).p50),
        ms(stat(n).p99),
        ms(stat(n).mean),
      ]),
    ),
  );
  const ratio = (a: number, b: number) => (a / b).toFixed(2);
  for (const [who, h] of [
    ["handler", stat("handler")],
    ...(against ? [["--against handler", stat("handlerAgainst")] as const] : []),
  ] as const) {
    for (const [label, base] of [
      ["bare GetItem, AWS SDK", stat("getItem")],
      ["bare GetItem, aws-lite", stat("liteGetItem")],
      ["bare TransactGetItems, aws-lite (META's reference)", stat("transactRef")],
    ] as const) {
      say(`  ${who} / ${label}: p50 ${ratio(h.p50, base.p50)}×, p99 ${ratio(h.p99, base.p99)}×`);
    }
  }
  figures.warm = { calls: warmCalls, ...stats };
  bare.destroy();
  dynamo.destroy();
}

let againstBundle: Promise<Built> | undefined;

/**
 * The lookup function of the `--against` checkout, bundled once with that checkout's stack options (its
 * BUNDLE_OPTIONS, or the earlier settings when it has none), so that "before" is what that stack deployed.
 */
function bundleAgainst(): Promise<Built> {
  againstBundle ??= (async () => {
    const root = resolve(values.against as string);
    const infra = (await import(pathToFileURL(join(root, "infra/constructs/service-function.ts")).href)) as {
      BUNDLE_OPTIONS?: StackBundleOptions;
    };
    return bundle(
      "lookup-api-against",
      { path: join(root, "functions/lookup-api/handler.ts"), root },
      true,
      infra.BUNDLE_OPTIONS ?? EARLIER_BUNDLE_OPTIONS,
    );
  })();
  return againstBundle;
}

type LookupHandler = (event: unknown, context: unknown) => Promise<{ statusCode: number }>;

/** A lookup bundle's handler, loaded in this process (configured by the environment at import). */
async function importHandler(b: Built): Promise<LookupHandler> {
  return ((await import(pathToFileURL(b.file).href)) as { handler: LookupHandler }).handler;
}

async function profile(endpoint: string, built: Built[]): Promise<void> {
  const seeded = await seedWarm(endpoint, built);
  figures.profile = await profileLookup({
    endpoint,
    tableName: seeded.tableName,
    tenant: TENANT,
    dataset: DATASET,
    customerId: "C0001234",
    metaKey: seeded.metaKey,
    customerKey: seeded.customerKey,
    meta: seeded.meta,
    customer: seeded.customer,
    event: seeded.event as unknown as APIGatewayProxyEventV2,
    handler: seeded.handler,
    calls: warmCalls,
    say,
    table,
  });
  seeded.dynamo.destroy();
}

// ---- writes ----------------------------------------------------------------------------------------------

async function writes(endpoint: string, storage: "memory" | "disk"): Promise<void> {
  const dynamo = new DynamoDBClient({
    endpoint,
    region: "us-east-1",
    credentials: DYNAMODB_LOCAL_CREDENTIALS,
    maxAttempts: 8,
  });
  const doc = DynamoDBDocumentClient.from(dynamo, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
  });
  const tableName = `writes-${Date.now().toString(36)}`;
  await ensureTable(dynamo, tableName);
  const items = Array.from({ length: writeItems }, (_, i) => ({
    customerId: `C${String(i).padStart(7, "0")}`,
    view: { ...VIEW, monetary: 100 + (i % 1000) },
    previous: null,
  }));
  const configs = [
    { label: "sequential (1 batch in flight)", concurrency: 1 },
    { label: "parallel (store default, 8 in flight)", concurrency: 8 },
    { label: "parallel (16 in flight)", concurrency: 16 },
  ];
  const rates: Record<string, number[]> = Object.fromEntries(configs.map((c) => [c.label, []]));
  // DynamoDB Local is a JVM: a warm-up write first, so that the first configuration measured does not pay for
  // its JIT compilation. Then rounds in alternating order, so that neither writer always runs first.
  await new DynamoDatasetStore(doc, tableName).writeCustomers(TENANT, "warm-up", 1, items.slice(0, 5000));
  const rounds = quick ? 2 : 4;
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? configs : [...configs].reverse();
    for (const config of order) {
      const store = new DynamoDatasetStore(doc, tableName, { concurrency: config.concurrency });
      const t0 = performance.now();
      await store.writeCustomers(TENANT, `w${round}-${config.concurrency}`, 1, items);
      rates[config.label]?.push(items.length / ((performance.now() - t0) / 1000));
    }
  }
  const best = (label: string) => Math.max(...(rates[label] as number[]));
  const base = best(configs[0]?.label as string);
  say();
  say(
    `Batched writes to DynamoDB Local, tables ${storage === "memory" ? "in memory" : "on disk (-dbPath, as npm start runs it)"} (${writeItems} customer items per run, ${rounds} rounds in alternating order, best shown)`,
  );
  say(
    table(
      ["writer", "items/s", "× sequential"],
      configs.map((c) => [c.label, best(c.label).toFixed(0), (best(c.label) / base).toFixed(2)]),
    ),
  );
  figures[`writes-${storage}`] = { items: writeItems, rates };
  dynamo.destroy();
}

// ---- main ------------------------------------------------------------------------------------------------

let built: Built[] = [];
if (only.has("bundles") || only.has("init")) built = await bundles();
else if (only.has("warm") || only.has("profile"))
  built = [await bundle("lookup-api", { path: join(ROOT, "functions", "lookup-api", "handler.ts") }, true)];
if (only.has("init")) await init(values.against ? [...built, await bundleAgainst()] : built);
if (only.has("warm") || only.has("writes") || only.has("profile")) {
  const warmOnDisk = values["warm-storage"] === "disk" && only.has("warm");
  const warmDir = join(outDir, "dynamodb-warm");
  rmSync(warmDir, { recursive: true, force: true });
  const local = await startDynamoDbLocal(warmOnDisk ? { dataDir: warmDir } : {});
  try {
    if (only.has("warm")) await warm(local.endpoint, built);
    if (only.has("profile")) await profile(local.endpoint, built);
    if (only.has("writes")) await writes(local.endpoint, warmOnDisk ? "disk" : "memory");
  } finally {
    await local.stop();
    rmSync(warmDir, { recursive: true, force: true });
  }
}
if (only.has("writes")) {
  // The local service keeps its tables on disk; DynamoDB Local then writes through SQLite.
  const dataDir = join(outDir, "dynamodb-disk");
  rmSync(dataDir, { recursive: true, force: true });
  const local = await startDynamoDbLocal({ dataDir });
  try {
    await writes(local.endpoint, "disk");
  } finally {
    await local.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
figures.loadAverageAtEnd = loadavg()[0];
say();
say(
  `${new Date().toISOString()}: load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}`,
);
writeFileSync(join(outDir, "lookups.json"), `${JSON.stringify(figures, null, 2)}\n`);
say(`figures: ${join(outDir, "lookups.json")}`);
