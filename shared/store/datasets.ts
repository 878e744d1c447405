/**
 * The datasets and what defines them, in the single table (keys in ./keys): the dataset's META item (created
 * with its registry entry in one transaction, settings replaced in place), the registry the scheduled refresh walks,
 * and the saved rule segments (`DEF#`).
 */

import { TransactionCanceledException } from "@aws-sdk/client-dynamodb";
import { DeleteCommand, QueryCommand, TransactWriteCommand } from "@aws-sdk/lib-dynamodb";
import { RetryableError } from "../errors";
import {
  type DatasetMeta,
  type DatasetSettings,
  datasetMetaSchema,
  type SegmentDefinitionRecord,
  segmentDefinitionRecordSchema,
} from "../model";
import type { DatasetDefinitionStore, Page } from "../pipeline/ports";
import { DynamoTable, stripKeys } from "./base";
import {
  DEFINITION_PREFIX,
  datasetPk,
  definitionSk,
  META_SK,
  REGISTRY_PK,
  registrySk,
  registryTenantPrefix,
} from "./keys";
import { queryAll } from "./query";

export class DynamoDatasets extends DynamoTable implements DatasetDefinitionStore {
  async getDataset(tenantId: string, datasetId: string): Promise<DatasetMeta | undefined> {
    return this.getItem(datasetPk(tenantId, datasetId), META_SK, datasetMetaSchema);
  }

  async ensureDataset(
    tenantId: string,
    datasetId: string,
    settings: DatasetSettings = {},
  ): Promise<DatasetMeta> {
    const created = await this.createDataset(tenantId, datasetId, settings);
    if (created) return created;
    const existing = await this.getDataset(tenantId, datasetId);
    if (!existing)
      throw new RetryableError("DATASET_VANISHED", "The dataset was deleted while it was created");
    return existing;
  }

  async createDataset(
    tenantId: string,
    datasetId: string,
    settings: DatasetSettings,
  ): Promise<DatasetMeta | undefined> {
    const meta: DatasetMeta = { tenantId, datasetId, createdAt: new Date().toISOString(), settings };
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.table,
                Item: { pk: datasetPk(tenantId, datasetId), sk: META_SK, ...meta },
                ConditionExpression: "attribute_not_exists(pk)",
              },
            },
            {
              Put: {
                TableName: this.table,
                Item: { pk: REGISTRY_PK, sk: registrySk(tenantId, datasetId), tenantId, datasetId },
              },
            },
          ],
        }),
      );
      return meta;
    } catch (error) {
      const exists =
        error instanceof TransactionCanceledException &&
        error.CancellationReasons?.[0]?.Code === "ConditionalCheckFailed";
      if (!exists) throw error;
      return undefined;
    }
  }

  async listTenantDatasets(tenantId: string, limit: number, after?: string): Promise<Page<string>> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues: { ":pk": REGISTRY_PK, ":prefix": registryTenantPrefix(tenantId) },
        Limit: limit,
        ExclusiveStartKey: after ? { pk: REGISTRY_PK, sk: registrySk(tenantId, after) } : undefined,
      }),
    );
    const items = (out.Items ?? []).flatMap((item) =>
      typeof item.datasetId === "string" ? [item.datasetId] : [],
    );
    const last = items.at(-1);
    return { items, ...(out.LastEvaluatedKey && last ? { next: last } : {}) };
  }

  async putSettings(tenantId: string, datasetId: string, settings: DatasetSettings): Promise<boolean> {
    const out = await this.updateMeta(tenantId, datasetId, {
      UpdateExpression: "SET settings = :settings",
      ConditionExpression: "attribute_exists(pk)",
      ExpressionAttributeValues: { ":settings": settings },
    });
    return out !== undefined;
  }

  async putDefinition(
    tenantId: string,
    datasetId: string,
    definition: SegmentDefinitionRecord,
  ): Promise<void> {
    await this.putItem(datasetPk(tenantId, datasetId), definitionSk(definition.segmentId), definition);
  }

  async getDefinition(
    tenantId: string,
    datasetId: string,
    segmentId: string,
  ): Promise<SegmentDefinitionRecord | undefined> {
    return this.getItem(
      datasetPk(tenantId, datasetId),
      definitionSk(segmentId),
      segmentDefinitionRecordSchema,
    );
  }

  async listDefinitions(tenantId: string, datasetId: string): Promise<SegmentDefinitionRecord[]> {
    const items = await queryAll(this.doc, this.table, {
      KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
      ExpressionAttributeValues: { ":pk": datasetPk(tenantId, datasetId), ":prefix": DEFINITION_PREFIX },
    });
    return items.map((item) => segmentDefinitionRecordSchema.parse(stripKeys(item)));
  }

  async deleteDefinition(tenantId: string, datasetId: string, segmentId: string): Promise<boolean> {
    const out = await this.doc.send(
      new DeleteCommand({
        TableName: this.table,
        Key: { pk: datasetPk(tenantId, datasetId), sk: definitionSk(segmentId) },
        ReturnValues: "ALL_OLD",
      }),
    );
    return out.Attributes !== undefined;
  }

  async listDatasets(): Promise<Array<{ tenantId: string; datasetId: string }>> {
    const found: Array<{ tenantId: string; datasetId: string }> = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: "pk = :pk",
          ExpressionAttributeValues: { ":pk": REGISTRY_PK },
          ExclusiveStartKey: start,
        }),
      );
      for (const item of out.Items ?? []) {
        if (typeof item.tenantId === "string" && typeof item.datasetId === "string") {
          found.push({ tenantId: item.tenantId, datasetId: item.datasetId });
        }
      }
      start = out.LastEvaluatedKey;
    } while (start);
    return found;
  }
}
