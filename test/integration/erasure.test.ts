/**
 * Erasure against real servers (DynamoDB Local and the S3 server), reliability property 12: after a
 * customer is erased, no item of the table and no object of the dataset's prefixes holds their id; every
 * uploaded file keeps every other row; the erasure record holds no id; the S3 events of the rewrites start
 * no run; a later upload of the customer is ingested without them and its file rewritten too; an erasure
 * that dies after its commit completes on retry without counting twice.
 */
import { gunzipSync, gzipSync } from "node:zlib";
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { BatchWriteCommand, DynamoDBDocumentClient, GetCommand, ScanCommand } from "@aws-sdk/lib-dynamodb";
import { parse } from "csv-parse/sync";
import { beforeAll, describe, expect, it } from "vitest";
import { datasetRoutes } from "../../shared/api/datasets";
import { exportRoutes } from "../../shared/api/exports";
import { readRoutes } from "../../shared/api/read";
import { AggregateState } from "../../shared/engine";
import { DETAIL_TYPES } from "../../shared/events";
import type { RouteHandler } from "../../shared/http/api";
import { CursorCodec } from "../../shared/http/cursor";
import type { UploadRecord } from "../../shared/model";
import { runErasure } from "../../shared/pipeline/erase";
import type { DatasetStore, ServiceEvent } from "../../shared/pipeline/ports";
import { runUpload, type UploadEvent } from "../../shared/pipeline/run";
import { scrubUpload } from "../../shared/pipeline/scrub";
import { decodeTraitSnapshot } from "../../shared/pipeline/trait-snapshot";
import { DynamoDatasetStore } from "../../shared/store/dynamo";
import { legacyHistoryPk, legacyMembershipPk } from "../../shared/store/keys";
import { S3BlobStore } from "../../shared/store/s3";
import { createTestBucket, createTestTable, testClients, uniqueName } from "../support/aws";

const CANARY = "zz-Erase-Canary-41";
const T = "t";

let table: string;
let bucket: string;
let s3: S3Client;
let doc: DynamoDBDocumentClient;
let store: DynamoDatasetStore;
let blobs: S3BlobStore;

beforeAll(async () => {
  const clients = testClients();
  s3 = clients.s3;
  table = await createTestTable(clients.dynamo, uniqueName("erasure"));
  bucket = await createTestBucket(clients.s3, uniqueName("erasure"));
  doc = DynamoDBDocumentClient.from(clients.dynamo);
  store = new DynamoDatasetStore(doc, table);
  blobs = new S3BlobStore(clients.s3, bucket);
});

/** Transactions: ten customers, the canary's two orders (one quoted with spaces), and a ragged row of theirs. */
const ORDERS_CSV = [
  "customer_id,order_id,order_date,amount,channel",
  "C01,O101,2025-06-01,100.00,web",
  "C01,O102,2025-08-01,50.00,web",
  "C02,O201,2025-09-25,500.00,web",
  `"  ${CANARY} ",X1,2025-09-01,120.00,web`,
  "C03,O301,2025-01-10,20.00,web",
  "C04,O401,2025-03-05,40.00,app",
  `${CANARY},X2,2025-09-15,80.00,"store, north"`,
  "C05,O501,2025-09-30T10:00:00Z,15.00,web",
  "C06,O601,2025-02-14,300.00,store",
  `${CANARY},X3,2025-09-20`,
  "C07,O701,2025-08-15,40.00,web",
  "C08,O801,2024-11-30,1000.00,store",
  'C09,O901,2025-09-28,25.00,"say ""hi"""',
  "C10,O1001,2025-04-01,90.00,web",
  "",
].join("\r\n");

/** NDJSON under another header, gzipped: one line of the canary. */
const ORDERS_NDJSON = [
  '{"Kunde":"C11","order_id":"N1","order_date":"2025-07-01","amount":33}',
  `{"Kunde":"${CANARY}","order_id":"N2","order_date":"2025-09-25","amount":15.5}`,
  '{"Kunde":"C01","order_id":"N3","order_date":"2025-09-30","amount":12}',
  "",
].join("\n");

const CUSTOMERS_CSV = [
  "customer_id,tier,email",
  "C01,gold,c01@example.com",
  `${CANARY},platinum,canary@example.com`,
  "C02,silver,",
  "",
].join("\n");

let sequence = 0;
async function stage(
  datasetId: string,
  body: Uint8Array | string,
  upload: Partial<UploadRecord> & Pick<UploadRecord, "kind" | "format">,
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

async function objectBytes(key: string): Promise<Buffer> {
  const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const bytes = Buffer.from(
    await (out.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
  );
  return bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes;
}

/** Every table item whose attributes (keys included) mention `text`. */
async function itemsMentioning(text: string): Promise<Record<string, unknown>[]> {
  const found: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const out = await doc.send(new ScanCommand({ TableName: table, ExclusiveStartKey: start }));
    for (const item of out.Items ?? []) if (JSON.stringify(item).includes(text)) found.push(item);
    start = out.LastEvaluatedKey;
  } while (start);
  return found;
}

/** Keys of the objects of a dataset, under every prefix the service writes, whose contents mention `text`. */
async function objectsMentioning(
  datasetId: string,
  text: string,
): Promise<{ all: string[]; found: string[] }> {
  const all: string[] = [];
  for (const prefix of ["uploads", "state", "exports", "reports"]) {
    let token: string | undefined;
    do {
      const out = await s3.send(
        new ListObjectsV2Command({
          Bucket: bucket,
          Prefix: `${prefix}/${T}/${datasetId}/`,
          ContinuationToken: token,
        }),
      );
      for (const o of out.Contents ?? []) if (o.Key) all.push(o.Key);
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
  }
  const found: string[] = [];
  for (const key of all) if ((await objectBytes(key)).includes(text)) found.push(key);
  return { all, found };
}

function apiFor(events: ServiceEvent[], options: { store?: DatasetStore } = {}) {
  const deps = {
    store: options.store ?? store,
    blobs,
    cursors: new CursorCodec("erasure-test"),
    events: { publish: async (e: ServiceEvent[]) => void events.push(...e) },
  };
  return { ...datasetRoutes(deps), ...exportRoutes(deps) };
}

function request(params: Record<string, string>, body?: unknown) {
  return { routeId: "eraseCustomer" as const, params, query: {}, body, tenantId: T, requestId: "r" };
}

/**
 * Asks for the erasure through the route and returns the event it put on the bus, which names the erasure
 * and not the customer.
 */
async function requestErasure(datasetId: string, customerId: string) {
  const events: ServiceEvent[] = [];
  const erase = apiFor(events).eraseCustomer;
  if (!erase) throw new Error("no eraseCustomer core");
  const answer = await erase(request({ datasetId, customerId }));
  expect(answer.status).toBe(202);
  expect(JSON.stringify(answer.body)).not.toContain(customerId);
  expect(events).toHaveLength(1);
  expect(events[0]?.detailType).toBe(DETAIL_TYPES.erasureRequested);
  const detail = events[0]?.detail as { tenantId: string; datasetId: string; erasureId: string };
  expect(detail).toEqual({
    tenantId: T,
    datasetId,
    erasureId: (answer.body as { erasureId: string }).erasureId,
  });
  return { ...detail, eventTime: new Date().toISOString() };
}

describe("erasing a customer", () => {
  const ds = "shop";
  const events: UploadEvent[] = [];

  it("removes them from the table, every file and export of the dataset, and keeps everyone else", async () => {
    await store.ensureDataset(T, ds, { asOf: "2025-10-01" });
    events.push(await stage(ds, ORDERS_CSV, { kind: "transactions", format: "csv" }));
    events.push(
      await stage(ds, gzipSync(ORDERS_NDJSON), {
        kind: "transactions",
        format: "ndjson",
        columns: { customer_id: "Kunde" },
      }),
    );
    events.push(await stage(ds, CUSTOMERS_CSV, { kind: "customers", format: "csv" }));
    for (const event of events) expect((await runUpload({ store, blobs }, event)).outcome).toBe("succeeded");

    const before = await store.getCustomer(T, ds, CANARY);
    expect(before.view?.frequency).toBe(3);
    const segment = before.view?.segments[0] as string;
    const exported = await apiFor([]).createExport?.({
      routeId: "createExport",
      params: { datasetId: ds, segmentId: segment },
      query: {},
      body: {},
      tenantId: T,
      requestId: "r",
    });
    expect(exported?.status).toBe(201);
    // Positive controls: the canary is where the checks below look.
    const itemsBefore = await itemsMentioning(CANARY);
    // The customer item, which carries their history (members are no items: they are in the member pages).
    expect(itemsBefore.map((i) => i.sk)).toEqual(["C"]);
    const objectsBefore = await objectsMentioning(ds, CANARY);
    expect(objectsBefore.found.filter((k) => k.startsWith("uploads/"))).toHaveLength(3);
    expect(objectsBefore.found.some((k) => k.startsWith("state/"))).toBe(true);
    expect(objectsBefore.found).toContain(`state/${T}/${ds}/v3/contacts.ndjson.gz`);
    expect(objectsBefore.found).toContain(`state/${T}/${ds}/v3/history.ndjson.gz`);
    expect(objectsBefore.found.some((k) => k.startsWith("exports/"))).toBe(true);

    const detail = await requestErasure(ds, CANARY);
    // Until it completes, the record holds the id the erasure works on.
    const requested = await store.getErasure(T, ds, detail.erasureId);
    expect(requested).toMatchObject({ status: "requested", customerId: CANARY });
    const result = await runErasure({ store, blobs }, detail);
    expect(result.outcome).toBe("completed");
    if (result.outcome !== "completed") return;
    expect(result.run).toMatchObject({ trigger: "erasure", status: "succeeded", version: 4 });

    expect(await itemsMentioning(CANARY)).toEqual([]);
    const after = await objectsMentioning(ds, CANARY);
    expect(after.found).toEqual([]);
    // Each version's member pages: one object per segment of the version (its run's) and the index.
    const runs = (await store.listRuns(T, ds, 10)).items;
    const pagesOf = (version: number) => [
      ...(runs.find((r) => r.version === version)?.segments ?? []).map(
        (s) => `state/${T}/${ds}/v${version}/members/${s.id.replaceAll(":", "-")}.ndjson`,
      ),
      `state/${T}/${ds}/v${version}/members/index.json`,
    ];
    expect(pagesOf(4).length).toBeGreaterThan(5);
    // Versions 1-3 are gone, trait snapshots, membership, contacts, profiles and histories included; the
    // erasure's version 4 (its seven files, the trait snapshot, membership, contacts and profiles computed from
    // the state without the customer, the history without their line) and the uploads and report remain.
    expect(after.all.filter((k) => k.startsWith("state/")).sort()).toEqual(
      [
        `state/${T}/${ds}/v4/aggregate.bin`,
        `state/${T}/${ds}/v4/contacts.ndjson.gz`,
        `state/${T}/${ds}/v4/history.ndjson.gz`,
        `state/${T}/${ds}/v4/membership.bin`,
        ...pagesOf(4),
        `state/${T}/${ds}/v4/outputs.ndjson.gz`,
        `state/${T}/${ds}/v4/profiles.json.gz`,
        `state/${T}/${ds}/v4/traits.bin`,
      ].sort(),
    );
    // The snapshot holds no ids; it is keyed by the positions of version 4's state, which has no canary, and
    // covers exactly the 11 customers left.
    const v4State = AggregateState.deserialize(await objectBytes(`state/${T}/${ds}/v4/aggregate.bin`));
    expect(v4State.findCustomer(CANARY)).toBe(-1);
    const traits = decodeTraitSnapshot(await objectBytes(`state/${T}/${ds}/v4/traits.bin`));
    expect(traits.stateIndex).toHaveLength(11);
    expect([...traits.stateIndex].every((i) => i < v4State.customerCount)).toBe(true);
    expect(after.all.filter((k) => k.startsWith("exports/"))).toEqual([]);

    // Counted by hand: X1, X2, N2 and the customers row; the ragged row X3; 3 versions x 7 files (aggregate,
    // outputs, trait snapshot, membership, contacts, profiles, history) and each version's member pages; one
    // export; every item that mentioned the id.
    const erasure = await store.getErasure(T, ds, detail.erasureId);
    expect(erasure).toMatchObject({
      status: "completed",
      runId: result.run.runId,
      version: 4,
      counts: {
        customersErased: 1,
        itemsDeleted: itemsBefore.length,
        uploadsRewritten: 3,
        uploadsDeleted: 0,
        rowsRemoved: 4,
        unreadableRowsDropped: 1,
        stateObjectsDeleted: 21 + pagesOf(1).length + pagesOf(2).length + pagesOf(3).length,
        exportsDeleted: 1,
      },
    });
    const raw = await doc.send(
      new GetCommand({ TableName: table, Key: { pk: `T#${T}#D#${ds}`, sk: `ERASURE#${detail.erasureId}` } }),
    );
    expect(JSON.stringify(raw.Item)).not.toContain(CANARY);
    expect(raw.Item?.customerHash).toMatch(/^[0-9a-f]{64}$/);

    // Every other row is still there, as csv-parse reads the original and the rewritten file.
    const keepCsv = (text: string) =>
      (parse(text, { relax_column_count: true }) as string[][]).filter((row) => row[0]?.trim() !== CANARY);
    expect(parse((await objectBytes(events[0]?.key as string)).toString("utf8"))).toEqual(
      keepCsv(ORDERS_CSV),
    );
    const keepLines = (text: string) => text.split("\n").filter((l) => l !== "" && !l.includes(CANARY));
    expect(keepLines((await objectBytes(events[1]?.key as string)).toString("utf8"))).toEqual(
      keepLines(ORDERS_NDJSON),
    );
    expect((await objectBytes(events[2]?.key as string)).toString("utf8")).toBe(
      "customer_id,tier,email\nC01,gold,c01@example.com\nC02,silver,\n",
    );
    // A gzip upload stays gzip.
    const stored = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: events[1]?.key }));
    const head = await (
      stored.Body as { transformToByteArray(): Promise<Uint8Array> }
    ).transformToByteArray();
    expect([head[0], head[1]]).toEqual([0x1f, 0x8b]);

    // Lookups: the customer is gone, everyone else is served.
    expect((await store.getCustomer(T, ds, CANARY)).view).toBeUndefined();
    expect((await store.getCustomer(T, ds, "C01")).view?.frequency).toBe(3);
    expect((await store.getDataset(T, ds))?.current?.customerCount).toBe(11);
  }, 600_000); // a limit that catches a hang: the erasure rewrites several files, slow on a loaded machine

  it("skips the S3 event of each rewrite (its ETag is the one recorded on the upload): no run, and no failed upload in the runs route", async () => {
    const version = (await store.getDataset(T, ds))?.current?.version;
    const runsBefore = (await store.listRuns(T, ds, 100)).items.length;
    for (const event of events) {
      const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: event.key }));
      const eTag = String(head.ETag).replace(/"/g, "");
      expect((await store.getUpload(T, ds, event.uploadId))?.erasureEtags).toEqual([eTag]);
      const rewrite = {
        ...event,
        eTag,
        sequencer: String(++sequence).padStart(16, "0"),
        eventTime: new Date().toISOString(),
      };
      const outcome = await runUpload({ store, blobs }, rewrite);
      expect(outcome.outcome).toBe("skipped");
    }
    expect((await store.getDataset(T, ds))?.current?.version).toBe(version);
    // The service's own rewrites are not uploads: the runs route lists no run for them, and no failure.
    const answer = await (
      readRoutes({ store, cursors: new CursorCodec("runs-key") }).listRuns as RouteHandler
    )({
      routeId: "listRuns",
      params: { datasetId: ds },
      query: { limit: "100" },
      body: undefined,
      tenantId: T,
      requestId: "r",
    });
    const listed = (
      answer.body as { runs: Array<{ trigger: string; status: string; error?: { code: string } }> }
    ).runs;
    expect(listed).toHaveLength(runsBefore);
    expect(listed.filter((r) => r.status === "failed" || r.error?.code === "ERASURE_REWRITE")).toEqual([]);
  });

  it("ingests a later upload of the customer without them, and rewrites that file too", async () => {
    const later = await stage(ds, ORDERS_CSV, { kind: "transactions", format: "csv" });
    const outcome = await runUpload({ store, blobs }, later);
    expect(outcome.outcome).toBe("succeeded");
    if (outcome.outcome !== "succeeded") return;
    // X1 and X2 were removed with the customer, so they are new orders again, and dropped with them.
    expect(outcome.run.counts).toMatchObject({ customersSuppressed: 1, ordersAdded: 2, customers: 11 });
    expect((await store.getCustomer(T, ds, CANARY)).view).toBeUndefined();
    expect(await itemsMentioning(CANARY)).toEqual([]);
    expect((await objectsMentioning(ds, CANARY)).found).toEqual([]);

    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: later.key }));
    const eTag = String(head.ETag).replace(/"/g, "");
    expect((await store.getUpload(T, ds, later.uploadId))?.erasureEtags).toEqual([eTag]);
    const rewrite = {
      ...later,
      eTag,
      sequencer: String(++sequence).padStart(16, "0"),
      eventTime: new Date().toISOString(),
    };
    expect((await runUpload({ store, blobs }, rewrite)).outcome).toBe("skipped");
  });
});

describe("rewriting a large file", () => {
  it("streams it back in parts, and the ETag it reports is the object's", async () => {
    // About 14 MB: more than one 8 MiB part, so the rewrite goes up as a multipart upload.
    const rows = ["customer_id,order_id,order_date,amount"];
    let removed = 0;
    for (let i = 0; i < 400_000; i++) {
      const gone = i % 1000 === 7;
      if (gone) removed++;
      rows.push(`${gone ? CANARY : `C${i % 5000}`},O${i},2025-01-01,${(i % 97) + 0.5}`);
    }
    const text = `${rows.join("\n")}\n`;
    expect(text.length).toBeGreaterThan(9 * 1024 * 1024);
    const key = `uploads/${T}/large/u1/file`;
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: text }));
    const counted = testClients().s3;
    const commands: string[] = [];
    counted.middlewareStack.add(
      (next, context) => async (args) => {
        commands.push(String(context.commandName));
        return next(args);
      },
      { step: "initialize", name: "countCommands" },
    );
    const result = await scrubUpload(
      new S3BlobStore(counted, bucket),
      { key, format: "csv", compression: "auto" },
      new Set([CANARY]),
    );
    expect(commands).toContain("CreateMultipartUploadCommand");
    expect(commands.filter((c) => c === "UploadPartCommand").length).toBe(2);
    expect(result.outcome === "rewritten" && result.counts).toEqual({
      rowsRemoved: removed,
      unreadableRows: 0,
    });
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    expect(result.outcome === "rewritten" && result.eTag).toBe(String(head.ETag).replace(/"/g, ""));
    const rewritten = (await objectBytes(key)).toString("utf8");
    expect(rewritten).toBe(`${rows.filter((r) => !r.startsWith(CANARY)).join("\n")}\n`);
  });
});

describe("an erasure interrupted after its commit", () => {
  it("completes on retry, counting the customer once", async () => {
    const ds = "retry";
    await store.ensureDataset(T, ds, { asOf: "2025-10-01" });
    const first = await stage(ds, ORDERS_CSV, { kind: "transactions", format: "csv" });
    expect((await runUpload({ store, blobs }, first)).outcome).toBe("succeeded");
    const detail = await requestErasure(ds, CANARY);

    let failures = 1;
    const flaky = new Proxy(store, {
      get(target, name, receiver) {
        if (name === "completeErasure" && failures > 0) {
          return async () => {
            failures--;
            throw new Error("connection reset");
          };
        }
        const value = Reflect.get(target, name, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    await expect(runErasure({ store: flaky, blobs }, detail)).rejects.toThrow("connection reset");
    // The new version is committed: readers no longer see the customer.
    expect((await store.getCustomer(T, ds, CANARY)).view).toBeUndefined();
    expect((await store.getErasure(T, ds, detail.erasureId))?.status).toBe("requested");

    const retried = await runErasure({ store, blobs }, detail);
    expect(retried.outcome).toBe("completed");
    const erasure = await store.getErasure(T, ds, detail.erasureId);
    expect(erasure?.status).toBe("completed");
    expect(erasure?.counts.customersErased).toBe(1);
    expect(await itemsMentioning(CANARY)).toEqual([]);
    expect((await objectsMentioning(ds, CANARY)).found).toEqual([]);
    // A redelivered event changes nothing.
    expect((await runErasure({ store, blobs }, detail)).outcome).toBe("duplicate");
  });

  it("deletes the customer's items of the layout before member pages, and no one else's", async () => {
    const ds = "legacy";
    await store.ensureDataset(T, ds, { asOf: "2025-10-01" });
    const first = await stage(ds, ORDERS_CSV, { kind: "transactions", format: "csv" });
    expect((await runUpload({ store, blobs }, first)).outcome).toBe("succeeded");
    // What an earlier release wrote: a membership item per segment and history items per version, for the
    // canary and for C01 (the segments: one of the fixed RFM ones, a lifecycle stage, one the committed
    // version computed, and a cluster id the dataset handed out, if it has clusters).
    const current = (await store.getDataset(T, ds))?.current;
    const computed = current?.segments.find((s) => s.id.startsWith("rfm:"))?.id as string;
    const cluster = current?.clusters?.ids[0];
    const segments = [
      ...new Set(["rfm:at-risk", "lifecycle:active", computed, ...(cluster ? [cluster] : [])]),
    ];
    const legacyItems = (customer: string) => [
      ...segments.map((segment) => ({
        pk: legacyMembershipPk(T, ds, segment),
        sk: customer,
        v: 1,
        member: true,
        pmember: false,
      })),
      ...[1, 2].map((v) => ({
        pk: legacyHistoryPk(T, ds, customer),
        sk: `V#${String(v).padStart(10, "0")}`,
        v,
        runId: `run-${v}`,
        asOf: "2025-10-01",
        entered: segments,
        left: [],
      })),
    ];
    await doc.send(
      new BatchWriteCommand({
        RequestItems: {
          [table]: [...legacyItems(CANARY), ...legacyItems("C01")].map((Item) => ({ PutRequest: { Item } })),
        },
      }),
    );
    expect(await itemsMentioning(`#H#${CANARY}`)).toHaveLength(2);

    const done = await runErasure({ store, blobs }, await requestErasure(ds, CANARY));
    expect(done.outcome).toBe("completed");
    expect(await itemsMentioning(CANARY)).toEqual([]);
    const others = await itemsMentioning("C01");
    const legacyLeft = others.filter((i) => String(i.pk).includes("#S#") || String(i.pk).includes("#H#"));
    expect(legacyLeft).toHaveLength(legacyItems("C01").length);
    const erasure = (await store.listErasureHashes(T, ds)).length;
    expect(erasure).toBe(1);
  });

  it("leaves a customer out of uploads from the request on, before the erasure has run", async () => {
    const ds = "early";
    await store.ensureDataset(T, ds, { asOf: "2025-10-01" });
    const detail = await requestErasure(ds, CANARY);
    const upload = await stage(ds, ORDERS_CSV, { kind: "transactions", format: "csv" });
    const outcome = await runUpload({ store, blobs }, upload);
    expect(outcome.outcome === "succeeded" && outcome.run.counts).toMatchObject({
      customersSuppressed: 1,
      customers: 10,
    });
    expect((await store.getCustomer(T, ds, CANARY)).view).toBeUndefined();
    expect((await objectsMentioning(ds, CANARY)).found).toEqual([]);
    // The erasure itself then finds nobody to remove.
    const result = await runErasure({ store, blobs }, detail);
    expect(result.outcome === "completed" && result.erasure.counts).toMatchObject({
      customersErased: 0,
      itemsDeleted: 0,
      rowsRemoved: 0,
    });
  });

  it("deletes an uploaded file that cannot be read, since its rows cannot be told apart", async () => {
    const ds = "broken";
    await store.ensureDataset(T, ds, { asOf: "2025-10-01" });
    const good = await stage(ds, ORDERS_CSV, { kind: "transactions", format: "csv" });
    expect((await runUpload({ store, blobs }, good)).outcome).toBe("succeeded");
    // No customer_id column (the upload maps none): its run fails as a whole.
    const bad = await stage(ds, `Kunde,order_id,order_date,amount\n${CANARY},B1,2025-09-01,1\n`, {
      kind: "transactions",
      format: "csv",
    });
    const failed = await runUpload({ store, blobs }, bad);
    expect(failed.outcome === "failed" && failed.run.error?.code).toBe("MISSING_COLUMNS");

    const result = await runErasure({ store, blobs }, await requestErasure(ds, CANARY));
    expect(result.outcome === "completed" && result.erasure.counts).toMatchObject({
      uploadsRewritten: 1,
      uploadsDeleted: 1,
      rowsRemoved: 2,
    });
    const { all, found } = await objectsMentioning(ds, CANARY);
    expect(found).toEqual([]);
    expect(all).not.toContain(bad.key);
    expect(all).toContain(good.key);
  });

  it("refuses an event naming no erasure of the dataset", async () => {
    const ds = "unknown";
    await store.ensureDataset(T, ds);
    const detail = await requestErasure(ds, "someone");
    const result = await runErasure({ store, blobs }, { ...detail, datasetId: "shop" });
    expect(result).toEqual({ outcome: "refused", reason: "ERASURE_NOT_FOUND" });
    expect((await store.getErasure(T, ds, detail.erasureId))?.status).toBe("requested");
  });
});
