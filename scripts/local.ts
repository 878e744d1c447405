/**
 * The whole service on this machine: DynamoDB Local and an S3 server, the table and bucket created from the
 * same definitions as the CDK stack, the same handlers behind the same route table, S3 events delivered to
 * the compute function in the shape S3 sends them (with Lambda's asynchronous retries), the refresh on a
 * timer, and the demo dataset loaded on first start. Ctrl-C stops everything it started. Requests need a
 * token of the local issuer (scripts/local/auth.ts), checked as the stack's JWT authorizer checks it; the
 * service prints one with every scope for the default tenant.
 *
 *   npm start [-- --port 3000] [--data-dir .local/data] [--reset] [--demo sample|full | --no-demo]
 *             [--tables disk|memory] [--refresh-every 300]
 *             [--sweep-every 30] [--lease-seconds 90]
 */
import { randomUUID } from "node:crypto";
import { appendFile, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { DeliveryQueue } from "../shared/destinations/ports";
import type { EventPublisher } from "../shared/pipeline/ports";
import { type FunctionName, PREFIXES } from "../shared/resources";
import type { Runtime } from "../shared/runtime";
import { buildWeb } from "../web/build";
import { oneOf, parseCli, reportError, UsageError, wholeNumber } from "./cli";
import { startDynamoDbLocal } from "./emulators/dynamodb-local";
import { allowBrowserUploads, ensureBucket, ensureTable } from "./emulators/resources";
import { S3_SERVER_CREDENTIALS, startS3Server } from "./emulators/s3-server";
import {
  ALL_SCOPES,
  LOCAL_AUDIENCE,
  LOCAL_ISSUER,
  LOCAL_SCOPE_PREFIX,
  localAuthorizer,
  localKeys,
  mintToken,
} from "./local/auth";
import {
  createApiServer,
  type HttpHandler,
  JWKS_PATH,
  type LambdaHandler,
  lambdaContext,
  loadStaticSite,
} from "./local/http-adapter";
import { type TrackedRun, trackProgress } from "./local/progress";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const TABLE = "segmentation-local";
const BUCKET = "segmentation-local";
/**
 * The demo dataset: the CDNOW 1-in-10 sample of the literature by default (it loads in seconds), or with
 * `--demo full` the whole master file, whose 23,570 customers take a few minutes to write with the tables
 * on disk. Both are CDNOW customers who first bought in Q1 1997, followed to the end of June 1998.
 */
const DEMOS = {
  sample: {
    file: join(root, "scripts/local/demo/cdnow-sample-transactions.csv.gz"),
    customers: join(root, "scripts/local/demo/cdnow-sample-customers.csv.gz"),
    label: "the CDNOW sample: 6,919 purchases by 2,357 customers",
    customer: "0001",
  },
  full: {
    file: join(root, "scripts/local/demo/cdnow-transactions.csv.gz"),
    customers: join(root, "scripts/local/demo/cdnow-customers.csv.gz"),
    label: "CDNOW: 69,659 purchases by 23,570 customers",
    customer: "00001",
  },
} as const;
/**
 * The demo's dataset and the settings it is created with: CDNOW's last orders are on 1998-06-30, so the
 * dataset fixes its evaluation date to the day after (without a fixed asOf a run evaluates as of today, and
 * this historical data would be STALE_DATA with every customer lapsed).
 */
const DEMO = { datasetId: "cdnow", settings: { asOf: "1998-07-01" } };

const CLI = {
  name: "start",
  usage: `usage: npm start -- [--port 3000] [--host 127.0.0.1] [--data-dir .local/data] [--reset]
                 [--demo sample|full | --no-demo] [--tables disk|memory] [--refresh-every 300]
  --port           the API's port, 0 for any free one (default 3000, or PORT)
  --host           the address to listen on (default 127.0.0.1)
  --data-dir       where tables, files, keys and events are kept (default .local/data)
  --reset          delete the data directory first (a new signing key: old tokens stop working)
  --demo           the demo dataset cdnow loaded on first start: sample (2,357 customers, default) or
                   full (23,570 customers)
  --no-demo        load no demo dataset
  --tables         disk (default): tables kept in the data directory across restarts; memory: tables in
                   DynamoDB Local's memory, faster to write, gone when the service stops
  --refresh-every  seconds between scheduled refreshes, 0 for none (default 300)
  --sweep-every    seconds between sweeps for abandoned runs and for committed runs whose destinations
                   were not served, 0 for none (default 30)
  --lease-seconds  how long a run's lease on its dataset lasts unrenewed (renewed every third of it), so
                   how soon after a crash the sweeper may close the run and start it again (default 90,
                   as in the stack)
`,
  options: {
    port: { type: "string", default: process.env.PORT ?? "3000" },
    host: { type: "string", default: "127.0.0.1" },
    "data-dir": { type: "string", default: join(root, ".local/data") },
    reset: { type: "boolean", default: false },
    demo: { type: "string", default: "sample" },
    "no-demo": { type: "boolean", default: false },
    tables: { type: "string", default: "disk" },
    "refresh-every": { type: "string", default: "300" },
    "sweep-every": { type: "string", default: "30" },
    "lease-seconds": { type: "string" },
  },
} as const;

/** The command line, checked: a mistake is one line on stderr and exit code 2, --help the usage. */
function parseCommandLine() {
  try {
    const { values } = parseCli(CLI, process.argv.slice(2));
    if (values.help) {
      process.stdout.write(CLI.usage);
      process.exit(0);
    }
    wholeNumber("port", values.port, 0, 65_535);
    wholeNumber("refresh-every", values["refresh-every"], 0, 7 * 86_400);
    wholeNumber("sweep-every", values["sweep-every"], 0, 86_400);
    if (values["lease-seconds"] !== undefined)
      wholeNumber("lease-seconds", values["lease-seconds"], 3, 86_400);
    return {
      ...values,
      demo: oneOf("demo", values.demo, ["sample", "full"] as const),
      tables: oneOf("tables", values.tables, ["disk", "memory"] as const),
    };
  } catch (error) {
    process.exit(reportError(CLI, error));
  }
}
const args = parseCommandLine();

const say = (line: string) => process.stdout.write(`${line}\n`);
/** Lifetime of the token printed at start. */
const PRINTED_TOKEN_TTL_SECONDS = 24 * 3600;

async function main() {
  const dataDir = resolve(args["data-dir"]);
  if (args.reset) await rm(dataDir, { recursive: true, force: true });
  await mkdir(join(dataDir, "dynamodb"), { recursive: true });
  await mkdir(join(dataDir, "s3"), { recursive: true });
  await mkdir(join(dataDir, "dead-letters"), { recursive: true });
  const keys = await localKeys(dataDir);

  say(
    `Starting: DynamoDB Local (tables ${args.tables === "disk" ? "on disk" : "in memory"}) and the S3 server…`,
  );
  const [dynamo, s3] = await Promise.all([
    startDynamoDbLocal(args.tables === "disk" ? { dataDir: join(dataDir, "dynamodb") } : {}),
    startS3Server({ directory: join(dataDir, "s3") }),
  ]);
  const stops = [() => s3.stop(), () => dynamo.stop()];

  Object.assign(process.env, {
    TABLE_NAME: TABLE,
    BUCKET_NAME: BUCKET,
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: S3_SERVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3_SERVER_CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    LOG_LEVEL: process.env.LOG_LEVEL ?? "WARN",
    SCOPE_PREFIX: LOCAL_SCOPE_PREFIX,
    // Webhooks may go to http and loopback receivers here (never in AWS); signing secrets are files of mode
    // 0600 in the data directory. DELIVERY_RETRY_SCHEDULE, when set, is taken from the environment as it is.
    ALLOW_LOOPBACK_WEBHOOKS: "true",
    LOCAL_SECRETS_DIR: join(dataDir, "secrets"),
  });

  const { runtime, runDeps } = await import("../shared/runtime");
  // The runtime's adapters as Lambda has them; the handlers get the local ones built below in their place.
  const aws = runtime();
  // A store and blob store that report how far runs have got.
  const demoLog = demoProgressLog();
  const tracker = trackProgress(aws, demoLog.update);
  await ensureTable(aws.clients.dynamo, TABLE);
  await ensureBucket(aws.clients.s3, BUCKET);

  // The local event bus: every event is appended to events.ndjson; recompute and erasure requests go to the
  // refresh function as EventBridge would deliver them (the rules in the stack match the same detail types).
  const eventLog = join(dataDir, "events.ndjson");
  const { DETAIL_TYPES, EVENT_SOURCE } = await import("../shared/events");
  let deliverToRefresh: (event: unknown) => void = () => undefined;
  let deliverToCompute: (event: unknown) => void = () => undefined;
  const bus: EventPublisher = {
    async publish(events) {
      const now = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
      const envelopes = events.map((e) => ({
        version: "0",
        id: randomUUID(),
        "detail-type": e.detailType,
        source: EVENT_SOURCE,
        account: "000000000000",
        time: now,
        region: "us-east-1",
        resources: [],
        detail: e.detail,
      }));
      await appendFile(eventLog, envelopes.map((e) => `${JSON.stringify(e)}\n`).join(""));
      for (const e of envelopes)
        if (
          e["detail-type"] === DETAIL_TYPES.recomputeRequested ||
          e["detail-type"] === DETAIL_TYPES.erasureRequested
        )
          deliverToRefresh(e);
        else if (e["detail-type"] === DETAIL_TYPES.runRedelivery) {
          // The stack's rules: an abandoned upload's redelivery goes to compute, a refresh's or erasure's to refresh.
          const kind = (e.detail as { redelivery?: { kind?: string } }).redelivery?.kind;
          (kind === "upload" ? deliverToCompute : deliverToRefresh)(e);
        }
    },
  };

  // Webhook deliveries in this process, as the stack's queue and schedule drive them: a wake-up runs the
  // worker for its destination at once, and a timer every 2 s sends the retries that have come due.
  const { deliverDestination, sweepDeliveries } = await import("../shared/destinations/deliver");
  const { deliveryDeps } = await import("../functions/deliver/core");
  const deliveryFailed = (error: unknown) => say(`! webhook delivery pass failed (${(error as Error).name})`);
  const deliveryQueue: DeliveryQueue = {
    async notify(ref) {
      void deliverDestination(deliveries, ref, Date.now()).catch(deliveryFailed);
    },
  };
  /** What every handler here works with: the runtime's adapters with the local ones in their place. */
  const rt: Runtime = {
    ...aws,
    store: tracker.store,
    blobs: tracker.blobs,
    events: bus,
    deliveryQueue,
    ...(args["lease-seconds"] !== undefined && { leaseMs: Number(args["lease-seconds"]) * 1000 }),
  };
  const deliveries = deliveryDeps(rt);
  let sweepingDeliveries = false;
  const deliveryTimer = setInterval(() => {
    if (sweepingDeliveries) return;
    sweepingDeliveries = true;
    sweepDeliveries(deliveries, Date.now())
      .catch(deliveryFailed)
      .finally(() => {
        sweepingDeliveries = false;
      });
  }, 2_000);

  // Uploads past the sharding threshold run through the state machine's steps in this process.
  const { shardedSteps } = await import("../shared/pipeline/sharded");
  const { LocalShardedRuns } = await import("../shared/pipeline/sharded-local");
  const sharded = new LocalShardedRuns(shardedSteps(runDeps(rt)), {
    thresholdBytes: rt.config.SHARD_THRESHOLD_BYTES,
  });

  // Each function's handler built by its factory on these dependencies, as its Lambda entry builds it on the
  // runtime's.
  const { createReadApiHandler } = await import("../functions/read-api/core");
  const { createWriteApiHandler } = await import("../functions/write-api/core");
  const { createComputeHandler } = await import("../functions/compute/core");
  const { createRefreshHandler } = await import("../functions/refresh/core");
  const { createSweeperHandler } = await import("../functions/sweeper/core");
  const readApi = createReadApiHandler(rt) as unknown as HttpHandler;
  const writeApi = createWriteApiHandler(rt) as unknown as HttpHandler;
  // The lookup function wires itself from the environment (aws-lite, not the runtime's SDK clients).
  const lookupApi = (await import("../functions/lookup-api/handler")).handler as unknown as HttpHandler;
  const compute = createComputeHandler({ ...rt, sharded }).handler as unknown as LambdaHandler<
    unknown,
    unknown
  >;
  const refresh = createRefreshHandler({ ...rt, sharded }).handler as unknown as LambdaHandler<
    unknown,
    unknown
  >;
  const sweeper = createSweeperHandler(rt).handler as unknown as LambdaHandler<unknown, unknown>;

  /**
   * Lambda's asynchronous invoke: two retries after a failure, one and two minutes later as in Lambda, then
   * the dead-letter folder.
   */
  const invokeAsync = (name: FunctionName, fn: LambdaHandler<unknown, unknown>, event: unknown) => {
    const delays = [60_000, 120_000];
    const attempt = async (n: number): Promise<void> => {
      try {
        await fn(event, lambdaContext(name));
      } catch (error) {
        const delay = delays[n];
        if (delay !== undefined) {
          setTimeout(() => void attempt(n + 1), delay);
          return;
        }
        const file = join(dataDir, "dead-letters", `${Date.now()}-${name}.json`);
        await writeFile(
          file,
          JSON.stringify({ function: name, event, error: (error as Error).name }, null, 2),
        );
        say(`! ${name} failed three times; the event is in ${file}`);
      }
    };
    void attempt(0);
  };

  deliverToRefresh = (event) => invokeAsync("refresh", refresh, event);
  deliverToCompute = (event) => invokeAsync("compute", compute, event);
  // The same filter as the stack's bucket notification: only uploads/ triggers a run.
  s3.onObjectCreated((event) => invokeAsync("compute", compute, event), {
    bucket: BUCKET,
    prefix: PREFIXES.uploads,
  });

  // The dashboard, built afresh at every start and served on the API's own origin.
  const webDir = join(dataDir, "web");
  say("Starting: the dashboard…");
  await buildWeb(webDir);
  const site = await loadStaticSite(webDir, { apiUrl: "" }, [s3.endpoint]);
  const server = createApiServer(
    { readApi, writeApi, lookupApi },
    { authorizer: localAuthorizer(keys), site },
  );
  await new Promise<void>((ok, fail) => {
    server.once("error", (error: NodeJS.ErrnoException) =>
      fail(
        error.code === "EADDRINUSE" || error.code === "EACCES"
          ? new UsageError(`cannot listen on ${args.host}:${args.port} (${error.code}); --port picks another`)
          : error,
      ),
    );
    server.listen(Number(args.port), args.host, ok);
  });
  const { port } = server.address() as AddressInfo;
  const api = `http://${args.host}:${port}`;
  // The dashboard on this origin posts uploads straight to the S3 server.
  await allowBrowserUploads(rt.clients.s3, BUCKET, [api, `http://localhost:${port}`]);
  stops.unshift(() => new Promise<void>((ok) => server.close(() => ok())));

  const refreshEvery = Number(args["refresh-every"]) * 1000;
  const timer =
    refreshEvery > 0
      ? setInterval(() => {
          const now = new Date();
          invokeAsync("refresh", refresh, {
            version: "0",
            id: randomUUID(),
            "detail-type": "Scheduled Event",
            source: "aws.events",
            account: "000000000000",
            time: now.toISOString().replace(/\.\d{3}Z$/, "Z"),
            region: "us-east-1",
            resources: [],
            detail: {},
          });
        }, refreshEvery)
      : undefined;

  // The sweeper on a timer, as the stack's schedule runs it: runs whose process died (a kill -9 of this
  // service mid-run, say) are closed once their lease lapses and their work is started again.
  const sweepEvery = Number(args["sweep-every"]) * 1000;
  const sweepTimer =
    sweepEvery > 0
      ? setInterval(() => {
          invokeAsync("sweeper", sweeper, {
            version: "0",
            id: randomUUID(),
            "detail-type": "Scheduled Event",
            source: "aws.events",
            account: "000000000000",
            time: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
            region: "us-east-1",
            resources: [],
            detail: {},
          });
        }, sweepEvery)
      : undefined;

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    if (timer) clearInterval(timer);
    if (sweepTimer) clearInterval(sweepTimer);
    clearInterval(deliveryTimer);
    for (const s of stops) await s().catch(() => undefined);
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);

  say(`API:      ${api}`);
  say(`Dashboard: ${api}/ (sign in with the token below)`);
  say(`S3:       ${s3.endpoint} (bucket ${BUCKET})`);
  say(`DynamoDB: ${dynamo.endpoint} (table ${TABLE})`);
  say(`Data:     ${dataDir}`);
  say(`Events:   ${eventLog}`);
  say(`Tokens:   issuer ${LOCAL_ISSUER}, audience ${LOCAL_AUDIENCE}, keys at ${api}${JWKS_PATH}`);

  const tenant = rt.config.DEFAULT_TENANT;
  const token = await mintToken(keys, {
    tenant,
    scopes: ALL_SCOPES,
    ttlSeconds: PRINTED_TOKEN_TTL_SECONDS,
  });
  const auth = `-H "authorization: Bearer $TOKEN"`;
  const demo = DEMOS[args.demo];
  say("");
  say(
    `Try (a token for tenant ${tenant} with every scope, valid 24 hours; npm run -s token -- --help for others):`,
  );
  say(`  export TOKEN=${token}`);
  say(`  curl -s ${api}/health`);
  say(`  curl -s ${auth} ${api}/datasets/${DEMO.datasetId}/segments`);
  say(`  curl -s ${auth} ${api}/datasets/${DEMO.datasetId}/customers/${demo.customer}`);
  say(`  curl -s ${auth} '${api}/datasets/${DEMO.datasetId}/segments/rfm:champions/members?limit=5'`);
  say(`  curl -s ${auth} ${api}/datasets/${DEMO.datasetId}/runs`);
  say("Upload a file of your own:");
  say(`  npm run upload -- --api ${api} --token "$TOKEN" --dataset mydata path/to/transactions.csv`);
  say("Ready. Ctrl-C stops the service.");
  if (!args["no-demo"]) {
    // In the background: the API serves meanwhile, and a demo that is slow or fails never stops the service.
    void loadDemo(api, rt, token, demo, demoLog).catch((error: unknown) => {
      say(`Demo:     failed: ${(error as Error).message}`);
      say("Demo:     the service runs on; npm start -- --reset starts afresh with a new demo.");
    });
  }
  stops.unshift(async () => tracker.stop());
}

/** Progress of the demo's run in the log: each phase, and every tenth of the work or 5 s of writing. */
function demoProgressLog() {
  // The demo's dataset is followed from before its file is posted, so the first phases are not missed while
  // the run's id is not yet known; a new run of the same dataset (a redelivered one) starts the log afresh.
  let followed: { tenantId: string; datasetId: string } | undefined;
  let runId: string | undefined;
  let last = { phase: "", percent: -100, at: 0 };
  const thousands = (n: number | undefined) => (n ?? 0).toLocaleString("en-US");
  return {
    follow(tenantId: string, datasetId: string) {
      followed = { tenantId, datasetId };
    },
    update(run: TrackedRun) {
      if (run.tenantId !== followed?.tenantId || run.datasetId !== followed.datasetId) return;
      if (run.runId !== runId) {
        runId = run.runId;
        last = { phase: "", percent: -100, at: 0 };
      }
      const { progress: p } = run;
      const now = Date.now();
      const due =
        p.phase !== last.phase ||
        p.percent - last.percent >= 10 ||
        (now - last.at >= 5_000 && p.percent > last.percent);
      if (!due) return;
      last = { phase: p.phase, percent: p.percent, at: now };
      const percent = `${Math.floor(p.percent)}%`;
      if (p.phase === "reading")
        say(`Demo:     ${percent} reading the file (${thousands(p.bytesRead)} bytes)`);
      else if (p.phase === "computing") say(`Demo:     ${percent} computing the segments`);
      else if (p.customersTotal === undefined) say(`Demo:     ${percent} writing`);
      else
        say(
          `Demo:     ${percent} writing: ${thousands(p.customersWritten)} of ${thousands(p.customersTotal ?? 0)} customers`,
        );
    },
  };
}

/**
 * Loads the demo through the real upload flow (a presigned POST of the file, the S3 event, the compute
 * function) unless it is loaded already, and follows its run in the store: no deadline, since a slow machine
 * only makes it slower; the log shows its progress and how it ended.
 */
async function loadDemo(
  api: string,
  rt: Runtime,
  token: string,
  demo: (typeof DEMOS)[keyof typeof DEMOS],
  log: ReturnType<typeof demoProgressLog>,
) {
  const tenant = rt.config.DEFAULT_TENANT;
  const meta = await rt.store.getDataset(tenant, DEMO.datasetId);
  if (meta?.current) {
    say(`Demo:     dataset ${DEMO.datasetId} already loaded (version ${meta.current.version})`);
    return;
  }
  await rt.store.ensureDataset(tenant, DEMO.datasetId, DEMO.settings);
  const { postFile, requestUpload } = await import("./local/upload");
  say(`Demo:     loading ${DEMO.datasetId} (${demo.label})…`);
  const fileName = basename(demo.file);
  log.follow(tenant, DEMO.datasetId);
  const { uploadId, url, fields } = await requestUpload(api, DEMO.datasetId, fileName, {
    token,
    mode: "replace",
  });
  await postFile(url, fields, await readFile(demo.file), fileName);
  /** The upload's run once it has ended. */
  const ended = async (id: string) => {
    for (;;) {
      await new Promise((ok) => setTimeout(ok, 500));
      // A failed read (the machine busy, the table slow to answer) is tried again at the next turn.
      const page = await rt.store.listRuns(tenant, DEMO.datasetId, 20).catch(() => undefined);
      const found = page?.items.find((r) => r.uploadId === id);
      // An abandoned run's work is started again as a new run of the same upload, which the next turn finds.
      if (found && found.status !== "running" && (found.status as string) !== "abandoned") return found;
    }
  };
  const run = await ended(uploadId);
  if (run.status === "succeeded") {
    // The demo's customer attributes (generated, scripts/local/demo/customers.ts), for segment profiles.
    const name = basename(demo.customers);
    const attributes = await requestUpload(api, DEMO.datasetId, name, {
      token,
      mode: "replace",
      kind: "customers",
    });
    await postFile(attributes.url, attributes.fields, await readFile(demo.customers), name);
    const attributed = await ended(attributes.uploadId);
    if (attributed.status !== "succeeded") {
      say(`Demo:     customer attributes not loaded: run ${attributed.runId} ${attributed.status}`);
    }
  }
  if (run.status === "succeeded") {
    say(
      `Demo:     ready: ${(run.counts?.customers ?? 0).toLocaleString("en-US")} customers, ${(run.counts?.rowsRead ?? 0).toLocaleString("en-US")} rows read, run ${run.runId}, ${Math.round(process.uptime())} s after start`,
    );
  } else {
    say(
      `Demo:     failed: run ${run.runId} ${run.status}${run.error ? `: ${run.error.code} ${run.error.message}` : ""}`,
    );
    say("Demo:     the service runs on; npm start -- --reset starts afresh with a new demo.");
  }
}

main().catch((error: unknown) => {
  process.exit(reportError(CLI, error));
});
