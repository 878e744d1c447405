/**
 * The lookup function's store (DynamoLookupStore on aws-lite) aimed at the shared DynamoDB Local, for tests
 * that serve the lookup routes (one customer, a segment's member pages) from their real cores.
 */
import awsLite from "@aws-lite/client";
import { S3_SERVER_CREDENTIALS } from "../../scripts/emulators/s3-server";
import { DynamoLookupStore, lookupPlugin } from "../../shared/store/lookup";

/** A DynamoLookupStore over `table` of the DynamoDB Local at `endpoint` (testClients().endpoints.dynamodb). */
export async function testLookupStore(endpoint: string, table: string): Promise<DynamoLookupStore> {
  const url = new URL(endpoint);
  const aws = await awsLite({
    region: "us-east-1",
    accessKeyId: S3_SERVER_CREDENTIALS.accessKeyId,
    secretAccessKey: S3_SERVER_CREDENTIALS.secretAccessKey,
    plugins: [lookupPlugin],
    protocol: url.protocol.replace(":", ""),
    host: url.hostname,
    port: Number(url.port),
  });
  return new DynamoLookupStore(aws.SegmentationLookup, table);
}
