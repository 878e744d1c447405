/**
 * Faults neither local server produces, injected at the SDK clients (each on a client of its own: a document
 * client shares its middleware stack with the client it wraps), on DynamoDB Local and the S3 server.
 *
 * Reliability property 4: an upload whose S3 stream breaks half-way through the file fails its run cleanly,
 * as retryable, and leaves nothing of the half it read: readers keep the previous version exactly
 * (customers, segments, members), no version is pending, no state, view or report of the broken attempt is
 * written. The retry, with a healthy stream, gives exactly what a clean ingest of the same two files gives.
 *
 * The break is injected at the S3 client: a middleware cuts the body of GetObject responses for upload keys
 * after a given number of bytes and fails the stream as a reset connection does.
 *
 * Reliability property 3: a whole run whose DynamoDB calls are throttled (every other request answered
 * ProvisionedThroughputExceededException, which the SDK retries) and whose batch writes come back half
 * unprocessed every other time still converges: every customer item reaches the table
 * exactly once, the run counts them, and the result equals a run without faults.
 */

import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { Readable } from "node:stream";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { ListObjectsV2Command, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { beforeAll, describe, expect, it } from "vitest";
import { S3_SERVER_CREDENTIALS } from "../../scripts/emulators/s3-server";
import type { UploadRecord } from "../../shared/model";
import { runIdFor, runUpload, type UploadEvent } from "../../shared/pipeline/run";
import { DynamoDatasetStore } from "../../shared/store/dynamo";
import { S3BlobStore } from "../../shared/store/s3";
import { createTestBucket, createTestTable, testClients, uniqueName } from "../support/aws";
import { memberPage } from "../support/members";

const TENANT = "t";
const AS_OF = "2025-10-01";

let bucket: string;
let table: string;
let dynamoEndpoint: string;
let s3: S3Client;
let s3Endpoint: string;
let store: DynamoDatasetStore;
let blobs: S3BlobStore;

const first = () => readFile(resolve(import.meta.dirname, "../fixtures/e2e/transactions.csv"));

/**
 * The second file: 300 new customers with five orders each, and two more orders for each of C01 and C02,
 * about 50 KB, so that a break half-way leaves hundreds of rows already parsed.
 */
const NEW_CUSTOMERS = 300;
function second(customers = NEW_CUSTOMERS): Buffer {
  const lines = ["customer_id,order_id,order_date,amount,channel"];
  for (let c = 1; c <= customers; c++) {
    const id = `N${String(c).padStart(4, "0")}`;
    for (let o = 1; o <= 5; o++) {
      const month = String(((c + o) % 9) + 1).padStart(2, "0");
      lines.push(`${id},${id}-${o},2025-${month}-${String(o * 5).padStart(2, "0")},${(c % 50) + o}.25,web`);
    }
  }
  lines.push("C01,X101,2025-09-25,10.00,web", "C01,X102,2025-09-26,20.00,web");
  lines.push("C02,X201,2025-09-29,30.00,app", "C02,X202,2025-09-30,40.00,app");
  return Buffer.from(`${lines.join("\n")}\n`);
}
/** What the second file gives N0001, worked out from the generator: five orders of (1 % 50) + o + 0.25. */
const N0001_MONETARY = [1, 2, 3, 4, 5].reduce((sum, o) => sum + 1 + o + 0.25, 0);

beforeAll(async () => {
  const clients = testClients();
  s3 = clients.s3;
  s3Endpoint = clients.endpoints.s3;
  dynamoEndpoint = clients.endpoints.dynamodb;
  table = await createTestTable(clients.dynamo, uniqueName("faults"));
  bucket = await createTestBucket(clients.s3, uniqueName("faults"));
  store = new DynamoDatasetStore(DynamoDBDocumentClient.from(clients.dynamo), table);
  blobs = new S3BlobStore(clients.s3, bucket);
});

let sequence = 0;
async function stage(datasetId: string, fileName: string, body: Buffer): Promise<UploadEvent> {
  const uploadId = `u${++sequence}`;
  const key = `uploads/${TENANT}/${datasetId}/${uploadId}/${fileName}`;
  const upload: UploadRecord = {
    tenantId: TENANT,
    datasetId,
    uploadId,
    kind: "transactions",
    mode: "append",
    format: "csv",
    compression: "auto",
    fileName,
    key,
    createdAt: new Date(Date.now() + sequence).toISOString(),
  };
  // A fixed evaluation date, so the faulty and the clean dataset are scored alike whenever the test runs.
  if (!(await store.getDataset(TENANT, datasetId)))
    await store.createDataset(TENANT, datasetId, { asOf: AS_OF });
  await store.putUpload(upload);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  return {
    tenantId: TENANT,
    datasetId,
    uploadId,
    key,
    sequencer: String(sequence).padStart(16, "0"),
    eventTime: new Date().toISOString(),
  };
}

/** The error a socket reset gives a stream that is being read. */
function connectionReset(): Error {
  return Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET", name: "Error" });
}

/**
 * An S3 client of its own whose GetObject bodies under uploads/ deliver `limit` bytes and then fail.
 * `breaks` counts the streams it broke, `delivered` the bytes it let through.
 */
function breakingS3(limit: number) {
  const client = new S3Client({
    endpoint: s3Endpoint,
    region: "us-east-1",
    credentials: S3_SERVER_CREDENTIALS,
    forcePathStyle: true,
  });
  const stats = { breaks: 0, delivered: 0 };
  client.middlewareStack.add(
    (next) => async (args) => {
      const result = await next(args);
      const key = (args.input as { Key?: unknown }).Key;
      const response = result.response as { statusCode?: number; body?: unknown };
      if (typeof key === "string" && key.startsWith("uploads/") && response.statusCode === 200) {
        const source = response.body as AsyncIterable<Uint8Array>;
        async function* cut() {
          let seen = 0;
          for await (const chunk of source) {
            if (seen + chunk.length >= limit) {
              const rest = chunk.subarray(0, limit - seen);
              stats.delivered += rest.length;
              yield rest;
              stats.breaks++;
              throw connectionReset();
            }
            seen += chunk.length;
            stats.delivered += chunk.length;
            yield chunk;
          }
        }
        response.body = Readable.from(cut(), { objectMode: false });
      }
      return result;
    },
    // Low priority in the deserialize step: next to the HTTP handler, before the response is deserialized,
    // so the SDK wraps the broken stream as it wraps a socket's.
    { step: "deserialize", name: "breakUploadStream", priority: "low" },
  );
  return { blobs: new S3BlobStore(client, bucket), stats };
}

async function customerViews(datasetId: string, ids: readonly string[]) {
  const out = new Map<string, unknown>();
  for (const id of ids) out.set(id, (await store.getCustomer(TENANT, datasetId, id)).view);
  return out;
}

async function allMembers(datasetId: string) {
  const meta = await store.getDataset(TENANT, datasetId);
  const current = meta?.current;
  if (!current) throw new Error(`${datasetId} has no version`);
  const members: Record<string, string[]> = {};
  for (const segment of current.segments) {
    const ids: string[] = [];
    let after: string | undefined;
    do {
      const page = await memberPage(blobs, TENANT, datasetId, segment.id, current.version, 500, after);
      ids.push(...page.items);
      after = page.next;
    } while (after !== undefined);
    members[segment.id] = ids;
  }
  return members;
}

async function keysUnder(prefix: string): Promise<string[]> {
  const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (out.Contents ?? []).map((o) => o.Key ?? "");
}

const OLD_IDS = ["C01", "C02", "C03", "C04", "C05", "C06", "C07", "C08", "C09", "C10"];
const NEW_IDS = Array.from({ length: NEW_CUSTOMERS }, (_, i) => `N${String(i + 1).padStart(4, "0")}`);

describe("an upload whose stream breaks half-way", () => {
  it("fails its run as retryable, leaves version 1 served exactly, and the retry equals a clean ingest", async () => {
    const secondFile = second();

    // Version 1, from a healthy stream.
    const v1 = await stage("faulty", "first.csv", await first());
    expect((await runUpload({ store, blobs }, v1)).outcome).toBe("succeeded");
    const metaBefore = await store.getDataset(TENANT, "faulty");
    expect(metaBefore?.current?.version).toBe(1);
    const viewsBefore = await customerViews("faulty", OLD_IDS);
    const membersBefore = await allMembers("faulty");
    const stateBefore = await blobs.get(`state/${TENANT}/faulty/v1/aggregate.bin`);
    expect([...viewsBefore.values()].every((v) => v !== undefined)).toBe(true);

    // The second upload's stream breaks after half the file.
    const event = await stage("faulty", "second.csv", secondFile);
    const broken = breakingS3(Math.floor(secondFile.length / 2));
    const failure = await runUpload({ store, blobs: broken.blobs }, event).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toMatchObject({ code: "ECONNRESET" });
    expect(broken.stats.breaks).toBe(1);
    expect(broken.stats.delivered).toBe(Math.floor(secondFile.length / 2));

    // The run says it will be retried; the dataset is as it was, with no version pending and no lease held.
    const runId = runIdFor(event.eventTime, event.key, event.sequencer);
    const failed = await store.getRun(TENANT, "faulty", runId);
    expect(failed?.status).toBe("failed");
    expect(failed?.error?.code).toMatch(/^RETRY_/);
    const metaDuring = await store.getDataset(TENANT, "faulty");
    expect(metaDuring?.current).toEqual(metaBefore?.current);
    expect(metaDuring?.pending).toBeUndefined();
    expect(metaDuring?.lock === undefined || metaDuring.lock.until <= Date.now()).toBe(true);
    expect(await customerViews("faulty", OLD_IDS)).toEqual(viewsBefore);
    for (const id of ["N0001", "N0300", NEW_IDS[NEW_IDS.length - 1] as string]) {
      expect((await store.getCustomer(TENANT, "faulty", id)).view).toBeUndefined();
    }
    expect(await allMembers("faulty")).toEqual(membersBefore);
    // Nothing of the broken attempt in S3: no state or view of a version 2, no report, v1's state unchanged.
    expect(await keysUnder(`state/${TENANT}/faulty/v2/`)).toEqual([]);
    expect(await keysUnder(`reports/${TENANT}/faulty/`)).toEqual([]);
    expect(await blobs.get(`state/${TENANT}/faulty/v1/aggregate.bin`)).toEqual(stateBefore);

    // The retry, as the asynchronous invoke redelivers the same event, with a healthy stream.
    const retried = await runUpload({ store, blobs }, event);
    expect(retried.outcome).toBe("succeeded");
    if (retried.outcome !== "succeeded") return;
    expect(retried.run.runId).toBe(runId);
    expect(retried.run.attempts).toBe(2);
    expect(retried.run.version).toBe(2);
    // Every row read once: the whole file, not half of it again on top.
    expect(retried.run.counts).toMatchObject({
      rowsRead: NEW_CUSTOMERS * 5 + 4,
      rowsAccepted: NEW_CUSTOMERS * 5 + 4,
      ordersAdded: NEW_CUSTOMERS * 5 + 4,
      ordersDuplicate: 0,
      customers: 10 + NEW_CUSTOMERS,
    });
    const c01 = (await store.getCustomer(TENANT, "faulty", "C01")).view;
    expect(c01).toMatchObject({ frequency: 5, monetary: 260, lastPurchase: "2025-09-26" });
    const n1 = (await store.getCustomer(TENANT, "faulty", "N0001")).view;
    expect(n1).toMatchObject({ frequency: 5 });
    expect(n1?.monetary).toBeCloseTo(N0001_MONETARY, 9);

    // A clean ingest of the same two files, on a dataset of its own, gives the same result.
    expect(
      (await runUpload({ store, blobs }, await stage("clean", "first.csv", await first()))).outcome,
    ).toBe("succeeded");
    expect((await runUpload({ store, blobs }, await stage("clean", "second.csv", secondFile))).outcome).toBe(
      "succeeded",
    );
    const faulty = await store.getDataset(TENANT, "faulty");
    const clean = await store.getDataset(TENANT, "clean");
    expect(faulty?.current?.version).toBe(2);
    expect(faulty?.current?.customerCount).toBe(clean?.current?.customerCount);
    expect(faulty?.current?.orderCount).toBe(clean?.current?.orderCount);
    expect(faulty?.current?.segments).toEqual(clean?.current?.segments);
    const everyone = [...OLD_IDS, ...NEW_IDS];
    expect(await customerViews("faulty", everyone)).toEqual(await customerViews("clean", everyone));
    expect(await allMembers("faulty")).toEqual(await allMembers("clean"));
  });
});

/** DynamoDB's answer to a request over the table's throughput, as the service sends it (JSON 1.0 protocol). */
function throttledResponse() {
  const body = JSON.stringify({
    __type: "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
    message: "The level of configured provisioned throughput for the table was exceeded.",
  });
  return {
    statusCode: 400,
    reason: "Bad Request",
    headers: {
      "content-type": "application/x-amz-json-1.0",
      "x-amzn-errortype": "ProvisionedThroughputExceededException",
      "x-amzn-requestid": "throttled",
    },
    body: new TextEncoder().encode(body),
  };
}

type Marshalled = Record<string, { S?: string }>;
interface BatchInput {
  RequestItems?: Record<
    string,
    Array<{ PutRequest?: { Item: Marshalled }; DeleteRequest?: { Key: Marshalled } }>
  >;
}

/**
 * A document client of its own over a DynamoDB client of its own, with two faults:
 * - every other request (of any operation) is answered ProvisionedThroughputExceededException on its first
 *   attempt, below the SDK's retry middleware, which retries it;
 * - every other batch write of more than one item writes only its first item and hands the rest back as
 *   unprocessed, as DynamoDB does under load; the store must send them again.
 * `written` counts, per item key, how often a write of it reached the table.
 */
function faultyDynamo() {
  const client = new DynamoDBClient({
    endpoint: dynamoEndpoint,
    region: "us-east-1",
    credentials: S3_SERVER_CREDENTIALS,
    maxAttempts: 3,
  });
  const doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  const stats = { requests: 0, throttled: 0, batches: 0, unprocessed: 0, written: new Map<string, number>() };
  // One entry per request, across its attempts: the SDK keeps one context for a command's retries.
  const firstSeen = new WeakMap<object, number>();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      let ordinal = firstSeen.get(context);
      if (ordinal === undefined) {
        ordinal = stats.requests++;
        firstSeen.set(context, ordinal);
        if (ordinal % 2 === 0) {
          stats.throttled++;
          return { response: throttledResponse() } as never;
        }
      }
      const result = await next(args);
      const status = (result.response as { statusCode?: number }).statusCode;
      const items = (args.input as BatchInput).RequestItems?.[table] ?? [];
      if (status === 200) {
        for (const item of items) {
          const key = item.PutRequest?.Item ?? item.DeleteRequest?.Key;
          const id = `${key?.pk?.S}|${key?.sk?.S}`;
          stats.written.set(id, (stats.written.get(id) ?? 0) + 1);
        }
      }
      return result;
    },
    // Low priority in the deserialize step: below the retry middleware, so the SDK sees a real answer.
    { step: "deserialize", name: "throttleEveryOther", priority: "low" },
  );
  doc.middlewareStack.add(
    (next) => async (args) => {
      const input = args.input as { RequestItems?: Record<string, unknown[]> };
      const entry = input.RequestItems ? Object.entries(input.RequestItems)[0] : undefined;
      if (entry && entry[1].length > 1 && stats.batches++ % 2 === 0) {
        const [name, items] = entry;
        stats.unprocessed += items.length - 1;
        const result = await next({
          ...args,
          input: { ...input, RequestItems: { [name]: items.slice(0, 1) } },
        });
        (result.output as { UnprocessedItems?: unknown }).UnprocessedItems = { [name]: items.slice(1) };
        return result;
      }
      return next(args);
    },
    { step: "initialize", name: "unprocessedEveryOther" },
  );
  return { store: new DynamoDatasetStore(doc, table, { baseDelayMs: 1, maxDelayMs: 10 }), stats };
}

describe("a run whose table calls are throttled and whose batch writes come back half unprocessed", () => {
  it("converges: every customer item written exactly once, counted, equal to a clean run", async () => {
    // Fewer customers than above: each throttled request waits out the SDK's backoff. Enough that the run's
    // customer items alone (it writes no other batch) take more than ten throttled requests.
    const customers = 200;
    const file = second(customers);
    const faulty = faultyDynamo();
    const event = await stage("throttled", "second.csv", file);
    const outcome = await runUpload({ store: faulty.store, blobs }, event);
    expect(outcome.outcome).toBe("succeeded");
    if (outcome.outcome !== "succeeded") return;
    expect(faulty.stats.throttled).toBeGreaterThan(10);
    expect(faulty.stats.unprocessed).toBeGreaterThan(100);

    // Every item the run wrote in batches reached the table once, and the run counted each of them: customer
    // items only (members are in the version's pages in S3).
    const customerKeys = [...faulty.stats.written.keys()].filter((k) => k.includes("#C#"));
    expect([...faulty.stats.written.values()].every((n) => n === 1)).toBe(true);
    expect(customerKeys).toHaveLength(customers + 2);
    expect(faulty.stats.written.size).toBe(customers + 2);
    expect(outcome.run.counts?.customersWritten).toBe(customers + 2);

    // The same file without faults gives the same result.
    const clean = await runUpload({ store, blobs }, await stage("unthrottled", "second.csv", file));
    expect(clean.outcome).toBe("succeeded");
    const ids = ["C01", "C02", ...NEW_IDS.slice(0, customers)];
    expect(await customerViews("throttled", ids)).toEqual(await customerViews("unthrottled", ids));
    expect(await allMembers("throttled")).toEqual(await allMembers("unthrottled"));
    const segments = (await store.getDataset(TENANT, "throttled"))?.current?.segments;
    expect(segments).toEqual((await store.getDataset(TENANT, "unthrottled"))?.current?.segments);
  });
});
