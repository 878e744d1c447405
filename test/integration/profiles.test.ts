/**
 * Segment profiles written by runs, on DynamoDB Local and the S3 server (shared/pipeline/profiles.ts): after a
 * run with a transactions file (categories and channels, a planted preference for Jazz among big spenders)
 * and a customers file, objectKeys.profiles of the committed version equals the engine's profileSegments run
 * here on the same files with the dataset's settings (k 5, top 4; attributes other than the contact ones),
 * and one category figure is worked out from the rows and the committed member lists. A sharded run of the
 * transactions writes the same profiles as a run reading the file whole. The segment answer serves a segment's
 * profile from the object, and null for a version without one.
 */
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { beforeAll, describe, expect, it } from "vitest";
import { readRoutes } from "../../shared/api/read";
import { computeSegments } from "../../shared/engine/compute";
import { ingestCustomers, ingestTransactions } from "../../shared/engine/ingest";
import { profileInputOf, profileSegments, type SpendProfile } from "../../shared/engine/profiles";
import { AggregateState } from "../../shared/engine/state";
import type { RouteHandler } from "../../shared/http/api";
import { CursorCodec } from "../../shared/http/cursor";
import type { DatasetSettings, UploadRecord } from "../../shared/model";
import { decodeOutputs } from "../../shared/pipeline/outputs";
import { decodeProfiles, type StoredProfiles } from "../../shared/pipeline/profiles";
import { type PipelineDeps, runUpload, type UploadEvent } from "../../shared/pipeline/run";
import { shardedSteps } from "../../shared/pipeline/sharded";
import { LocalShardedRuns } from "../../shared/pipeline/sharded-local";
import { DynamoDatasetStore } from "../../shared/store/dynamo";
import { objectKeys } from "../../shared/store/keys";
import { S3BlobStore } from "../../shared/store/s3";
import { createTestBucket, createTestTable, testClients, uniqueName } from "../support/aws";

const T = "t";
const AS_OF = "2025-07-01";
const CUSTOMERS = 700;
const CATEGORIES = ["Jazz", "Rock", "Pop", "Folk", "Blues", "Soul"];
const CHANNELS = ["web", "app", "store"];
const SETTINGS: DatasetSettings = {
  asOf: AS_OF,
  value: { enabled: false },
  clusters: { k: 3 },
  profiles: { k: 5, top: 4 },
};

function lcg(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 48271) % 2147483647;
    return s / 2147483647;
  };
}

interface Line {
  customer: string;
  day: string;
  cents: number;
  category: string;
  channel: string;
}

/** Orders with a category and channel; customers who spend more put more into Jazz; a few returns. */
function generate() {
  const next = lcg(2024);
  const lines: Line[] = [];
  const start = Date.parse("2024-01-01T00:00:00Z");
  for (let c = 0; c < CUSTOMERS; c++) {
    const big = next() < 0.3;
    const orders = 1 + Math.floor(next() * (big ? 9 : 4));
    for (let k = 0; k < orders; k++) {
      const day = new Date(start + Math.floor(next() * 540) * 86_400_000).toISOString().slice(0, 10);
      const category =
        big && next() < 0.5 ? "Jazz" : (CATEGORIES[Math.floor(next() * CATEGORIES.length)] as string);
      const channel = next() < 0.1 ? "" : (CHANNELS[Math.floor(next() * CHANNELS.length)] as string);
      const cents = (big ? 4_000 : 1_000) + Math.floor(next() * 6_000);
      lines.push({ customer: `C${c}`, day, cents, category, channel });
      if (next() < 0.05)
        lines.push({ customer: `C${c}`, day, cents: -Math.floor(cents * 1.2), category, channel });
    }
  }
  const tx = ["customer_id,order_id,order_date,amount,category,channel"];
  for (const [i, l] of lines.entries()) {
    tx.push(`${l.customer},O${i},${l.day},${(l.cents / 100).toFixed(2)},${l.category},${l.channel}`);
  }
  const customers = ["customer_id,region,age,signup_date,email"];
  for (let c = 0; c < CUSTOMERS; c++) {
    const region = ["north", "south", "east", "west"][Math.floor(next() * 4)] as string;
    const age = next() < 0.1 ? "" : String(18 + Math.floor(next() * 60));
    const signup = new Date(Date.parse("2022-01-01T00:00:00Z") + Math.floor(next() * 900) * 86_400_000)
      .toISOString()
      .slice(0, 10);
    customers.push(`C${c},${region},${age},${signup},c${c}@example.com`);
  }
  return { lines, transactions: `${tx.join("\n")}\n`, customers: `${customers.join("\n")}\n` };
}

let s3: S3Client;
let bucket: string;
let store: DynamoDatasetStore;
let blobs: S3BlobStore;
let sharded: LocalShardedRuns;
let deps: PipelineDeps;
let sequence = 0;
const data = generate();

async function stage(
  datasetId: string,
  body: string,
  kind: UploadRecord["kind"],
  mode: UploadRecord["mode"],
): Promise<UploadEvent> {
  await store.ensureDataset(T, datasetId, SETTINGS);
  const uploadId = `u${++sequence}`;
  const key = `uploads/${T}/${datasetId}/${uploadId}/${kind}.csv`;
  await store.putUpload({
    tenantId: T,
    datasetId,
    uploadId,
    kind,
    mode,
    format: "csv",
    compression: "auto",
    fileName: `${kind}.csv`,
    key,
    createdAt: new Date(Date.now() + sequence).toISOString(),
  });
  const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  return {
    tenantId: T,
    datasetId,
    uploadId,
    key,
    sequencer: String(sequence).padStart(16, "0"),
    eventTime: new Date().toISOString(),
    eTag: String(put.ETag).replace(/"/g, ""),
    size: Buffer.byteLength(body),
  };
}

// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field by the assertions.
async function getSegment(datasetId: string, segmentId: string): Promise<{ status: number; body: any }> {
  const core = readRoutes({ store, blobs, cursors: new CursorCodec("profiles") }).getSegment as RouteHandler;
  const answer = await core({
    routeId: "getSegment",
    params: { datasetId, segmentId },
    query: {},
    body: undefined,
    tenantId: T,
    requestId: "r",
  });
  return { status: answer.status, body: JSON.parse(JSON.stringify(answer.body)) };
}

async function committedProfiles(datasetId: string): Promise<StoredProfiles> {
  const version = (await store.getDataset(T, datasetId))?.current?.version as number;
  const bytes = await blobs.get(objectKeys.profiles(T, datasetId, version));
  expect(bytes, `${datasetId} v${version} has profiles`).toBeDefined();
  return decodeProfiles(bytes as Uint8Array);
}

beforeAll(async () => {
  const clients = testClients();
  s3 = clients.s3;
  const table = await createTestTable(clients.dynamo, uniqueName("profiles"));
  bucket = await createTestBucket(clients.s3, uniqueName("profiles"));
  store = new DynamoDatasetStore(DynamoDBDocumentClient.from(clients.dynamo), table);
  blobs = new S3BlobStore(clients.s3, bucket);
  const steps = shardedSteps({ store, blobs }, { rangeBytes: 8 * 1024, buckets: 4, sliceSize: 500 });
  sharded = new LocalShardedRuns(steps, { thresholdBytes: 1, concurrency: 2, retryDelayMs: 10 });
  deps = { store, blobs, sharded };
}, 300_000);

describe("profiles of a run", () => {
  it("are written beside the version and equal the engine's on the same files", async () => {
    const now = new Date().toISOString();
    await store.ensureDataset(T, "whole", SETTINGS);
    await store.putDefinition(T, "whole", {
      segmentId: "rule:north",
      name: "North",
      rule: { field: "attributes.region", op: "eq", value: "north" },
      createdAt: now,
      updatedAt: now,
    });
    const first = await runUpload(
      { store, blobs },
      await stage("whole", data.transactions, "transactions", "replace"),
    );
    expect(first.outcome).toBe("succeeded");
    const second = await runUpload(
      { store, blobs },
      await stage("whole", data.customers, "customers", "append"),
    );
    expect(second.outcome).toBe("succeeded");
    const meta = await store.getDataset(T, "whole");
    const current = meta?.current;
    const stored = await committedProfiles("whole");

    // The engine on the same files, read in the same order, with the dataset's settings.
    const state = new AggregateState();
    await ingestTransactions(
      (async function* () {
        yield Buffer.from(data.transactions);
      })(),
      { format: "csv" },
      state,
    );
    await ingestCustomers(
      (async function* () {
        yield Buffer.from(data.customers);
      })(),
      { format: "csv" },
      state,
    );
    const result = computeSegments(state, {
      asOf: AS_OF,
      value: false,
      clusters: { k: 3 },
      rules: [
        { id: "rule:north", name: "North", rule: { field: "attributes.region", op: "eq", value: "north" } },
      ],
    });
    const ids = result.segments.map((s) => s.id);
    expect(current?.segments.map((s) => s.id)).toEqual(ids);
    expect(ids).toContain("rule:north");
    // email is a contact attribute; the rest by name.
    const input = profileInputOf(result, result.traits, ids, ["age", "region", "signup_date"]);
    const expected = profileSegments(input, { k: 5, top: 4 });
    expect(stored).toEqual({
      version: current?.version,
      k: 5,
      top: 4,
      profiles: Object.fromEntries(expected.map((p) => [p.segmentId, p])),
    });
    expect(stored.profiles["rule:north"]?.attributes.map((a) => [a.name, a.kind])).toEqual([
      ["age", "numeric"],
      ["region", "categorical"],
      ["signup_date", "date"],
    ]);

    // Jazz among rfm:champions, from the rows and the committed views' memberships.
    const outputs = decodeOutputs(
      (await blobs.get(objectKeys.outputs(T, "whole", current?.version as number))) as Uint8Array,
    );
    const champions = new Set(
      [...outputs].filter(([, v]) => JSON.parse(v).segments.includes("rfm:champions")).map(([id]) => id),
    );
    expect(champions.size).toBeGreaterThanOrEqual(5);
    // Net spend per customer and category (a negative net counting 0), for the champions and for everyone.
    const net = new Map<string, number>();
    for (const l of data.lines) {
      if (l.day > AS_OF) continue;
      const key = `${l.customer}|${l.category}`;
      net.set(key, (net.get(key) ?? 0) + l.cents);
    }
    const sums = { jazz: 0, all: 0, buyers: 0, baseJazz: 0, baseAll: 0 };
    for (const [key, cents] of net) {
      if (cents <= 0) continue;
      const jazz = key.endsWith("|Jazz");
      sums.baseAll += cents;
      if (jazz) sums.baseJazz += cents;
      if (!champions.has(key.slice(0, key.indexOf("|")))) continue;
      sums.all += cents;
      if (jazz) {
        sums.jazz += cents;
        sums.buyers++;
      }
    }
    const category = stored.profiles["rfm:champions"]?.spend.find(
      (d) => d.dimension === "category",
    ) as SpendProfile;
    expect(category.totalCents).toBe(sums.all);
    const share = sums.jazz / sums.all;
    const baseShare = sums.baseJazz / sums.baseAll;
    expect(category.items[0]).toEqual({
      value: "Jazz",
      suppressed: false,
      buyers: sums.buyers,
      netCents: sums.jazz,
      share: Math.round(share * 1e4) / 1e4,
      baseShare: Math.round(baseShare * 1e4) / 1e4,
      lift: Math.round((share / baseShare) * 1e4) / 1e4,
      reading: expect.stringMatching(/^put \d\.\d× the average customer's share of their spend into Jazz$/),
    });
    // The planted preference: big spenders put more into Jazz.
    expect(share / baseShare).toBeGreaterThan(1.05);

    const runs = (await store.listRuns(T, "whole", 10)).items;
    expect(runs.every((r) => typeof r.timingsMs?.profilesMs === "number")).toBe(true);

    // The segment answer serves the segment's profile from the object.
    const answer = await getSegment("whole", "rfm:champions");
    expect(answer.status).toBe(200);
    expect(answer.body.liftProfile).toEqual(stored.profiles["rfm:champions"]);
    expect((await getSegment("whole", "rule:north")).body.liftProfile).toEqual(stored.profiles["rule:north"]);
  });

  it("of a sharded run equal those of the same file read whole", async () => {
    const whole = await runUpload(
      { store, blobs },
      await stage("single", data.transactions, "transactions", "replace"),
    );
    expect(whole.outcome).toBe("succeeded");
    const handed = await runUpload(
      deps,
      await stage("sharded", data.transactions, "transactions", "replace"),
    );
    expect(handed.outcome).toBe("sharded");
    await sharded.settled();
    const [a, b] = [await committedProfiles("single"), await committedProfiles("sharded")];
    expect(Object.keys(b.profiles).length).toBeGreaterThan(10);
    expect(b.profiles).toEqual(a.profiles);
    expect({ k: b.k, top: b.top }).toEqual({ k: 5, top: 4 });
    const dimensions = b.profiles["rfm:champions"]?.spend.map((d) => d.dimension);
    expect(dimensions).toEqual(["category", "channel"]);
    const runs = (await store.listRuns(T, "sharded", 10)).items;
    expect(runs[0]?.timingsMs?.profilesMs).toBeTypeOf("number");

    // A version without the object (committed before profiles were kept) answers a null liftProfile.
    expect((await getSegment("sharded", "rfm:champions")).body.liftProfile).toEqual(
      b.profiles["rfm:champions"],
    );
    const version = (await store.getDataset(T, "single"))?.current?.version as number;
    await blobs.delete([objectKeys.profiles(T, "single", version)]);
    const answer = await getSegment("single", "rfm:champions");
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ id: "rfm:champions", liftProfile: null });
  });
});
