/**
 * At-least-once destinations across a crash between a run's commit and the end of its planning, against real
 * servers (DynamoDB Local, the S3 server). The fault is injected at the DynamoDB client of the destination
 * store: the outbox write of one destination fails once (the run dies after serving the other), or the
 * listing of destinations fails once (the run dies before planning anything). The run is left without
 * `destinationsServedAt`; the sweeper, once the grace period has passed, plans it again: each destination's
 * deliveries for the run then carry exactly the difference of the member pages before and after it (worked
 * out here from the store's member listing), a destination planned before the crash gets nothing twice, a
 * second sweep adds nothing, and a run that planned normally is never planned again.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { beforeAll, describe, expect, it } from "vitest";
import { S3_SERVER_CREDENTIALS } from "../../scripts/emulators/s3-server";
import {
  type DestinationRecord,
  type MembershipChangedPayload,
  webhookIdFor,
} from "../../shared/destinations/model";
import { LIFECYCLE_STAGES, RFM_SEGMENTS } from "../../shared/engine";
import type { RunRecord, UploadRecord } from "../../shared/model";
import { type PipelineDeps, runUpload, type UploadEvent } from "../../shared/pipeline/run";
import { sweep } from "../../shared/pipeline/sweep";
import { SERVE_GRACE_MS } from "../../shared/pipeline/unserved";
import { DynamoDestinationStore } from "../../shared/store/destinations";
import { DynamoDatasetStore } from "../../shared/store/dynamo";
import { S3BlobStore } from "../../shared/store/s3";
import { createTestBucket, createTestTable, testClients, uniqueName } from "../support/aws";
import { memberPage } from "../support/members";

const T = "t";
const DS = "shop";
const FOLLOWED = [...RFM_SEGMENTS, ...LIFECYCLE_STAGES].map((s) => s.id).sort();

let s3: S3Client;
let bucket: string;
let store: DynamoDatasetStore;
let blobs: S3BlobStore;
let destinations: DynamoDestinationStore;
let deps: PipelineDeps;

/** The next fault of the destination store's client, thrown once, before the request is sent. */
let fault: { command: string; naming: string } | undefined;
let faultsThrown = 0;

beforeAll(async () => {
  const clients = testClients();
  s3 = clients.s3;
  const table = await createTestTable(clients.dynamo, uniqueName("dst-recover"));
  bucket = await createTestBucket(clients.s3, uniqueName("dst-recover"));
  store = new DynamoDatasetStore(clients.doc, table);
  blobs = new S3BlobStore(clients.s3, bucket);
  // The destination store on a client of its own, so that its faults touch nothing else.
  const faulty = new DynamoDBClient({
    endpoint: clients.endpoints.dynamodb,
    region: "us-east-1",
    credentials: S3_SERVER_CREDENTIALS,
  });
  faulty.middlewareStack.add(
    (next, context) => async (args) => {
      if (
        fault &&
        context.commandName === fault.command &&
        JSON.stringify(args.input).includes(fault.naming)
      ) {
        fault = undefined;
        faultsThrown++;
        throw Object.assign(new Error("connect ECONNREFUSED"), { name: "Error", code: "ECONNREFUSED" });
      }
      return next(args);
    },
    { step: "initialize", name: "injectedFault" },
  );
  const doc = DynamoDBDocumentClient.from(faulty, { marshallOptions: { removeUndefinedValues: true } });
  destinations = new DynamoDestinationStore(doc, table);
  deps = { store, blobs, destinations };
});

const ORDERS = [
  [
    "customer_id,order_id,order_date,amount",
    "C01,O1,2025-06-01,100.00",
    "C01,O2,2025-09-20,50.00",
    "C02,O3,2025-09-25,500.00",
    "C03,O4,2025-01-10,20.00",
    "C04,O5,2025-03-05,40.00",
    "C05,O6,2025-09-30,15.00",
    "C06,O7,2025-02-14,300.00",
    "C07,O8,2025-08-15,40.00",
    "C08,O10,2024-11-30,1000.00",
    "",
  ],
  // C03, C04 and C06 come back, C09 and C10 arrive.
  [
    "customer_id,order_id,order_date,amount",
    "C03,P1,2025-09-29,220.00",
    "C04,P2,2025-09-27,140.00",
    "C06,P3,2025-09-26,90.00",
    "C09,P4,2025-09-28,25.00",
    "C10,P5,2025-09-30,900.00",
    "",
  ],
  // C01 and C08 buy again, C11 arrives.
  [
    "customer_id,order_id,order_date,amount",
    "C01,Q1,2025-09-30,80.00",
    "C08,Q2,2025-09-29,700.00",
    "C11,Q3,2025-09-30,35.00",
    "",
  ],
  // C02 and C07 buy again.
  ["customer_id,order_id,order_date,amount", "C02,R1,2025-09-30,45.00", "C07,R2,2025-09-29,60.00", ""],
].map((lines) => lines.join("\n"));

let sequence = 0;
async function stage(body: string, upload: Pick<UploadRecord, "kind" | "format">): Promise<UploadEvent> {
  const uploadId = `u${++sequence}`;
  const key = `uploads/${T}/${DS}/${uploadId}/file`;
  await store.putUpload({
    tenantId: T,
    datasetId: DS,
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
    datasetId: DS,
    uploadId,
    key,
    sequencer: String(++sequence).padStart(16, "0"),
    eventTime: new Date().toISOString(),
    eTag: String(put.ETag).replace(/"/g, ""),
  };
}

async function run(orders: string): Promise<RunRecord> {
  const result = await runUpload(deps, await stage(orders, { kind: "transactions", format: "csv" }));
  if (result.outcome !== "succeeded") throw new Error(`The run ended ${result.outcome}`);
  return result.run;
}

async function membersOf(version: number): Promise<Map<string, Set<string>>> {
  const out = new Map<string, Set<string>>();
  for (const segmentId of FOLLOWED) {
    const ids = new Set<string>();
    let after: string | undefined;
    do {
      const page = await memberPage(blobs, T, DS, segmentId, version, 1000, after);
      for (const id of page.items) ids.add(id);
      after = page.next;
    } while (after);
    out.set(segmentId, ids);
  }
  return out;
}

/** Entered and left per changed segment between two versions' member pages. */
async function expectedChanges(from: number | undefined, to: number) {
  const was = from === undefined ? new Map<string, Set<string>>() : await membersOf(from);
  const is = await membersOf(to);
  const out = new Map<string, { entered: string[]; left: string[] }>();
  for (const segmentId of FOLLOWED) {
    const before = was.get(segmentId) ?? new Set<string>();
    const after = is.get(segmentId) ?? new Set<string>();
    const entered = [...after].filter((c) => !before.has(c)).sort();
    const left = [...before].filter((c) => !after.has(c)).sort();
    if (entered.length + left.length > 0) out.set(segmentId, { entered, left });
  }
  return out;
}

function webhook(name: string): DestinationRecord {
  const now = new Date().toISOString();
  return {
    tenantId: T,
    datasetId: DS,
    destinationId: `dst_${name.padEnd(20, "a")}`,
    name,
    kind: "webhook",
    segments: FOLLOWED,
    includeOptedOut: false,
    status: "enabled",
    consecutiveFailures: 0,
    createdAt: now,
    updatedAt: now,
    webhook: { url: "https://hooks.example.com/x", secretRef: "ref" },
  };
}

/** The outbox of one destination, oldest first, as (seq, webhook id, run, segment, part). */
async function outbox(d: DestinationRecord) {
  return (await destinations.listPendingDeliveries(d, 1000)).map((o) => ({
    seq: o.seq,
    webhookId: o.webhookId,
    runId: o.runId,
    segmentId: o.segmentId,
    part: o.part,
    payloadKey: o.payloadKey,
  }));
}

/** Entered and left per segment, as the bodies of the run's deliveries say. */
async function changesSent(d: DestinationRecord, runId: string) {
  const out = new Map<string, { entered: string[]; left: string[] }>();
  for (const o of (await outbox(d)).filter((x) => x.runId === runId)) {
    const bytes = await blobs.get(o.payloadKey);
    const body = JSON.parse(Buffer.from(bytes ?? []).toString("utf8")) as MembershipChangedPayload;
    expect(o.webhookId).toBe(webhookIdFor(d.destinationId, runId, body.data.segmentId, body.data.part));
    const c = out.get(body.data.segmentId) ?? { entered: [], left: [] };
    c.entered.push(...body.data.entered);
    c.left.push(...body.data.left);
    out.set(body.data.segmentId, c);
  }
  return out;
}

const later = () => new Date(Date.now() + SERVE_GRACE_MS + 60_000);

describe("destinations of a run whose process died between its commit and its planning", () => {
  const a = webhook("a");
  const b = webhook("b");

  it("are served by the sweeper exactly once, without duplicates, and a served run never again", async () => {
    await store.ensureDataset(T, DS, { asOf: "2025-10-01" });
    await destinations.createDestination(a, 20);
    await destinations.createDestination(b, 20);

    // A run that planned normally is marked served.
    const first = await run(ORDERS[0] as string);
    expect((await store.getRun(T, DS, first.runId))?.destinationsServedAt).toBeDefined();
    const afterFirst = { a: await outbox(a), b: await outbox(b) };
    expect(await changesSent(b, first.runId)).toEqual(await expectedChanges(undefined, first.version ?? 0));

    // The crash hits after destination a was planned: b's outbox write fails.
    fault = { command: "BatchWriteItemCommand", naming: b.destinationId };
    const second = await run(ORDERS[1] as string);
    expect(faultsThrown).toBe(1);
    expect((await store.getRun(T, DS, second.runId))?.destinationsServedAt).toBeUndefined();
    const expected2 = await expectedChanges(first.version, second.version ?? 0);
    expect(expected2.size).toBeGreaterThan(0);
    expect(await changesSent(a, second.runId)).toEqual(expected2);
    expect((await outbox(b)).filter((o) => o.runId === second.runId)).toEqual([]);
    const aPlanned = await outbox(a);

    // Within the grace period the sweeper leaves the run to its own planning.
    expect(await sweep({ store, serving: deps })).toMatchObject({ served: 0, errors: 0 });
    expect((await outbox(b)).filter((o) => o.runId === second.runId)).toEqual([]);

    // After it, b gets exactly what the member pages changed; a, planned before the crash, nothing more.
    expect(await sweep({ store, serving: deps, now: later })).toMatchObject({ served: 1, errors: 0 });
    expect(await changesSent(b, second.runId)).toEqual(expected2);
    expect(await outbox(a)).toEqual(aPlanned);
    const keyOf = (o: { runId: string; segmentId: string; part: number }) => [o.runId, o.segmentId, o.part];
    expect((await outbox(b)).map(keyOf)).toEqual((await outbox(a)).map(keyOf));
    expect((await store.getRun(T, DS, second.runId))?.destinationsServedAt).toBeDefined();

    // A second sweep adds nothing; nor did either sweep touch the first run.
    const served = { a: await outbox(a), b: await outbox(b) };
    expect(await sweep({ store, serving: deps, now: later })).toMatchObject({ served: 0, errors: 0 });
    expect({ a: await outbox(a), b: await outbox(b) }).toEqual(served);
    for (const d of ["a", "b"] as const)
      expect(served[d].filter((o) => o.runId === first.runId)).toEqual(afterFirst[d]);

    // A run that planned normally is never planned again.
    const third = await run(ORDERS[2] as string);
    expect((await store.getRun(T, DS, third.runId))?.destinationsServedAt).toBeDefined();
    const planned3 = { a: await outbox(a), b: await outbox(b) };
    expect(planned3.a.filter((o) => o.runId === third.runId).length).toBeGreaterThan(0);
    expect(await sweep({ store, serving: deps, now: later })).toMatchObject({ served: 0, errors: 0 });
    expect({ a: await outbox(a), b: await outbox(b) }).toEqual(planned3);

    // The process dies before planning anything: listing the destinations fails.
    fault = { command: "QueryCommand", naming: "DEST#" };
    const fourth = await run(ORDERS[3] as string);
    expect(faultsThrown).toBe(2);
    expect((await store.getRun(T, DS, fourth.runId))?.destinationsServedAt).toBeUndefined();
    for (const d of [a, b]) expect((await outbox(d)).filter((o) => o.runId === fourth.runId)).toEqual([]);
    expect(await sweep({ store, serving: deps, now: later })).toMatchObject({ served: 1, errors: 0 });
    const expected4 = await expectedChanges(third.version, fourth.version ?? 0);
    expect(expected4.size).toBeGreaterThan(0);
    for (const d of [a, b]) expect(await changesSent(d, fourth.runId), d.name).toEqual(expected4);
    const final = { a: await outbox(a), b: await outbox(b) };
    expect(await sweep({ store, serving: deps, now: later })).toMatchObject({ served: 0, errors: 0 });
    expect({ a: await outbox(a), b: await outbox(b) }).toEqual(final);
    // Every destination's outbox holds the runs in commit order.
    for (const d of [a, b]) {
      const runs = final[d.name as "a" | "b"].map((o) => o.runId);
      expect(runs).toEqual([...runs].sort());
    }
    // Five runs and four sweeps: a deadline that only catches a hang on a loaded machine.
  }, 300_000);
});
