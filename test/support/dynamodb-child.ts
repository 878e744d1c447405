/**
 * A process that starts DynamoDB Local, prints its port as one JSON line and then idles: the test that
 * kills this process with SIGKILL checks that DynamoDB Local does not outlive it.
 */
import { startDynamoDbLocal } from "../../scripts/emulators/dynamodb-local";

const dynamodb = await startDynamoDbLocal();
process.stdout.write(`${JSON.stringify({ port: dynamodb.port })}\n`);
setInterval(() => undefined, 60_000);
