/**
 * The DynamoDB adapter against DynamoDB Local: versioned reads never mix two runs, the run lease, and batch
 * writes that converge when the service leaves items unprocessed (a fault DynamoDB Local never produces, so
 * it is injected at the SDK client).
 */
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { beforeAll, describe, expect, it } from "vitest";
import type { CustomerView, RunRecord } from "../../shared/model";
import { DynamoDatasetStore } from "../../shared/store/dynamo";
import { createTestTable, testClients, uniqueName } from "../support/aws";

const view = (rfm: string, segments: string[]): CustomerView => ({
  firstPurchase: "2025-01-01",
  lastPurchase: "2025-02-01",
  frequency: 1,
  monetary: 10,
  r: Number(rfm[0]),
  f: Number(rfm[1]),
  m: Number(rfm[2]),
  rfm,
  segments,
});

const run = (runId: string): RunRecord => ({
  tenantId: "t",
  datasetId: "ds",
  runId,
  trigger: "upload",
  status: "running",
  startedAt: new Date().toISOString(),
  attempts: 1,
});

const current = (version: number, runId: string) => ({
  version,
  runId,
  asOf: "2025-03-01",
  completedAt: new Date().toISOString(),
  customerCount: 2,
  orderCount: 2,
  segments: [],
});

let table: string;
let store: DynamoDatasetStore;
let doc: DynamoDBDocumentClient;

beforeAll(async () => {
  const clients = testClients();
  table = uniqueName("store");
  await createTestTable(clients.dynamo, table);
  doc = DynamoDBDocumentClient.from(clients.dynamo);
  store = new DynamoDatasetStore(doc, table);
});

async function publish(datasetId: string, version: number, runId: string, write: () => Promise<void>) {
  const meta = await store.acquireLock("t", datasetId, runId, 60_000);
  expect(meta).toBeDefined();
  await store.markPending("t", datasetId, runId, runId, version);
  await write();
  await store.commit({
    tenantId: "t",
    datasetId,
    owner: runId,
    run: { ...run(runId), datasetId, status: "succeeded" },
    current: current(version, runId),
  });
}

describe("DynamoDatasetStore", () => {
  it("serves the committed version while a newer one is being written, and the new one once committed", async () => {
    await store.ensureDataset("t", "ds");
    await publish("ds", 1, "r1", async () => {
      await store.writeCustomers("t", "ds", 1, [
        { customerId: "A", view: view("555", ["rfm:champions"]), previous: null },
        { customerId: "B", view: view("111", ["rfm:lost"]), previous: null },
      ]);
    });

    // Run 2 writes A's change (out of champions, into loyal), but has not committed. (Members are no items:
    // each version's member pages are in S3, test/integration/member-pages.test.ts.)
    expect(await store.acquireLock("t", "ds", "r2", 60_000)).toBeDefined();
    await store.markPending("t", "ds", "r2", "r2", 2);
    await store.writeCustomers("t", "ds", 2, [
      { customerId: "A", view: view("444", ["rfm:loyal"]), previous: view("555", ["rfm:champions"]) },
    ]);
    expect((await store.getCustomer("t", "ds", "A")).view?.rfm).toBe("555");

    // No other attempt can take the dataset, or commit, while r2 holds the lease.
    expect(await store.acquireLock("t", "ds", "r3", 60_000)).toBeUndefined();
    expect(await store.renewLock("t", "ds", "r3", 60_000)).toBe(false);
    await expect(
      store.commit({
        tenantId: "t",
        datasetId: "ds",
        owner: "r3",
        run: run("r3"),
        current: current(2, "r3"),
      }),
    ).rejects.toMatchObject({ code: "LOCK_LOST" });
    expect(await store.renewLock("t", "ds", "r2", 60_000)).toBe(true);

    await store.commit({
      tenantId: "t",
      datasetId: "ds",
      owner: "r2",
      run: { ...run("r2"), status: "succeeded" },
      current: current(2, "r2"),
    });
    const after = await store.getCustomer("t", "ds", "A");
    expect(after.meta?.current?.version).toBe(2);
    expect(after.view?.rfm).toBe("444");
    expect((await store.getCustomer("t", "ds", "B")).view?.rfm).toBe("111");
    expect((await store.getDataset("t", "ds"))?.lock).toBeUndefined();
  });

  it("lets another attempt take a lease that expired, and not before", async () => {
    await store.ensureDataset("t", "lease");
    expect(await store.acquireLock("t", "lease", "dead-attempt", 150)).toBeDefined();
    expect(await store.acquireLock("t", "lease", "retry", 60_000)).toBeUndefined();
    await new Promise((ok) => setTimeout(ok, 200));
    expect(await store.acquireLock("t", "lease", "retry", 60_000)).toBeDefined();
    expect(await store.renewLock("t", "lease", "dead-attempt", 60_000)).toBe(false);
    await store.releaseLock("t", "lease", "dead-attempt");
    expect((await store.getDataset("t", "lease"))?.lock?.owner).toBe("retry");
    await store.releaseLock("t", "lease", "retry");
    expect((await store.getDataset("t", "lease"))?.lock).toBeUndefined();
  });

  it("converges when every other batch comes back with unprocessed items", async () => {
    const faulty = DynamoDBDocumentClient.from(testClients().dynamo);
    let calls = 0;
    faulty.middlewareStack.add(
      (next) => async (args) => {
        const input = args.input as { RequestItems?: Record<string, unknown[]> };
        const entry = input.RequestItems ? Object.entries(input.RequestItems)[0] : undefined;
        if (entry && entry[1].length > 1 && calls++ % 2 === 0) {
          // The service takes only the first item of the batch and hands the rest back as unprocessed.
          const [name, items] = entry;
          const result = await next({
            ...args,
            input: { ...input, RequestItems: { [name]: items.slice(0, 1) } },
          });
          (result.output as { UnprocessedItems?: unknown }).UnprocessedItems = { [name]: items.slice(1) };
          return result;
        }
        return next(args);
      },
      { step: "initialize", name: "unprocessedItems" },
    );
    const flaky = new DynamoDatasetStore(faulty, table, { baseDelayMs: 1, maxDelayMs: 5 });
    const writes = Array.from({ length: 60 }, (_, i) => ({
      customerId: `U${i}`,
      view: view("333", ["rfm:need-attention"]),
      previous: null,
    }));
    expect(await flaky.writeCustomers("t", "flaky", 1, writes)).toBe(60);
    expect(calls).toBeGreaterThan(3);
    await store.ensureDataset("t", "flaky");
    await publish("flaky", 1, "f1", async () => undefined);
    for (const w of writes)
      expect((await store.getCustomer("t", "flaky", w.customerId)).view?.rfm, w.customerId).toBe("333");
  });
});
