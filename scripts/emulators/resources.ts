/**
 * Creates the service's table and bucket on the local servers from the same definitions the CDK stack
 * uses (`shared/resources.ts`). Both functions are idempotent and safe to run from several processes at once.
 */
import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
} from "@aws-sdk/client-dynamodb";
import {
  CreateBucketCommand,
  HeadBucketCommand,
  PutBucketCorsCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { TABLE_KEYS } from "../../shared/resources";
import { EmulatorError } from "./errors";

/**
 * Creates the table (string partition key `pk`, string sort key `sk`, on-demand) unless it exists, waits
 * until it is ACTIVE, and turns on TTL on `expiresAt`. An existing table with other keys is an error, not
 * something to use.
 */
export async function ensureTable(client: DynamoDBClient, tableName: string): Promise<void> {
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        AttributeDefinitions: [
          { AttributeName: TABLE_KEYS.partitionKey, AttributeType: "S" },
          { AttributeName: TABLE_KEYS.sortKey, AttributeType: "S" },
        ],
        KeySchema: [
          { AttributeName: TABLE_KEYS.partitionKey, KeyType: "HASH" },
          { AttributeName: TABLE_KEYS.sortKey, KeyType: "RANGE" },
        ],
        BillingMode: "PAY_PER_REQUEST",
      }),
    );
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  }
  await waitUntilActive(client, tableName);

  const ttl = await client.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
  const current = ttl.TimeToLiveDescription;
  if (current?.TimeToLiveStatus === "ENABLED" && current.AttributeName === TABLE_KEYS.ttlAttribute) return;
  try {
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { AttributeName: TABLE_KEYS.ttlAttribute, Enabled: true },
      }),
    );
  } catch (error) {
    // Another process may have enabled it between the describe and the update.
    const after = await client.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
    if (after.TimeToLiveDescription?.AttributeName !== TABLE_KEYS.ttlAttribute) throw error;
  }
}

async function waitUntilActive(client: DynamoDBClient, tableName: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    const keys = Object.fromEntries((Table?.KeySchema ?? []).map((k) => [k.KeyType, k.AttributeName]));
    if (keys.HASH !== TABLE_KEYS.partitionKey || keys.RANGE !== TABLE_KEYS.sortKey) {
      throw new EmulatorError(
        "TABLE_SCHEMA_MISMATCH",
        `Table ${tableName} exists with keys ${JSON.stringify(keys)}, not ${TABLE_KEYS.partitionKey}/${TABLE_KEYS.sortKey}`,
      );
    }
    if (Table?.TableStatus === "ACTIVE") return;
    if (Date.now() > deadline) {
      throw new EmulatorError("TABLE_NOT_ACTIVE", `Table ${tableName} did not become ACTIVE within 60 s`);
    }
    await new Promise((ok) => setTimeout(ok, 200));
  }
}

/** Creates the bucket unless it exists. */
export async function ensureBucket(s3: S3Client, bucketName: string): Promise<void> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucketName }));
    return;
  } catch (error) {
    if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode !== 404) throw error;
  }
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucketName }));
  } catch (error) {
    // Created by someone else since the HEAD: s3rver says BucketAlreadyExists, S3 BucketAlreadyOwnedByYou.
    const name = (error as Error).name;
    if (name !== "BucketAlreadyExists" && name !== "BucketAlreadyOwnedByYou") throw error;
    await s3.send(new HeadBucketCommand({ Bucket: bucketName }));
  }
}

/**
 * Lets pages of the given origins POST files to the bucket with a presigned POST (the dashboard's upload),
 * as the stack's bucket CORS rule does for the site's origin. Replaces any earlier CORS configuration.
 */
export async function allowBrowserUploads(
  s3: S3Client,
  bucketName: string,
  origins: string[],
): Promise<void> {
  await s3.send(
    new PutBucketCorsCommand({
      Bucket: bucketName,
      CORSConfiguration: {
        CORSRules: [
          {
            AllowedOrigins: origins,
            AllowedMethods: ["POST"],
            AllowedHeaders: ["*"],
            ExposeHeaders: ["ETag"],
            MaxAgeSeconds: 600,
          },
        ],
      },
    }),
  );
}
