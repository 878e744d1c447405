/**
 * The per-customer membership history on DynamoDB Local and the S3 server, written by real runs into the
 * customer items.
 *
 * Expected entries are worked out a second way: from the customer views the table serves after each run
 * (the segments a customer has at one version and at the next, set against each other), never from the
 * diff the history is made of. Stored entries and items are read straight from the table.
 *
 * The crash is injected at the DynamoDB client: the commit's TransactWriteItems fails once, after the run
 * has written its customer items, history included, under the new version.
 */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { DynamoDBDocumentClient, GetCommand, ScanCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { beforeAll, describe, expect, it } from "vitest";
import { S3_SERVER_CREDENTIALS } from "../../scripts/emulators/s3-server";
import { datasetRoutes } from "../../shared/api/datasets";
import { historyRoutes } from "../../shared/api/history";
import type { HistoryEntry } from "../../shared/history/ports";
import type { ApiRequest } from "../../shared/http/api";
import { CursorCodec } from "../../shared/http/cursor";
import type { DatasetSettings, RunRecord, UploadRecord } from "../../shared/model";
import { runErasure } from "../../shared/pipeline/erase";
import type { ServiceEvent } from "../../shared/pipeline/ports";
import { type PipelineDeps, runRefresh, runUpload, type UploadEvent } from "../../shared/pipeline/run";
import { shardedSteps } from "../../shared/pipeline/sharded";
import { LocalShardedRuns } from "../../shared/pipeline/sharded-local";
import { DynamoDatasetStore } from "../../shared/store/dynamo";
import { DynamoMembershipHistory } from "../../shared/store/history";
import { CUSTOMER_SK, customerPk, datasetPk } from "../../shared/store/keys";
import { S3BlobStore } from "../../shared/store/s3";
import { createTestBucket, createTestTable, testClients, uniqueName } from "../support/aws";
import { stageUpload } from "../support/uploads";

const T = "t";
const AS_OF = "2025-10-01";
const IDS = ["C01", "C02", "C03", "C04", "C05", "C06", "C07", "C08", "C09", "C10"];

let doc: DynamoDBDocumentClient;
let s3: S3Client;
let table: string;
let bucket: string;
let dynamoEndpoint: string;
let store: DynamoDatasetStore;
let blobs: S3BlobStore;
let history: DynamoMembershipHistory;
let deps: PipelineDeps;
const cursors = new CursorCodec("history-test");

beforeAll(async () => {
  const clients = testClients();
  doc = clients.doc;
  s3 = clients.s3;
  dynamoEndpoint = clients.endpoints.dynamodb;
  table = await createTestTable(clients.dynamo, uniqueName("history"));
  bucket = await createTestBucket(clients.s3, uniqueName("history"));
  store = new DynamoDatasetStore(doc, table);
  blobs = new S3BlobStore(clients.s3, bucket);
  history = new DynamoMembershipHistory(doc, table);
  deps = { store, blobs };
});

const firstFile = () => readFile(resolve(import.meta.dirname, "../fixtures/e2e/transactions.csv"));
/**
 * Moves C03 (Lost in the first file, its one order on 2025-01-10) to the most recent buyer with two large
 * orders; the others' scores shift with it as the quantiles do.
 */
const secondFile = Buffer.from(
  "customer_id,order_id,order_date,amount,channel\nC03,O302,2025-09-29,900.00,web\nC03,O303,2025-09-30,900.00,web\n",
);

let sequence = 0;
async function stage(datasetId: string, body: Buffer, settings: DatasetSettings = { asOf: AS_OF }) {
  const uploadId = `u${++sequence}`;
  const key = `uploads/${T}/${datasetId}/${uploadId}/orders.csv`;
  const upload: UploadRecord = {
    tenantId: T,
    datasetId,
    uploadId,
    kind: "transactions",
    mode: "append",
    format: "csv",
    compression: "auto",
    fileName: "orders.csv",
    key,
    createdAt: new Date(Date.now() + sequence).toISOString(),
  };
  if (!(await store.getDataset(T, datasetId))) await store.createDataset(T, datasetId, settings);
  await store.putUpload(upload);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  return {
    tenantId: T,
    datasetId,
    uploadId,
    key,
    sequencer: String(sequence).padStart(16, "0"),
    eventTime: new Date().toISOString(),
  } satisfies UploadEvent;
}

async function upload(datasetId: string, body: Buffer, using: PipelineDeps = deps): Promise<RunRecord> {
  const outcome = await runUpload(using, await stage(datasetId, body));
  if (outcome.outcome !== "succeeded") throw new Error(`upload ${outcome.outcome}`);
  return outcome.run;
}

/** Each customer's segments as the committed version serves them. */
async function segmentsOf(datasetId: string): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const id of IDS) {
    const { view } = await store.getCustomer(T, datasetId, id);
    out.set(id, [...(view?.segments ?? [])].sort());
  }
  return out;
}

/** What a run changed for each customer, from the segments before and after it. */
function expectedChange(before: readonly string[], after: readonly string[]) {
  return {
    entered: after.filter((s) => !before.includes(s)).sort(),
    left: before.filter((s) => !after.includes(s)).sort(),
  };
}

async function allEntries(datasetId: string, customerId: string): Promise<HistoryEntry[]> {
  const meta = await store.getDataset(T, datasetId);
  const version = meta?.current?.version ?? 0;
  return (await history.list(T, datasetId, customerId, version, 100)).items;
}

/** Every item of the table whose partition key starts with `prefix`, read straight from the table. */
async function itemsUnder(prefix: string): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const out = await doc.send(
      new ScanCommand({
        TableName: table,
        FilterExpression: "begins_with(pk, :prefix)",
        ExpressionAttributeValues: { ":prefix": prefix },
        ConsistentRead: true,
        ExclusiveStartKey: start,
      }),
    );
    items.push(...(out.Items ?? []));
    start = out.LastEvaluatedKey;
  } while (start);
  return items;
}

/**
 * Every stored history entry of the dataset, as `<customer> v<version>`, read from the customer items; and,
 * checked on the way, no history item of its own (the `#H#` keys of the item-per-entry layout).
 */
async function storedEntries(datasetId: string): Promise<string[]> {
  expect(await itemsUnder(`${datasetPk(T, datasetId)}#H#`)).toEqual([]);
  const prefix = customerPk(T, datasetId, "");
  const entries: string[] = [];
  for (const item of await itemsUnder(prefix)) {
    const id = String(item.pk).slice(prefix.length);
    for (const entry of (item.hist ?? []) as Array<{ v: number }>) entries.push(`${id} v${entry.v}`);
  }
  return entries.sort();
}

function entryOf(run: RunRecord, change: { entered: string[]; left: string[] }): HistoryEntry {
  return {
    version: run.version as number,
    runId: run.runId,
    asOf: AS_OF,
    completedAt: run.finishedAt as string,
    ...change,
  };
}

describe("membership history written by runs", () => {
  const ds = "two-runs";
  let first: RunRecord;
  let second: RunRecord;
  let v1: Map<string, string[]>;
  let v2: Map<string, string[]>;

  it("records, per customer, the segments entered at the first run and the moves of the second, exactly", async () => {
    first = await upload(ds, await firstFile());
    v1 = await segmentsOf(ds);
    // The fixture's hand-worked segments (transactions.expected.md): C03 is Lost, C01 a Champion.
    expect(v1.get("C03")).toContain("rfm:lost");
    expect(v1.get("C01")).toContain("rfm:champions");
    // A first run: every customer entered every segment they are in, and nothing else is recorded.
    for (const id of IDS) {
      expect(await allEntries(ds, id)).toEqual([entryOf(first, { entered: v1.get(id) ?? [], left: [] })]);
    }
    expect(first.counts?.historyWritten).toBe(IDS.length);
    expect(await storedEntries(ds)).toEqual(IDS.map((id) => `${id} v1`));

    second = await upload(ds, secondFile);
    v2 = await segmentsOf(ds);
    const moved = IDS.filter((id) => (v1.get(id) ?? []).join() !== (v2.get(id) ?? []).join());
    expect(moved).toContain("C03");
    expect(v2.get("C03")).not.toContain("rfm:lost");
    for (const id of IDS) {
      const change = expectedChange(v1.get(id) ?? [], v2.get(id) ?? []);
      const expected = [
        ...(moved.includes(id) ? [entryOf(second, change)] : []),
        entryOf(first, { entered: v1.get(id) ?? [], left: [] }),
      ];
      expect(await allEntries(ds, id), id).toEqual(expected);
    }
    const c03 = (await allEntries(ds, "C03"))[0];
    expect(c03?.left).toContain("rfm:lost");
    // One entry per changed customer per run: no more, no fewer.
    expect(second.counts?.historyWritten).toBe(moved.length);
    expect(await storedEntries(ds)).toEqual(
      [...IDS.map((id) => `${id} v1`), ...moved.map((id) => `${id} v2`)].sort(),
    );
  });

  it("adds nothing for a committed run that changes nobody's segments", async () => {
    const before = await storedEntries(ds);
    // A setting that changes no segment still makes a run and a version.
    await store.putSettings(T, ds, { asOf: AS_OF, currency: "EUR" });
    const outcome = await runRefresh(deps, {
      tenantId: T,
      datasetId: ds,
      trigger: "settings",
      eventId: "currency",
      eventTime: new Date().toISOString(),
    });
    expect(outcome.outcome).toBe("succeeded");
    if (outcome.outcome !== "succeeded") return;
    expect(outcome.run.version).toBe(3);
    expect(outcome.run.counts?.historyWritten).toBe(0);
    expect(await segmentsOf(ds)).toEqual(v2);
    expect(await storedEntries(ds)).toEqual(before);
  });

  it("pages newest first through the route, with a cursor bound to the customer", async () => {
    const route = historyRoutes({ store, history, cursors }).getCustomerHistory;
    if (!route) throw new Error("no route");
    const request = (params: Record<string, string>, query: Record<string, string>): ApiRequest => ({
      routeId: "getCustomerHistory",
      params,
      query,
      body: undefined,
      tenantId: T,
      requestId: "r",
    });
    const page1 = await route(request({ datasetId: ds, customerId: "C03" }, { limit: "1" }));
    const body1 = page1.body as { version: number; entries: HistoryEntry[]; nextCursor: string | null };
    expect(body1.version).toBe(3);
    expect(body1.entries.map((e) => e.version)).toEqual([2]);
    expect(body1.entries[0]?.runId).toBe(second.runId);
    expect(typeof body1.nextCursor).toBe("string");
    const page2 = await route(
      request({ datasetId: ds, customerId: "C03" }, { limit: "1", cursor: body1.nextCursor as string }),
    );
    const body2 = page2.body as {
      entries: Array<{ version: number; entered: unknown }>;
      nextCursor: unknown;
    };
    expect(body2.entries.map((e) => e.version)).toEqual([1]);
    expect(body2.nextCursor).toBeNull();
    // Segment ids come with their names in the committed version.
    expect(body2.entries[0]?.entered).toContainEqual({ segmentId: "rfm:lost", name: "Lost" });
    // The cursor of one customer's history is refused on another's.
    await expect(
      route(
        request({ datasetId: ds, customerId: "C01" }, { limit: "1", cursor: body1.nextCursor as string }),
      ),
    ).rejects.toMatchObject({ code: "BAD_CURSOR" });
    // An id the dataset never held has no history.
    const none = await route(request({ datasetId: ds, customerId: "nobody" }, {}));
    expect(none.body).toMatchObject({ entries: [], nextCursor: null });
  });

  it("is erased with the customer, and the erasure counts what it removed", async () => {
    const before = (await storedEntries(ds)).filter((e) => e.startsWith("C03 ")).length;
    expect(before).toBe(2);
    const events: ServiceEvent[] = [];
    const erase = datasetRoutes({
      store,
      blobs,
      cursors,
      events: { publish: async (e: ServiceEvent[]) => void events.push(...e) },
    }).eraseCustomer;
    if (!erase) throw new Error("no eraseCustomer core");
    await erase({
      routeId: "eraseCustomer",
      params: { datasetId: ds, customerId: "C03" },
      query: {},
      body: undefined,
      tenantId: T,
      requestId: "r",
    });
    const detail = events[0]?.detail as { tenantId: string; datasetId: string; erasureId: string };
    const result = await runErasure(deps, { ...detail, eventTime: new Date().toISOString() });
    expect(result.outcome).toBe("completed");
    if (result.outcome !== "completed") return;
    // The erasure's own run removed C03 from every segment (one more record) before all of them went.
    expect(result.erasure.counts.historyItemsDeleted).toBe(before + 1);
    // The history went with the customer item.
    expect(await itemsUnder(customerPk(T, ds, "C03"))).toEqual([]);
    expect(await allEntries(ds, "C03")).toEqual([]);
    // Everyone else keeps theirs.
    expect((await allEntries(ds, "C01")).at(-1)?.version).toBe(1);
  });
});

/** A store whose commit (the run's TransactWriteItems) fails once, as a lost connection would. */
function storeFailingCommitOnce() {
  const client = new DynamoDBClient({
    endpoint: dynamoEndpoint,
    region: "us-east-1",
    credentials: S3_SERVER_CREDENTIALS,
  });
  const state = { failures: 0 };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === "TransactWriteItemsCommand" && state.failures === 0) {
        state.failures++;
        throw Object.assign(new Error("socket hang up"), { name: "TimeoutError", code: "ECONNRESET" });
      }
      return next(args);
    },
    { step: "initialize", name: "failCommitOnce" },
  );
  const faultyDoc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  return { store: new DynamoDatasetStore(faultyDoc, table), state };
}

describe("a run that dies between writing its history and committing", () => {
  it("leaves no entry served, and the run that repairs it records no false change", async () => {
    const ds = "crash";
    const first = await upload(ds, await firstFile());
    const v1 = await segmentsOf(ds);
    const faulty = storeFailingCommitOnce();
    const crashing = await stage(ds, secondFile);
    await expect(runUpload({ ...deps, store: faulty.store }, crashing)).rejects.toThrow("socket hang up");
    expect(faulty.state.failures).toBe(1);
    const meta = await store.getDataset(T, ds);
    expect(meta?.current?.version).toBe(1);
    expect(meta?.pending?.version).toBe(2);
    // The dead run wrote C03's move under version 2 into its item before the commit failed...
    expect(await storedEntries(ds)).toContain("C03 v2");
    // ...and readers see none of it: C03 still has the first run's entry alone.
    const onlyFirst = entryOf(first, { entered: v1.get("C03") ?? [], left: [] });
    expect(await allEntries(ds, "C03")).toEqual([onlyFirst]);
    // Even past the committed version, a version its run never committed is not served.
    expect((await history.list(T, ds, "C03", 5, 100)).items).toEqual([onlyFirst]);

    // The next run (a settings change: the committed state, the same segments) repairs what the dead run
    // left: it rewrites the customer items it touched, and those rewrites are no change of anyone's segments.
    await store.putSettings(T, ds, { asOf: AS_OF, currency: "EUR" });
    const repair = await runRefresh(deps, {
      tenantId: T,
      datasetId: ds,
      trigger: "settings",
      eventId: "repair",
      eventTime: new Date().toISOString(),
    });
    expect(repair.outcome).toBe("succeeded");
    if (repair.outcome !== "succeeded") return;
    expect(repair.run.version).toBe(3);
    expect(repair.run.counts?.customersWritten).toBeGreaterThan(0);
    expect(repair.run.counts?.historyWritten).toBe(0);
    expect(await segmentsOf(ds)).toEqual(v1);
    for (const id of IDS) {
      expect(await allEntries(ds, id)).toEqual([entryOf(first, { entered: v1.get(id) ?? [], left: [] })]);
    }
    // The repair rewrote the dead run's entries away; only the first run's remain.
    expect(await storedEntries(ds)).toEqual(IDS.map((id) => `${id} v1`));

    // An entry of the dead version put back (as a straggling write would) is still never served: version 2
    // never committed, so it has no version item.
    const key = { pk: customerPk(T, ds, "C03"), sk: CUSTOMER_SK };
    const item = (await doc.send(new GetCommand({ TableName: table, Key: key }))).Item;
    await doc.send(
      new UpdateCommand({
        TableName: table,
        Key: key,
        UpdateExpression: "SET hist = :hist",
        ExpressionAttributeValues: {
          ":hist": [{ v: 2, e: ["rfm:champions"], l: ["rfm:lost"] }, ...((item?.hist ?? []) as unknown[])],
        },
      }),
    );
    expect(await storedEntries(ds)).toContain("C03 v2");
    expect(await allEntries(ds, "C03")).toEqual([onlyFirst]);
  });
});

describe("a sharded run", () => {
  it("records the same entries, written in slices of customer items", async () => {
    // Slices of 4 writes: the ten customers' items span three slices, each item with its whole history.
    const steps = shardedSteps({ store, blobs }, { rangeBytes: 256, buckets: 3, sliceSize: 4 });
    const sharded = new LocalShardedRuns(steps, { thresholdBytes: 1, concurrency: 2, retryDelayMs: 10 });
    const ds = "sharded";
    const runSharded = async (body: Buffer): Promise<RunRecord> => {
      const event = await stageUpload({ store, s3, bucket, tenantId: T }, ds, body, {
        mode: "replace",
        settings: { asOf: AS_OF },
      });
      expect((await runUpload({ ...deps, sharded }, event)).outcome).toBe("sharded");
      await sharded.settled();
      const runId = (await store.getDataset(T, ds))?.current?.runId;
      const run = runId === undefined ? undefined : await store.getRun(T, ds, runId);
      if (!run) throw new Error("no committed sharded run");
      return run;
    };
    const fixture = await firstFile();
    const first = await runSharded(fixture);
    expect(first.version).toBe(1);
    const v1 = await segmentsOf(ds);
    for (const id of IDS) {
      expect(await allEntries(ds, id), id).toEqual([entryOf(first, { entered: v1.get(id) ?? [], left: [] })]);
    }
    expect(first.counts?.historyWritten).toBe(IDS.length);

    // A replace upload of both files moves C03 as the append did.
    const both = Buffer.concat([
      fixture,
      Buffer.from(secondFile.toString("utf8").split("\n").slice(1).join("\n")),
    ]);
    const second = await runSharded(both);
    const v2 = await segmentsOf(ds);
    expect(v2.get("C03")).not.toContain("rfm:lost");
    const moved = IDS.filter((id) => (v1.get(id) ?? []).join() !== (v2.get(id) ?? []).join());
    for (const id of IDS) {
      const expected = [
        ...(moved.includes(id) ? [entryOf(second, expectedChange(v1.get(id) ?? [], v2.get(id) ?? []))] : []),
        entryOf(first, { entered: v1.get(id) ?? [], left: [] }),
      ];
      expect(await allEntries(ds, id), id).toEqual(expected);
    }
    expect(second.counts?.historyWritten).toBe(moved.length);
    expect(await storedEntries(ds)).toEqual(
      [...IDS.map((id) => `${id} v1`), ...moved.map((id) => `${id} v2`)].sort(),
    );
  });
});
