/**
 * Sharded runs against real servers (DynamoDB Local and the S3 server), driven through the state machine's
 * course by the local runner: the same upload computed in one function and sharded (many small byte ranges,
 * several buckets, several write slices) gives the same stored result, customer by customer and segment by
 * segment; a sharded dataset refreshes sharded; a file the shards cannot read exactly fails the run with its
 * code and frees the dataset; a small append to a sharded dataset is refused with DATASET_SHARDED; an
 * erasure removes the customer at once and recomputes the dataset sharded from the rewritten file.
 */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { S3Client } from "@aws-sdk/client-s3";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { beforeAll, describe, expect, it } from "vitest";
import { datasetRoutes } from "../../shared/api/datasets";
import { CursorCodec } from "../../shared/http/cursor";
import { runErasure } from "../../shared/pipeline/erase";
import { Membership } from "../../shared/pipeline/membership";
import { decodeOutputs } from "../../shared/pipeline/outputs";
import type { ServiceEvent } from "../../shared/pipeline/ports";
import { type PipelineDeps, runRefresh, runUpload } from "../../shared/pipeline/run";
import { shardedSteps } from "../../shared/pipeline/sharded";
import { LocalShardedRuns } from "../../shared/pipeline/sharded-local";
import { DynamoDatasetStore } from "../../shared/store/dynamo";
import { objectKeys } from "../../shared/store/keys";
import { S3BlobStore } from "../../shared/store/s3";
import { createTestBucket, createTestTable, testClients, uniqueName } from "../support/aws";
import { memberPage } from "../support/members";
import { stageUpload } from "../support/uploads";

const CDNOW_SAMPLE = "/work/shared/data/cdnow/cdnow-sample-transactions.csv";
const BAD_ROWS = resolve(import.meta.dirname, "../fixtures/e2e/transactions-with-bad-rows.csv");
const AS_OF = "1998-07-01";

let s3: S3Client;
let bucket: string;
let store: DynamoDatasetStore;
let blobs: S3BlobStore;
let sharded: LocalShardedRuns;
let deps: PipelineDeps;

beforeAll(async () => {
  const clients = testClients();
  s3 = clients.s3;
  const table = await createTestTable(clients.dynamo, uniqueName("sharded"));
  bucket = await createTestBucket(clients.s3, uniqueName("sharded"));
  store = new DynamoDatasetStore(DynamoDBDocumentClient.from(clients.dynamo), table);
  blobs = new S3BlobStore(clients.s3, bucket);
  // Ranges of 16 KiB and 5 buckets: the 150 KB sample is read in ten ranges, its customers in five buckets,
  // and a few thousand changed customers are written in slices of 700.
  const steps = shardedSteps({ store, blobs }, { rangeBytes: 16 * 1024, buckets: 5, sliceSize: 700 });
  sharded = new LocalShardedRuns(steps, { thresholdBytes: 1, concurrency: 3, retryDelayMs: 10 });
  deps = { store, blobs, sharded };
});

const stage = (datasetId: string, body: Uint8Array, mode: "append" | "replace" = "replace") =>
  stageUpload({ store, s3, bucket }, datasetId, body, { mode, settings: { asOf: AS_OF } });

async function committedOutputs(datasetId: string) {
  const meta = await store.getDataset("t", datasetId);
  const version = meta?.current?.version;
  if (version === undefined) throw new Error(`${datasetId} has no committed version`);
  const bytes = await blobs.get(objectKeys.outputs("t", datasetId, version));
  return { meta, outputs: decodeOutputs(bytes as Uint8Array) };
}

async function allMembers(datasetId: string, segmentId: string, version: number): Promise<string[]> {
  const ids: string[] = [];
  let after: string | undefined;
  do {
    const page = await memberPage(blobs, "t", datasetId, segmentId, version, 1000, after);
    ids.push(...page.items);
    after = page.next;
  } while (after);
  return ids.sort();
}

describe("a sharded run", () => {
  it("stores the same customers, segments and counts as the run in one function", async () => {
    const body = await readFile(CDNOW_SAMPLE);
    const single = await runUpload({ store, blobs }, await stage("single", body));
    expect(single.outcome).toBe("succeeded");

    const event = await stage("sharded", body);
    const handed = await runUpload(deps, event);
    expect(handed.outcome).toBe("sharded");
    await sharded.settled();

    const a = await committedOutputs("single");
    const b = await committedOutputs("sharded");
    expect(b.outputs.size).toBe(2357);
    expect([...b.outputs.keys()].sort()).toEqual([...a.outputs.keys()].sort());
    for (const [id, view] of a.outputs)
      expect(JSON.parse(b.outputs.get(id) as string), id).toEqual(JSON.parse(view));

    const [ca, cb] = [a.meta?.current, b.meta?.current];
    expect(cb?.customerCount).toBe(ca?.customerCount);
    expect(cb?.orderCount).toBe(ca?.orderCount);
    expect(cb?.segments).toEqual(ca?.segments);
    expect(cb?.clusters).toEqual(ca?.clusters);
    expect(cb?.value).toEqual(ca?.value);
    expect(cb?.distributions).toEqual(ca?.distributions);
    const cells = (cb?.distributions?.rfmGrid ?? []).flat().reduce((sum, n) => sum + n, 0);
    expect(cells).toBe(2357);
    expect(cb?.distributions?.clv?.counts.reduce((sum, n) => sum + n, 0)).toBe(2357);
    expect(cb?.source).toEqual({ uploadId: event.uploadId, key: event.key, size: body.length });
    expect(ca?.source).toBeUndefined();

    // The table: every customer item and every member list, written by the parallel write steps.
    for (const id of [...a.outputs.keys()].filter((_, i) => i % 97 === 0)) {
      const [x, y] = await Promise.all([
        store.getCustomer("t", "single", id),
        store.getCustomer("t", "sharded", id),
      ]);
      expect(y.view, id).toEqual(x.view);
    }
    for (const segment of ca?.segments ?? []) {
      const [x, y] = await Promise.all([
        allMembers("single", segment.id, ca?.version as number),
        allMembers("sharded", segment.id, cb?.version as number),
      ]);
      expect(y, segment.id).toEqual(x);
    }

    const runs = (await store.listRuns("t", "sharded", 10)).items;
    expect(runs).toHaveLength(1);
    const singleRun = (await store.listRuns("t", "single", 10)).items[0];
    expect(runs[0]).toMatchObject({ status: "succeeded", uploadId: event.uploadId, version: cb?.version });
    for (const count of [
      "rowsRead",
      "rowsAccepted",
      "rowsRejected",
      "ordersAdded",
      "customers",
      "orders",
    ] as const) {
      expect(runs[0]?.counts?.[count], count).toBe(singleRun?.counts?.[count]);
    }
    expect(runs[0]?.counts?.customersWritten).toBe(2357);
    // The run released the dataset.
    expect((await store.getDataset("t", "sharded"))?.lock).toBeUndefined();
  }, 600_000); // two whole runs of the sample and every member page: the limit only catches a hang

  it("reports rejected rows with the numbers and codes the single path gives", async () => {
    const body = await readFile(BAD_ROWS);
    await runUpload({ store, blobs }, await stage("bad-single", body));
    const event = await stage("bad-sharded", body);
    expect((await runUpload(deps, event)).outcome).toBe("sharded");
    await sharded.settled();
    const [x] = (await store.listRuns("t", "bad-single", 1)).items;
    const [y] = (await store.listRuns("t", "bad-sharded", 1)).items;
    expect(y?.status).toBe("succeeded");
    expect(y?.counts?.rowsRejected).toBe(x?.counts?.rowsRejected);
    expect(y?.counts?.rowsRejected).toBeGreaterThan(0);
    const report = (key?: string) =>
      blobs.get(key as string).then((b) => Buffer.from(b as Uint8Array).toString());
    expect(await report(y?.reportKey)).toBe(await report(x?.reportKey));
  });

  it("refreshes a sharded dataset sharded, from its source upload, changing nothing when nothing changed", async () => {
    const before = await committedOutputs("sharded");
    const refresh = (eventId: string) =>
      runRefresh(deps, { tenantId: "t", datasetId: "sharded", eventId, eventTime: new Date().toISOString() });
    // Same state, settings, rule segments and asOf: nothing to compute, no run.
    expect(await refresh("refresh-0")).toEqual({
      outcome: "unchanged",
      version: before.meta?.current?.version,
    });
    // A setting that changes no figure still makes the refresh run, and it writes nothing.
    expect(await store.putSettings("t", "sharded", { asOf: AS_OF, currency: "EUR" })).toBe(true);
    const outcome = await refresh("refresh-1");
    expect(outcome.outcome).toBe("sharded");
    await sharded.settled();
    const after = await committedOutputs("sharded");
    expect(after.meta?.current?.version).toBe((before.meta?.current?.version ?? 0) + 1);
    expect(after.meta?.current?.source).toEqual(before.meta?.current?.source);
    expect(after.outputs).toEqual(before.outputs);
    const [latest] = (await store.listRuns("t", "sharded", 1)).items;
    expect(latest).toMatchObject({ trigger: "refresh", status: "succeeded" });
    expect(latest?.counts?.customersWritten).toBe(0);
  });

  it("fails a file the shards cannot read exactly with its code, and frees the dataset", async () => {
    const body = Buffer.from(
      'customer_id,order_id,order_date,amount,channel\nC1,O1,2025-01-01,10.00,"web\nshop"\nC2,O2,2025-01-02,5.00,app\n',
    );
    const event = await stage("unshardable", body);
    expect((await runUpload(deps, event)).outcome).toBe("sharded");
    await sharded.settled();
    const [run] = (await store.listRuns("t", "unshardable", 1)).items;
    expect(run).toMatchObject({ status: "failed", error: { code: "UNSHARDABLE_FILE" } });
    const meta = await store.getDataset("t", "unshardable");
    expect(meta?.lock).toBeUndefined();
    expect(meta?.current).toBeUndefined();
    // The same file read whole works: the dataset is free for the next run.
    const whole = await runUpload({ store, blobs }, await stage("unshardable", body));
    expect(whole.outcome).toBe("succeeded");
  });

  it("refuses a small append to a sharded dataset, keeping its version", async () => {
    const before = await store.getDataset("t", "sharded");
    const body = Buffer.from(
      "customer_id,order_id,order_date,amount,quantity\n0001,X-1,1998-06-01,10.00,1\n",
    );
    const outcome = await runUpload({ store, blobs }, await stage("sharded", body, "append"));
    expect(outcome).toMatchObject({ outcome: "failed", run: { error: { code: "DATASET_SHARDED" } } });
    const after = await store.getDataset("t", "sharded");
    expect(after?.current).toEqual(before?.current);
    expect(after?.lock).toBeUndefined();
  });

  it("erases a customer from a sharded dataset: views, items and the source file, then recomputes without them", async () => {
    const before = await committedOutputs("sharded");
    const customerId = [...before.outputs.keys()][0] as string;
    // Each version's history file: every customer's entries, which the next run continues.
    const historyOf = async (version: number | undefined) =>
      decodeOutputs((await blobs.get(objectKeys.history("t", "sharded", version as number))) as Uint8Array);
    expect((await historyOf(before.meta?.current?.version)).has(customerId)).toBe(true);
    const events: ServiceEvent[] = [];
    const routes = datasetRoutes({
      store,
      blobs,
      cursors: new CursorCodec("sharded-test"),
      events: { publish: async (e: ServiceEvent[]) => void events.push(...e) },
    });
    const answer = await routes.eraseCustomer?.({
      routeId: "eraseCustomer",
      params: { datasetId: "sharded", customerId },
      query: {},
      body: undefined,
      tenantId: "t",
      requestId: "r",
    });
    expect(answer?.status).toBe(202);
    const detail = events[0]?.detail as { tenantId: string; datasetId: string; erasureId: string };
    const result = await runErasure(deps, { ...detail, eventTime: new Date().toISOString() });
    expect(result.outcome).toBe("completed");
    expect((await store.getCustomer("t", "sharded", customerId)).view).toBeUndefined();
    const source = before.meta?.current?.source;
    const file = Buffer.from((await blobs.get(source?.key as string)) as Uint8Array).toString();
    expect(file.split("\n").some((line) => line.startsWith(`${customerId},`))).toBe(false);
    // The version's membership object, which overlap answers read, lost the customer too.
    const membershipOf = async (version: number | undefined) =>
      new Membership(
        (await blobs.get(objectKeys.membership("t", "sharded", version as number))) as Uint8Array,
      );
    const idsOf = (m: Membership) => Array.from({ length: m.count }, (_, p) => m.id(p));
    const erased = await membershipOf(before.meta?.current?.version);
    expect(erased.count).toBe(before.outputs.size - 1);
    expect(idsOf(erased)).not.toContain(customerId);
    // Its history file too, so no later version carries the customer's history on.
    const erasedHistory = await historyOf(before.meta?.current?.version);
    expect(erasedHistory.has(customerId)).toBe(false);
    expect(erasedHistory.size).toBe(before.outputs.size - 1);

    // The sharded refresh it started recomputes from the rewritten file.
    await sharded.settled();
    const after = await committedOutputs("sharded");
    expect(after.meta?.current?.version).toBeGreaterThan(before.meta?.current?.version ?? 0);
    expect(after.meta?.current?.customerCount).toBe((before.meta?.current?.customerCount ?? 0) - 1);
    expect(after.outputs.has(customerId)).toBe(false);
    expect(after.outputs.size).toBe(before.outputs.size - 1);
    expect((await store.getCustomer("t", "sharded", customerId)).view).toBeUndefined();
    const recomputed = await membershipOf(after.meta?.current?.version);
    expect(idsOf(recomputed).sort()).toEqual([...after.outputs.keys()].sort());
    expect((await historyOf(after.meta?.current?.version)).has(customerId)).toBe(false);
  });
});
