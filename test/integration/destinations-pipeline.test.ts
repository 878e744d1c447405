/**
 * Destinations in the pipeline against real servers (DynamoDB Local, the S3 server): a committed run plans
 * one webhook delivery per changed followed segment, whose entered ids equal the segment's member pages
 * (a second method: the store's own member listing), and a second upload's deliveries carry exactly the
 * difference of the member pages before and after it; an opted-out customer is in no body; a disabled
 * webhook queues the same deliveries without being woken; an erasure rewrites every body that named the customer, pending or not, and
 * counts them on the erasure record.
 */
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { beforeAll, describe, expect, it } from "vitest";
import { erasureRoutes } from "../../shared/api/erasures";
import type { DestinationRecord, MembershipChangedPayload } from "../../shared/destinations/model";
import { LIFECYCLE_STAGES, RFM_SEGMENTS } from "../../shared/engine";
import type { UploadRecord } from "../../shared/model";
import { runErasure } from "../../shared/pipeline/erase";
import type { ServiceEvent } from "../../shared/pipeline/ports";
import { type PipelineDeps, runUpload, type UploadEvent } from "../../shared/pipeline/run";
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
const woken: string[] = [];

beforeAll(async () => {
  const clients = testClients();
  s3 = clients.s3;
  const table = await createTestTable(clients.dynamo, uniqueName("dst-pipe"));
  bucket = await createTestBucket(clients.s3, uniqueName("dst-pipe"));
  store = new DynamoDatasetStore(clients.doc, table);
  blobs = new S3BlobStore(clients.s3, bucket);
  destinations = new DynamoDestinationStore(clients.doc, table);
  deps = {
    store,
    blobs,
    destinations,
    deliveryQueue: { notify: async (ref) => void woken.push(ref.destinationId) },
  };
});

const ORDERS_1 = [
  "customer_id,order_id,order_date,amount",
  "C01,O1,2025-06-01,100.00",
  "C01,O2,2025-09-20,50.00",
  "C02,O3,2025-09-25,500.00",
  "C03,O4,2025-01-10,20.00",
  "C04,O5,2025-03-05,40.00",
  "C05,O6,2025-09-30,15.00",
  "C06,O7,2025-02-14,300.00",
  "C07,O8,2025-08-15,40.00",
  "C07,O9,2025-09-15,60.00",
  "C08,O10,2024-11-30,1000.00",
  "C09,O11,2025-09-28,25.00",
  "C10,O12,2025-04-01,90.00",
  "",
].join("\n");

/** Later orders: C03, C04 and C06 come back, C10 buys big. */
const ORDERS_2 = [
  "customer_id,order_id,order_date,amount",
  "C03,P1,2025-09-29,220.00",
  "C04,P2,2025-09-27,140.00",
  "C06,P3,2025-09-26,90.00",
  "C10,P4,2025-09-30,900.00",
  "",
].join("\n");

const CUSTOMERS = ["customer_id,opt_out", "C05,yes", "C01,no", ""].join("\n");

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

function destination(name: string, status: "enabled" | "disabled"): DestinationRecord {
  const now = new Date().toISOString();
  return {
    tenantId: T,
    datasetId: DS,
    destinationId: `dst_${name.padEnd(20, "a")}`,
    name,
    kind: "webhook",
    segments: FOLLOWED,
    includeOptedOut: false,
    status,
    consecutiveFailures: 0,
    createdAt: now,
    updatedAt: now,
    webhook: { url: "https://hooks.example.com/x", secretRef: "ref" },
  };
}

/** The bodies of one run's deliveries, whose counts the outbox entries match. */
async function bodiesOf(d: DestinationRecord, runId: string): Promise<MembershipChangedPayload["data"][]> {
  const outbox = await destinations.listPendingDeliveries(d, 1000);
  const bodies = [];
  for (const o of outbox.filter((x) => x.runId === runId)) {
    const bytes = await blobs.get(o.payloadKey);
    const body = JSON.parse(Buffer.from(bytes ?? []).toString("utf8")) as MembershipChangedPayload;
    expect([body.data.entered.length, body.data.left.length]).toEqual([o.entered, o.left]);
    bodies.push(body.data);
  }
  return bodies;
}

/** Entered and left per segment, as the bodies say. */
function changesOf(bodies: MembershipChangedPayload["data"][]) {
  const out = new Map<string, { entered: string[]; left: string[] }>();
  for (const b of bodies) {
    const c = out.get(b.segmentId) ?? { entered: [], left: [] };
    c.entered.push(...b.entered);
    c.left.push(...b.left);
    out.set(b.segmentId, c);
  }
  return out;
}

describe("webhook deliveries of committed runs", () => {
  const crm = destination("crm", "enabled");
  const off = destination("off", "disabled");

  it("carry exactly what the member pages changed, never an opted-out customer; erasure rewrites them", async () => {
    await store.ensureDataset(T, DS, { asOf: "2025-10-01" });
    await destinations.createDestination(crm, 20);
    await destinations.createDestination(off, 20);

    const customers = await runUpload(deps, await stage(CUSTOMERS, { kind: "customers", format: "csv" }));
    const first = await runUpload(deps, await stage(ORDERS_1, { kind: "transactions", format: "csv" }));
    expect(first.outcome).toBe("succeeded");
    if (first.outcome !== "succeeded") return;
    const v1 = first.run.version ?? 0;
    const before = await membersOf(v1);
    const c1 = changesOf(await bodiesOf(crm, first.run.runId));
    // The first run with orders: every member of every followed segment entered, C05 (opted out) excepted.
    const expected1 = new Map(
      [...before]
        .map(([id, set]) => [id, [...set].filter((c) => c !== "C05").sort()] as const)
        .filter(([, ids]) => ids.length > 0),
    );
    expect([...c1.keys()].sort()).toEqual([...expected1.keys()].sort());
    for (const [segmentId, ids] of expected1) {
      expect(c1.get(segmentId), segmentId).toEqual({ entered: ids, left: [] });
    }
    expect([...before.values()].some((set) => set.has("C05"))).toBe(true);
    expect(customers.outcome === "succeeded" || customers.outcome === "skipped").toBe(true);

    const second = await runUpload(deps, await stage(ORDERS_2, { kind: "transactions", format: "csv" }));
    expect(second.outcome).toBe("succeeded");
    if (second.outcome !== "succeeded") return;
    const after = await membersOf(second.run.version ?? 0);
    const c2 = changesOf(await bodiesOf(crm, second.run.runId));
    let changed = 0;
    for (const segmentId of FOLLOWED) {
      const was = before.get(segmentId) ?? new Set<string>();
      const is = after.get(segmentId) ?? new Set<string>();
      const entered = [...is].filter((c) => !was.has(c) && c !== "C05").sort();
      const left = [...was].filter((c) => !is.has(c) && c !== "C05").sort();
      if (entered.length + left.length === 0) {
        expect(c2.has(segmentId), segmentId).toBe(false);
      } else {
        changed++;
        expect(c2.get(segmentId), segmentId).toEqual({ entered, left });
      }
    }
    expect(changed).toBeGreaterThan(0);
    // The outbox holds the first run before the second.
    const outbox = await destinations.listPendingDeliveries(crm, 1000);
    const runs = outbox.map((o) => o.runId);
    expect(runs.lastIndexOf(first.run.runId)).toBeLessThan(runs.indexOf(second.run.runId));
    // A disabled webhook queues the same deliveries, unsent: nothing wakes its worker until it is enabled.
    const queued = await destinations.listPendingDeliveries(off, 1000);
    expect(queued.map((o) => [o.runId, o.segmentId, o.part])).toEqual(
      outbox.map((o) => [o.runId, o.segmentId, o.part]),
    );
    expect(woken.length).toBeGreaterThan(0);
    expect(woken.every((id) => id === crm.destinationId)).toBe(true);

    // Erase C03, who is in bodies of both runs.
    const naming = [];
    for (const o of [...outbox, ...queued]) {
      const text = Buffer.from((await blobs.get(o.payloadKey)) ?? []).toString("utf8");
      if (text.includes('"C03"')) naming.push(o.payloadKey);
    }
    expect(naming.length).toBeGreaterThan(1);
    const events: ServiceEvent[] = [];
    const erase = erasureRoutes({
      store,
      events: { publish: async (e) => void events.push(...e) },
    }).eraseCustomer;
    await erase?.({
      routeId: "eraseCustomer",
      params: { datasetId: DS, customerId: "C03" },
      query: {},
      body: undefined,
      tenantId: T,
      requestId: "r",
    });
    const detail = events[0]?.detail as { tenantId: string; datasetId: string; erasureId: string };
    const result = await runErasure(deps, { ...detail, eventTime: new Date().toISOString() });
    expect(result.outcome).toBe("completed");
    if (result.outcome !== "completed") return;
    expect(result.erasure.counts.deliveryPayloadsRewritten).toBe(naming.length);
    for (const key of await blobs.list(`deliveries/${T}/${DS}/`)) {
      const text = Buffer.from((await blobs.get(key)) ?? []).toString("utf8");
      expect(text, key).not.toContain('"C03"');
    }
    // Everyone else is still there, and the outbox counts are those of the rewritten bodies.
    const still = changesOf(await bodiesOf(crm, first.run.runId));
    for (const [segmentId, ids] of expected1) {
      expect(still.get(segmentId)?.entered ?? [], segmentId).toEqual(ids.filter((c) => c !== "C03"));
    }
    // Four runs and an erasure: a deadline that only catches a hang on a loaded machine.
  }, 300_000);
});
