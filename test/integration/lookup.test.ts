/**
 * The lookup function (functions/lookup-api, loaded as Lambda loads it, configured from the environment)
 * answers what the table holds: every answer it gives with 200 is checked against the same table read a
 * second way, through the document-client store (DynamoDatasetStore, with its own versioned reads): a
 * customer's committed view in the customer answer. The member pages, which the read function
 * (functions/read-api, loaded the same way) serves from the version's objects in S3, are checked against the
 * version's outputs file read a second way: the segment's members sorted by the bytes of their ids, from
 * the cursor on, the next cursor naming the last id of the page. Refusals answer with the
 * status and code each case names and a well-formed error body. The cases: found, not found, another
 * tenant's dataset, a dataset without a run, missing scope and token, bad parameters, member pages with
 * their cursors, a customer item written by a run that has not committed yet, and the first request after a
 * commit (the function keeps the committed version it read and must not serve it once META names another).
 * The data is computed by the pipeline from test/fixtures/e2e/transactions.csv on DynamoDB Local (its
 * expected results are worked out by hand in transactions.expected.md).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { beforeAll, describe, expect, it } from "vitest";
import { S3_SERVER_CREDENTIALS } from "../../scripts/emulators/s3-server";
import { customerAnswer } from "../../shared/api/customer-answer";
import { CursorCodec } from "../../shared/http/cursor";
import type { UploadRecord } from "../../shared/model";
import { decodeOutputs } from "../../shared/pipeline/outputs";
import { runUpload } from "../../shared/pipeline/run";
import { ROUTES, routeKey } from "../../shared/routes";
import { DynamoDatasetStore } from "../../shared/store/dynamo";
import { CUSTOMER_SK, customerPk, datasetPk, META_SK, objectKeys } from "../../shared/store/keys";
import { S3BlobStore } from "../../shared/store/s3";
import { createTestBucket, createTestTable, testClients, uniqueName } from "../support/aws";

const PREFIX = "segmentation";
const TENANT = "acme";
const OTHER = "globex";
const FIXTURE = join(import.meta.dirname, "../fixtures/e2e/transactions.csv");

type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<unknown>;
let lookup: Handler;
/** The read function, which serves the member pages. */
let read: Handler;
let blobs: S3BlobStore;
/** The document-client store over the same table, and the cursor key the function signs with. */
let store: DynamoDatasetStore;
let cursors: CursorCodec;
let doc: DynamoDBDocumentClient;
let table: string;
/** The segments of TENANT's shop dataset, as the store lists them. */
let segments: Array<{ id: string; size: number }>;

interface Call {
  route: "getCustomer" | "listSegmentMembers";
  params: Record<string, string>;
  query?: Record<string, string>;
  /** Claims of the verified token; undefined for a request without one. */
  claims?: Record<string, unknown>;
}

const caller = (tenant: string, scope = `${PREFIX}/read`) => ({ scope, tenant });

function eventOf(call: Call): APIGatewayProxyEventV2 {
  const route = ROUTES.find((r) => r.id === call.route);
  if (!route) throw new Error(call.route);
  return {
    version: "2.0",
    routeKey: routeKey(route),
    rawPath: "/",
    rawQueryString: "",
    headers: {},
    isBase64Encoded: false,
    pathParameters: call.params,
    ...(call.query ? { queryStringParameters: call.query } : {}),
    requestContext: {
      requestId: "test",
      ...(call.claims ? { authorizer: { jwt: { claims: call.claims, scopes: null } } } : {}),
    },
  } as unknown as APIGatewayProxyEventV2;
}

async function answer(handler: Handler, call: Call): Promise<{ status: number; body: unknown }> {
  const res = (await handler(eventOf(call), {} as Context)) as APIGatewayProxyStructuredResultV2;
  return { status: res.statusCode ?? 0, body: res.body ? JSON.parse(res.body) : undefined };
}

/**
 * The body a successful call must answer, worked out with the document-client store: the customer's
 * committed view in the customer answer, or the member page that store reads at the committed version from
 * where the call's cursor says.
 */
async function expectedBody(call: Call): Promise<unknown> {
  const tenantId = call.claims?.tenant as string;
  const { datasetId } = call.params as { datasetId: string };
  if (call.route === "getCustomer") {
    const customerId = call.params.customerId as string;
    const { meta, view } = await store.getCustomer(tenantId, datasetId, customerId);
    if (!meta?.current || !view) return undefined;
    return customerAnswer(datasetId, customerId, meta.current, view);
  }
  const segmentId = call.params.segmentId as string;
  const current = (await store.getDataset(tenantId, datasetId))?.current;
  const segment = current?.segments.find((s) => s.id === segmentId);
  if (!current || !segment) return undefined;
  const scope = `members|${tenantId}|${datasetId}|${segmentId}`;
  const after = call.query?.cursor
    ? (cursors.decode(scope, call.query.cursor) as { after: string }).after
    : undefined;
  const limit = Number(call.query?.limit ?? 100);
  const bytes = (id: string) => Buffer.from(id, "utf8");
  const outputs = decodeOutputs(
    (await blobs.get(objectKeys.outputs(tenantId, datasetId, current.version))) as Uint8Array,
  );
  const members = [...outputs]
    .filter(([, view]) => (JSON.parse(view) as { segments: string[] }).segments.includes(segmentId))
    .map(([id]) => id)
    .sort((a, b) => Buffer.compare(bytes(a), bytes(b)))
    .filter((id) => after === undefined || Buffer.compare(bytes(id), bytes(after)) > 0);
  const items = members.slice(0, limit);
  return {
    datasetId,
    segmentId,
    version: current.version,
    size: segment.size,
    customerIds: items,
    nextCursor: members.length > limit ? { v: current.version, after: items.at(-1) } : null,
  };
}

/**
 * The lookup function's answer, after checking it: a success is what the table holds (expectedBody; a
 * cursor is compared by the position it decodes to), a refusal an error with a code, a message and details.
 */
async function checked(call: Call): Promise<{ status: number; body: unknown }> {
  const got = await answer(call.route === "getCustomer" ? lookup : read, call);
  if (got.status === 200) {
    const body = got.body as Record<string, unknown>;
    const cursor = body.nextCursor;
    const scope = `members|${call.claims?.tenant}|${call.params.datasetId}|${call.params.segmentId}`;
    const seen = typeof cursor === "string" ? { ...body, nextCursor: cursors.decode(scope, cursor) } : body;
    expect(seen, JSON.stringify(call)).toEqual(await expectedBody(call));
  } else {
    expect(got.body, JSON.stringify(call)).toEqual({
      error: { code: expect.any(String), message: expect.any(String), details: expect.any(Array) },
    });
  }
  return got;
}

const codeOf = (body: unknown) => (body as { error?: { code?: string } }).error?.code;

beforeAll(async () => {
  const clients = testClients();
  doc = DynamoDBDocumentClient.from(clients.dynamo, { marshallOptions: { removeUndefinedValues: true } });
  table = await createTestTable(clients.dynamo, uniqueName("lookup"));
  const bucket = await createTestBucket(clients.s3, uniqueName("lookup"));
  store = new DynamoDatasetStore(doc, table);
  blobs = new S3BlobStore(clients.s3, bucket);

  // The shop dataset of both tenants, computed; a dataset without a run.
  for (const tenantId of [TENANT, OTHER]) {
    await store.ensureDataset(tenantId, "shop", { asOf: "2025-10-01" });
    const key = `uploads/${tenantId}/shop/u1/transactions.csv`;
    const upload: UploadRecord = {
      tenantId,
      datasetId: "shop",
      uploadId: "u1",
      kind: "transactions",
      mode: "replace",
      format: "csv",
      compression: "auto",
      fileName: "transactions.csv",
      key,
      createdAt: new Date().toISOString(),
    };
    await store.putUpload(upload);
    await clients.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: readFileSync(FIXTURE) }));
    const outcome = await runUpload(
      { store, blobs },
      {
        tenantId,
        datasetId: "shop",
        uploadId: "u1",
        key,
        sequencer: "0000000000000001",
        eventTime: new Date().toISOString(),
      },
    );
    expect(outcome.outcome).toBe("succeeded");
  }
  await store.createDataset(TENANT, "fresh", {});

  // The function signs cursors with this key when CURSOR_SECRET is not set.
  cursors = new CursorCodec(`cursor:${table}`);

  // The environment the stack gives the function, aimed at DynamoDB Local.
  Object.assign(process.env, {
    TABLE_NAME: table,
    AWS_REGION: "us-east-1",
    AWS_ENDPOINT_URL_DYNAMODB: clients.endpoints.dynamodb,
    AWS_ACCESS_KEY_ID: S3_SERVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3_SERVER_CREDENTIALS.secretAccessKey,
    DEFAULT_TENANT: "demo",
    SCOPE_PREFIX: PREFIX,
    REQUIRE_TENANT_CLAIM: "false",
  });
  lookup = (await import("../../functions/lookup-api/handler")).handler as unknown as Handler;
  // The read function also reads the bucket (as the stack configures it: BUCKET_NAME, the S3 endpoint).
  Object.assign(process.env, { BUCKET_NAME: bucket, AWS_ENDPOINT_URL_S3: clients.endpoints.s3 });
  read = (await import("../../functions/read-api/handler")).handler as unknown as Handler;
  segments = (await store.getDataset(TENANT, "shop"))?.current?.segments ?? [];
});

describe("customer lookup", () => {
  const customers = ["C01", "C02", "C03", "C04", "C05", "C06", "C07", "C08", "C09", "C10"];

  it("gives every customer of the dataset their committed view", async () => {
    for (const customerId of customers) {
      const got = await checked({
        route: "getCustomer",
        params: { datasetId: "shop", customerId },
        claims: caller(TENANT),
      });
      expect(got.status, customerId).toBe(200);
    }
    // And the answer is the customer's (transactions.expected.md): C01 bought three times, 230.00 in all.
    const c01 = await answer(lookup, {
      route: "getCustomer",
      params: { datasetId: "shop", customerId: "C01" },
      claims: caller(TENANT),
    });
    expect(c01.body).toMatchObject({
      customerId: "C01",
      frequency: 3,
      monetary: 230,
      lastPurchase: "2025-09-20",
      recencyDays: 11,
    });
  });

  it("refuses unknown customer or dataset, no run yet, another tenant, scope, token, bad ids", async () => {
    const cases: Array<[Call, number, string]> = [
      [
        { route: "getCustomer", params: { datasetId: "shop", customerId: "C99" }, claims: caller(TENANT) },
        404,
        "CUSTOMER_NOT_FOUND",
      ],
      [
        { route: "getCustomer", params: { datasetId: "nope", customerId: "C01" }, claims: caller(TENANT) },
        404,
        "DATASET_NOT_FOUND",
      ],
      [
        { route: "getCustomer", params: { datasetId: "fresh", customerId: "C01" }, claims: caller(TENANT) },
        404,
        "DATASET_NOT_READY",
      ],
      // The other tenant has a "fresh" dataset of its own only under TENANT: it does not see TENANT's.
      [
        { route: "getCustomer", params: { datasetId: "fresh", customerId: "C01" }, claims: caller(OTHER) },
        404,
        "DATASET_NOT_FOUND",
      ],
      [
        {
          route: "getCustomer",
          params: { datasetId: "shop", customerId: "C01" },
          claims: caller(TENANT, `${PREFIX}/write`),
        },
        403,
        "FORBIDDEN",
      ],
      [
        {
          route: "getCustomer",
          params: { datasetId: "shop", customerId: "C01" },
          claims: { scope: `${PREFIX}/read`, tenant: "bad tenant" },
        },
        403,
        "INVALID_TENANT",
      ],
      [{ route: "getCustomer", params: { datasetId: "shop", customerId: "C01" } }, 401, "UNAUTHORIZED"],
      [
        { route: "getCustomer", params: { datasetId: "-bad", customerId: "C01" }, claims: caller(TENANT) },
        400,
        "VALIDATION_FAILED",
      ],
      [
        {
          route: "getCustomer",
          params: { datasetId: "shop", customerId: "x".repeat(129) },
          claims: caller(TENANT),
        },
        400,
        "VALIDATION_FAILED",
      ],
    ];
    for (const [call, status, code] of cases) {
      const got = await checked(call);
      expect([got.status, codeOf(got.body)], JSON.stringify(call)).toEqual([status, code]);
    }
  });

  it("a tenant reads its own copy of a dataset id another tenant also has", async () => {
    const call = (tenant: string): Call => ({
      route: "getCustomer",
      params: { datasetId: "shop", customerId: "C02" },
      claims: caller(tenant),
    });
    const mine = await checked(call(TENANT));
    const theirs = await checked(call(OTHER));
    expect([mine.status, theirs.status]).toEqual([200, 200]);
    expect((mine.body as { runId: string }).runId).not.toBe((theirs.body as { runId: string }).runId);
  });

  it("shows the committed value of a customer a newer, uncommitted run has rewritten", async () => {
    const call: Call = {
      route: "getCustomer",
      params: { datasetId: "shop", customerId: "C03" },
      claims: caller(TENANT),
    };
    const before = await checked(call);
    expect(before.status).toBe(200);
    const committed = before.body as { version: number; monetary: number };
    const key = { pk: customerPk(TENANT, "shop", "C03"), sk: CUSTOMER_SK };
    const stored = await doc.send(new GetCommand({ TableName: table, Key: key }));
    const view = stored.Item?.view as Record<string, unknown>;
    await doc.send(
      new PutCommand({
        TableName: table,
        Item: { ...key, v: committed.version + 1, view: { ...view, monetary: 999_999 }, prev: view },
      }),
    );
    const after = await checked(call);
    expect(after).toEqual(before);
  });
});

describe("member pages", () => {
  it("pages through every segment as the version's outputs hold it, cursors included", async () => {
    let pages = 0;
    for (const segment of segments) {
      const members: string[] = [];
      let cursor: string | undefined;
      do {
        const got = await checked({
          route: "listSegmentMembers",
          params: { datasetId: "shop", segmentId: segment.id },
          query: { limit: "2", ...(cursor ? { cursor } : {}) },
          claims: caller(TENANT),
        });
        expect(got.status).toBe(200);
        const body = got.body as { customerIds: string[]; nextCursor: string | null };
        members.push(...body.customerIds);
        cursor = body.nextCursor ?? undefined;
        pages++;
      } while (cursor);
      expect(members.length, segment.id).toBe(segment.size);
    }
    expect(pages).toBeGreaterThan(segments.length);
  });

  it("refuses bad limits and cursors, unknown segment, another tenant, scope", async () => {
    // Two segments with more than one member, so the first has a cursor to misuse on the second.
    const [one, two] = segments.filter((s) => s.size > 1).map((s) => s.id);
    if (!one || !two) throw new Error("the fixture should have two segments with several members");
    const first = await answer(read, {
      route: "listSegmentMembers",
      params: { datasetId: "shop", segmentId: one },
      query: { limit: "1" },
      claims: caller(TENANT),
    });
    const cursor = (first.body as { nextCursor: string | null }).nextCursor;
    if (!cursor) throw new Error(`${one} should have a second page`);
    const members = (query: Record<string, string>, claims = caller(TENANT), segmentId = one): Call => ({
      route: "listSegmentMembers",
      params: { datasetId: "shop", segmentId },
      query,
      claims,
    });
    const cases: Array<[Call, number, string]> = [
      [members({ limit: "0" }), 400, "VALIDATION_FAILED"],
      [members({ limit: "abc" }), 400, "VALIDATION_FAILED"],
      [members({ limit: "1.5" }), 400, "VALIDATION_FAILED"],
      [members({ limit: "5000" }), 400, "VALIDATION_FAILED"],
      [members({ cursor: "x".repeat(3000) }), 400, "VALIDATION_FAILED"],
      [members({ cursor: `${cursor}x` }), 400, "BAD_CURSOR"],
      // A cursor of one segment's query does not page another's.
      [members({ cursor }, caller(TENANT), two), 400, "BAD_CURSOR"],
      // Nor another tenant's.
      [members({ cursor }, caller(OTHER)), 400, "BAD_CURSOR"],
      [members({}, caller(TENANT), "rfm:nope"), 404, "SEGMENT_NOT_FOUND"],
      [members({}, caller(TENANT), "nope"), 400, "VALIDATION_FAILED"],
      [members({}, caller(TENANT, `${PREFIX}/admin`)), 403, "FORBIDDEN"],
      [{ ...members({}), params: { datasetId: "fresh", segmentId: one } }, 404, "DATASET_NOT_READY"],
      [
        { ...members({}, caller(OTHER)), params: { datasetId: "fresh", segmentId: one } },
        404,
        "DATASET_NOT_FOUND",
      ],
    ];
    for (const [call, status, code] of cases) {
      const got = await checked(call);
      expect([got.status, codeOf(got.body)], JSON.stringify(call)).toEqual([status, code]);
    }
  });
});

describe("a warm lookup function and a new commit", () => {
  it("answers from the new version at the first request after the commit", async () => {
    // The function has read this dataset's version before (and keeps it parsed).
    const call: Call = {
      route: "getCustomer",
      params: { datasetId: "shop", customerId: "C04" },
      claims: caller(OTHER),
    };
    const first = await checked(call);
    expect(first.status).toBe(200);
    const before = first.body as { version: number; runId: string; monetary: number };
    const members: Call = {
      route: "listSegmentMembers",
      params: { datasetId: "shop", segmentId: segments[0]?.id ?? "rfm:champions" },
      query: { limit: "1" },
      claims: caller(OTHER),
    };
    expect((await checked(members)).status).toBe(200);

    // A run rewrites the customer for the next version; until it commits, readers see the committed one.
    const key = { pk: customerPk(OTHER, "shop", "C04"), sk: CUSTOMER_SK };
    const stored = await doc.send(new GetCommand({ TableName: table, Key: key }));
    const view = stored.Item?.view as Record<string, unknown>;
    const next = before.version + 1;
    await doc.send(
      new PutCommand({
        TableName: table,
        Item: { ...key, v: next, view: { ...view, monetary: 4242 }, prev: view },
      }),
    );
    expect(await checked(call)).toMatchObject({
      status: 200,
      body: { version: before.version, monetary: before.monetary },
    });

    // The run wrote the next version's member pages (the same members: only C04's spend changed).
    for (const from of await blobs.list(`state/${OTHER}/shop/v${before.version}/members/`)) {
      const body = (await blobs.get(from)) as Uint8Array;
      const to = from.replace(`/v${before.version}/`, `/v${next}/`);
      await blobs.put(
        to,
        to.endsWith("index.json")
          ? JSON.stringify({ ...JSON.parse(Buffer.from(body).toString()), version: next })
          : body,
        "application/octet-stream",
      );
    }
    await blobs.put(
      objectKeys.outputs(OTHER, "shop", next),
      (await blobs.get(objectKeys.outputs(OTHER, "shop", before.version))) as Uint8Array,
      "application/gzip",
    );

    // The commit switches META's current version (and its run), as DynamoDatasetStore.commit does.
    await doc.send(
      new UpdateCommand({
        TableName: table,
        Key: { pk: datasetPk(OTHER, "shop"), sk: META_SK },
        UpdateExpression: "SET #current.#version = :v, #current.runId = :run",
        ExpressionAttributeNames: { "#current": "current", "#version": "version" },
        ExpressionAttributeValues: { ":v": next, ":run": "r-next" },
      }),
    );
    expect(await checked(call)).toMatchObject({
      status: 200,
      body: { version: next, runId: "r-next", monetary: 4242 },
    });
    expect(await checked(members)).toMatchObject({ status: 200, body: { version: next } });
  });
});
