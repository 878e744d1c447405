/**
 * Creates each AWS SDK client once per process, from the parsed configuration. Endpoint overrides point the
 * same code at DynamoDB Local and the local S3 server.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { S3Client } from "@aws-sdk/client-s3";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SQSClient } from "@aws-sdk/client-sqs";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { Config } from "../config";

export interface Clients {
  s3: S3Client;
  dynamo: DynamoDBClient;
  doc: DynamoDBDocumentClient;
  events: EventBridgeClient;
  secrets: SecretsManagerClient;
  sqs: SQSClient;
}

export function createClients(config: Config): Clients {
  const dynamo = new DynamoDBClient({
    region: config.AWS_REGION,
    maxAttempts: 8,
    ...(config.AWS_ENDPOINT_URL_DYNAMODB ? { endpoint: config.AWS_ENDPOINT_URL_DYNAMODB } : {}),
  });
  const s3 = new S3Client({
    region: config.AWS_REGION,
    maxAttempts: 5,
    ...(config.AWS_ENDPOINT_URL_S3 ? { endpoint: config.AWS_ENDPOINT_URL_S3, forcePathStyle: true } : {}),
  });
  const doc = DynamoDBDocumentClient.from(dynamo, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
  });
  const events = new EventBridgeClient({ region: config.AWS_REGION, maxAttempts: 5 });
  const secrets = new SecretsManagerClient({ region: config.AWS_REGION, maxAttempts: 5 });
  const sqs = new SQSClient({ region: config.AWS_REGION, maxAttempts: 5 });
  return { s3, dynamo, doc, events, secrets, sqs };
}
