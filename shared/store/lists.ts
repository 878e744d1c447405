/**
 * The DynamoDB and S3 adapter of the list store.
 *
 *   pk                        sk               item
 *   T#<tenant>#D#<dataset>    LIST#<listId>    a list segment: name, revision, size, ids object key, last run
 *
 * The ids of each revision are one JSON array object, lists/<tenant>/<dataset>/<slug>/r<revision>-<random>.json, in the
 * service bucket. A change writes the new object first and then moves the record to it on condition of the
 * revision it read, so a reader always finds the ids its record names (or, if it read the record just before
 * a change deleted the old object, reads the record again; lists/load.ts).
 */
import { randomBytes } from "node:crypto";
import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import { fileSafeId } from "../engine/segment-ids";
import {
  type ListDraft,
  type ListRecord,
  type ListRun,
  type ListStore,
  listRecordSchema,
} from "../lists/ports";
import type { BlobStore } from "../pipeline/ports";
import { datasetPk } from "./keys";
import { queryAll } from "./query";

export const LIST_PREFIX = "LIST#";
export const listSk = (listId: string) => `${LIST_PREFIX}${listId}`;
/** Every ids object of one list; the trailing "/" keeps list "a" from matching "ab". */
export const listObjectPrefix = (tenant: string, dataset: string, listId: string) =>
  `lists/${tenant}/${dataset}/${fileSafeId(listId)}/`;
/** A revision's object; the random part keeps two changes racing for one revision off each other's bytes. */
export const listObjectKey = (tenant: string, dataset: string, listId: string, revision: number) =>
  `${listObjectPrefix(tenant, dataset, listId)}r${revision}-${randomBytes(6).toString("hex")}.json`;

function stripKeys(item: Record<string, unknown>): Record<string, unknown> {
  const { pk: _pk, sk: _sk, ...rest } = item;
  return rest;
}

export class DynamoListStore implements ListStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly blobs: BlobStore,
  ) {}

  async listLists(tenantId: string, datasetId: string): Promise<ListRecord[]> {
    const items = await queryAll(this.doc, this.table, {
      KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
      ExpressionAttributeValues: { ":pk": datasetPk(tenantId, datasetId), ":prefix": LIST_PREFIX },
    });
    return items.map((item) => listRecordSchema.parse(stripKeys(item)));
  }

  async getList(tenantId: string, datasetId: string, listId: string): Promise<ListRecord | undefined> {
    const out = await this.doc.send(
      new GetCommand({
        TableName: this.table,
        Key: { pk: datasetPk(tenantId, datasetId), sk: listSk(listId) },
        ConsistentRead: true,
      }),
    );
    return out.Item ? listRecordSchema.parse(stripKeys(out.Item)) : undefined;
  }

  async readIds(record: ListRecord): Promise<string[] | undefined> {
    const bytes = await this.blobs.get(record.idsKey);
    if (!bytes) return undefined;
    const parsed: unknown = JSON.parse(Buffer.from(bytes).toString("utf8"));
    if (!Array.isArray(parsed) || parsed.some((id) => typeof id !== "string")) {
      throw new Error("A list's ids object is not a list of strings");
    }
    return parsed as string[];
  }

  async saveList(
    tenantId: string,
    datasetId: string,
    draft: ListDraft,
    ids: readonly string[],
    previous: ListRecord | null,
  ): Promise<ListRecord | undefined> {
    const expected = previous?.revision ?? null;
    const revision = (expected ?? 0) + 1;
    const idsKey = listObjectKey(tenantId, datasetId, draft.listId, revision);
    await this.blobs.put(idsKey, JSON.stringify(ids), "application/json");
    const record: ListRecord = { ...draft, revision, size: ids.length, idsKey };
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: { pk: datasetPk(tenantId, datasetId), sk: listSk(draft.listId), ...record },
          ...(expected === null
            ? { ConditionExpression: "attribute_not_exists(pk)" }
            : {
                ConditionExpression: "revision = :expected",
                ExpressionAttributeValues: { ":expected": expected },
              }),
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        await this.blobs.delete([idsKey]);
        return undefined;
      }
      throw error;
    }
    if (previous) await this.blobs.delete([previous.idsKey]);
    return record;
  }

  async deleteList(tenantId: string, datasetId: string, listId: string): Promise<ListRecord | undefined> {
    const out = await this.doc.send(
      new DeleteCommand({
        TableName: this.table,
        Key: { pk: datasetPk(tenantId, datasetId), sk: listSk(listId) },
        ReturnValues: "ALL_OLD",
      }),
    );
    if (!out.Attributes) return undefined;
    const record = listRecordSchema.parse(stripKeys(out.Attributes));
    // A change that lost a race deletes its own object, so the record's is the list's only one.
    await this.blobs.delete([record.idsKey]);
    return record;
  }

  async recordRun(tenantId: string, datasetId: string, listId: string, run: ListRun): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: datasetPk(tenantId, datasetId), sk: listSk(listId) },
          UpdateExpression: "SET lastRun = :run",
          ConditionExpression:
            "revision = :revision AND (attribute_not_exists(lastRun) OR lastRun.version <= :version)",
          ExpressionAttributeValues: { ":run": run, ":revision": run.revision, ":version": run.version },
        }),
      );
    } catch (error) {
      // Changed or deleted since the run read it: the next run records its own findings.
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }
}
