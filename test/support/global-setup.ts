/**
 * Vitest global setup: one DynamoDB Local and one S3 server for the whole run, started before any test
 * file and stopped after the last. Tests reach them through `inject("dynamodbEndpoint")` and
 * `inject("s3Endpoint")`, or more simply through `testClients()` in `./aws`.
 *
 * The S3 server lives in this (the main) process, so its object-created notifications cannot reach a test;
 * a test that needs them starts its own with `startS3Server()` (about 20 ms).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { startDynamoDbLocal } from "../../scripts/emulators/dynamodb-local";
import { startS3Server } from "../../scripts/emulators/s3-server";

declare module "vitest" {
  export interface ProvidedContext {
    /** DynamoDB Local, `http://127.0.0.1:<port>`, shared by every test (`-sharedDb`, in memory). */
    dynamodbEndpoint: string;
    /** The S3 server, `http://127.0.0.1:<port>`; use path-style clients and `S3_SERVER_CREDENTIALS`. */
    s3Endpoint: string;
    /**
     * An empty directory of this run for the one `cdk synth` the CDK tests share (test/cdk/assembly.ts);
     * removed after the last test file.
     */
    cdkAssemblyRoot: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const [dynamodb, s3] = await Promise.allSettled([startDynamoDbLocal(), startS3Server()]);
  if (dynamodb.status === "rejected" || s3.status === "rejected") {
    if (dynamodb.status === "fulfilled") await dynamodb.value.stop();
    if (s3.status === "fulfilled") await s3.value.stop();
    throw dynamodb.status === "rejected" ? dynamodb.reason : (s3 as PromiseRejectedResult).reason;
  }
  project.provide("dynamodbEndpoint", dynamodb.value.endpoint);
  project.provide("s3Endpoint", s3.value.endpoint);
  const cdkAssemblyRoot = mkdtempSync(join(tmpdir(), "cdk-assembly-"));
  project.provide("cdkAssemblyRoot", cdkAssemblyRoot);
  return async () => {
    await Promise.all([dynamodb.value.stop(), s3.value.stop()]);
    rmSync(cdkAssemblyRoot, { recursive: true, force: true });
  };
}
