/**
 * The metrics the functions write (shared/metrics.ts), read from their standard output as CloudWatch would
 * read the embedded metric format: the compute function as Lambda loads it (configured from the environment,
 * aimed at DynamoDB Local and the S3 server, AWS_LAMBDA_FUNCTION_NAME set) runs two uploads holding a canary
 * customer id and canary attribute values. Its EMF lines count the runs by outcome and trigger, time the
 * stages the run records time, count the rows, customers and items by hand-worked figures, and carry neither
 * canary, nor the tenant, dataset or file name, in any dimension or anywhere else (reliability property 11).
 * Only dimension names of the closed set appear. The deliver and sweeper recorders are checked on the same
 * output; outside Lambda nothing is written.
 */
import { PutObjectCommand } from "@aws-sdk/client-s3";
import type { Context } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { S3_SERVER_CREDENTIALS } from "../../scripts/emulators/s3-server";
import type * as MetricsModule from "../../shared/metrics";
import type { RunRecord, UploadRecord } from "../../shared/model";
import type { UploadEvent } from "../../shared/pipeline/run";
import type { ShardedSteps } from "../../shared/pipeline/sharded";
import type { ByteRange, PlanResult } from "../../shared/pipeline/sharded-contract";
import type { Runtime } from "../../shared/runtime";
import { createTestBucket, createTestTable, testClients } from "../support/aws";

const ID_CANARY = "CANARY-ID-m3tr";
const PII_CANARY = "CANARY-PII-m3tr";
const TENANT = "tenant-m3tr";
const DATASET = "dataset-m3tr";
const NAMESPACE = "Segmentation/metrics-test";
const FUNCTION_NAME = "segmentation-test-compute";

/**
 * Six data rows; row 5 (month 13) and row 6 (no customer id) are rejected. Accepted: the canary customer
 * (2 orders), C02 (1), C03 (1): three customers, all new, so all three are written.
 */
const TRANSACTIONS = [
  "customer_id,order_id,order_date,amount,channel",
  `${ID_CANARY},O1,2025-06-01,100.00,${PII_CANARY}`,
  `${ID_CANARY},O2,2025-07-01,40.00,web`,
  "C02,O3,2025-06-15,25.50,app",
  "C03,O4,2025-05-01,12.00,web",
  "C03,O5,2025-13-01,9.00,web",
  `,O6,2025-06-02,10.00,${PII_CANARY}`,
  "",
].join("\n");

/** Three data rows, none rejected; the canary's attributes hold the PII canary. */
const CUSTOMERS = [
  "customer_id,country,email",
  `${ID_CANARY},${PII_CANARY},ada.${PII_CANARY}@example.com`,
  "C02,FR,bob@example.com",
  "C03,DE,cy@example.com",
  "",
].join("\n");

interface Emf {
  _aws: {
    Timestamp: number;
    CloudWatchMetrics: Array<{
      Namespace: string;
      Dimensions: string[][];
      Metrics: Array<{ Name: string; Unit: string }>;
    }>;
  };
  [key: string]: unknown;
}

const written: string[] = [];
let m: typeof MetricsModule;
let rt: Runtime;
let handler: (event: unknown, context: Context) => Promise<unknown>;
let sequence = 0;

/** Every line written to stdout since `from` that is an EMF blob. */
function emfSince(from: number): { raw: string[]; blobs: Emf[] } {
  const raw = written
    .slice(from)
    .flatMap((chunk) => chunk.split("\n"))
    .filter((line) => line.includes('"_aws"'));
  return { raw, blobs: raw.map((line) => JSON.parse(line) as Emf) };
}

/** The blobs holding metric `name`, with their value and the dimensions of each set. */
function find(blobs: Emf[], name: string) {
  return blobs
    .filter((b) => b._aws.CloudWatchMetrics[0]?.Metrics.some((x) => x.Name === name))
    .map((b) => ({
      value: b[name],
      sets: (b._aws.CloudWatchMetrics[0]?.Dimensions ?? []).map((set) =>
        Object.fromEntries(set.map((d) => [d, b[d]])),
      ),
    }));
}

async function stage(kind: UploadRecord["kind"], fileName: string, body: string, datasetId = DATASET) {
  const uploadId = `u${++sequence}`;
  const key = `uploads/${TENANT}/${datasetId}/${uploadId}/${fileName}`;
  await rt.store.ensureDataset(TENANT, datasetId);
  await rt.store.putUpload({
    tenantId: TENANT,
    datasetId,
    uploadId,
    kind,
    mode: "append",
    format: "csv",
    compression: "auto",
    fileName,
    key,
    createdAt: new Date(Date.now() + sequence).toISOString(),
  });
  await rt.clients.s3.send(new PutObjectCommand({ Bucket: rt.config.BUCKET_NAME, Key: key, Body: body }));
  const sequencer = `00000000000000${String(sequence).padStart(4, "0")}`;
  const upload: UploadEvent = {
    tenantId: TENANT,
    datasetId,
    uploadId,
    key,
    sequencer,
    eventTime: new Date().toISOString(),
    size: body.length,
  };
  return {
    upload,
    Records: [
      {
        eventName: "ObjectCreated:Post",
        eventTime: new Date().toISOString(),
        s3: {
          bucket: { name: rt.config.BUCKET_NAME },
          object: { key, size: body.length, sequencer },
        },
      },
    ],
  };
}

const context = {
  functionName: FUNCTION_NAME,
  getRemainingTimeInMillis: () => 600_000,
} as unknown as Context;

async function latestRun(): Promise<RunRecord> {
  const runs = await rt.store.listRunsSince(TENANT, DATASET, "");
  const run = runs.sort((a, b) => a.startedAt.localeCompare(b.startedAt)).at(-1);
  if (!run) throw new Error("no run recorded");
  return run;
}

beforeAll(async () => {
  const clients = testClients();
  const table = await createTestTable(clients.dynamo);
  const bucket = await createTestBucket(clients.s3);
  // The environment the stack gives the function, aimed at the local servers, as Lambda would run it.
  Object.assign(process.env, {
    TABLE_NAME: table,
    BUCKET_NAME: bucket,
    AWS_REGION: "us-east-1",
    AWS_ENDPOINT_URL_DYNAMODB: clients.endpoints.dynamodb,
    AWS_ENDPOINT_URL_S3: clients.endpoints.s3,
    AWS_ACCESS_KEY_ID: S3_SERVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3_SERVER_CREDENTIALS.secretAccessKey,
    AWS_LAMBDA_FUNCTION_NAME: FUNCTION_NAME,
    AWS_LAMBDA_INITIALIZATION_TYPE: "on-demand",
    POWERTOOLS_METRICS_NAMESPACE: NAMESPACE,
    POWERTOOLS_SERVICE_NAME: "segmentation",
    // The logs at their most talkative: whatever they carry, the EMF lines are judged on their own.
    LOG_LEVEL: "DEBUG",
  });
  vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    written.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
    return true;
  });
  m = await import("../../shared/metrics");
  handler = (await import("../../functions/compute/handler")).handler as unknown as typeof handler;
  rt = (await import("../../shared/runtime")).runtime();
});
afterAll(() => {
  vi.restoreAllMocks();
});

describe("the compute function's metrics", () => {
  let transactions: { raw: string[]; blobs: Emf[] };
  let customers: { raw: string[]; blobs: Emf[] };
  let firstRun: RunRecord;

  beforeAll(async () => {
    let from = written.length;
    await handler(await stage("transactions", `${PII_CANARY}.csv`, TRANSACTIONS), context);
    transactions = emfSince(from);
    firstRun = await latestRun();
    from = written.length;
    await handler(await stage("customers", "customers.csv", CUSTOMERS), context);
    customers = emfSince(from);
  });

  it("counts the run by outcome, with and without its trigger", () => {
    expect(firstRun.status).toBe("succeeded");
    expect(find(transactions.blobs, m.METRICS.runs.name)).toEqual([
      { value: 1, sets: [{ service: "segmentation", outcome: "succeeded" }] },
      { value: 1, sets: [{ service: "segmentation", outcome: "succeeded", trigger: "upload" }] },
    ]);
    expect(find(customers.blobs, m.METRICS.runs.name).map((r) => r.value)).toEqual([1, 1]);
  });

  it("counts rows read and rejected, and customers written, as worked out by hand", () => {
    const value = (name: string) => find(transactions.blobs, name).map((r) => r.value);
    expect(value(m.METRICS.rowsRead.name)).toEqual([6]);
    expect(value(m.METRICS.rowsRejected.name)).toEqual([2]);
    expect(value(m.METRICS.customersWritten.name)).toEqual([3]);
    const [rows] = find(transactions.blobs, m.METRICS.rowsRead.name);
    expect(rows?.sets).toEqual([{ service: "segmentation" }, { service: "segmentation", trigger: "upload" }]);
    expect(find(customers.blobs, m.METRICS.rowsRead.name).map((r) => r.value)).toEqual([3]);
    expect(find(customers.blobs, m.METRICS.rowsRejected.name).map((r) => r.value)).toEqual([0]);
  });

  it("counts items written as the customer items the run wrote, their history inside them", async () => {
    const c = firstRun.counts ?? {};
    expect(c.customersWritten).toBe(3);
    // Every customer has a first history entry, in the item written for them: no item of its own.
    expect(c.historyWritten).toBe(3);
    expect(c.membershipsWritten ?? 0).toBe(0);
    expect(find(transactions.blobs, m.METRICS.itemsWritten.name).map((r) => r.value)).toEqual([3]);
  });

  it("times the four stages from the run record", () => {
    const t = firstRun.timingsMs ?? {};
    const durations = find(transactions.blobs, m.METRICS.runDuration.name).map((r) => [
      r.sets[0]?.stage,
      r.value,
    ]);
    expect(Object.fromEntries(durations)).toEqual({
      read: (t.loadMs ?? 0) + (t.readMs ?? 0),
      compute: t.computeMs,
      write: t.writeMs,
      total: t.totalMs,
    });
    expect(durations).toHaveLength(4);
    for (const [, ms] of durations) expect(typeof ms).toBe("number");
  });

  it("writes the cold start once, named by the function", () => {
    const all = [...transactions.blobs, ...customers.blobs];
    expect(find(all, m.METRICS.coldStart.name)).toEqual([
      { value: 1, sets: [{ service: "segmentation", function_name: FUNCTION_NAME }] },
    ]);
  });

  it("writes no customer id, attribute, tenant, dataset or file name, and only dimensions of the closed set", () => {
    const raw = [...transactions.raw, ...customers.raw];
    // Runs (2 lines), the four stages, the volumes, and the cold start once; the customers run times what it did.
    expect(transactions.raw.length).toBe(2 + 4 + 1 + 1);
    expect(customers.raw.length).toBeGreaterThanOrEqual(2 + 1);
    for (const line of raw) {
      for (const canary of [ID_CANARY, PII_CANARY, TENANT, DATASET, "customers.csv", "@example.com"])
        expect(line).not.toContain(canary);
    }
    const allowed = new Set<string>(Object.values(m.DIMENSIONS));
    const names = new Set<string>(Object.values(m.METRICS).map((s) => s.name));
    for (const blob of [...transactions.blobs, ...customers.blobs]) {
      const cw = blob._aws.CloudWatchMetrics[0];
      expect(cw?.Namespace).toBe(NAMESPACE);
      for (const set of cw?.Dimensions ?? []) for (const d of set) expect(allowed).toContain(d);
      for (const metric of cw?.Metrics ?? []) expect(names).toContain(metric.Name);
      // The blob holds its namespace, dimensions and metric values, and nothing else.
      const keys = Object.keys(blob).filter((k) => k !== "_aws");
      const expected = new Set([...(cw?.Dimensions.flat() ?? []), ...(cw?.Metrics.map((x) => x.Name) ?? [])]);
      expect(new Set(keys)).toEqual(expected);
    }
  });

  it("stored the canary customer (the canaries reached the run)", async () => {
    const { view } = await rt.store.getCustomer(TENANT, DATASET, ID_CANARY);
    expect(view).toBeDefined();
    expect(written.join("")).toContain('"_aws"');
  });
});

describe("a sharded run's metrics", () => {
  it("are written once, by the shard function's commit step, with the same counts", async () => {
    // Imported here, as the handlers are, once the environment is set.
    const shard = (await import("../../functions/shard/handler")).handler as unknown as typeof handler;
    const { runUpload } = await import("../../shared/pipeline/run");
    const { LocalShardedRuns } = await import("../../shared/pipeline/sharded-local");
    const { runDeps } = await import("../../shared/runtime");
    const call = (step: unknown) => shard(step, context);
    // The state machine's course (shared/pipeline/sharded-local.ts), each step sent to the shard function.
    let ranges: ByteRange[] = [];
    const steps = {
      plan: async (upload: unknown) => {
        const plan = (await call({ action: "plan", upload })) as PlanResult;
        if (plan.proceed) ranges = plan.ranges;
        return plan;
      },
      partition: (run: unknown, index: number) =>
        call({ action: "partition", run, range: ranges.find((r) => r.index === index) }),
      aggregate: (run: unknown, bucket: number) => call({ action: "aggregate", run, bucket }),
      merge: (run: unknown) => call({ action: "merge", run }),
      write: (run: unknown, slice: number) => call({ action: "write", run, slice }),
      commit: (run: unknown) => call({ action: "commit", run }),
      fail: (input: unknown) => call({ action: "fail", input }),
    } as unknown as ShardedSteps;
    const sharded = new LocalShardedRuns(steps, { thresholdBytes: 1, retryDelayMs: 10 });
    const from = written.length;
    const { upload } = await stage("transactions", "t.csv", TRANSACTIONS, `${DATASET}-sharded`);
    expect((await runUpload({ ...runDeps(rt), sharded }, upload)).outcome).toBe("sharded");
    await sharded.settled();
    const { blobs } = emfSince(from);
    expect(find(blobs, m.METRICS.runs.name).map((r) => r.sets.at(-1))).toEqual([
      { service: "segmentation", outcome: "succeeded" },
      { service: "segmentation", outcome: "succeeded", trigger: "upload" },
    ]);
    const value = (name: string) => find(blobs, name).map((r) => r.value);
    expect(value(m.METRICS.rowsRead.name)).toEqual([6]);
    expect(value(m.METRICS.rowsRejected.name)).toEqual([2]);
    expect(value(m.METRICS.customersWritten.name)).toEqual([3]);
    expect(find(blobs, m.METRICS.runDuration.name).map((r) => r.sets[0]?.stage)).toContain("total");
    for (const line of emfSince(from).raw) {
      for (const canary of [ID_CANARY, PII_CANARY, TENANT, DATASET]) expect(line).not.toContain(canary);
    }
  });
});

describe("the deliver and sweeper recorders", () => {
  it("count deliveries by outcome: a failed last attempt is also a disabled destination", () => {
    const from = written.length;
    m.recordDeliveries({ delivered: 2, retried: 1, failed: 1 });
    m.recordDeliveries({ delivered: 0, retried: 0, failed: 0 });
    const rows = find(emfSince(from).blobs, m.METRICS.deliveries.name).map((r) => [
      r.sets[0]?.outcome,
      r.value,
    ]);
    expect(rows).toEqual([
      ["delivered", 2],
      ["failed_attempt", 2],
      ["destination_disabled", 1],
    ]);
  });

  it("count abandoned runs by outcome only", () => {
    const from = written.length;
    m.recordAbandoned(3);
    m.recordAbandoned(0);
    expect(find(emfSince(from).blobs, m.METRICS.runs.name)).toEqual([
      { value: 3, sets: [{ service: "segmentation", outcome: "abandoned" }] },
    ]);
  });
});

describe("where metrics are written", () => {
  it("in Lambda, or where POWERTOOLS_METRICS_DISABLED says so; never in the local service", () => {
    expect(m.metricsEnabled({ AWS_LAMBDA_FUNCTION_NAME: "f" })).toBe(true);
    expect(m.metricsEnabled({ AWS_LAMBDA_FUNCTION_NAME: "f", POWERTOOLS_METRICS_DISABLED: "true" })).toBe(
      false,
    );
    expect(m.metricsEnabled({ POWERTOOLS_METRICS_DISABLED: "false" })).toBe(true);
    // The local service and the CLI: no Lambda, nothing asked for.
    expect(m.metricsEnabled({ TABLE_NAME: "t", LOG_LEVEL: "WARN" })).toBe(false);
  });

  it("outside Lambda, a run and a delivery pass write no line at all", async () => {
    const lambda = process.env.AWS_LAMBDA_FUNCTION_NAME;
    delete process.env.AWS_LAMBDA_FUNCTION_NAME;
    vi.resetModules();
    try {
      const local = await import("../../shared/metrics");
      const from = written.length;
      local.recordRun({
        trigger: "upload",
        status: "succeeded",
        counts: { rowsRead: 6, rowsRejected: 2, customersWritten: 3 },
        timingsMs: { readMs: 1, computeMs: 2, writeMs: 3, totalMs: 7 },
      });
      local.recordDeliveries({ delivered: 1, retried: 1, failed: 1 });
      local.recordAbandoned(1);
      local.metricsMiddleware().before({ context: { functionName: "local" } });
      expect(written.slice(from).join("")).toBe("");
      // The same calls in Lambda do write (the control).
      m.recordAbandoned(1);
      expect(emfSince(from).blobs).toHaveLength(1);
    } finally {
      process.env.AWS_LAMBDA_FUNCTION_NAME = lambda;
    }
  });
});
