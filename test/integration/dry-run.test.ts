/**
 * Dry runs on DynamoDB Local and the S3 server (shared/api/dry-run.ts): a rule on clv, probability_alive,
 * expected_purchases or cluster answers what evaluating it over the customers' stored views gives (the
 * views the committed run wrote; thresholds fall between stored values, so rounding cannot move a customer),
 * with the run's model values, not a refit; concurrent dry runs share one load of the version; a dry run
 * that cannot finish in its budget answers 503 DRY_RUN_TIMEOUT; a version without stored model values
 * answers 409 DRY_RUN_UNAVAILABLE for model fields only; an attribute named `constructor` is a plain name.
 *
 * The data: 240 simulated customers (a fixed LCG) with 1 to 9 orders each within an active period of their
 * own in two years, so that the value models and the clusters are fitted and P(alive) varies; a customers file gives each a `constructor` attribute.
 */
import { PutObjectCommand } from "@aws-sdk/client-s3";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { beforeAll, describe, expect, it } from "vitest";
import { S3_SERVER_CREDENTIALS } from "../../scripts/emulators/s3-server";
import { DryRunner } from "../../shared/api/dry-run";
import { writeApiRoutes } from "../../shared/api/functions";
import { ComputedSegmentation } from "../../shared/engine";
import { apiHandler } from "../../shared/http/api";
import type { CustomerView, UploadRecord } from "../../shared/model";
import { decodeOutputs } from "../../shared/pipeline/outputs";
import type { BlobStore } from "../../shared/pipeline/ports";
import { runUpload } from "../../shared/pipeline/run";
import { decodeTraitSnapshot, encodeTraitSnapshot } from "../../shared/pipeline/trait-snapshot";
import { ROUTES, routeKey } from "../../shared/routes";
import type { Runtime } from "../../shared/runtime";
import { objectKeys } from "../../shared/store/keys";
import { createTestBucket, createTestTable, testClients, uniqueName } from "../support/aws";

const TENANT = "t1";
const DATASET = "shop";
let rt: Runtime;
let views: Map<string, CustomerView>;
let version: number;

function lcg(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 48271) % 2147483647;
    return s / 2147483647;
  };
}

function transactions(): string {
  const next = lcg(7);
  const lines = ["customer_id,order_id,order_date,amount"];
  const start = Date.parse("2023-07-01T00:00:00Z");
  let order = 0;
  for (let c = 0; c < 240; c++) {
    const orders = 1 + Math.floor(next() * 9);
    const spend = 5 + next() * 200;
    // Each customer buys within an active period of 60 to 730 days from the start, so some have gone.
    const active = 60 + Math.floor(next() * 670);
    for (let k = 0; k < orders; k++) {
      const day = new Date(start + Math.floor(next() * active) * 86_400_000).toISOString().slice(0, 10);
      lines.push(`K${c},O${++order},${day},${(spend * (0.5 + next())).toFixed(2)}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

function customers(): string {
  const lines = ["customer_id,constructor"];
  for (let c = 0; c < 240; c++) lines.push(`K${c},${c % 3 === 0 ? "x" : "y"}`);
  return `${lines.join("\n")}\n`;
}

let uploads = 0;
async function upload(kind: "transactions" | "customers", body: string): Promise<void> {
  const uploadId = `u${++uploads}`;
  const fileName = `${kind}.csv`;
  const key = `uploads/${TENANT}/${DATASET}/${uploadId}/${fileName}`;
  const record: UploadRecord = {
    tenantId: TENANT,
    datasetId: DATASET,
    uploadId,
    kind,
    mode: "append",
    format: "csv",
    compression: "auto",
    fileName,
    key,
    createdAt: new Date(Date.now() + uploads).toISOString(),
  };
  await rt.store.ensureDataset(TENANT, DATASET, { asOf: "2025-07-01" });
  await rt.store.putUpload(record);
  await testClients().s3.send(new PutObjectCommand({ Bucket: rt.config.BUCKET_NAME, Key: key, Body: body }));
  const outcome = await runUpload(
    { store: rt.store, blobs: rt.blobs },
    {
      tenantId: TENANT,
      datasetId: DATASET,
      uploadId,
      key,
      sequencer: String(uploads).padStart(16, "0"),
      eventTime: new Date().toISOString(),
    },
  );
  expect(outcome.outcome).toBe("succeeded");
}

/** The write function's handler over `dryRuns` (a fresh one unless given). */
function handlerWith(dryRuns?: DryRunner) {
  const deps = {
    store: rt.store,
    blobs: rt.blobs,
    signer: rt.signer,
    cursors: rt.cursors,
    events: rt.events,
    destinations: rt.destinations,
    secrets: rt.secrets,
    deliveryQueue: rt.deliveryQueue,
    allowLoopbackWebhooks: rt.config.ALLOW_LOOPBACK_WEBHOOKS,
    destinationBuckets: rt.config.DESTINATION_BUCKETS,
    lists: rt.lists,
    ...(dryRuns ? { dryRuns } : {}),
  };
  return apiHandler("writeApi", writeApiRoutes(deps), {
    defaultTenant: "demo",
    scopePrefix: "segmentation",
    requireTenantClaim: false,
  });
}

const route = ROUTES.find((r) => r.id === "dryRun") as (typeof ROUTES)[number];

// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field by the assertions.
type Json = any;

async function dryRun(
  handler: ReturnType<typeof handlerWith>,
  rule: unknown,
): Promise<{ status: number; body: Json }> {
  const event = {
    version: "2.0",
    routeKey: routeKey(route),
    rawPath: `/datasets/${DATASET}/dry-run`,
    rawQueryString: "",
    headers: { "content-type": "application/json" },
    pathParameters: { datasetId: DATASET },
    requestContext: {
      requestId: "r",
      authorizer: { jwt: { claims: { scope: "segmentation/write", tenant: TENANT }, scopes: null } },
    },
    isBase64Encoded: false,
    body: JSON.stringify({ name: "Try", rule }),
  } as unknown as APIGatewayProxyEventV2;
  const res = (await handler(event, {} as Context)) as APIGatewayProxyStructuredResultV2;
  return { status: res.statusCode ?? 0, body: JSON.parse(res.body ?? "{}") };
}

/** A threshold between two neighbouring stored values at least `gap` apart, the pair nearest the quantile. */
function between(values: number[], quantile: number, gap: number): number {
  const sorted = [...new Set(values.filter(Number.isFinite))].sort((a, b) => a - b);
  const at = Math.floor((sorted.length - 1) * quantile);
  const pairs = sorted
    .slice(0, -1)
    .map((a, k) => ({ a, b: sorted[k + 1] as number, distance: Math.abs(k - at) }))
    .filter(({ a, b }) => b - a >= gap)
    .sort((x, y) => x.distance - y.distance);
  const pair = pairs[0];
  if (pair === undefined) throw new Error(`no two stored values ${gap} apart`);
  return (pair.a + pair.b) / 2;
}

/** What a dry run must answer, worked out from the stored views. */
function expected(pick: (v: CustomerView) => boolean) {
  const members = [...views].filter(([, v]) => pick(v));
  const cents = members.reduce((sum, [, v]) => sum + Math.round(v.monetary * 100), 0);
  const clvCents = members.reduce((sum, [, v]) => sum + Math.round((v.clv as number) * 100), 0);
  return {
    ids: new Set(members.map(([id]) => id)),
    size: members.length,
    revenue: cents / 100,
    meanClv: members.length === 0 ? null : Math.round(clvCents / members.length) / 100,
  };
}

beforeAll(async () => {
  const clients = testClients();
  const table = await createTestTable(clients.dynamo, uniqueName("dryrun"));
  const bucket = await createTestBucket(clients.s3, uniqueName("dryrun"));
  Object.assign(process.env, {
    TABLE_NAME: table,
    BUCKET_NAME: bucket,
    AWS_REGION: "us-east-1",
    AWS_ENDPOINT_URL_DYNAMODB: clients.endpoints.dynamodb,
    AWS_ENDPOINT_URL_S3: clients.endpoints.s3,
    AWS_ACCESS_KEY_ID: S3_SERVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3_SERVER_CREDENTIALS.secretAccessKey,
  });
  rt = (await import("../../shared/runtime")).runtime();
  // Customers first: their run has no orders to score, so only the second run fits the models.
  await upload("customers", customers());
  await upload("transactions", transactions());
  const meta = await rt.store.getDataset(TENANT, DATASET);
  version = meta?.current?.version as number;
  const bytes = await rt.blobs.get(objectKeys.outputs(TENANT, DATASET, version));
  views = new Map(
    [...decodeOutputs(bytes as Uint8Array)].map(([id, text]) => [id, JSON.parse(text) as CustomerView]),
  );
  expect(views.size).toBe(240);
  expect([...views.values()].every((v) => v.clv !== undefined && v.cluster !== undefined)).toBe(true);
  // Two pipeline runs with every model on DynamoDB Local: minutes on a machine that runs other suites; the
  // deadline only catches a hang.
}, 1_800_000);

describe("dry runs read the committed version's stored values", () => {
  it("answers what the rule selects among the stored views, for every model field", async () => {
    const all = [...views.values()];
    const clv = between(
      all.map((v) => v.clv as number),
      0.6,
      0.02,
    );
    const alive = between(
      all.map((v) => v.probabilityAlive as number),
      0.4,
      0.0002,
    );
    const expectedPurchases = between(
      all.map((v) => v.expectedPurchases as number),
      0.5,
      0.0002,
    );
    const cluster = (all[0] as CustomerView).cluster as string;
    const cases: [unknown, (v: CustomerView) => boolean][] = [
      [{ field: "clv", op: "gt", value: clv }, (v) => (v.clv as number) > clv],
      [{ field: "probability_alive", op: "lt", value: alive }, (v) => (v.probabilityAlive as number) < alive],
      [
        { field: "expected_purchases", op: "gte", value: expectedPurchases },
        (v) => (v.expectedPurchases as number) >= expectedPurchases,
      ],
      [{ field: "cluster", op: "eq", value: cluster.slice("cluster:".length) }, (v) => v.cluster === cluster],
      [
        {
          and: [
            { field: "clv", op: "lte", value: clv },
            { not: { field: "cluster", op: "eq", value: cluster.slice("cluster:".length) } },
            { field: "attributes.constructor", op: "eq", value: "x" },
          ],
        },
        (v) => (v.clv as number) <= clv && v.cluster !== cluster,
      ],
    ];
    const handler = handlerWith();
    for (const [rule, pick] of cases) {
      const answer = await dryRun(handler, rule);
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      const constructorX = JSON.stringify(rule).includes("constructor");
      const want = expected((v) => pick(v));
      const ids = constructorX
        ? new Set([...want.ids].filter((id) => Number(id.slice(1)) % 3 === 0))
        : want.ids;
      expect(answer.body.size, JSON.stringify(rule)).toBe(ids.size);
      expect(ids.size).toBeGreaterThan(0);
      expect(ids.size).toBeLessThan(240);
      expect(answer.body.customerCount).toBe(240);
      expect(answer.body.version).toBe(version);
      expect(answer.body.sample).toHaveLength(Math.min(20, ids.size));
      for (const id of answer.body.sample) expect(ids.has(id), id).toBe(true);
      if (!constructorX) {
        expect(answer.body.revenue).toBe(want.revenue);
        expect(answer.body.meanClv).toBe(want.meanClv);
      }
    }
  });

  it("takes the model values from the stored snapshot, not from a fit in the request", async () => {
    // The same stored version, its snapshot's CLVs doubled on the way: a dry run that fitted the models
    // itself would answer the run's figures; one that reads the snapshot answers the doubled ones.
    const doubled: BlobStore = Object.assign(Object.create(rt.blobs) as BlobStore, {
      get: async (key: string) => {
        const bytes = await rt.blobs.get(key);
        if (key !== objectKeys.traits(TENANT, DATASET, version) || !bytes) return bytes;
        const snapshot = decodeTraitSnapshot(bytes);
        const clv = snapshot.floats.clv as Float64Array;
        for (let i = 0; i < clv.length; i++) clv[i] = (clv[i] as number) * 2;
        return encodeTraitSnapshot(
          new ComputedSegmentation(
            { customerId: () => "", attribute: () => undefined } as never,
            "2025-07-01",
            0,
            {
              stateIndex: snapshot.stateIndex,
              ...(snapshot.cluster ? { cluster: snapshot.cluster } : {}),
              ...snapshot.floats,
              monetaryCents: new Float64Array(clv.length),
              frequency: new Uint32Array(clv.length),
            } as never,
            {
              ...(snapshot.clusters ? { clusters: snapshot.clusters } : {}),
              ...(snapshot.value ? { value: snapshot.value } : {}),
            },
          ),
        );
      },
    });
    const all = [...views.values()].map((v) => v.clv as number);
    const threshold = between(all, 0.5, 0.02);
    const answer = await dryRun(handlerWith(new DryRunner(doubled)), {
      field: "clv",
      op: "gt",
      value: 2 * threshold,
    });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    const want = expected((v) => (v.clv as number) > threshold);
    expect(answer.body.size).toBe(want.size);
    expect(answer.body.revenue).toBe(want.revenue);
  });

  it("treats an attribute named constructor as a plain name", async () => {
    const answer = await dryRun(handlerWith(), { field: "attributes.constructor", op: "eq", value: "x" });
    expect(answer.status).toBe(200);
    expect(answer.body.size).toBe(80);
    for (const id of answer.body.sample) expect(Number(id.slice(1)) % 3).toBe(0);
  });

  it("loads a version once for dry runs that arrive together, and answers each alike", async () => {
    const gets: string[] = [];
    const counting: BlobStore = Object.assign(Object.create(rt.blobs) as BlobStore, {
      get: (key: string) => {
        gets.push(key);
        return rt.blobs.get(key);
      },
    });
    const handler = handlerWith(new DryRunner(counting));
    const rule = { field: "clv", op: "gt", value: 10 };
    const answers = await Promise.all(Array.from({ length: 8 }, () => dryRun(handler, rule)));
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual((answers[0] as { body: Json }).body);
    }
    expect(gets.sort()).toEqual(
      [objectKeys.aggregate(TENANT, DATASET, version), objectKeys.traits(TENANT, DATASET, version)].sort(),
    );
  });

  it("answers 503 DRY_RUN_TIMEOUT when it cannot finish in its budget, and the next try finds the load done", async () => {
    // A clock that leaps a minute at every reading.
    let now = 0;
    const leaping = handlerWith(new DryRunner(rt.blobs, () => (now += 60_000)));
    const late = await dryRun(leaping, { field: "monetary", op: "gt", value: 10 });
    expect(late.status).toBe(503);
    expect(late.body.error.code).toBe("DRY_RUN_TIMEOUT");

    // A load held back past a budget of 50 ms, then let through.
    let release: () => void = () => {};
    const held = new Promise<void>((ok) => {
      release = ok;
    });
    const slow: BlobStore = Object.assign(Object.create(rt.blobs) as BlobStore, {
      get: async (key: string) => {
        await held;
        return rt.blobs.get(key);
      },
    });
    const handler = handlerWith(new DryRunner(slow, undefined, 50));
    const rule = { field: "clv", op: "gt", value: 10 };
    const first = await dryRun(handler, rule);
    expect(first.status).toBe(503);
    expect(first.body.error.code).toBe("DRY_RUN_TIMEOUT");
    release();
    const deadline = Date.now() + 120_000;
    let again = await dryRun(handler, rule);
    while (again.status === 503 && Date.now() < deadline) again = await dryRun(handler, rule);
    expect(again.status).toBe(200);
  });

  it("answers 409 DRY_RUN_UNAVAILABLE for model fields of a version stored without model values", async () => {
    const missing: BlobStore = Object.assign(Object.create(rt.blobs) as BlobStore, {
      get: (key: string) =>
        key === objectKeys.traits(TENANT, DATASET, version) ? Promise.resolve(undefined) : rt.blobs.get(key),
    });
    const handler = handlerWith(new DryRunner(missing));
    for (const field of ["clv", "probability_alive", "expected_purchases"]) {
      const answer = await dryRun(handler, { field, op: "gt", value: 0.5 });
      expect(answer.status).toBe(409);
      expect(answer.body.error.code).toBe("DRY_RUN_UNAVAILABLE");
    }
    const plain = await dryRun(handler, { field: "monetary", op: "gt", value: 100 });
    expect(plain.status).toBe(200);
    expect(plain.body.size).toBe(expected((v) => v.monetary > 100).size);
    expect(plain.body.meanClv).toBeNull();
  });
});
