/**
 * Overlap on DynamoDB Local and the S3 server (shared/api/overlap.ts): after a real run, the overlap of every
 * segment of the version (rfm, lifecycle, cluster and rule families, up to 30) equals the intersections of the
 * members routes' pages, worked out here with Sets; the members of an intersection, paged, are the first
 * segment's member pages filtered by the second, in the same order. Customer ids include characters whose
 * UTF-16 and UTF-8 orders differ, so the membership object's order is checked against DynamoDB's own.
 * Bad input answers 400 with the field at fault; a version without the membership object 409; a rewritten
 * object (as a sharded erasure leaves it) is seen by a warm function at once.
 */
import { PutObjectCommand } from "@aws-sdk/client-s3";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { beforeAll, describe, expect, it } from "vitest";
import { memberRoutes } from "../../shared/api/members";
import { overlapRoutes } from "../../shared/api/overlap";
import { apiHandler, type RouteHandler } from "../../shared/http/api";
import { CursorCodec } from "../../shared/http/cursor";
import type { UploadRecord } from "../../shared/model";
import { writeMembership } from "../../shared/pipeline/membership";
import { decodeOutputs } from "../../shared/pipeline/outputs";
import { runUpload } from "../../shared/pipeline/run";
import { ROUTES, type RouteId, routeKey } from "../../shared/routes";
import { DynamoDatasetStore } from "../../shared/store/dynamo";
import { objectKeys } from "../../shared/store/keys";
import { S3MemberPages } from "../../shared/store/member-pages";
import { S3BlobStore } from "../../shared/store/s3";
import { createTestBucket, createTestTable, testClients, uniqueName } from "../support/aws";

const TENANT = "t1";
const DATASET = "shop";
const CUSTOMERS = 260;

// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field by the assertions.
type Json = any;

type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<unknown>;
/** The read function's handler, and the lookup function's (member pages). */
const handlers: Partial<Record<string, Handler>> = {};
let store: DynamoDatasetStore;
let blobs: S3BlobStore;
let version: number;
let segmentIds: string[];
let biggest: string;

function lcg(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 48271) % 2147483647;
    return s / 2147483647;
  };
}

/** Ids mixing ASCII, Latin, CJK, a character above the surrogates (U+FF5A) and one beyond U+FFFF. */
function idOf(c: number): string {
  const stems = ["C", "c", "Ø", "客", "ｚ", "😀", "C0"];
  return `${stems[c % stems.length]}${c}`;
}

function transactions(): string {
  const next = lcg(11);
  const lines = ["customer_id,order_id,order_date,amount"];
  const start = Date.parse("2024-01-01T00:00:00Z");
  let order = 0;
  for (let c = 0; c < CUSTOMERS; c++) {
    const orders = 1 + Math.floor(next() * 8);
    const spend = 5 + next() * 150;
    const active = 30 + Math.floor(next() * 500);
    for (let k = 0; k < orders; k++) {
      const day = new Date(start + Math.floor(next() * active) * 86_400_000).toISOString().slice(0, 10);
      lines.push(`${idOf(c)},O${++order},${day},${(spend * (0.5 + next())).toFixed(2)}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

async function call(
  routeId: "getOverlap" | "listIntersectionMembers" | "listSegmentMembers",
  params: Record<string, string>,
  options: { body?: unknown; query?: Record<string, string> } = {},
): Promise<{ status: number; body: Json }> {
  const route = ROUTES.find((r) => r.id === routeId) as (typeof ROUTES)[number];
  const event = {
    version: "2.0",
    routeKey: routeKey(route),
    rawPath: "/",
    rawQueryString: "",
    headers: options.body === undefined ? {} : { "content-type": "application/json" },
    pathParameters: params,
    ...(options.query ? { queryStringParameters: options.query } : {}),
    requestContext: {
      requestId: "r",
      authorizer: { jwt: { claims: { scope: "segmentation/read", tenant: TENANT }, scopes: null } },
    },
    isBase64Encoded: false,
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  } as unknown as APIGatewayProxyEventV2;
  const handler = handlers[route.fn] as Handler;
  const res = (await handler(event, {} as Context)) as APIGatewayProxyStructuredResultV2;
  return { status: res.statusCode ?? 0, body: JSON.parse(res.body ?? "{}") };
}

/** Every member of a segment through the members route, page by page. */
async function members(segmentId: string): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await call(
      "listSegmentMembers",
      { datasetId: DATASET, segmentId },
      { query: { limit: "37", ...(cursor ? { cursor } : {}) } },
    );
    expect(page.status, JSON.stringify(page.body)).toBe(200);
    ids.push(...page.body.customerIds);
    cursor = page.body.nextCursor ?? undefined;
  } while (cursor !== undefined);
  return ids;
}

/** Every member of both segments through the intersection route, page by page. */
async function intersection(segmentId: string, otherSegmentId: string, limit: number): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await call(
      "listIntersectionMembers",
      { datasetId: DATASET, segmentId, otherSegmentId },
      { query: { limit: String(limit), ...(cursor ? { cursor } : {}) } },
    );
    expect(page.status).toBe(200);
    expect(page.body.customerIds.length).toBeLessThanOrEqual(limit);
    ids.push(...page.body.customerIds);
    cursor = page.body.nextCursor ?? undefined;
  } while (cursor !== undefined);
  return ids;
}

const ratio = (part: number, whole: number) => (whole === 0 ? null : Math.round((part / whole) * 1e6) / 1e6);

beforeAll(async () => {
  const clients = testClients();
  const table = await createTestTable(clients.dynamo, uniqueName("overlap"));
  const bucket = await createTestBucket(clients.s3, uniqueName("overlap"));
  store = new DynamoDatasetStore(clients.doc, table);
  blobs = new S3BlobStore(clients.s3, bucket);
  // No value models: their fits are not what this test is about, and take most of a run's time.
  await store.ensureDataset(TENANT, DATASET, {
    asOf: "2025-07-01",
    value: { enabled: false },
    clusters: { k: 4 },
  });
  const now = new Date().toISOString();
  await store.putDefinition(TENANT, DATASET, {
    segmentId: "rule:big",
    name: "Big spenders",
    rule: { field: "monetary", op: "gte", value: 400 },
    createdAt: now,
    updatedAt: now,
  });
  const key = `uploads/${TENANT}/${DATASET}/u1/transactions.csv`;
  const upload: UploadRecord = {
    tenantId: TENANT,
    datasetId: DATASET,
    uploadId: "u1",
    kind: "transactions",
    mode: "replace",
    format: "csv",
    compression: "auto",
    fileName: "transactions.csv",
    key,
    createdAt: now,
  };
  await store.putUpload(upload);
  await clients.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: transactions() }));
  const outcome = await runUpload(
    { store, blobs },
    { tenantId: TENANT, datasetId: DATASET, uploadId: "u1", key, sequencer: "01", eventTime: now },
  );
  expect(outcome.outcome).toBe("succeeded");
  const current = (await store.getDataset(TENANT, DATASET))?.current;
  version = current?.version as number;
  segmentIds = (current?.segments ?? []).map((s) => s.id);
  biggest = [...(current?.segments ?? [])].sort((a, b) => b.size - a.size)[0]?.id as string;
  const cursors = new CursorCodec(`cursor:${table}`);
  // The routes under test, and a stand-in for every other route of the read function.
  const others: Partial<Record<RouteId, RouteHandler>> = Object.fromEntries(
    ROUTES.map((r) => [r.id, async () => ({ status: 501, body: {} })]),
  );
  const options = { defaultTenant: "demo", scopePrefix: "segmentation", requireTenantClaim: false };
  handlers.readApi = apiHandler(
    "readApi",
    {
      ...others,
      ...overlapRoutes({ store, blobs, cursors }),
      // The members route, over the version's member pages.
      ...memberRoutes({ store, members: new S3MemberPages(blobs), cursors }),
    },
    options,
  ) as Handler;
}, 300_000);

describe("overlap after a run", () => {
  it("equals the intersections of the members routes' pages, for every pair of every family", async () => {
    const families = new Set(segmentIds.map((id) => id.slice(0, id.indexOf(":"))));
    expect([...families].sort()).toEqual(["cluster", "lifecycle", "rfm", "rule"]);
    const asked = segmentIds.slice(0, 30);
    expect(asked.length).toBeGreaterThanOrEqual(15);
    const answer = await call("getOverlap", { datasetId: DATASET }, { body: { segments: asked } });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ datasetId: DATASET, version, customerCount: CUSTOMERS });

    const sets = new Map<string, Set<string>>();
    for (const id of asked) sets.set(id, new Set(await members(id)));
    expect(answer.body.segments.map((s: Json) => [s.id, s.size])).toEqual(
      asked.map((id) => [id, sets.get(id)?.size]),
    );
    const expected = [];
    for (let i = 0; i < asked.length; i++) {
      for (let j = i + 1; j < asked.length; j++) {
        const a = sets.get(asked[i] as string) as Set<string>;
        const b = sets.get(asked[j] as string) as Set<string>;
        const count = [...a].filter((x) => b.has(x)).length;
        const union = new Set([...a, ...b]).size;
        expected.push({
          a: asked[i],
          b: asked[j],
          count,
          union,
          shareOfA: ratio(count, a.size),
          shareOfB: ratio(count, b.size),
          jaccard: ratio(count, union),
        });
      }
    }
    expect(answer.body.pairs).toEqual(expected);
    // Not vacuous: the families cut across each other.
    expect(expected.filter((p) => p.count > 0 && p.jaccard !== 1).length).toBeGreaterThan(10);
  });

  it("pages the members of an intersection in the members routes' order", async () => {
    // The members route's order is DynamoDB's (UTF-8 bytes), not JavaScript's default sort: in the largest
    // segment, ids starting with U+FF5A come before those starting with U+1F600.
    const largest = await members(biggest);
    expect(largest.some((id) => id.startsWith("😀")) && largest.some((id) => id.startsWith("ｚ"))).toBe(true);
    expect(largest).not.toEqual([...largest].sort());
    expect(await intersection(biggest, biggest, 1000)).toEqual(largest);
    for (const [a, b] of [
      ["rfm:champions", "lifecycle:active"],
      ["lifecycle:active", "rule:big"],
      ["rule:big", "rfm:champions"],
    ] as const) {
      const inB = new Set(await members(b));
      const want = (await members(a)).filter((id) => inB.has(id));
      expect(want.length, `${a} ∩ ${b}`).toBeGreaterThan(0);
      for (const limit of [1, 4, 1000]) expect(await intersection(a, b, limit)).toEqual(want);
      const first = await call(
        "listIntersectionMembers",
        { datasetId: DATASET, segmentId: a, otherSegmentId: b },
        { query: { limit: "1" } },
      );
      expect(first.body.size).toBe(want.length);
    }
    // A segment with itself is the segment, in the members route's order exactly.
    for (const id of ["lifecycle:active", "rfm:champions"]) {
      expect(await intersection(id, id, 50)).toEqual(await members(id));
    }
  });

  it("answers 400 naming the field for unknown, repeated or too many segments, and 404 for an unknown pair", async () => {
    const unknown = await call(
      "getOverlap",
      { datasetId: DATASET },
      { body: { segments: ["rfm:champions", "rule:nobody"] } },
    );
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.code).toBe("UNKNOWN_SEGMENT");
    expect(unknown.body.error.details).toEqual([expect.objectContaining({ path: "body.segments.1" })]);
    const many = Array.from({ length: 31 }, (_, i) => `rule:r${i}`);
    const tooMany = await call("getOverlap", { datasetId: DATASET }, { body: { segments: many } });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error.code).toBe("VALIDATION_FAILED");
    expect(tooMany.body.error.details[0].path).toBe("body.segments");
    const twice = await call(
      "getOverlap",
      { datasetId: DATASET },
      { body: { segments: ["rfm:champions", "lifecycle:active", "rfm:champions"] } },
    );
    expect(twice.status).toBe(400);
    expect(twice.body.error.details[0].path).toBe("body.segments.2");
    const one = await call("getOverlap", { datasetId: DATASET }, { body: { segments: ["rfm:champions"] } });
    expect(one.status).toBe(400);
    const pair = await call("listIntersectionMembers", {
      datasetId: DATASET,
      segmentId: "rfm:champions",
      otherSegmentId: "rule:nobody",
    });
    expect(pair.status).toBe(404);
    expect(pair.body.error.code).toBe("SEGMENT_NOT_FOUND");
  });

  it("sees a rewritten membership object at once, and answers 409 without one", async () => {
    const asked = { segments: ["rfm:champions", "lifecycle:active"] };
    const before = await call("getOverlap", { datasetId: DATASET }, { body: asked });
    const champion = (await intersection("rfm:champions", "lifecycle:active", 1))[0] as string;
    // The version's object rewritten without one customer in both, as a sharded erasure does.
    const outputs = decodeOutputs(
      (await blobs.get(objectKeys.outputs(TENANT, DATASET, version))) as Uint8Array,
    );
    outputs.delete(champion);
    await writeMembership(blobs, TENANT, DATASET, version, outputs, segmentIds);
    const after = await call("getOverlap", { datasetId: DATASET }, { body: asked });
    expect(after.body.customerCount).toBe(CUSTOMERS - 1);
    expect(after.body.pairs[0].count).toBe(before.body.pairs[0].count - 1);
    expect(await intersection("rfm:champions", "lifecycle:active", 1000)).not.toContain(champion);

    await blobs.delete([objectKeys.membership(TENANT, DATASET, version)]);
    const gone = await call("getOverlap", { datasetId: DATASET }, { body: asked });
    expect(gone.status).toBe(409);
    expect(gone.body.error.code).toBe("OVERLAP_UNAVAILABLE");
  });
});
