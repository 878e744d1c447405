/**
 * Next best category through the run pipeline on DynamoDB Local and the S3 server: a run on generated data with
 * categories serves each customer's recommendation in the customer answer and in a member export
 * (next_best_category), and the run's hit-rate report in the dataset answer, each equal to what the engine
 * computes on the same file in the test; bad settings are refused naming the field; turning it off in the
 * settings removes both from the next version.
 */
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { beforeAll, describe, expect, it } from "vitest";
import { S3_SERVER_CREDENTIALS } from "../../scripts/emulators/s3-server";
import { datasetRoutes } from "../../shared/api/datasets";
import { exportRoutes } from "../../shared/api/exports";
import { lookupRoutes } from "../../shared/api/lookup";
import { type ComputedSegmentation, computeSegments } from "../../shared/engine/compute";
import { ingestTransactions } from "../../shared/engine/ingest";
import { AggregateState } from "../../shared/engine/state";
import { AppError } from "../../shared/errors";
import type { ApiRequest, RouteHandler } from "../../shared/http/api";
import type { UploadRecord } from "../../shared/model";
import type { ServiceEvent } from "../../shared/pipeline/ports";
import { type PipelineDeps, runRefresh, runUpload } from "../../shared/pipeline/run";
import type { RouteId } from "../../shared/routes";
import type { Runtime } from "../../shared/runtime";
import { objectKeys } from "../../shared/store/keys";
import { createTestBucket, createTestTable, testClients, uniqueName } from "../support/aws";
import { testLookupStore } from "../support/lookup";
import { textSource } from "../unit/engine/byte-source";

const TENANT = "t1";
const DATASET = "records";
const AS_OF = "2024-12-31";
const CUSTOMERS = 1500;
let rt: Runtime;
let deps: PipelineDeps;
let routes: Partial<Record<RouteId, RouteHandler>>;
let engine: ComputedSegmentation;

// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field by the assertions.
type Json = any;

function lcg(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 48271) % 2147483647;
    return s / 2147483647;
  };
}

const CATEGORIES = ["Blues", "Classical", "Country", "Folk", "Jazz", "Pop", "Rock", "Soul"];
const WEIGHTS = [3.5, 2, 3, 3, 2.5, 4, 4, 3.5];

/** Customers over two years; a fifth buy often and lately, and Jazz three times as often as the others. */
function transactions(): string {
  const next = lcg(29);
  const asOfMs = Date.parse(`${AS_OF}T00:00:00Z`);
  const lines = ["customer_id,order_id,order_date,amount,category"];
  let order = 0;
  for (let c = 0; c < CUSTOMERS; c++) {
    const often = next() < 0.2;
    const weights = WEIGHTS.map((w, i) => (often && CATEGORIES[i] === "Jazz" ? 3 * w : w));
    const total = weights.reduce((a, b) => a + b, 0);
    const orders = often ? 5 + Math.floor(next() * 4) : 1 + Math.floor(next() * 4);
    for (let k = 0; k < orders; k++) {
      const daysBack = Math.floor(next() * (often ? 150 : 720));
      let u = next() * total;
      let category = 0;
      while (category < weights.length - 1 && u >= (weights[category] as number))
        u -= weights[category++] as number;
      const day = new Date(asOfMs - daysBack * 86_400_000).toISOString().slice(0, 10);
      lines.push(`N${c},O${++order},${day},${(5 + next() * 100).toFixed(2)},${CATEGORIES[category]}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

async function call(id: RouteId, req: Partial<ApiRequest>): Promise<{ status: number; body: Json }> {
  const handle = routes[id] as RouteHandler;
  try {
    const res = await handle({
      routeId: id,
      params: { datasetId: DATASET },
      query: {},
      body: undefined,
      tenantId: TENANT,
      requestId: "r",
      ...req,
    });
    return { status: res.status, body: res.body };
  } catch (error) {
    if (!(error instanceof AppError)) throw error;
    return { status: error.status, body: { error: { code: error.code, details: error.details } } };
  }
}

/** The CSV text of an export, parsed (no cell here holds a comma or a quote). */
async function exported(segmentId: string): Promise<Record<string, string>[]> {
  const created = await call("createExport", { params: { datasetId: DATASET, segmentId }, body: {} });
  expect(created.status).toBe(201);
  const key = objectKeys.export(TENANT, DATASET, created.body.exportId, segmentId);
  const text = new TextDecoder().decode((await rt.blobs.get(key)) as Uint8Array);
  const [header, ...rows] = text.trimEnd().split("\r\n") as [string, ...string[]];
  const columns = header.split(",");
  return rows.map((row) => {
    const cells = row.split(",");
    return Object.fromEntries(columns.map((c, i) => [c, cells[i] as string]));
  });
}

beforeAll(async () => {
  const clients = testClients();
  const table = await createTestTable(clients.dynamo, uniqueName("nbc"));
  const bucket = await createTestBucket(clients.s3, uniqueName("nbc"));
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
  const events = { publish: async (_: ServiceEvent[]) => {} };
  deps = { store: rt.store, blobs: rt.blobs, lists: rt.lists, lookalikes: rt.lookalikes, events };
  const api = { store: rt.store, blobs: rt.blobs, cursors: rt.cursors, events, lists: rt.lists };
  const lookup = { store: await testLookupStore(clients.endpoints.dynamodb, table) };
  routes = { ...datasetRoutes(api), ...lookupRoutes(lookup), ...exportRoutes(api) };
  await rt.store.ensureDataset(TENANT, DATASET, {
    asOf: AS_OF,
    clusters: { enabled: false },
    value: { enabled: false },
  });
  const body = transactions();
  const key = `uploads/${TENANT}/${DATASET}/u1/transactions.csv`;
  const record: UploadRecord = {
    tenantId: TENANT,
    datasetId: DATASET,
    uploadId: "u1",
    kind: "transactions",
    mode: "append",
    format: "csv",
    compression: "auto",
    fileName: "transactions.csv",
    key,
    createdAt: new Date().toISOString(),
  };
  await rt.store.putUpload(record);
  await clients.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  const outcome = await runUpload(deps, {
    tenantId: TENANT,
    datasetId: DATASET,
    uploadId: "u1",
    key,
    sequencer: "u1",
    eventTime: new Date().toISOString(),
  });
  expect(outcome.outcome).toBe("succeeded");

  // The engine on the same file, with the settings the dataset maps to.
  const state = new AggregateState();
  await ingestTransactions(textSource(body), { format: "csv" }, state);
  engine = computeSegments(state, { asOf: AS_OF, clusters: false, value: false });
}, 240_000);

describe("next best category served", () => {
  it("the dataset answer carries the run's hit rate against the baseline, as the engine measures it", async () => {
    const report = engine.nextBestCategory;
    if (report === undefined || "skipped" in report) throw new Error("the engine measured no hit rate");
    expect(report.customersEvaluated).toBeGreaterThan(50);
    const got = await call("getDataset", {});
    expect(got.body.current.nextBestCategory).toEqual(report);
  });

  it("each customer's answer and export row carry the engine's recommendation", async () => {
    const want = new Map<string, string | null>();
    for (let i = 0; i < engine.customerCount; i++) {
      const c = engine.customer(i);
      want.set(c.customerId, c.nextBestCategory ?? null);
    }
    const recommended = [...want.values()].filter((v) => v !== null);
    expect(recommended.length).toBeGreaterThan(CUSTOMERS / 2);
    expect(new Set(recommended).size).toBeGreaterThan(1);
    for (const customerId of ["N0", "N1", "N7", "N100", "N1499"]) {
      const got = await call("getCustomer", { params: { datasetId: DATASET, customerId } });
      expect(got.body.nextBestCategory).toEqual(want.get(customerId));
    }
    for (const segmentId of ["rfm:champions", "rfm:lost"]) {
      const rows = await exported(segmentId);
      expect(rows.length).toBeGreaterThan(0);
      for (const row of rows) {
        expect(row.next_best_category).toBe(want.get(row.customer_id as string) ?? "");
      }
    }
  });

  it("refuses bad settings with 400 naming the field", async () => {
    for (const [bad, path] of [
      [{ holdoutDays: 0 }, "body.nextBestCategory.holdoutDays"],
      [{ holdoutDays: 3651 }, "body.nextBestCategory.holdoutDays"],
      [{ family: "cluster" }, "body.nextBestCategory.family"],
      [{ enabled: "yes" }, "body.nextBestCategory.enabled"],
      [{ k: 5 }, "body.nextBestCategory"],
    ] as const) {
      const got = await call("putSettings", { body: { asOf: AS_OF, nextBestCategory: bad } });
      expect(got.status).toBe(400);
      expect(got.body.error.code).toBe("VALIDATION_FAILED");
      expect(got.body.error.details.map((d: { path: string }) => d.path)).toEqual([path]);
    }
  });

  it("turned off in the settings, the next version has neither report nor recommendations", async () => {
    const put = await call("putSettings", {
      body: {
        asOf: AS_OF,
        clusters: { enabled: false },
        value: { enabled: false },
        nextBestCategory: { enabled: false },
      },
    });
    expect(put.status).toBe(200);
    const outcome = await runRefresh(deps, {
      tenantId: TENANT,
      datasetId: DATASET,
      trigger: "settings",
      eventId: uniqueName("e"),
      eventTime: new Date().toISOString(),
    });
    expect(outcome.outcome).toBe("succeeded");
    const got = await call("getDataset", {});
    expect(got.body.current.nextBestCategory).toBeUndefined();
    const customer = await call("getCustomer", { params: { datasetId: DATASET, customerId: "N0" } });
    expect(customer.body.nextBestCategory).toBeNull();
    const rows = await exported("rfm:champions");
    expect(rows.every((r) => r.next_best_category === "")).toBe(true);
  });
});
