/**
 * Lookalike segments on DynamoDB Local and the S3 server, through the routes' core functions and the run
 * pipeline: a lookalike saved with PUT asks for a recompute, and the run computes it (a version that would
 * otherwise change nothing is a new one, as the lookalikes are part of its inputs); the segment is served with
 * its model report (GET lookalike, GET segment) and its members (segment members, customers' views), none of
 * them in the seed; a second run keeps it, with the same members; the limits and errors answer with their
 * codes (a seed that is a lookalike or no segment, sizes out of range, the 21st lookalike, a rule naming a
 * lookalike, deleting a rule or list that seeds one); deleting it drops the segment from the next version.
 * Expected members are worked out from the customers' stored views (the seed's members) and the sizes.
 */
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { beforeAll, describe, expect, it } from "vitest";
import { S3_SERVER_CREDENTIALS } from "../../scripts/emulators/s3-server";
import { datasetRoutes } from "../../shared/api/datasets";
import { listRoutes } from "../../shared/api/lists";
import { lookalikeRoutes } from "../../shared/api/lookalikes";
import { memberRoutes } from "../../shared/api/members";
import { readRoutes } from "../../shared/api/read";
import { AppError } from "../../shared/errors";
import type { ApiRequest, RouteHandler } from "../../shared/http/api";
import type { CustomerView, UploadRecord } from "../../shared/model";
import { decodeOutputs } from "../../shared/pipeline/outputs";
import type { ServiceEvent } from "../../shared/pipeline/ports";
import { type PipelineDeps, runRefresh, runUpload } from "../../shared/pipeline/run";
import type { RouteId } from "../../shared/routes";
import type { Runtime } from "../../shared/runtime";
import { objectKeys } from "../../shared/store/keys";
import { createTestBucket, createTestTable, testClients, uniqueName } from "../support/aws";

const TENANT = "t1";
const DATASET = "shop";
const CUSTOMERS = 400;
let rt: Runtime;
let deps: PipelineDeps;
let routes: Partial<Record<RouteId, RouteHandler>>;
const published: ServiceEvent[] = [];

// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field by the assertions.
type Json = any;

function lcg(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 48271) % 2147483647;
    return s / 2147483647;
  };
}

const idOf = (c: number) => `K${String(c).padStart(3, "0")}`;

/** 400 customers with 1 to 10 orders over two years, the frequent ones more often in the north. */
function files(): { transactions: string; customers: string } {
  const next = lcg(17);
  const lines = ["customer_id,order_id,order_date,amount,category"];
  const people = ["customer_id,region"];
  const start = Date.parse("2023-07-01T00:00:00Z");
  let order = 0;
  for (let c = 0; c < CUSTOMERS; c++) {
    const orders = 1 + Math.floor(next() * 10);
    const north = next() < (orders > 6 ? 0.8 : 0.2);
    people.push(`${idOf(c)},${north ? "north" : "south"}`);
    for (let k = 0; k < orders; k++) {
      const day = new Date(start + Math.floor(next() * 700) * 86_400_000).toISOString().slice(0, 10);
      const category = next() < 0.5 ? "books" : "music";
      lines.push(`${idOf(c)},O${++order},${day},${(5 + next() * 200).toFixed(2)},${category}`);
    }
  }
  return { transactions: `${lines.join("\n")}\n`, customers: `${people.join("\n")}\n` };
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

async function currentVersion(): Promise<number> {
  return (await rt.store.getDataset(TENANT, DATASET))?.current?.version as number;
}

async function refresh(): Promise<number> {
  const before = await currentVersion();
  const outcome = await runRefresh(deps, {
    tenantId: TENANT,
    datasetId: DATASET,
    trigger: "definitions",
    eventId: uniqueName("e"),
    eventTime: new Date().toISOString(),
  });
  expect(outcome.outcome).toBe("succeeded");
  const version = await currentVersion();
  expect(version).toBe(before + 1);
  return version;
}

async function views(version: number): Promise<Map<string, CustomerView>> {
  const bytes = await rt.blobs.get(objectKeys.outputs(TENANT, DATASET, version));
  return new Map(
    [...decodeOutputs(bytes as Uint8Array)].map(([id, text]) => [id, JSON.parse(text) as CustomerView]),
  );
}

const membersOf = (all: Map<string, CustomerView>, segmentId: string) =>
  [...all]
    .filter(([, v]) => v.segments.includes(segmentId))
    .map(([id]) => id)
    .sort();

async function upload(bucket: string, uploadId: string, kind: "transactions" | "customers", body: string) {
  const clients = testClients();
  const key = `uploads/${TENANT}/${DATASET}/${uploadId}/${kind}.csv`;
  const record: UploadRecord = {
    tenantId: TENANT,
    datasetId: DATASET,
    uploadId,
    kind,
    mode: "append",
    format: "csv",
    compression: "auto",
    fileName: `${kind}.csv`,
    key,
    createdAt: new Date().toISOString(),
  };
  await rt.store.putUpload(record);
  await clients.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  const outcome = await runUpload(deps, {
    tenantId: TENANT,
    datasetId: DATASET,
    uploadId,
    key,
    sequencer: uploadId,
    eventTime: new Date().toISOString(),
  });
  expect(outcome.outcome).toBe("succeeded");
}

beforeAll(async () => {
  const clients = testClients();
  const table = await createTestTable(clients.dynamo, uniqueName("lookalikes"));
  const bucket = await createTestBucket(clients.s3, uniqueName("lookalikes"));
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
  const events = { publish: async (batch: ServiceEvent[]) => void published.push(...batch) };
  deps = { store: rt.store, blobs: rt.blobs, lists: rt.lists, lookalikes: rt.lookalikes, events };
  const api = {
    store: rt.store,
    blobs: rt.blobs,
    cursors: rt.cursors,
    events,
    lists: rt.lists,
    lookalikes: rt.lookalikes,
  };
  routes = {
    ...datasetRoutes(api),
    ...listRoutes(api),
    ...lookalikeRoutes(api),
    ...readRoutes(api),
    ...memberRoutes({ store: rt.store, members: rt.members, cursors: rt.cursors }),
  };
  await rt.store.ensureDataset(TENANT, DATASET, {
    asOf: "2025-07-01",
    clusters: { enabled: false },
    value: { enabled: false },
  });
  const { transactions, customers } = files();
  await upload(bucket, "u1", "transactions", transactions);
  await upload(bucket, "u2", "customers", customers);
}, 240_000);

describe("lookalike segments", () => {
  let champions: string[];
  let members: string[];

  it("saves a lookalike, asks for a recompute, and the run serves its members and model report", async () => {
    champions = membersOf(await views(await currentVersion()), "rfm:champions");
    expect(champions.length).toBeGreaterThanOrEqual(20);
    const requests = published.length;
    const put = await call("putLookalike", {
      params: { datasetId: DATASET, lookalikeId: "like-champions" },
      body: { name: "Like champions", seed: "rfm:champions", size: { top: 25 } },
    });
    expect(put.status).toBe(201);
    expect(put.body).toMatchObject({
      lookalikeId: "lookalike:like-champions",
      seed: "rfm:champions",
      size: { top: 25 },
      segment: null,
      recompute: "requested",
    });
    expect(published.slice(requests).map((e) => e.detailType)).toEqual(["Recompute Requested"]);

    const version = await refresh();
    const all = await views(version);
    members = membersOf(all, "lookalike:like-champions");
    expect(members).toHaveLength(25);
    const seed = new Set(membersOf(all, "rfm:champions"));
    expect(members.filter((id) => seed.has(id))).toEqual([]);

    const got = await call("getLookalike", {
      params: { datasetId: DATASET, lookalikeId: "lookalike:like-champions" },
    });
    expect(got.status).toBe(200);
    const report = got.body.segment.lookalike;
    expect(got.body.segment).toMatchObject({ id: "lookalike:like-champions", family: "lookalike", size: 25 });
    expect(report).toMatchObject({ seed: "rfm:champions", seedSize: seed.size, lambda: 1 });
    expect(report.trained.seed + report.heldOut.seed).toBe(seed.size);
    expect(report.trained.rest + report.heldOut.rest).toBe(CUSTOMERS - seed.size);
    expect(report.auc).toBeGreaterThan(0.5);
    expect(report.auc).toBeLessThanOrEqual(1);
    expect(report.features.length).toBeGreaterThan(0);
    expect(report.features.length).toBeLessThanOrEqual(10);
    expect(report.features.map((f: { name: string }) => f.name)).toContain("recency_days");

    const segment = await call("getSegment", {
      params: { datasetId: DATASET, segmentId: "lookalike:like-champions" },
    });
    expect(segment.status).toBe(200);
    expect(segment.body.lookalike).toEqual(report);
    const page = await call("listSegmentMembers", {
      params: { datasetId: DATASET, segmentId: "lookalike:like-champions" },
      query: { limit: "100" },
    });
    expect(page.status).toBe(200);
    expect([...page.body.customerIds].sort()).toEqual(members);

    const listed = await call("listLookalikes", { params: { datasetId: DATASET } });
    expect(listed.body.lookalikes.map((l: { lookalikeId: string }) => l.lookalikeId)).toEqual([
      "lookalike:like-champions",
    ]);
  });

  it("keeps the lookalike through the next run, with the same members", async () => {
    const put = await call("putDefinition", {
      params: { datasetId: DATASET, segmentId: "rule:north" },
      body: { name: "North", rule: { field: "attributes.region", op: "eq", value: "north" } },
    });
    expect(put.status).toBe(201);
    const version = await refresh();
    expect(membersOf(await views(version), "lookalike:like-champions")).toEqual(members);
    const meta = await rt.store.getDataset(TENANT, DATASET);
    expect(meta?.current?.segments.find((s) => s.id === "lookalike:like-champions")?.size).toBe(25);
  });

  it("sizes by percent of the customers outside a rule seed, and protects that seed", async () => {
    const put = await call("putLookalike", {
      params: { datasetId: DATASET, lookalikeId: "like-north" },
      body: { name: "Like north", seed: "rule:north", size: { percent: 10 }, attributes: [] },
    });
    expect(put.status).toBe(201);
    const version = await refresh();
    const all = await views(version);
    const north = membersOf(all, "rule:north");
    const like = membersOf(all, "lookalike:like-north");
    expect(like).toHaveLength(Math.floor((CUSTOMERS - north.length) / 10));
    expect(like.filter((id) => north.includes(id))).toEqual([]);

    const inUse = await call("deleteDefinition", { params: { datasetId: DATASET, segmentId: "rule:north" } });
    expect(inUse.status).toBe(409);
    expect(inUse.body.error.code).toBe("SEGMENT_IN_USE");
  });

  it("refuses bad lookalikes, rules naming one, and a 21st, with their codes", async () => {
    const put = (lookalikeId: string, body: unknown) =>
      call("putLookalike", { params: { datasetId: DATASET, lookalikeId }, body });
    const fromLookalike = await put("x", { name: "X", seed: "lookalike:like-champions", size: { top: 1 } });
    expect(fromLookalike.status).toBe(400);
    expect(fromLookalike.body.error.code).toBe("VALIDATION_FAILED");
    expect(fromLookalike.body.error.details.map((d: { path: string }) => d.path)).toEqual(["body.seed"]);
    const unknown = await put("x", { name: "X", seed: "rule:nope", size: { top: 1 } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toMatchObject({ code: "UNKNOWN_SEGMENT", details: [{ path: "body.seed" }] });
    for (const size of [
      { top: 0 },
      { top: 1_000_001 },
      { percent: 0 },
      { percent: 101 },
      { top: 1, percent: 5 },
    ]) {
      const bad = await put("x", { name: "X", seed: "rfm:champions", size });
      expect(bad.status).toBe(400);
      expect(bad.body.error.code).toBe("VALIDATION_FAILED");
      expect(bad.body.error.details[0].path).toMatch(/^body\.size/);
    }
    const tooManyAttributes = await put("x", {
      name: "X",
      seed: "rfm:champions",
      size: { top: 1 },
      attributes: Array.from({ length: 31 }, (_, i) => `a${i}`),
    });
    expect(tooManyAttributes.status).toBe(400);
    const missing = await call("getLookalike", { params: { datasetId: DATASET, lookalikeId: "nope" } });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("LOOKALIKE_NOT_FOUND");

    const rule = await call("putDefinition", {
      params: { datasetId: DATASET, segmentId: "rule:like" },
      body: {
        name: "Like",
        rule: {
          and: [
            { field: "frequency", op: "gte", value: 1 },
            { field: "segment", op: "in_segment", value: "lookalike:like-champions" },
          ],
        },
      },
    });
    expect(rule.status).toBe(400);
    expect(rule.body.error).toMatchObject({
      code: "LOOKALIKE_IN_RULE",
      details: [{ path: "body.rule.and[1].value", code: "LOOKALIKE_IN_RULE" }],
    });

    // Two exist; 18 more fill the dataset, and the 21st is refused.
    for (let i = 0; i < 18; i++) {
      expect(
        (await put(`fill-${i}`, { name: `Fill ${i}`, seed: "rfm:champions", size: { top: 1 } })).status,
      ).toBe(201);
    }
    const full = await put("one-too-many", { name: "X", seed: "rfm:champions", size: { top: 1 } });
    expect(full.status).toBe(409);
    expect(full.body.error.code).toBe("TOO_MANY_LOOKALIKES");
    // Replacing one that exists is no new one.
    expect((await put("fill-0", { name: "Fill 0", seed: "rfm:champions", size: { top: 2 } })).status).toBe(
      200,
    );
    for (let i = 0; i < 18; i++) {
      const gone = await call("deleteLookalike", {
        params: { datasetId: DATASET, lookalikeId: `fill-${i}` },
      });
      expect(gone.status).toBe(204);
    }
  });

  it("refuses to delete a list that seeds a lookalike; a deleted lookalike leaves the next version", async () => {
    const list = await call("putList", {
      params: { datasetId: DATASET, listId: "picked" },
      body: { name: "Picked", customerIds: champions.slice(0, 5) },
    });
    expect(list.status).toBe(201);
    const put = await call("putLookalike", {
      params: { datasetId: DATASET, lookalikeId: "like-picked" },
      body: { name: "Like picked", seed: "list:picked", size: { top: 3 } },
    });
    expect(put.status).toBe(201);
    const inUse = await call("deleteList", { params: { datasetId: DATASET, listId: "picked" } });
    expect(inUse.status).toBe(409);
    expect(inUse.body.error.code).toBe("SEGMENT_IN_USE");

    for (const id of ["like-picked", "like-north", "like-champions"]) {
      expect(
        (await call("deleteLookalike", { params: { datasetId: DATASET, lookalikeId: id } })).status,
      ).toBe(204);
    }
    expect(
      (await call("deleteLookalike", { params: { datasetId: DATASET, lookalikeId: "like-picked" } })).status,
    ).toBe(404);
    const version = await refresh();
    const meta = await rt.store.getDataset(TENANT, DATASET);
    expect(meta?.current?.segments.some((s) => s.family === "lookalike")).toBe(false);
    expect(membersOf(await views(version), "lookalike:like-champions")).toEqual([]);
    expect((await call("deleteList", { params: { datasetId: DATASET, listId: "picked" } })).status).toBe(204);
  });
});
