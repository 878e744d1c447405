/** A DynamoDB query read to its end, page after page, strongly consistent. */
import { type DynamoDBDocumentClient, QueryCommand } from "@aws-sdk/lib-dynamodb";

type Item = Record<string, unknown>;

export type QueryAllInput = Pick<
  ConstructorParameters<typeof QueryCommand>[0],
  "KeyConditionExpression" | "ExpressionAttributeValues" | "ExpressionAttributeNames" | "ProjectionExpression"
>;

export async function queryAll(
  doc: DynamoDBDocumentClient,
  table: string,
  input: QueryAllInput,
): Promise<Item[]> {
  const found: Item[] = [];
  let start: Item | undefined;
  do {
    const out = await doc.send(
      new QueryCommand({ TableName: table, ConsistentRead: true, ExclusiveStartKey: start, ...input }),
    );
    found.push(...(out.Items ?? []));
    start = out.LastEvaluatedKey;
  } while (start);
  return found;
}
