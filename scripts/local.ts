/**
 * The whole service on this machine: DynamoDB Local and an S3 server, the table and bucket created from the
 * same definitions as the CDK stack, the same handlers behind the same route table, S3 events delivered to
 * the compute function in the shape S3 sends them (with Lambda's asynchronous retries), the refresh on a
 * timer, and the demo dataset loaded on first start. Ctrl-C stops everything it started. Requests need a
 * token of the local issuer (scripts/local/auth.ts), checked as the stack's JWT authorizer checks it; the
 * service prints one with every scope for the default tenant.
 *
 *   npm start [-- --port 3000] [--data-dir .local/data] [--reset] [--no-demo] [--refresh-every 300]
 */
import { randomUUID } from "node:crypto";
import { appendFile, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { type FunctionName, PREFIXES } from "../shared/resources";
import { buildWeb } from "../web/build";
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

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const TABLE = "segmentation-local";
const BUCKET = "segmentation-local";
const DEMO = {
  datasetId: "cdnow",
  asOf: "1998-07-01",
  file: join(root, "scripts/local/demo/cdnow-transactions.csv.gz"),
};

const { values: args } = parseArgs({
  options: {
    port: { type: "string", default: process.env.PORT ?? "3000" },
    host: { type: "string", default: "127.0.0.1" },
    "data-dir": { type: "string", default: join(root, ".local/data") },
    reset: { type: "boolean", default: false },
    "no-demo": { type: "boolean", default: false },
    "refresh-every": { type: "string", default: "300" },
  },
});

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

  const [dynamo, s3] = await Promise.all([
    startDynamoDbLocal({ dataDir: join(dataDir, "dynamodb") }),
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
  });

  const { runtime } = await import("../shared/runtime");
  const rt = runtime();
  await ensureTable(rt.clients.dynamo, TABLE);
  await ensureBucket(rt.clients.s3, BUCKET);

  // The local event bus: every event is appended to events.ndjson; recompute and erasure requests go to the
  // refresh function as EventBridge would deliver them (the rules in the stack match the same detail types).
  const eventLog = join(dataDir, "events.ndjson");
  const { DETAIL_TYPES, EVENT_SOURCE } = await import("../shared/events");
  let deliverToRefresh: (event: unknown) => void = () => undefined;
  rt.events = {
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
    },
  };

  // Uploads past the sharding threshold run through the state machine's steps in this process.
  const { shardedSteps } = await import("../shared/pipeline/sharded");
  const { LocalShardedRuns } = await import("../shared/pipeline/sharded-local");
  rt.sharded = new LocalShardedRuns(shardedSteps({ store: rt.store, blobs: rt.blobs, events: rt.events }), {
    thresholdBytes: rt.config.SHARD_THRESHOLD_BYTES,
  });

  const readApi = (await import("../functions/read-api/handler")).handler as unknown as HttpHandler;
  const writeApi = (await import("../functions/write-api/handler")).handler as unknown as HttpHandler;
  const lookupApi = (await import("../functions/lookup-api/handler")).handler as unknown as HttpHandler;
  const compute = (await import("../functions/compute/handler")).handler as unknown as LambdaHandler<
    unknown,
    unknown
  >;
  const refresh = (await import("../functions/refresh/handler")).handler as unknown as LambdaHandler<
    unknown,
    unknown
  >;

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
  // The same filter as the stack's bucket notification: only uploads/ triggers a run.
  s3.onObjectCreated((event) => invokeAsync("compute", compute, event), {
    bucket: BUCKET,
    prefix: PREFIXES.uploads,
  });

  // The dashboard, built afresh at every start and served on the API's own origin.
  const webDir = join(dataDir, "web");
  await buildWeb(webDir);
  const site = await loadStaticSite(webDir, { apiUrl: "" }, [s3.endpoint]);
  const server = createApiServer(
    { readApi, writeApi, lookupApi },
    { authorizer: localAuthorizer(keys), site },
  );
  await new Promise<void>((ok) => server.listen(Number(args.port), args.host, ok));
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

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    if (timer) clearInterval(timer);
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
  if (!args["no-demo"]) await loadDemo(api, rt, token);
  const auth = `-H "authorization: Bearer $TOKEN"`;
  say("");
  say(
    `Try (a token for tenant ${tenant} with every scope, valid 24 hours; npm run -s token -- --help for others):`,
  );
  say(`  export TOKEN=${token}`);
  say(`  curl -s ${api}/health`);
  say(`  curl -s ${auth} ${api}/datasets/${DEMO.datasetId}/segments`);
  say(`  curl -s ${auth} ${api}/datasets/${DEMO.datasetId}/customers/00001`);
  say(`  curl -s ${auth} '${api}/datasets/${DEMO.datasetId}/segments/rfm:champions/members?limit=5'`);
  say(`  curl -s ${auth} ${api}/datasets/${DEMO.datasetId}/runs`);
  say("Upload a file of your own:");
  say(`  npm run upload -- --api ${api} --token "$TOKEN" --dataset mydata path/to/transactions.csv`);
  say("Ready. Ctrl-C stops the service.");
}

async function loadDemo(api: string, rt: import("../shared/runtime").Runtime, token: string) {
  const meta = await rt.store.getDataset(rt.config.DEFAULT_TENANT, DEMO.datasetId);
  if (meta?.current) {
    say(`Demo:     dataset ${DEMO.datasetId} already loaded (version ${meta.current.version})`);
    return;
  }
  await rt.store.ensureDataset(rt.config.DEFAULT_TENANT, DEMO.datasetId, { asOf: DEMO.asOf });
  const { uploadFile } = await import("./local/upload");
  say(`Demo:     loading ${DEMO.datasetId} (CDNOW, 69,659 purchases)…`);
  const run = await uploadFile(api, DEMO.datasetId, DEMO.file, await readFile(DEMO.file), {
    waitMs: 600_000,
    token,
  });
  say(`Demo:     ${run.status}: ${run.counts?.customers ?? 0} customers, run ${run.runId}`);
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
