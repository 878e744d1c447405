/**
 * Readers never see a mix of two runs: while a run replaces a dataset of a few thousand customers (every
 * customer's spend and most memberships change), readers keep reading customers and paging through segment
 * members on DynamoDB Local. Every customer read must match the version the same read reports, and every
 * full member listing must have exactly the size its version's summary gives. The lookup function's routes
 * (shared/api/lookup over aws-lite) read alongside: they keep the committed version they have read and check
 * it by reference only, so they are held to the same rule through the commit.
 */
import awsLite from "@aws-lite/client";
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { beforeAll, describe, expect, it } from "vitest";
import { lookupRoutes } from "../../shared/api/lookup";
import type { RouteHandler } from "../../shared/http/api";
import type { UploadRecord } from "../../shared/model";
import { runUpload, type UploadEvent } from "../../shared/pipeline/run";
import { DynamoDatasetStore } from "../../shared/store/dynamo";
import { DynamoLookupStore, lookupPlugin } from "../../shared/store/lookup";
import { S3MemberPages } from "../../shared/store/member-pages";
import { S3BlobStore } from "../../shared/store/s3";
import { createTestBucket, createTestTable, testClients, uniqueName } from "../support/aws";

const CUSTOMERS = 2_000;
const DATASET = "big";

let s3: S3Client;
let bucket: string;
let store: DynamoDatasetStore;
let blobs: S3BlobStore;
let lookupCustomer: RouteHandler;

/** Two orders per customer; in the second file the spend ranking is reversed, so most segments change. */
function file(second: boolean): { csv: string; monetary: Map<string, number> } {
  const lines = ["customer_id,order_id,order_date,amount"];
  const monetary = new Map<string, number>();
  for (let i = 0; i < CUSTOMERS; i++) {
    const id = `K${String(i).padStart(5, "0")}`;
    const base = second ? 1_000 + (CUSTOMERS - i) : 10 + i;
    const day = 1 + (i % 28);
    lines.push(
      `${id},${id}-a${second ? 2 : 1},2025-0${1 + (i % 6)}-${String(day).padStart(2, "0")},${base}.00`,
    );
    lines.push(`${id},${id}-b${second ? 2 : 1},2025-07-${String(day).padStart(2, "0")},${base}.50`);
    monetary.set(id, 2 * base + 0.5);
  }
  return { csv: `${lines.join("\n")}\n`, monetary };
}

let sequence = 0;
async function stage(csv: string, mode: "append" | "replace"): Promise<UploadEvent> {
  const uploadId = `u${++sequence}`;
  const key = `uploads/t/${DATASET}/${uploadId}/orders.csv`;
  const upload: UploadRecord = {
    tenantId: "t",
    datasetId: DATASET,
    uploadId,
    kind: "transactions",
    mode,
    format: "csv",
    compression: "auto",
    fileName: "orders.csv",
    key,
    createdAt: new Date(Date.now() + sequence).toISOString(),
  };
  await store.putUpload(upload);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: csv }));
  return {
    tenantId: "t",
    datasetId: DATASET,
    uploadId,
    key,
    sequencer: `00000000000000${String(sequence).padStart(4, "0")}`,
    eventTime: new Date().toISOString(),
  };
}

beforeAll(async () => {
  const clients = testClients();
  s3 = clients.s3;
  const table = await createTestTable(clients.dynamo, uniqueName("consistency"));
  bucket = await createTestBucket(clients.s3, uniqueName("consistency"));
  store = new DynamoDatasetStore(DynamoDBDocumentClient.from(clients.dynamo), table);
  blobs = new S3BlobStore(clients.s3, bucket);
  await store.ensureDataset("t", DATASET, { asOf: "2025-08-01" });
  const endpoint = new URL(clients.endpoints.dynamodb);
  const aws = await awsLite({
    region: "us-east-1",
    accessKeyId: "local",
    secretAccessKey: "local",
    plugins: [lookupPlugin],
    protocol: endpoint.protocol.replace(":", ""),
    host: endpoint.hostname,
    port: Number(endpoint.port),
  });
  const routes = lookupRoutes({ store: new DynamoLookupStore(aws.SegmentationLookup, table) });
  if (!routes.getCustomer) throw new Error("the lookup routes have no getCustomer");
  lookupCustomer = routes.getCustomer;
});

describe("reads during a run", () => {
  it("never mix two versions, in customer lookups or in member listings", async () => {
    const first = file(false);
    const second = file(true);
    expect((await runUpload({ store, blobs }, await stage(first.csv, "replace"))).outcome).toBe("succeeded");
    const byVersion = new Map<number, Map<string, number>>([
      [1, first.monetary],
      [2, second.monetary],
    ]);

    const event = await stage(second.csv, "replace");
    let done = false;
    const run = runUpload({ store, blobs }, event).finally(() => {
      done = true;
    });

    const seenVersions = new Set<number>();
    let customerReads = 0;
    let listings = 0;
    const ids = [...first.monetary.keys()];
    // Each reader goes on while the run works, then reads some more once it has committed.
    const readCustomers = async () => {
      for (let n = 0, after = 0; !done || after++ < 20; n++) {
        const id = ids[(n * 7919) % ids.length] as string;
        const { meta, view } = await store.getCustomer("t", DATASET, id);
        const version = meta?.current?.version as number;
        seenVersions.add(version);
        expect(view?.monetary, `${id} at version ${version}`).toBe(byVersion.get(version)?.get(id));
        customerReads++;
      }
    };
    // The lookup function's route, one instance for the whole test as a warm function keeps it.
    let lookups = 0;
    const lookupVersions = new Set<number>();
    const readLookups = async () => {
      for (let n = 0, after = 0; !done || after++ < 20; n++) {
        const id = ids[(n * 104_729) % ids.length] as string;
        const { status, body } = await lookupCustomer({
          routeId: "getCustomer",
          params: { datasetId: DATASET, customerId: id },
          query: {},
          body: undefined,
          tenantId: "t",
          requestId: "consistency",
        });
        const { version, monetary } = body as { version: number; monetary: number };
        lookupVersions.add(version);
        expect([status, monetary], `lookup of ${id} at version ${version}`).toEqual([
          200,
          byVersion.get(version)?.get(id),
        ]);
        lookups++;
      }
    };
    const readMembers = async () => {
      const pages = new S3MemberPages(blobs);
      for (let n = 0, after = 0; !done || after++ < 2; n++) {
        const meta = await store.getDataset("t", DATASET);
        const current = meta?.current;
        if (!current) throw new Error("no committed version");
        const segment = current.segments.filter((s) => s.family === "rfm")[n % 5] ?? current.segments[0];
        if (!segment) throw new Error("no segments");
        let count = 0;
        let after: string | undefined;
        do {
          const page = await pages.list("t", DATASET, current.version, segment.id, 250, after);
          if (!page) throw new Error(`no member pages of version ${current.version}`);
          count += page.items.length;
          after = page.next;
        } while (after);
        expect(count, `${segment.id} at version ${current.version}`).toBe(segment.size);
        listings++;
      }
    };
    const [outcome] = await Promise.all([run, readCustomers(), readMembers(), readLookups()]);
    expect(outcome.outcome).toBe("succeeded");
    expect(seenVersions).toEqual(new Set([1, 2]));
    expect(customerReads).toBeGreaterThan(20);
    expect(listings).toBeGreaterThan(2);
    expect(lookupVersions).toEqual(new Set([1, 2]));
    expect(lookups).toBeGreaterThan(20);
    // The run changed every customer (spend) and so rewrote every one of them.
    if (outcome.outcome === "succeeded") expect(outcome.run.counts?.customersWritten).toBe(CUSTOMERS);
  }, 300_000);
});
