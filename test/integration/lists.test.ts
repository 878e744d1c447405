/**
 * List segments and membership rules on DynamoDB Local and the S3 server: list CRUD through the routes' core
 * functions (JSON and CSV bodies), the 10,000-ids limit per change, each change asking for a recompute and
 * the recompute computing the list family (members, unknown ids counted and sampled, reported on the run's
 * version), "Champions not in list:x" as one rule segment, unknown segment ids and cycles refused with their
 * path, dry runs with the membership operators, deletion of a list a rule names refused, and erasure of an id
 * from every list. Expected members are worked out from the customers' stored views (their RFM segments) and
 * the ids the test put on the list.
 */
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { beforeAll, describe, expect, it } from "vitest";
import { S3_SERVER_CREDENTIALS } from "../../scripts/emulators/s3-server";
import { datasetRoutes } from "../../shared/api/datasets";
import { listRoutes } from "../../shared/api/lists";
import { AppError } from "../../shared/errors";
import { type ApiRequest, CsvBody, type RouteHandler } from "../../shared/http/api";
import type { CustomerView, UploadRecord } from "../../shared/model";
import { eraseFromLists } from "../../shared/pipeline/erase";
import { decodeOutputs } from "../../shared/pipeline/outputs";
import type { ServiceEvent } from "../../shared/pipeline/ports";
import { type PipelineDeps, runRefresh, runUpload } from "../../shared/pipeline/run";
import type { RouteId } from "../../shared/routes";
import type { Runtime } from "../../shared/runtime";
import { objectKeys } from "../../shared/store/keys";
import { createTestBucket, createTestTable, testClients, uniqueName } from "../support/aws";

const TENANT = "t1";
const DATASET = "shop";
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

/** 120 customers L000..L119 with 1 to 8 orders over two years. */
function transactions(): string {
  const next = lcg(11);
  const lines = ["customer_id,order_id,order_date,amount"];
  const start = Date.parse("2023-07-01T00:00:00Z");
  let order = 0;
  for (let c = 0; c < 120; c++) {
    const orders = 1 + Math.floor(next() * 8);
    const active = 30 + Math.floor(next() * 700);
    for (let k = 0; k < orders; k++) {
      const day = new Date(start + Math.floor(next() * active) * 86_400_000).toISOString().slice(0, 10);
      lines.push(`L${String(c).padStart(3, "0")},O${++order},${day},${(5 + next() * 200).toFixed(2)}`);
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

async function refresh(): Promise<number> {
  const outcome = await runRefresh(deps, {
    tenantId: TENANT,
    datasetId: DATASET,
    trigger: "definitions",
    eventId: uniqueName("e"),
    eventTime: new Date().toISOString(),
  });
  expect(outcome.outcome).toBe("succeeded");
  return (await rt.store.getDataset(TENANT, DATASET))?.current?.version as number;
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

beforeAll(async () => {
  const clients = testClients();
  const table = await createTestTable(clients.dynamo, uniqueName("lists"));
  const bucket = await createTestBucket(clients.s3, uniqueName("lists"));
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
  deps = { store: rt.store, blobs: rt.blobs, lists: rt.lists, events };
  const api = { store: rt.store, blobs: rt.blobs, cursors: rt.cursors, events, lists: rt.lists };
  routes = { ...datasetRoutes(api), ...listRoutes(api) };
  await rt.store.ensureDataset(TENANT, DATASET, {
    asOf: "2025-07-01",
    clusters: { enabled: false },
    value: { enabled: false },
  });
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
  await clients.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: transactions() }));
  const outcome = await runUpload(deps, {
    tenantId: TENANT,
    datasetId: DATASET,
    uploadId: "u1",
    key,
    sequencer: "0001",
    eventTime: new Date().toISOString(),
  });
  expect(outcome.outcome).toBe("succeeded");
}, 240_000);

describe("list segments", () => {
  let champions: string[];
  let contacted: string[];

  it("creates a list from JSON, asks for a recompute, and the run finds its members and unknown ids", async () => {
    const before = await views((await rt.store.getDataset(TENANT, DATASET))?.current?.version as number);
    champions = membersOf(before, "rfm:champions");
    expect(champions.length).toBeGreaterThan(4);
    contacted = [champions[0], champions[1], "L000", "L001"].filter(
      (id, i, all) => all.indexOf(id) === i,
    ) as string[];
    const ids = [...contacted, "ghost-1", contacted[0] as string, "ghost-2", "ghost-1"];
    const requests = published.length;
    const put = await call("putList", {
      params: { datasetId: DATASET, listId: "already-contacted" },
      body: { name: "Already contacted", customerIds: ids },
    });
    expect(put.status).toBe(201);
    expect(put.body).toMatchObject({
      listId: "list:already-contacted",
      size: contacted.length + 2,
      revision: 1,
      recompute: "requested",
      unchanged: 2,
      lastRun: null,
    });
    expect(published.slice(requests).map((e) => e.detailType)).toEqual(["Recompute Requested"]);

    const version = await refresh();
    const after = await views(version);
    expect(membersOf(after, "list:already-contacted")).toEqual([...contacted].sort());
    const got = await call("getList", { params: { datasetId: DATASET, listId: "list:already-contacted" } });
    expect(got.status).toBe(200);
    expect(got.body.lastRun).toEqual({
      version,
      runId: expect.any(String),
      current: true,
      members: contacted.length,
      unknownIds: 2,
      unknownSample: ["ghost-1", "ghost-2"],
    });
    expect(got.body.sample).toEqual([...contacted, "ghost-1", "ghost-2"]);
    const meta = await rt.store.getDataset(TENANT, DATASET);
    expect(meta?.current?.segments.find((s) => s.id === "list:already-contacted")).toMatchObject({
      family: "list",
      size: contacted.length,
    });
    expect(meta?.current?.issues).toContainEqual(
      expect.objectContaining({ code: "LIST_UNKNOWN_IDS", segment: "list:already-contacted" }),
    );
    const listed = await call("listLists", {});
    expect(listed.body.lists.map((l: Json) => l.listId)).toEqual(["list:already-contacted"]);
  });

  it("replaces a list from a CSV of one column with a header, and names the line of a bad row", async () => {
    const csv = `customer_id\n${contacted.join("\n")}\n"ghost-1"\n\n`;
    const put = await call("putList", {
      params: { datasetId: DATASET, listId: "already-contacted" },
      body: new CsvBody(csv),
    });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ name: "Already contacted", size: contacted.length + 1, revision: 2 });
    const bad = await call("putList", {
      params: { datasetId: DATASET, listId: "vip" },
      query: { name: "VIP" },
      body: new CsvBody("customer_id\nL001\nL002,extra\n"),
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details).toEqual([
      expect.objectContaining({ path: "body.line[3]", code: "too_many_columns" }),
    ]);
    const unnamed = await call("putList", {
      params: { datasetId: DATASET, listId: "vip" },
      body: new CsvBody("L001\n"),
    });
    expect(unnamed.status).toBe(400);
  });

  it("adds and removes ids, at most 10,000 each per call", async () => {
    const tooMany = Array.from({ length: 10_001 }, (_, i) => `x${i}`);
    const refused = await call("changeListMembers", {
      params: { datasetId: DATASET, listId: "already-contacted" },
      body: { add: tooMany },
    });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({
      code: "TOO_MANY_IDS",
      details: [expect.objectContaining({ path: "body.add" })],
    });
    const changed = await call("changeListMembers", {
      params: { datasetId: DATASET, listId: "already-contacted" },
      body: { add: ["ghost-3", contacted[0]], remove: ["ghost-1", "never-there"] },
    });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({
      size: contacted.length + 1,
      revision: 3,
      unchanged: 2,
      recompute: "requested",
    });
    const missing = await call("changeListMembers", {
      params: { datasetId: DATASET, listId: "nope" },
      body: { add: ["a"] },
    });
    expect(missing.body.error.code).toBe("LIST_NOT_FOUND");
  });

  it('"Champions not in list:already-contacted" is one rule segment; unknown ids and cycles are 400s', async () => {
    const rule = {
      and: [
        { field: "segment", op: "in_segment", value: "rfm:champions" },
        { field: "segment", op: "not_in_segment", value: "list:already-contacted" },
      ],
    };
    const put = await call("putDefinition", {
      params: { datasetId: DATASET, segmentId: "rule:champions-to-contact" },
      body: { name: "Champions to contact", rule },
    });
    expect(put.status).toBe(201);
    const version = await refresh();
    const after = await views(version);
    const expected = champions.filter((id) => !contacted.includes(id)).sort();
    expect(membersOf(after, "rule:champions-to-contact")).toEqual(expected);
    expect(expected.length).toBe(champions.length - contacted.filter((id) => champions.includes(id)).length);

    const unknown = await call("putDefinition", {
      params: { datasetId: DATASET, segmentId: "rule:bad" },
      body: {
        name: "Bad",
        rule: {
          and: [
            { field: "frequency", op: "gte", value: 1 },
            { field: "segment", op: "in_segment", value: "list:nope" },
          ],
        },
      },
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.details).toEqual([
      expect.objectContaining({ path: "body.rule.and[1].value", code: "unknown_segment" }),
    ]);
    const first = await call("putDefinition", {
      params: { datasetId: DATASET, segmentId: "rule:a" },
      body: { name: "A", rule: { field: "segment", op: "in_segment", value: "rule:champions-to-contact" } },
    });
    expect(first.status).toBe(201);
    const cycle = await call("putDefinition", {
      params: { datasetId: DATASET, segmentId: "rule:champions-to-contact" },
      body: { name: "C", rule: { or: [rule, { field: "segment", op: "in_segment", value: "rule:a" }] } },
    });
    expect(cycle.status).toBe(400);
    expect(cycle.body.error.details).toEqual([
      expect.objectContaining({ path: "body.rule.or[1].value", code: "segment_cycle" }),
    ]);
  });

  it("dry runs evaluate the membership operators on the committed version", async () => {
    const version = (await rt.store.getDataset(TENANT, DATASET))?.current?.version as number;
    const all = await views(version);
    const answer = await call("dryRun", {
      body: { name: "Try", rule: { field: "segment", op: "in_segment", value: "rule:a" } },
    });
    expect(answer.status).toBe(200);
    const expected = membersOf(all, "rule:champions-to-contact");
    expect(answer.body.size).toBe(expected.length);
    expect([...answer.body.sample].sort()).toEqual(expected.slice(0, 20));
    const notListed = await call("dryRun", {
      body: {
        name: "Try",
        rule: { field: "segment", op: "not_in_segment", value: "list:already-contacted" },
      },
    });
    expect(notListed.body.size).toBe(all.size - membersOf(all, "list:already-contacted").length);
  });

  it("refuses to delete a list a rule names; erasure removes an id from every list", async () => {
    const inUse = await call("deleteList", { params: { datasetId: DATASET, listId: "already-contacted" } });
    expect(inUse.status).toBe(409);
    expect(inUse.body.error.code).toBe("SEGMENT_IN_USE");

    const erased = contacted[1] as string;
    expect(await eraseFromLists(deps, TENANT, DATASET, erased)).toBe(1);
    expect(await eraseFromLists(deps, TENANT, DATASET, erased)).toBe(0);
    const got = await call("getList", { params: { datasetId: DATASET, listId: "already-contacted" } });
    expect(got.body.sample).not.toContain(erased);
    expect(got.body.size).toBe(contacted.length);

    for (const segmentId of ["rule:a", "rule:champions-to-contact"]) {
      expect((await call("deleteDefinition", { params: { datasetId: DATASET, segmentId } })).status).toBe(
        204,
      );
    }
    const gone = await call("deleteList", { params: { datasetId: DATASET, listId: "already-contacted" } });
    expect(gone.status).toBe(204);
    const after = await call("getList", { params: { datasetId: DATASET, listId: "already-contacted" } });
    expect(after.body.error.code).toBe("LIST_NOT_FOUND");
  });
});
