/**
 * The destination routes against real servers (DynamoDB Local, the S3 server) and the file secret store:
 * the webhook secret is made, kept out of the table and shown by the create answer only; bad input answers
 * 4xx with a code and the field at fault (URL refused by the SSRF guard, unknown segment, kind/config
 * mismatch, bucket name, the 20-destination limit); rotation keeps the previous secret for 24 hours and a
 * second rotation deletes it; enable clears a disabled destination and wakes its delivery; the admin listing
 * pages the outbox and attempts; delete removes secrets, outbox entries and their payload objects.
 */
import { mkdtemp, readdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ScanCommand } from "@aws-sdk/lib-dynamodb";
import { beforeAll, describe, expect, it } from "vitest";
import { destinationRoutes } from "../../shared/api/destinations";
import { parseConfig } from "../../shared/config";
import type { DestinationRef, MembershipChangedPayload } from "../../shared/destinations/model";
import { planDeliveries } from "../../shared/destinations/plan";
import { AppError } from "../../shared/errors";
import type { ApiRequest, ApiResult } from "../../shared/http/api";
import { CursorCodec } from "../../shared/http/cursor";
import type { RouteId } from "../../shared/routes";
import { DynamoDestinationStore } from "../../shared/store/destinations";
import { DynamoDatasetStore } from "../../shared/store/dynamo";
import { S3MemberPages } from "../../shared/store/member-pages";
import { S3BlobStore } from "../../shared/store/s3";
import { FileSecretStore } from "../../shared/store/secrets";
import { createTestBucket, createTestTable, type TestClients, testClients, uniqueName } from "../support/aws";

const T = "t";
const NOW = new Date("2026-03-01T10:00:00.000Z");

let clients: TestClients;
let table: string;
let secretsDir: string;
let store: DynamoDatasetStore;
let destinations: DynamoDestinationStore;
let blobs: S3BlobStore;
let call: (route: RouteId, req: Partial<ApiRequest>) => Promise<ApiResult>;
const woken: DestinationRef[] = [];

beforeAll(async () => {
  clients = testClients();
  table = await createTestTable(clients.dynamo, uniqueName("dst-api"));
  const bucket = await createTestBucket(clients.s3, uniqueName("dst-api"));
  secretsDir = join(await mkdtemp(join(tmpdir(), "dst-api-")), "secrets");
  store = new DynamoDatasetStore(clients.doc, table);
  destinations = new DynamoDestinationStore(clients.doc, table);
  blobs = new S3BlobStore(clients.s3, bucket);
  const routes = destinationRoutes({
    store,
    destinations,
    secrets: new FileSecretStore(secretsDir),
    deliveryQueue: { notify: async (ref) => void woken.push(ref) },
    blobs,
    cursors: new CursorCodec("dst-api"),
    allowLoopbackWebhooks: false,
    // Host names resolve as these tests say; IP literals are not resolved at all.
    resolve: async (host) =>
      host === "hooks.example.com"
        ? [{ address: "93.184.216.34", family: 4 }]
        : host === "internal.example.com"
          ? [
              { address: "93.184.216.34", family: 4 },
              { address: "10.1.2.3", family: 4 },
            ]
          : [],
    now: () => NOW,
  });
  call = (route, req) => {
    const handle = routes[route];
    if (!handle) throw new Error(`no route ${route}`);
    return handle({
      routeId: route,
      params: {},
      query: {},
      body: undefined,
      tenantId: T,
      requestId: "r",
      ...req,
    });
  };
  await store.createDataset(T, "shop", {});
  await store.createDataset(T, "full", {});
});

const webhookBody = (url = "https://hooks.example.com/segments") => ({
  name: "CRM",
  kind: "webhook",
  segments: ["rfm:champions", "lifecycle:active"],
  webhook: { url },
});

async function refused(promise: Promise<ApiResult>) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  const e = error as AppError;
  return { status: e.status, code: e.code, details: e.details };
}

async function secretFiles(): Promise<string[]> {
  return (await readdir(secretsDir).catch(() => [])).sort();
}

describe("create and read", () => {
  it("answers the signing secret once, keeps it in the secret store only, and never shows it again", async () => {
    const created = await call("createDestination", { params: { datasetId: "shop" }, body: webhookBody() });
    expect(created.status).toBe(201);
    const body = created.body as { destinationId: string; secret: string; webhook: Record<string, unknown> };
    expect(body.destinationId).toMatch(/^dst_[a-z2-7]{20}$/);
    expect(body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(body.secret.slice("whsec_".length), "base64")).toHaveLength(32);
    expect(body.webhook).toEqual({ url: "https://hooks.example.com/segments" });
    expect(body).toMatchObject({ status: "enabled", includeOptedOut: false, consecutiveFailures: 0 });

    // The secret is in exactly one file of the secret store, and nowhere in the table.
    const files = await secretFiles();
    const holding = [];
    for (const f of files) if ((await readFile(join(secretsDir, f), "utf8")) === body.secret) holding.push(f);
    expect(holding).toHaveLength(1);
    const items = await clients.doc.send(new ScanCommand({ TableName: table }));
    expect(JSON.stringify(items.Items)).not.toContain(body.secret);

    const read = await call("getDestination", {
      params: { datasetId: "shop", destinationId: body.destinationId },
    });
    expect(JSON.stringify(read.body)).not.toContain(body.secret);
    expect(JSON.stringify(read.body)).not.toContain("secretRef");
    expect(read.body).toEqual({ ...body, secret: undefined, webhook: body.webhook });
    const list = await call("listDestinations", { params: { datasetId: "shop" } });
    expect((list.body as { destinations: unknown[] }).destinations).toContainEqual(read.body);
  });

  it("creates s3 and audience destinations without a secret, the prefix ending in '/'", async () => {
    const before = await secretFiles();
    const s3 = await call("createDestination", {
      params: { datasetId: "shop" },
      body: {
        name: "Warehouse",
        kind: "s3",
        segments: ["rfm:loyal"],
        s3: { bucket: "warehouse-in", prefix: "crm" },
      },
    });
    expect(s3.body).toMatchObject({
      kind: "s3",
      s3: { bucket: "warehouse-in", prefix: "crm/", format: "csv" },
    });
    expect(s3.body).not.toHaveProperty("secret");
    const audience = await call("createDestination", {
      params: { datasetId: "shop" },
      body: {
        name: "Ads",
        kind: "audience",
        segments: ["rfm:champions"],
        includeOptedOut: false,
        audience: { platform: "meta", bucket: "ads-out", expectedBucketOwner: "123456789012" },
      },
    });
    expect(audience.body).toMatchObject({
      audience: { platform: "meta", bucket: "ads-out", prefix: "", expectedBucketOwner: "123456789012" },
    });
    expect(await secretFiles()).toEqual(before);
  });
});

describe("bad input", () => {
  it("refuses webhook URLs the SSRF guard refuses, naming the field", async () => {
    const before = await secretFiles();
    for (const url of [
      "http://hooks.example.com/segments", // not https outside the local service
      "https://169.254.169.254/latest/meta-data/",
      "https://127.0.0.1/hook",
      "https://[::ffff:10.0.0.1]/hook",
      "https://internal.example.com/hook", // one of its addresses is private
      "https://nowhere.example.com/hook", // does not resolve
      "not a url",
    ]) {
      const e = await refused(
        call("createDestination", { params: { datasetId: "shop" }, body: webhookBody(url) }),
      );
      expect(e, url).toMatchObject({ status: 400, code: "DESTINATION_URL_NOT_ALLOWED" });
      expect(e.details[0]?.path, url).toBe("body.webhook.url");
    }
    // Nothing was made for any of them.
    expect(await secretFiles()).toEqual(before);
  });

  it("refuses a segment the dataset does not have, naming its position", async () => {
    await store.putDefinition(T, "shop", {
      segmentId: "rule:big",
      name: "Big",
      rule: { field: "monetary", op: "gte", value: 1 },
      createdAt: NOW.toISOString(),
      updatedAt: NOW.toISOString(),
    });
    const ok = await call("createDestination", {
      params: { datasetId: "shop" },
      body: { ...webhookBody(), segments: ["rule:big", "lifecycle:lapsed"] },
    });
    expect(ok.status).toBe(201);
    const e = await refused(
      call("createDestination", {
        params: { datasetId: "shop" },
        body: { ...webhookBody(), segments: ["rfm:champions", "rule:nope", "cluster:c9"] },
      }),
    );
    expect(e).toMatchObject({ status: 400, code: "UNKNOWN_SEGMENT" });
    expect(e.details.map((d) => d.path)).toEqual(["body.segments.1", "body.segments.2"]);
  });

  it("answers VALIDATION_FAILED with the field for malformed bodies", async () => {
    const cases: Array<[unknown, string]> = [
      [{ ...webhookBody(), webhook: undefined }, "body.webhook"],
      [{ ...webhookBody(), s3: { bucket: "abc" } }, "body.s3"],
      [{ ...webhookBody(), segments: [] }, "body.segments"],
      [{ ...webhookBody(), segments: ["rfm:champions", "rfm:champions"] }, "body.segments"],
      [{ ...webhookBody(), segments: Array.from({ length: 51 }, (_, i) => `rule:r${i}`) }, "body.segments"],
      [{ ...webhookBody(), segments: ["vip"] }, "body.segments.0"],
      [{ name: "x", kind: "s3", segments: ["rfm:loyal"], s3: { bucket: "Bad_Bucket" } }, "body.s3.bucket"],
      [
        { name: "x", kind: "s3", segments: ["rfm:loyal"], s3: { bucket: "ok-bucket", prefix: "a/../b" } },
        "body.s3.prefix",
      ],
      [{ ...webhookBody(), extra: 1 }, "body"],
      [{ ...webhookBody(), kind: "email" }, "body.kind"],
    ];
    for (const [body, path] of cases) {
      const e = await refused(call("createDestination", { params: { datasetId: "shop" }, body }));
      expect(e.code, JSON.stringify(body).slice(0, 80)).toBe("VALIDATION_FAILED");
      expect(
        e.details.map((d) => d.path),
        JSON.stringify(body).slice(0, 80),
      ).toContain(path);
    }
    const missing = await refused(
      call("createDestination", { params: { datasetId: "nope" }, body: webhookBody() }),
    );
    expect(missing).toMatchObject({ status: 404, code: "DATASET_NOT_FOUND" });
    const unknown = await refused(
      call("getDestination", { params: { datasetId: "shop", destinationId: "dst_aaaaaaaaaaaaaaaaaaaa" } }),
    );
    expect(unknown).toMatchObject({ status: 404, code: "DESTINATION_NOT_FOUND" });
  });

  it("refuses s3 and audience buckets the deployment does not name, naming the field; none named refuses both kinds", async () => {
    await store.createDataset(T, "buckets", {});
    // As in AWS: the write function's DESTINATION_BUCKETS, parsed as the runtime parses it.
    const deployed = (setting: string) => {
      const destinationBuckets = parseConfig({
        TABLE_NAME: "t",
        BUCKET_NAME: "b",
        DESTINATION_BUCKETS: setting,
      }).DESTINATION_BUCKETS;
      const routes = destinationRoutes({
        store,
        destinations,
        secrets: new FileSecretStore(secretsDir),
        deliveryQueue: { notify: async () => {} },
        blobs,
        cursors: new CursorCodec("dst-api"),
        allowLoopbackWebhooks: false,
        resolve: async () => [{ address: "93.184.216.34", family: 4 }],
        now: () => NOW,
        destinationBuckets,
      });
      return (route: RouteId, req: Partial<ApiRequest>) =>
        (routes[route] as NonNullable<(typeof routes)[RouteId]>)({
          routeId: route,
          params: { datasetId: "buckets" },
          query: {},
          body: undefined,
          tenantId: T,
          requestId: "r",
          ...req,
        });
    };
    const s3 = (bucket: string) => ({ name: "W", kind: "s3", segments: ["rfm:loyal"], s3: { bucket } });
    const audience = (bucket: string) => ({
      name: "A",
      kind: "audience",
      segments: ["rfm:loyal"],
      audience: { platform: "google", bucket },
    });

    const named = deployed(" crm-exports , ads-out ");
    const made = await named("createDestination", { body: s3("crm-exports") });
    expect(made.status).toBe(201);
    expect((await named("createDestination", { body: audience("ads-out") })).status).toBe(201);
    // A webhook names no bucket and is not affected.
    expect((await named("createDestination", { body: webhookBody() })).status).toBe(201);
    for (const [body, path] of [
      [s3("warehouse-in"), "body.s3.bucket"],
      [audience("crm-exports-2"), "body.audience.bucket"],
    ] as const) {
      const e = await refused(named("createDestination", { body }));
      expect(e, path).toMatchObject({ status: 400, code: "DESTINATION_BUCKET_NOT_ALLOWED" });
      expect(e.details.map((d) => d.path)).toEqual([path]);
    }
    // Nor may a replace move a destination to another bucket.
    const destinationId = (made.body as { destinationId: string }).destinationId;
    const moved = await refused(
      named("putDestination", { params: { datasetId: "buckets", destinationId }, body: s3("warehouse-in") }),
    );
    expect(moved).toMatchObject({ status: 400, code: "DESTINATION_BUCKET_NOT_ALLOWED" });
    expect(
      (await destinations.getDestination({ tenantId: T, datasetId: "buckets", destinationId }))?.s3?.bucket,
    ).toBe("crm-exports");

    const none = deployed("");
    for (const body of [s3("crm-exports"), audience("ads-out")]) {
      const e = await refused(none("createDestination", { body }));
      expect(e).toMatchObject({ status: 400, code: "DESTINATION_BUCKET_NOT_ALLOWED" });
      expect(e.details[0]?.message).toMatch(/names no destination buckets/);
    }
    // Unset (the local service): any bucket.
    expect(parseConfig({ TABLE_NAME: "t", BUCKET_NAME: "b" }).DESTINATION_BUCKETS).toBeUndefined();
  });

  it("holds at most 20 destinations per dataset and deletes the secret of a refused one", async () => {
    for (let i = 0; i < 20; i++) {
      const made = await call("createDestination", {
        params: { datasetId: "full" },
        body: { name: `d${i}`, kind: "s3", segments: ["rfm:loyal"], s3: { bucket: "warehouse-in" } },
      });
      expect(made.status).toBe(201);
    }
    const before = await secretFiles();
    const e = await refused(
      call("createDestination", { params: { datasetId: "full" }, body: webhookBody() }),
    );
    expect(e).toMatchObject({ status: 409, code: "TOO_MANY_DESTINATIONS" });
    expect(await secretFiles()).toEqual(before);
  });
});

describe("lifecycle", () => {
  it("replaces, rotates, re-enables, lists deliveries and deletes everything it stored", async () => {
    const created = await call("createDestination", { params: { datasetId: "shop" }, body: webhookBody() });
    const { destinationId, secret: first } = created.body as { destinationId: string; secret: string };
    const params = { datasetId: "shop", destinationId };
    const ref = { tenantId: T, ...params };

    // PUT: a new URL and segments, the secret kept; the kind cannot change.
    const put = await call("putDestination", {
      params,
      body: { ...webhookBody("https://hooks.example.com/v2"), name: "CRM v2", segments: ["rfm:champions"] },
    });
    expect(put.body).toMatchObject({
      name: "CRM v2",
      segments: ["rfm:champions"],
      webhook: { url: "https://hooks.example.com/v2" },
    });
    const kind = await refused(
      call("putDestination", {
        params,
        body: { name: "x", kind: "s3", segments: ["rfm:loyal"], s3: { bucket: "abc" } },
      }),
    );
    expect(kind).toMatchObject({ status: 400, code: "DESTINATION_KIND_CHANGED" });
    const firstRef = (await destinations.getDestination(ref))?.webhook?.secretRef ?? "";
    expect(await readFile(join(secretsDir, firstRef), "utf8")).toBe(first);

    // Rotate: a new secret, shown once; the previous one kept for 24 hours.
    const rotated = await call("rotateDestinationSecret", { params });
    const second = (rotated.body as { secret: string }).secret;
    expect(second).toMatch(/^whsec_/);
    expect(second).not.toBe(first);
    expect(rotated.body).toMatchObject({
      webhook: { rotatedAt: NOW.toISOString(), previousSecretUntil: "2026-03-02T10:00:00.000Z" },
    });
    const afterOne = await destinations.getDestination(ref);
    expect(afterOne?.webhook?.previousSecretRef).toBe(firstRef);
    expect(await readFile(join(secretsDir, afterOne?.webhook?.secretRef ?? ""), "utf8")).toBe(second);
    // A second rotation ends the first secret's grace: its file is gone.
    await call("rotateDestinationSecret", { params });
    expect(await secretFiles()).not.toContain(firstRef);
    const afterTwo = await destinations.getDestination(ref);
    expect(afterTwo?.webhook?.previousSecretRef).toBe(afterOne?.webhook?.secretRef);

    // Enable: a disabled destination is enabled, its failures cleared, its worker woken.
    await destinations.updateDestinationState(ref, {
      status: "disabled",
      disabledReason: "7 attempts over 24 h failed",
      disabledAt: NOW.toISOString(),
      consecutiveFailures: 7,
    });
    woken.length = 0;
    const enabled = await call("enableDestination", { params });
    expect(enabled.body).toMatchObject({ status: "enabled", consecutiveFailures: 0 });
    expect(enabled.body).not.toHaveProperty("disabledReason");
    expect(woken).toEqual([ref]);

    // Deliveries: three runs planned; the admin listing pages them newest first.
    for (let v = 1; v <= 3; v++) {
      await planDeliveries(
        { destinations, blobs, members: new S3MemberPages(blobs), now: () => NOW },
        {
          run: {
            tenantId: T,
            datasetId: "shop",
            runId: `run-${v}`,
            trigger: "upload",
            status: "succeeded",
            startedAt: NOW.toISOString(),
            attempts: 1,
            version: v,
            asOf: "2026-02-28",
          },
          memberships: [{ segmentId: "rfm:champions", customerId: `c${v}`, member: true, previous: false }],
          contacts: { optedOut: () => false, email: () => undefined, phone: () => undefined },
        },
      );
    }
    await destinations.appendAttempt(ref, {
      at: NOW.toISOString(),
      webhookId: "msg_x",
      seq: 1,
      attempt: 1,
      statusCode: 500,
      latencyMs: 12,
      outcome: "retry",
      error: "HTTP 500",
    });
    const page1 = await call("listDestinationDeliveries", { params, query: { limit: "2" } });
    const b1 = page1.body as {
      deliveries: Array<{ runId: string }>;
      nextCursor: string | null;
      attempts: unknown[];
    };
    expect(b1.deliveries.map((d) => d.runId)).toEqual(["run-3", "run-2"]);
    expect(b1.attempts).toHaveLength(1);
    expect(JSON.stringify(b1)).not.toContain("payloadKey");
    const page2 = await call("listDestinationDeliveries", {
      params,
      query: { limit: "2", cursor: b1.nextCursor ?? "" },
    });
    const b2 = page2.body as { deliveries: Array<{ runId: string }>; nextCursor: string | null };
    expect(b2.deliveries.map((d) => d.runId)).toEqual(["run-1"]);
    expect(b2.nextCursor).toBeNull();
    const bad = await refused(
      call("listDestinationDeliveries", { params, query: { cursor: `${b1.nextCursor ?? ""}x` } }),
    );
    expect(bad).toMatchObject({ status: 400, code: "BAD_CURSOR" });

    // The payload objects exist until the destination is deleted.
    const pending = await destinations.listPendingDeliveries(ref, 10);
    expect(pending).toHaveLength(3);
    const body = JSON.parse(
      Buffer.from((await blobs.get(pending[0]?.payloadKey ?? "")) ?? []).toString("utf8"),
    ) as MembershipChangedPayload;
    expect(body.data.entered).toEqual(["c1"]);

    const refs = [afterTwo?.webhook?.secretRef, afterTwo?.webhook?.previousSecretRef];
    const deleted = await call("deleteDestination", { params });
    expect(deleted.status).toBe(204);
    for (const p of pending) expect(await blobs.get(p.payloadKey)).toBeUndefined();
    for (const r of refs) expect(await secretFiles()).not.toContain(r);
    const left = await clients.doc.send(new ScanCommand({ TableName: table }));
    expect(JSON.stringify(left.Items)).not.toContain(destinationId);
    expect(await refused(call("getDestination", { params }))).toMatchObject({
      code: "DESTINATION_NOT_FOUND",
    });
    expect(await refused(call("deleteDestination", { params }))).toMatchObject({
      code: "DESTINATION_NOT_FOUND",
    });
  });

  it("rotates only webhooks", async () => {
    const s3 = await call("createDestination", {
      params: { datasetId: "shop" },
      body: { name: "Files", kind: "s3", segments: ["rfm:loyal"], s3: { bucket: "warehouse-in" } },
    });
    const destinationId = (s3.body as { destinationId: string }).destinationId;
    const e = await refused(
      call("rotateDestinationSecret", { params: { datasetId: "shop", destinationId } }),
    );
    expect(e).toMatchObject({ status: 409, code: "NOT_A_WEBHOOK" });
  });
});
