/**
 * Helpers for tests that talk to the local servers started by `global-setup.ts`: SDK clients pointed at
 * them, unique names so each test has its own table and bucket, resource creation from the service's own
 * definitions, and polling with a deadline instead of sleeping.
 */
import { randomBytes } from "node:crypto";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { S3Client } from "@aws-sdk/client-s3";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { inject } from "vitest";
import { ensureBucket, ensureTable } from "../../scripts/emulators/resources";
import { S3_SERVER_CREDENTIALS } from "../../scripts/emulators/s3-server";

export interface TestClients {
  dynamo: DynamoDBClient;
  doc: DynamoDBDocumentClient;
  s3: S3Client;
  endpoints: { dynamodb: string; s3: string };
}

/**
 * New clients for the shared local servers (region us-east-1, the S3 server's key pair, path-style S3).
 * Pass `s3Endpoint` to aim the S3 client at a server the test started itself.
 */
export function testClients(options: { s3Endpoint?: string } = {}): TestClients {
  const endpoints = { dynamodb: inject("dynamodbEndpoint"), s3: options.s3Endpoint ?? inject("s3Endpoint") };
  const dynamo = new DynamoDBClient({
    endpoint: endpoints.dynamodb,
    region: "us-east-1",
    credentials: S3_SERVER_CREDENTIALS,
  });
  const s3 = new S3Client({
    endpoint: endpoints.s3,
    region: "us-east-1",
    credentials: S3_SERVER_CREDENTIALS,
    forcePathStyle: true,
  });
  const doc = DynamoDBDocumentClient.from(dynamo, { marshallOptions: { removeUndefinedValues: true } });
  return { dynamo, doc, s3, endpoints };
}

/**
 * A name no other test uses, valid both as a table name and as a bucket name: lower-case letters, digits
 * and hyphens, at most 63 characters. `prefix` is lower-cased and stripped of other characters.
 */
export function uniqueName(prefix: string): string {
  const clean = prefix
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40);
  return `${clean || "t"}-${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;
}

/** Creates a table shaped like the service's (pk/sk strings, TTL on). Returns its name. */
export async function createTestTable(client: DynamoDBClient, name = uniqueName("table")): Promise<string> {
  await ensureTable(client, name);
  return name;
}

/** Creates a bucket. Returns its name. */
export async function createTestBucket(s3: S3Client, name = uniqueName("bucket")): Promise<string> {
  await ensureBucket(s3, name);
  return name;
}

export interface WaitForOptions {
  /** Give up after this long; 10 s by default. */
  timeoutMs?: number;
  /** Pause between attempts; 50 ms by default. */
  intervalMs?: number;
  /** Names what was awaited in the timeout error. */
  description?: string;
}

/**
 * Calls `fn` until it returns something other than `undefined`, `null` or `false`, and returns that.
 * A throw counts as "not yet". At the deadline it fails, with the last error as the cause.
 */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  options: WaitForOptions = {},
): Promise<Exclude<T, undefined | null | false>> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined && value !== null && value !== false) {
        return value as Exclude<T, undefined | null | false>;
      }
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${options.description ?? "a condition"}`, {
        cause: lastError,
      });
    }
    await new Promise((ok) => setTimeout(ok, intervalMs));
  }
}
