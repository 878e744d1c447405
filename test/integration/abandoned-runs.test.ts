/**
 * Runs that end, on the real stores (DynamoDB Local and the S3 server):
 *  - a run whose process dies mid-write keeps its lease until it lapses; the sweeper then closes it as
 *    `abandoned` and starts the upload again as a new run, which computes exactly what an uninterrupted run
 *    computes; the next run taking the dataset's lease does the same without waiting for the sweeper;
 *  - after MAX_ABANDONMENTS in a row, and for a sharded run, the run fails for good with a final message;
 *  - a refresh that changes nothing makes no run, no version and no history point;
 *  - an object under uploads/ without an upload record creates nothing.
 * The process death is an SDK client whose calls never answer once the run's first batch write starts:
 * the run then neither writes nor renews its lease nor records anything, as after a kill -9.
 */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { beforeAll, describe, expect, it } from "vitest";
import { readRoutes } from "../../shared/api/read";
import { DETAIL_TYPES, type RunRedeliveryDetail } from "../../shared/events";
import type { RouteHandler } from "../../shared/http/api";
import { CursorCodec } from "../../shared/http/cursor";
import type { RunRecord } from "../../shared/model";
import { redeliveredUpload } from "../../shared/pipeline/abandon";
import { MAX_ABANDONMENTS } from "../../shared/pipeline/messages";
import type { EventPublisher, ServiceEvent } from "../../shared/pipeline/ports";
import { runRefresh, runUpload, type UploadEvent } from "../../shared/pipeline/run";
import { runIdFor } from "../../shared/pipeline/run-id";
import { shardedOwner } from "../../shared/pipeline/sharded-contract";
import { sweep } from "../../shared/pipeline/sweep";
import { DynamoDatasetStore } from "../../shared/store/dynamo";
import { S3BlobStore } from "../../shared/store/s3";
import { createTestBucket, createTestTable, testClients, uniqueName, waitFor } from "../support/aws";
import { stageUpload } from "../support/uploads";

const fixture = (name: string) => readFile(resolve(import.meta.dirname, "../fixtures/e2e", name));
/** Short enough for the test, long against the run's own pace on an idle machine. */
const LEASE_MS = 3_000;
/** Several runs on a loaded machine take minutes; this limit only catches a hang. */
const HANG_MS = 900_000;

let table: string;
let bucket: string;
let s3: S3Client;
let store: DynamoDatasetStore;
let blobs: S3BlobStore;

beforeAll(async () => {
  const clients = testClients();
  s3 = clients.s3;
  table = await createTestTable(clients.dynamo, uniqueName("abandoned"));
  bucket = await createTestBucket(clients.s3, uniqueName("abandoned"));
  store = new DynamoDatasetStore(DynamoDBDocumentClient.from(clients.dynamo), table);
  blobs = new S3BlobStore(clients.s3, bucket);
});

/** The service's bus as the tests see it: events kept, redeliveries handed back on request. */
function bus(): EventPublisher & { sent: ServiceEvent[]; redeliveries: () => RunRedeliveryDetail[] } {
  const sent: ServiceEvent[] = [];
  return {
    sent,
    async publish(events) {
      sent.push(...events);
    },
    redeliveries: () =>
      sent
        .filter((e) => e.detailType === DETAIL_TYPES.runRedelivery)
        .map((e) => e.detail as unknown as RunRedeliveryDetail),
  };
}

/** A store on a client that stops answering, as a killed process does, at the run's first batch write. */
function dyingStore(): { store: DynamoDatasetStore; dead: () => boolean } {
  const faulty = DynamoDBDocumentClient.from(testClients().dynamo);
  let dead = false;
  faulty.middlewareStack.add(
    (next) => async (args) => {
      if ((args.input as { RequestItems?: unknown }).RequestItems) dead = true;
      if (dead) return new Promise<never>(() => undefined);
      return next(args);
    },
    { step: "initialize", name: "processDies" },
  );
  return { store: new DynamoDatasetStore(faulty, table, { concurrency: 1 }), dead: () => dead };
}

/** Starts the upload on a dying store and returns once its process is "dead" with the lease lapsed. */
async function dieMidWrite(event: UploadEvent): Promise<RunRecord> {
  const dying = dyingStore();
  void runUpload({ store: dying.store, blobs, leaseMs: LEASE_MS }, event);
  // Dead first (no call of it answers any more, so no renewal either), then lapsed.
  const meta = await waitFor(
    async () => {
      if (!dying.dead()) return undefined;
      const m = await store.getDataset(event.tenantId, event.datasetId);
      return m?.pending && m.lock && m.lock.until < Date.now() ? m : undefined;
    },
    { timeoutMs: 120_000, description: "the dead run's lease to lapse" },
  );
  expect(meta.current).toBeUndefined();
  const runs = (await store.listRuns(event.tenantId, event.datasetId, 10)).items;
  expect(runs.map((r) => r.status)).toEqual(["running"]);
  return runs[0] as RunRecord;
}

/** What readers are served: every segment's summary and every customer's view. */
async function served(datasetId: string, customers: string[]) {
  const meta = await store.getDataset("t", datasetId);
  const views = await Promise.all(
    customers.map(async (c) => (await store.getCustomer("t", datasetId, c)).view),
  );
  return { segments: meta?.current?.segments, customerCount: meta?.current?.customerCount, views };
}

const CUSTOMERS = ["C01", "C02", "C03", "C04", "C05", "C06", "C07", "C08", "C09", "C10"];

describe("a run whose process died", () => {
  it(
    "is closed by the sweeper once its lease lapses, and its upload computed again to the same result",
    async () => {
      const body = await fixture("transactions.csv");
      const control = await stageUpload({ store, s3, bucket }, "control", body, {
        settings: { asOf: "2025-12-31" },
      });
      expect((await runUpload({ store, blobs }, control)).outcome).toBe("succeeded");

      const event = await stageUpload({ store, s3, bucket }, "killed", body, {
        settings: { asOf: "2025-12-31" },
      });
      const dead = await dieMidWrite(event);

      const events = bus();
      const report = await sweep({ store, events });
      expect(report).toMatchObject({ abandoned: 1, failed: 0, errors: 0 });
      const closed = await store.getRun("t", "killed", dead.runId);
      expect(closed?.status).toBe("abandoned");
      expect(closed?.error?.code).toBe("RETRY_ABANDONED");
      expect(closed?.error?.message).toContain("lease on the dataset lapsed");
      const [detail] = events.redeliveries();
      expect(closed?.retriedBy).toBeDefined();

      // The compute function's side of the redelivery.
      const again = redeliveredUpload(detail as RunRedeliveryDetail);
      expect(again).toMatchObject({ uploadId: event.uploadId, key: event.key, sequencer: event.sequencer });
      const outcome = await runUpload({ store, blobs, events }, again as UploadEvent);
      expect(outcome.outcome).toBe("succeeded");
      if (outcome.outcome !== "succeeded") return;
      expect(outcome.run.runId).toBe(closed?.retriedBy);
      expect(outcome.run).toMatchObject({ retryOf: dead.runId, abandonments: 1 });
      expect((await store.getUpload("t", "killed", event.uploadId))?.appliedSequencer).toBe(event.sequencer);
      expect(await served("killed", CUSTOMERS)).toEqual(await served("control", CUSTOMERS));
      expect((await served("killed", CUSTOMERS)).views.every((v) => v !== undefined)).toBe(true);

      // A second sweep finds nothing; the original event arriving late is a duplicate.
      expect(await sweep({ store, events: bus() })).toMatchObject({ abandoned: 0, failed: 0 });
      expect((await runUpload({ store, blobs }, event)).outcome).toBe("duplicate");
    },
    HANG_MS,
  );

  it(
    "is closed by the next run that takes the dataset's lease, without waiting for the sweeper",
    async () => {
      const body = await fixture("transactions.csv");
      const first = await stageUpload({ store, s3, bucket }, "taken-over", body);
      const dead = await dieMidWrite(first);
      const second = await stageUpload(
        { store, s3, bucket },
        "taken-over",
        await fixture("transactions-with-bad-rows.csv"),
      );
      const events = bus();
      expect((await runUpload({ store, blobs, events }, second)).outcome).toBe("succeeded");
      const closed = await store.getRun("t", "taken-over", dead.runId);
      expect(closed?.status).toBe("abandoned");
      const [detail] = events.redeliveries();
      const outcome = await runUpload(
        { store, blobs, events },
        redeliveredUpload(detail as RunRedeliveryDetail) as UploadEvent,
      );
      expect(outcome.outcome).toBe("succeeded");
      // Both files are in: the dead run's upload was not dropped.
      const uploads = await Promise.all(
        [first, second].map(
          async (e) => (await store.getUpload("t", "taken-over", e.uploadId))?.appliedSequencer,
        ),
      );
      expect(uploads).toEqual([first.sequencer, second.sequencer]);
    },
    HANG_MS,
  );

  it(
    `fails for good, with a message that promises nothing, after ${MAX_ABANDONMENTS} abandonments in a row`,
    async () => {
      const event = await stageUpload({ store, s3, bucket }, "hopeless", await fixture("transactions.csv"));
      const dead = await dieMidWrite({
        ...event,
        retry: { runId: "earlier", abandonments: MAX_ABANDONMENTS - 1, requeuedAt: new Date().toISOString() },
      });
      const events = bus();
      expect(await sweep({ store, events })).toMatchObject({ failed: 1, errors: 0 });
      const closed = await store.getRun("t", "hopeless", dead.runId);
      expect(closed?.status).toBe("failed");
      expect(closed?.error?.code).toBe("RUN_ABANDONED");
      expect(closed?.error?.message).not.toMatch(/retried|started again as|will be/i);
      expect(closed?.error?.message).toMatch(/split it into smaller files/);
      expect(events.redeliveries()).toEqual([]);
    },
    HANG_MS,
  );

  it("closes a sharded run whose execution stopped without recording its end, for good", async () => {
    await store.ensureDataset("t", "sharded-dead");
    const run: RunRecord = {
      tenantId: "t",
      datasetId: "sharded-dead",
      runId: "20250101000000000-aaaaaaaaaaaa",
      trigger: "upload",
      status: "running",
      startedAt: new Date().toISOString(),
      attempts: 1,
    };
    await store.putRun(run);
    expect(await store.acquireLock("t", "sharded-dead", shardedOwner(run.runId), 1)).toBeDefined();
    await waitFor(async () => ((await store.getDataset("t", "sharded-dead"))?.lock?.until ?? 0) < Date.now());
    const events = bus();
    expect(await sweep({ store, events })).toMatchObject({ failed: 1 });
    const closed = await store.getRun("t", "sharded-dead", run.runId);
    expect(closed).toMatchObject({ status: "failed", error: { code: "RUN_ABANDONED" } });
    expect(closed?.error?.message).toMatch(/sharded run stopped/);
    expect(events.redeliveries()).toEqual([]);
  });

  it(
    "abandons a run that no attempt has worked on for longer than the retries take",
    async () => {
      const event = await stageUpload({ store, s3, bucket }, "silent", await fixture("transactions.csv"));
      const twoHoursAgo = new Date(Date.now() - 2 * 60 * 60 * 1000).toISOString();
      // Its attempts crashed with a promise of a retry, and the event then went to the dead-letter queue.
      const run: RunRecord = {
        tenantId: "t",
        datasetId: "silent",
        runId: "20250101000000000-bbbbbbbbbbbb",
        trigger: "upload",
        status: "failed",
        uploadId: event.uploadId,
        startedAt: twoHoursAgo,
        finishedAt: twoHoursAgo,
        attempts: 2,
        error: { code: "RETRY_INTERNAL", message: "The run was interrupted (INTERNAL) and will be retried" },
        redelivery: {
          kind: "upload",
          uploadId: event.uploadId,
          key: event.key,
          sequencer: event.sequencer,
          eventTime: event.eventTime,
        },
      };
      await store.putRun(run);
      const events = bus();
      // Runs are looked at from three days back; this one's id is older, as is a run swept long ago.
      expect(await sweep({ store, events })).toMatchObject({ abandoned: 0 });
      const recent = { ...run, runId: runIdFor(new Date().toISOString(), "silent") };
      await store.putRun(recent);
      expect(await sweep({ store, events })).toMatchObject({ abandoned: 1 });
      expect((await store.getRun("t", "silent", recent.runId))?.status).toBe("abandoned");
      const outcome = await runUpload(
        { store, blobs, events },
        redeliveredUpload(events.redeliveries()[0] as RunRedeliveryDetail) as UploadEvent,
      );
      expect(outcome.outcome).toBe("succeeded");
    },
    HANG_MS,
  );
});

describe("a refresh that changes nothing", () => {
  it(
    "makes no run, no version and no history point; a new day or a new rule segment does",
    async () => {
      const event = await stageUpload({ store, s3, bucket }, "quiet", await fixture("transactions.csv"));
      expect((await runUpload({ store, blobs }, event)).outcome).toBe("succeeded");
      const refresh = (id: string, now?: Date) =>
        runRefresh(
          { store, blobs, ...(now ? { now: () => now } : {}) },
          { tenantId: "t", datasetId: "quiet", eventId: id, eventTime: (now ?? new Date()).toISOString() },
        );
      expect((await refresh("r1")).outcome).toBe("unchanged");
      expect((await refresh("r2")).outcome).toBe("unchanged");
      expect((await store.getDataset("t", "quiet"))?.current?.version).toBe(1);
      const segmentId = (await store.getDataset("t", "quiet"))?.current?.segments[0]?.id as string;
      const history = async () => {
        const answer = await (
          readRoutes({ store, cursors: new CursorCodec("k") }).getSegmentHistory as RouteHandler
        )({
          routeId: "getSegmentHistory",
          params: { datasetId: "quiet", segmentId },
          query: {},
          body: undefined,
          tenantId: "t",
          requestId: "r",
        });
        return (answer.body as { points: unknown[] }).points.length;
      };
      expect(await history()).toBe(1);
      expect((await store.listRuns("t", "quiet", 10)).items).toHaveLength(1);

      // A new evaluation date (no fixed asOf: the next day) is a change.
      expect((await refresh("r3", new Date(Date.now() + 86_400_000))).outcome).toBe("succeeded");
      expect(await history()).toBe(2);
      // So is a new rule segment, even the same day.
      const now = new Date().toISOString();
      await store.putDefinition("t", "quiet", {
        segmentId: "rule:big",
        name: "Big",
        rule: { field: "monetary", op: "gte", value: 100 },
        createdAt: now,
        updatedAt: now,
      });
      const day = new Date(Date.now() + 86_400_000);
      expect((await refresh("r4", day)).outcome).toBe("succeeded");
      expect((await refresh("r5", day)).outcome).toBe("unchanged");
      expect((await store.getDataset("t", "quiet"))?.current?.version).toBe(3);
    },
    HANG_MS,
  );
});

describe("an object no upload request made", () => {
  it("creates no dataset and no run, whatever its key says", async () => {
    const key = "uploads/t/never-requested/u-forged/orders.csv";
    await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: "customer_id,order_id,order_date,amount\n" }),
    );
    const outcome = await runUpload(
      { store, blobs },
      {
        tenantId: "t",
        datasetId: "never-requested",
        uploadId: "u-forged",
        key,
        sequencer: "0000000000000001",
        eventTime: new Date().toISOString(),
      },
    );
    expect(outcome).toEqual({ outcome: "ignored", reason: "UNKNOWN_UPLOAD" });
    expect(await store.getDataset("t", "never-requested")).toBeUndefined();
    expect((await store.listTenantDatasets("t", 100)).items).not.toContain("never-requested");
    expect((await store.listRuns("t", "never-requested", 10)).items).toEqual([]);
  });
});
