/**
 * Predictions evaluated when read, on DynamoDB Local and the S3 server: the CDNOW sample (2,357 customers)
 * computed by an upload run, then refreshed a day later (settings asOf moved one day, the same orders). After
 * each run, for every customer, the lookup route's core (lookupRoutes over the lookup function's store) and
 * the document-client store (DynamoDatasetStore.getCustomer) serve exactly the view of the version's
 * outputs file, predictions included (to the last digit, no tolerance), without the stored inputs; the table
 * holds each customer's view without its predictions. The refresh rewrites exactly the customers whose view
 * without predictions or whose segments changed, counted here from the two outputs files and checked against
 * the customer items the table holds at the refresh's version.
 */
import { readFileSync } from "node:fs";
import { DynamoDBDocumentClient, ScanCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { beforeAll, describe, expect, it } from "vitest";
import { customerAnswer } from "../../shared/api/customer-answer";
import { lookupRoutes } from "../../shared/api/lookup";
import type { ApiRequest } from "../../shared/http/api";
import type { CurrentVersion, CustomerView } from "../../shared/model";
import { runRefresh, runUpload } from "../../shared/pipeline/run";
import { DynamoDatasetStore } from "../../shared/store/dynamo";
import { customerPk } from "../../shared/store/keys";
import { S3BlobStore } from "../../shared/store/s3";
import { createTestBucket, createTestTable, testClients, uniqueName } from "../support/aws";
import { testLookupStore } from "../support/lookup";
import { versionViews } from "../support/outputs";
import { sharedData } from "../support/shared-data";
import { stageUpload } from "../support/uploads";

const TENANT = "t";
const DATASET = "cdnow";
const AS_OF = "1998-07-01";
const NEXT_DAY = "1998-07-02";
const PREDICTIONS = [
  "probabilityAlive",
  "expectedPurchases",
  "expectedPurchasesLow",
  "expectedPurchasesHigh",
  "clv",
  "clvLow",
  "clvHigh",
];

let store: DynamoDatasetStore;
let blobs: S3BlobStore;
let doc: DynamoDBDocumentClient;
let table: string;
let getCustomer: NonNullable<ReturnType<typeof lookupRoutes>["getCustomer"]>;

/** The version's outputs file: customer id -> view, as the run wrote it. */
const outputsOf = (version: number) => versionViews(blobs, TENANT, DATASET, version);

/** A view as readers serve it: the outputs file's, without the stored inputs. */
function served(view: CustomerView): CustomerView {
  const { valueInputs: _inputs, ...rest } = view;
  return rest;
}

/** What the table stores of a view, worked out here: every field but the seven predictions. */
function stored(view: CustomerView): Record<string, unknown> {
  return Object.fromEntries(Object.entries(view).filter(([key]) => !PREDICTIONS.includes(key)));
}

/** The dataset's customer items, by customer id: the version that wrote each, and its stored view. */
async function customerItems(): Promise<Map<string, { v: number; view: Record<string, unknown> }>> {
  const prefix = customerPk(TENANT, DATASET, "");
  const items = new Map<string, { v: number; view: Record<string, unknown> }>();
  let start: Record<string, unknown> | undefined;
  do {
    const page = await doc.send(
      new ScanCommand({
        TableName: table,
        FilterExpression: "begins_with(pk, :prefix) AND sk = :sk",
        ExpressionAttributeValues: { ":prefix": prefix, ":sk": "C" },
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    for (const item of page.Items ?? []) {
      items.set((item.pk as string).slice(prefix.length), {
        v: item.v as number,
        view: item.view as Record<string, unknown>,
      });
    }
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}

const request = (customerId: string): ApiRequest => ({
  routeId: "getCustomer",
  params: { datasetId: DATASET, customerId },
  query: {},
  body: undefined,
  tenantId: TENANT,
  requestId: "test",
});

/**
 * Every customer of the version's outputs file, read both ways, against the file: returns how many were
 * compared and how many of their served views carry predictions.
 */
async function everyCustomerServed(
  current: CurrentVersion,
): Promise<{ customers: number; predicted: number }> {
  const outputs = await outputsOf(current.version);
  let predicted = 0;
  const wrong: string[] = [];
  const check = async (id: string, view: CustomerView) => {
    const expected = served(view);
    if (expected.probabilityAlive !== undefined) predicted++;
    const fromStore = await store.getCustomer(TENANT, DATASET, id);
    if (JSON.stringify(fromStore.view) !== JSON.stringify(expected)) {
      expect(fromStore.view, id).toEqual(expected);
      wrong.push(id);
    }
    const answer = await getCustomer(request(id));
    expect(answer.status, id).toBe(200);
    expect(answer.body, id).toEqual(customerAnswer(DATASET, id, current, expected));
    // The stored inputs are the service's own: no answer shows them.
    if (JSON.stringify(answer.body).includes("valueInputs")) wrong.push(`${id}: answer shows valueInputs`);
  };
  // Sixteen customers at a time: every one is read, in less time on a busy machine.
  const entries = [...outputs];
  for (let i = 0; i < entries.length; i += 16) {
    await Promise.all(entries.slice(i, i + 16).map(([id, view]) => check(id, view)));
  }
  expect(wrong).toEqual([]);
  return { customers: outputs.size, predicted };
}

describe("predictions evaluated when read", () => {
  let first: CurrentVersion;
  let second: CurrentVersion;
  let refreshWritten: number | undefined;
  let itemsAfterRefresh: Map<string, { v: number; view: Record<string, unknown> }>;

  beforeAll(async () => {
    const clients = testClients();
    doc = DynamoDBDocumentClient.from(clients.dynamo, { marshallOptions: { removeUndefinedValues: true } });
    table = await createTestTable(clients.dynamo, uniqueName("served"));
    const bucket = await createTestBucket(clients.s3, uniqueName("served"));
    store = new DynamoDatasetStore(doc, table);
    blobs = new S3BlobStore(clients.s3, bucket);
    getCustomer = lookupRoutes({ store: await testLookupStore(clients.endpoints.dynamodb, table) })
      .getCustomer as typeof getCustomer;

    const body = readFileSync(sharedData("cdnow/cdnow-sample-transactions.csv"));
    const event = await stageUpload({ store, s3: clients.s3, bucket, tenantId: TENANT }, DATASET, body, {
      settings: { asOf: AS_OF },
    });
    expect((await runUpload({ store, blobs }, event)).outcome).toBe("succeeded");
    first = (await store.getDataset(TENANT, DATASET))?.current as CurrentVersion;
  });

  it("serves every customer the version's outputs view, predictions included, after an upload run", async () => {
    expect(first.servedValue).toEqual(expect.any(String));
    expect(await everyCustomerServed(first)).toEqual({ customers: 2_357, predicted: 2_357 });
    // The table holds the views without predictions, each customer's inputs kept.
    const items = await customerItems();
    expect(items.size).toBe(2_357);
    for (const { view } of items.values()) {
      expect(PREDICTIONS.filter((p) => p in view)).toEqual([]);
      expect(view.valueInputs).toEqual(expect.objectContaining({ x: expect.any(Number) }));
    }
  }, 600_000); // a limit that catches a hang: thousands of reads, slow on a loaded machine

  it("after a refresh a day later, serves the new version's views and rewrote only real changes", async () => {
    expect(await store.putSettings(TENANT, DATASET, { asOf: NEXT_DAY })).toBe(true);
    const outcome = await runRefresh(
      { store, blobs },
      {
        tenantId: TENANT,
        datasetId: DATASET,
        trigger: "settings",
        eventId: "e1",
        eventTime: new Date().toISOString(),
      },
    );
    expect(outcome.outcome).toBe("succeeded");
    if (outcome.outcome !== "succeeded") return;
    refreshWritten = outcome.run.counts?.customersWritten;
    second = (await store.getDataset(TENANT, DATASET))?.current as CurrentVersion;
    expect(second.version).toBe(first.version + 1);
    expect(second.asOf).toBe(NEXT_DAY);

    // Worked out from the two outputs files: who changed besides predictions, and whose predictions moved.
    const before = await outputsOf(first.version);
    const after = await outputsOf(second.version);
    const changed = new Set<string>();
    let predictionsMoved = 0;
    for (const [id, view] of after) {
      const old = before.get(id) as CustomerView;
      const segmentsMoved = JSON.stringify(old.segments) !== JSON.stringify(view.segments);
      if (segmentsMoved || JSON.stringify(stored(old)) !== JSON.stringify(stored(view))) changed.add(id);
      else if (PREDICTIONS.some((p) => old[p as keyof CustomerView] !== view[p as keyof CustomerView]))
        predictionsMoved++;
    }
    // A day moves most predictions; what the table stores moves for far fewer customers.
    expect(predictionsMoved).toBeGreaterThan(after.size / 2);
    expect(changed.size).toBeLessThan(after.size / 2);

    itemsAfterRefresh = await customerItems();
    const rewritten = [...itemsAfterRefresh]
      .filter(([, item]) => item.v === second.version)
      .map(([id]) => id);
    expect(rewritten.sort()).toEqual([...changed].sort());
    expect(refreshWritten).toBe(changed.size);
  }, 600_000); // a limit that catches a hang: thousands of reads, slow on a loaded machine

  it("serves every customer the refreshed version's outputs view, rewritten or not", async () => {
    expect(second).toBeDefined();
    expect(await everyCustomerServed(second)).toEqual({ customers: 2_357, predicted: 2_357 });
    // Most customers are served from an item the first run wrote, with the second version's predictions.
    const untouched = [...itemsAfterRefresh.values()].filter((item) => item.v === first.version).length;
    expect(untouched).toBeGreaterThan(2_357 / 2);
  }, 600_000); // a limit that catches a hang: thousands of reads, slow on a loaded machine

  it("serves a view written with its predictions (before they were evaluated when read) as stored", async () => {
    const id = [...itemsAfterRefresh.keys()][0] as string;
    const old = (await outputsOf(second.version)).get(id) as CustomerView;
    // The old layout's item: the full view, predictions as its run rounded them (here: deliberately off).
    const { valueInputs: _inputs, ...full } = { ...old, clv: 12_345.67, probabilityAlive: 0.1234 };
    await doc.send(
      new UpdateCommand({
        TableName: table,
        Key: { pk: customerPk(TENANT, DATASET, id), sk: "C" },
        UpdateExpression: "SET #view = :view",
        ExpressionAttributeNames: { "#view": "view" },
        ExpressionAttributeValues: { ":view": full },
      }),
    );
    expect((await store.getCustomer(TENANT, DATASET, id)).view).toEqual(full);
    const answer = await getCustomer(request(id));
    expect(answer.body).toEqual(customerAnswer(DATASET, id, second, full));
  });
});
