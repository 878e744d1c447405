/**
 * Pinpoint imports through the pipeline against real servers (DynamoDB Local and the S3 server): a file that
 * is not an export, or whose endpoints carry no user id, fails its run with its own code and leaves the
 * served version as it was; an imported customer's consent and contacts reach the version's contacts
 * object; erasing them rewrites the export without their lines and leaves no object holding their id or
 * address.
 */
import { gunzipSync, gzipSync } from "node:zlib";
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { beforeAll, describe, expect, it } from "vitest";
import { datasetRoutes } from "../../shared/api/datasets";
import { loadContacts } from "../../shared/destinations/contacts";
import { CursorCodec } from "../../shared/http/cursor";
import type { UploadRecord } from "../../shared/model";
import { runErasure } from "../../shared/pipeline/erase";
import type { ServiceEvent } from "../../shared/pipeline/ports";
import { runUpload, type UploadEvent } from "../../shared/pipeline/run";
import { DynamoDatasetStore } from "../../shared/store/dynamo";
import { S3BlobStore } from "../../shared/store/s3";
import { createTestBucket, createTestTable, testClients, uniqueName } from "../support/aws";

const T = "t";
const GONE = "pp-Erase-Canary-77";

let bucket: string;
let s3: S3Client;
let store: DynamoDatasetStore;
let blobs: S3BlobStore;

beforeAll(async () => {
  const clients = testClients();
  s3 = clients.s3;
  const table = await createTestTable(clients.dynamo, uniqueName("pinpoint"));
  bucket = await createTestBucket(clients.s3, uniqueName("pinpoint"));
  store = new DynamoDatasetStore(DynamoDBDocumentClient.from(clients.dynamo), table);
  blobs = new S3BlobStore(clients.s3, bucket);
});

let sequence = 0;
async function stage(
  datasetId: string,
  body: Uint8Array | string,
  upload: Pick<UploadRecord, "kind" | "format">,
): Promise<UploadEvent> {
  const uploadId = `u${++sequence}`;
  const key = `uploads/${T}/${datasetId}/${uploadId}/file`;
  await store.putUpload({
    tenantId: T,
    datasetId,
    uploadId,
    mode: "append",
    compression: "auto",
    fileName: "file",
    key,
    createdAt: new Date().toISOString(),
    ...upload,
  });
  const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  return {
    tenantId: T,
    datasetId,
    uploadId,
    key,
    sequencer: String(++sequence).padStart(16, "0"),
    eventTime: new Date().toISOString(),
    eTag: String(put.ETag).replace(/"/g, ""),
  };
}

async function text(key: string): Promise<string> {
  const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const bytes = Buffer.from((await out.Body?.transformToByteArray()) ?? new Uint8Array());
  return (bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes).toString("utf8");
}

async function keysOf(datasetId: string): Promise<string[]> {
  const keys: string[] = [];
  for (const prefix of ["uploads", "state", "exports", "reports"]) {
    const out = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/${T}/${datasetId}/` }),
    );
    for (const o of out.Contents ?? []) if (o.Key) keys.push(o.Key);
  }
  return keys;
}

const ORDERS = [
  "customer_id,order_id,order_date,amount",
  "A,O1,2025-06-01,10.00",
  "B,O2,2025-07-01,20.00",
  `${GONE},O3,2025-08-01,30.00`,
  "",
].join("\n");

const EXPORT = [
  '{"Id":"a-email","ChannelType":"EMAIL","Address":"a@example.com","User":{"UserId":"A"}}',
  '{"Id":"b-sms","ChannelType":"SMS","Address":"+15550002","OptOut":"ALL","User":{"UserId":"B"}}',
  `{"Id":"g-email","ChannelType":"EMAIL","Address":"gone.address@example.com","User":{"UserId":"${GONE}"}}`,
  `{"Id":"g-sms","ChannelType":"SMS","Address":"+15550999","OptOut":"ALL","User":{"UserId":" ${GONE}"}}`,
  '{"Id":"anon","ChannelType":"EMAIL","Address":"anon@example.com"}',
  "",
].join("\n");

describe("a Pinpoint import's run", () => {
  const ds = "pp";

  it("fails NOT_PINPOINT_EXPORT or NO_USER_IDS for a file it cannot use, and the served version stays", async () => {
    await store.ensureDataset(T, ds, { asOf: "2025-10-01" });
    const orders = await runUpload(
      { store, blobs },
      await stage(ds, ORDERS, { kind: "transactions", format: "csv" }),
    );
    expect(orders.outcome).toBe("succeeded");
    const customersFile = '{"customer_id":"A","email":"a@example.com"}\n';
    const notExport = await runUpload(
      { store, blobs },
      await stage(ds, customersFile, { kind: "pinpoint-endpoints", format: "ndjson" }),
    );
    expect(notExport.outcome).toBe("failed");
    if (notExport.outcome === "failed") expect(notExport.run.error?.code).toBe("NOT_PINPOINT_EXPORT");
    const anonymous = '{"Id":"x","ChannelType":"EMAIL","Address":"x@example.com","User":{}}\n';
    const noIds = await runUpload(
      { store, blobs },
      await stage(ds, anonymous, { kind: "pinpoint-endpoints", format: "ndjson" }),
    );
    expect(noIds.outcome).toBe("failed");
    if (noIds.outcome === "failed") {
      expect(noIds.run.error?.code).toBe("NO_USER_IDS");
      expect(noIds.run.counts).toMatchObject({ endpoints: 1, endpointsWithoutUserId: 1, rowsAccepted: 0 });
    }
    expect((await store.getDataset(T, ds))?.current?.version).toBe(1);
  });

  it("puts the imported consent and contacts in the version's contacts object, and erasure removes them", async () => {
    const imported = await runUpload(
      { store, blobs },
      await stage(ds, gzipSync(EXPORT), { kind: "pinpoint-endpoints", format: "ndjson" }),
    );
    expect(imported.outcome).toBe("succeeded");
    if (imported.outcome !== "succeeded") return;
    expect(imported.run.counts).toMatchObject({ endpoints: 5, endpointsWithoutUserId: 1, endpointUsers: 3 });
    const version = imported.run.version as number;
    const contacts = await loadContacts(blobs, T, ds, version, {});
    expect([contacts.email("A"), contacts.optedOut("A")]).toEqual(["a@example.com", false]);
    expect([contacts.phone("B"), contacts.optedOut("B")]).toEqual(["+15550002", true]);
    expect([contacts.email(GONE), contacts.phone(GONE), contacts.optedOut(GONE)]).toEqual([
      "gone.address@example.com",
      "+15550999",
      true,
    ]);

    const events: ServiceEvent[] = [];
    const routes = datasetRoutes({
      store,
      blobs,
      cursors: new CursorCodec("pinpoint-test"),
      events: { publish: async (e: ServiceEvent[]) => void events.push(...e) },
    });
    const answer = await routes.eraseCustomer?.({
      routeId: "eraseCustomer",
      params: { datasetId: ds, customerId: GONE },
      query: {},
      body: undefined,
      tenantId: T,
      requestId: "r",
    });
    expect(answer?.status).toBe(202);
    const detail = events[0]?.detail as { tenantId: string; datasetId: string; erasureId: string };
    const erased = await runErasure({ store, blobs }, { ...detail, eventTime: new Date().toISOString() });
    expect(erased.outcome).toBe("completed");
    if (erased.outcome !== "completed") return;

    const after = await loadContacts(blobs, T, ds, erased.run.version as number, {});
    expect([after.email(GONE), after.phone(GONE), after.optedOut(GONE)]).toEqual([
      undefined,
      undefined,
      false,
    ]);
    expect(after.optedOut("B")).toBe(true);
    // The export keeps every line but the customer's two (one with its id padded by a space).
    const lines = EXPORT.split("\n").filter((l) => l !== "");
    const rewritten = (await text(`uploads/${T}/${ds}/u${sequence - 1}/file`))
      .split("\n")
      .filter((l) => l !== "");
    expect(rewritten).toEqual([lines[0], lines[1], lines[4]]);
    for (const key of await keysOf(ds)) {
      const body = await text(key);
      expect(body.includes(GONE) || body.includes("gone.address@example.com"), key).toBe(false);
    }
  });
});
