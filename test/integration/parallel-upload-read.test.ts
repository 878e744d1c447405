/**
 * The compute function's read of a transactions upload on every core, against the S3 server: the Online
 * Retail file (18 MB, a plain CSV) put in a bucket is read by worker threads fed by ranged GETs, and the
 * state (byte for byte), counts and rejected rows are those of a read of the file in one thread. A ranged GET
 * whose stream breaks half-way (injected at the S3 client) fails the read with that error, as a broken
 * stream fails a read in one thread.
 */
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { Readable } from "node:stream";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { beforeAll, expect, it } from "vitest";
import { S3_SERVER_CREDENTIALS } from "../../scripts/emulators/s3-server";
import { ingestTransactions } from "../../shared/engine/ingest";
import { AggregateState } from "../../shared/engine/state";
import type { RowError } from "../../shared/engine/types";
import { readUploadTransactions } from "../../shared/pipeline/read-upload";
import { S3BlobStore } from "../../shared/store/s3";
import { createTestBucket, testClients } from "../support/aws";
import { sharedData } from "../support/shared-data";

const KEY = "uploads/t1/d1/u1.csv";
const SLOW = 600_000;
let bucket: string;
let endpoint: string;
let bytes: Buffer;

beforeAll(async () => {
  const { s3, endpoints } = testClients();
  endpoint = endpoints.s3;
  bucket = await createTestBucket(s3);
  bytes = readFileSync(sharedData("online-retail/online-retail-transactions.csv"));
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: KEY, Body: bytes }));
}, SLOW);

/** An S3 client whose ranged GETs (status 206) deliver `limit` bytes and then fail; none when limit is undefined. */
function s3Client(limit?: number) {
  const client = new S3Client({
    endpoint,
    region: "us-east-1",
    credentials: S3_SERVER_CREDENTIALS,
    forcePathStyle: true,
  });
  const stats = { ranged: 0, breaks: 0 };
  client.middlewareStack.add(
    (next) => async (args) => {
      const result = await next(args);
      const response = result.response as { statusCode?: number; body?: unknown };
      if (response.statusCode !== 206) return result;
      stats.ranged++;
      if (limit === undefined) return result;
      const cutAt = limit;
      const source = response.body as AsyncIterable<Uint8Array>;
      async function* cut() {
        let seen = 0;
        for await (const chunk of source) {
          if (seen + chunk.length >= cutAt) {
            yield chunk.subarray(0, cutAt - seen);
            stats.breaks++;
            throw Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
          }
          seen += chunk.length;
          yield chunk;
        }
      }
      response.body = Readable.from(cut(), { objectMode: false });
      return result;
    },
    { step: "deserialize", name: "breakRangedStream", priority: "low" },
  );
  return { blobs: new S3BlobStore(client, bucket), stats };
}

async function oneThread() {
  const errors: RowError[] = [];
  const state = new AggregateState();
  const report = await ingestTransactions(
    Readable.from([bytes]),
    { format: "csv", onRowError: (e) => errors.push(e) },
    state,
  );
  return { state, report, errors };
}

it(
  "Online Retail from the bucket: ranged GETs on worker threads, the one-thread read's state and counts",
  async () => {
    const expected = await oneThread();
    for (const parallel of [{ ranges: 6, threads: 2, minBytes: 0 }, { minBytes: 16 << 20 }]) {
      const { blobs, stats } = s3Client();
      const errors: RowError[] = [];
      const opened = await blobs.stream(KEY);
      if (opened === undefined) throw new Error("the upload is missing");
      const read = await readUploadTransactions(
        blobs,
        KEY,
        opened,
        { format: "csv", onRowError: (e) => errors.push(e) },
        new AggregateState(),
        parallel,
      );
      // Every core by default.
      expect(read.threads).toBe(Math.min(parallel.threads ?? 16, availableParallelism()));
      expect(stats.ranged).toBeGreaterThanOrEqual(read.threads);
      expect(read.report).toEqual(expected.report);
      expect(errors).toEqual(expected.errors);
      expect(Buffer.from(read.state.serialize()).equals(Buffer.from(expected.state.serialize()))).toBe(true);
    }
  },
  SLOW,
);

it(
  "a ranged GET whose stream breaks half-way fails the read with the stream's error",
  async () => {
    const { blobs, stats } = s3Client(1 << 20);
    const opened = await blobs.stream(KEY);
    if (opened === undefined) throw new Error("the upload is missing");
    await expect(
      readUploadTransactions(blobs, KEY, opened, { format: "csv" }, new AggregateState(), {
        threads: 2,
        ranges: 4,
        minBytes: 0,
      }),
    ).rejects.toMatchObject({ message: "read ECONNRESET", code: "ECONNRESET" });
    expect(stats.breaks).toBeGreaterThan(0);
  },
  SLOW,
);
