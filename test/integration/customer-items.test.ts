/**
 * What a run writes to the table, counted by scanning the real table (DynamoDB Local) by key prefix: a first
 * run writes one item per customer, which carries the customer's history, plus its version's item; a run that
 * moves k customers rewrites exactly those k customer items.
 *
 * The customers a run moves are worked out from the committed views, not from what the run wrote: a rule
 * segment added to the dataset takes in exactly the customers whose served `monetary` meets its threshold.
 */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import {
  type DynamoDBDocumentClient,
  GetCommand,
  ScanCommand,
  TransactGetCommand,
} from "@aws-sdk/lib-dynamodb";
import { beforeAll, describe, expect, it } from "vitest";
import type { RunRecord, UploadRecord } from "../../shared/model";
import { type PipelineDeps, runRefresh, runUpload } from "../../shared/pipeline/run";
import { DynamoDatasetStore } from "../../shared/store/dynamo";
import { customerPk, datasetPk } from "../../shared/store/keys";
import { DynamoLookupStore, type LookupDynamoDB } from "../../shared/store/lookup";
import { S3BlobStore } from "../../shared/store/s3";
import { createTestBucket, createTestTable, testClients, uniqueName } from "../support/aws";

const T = "t";
const DS = "items";
const AS_OF = "2025-10-01";
const IDS = ["C01", "C02", "C03", "C04", "C05", "C06", "C07", "C08", "C09", "C10"];
const THRESHOLD = 300;

let doc: DynamoDBDocumentClient;
let s3: S3Client;
let table: string;
let bucket: string;
let store: DynamoDatasetStore;
let deps: PipelineDeps;

beforeAll(async () => {
  const clients = testClients();
  doc = clients.doc;
  s3 = clients.s3;
  table = await createTestTable(clients.dynamo, uniqueName("items"));
  bucket = await createTestBucket(clients.s3, uniqueName("items"));
  store = new DynamoDatasetStore(doc, table);
  deps = { store, blobs: new S3BlobStore(clients.s3, bucket) };
});

/** Every item of the table, read straight from it. */
async function scanAll(): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const out = await doc.send(
      new ScanCommand({ TableName: table, ConsistentRead: true, ExclusiveStartKey: start }),
    );
    items.push(...(out.Items ?? []));
    start = out.LastEvaluatedKey;
  } while (start);
  return items;
}

/** The dataset's items: its own partition's (META, runs, uploads, versions) and those under its customer keys. */
async function datasetItems() {
  const pk = datasetPk(T, DS);
  const all = await scanAll();
  const own = all.filter((i) => i.pk === pk);
  const under = all.filter((i) => String(i.pk).startsWith(`${pk}#`));
  const prefix = customerPk(T, DS, "");
  const customers = under.filter((i) => String(i.pk).startsWith(prefix));
  return {
    versions: own.filter((i) => String(i.sk).startsWith("VER#")),
    under,
    customers: new Map(customers.map((i) => [String(i.pk).slice(prefix.length), i])),
  };
}

async function upload(): Promise<RunRecord> {
  const key = `uploads/${T}/${DS}/u1/orders.csv`;
  const record: UploadRecord = {
    tenantId: T,
    datasetId: DS,
    uploadId: "u1",
    kind: "transactions",
    mode: "append",
    format: "csv",
    compression: "auto",
    fileName: "orders.csv",
    key,
    createdAt: new Date().toISOString(),
  };
  await store.createDataset(T, DS, { asOf: AS_OF });
  await store.putUpload(record);
  const body = await readFile(resolve(import.meta.dirname, "../fixtures/e2e/transactions.csv"));
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  const outcome = await runUpload(deps, {
    tenantId: T,
    datasetId: DS,
    uploadId: "u1",
    key,
    sequencer: "0000000000000001",
    eventTime: new Date().toISOString(),
  });
  if (outcome.outcome !== "succeeded") throw new Error(`upload ${outcome.outcome}`);
  return outcome.run;
}

describe("the items a run writes", () => {
  let first: RunRecord;

  it("are, on a first run, one item per customer (its history inside) and the version's item", async () => {
    first = await upload();
    const { versions, under, customers } = await datasetItems();
    expect([...customers.keys()].sort()).toEqual(IDS);
    // Nothing else under the dataset's keys: no membership item, no history item.
    expect(under).toHaveLength(IDS.length);
    expect(under.filter((i) => String(i.pk).includes("#H#") || String(i.pk).includes("#S#"))).toEqual([]);
    for (const [id, item] of customers) {
      expect(item.v, id).toBe(1);
      const { view } = await store.getCustomer(T, DS, id);
      // One entry: every segment the customer is in, entered at version 1.
      expect(item.hist, id).toEqual([{ v: 1, e: [...(view?.segments ?? [])].sort(), l: [] }]);
    }
    expect(versions).toEqual([
      {
        pk: datasetPk(T, DS),
        sk: "VER#0000000001",
        v: 1,
        runId: first.runId,
        asOf: AS_OF,
        completedAt: first.finishedAt,
      },
    ]);
    expect(first.counts?.customersWritten).toBe(IDS.length);
  });

  it("are, on a run that moves k customers, exactly those k customer items and the version's item", async () => {
    // Hand-worked from the fixture: C02 spent 750.50 and C08 2,000.00; no one else reaches 300.
    const moved: string[] = [];
    for (const id of IDS) {
      const { view } = await store.getCustomer(T, DS, id);
      if ((view?.monetary ?? 0) >= THRESHOLD) moved.push(id);
    }
    expect(moved).toEqual(["C02", "C08"]);
    const before = await datasetItems();

    const now = new Date().toISOString();
    await store.putDefinition(T, DS, {
      segmentId: "rule:big-spenders",
      name: "Big spenders",
      rule: { field: "monetary", op: "gte", value: THRESHOLD },
      createdAt: now,
      updatedAt: now,
    });
    const outcome = await runRefresh(deps, {
      tenantId: T,
      datasetId: DS,
      trigger: "definitions",
      eventId: "big-spenders",
      eventTime: now,
    });
    expect(outcome.outcome).toBe("succeeded");
    if (outcome.outcome !== "succeeded") return;
    expect(outcome.run.version).toBe(2);

    const after = await datasetItems();
    expect(after.under).toHaveLength(IDS.length);
    // Written by this run (version 2): the movers' items, each with its new entry first.
    const rewritten = [...after.customers]
      .filter(([, item]) => item.v === 2)
      .map(([id]) => id)
      .sort();
    expect(rewritten).toEqual(moved);
    for (const id of moved) {
      const item = after.customers.get(id);
      expect(item?.hist).toEqual([
        { v: 2, e: ["rule:big-spenders"], l: [] },
        ...((before.customers.get(id)?.hist ?? []) as unknown[]),
      ]);
    }
    // Everyone else's item is the one the first run wrote, untouched.
    for (const id of IDS.filter((i) => !moved.includes(i)))
      expect(after.customers.get(id), id).toEqual(before.customers.get(id));
    expect(after.versions.map((i) => i.sk)).toEqual(["VER#0000000001", "VER#0000000002"]);
    expect(outcome.run.counts?.customersWritten).toBe(moved.length);
    expect(outcome.run.counts?.historyWritten).toBe(moved.length);
  });
});

describe("a lookup of a customer item", () => {
  it("reads the item's views, not the history it carries", async () => {
    const key = { pk: customerPk(T, DS, "C02"), sk: "C" };
    const stored = (await doc.send(new GetCommand({ TableName: table, Key: key }))).Item;
    expect(stored?.hist).toHaveLength(2);
    // The lookup function's store over the document client, keeping what the table answered.
    const answered: Array<Record<string, unknown> | undefined> = [];
    const dynamo: LookupDynamoDB = {
      GetItem: async (input) => ({ Item: (await doc.send(new GetCommand(input))).Item }),
      TransactGetItems: async (input) => {
        const out = await doc.send(new TransactGetCommand(input));
        const responses = (out.Responses ?? []).map((r) => ({ Item: r.Item }));
        answered.push(...responses.map((r) => r.Item));
        return { Responses: responses };
      },
    };
    const { view } = await new DynamoLookupStore(dynamo, table).getCustomerItems(T, DS, "C02");
    expect(view).toEqual(stored?.view);
    const item = answered.find((i) => i !== undefined && "v" in i);
    expect(item?.v).toBe(2);
    expect(item && "hist" in item).toBe(false);
  });
});
