/**
 * The pipeline against real servers (DynamoDB Local and the S3 server): an upload runs once however often
 * its event arrives, stale events change nothing, and a run that dies half-way leaves readers on the
 * previous result until its retry completes it. Faults neither server produces are injected at the SDK
 * client.
 */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
import { beforeAll, describe, expect, it } from "vitest";
import { runRefresh, runUpload } from "../../shared/pipeline/run";
import { DynamoDatasetStore } from "../../shared/store/dynamo";
import { CUSTOMER_SK, customerPk } from "../../shared/store/keys";
import { S3BlobStore } from "../../shared/store/s3";
import { createTestBucket, createTestTable, testClients, uniqueName } from "../support/aws";
import { memberPage } from "../support/members";
import { stageUpload } from "../support/uploads";

const fixture = (name: string) => readFile(resolve(import.meta.dirname, "../fixtures/e2e", name));

let table: string;
let bucket: string;
let s3: S3Client;
let store: DynamoDatasetStore;
let blobs: S3BlobStore;

beforeAll(async () => {
  const clients = testClients();
  s3 = clients.s3;
  table = await createTestTable(clients.dynamo, uniqueName("pipeline"));
  bucket = await createTestBucket(clients.s3, uniqueName("pipeline"));
  store = new DynamoDatasetStore(DynamoDBDocumentClient.from(clients.dynamo), table);
  blobs = new S3BlobStore(clients.s3, bucket);
});

const stage = async (datasetId: string, file: string, mode: "append" | "replace" = "append") =>
  stageUpload({ store, s3, bucket }, datasetId, await fixture(file), { fileName: file, mode });

describe("runUpload", () => {
  it("computes once when the same event arrives twice, and twice at once", async () => {
    const event = await stage("dup", "transactions.csv");
    const [a, b] = await Promise.allSettled([
      runUpload({ store, blobs }, event),
      runUpload({ store, blobs }, event),
    ]);
    const outcomes = [a, b].map((r) =>
      r.status === "fulfilled" ? r.value.outcome : (r.reason as { code?: string }).code,
    );
    expect(outcomes.filter((o) => o === "succeeded")).toHaveLength(1);
    expect(
      outcomes.filter((o) => o === "succeeded").length +
        outcomes.filter((o) => o === "duplicate" || o === "DATASET_BUSY").length,
    ).toBe(2);
    const again = await runUpload({ store, blobs }, event);
    expect(again.outcome).toBe("duplicate");
    const meta = await store.getDataset("t", "dup");
    expect(meta?.current?.version).toBe(1);
    const runs = await store.listRuns("t", "dup", 10);
    expect(runs.items).toHaveLength(1);
  });

  it("runs two uploads that arrive together one after the other when allowed to wait for the lease", async () => {
    const first = await stage("together", "transactions.csv");
    const second = await stage("together", "transactions-with-bad-rows.csv");
    const waiting = { store, blobs, waitForLeaseMs: 60_000 };
    const outcomes = await Promise.all([runUpload(waiting, first), runUpload(waiting, second)]);
    expect(outcomes.map((o) => o.outcome)).toEqual(["succeeded", "succeeded"]);
    const versions = outcomes.map((o) => ("run" in o ? o.run.version : undefined)).sort();
    expect(versions).toEqual([1, 2]);
    expect((await store.getDataset("t", "together"))?.current?.version).toBe(2);
  });

  it("gives up with DATASET_BUSY when the lease stays taken past the wait", async () => {
    const event = await stage("held", "transactions.csv");
    expect(await store.acquireLock("t", "held", "someone-else", 60_000)).toBeDefined();
    // The wait is measured on the run's clock, which only the sleeps move: however slow the machine, the run
    // polls, sleeps and gives up after 50 ms of its own time.
    const slept: number[] = [];
    let clock = Date.now();
    const now = () => new Date(clock);
    const sleep = async (ms: number) => {
      slept.push(ms);
      clock += ms;
    };
    await expect(runUpload({ store, blobs, waitForLeaseMs: 50, sleep, now }, event)).rejects.toMatchObject({
      code: "DATASET_BUSY",
    });
    expect(slept.length).toBeGreaterThan(0);
    expect(Math.max(...slept)).toBeLessThanOrEqual(50);
  });

  it("ignores a stale event for a key already processed at a newer sequencer", async () => {
    const event = await stage("stale", "transactions.csv");
    expect((await runUpload({ store, blobs }, event)).outcome).toBe("succeeded");
    const older = {
      ...event,
      sequencer: "0000000000000000",
      eventTime: new Date(Date.now() - 60_000).toISOString(),
    };
    expect((await runUpload({ store, blobs }, older)).outcome).toBe("stale");
    expect((await store.getDataset("t", "stale"))?.current?.version).toBe(1);
  });

  it("leaves readers on the previous result when a run dies half-way, and the retry completes it", async () => {
    const first = await stage("crash", "transactions-with-bad-rows.csv");
    expect((await runUpload({ store, blobs }, first)).outcome).toBe("succeeded");
    const before = await store.getCustomer("t", "crash", "C01");
    expect(before.view?.frequency).toBe(3);

    // The second upload dies once its first batch of table writes has reached the table, before it hears
    // back (the run's dozen customer items fit in that one batch). The fault goes on a client of its own: a
    // document client shares its middleware stack with the client it wraps.
    const faulty = DynamoDBDocumentClient.from(testClients().dynamo);
    let batches = 0;
    faulty.middlewareStack.add(
      (next) => async (args) => {
        if ((args.input as { RequestItems?: unknown }).RequestItems && batches++ >= 0) {
          await next(args);
          throw Object.assign(new Error("connection reset"), { name: "TimeoutError" });
        }
        return next(args);
      },
      { step: "initialize", name: "dieMidRun" },
    );
    const dying = new DynamoDatasetStore(faulty, table, { concurrency: 1 });
    const second = await stage("crash", "transactions.csv");
    await expect(runUpload({ store: dying, blobs }, second)).rejects.toThrow("connection reset");
    expect(batches).toBe(1);
    // The dead run's items are in the table (C10, new in its file), under a version that never committed.
    const written = await faulty.send(
      new GetCommand({ TableName: table, Key: { pk: customerPk("t", "crash", "C10"), sk: CUSTOMER_SK } }),
    );
    expect(written.Item?.v).toBe(2);

    const during = await store.getCustomer("t", "crash", "C01");
    expect(during.meta?.current?.version).toBe(1);
    expect(during.view).toEqual(before.view);
    expect((await store.getCustomer("t", "crash", "C10")).view).toBeUndefined();
    const members = await memberPage(blobs, "t", "crash", "rfm:at-risk", 1, 100);
    const segmentsBefore = (await store.getDataset("t", "crash"))?.current?.segments;
    expect(members.items.length).toBe(segmentsBefore?.find((s) => s.id === "rfm:at-risk")?.size ?? 0);

    const retried = await runUpload({ store, blobs }, second);
    expect(retried.outcome).toBe("succeeded");
    const after = await store.getCustomer("t", "crash", "C10");
    expect(after.meta?.current?.version).toBe(3);
    expect(after.view?.rfm).toBeDefined();
  });
});

describe("runRefresh", () => {
  it("recomputes from the stored state without reading the upload, writing only what changed", async () => {
    const event = await stage("refresh", "transactions.csv");
    expect((await runUpload({ store, blobs }, event)).outcome).toBe("succeeded");
    // The refresh must not need the raw upload.
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: event.key, Body: "garbage" }));
    // A setting that changes no figure: the refresh runs (one with nothing changed makes no run at all).
    expect(await store.putSettings("t", "refresh", { currency: "EUR" })).toBe(true);
    const scheduled = {
      tenantId: "t",
      datasetId: "refresh",
      eventId: "e1",
      eventTime: new Date().toISOString(),
    };
    const result = await runRefresh({ store, blobs }, scheduled);
    expect(result.outcome).toBe("succeeded");
    if (result.outcome !== "succeeded") return;
    expect(result.run.counts?.customers).toBe(10);
    expect(result.run.counts?.customersWritten).toBe(0);
    expect((await store.getDataset("t", "refresh"))?.current?.version).toBe(2);
    // EventBridge redelivers an event with its id and time unchanged.
    const again = await runRefresh({ store, blobs }, { ...scheduled });
    expect(again.outcome).toBe("unchanged");
  });
});
