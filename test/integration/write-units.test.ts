/**
 * What a run costs in table writes, measured where DynamoDB measures it: every write request the store sends
 * to DynamoDB Local is counted (items put, updated or deleted) and asks for the write units it consumed
 * (ReturnConsumedCapacity), for an upload run of the CDNOW sample (2,357 customers) and for a refresh a day
 * later (settings asOf moved one day, the same orders). A full run writes one item per customer and a few
 * items of its own (the run, the dataset, the upload, the version); the refresh writes the customers whose
 * stored view or segments moved, worked out here from the two versions' outputs files, and nothing for the
 * predictions that moved. The size rules of the capacity model (scripts/bench/item-size.ts) give the units
 * DynamoDB Local reports for every batch of customer items.
 */
import { readFileSync } from "node:fs";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { beforeAll, describe, expect, it } from "vitest";
import { writeUnits } from "../../scripts/bench/item-size";
import { S3_SERVER_CREDENTIALS } from "../../scripts/emulators/s3-server";
import type { CustomerView } from "../../shared/model";
import { runRefresh, runUpload } from "../../shared/pipeline/run";
import { DynamoDatasetStore } from "../../shared/store/dynamo";
import { customerPk } from "../../shared/store/keys";
import { S3BlobStore } from "../../shared/store/s3";
import { createTestBucket, createTestTable, testClients, uniqueName } from "../support/aws";
import { versionViews } from "../support/outputs";
import { sharedData } from "../support/shared-data";
import { stageUpload } from "../support/uploads";

const TENANT = "t";
const DATASET = "units";
const CUSTOMERS = 2_357;
const PREDICTIONS = new Set([
  "probabilityAlive",
  "expectedPurchases",
  "expectedPurchasesLow",
  "expectedPurchasesHigh",
  "clv",
  "clvLow",
  "clvHigh",
]);

interface Tally {
  /** Items put under a customer key, by customer id. */
  customerPuts: string[];
  /** Every other item written (put, updated or deleted), by its sort key's kind. */
  otherItems: string[];
  /** Write units DynamoDB Local reported for the batches of customer items, and for every other write. */
  customerUnits: number;
  otherUnits: number;
  /** Batches of customer items whose units the size rules got wrong: [reported, estimated]. */
  misjudged: Array<[number, number]>;
  customerBatches: number;
}

const emptyTally = (): Tally => ({
  customerPuts: [],
  otherItems: [],
  customerUnits: 0,
  otherUnits: 0,
  misjudged: [],
  customerBatches: 0,
});
let tally = emptyTally();

const customerPrefix = customerPk(TENANT, DATASET, "");
const kind = (sk: unknown) => String(sk).replace(/#.*$/, "#");

type Item = Record<string, unknown>;
interface WriteRequest {
  PutRequest?: { Item: Item };
  DeleteRequest?: { Key: Item };
}
type Operation = { Item?: Item; Key?: Item };
interface TransactItem {
  Put?: Operation;
  Update?: Operation;
  Delete?: Operation;
  ConditionCheck?: Operation;
}
type Capacity = { CapacityUnits?: number } | undefined;
const unitsOf = (c: Capacity | Capacity[] | undefined): number =>
  Array.isArray(c) ? c.reduce((sum, x) => sum + (x?.CapacityUnits ?? 0), 0) : (c?.CapacityUnits ?? 0);

/** A document client of its own whose every write is counted and asks DynamoDB for the units it consumed. */
function countingClient(endpoint: string): DynamoDBDocumentClient {
  const client = new DynamoDBClient({ endpoint, region: "us-east-1", credentials: S3_SERVER_CREDENTIALS });
  const doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  doc.middlewareStack.add(
    (next, context) => async (args) => {
      const command = context.commandName ?? "";
      const input = args.input as Record<string, unknown>;
      const writes = /^(BatchWriteItem|TransactWriteItems|PutItem|UpdateItem|DeleteItem)Command$/.test(
        command,
      );
      if (writes) input.ReturnConsumedCapacity = "TOTAL";
      const out = await next(args);
      if (!writes) return out;
      const output = out.output as { ConsumedCapacity?: Capacity | Capacity[]; UnprocessedItems?: unknown };
      const units = unitsOf(output.ConsumedCapacity);
      let customerBatch = false;
      if (command === "BatchWriteItemCommand") {
        const requests = Object.values(input.RequestItems as Record<string, Array<WriteRequest>>).flat();
        let estimated = 0;
        let customers = 0;
        for (const r of requests) {
          const item = r.PutRequest?.Item;
          const key = item ?? r.DeleteRequest?.Key ?? {};
          if (item && String(item.pk).startsWith(customerPrefix)) {
            tally.customerPuts.push(String(item.pk).slice(customerPrefix.length));
            customers++;
          } else tally.otherItems.push(kind(key.sk));
          estimated += item ? writeUnits(item) : 1;
        }
        if (customers === requests.length) {
          customerBatch = true;
          tally.customerBatches++;
          if (estimated !== units) tally.misjudged.push([units, estimated]);
        }
      } else if (command === "TransactWriteItemsCommand") {
        for (const t of input.TransactItems as Array<TransactItem>) {
          const op = t.Put ?? t.Update ?? t.Delete ?? t.ConditionCheck ?? {};
          tally.otherItems.push(kind(op.Item?.sk ?? op.Key?.sk));
        }
      } else {
        tally.otherItems.push(
          kind((input.Item as Record<string, unknown>)?.sk ?? (input.Key as Record<string, unknown>)?.sk),
        );
      }
      if (customerBatch) tally.customerUnits += units;
      else tally.otherUnits += units;
      return out;
    },
    { step: "initialize", name: "countWrites" },
  );
  return doc;
}

function report(run: string, t: Tally): void {
  console.log(
    `${run}: ${t.customerPuts.length} customer items (${t.customerUnits} units), ` +
      `${t.otherItems.length} other items (${t.otherUnits} units): ${t.otherItems.join(" ")}`,
  );
}

let store: DynamoDatasetStore;
let blobs: S3BlobStore;

const outputsOf = (version: number) => versionViews(blobs, TENANT, DATASET, version);

/** A view without its predictions, which readers evaluate: what the table must hold of it. */
const withoutPredictions = (view: CustomerView) =>
  JSON.stringify(Object.entries(view).filter(([key]) => !PREDICTIONS.has(key)));

describe("table writes of a run", () => {
  let firstVersion = 0;

  beforeAll(async () => {
    const clients = testClients();
    const table = await createTestTable(clients.dynamo, uniqueName("units"));
    const bucket = await createTestBucket(clients.s3, uniqueName("units"));
    store = new DynamoDatasetStore(countingClient(clients.endpoints.dynamodb), table);
    blobs = new S3BlobStore(clients.s3, bucket);
    const body = readFileSync(sharedData("cdnow/cdnow-sample-transactions.csv"));
    const event = await stageUpload({ store, s3: clients.s3, bucket, tenantId: TENANT }, DATASET, body, {
      settings: { asOf: "1998-07-01" },
    });
    tally = emptyTally();
    const outcome = await runUpload({ store, blobs }, event);
    expect(outcome.outcome).toBe("succeeded");
    firstVersion = (await store.getDataset(TENANT, DATASET))?.current?.version ?? 0;
  });

  it("a full run writes one item per customer and a few of its own, at one unit each", () => {
    const full = tally;
    expect(new Set(full.customerPuts).size).toBe(CUSTOMERS);
    expect(full.customerPuts).toHaveLength(CUSTOMERS);
    // The run's own items: the dataset (lease, pending, commit), the run record, the upload, the version.
    expect(full.otherItems.length).toBeLessThanOrEqual(12);
    expect(full.otherItems).toContain("VER#");
    const items = full.customerPuts.length + full.otherItems.length;
    expect(items).toBeLessThanOrEqual(1.25 * CUSTOMERS);
    // Every customer item of a first run is under 1 KB: one unit each; the size rules agree batch by batch.
    expect(full.customerBatches).toBeGreaterThan(0);
    expect(full.misjudged).toEqual([]);
    expect(full.customerUnits).toBe(CUSTOMERS);
    report("full run", full);
  });

  it("a refresh a day later writes only the customers whose stored view or segments moved", async () => {
    expect(await store.putSettings(TENANT, DATASET, { asOf: "1998-07-02" })).toBe(true);
    tally = emptyTally();
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
    const before = await outputsOf(firstVersion);
    const after = await outputsOf(firstVersion + 1);
    const moved: string[] = [];
    for (const [id, view] of after) {
      const old = before.get(id) as CustomerView;
      if (withoutPredictions(old) !== withoutPredictions(view)) moved.push(id);
    }
    expect(moved.length).toBeLessThan(CUSTOMERS / 10);
    expect([...tally.customerPuts].sort()).toEqual(moved.sort());
    expect(tally.otherItems.length).toBeLessThanOrEqual(12);
    expect(tally.misjudged).toEqual([]);
    expect(tally.customerUnits).toBeGreaterThanOrEqual(moved.length);
    expect(tally.customerUnits).toBeLessThanOrEqual(2 * moved.length);
    // The run's own items cost the same whatever the dataset's size: the dataset item, which holds the
    // committed version's summary, is read and rewritten a few times a run.
    expect(tally.otherUnits).toBeLessThan(CUSTOMERS / 10);
    report("refresh", tally);
  });
});
