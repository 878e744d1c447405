/**
 * The DynamoDB adapter of the lookalike store.
 *
 *   pk                        sk                      item
 *   T#<tenant>#D#<dataset>    LAL#lookalike:<slug>    a lookalike: name, seed, size, attributes
 */
import { DeleteCommand, type DynamoDBDocumentClient, GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import { type LookalikeRecord, type LookalikeStore, lookalikeRecordSchema } from "../lookalikes/ports";
import { datasetPk } from "./keys";
import { queryAll } from "./query";

export const LOOKALIKE_PREFIX = "LAL#";
export const lookalikeSk = (lookalikeId: string) => `${LOOKALIKE_PREFIX}${lookalikeId}`;

function recordOf(item: Record<string, unknown>): LookalikeRecord {
  const { pk: _pk, sk: _sk, ...rest } = item;
  return lookalikeRecordSchema.parse(rest);
}

export class DynamoLookalikeStore implements LookalikeStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async listLookalikes(tenantId: string, datasetId: string): Promise<LookalikeRecord[]> {
    const items = await queryAll(this.doc, this.table, {
      KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
      ExpressionAttributeValues: { ":pk": datasetPk(tenantId, datasetId), ":prefix": LOOKALIKE_PREFIX },
    });
    return items.map(recordOf);
  }

  async getLookalike(
    tenantId: string,
    datasetId: string,
    lookalikeId: string,
  ): Promise<LookalikeRecord | undefined> {
    const out = await this.doc.send(
      new GetCommand({
        TableName: this.table,
        Key: { pk: datasetPk(tenantId, datasetId), sk: lookalikeSk(lookalikeId) },
        ConsistentRead: true,
      }),
    );
    return out.Item ? recordOf(out.Item) : undefined;
  }

  async putLookalike(tenantId: string, datasetId: string, record: LookalikeRecord): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.table,
        Item: { pk: datasetPk(tenantId, datasetId), sk: lookalikeSk(record.lookalikeId), ...record },
      }),
    );
  }

  async deleteLookalike(
    tenantId: string,
    datasetId: string,
    lookalikeId: string,
  ): Promise<LookalikeRecord | undefined> {
    const out = await this.doc.send(
      new DeleteCommand({
        TableName: this.table,
        Key: { pk: datasetPk(tenantId, datasetId), sk: lookalikeSk(lookalikeId) },
        ReturnValues: "ALL_OLD",
      }),
    );
    return out.Attributes ? recordOf(out.Attributes) : undefined;
  }
}
