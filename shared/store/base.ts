/**
 * What the DynamoDB adapters of the dataset store share (./datasets, ./uploads, ./runs, ./versions, composed in
 * ./dynamo): the client and table, batch-write options, and the small helpers over the single table (keys in
 * ./keys) — one item read and parsed, an update of a dataset's META item, a put, a consistent query of a
 * prefix of the dataset's partition, and batch writes with retries.
 */

import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import {
  BatchWriteCommand,
  type BatchWriteCommandInput,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  type UpdateCommandInput,
  type UpdateCommandOutput,
} from "@aws-sdk/lib-dynamodb";
import type { z } from "zod";
import { RetryableError } from "../errors";
import { datasetPk, META_SK } from "./keys";

export type WriteRequest = NonNullable<BatchWriteCommandInput["RequestItems"]>[string][number];

export interface BatchOptions {
  /** Batches in flight at once. */
  concurrency: number;
  /** Attempts per batch before giving up on unprocessed items. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

const DEFAULT_BATCH: BatchOptions = { concurrency: 8, maxAttempts: 10, baseDelayMs: 50, maxDelayMs: 5_000 };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Exponential backoff with full jitter, capped. */
export function backoffDelay(
  attempt: number,
  options: Pick<BatchOptions, "baseDelayMs" | "maxDelayMs">,
): number {
  const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** attempt);
  return Math.random() * ceiling;
}

export function stripKeys<T extends Record<string, unknown>>(item: T): Omit<T, "pk" | "sk"> {
  const { pk: _pk, sk: _sk, ...rest } = item;
  return rest;
}

/** The single table and the helpers every adapter of the store uses on it. */
export abstract class DynamoTable {
  protected readonly batch: BatchOptions;

  constructor(
    protected readonly doc: DynamoDBDocumentClient,
    protected readonly table: string,
    batch: Partial<BatchOptions> = {},
  ) {
    this.batch = { ...DEFAULT_BATCH, ...batch };
  }

  /** One item read strongly consistent and parsed with its schema, or undefined. */
  protected async getItem<T>(pk: string, sk: string, schema: z.ZodType<T>): Promise<T | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: { pk, sk }, ConsistentRead: true }),
    );
    return out.Item ? schema.parse(stripKeys(out.Item)) : undefined;
  }

  /** An update of a dataset's META item; undefined when its condition does not hold. */
  protected async updateMeta(
    tenantId: string,
    datasetId: string,
    update: Omit<UpdateCommandInput, "TableName" | "Key">,
  ): Promise<UpdateCommandOutput | undefined> {
    try {
      return await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: datasetPk(tenantId, datasetId), sk: META_SK },
          ...update,
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }

  protected async putItem(pk: string, sk: string, item: object): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.table, Item: { pk, sk, ...item } }));
  }

  /** Every item of the dataset's partition whose sort key starts with `prefix`, read consistently. */
  protected async queryPrefix(
    tenantId: string,
    datasetId: string,
    prefix: string,
    projection?: string,
  ): Promise<Record<string, unknown>[]> {
    const found: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
          ExpressionAttributeValues: { ":pk": datasetPk(tenantId, datasetId), ":prefix": prefix },
          ConsistentRead: true,
          ExclusiveStartKey: start,
          ...(projection ? { ProjectionExpression: projection } : {}),
        }),
      );
      found.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start);
    return found;
  }

  /** Writes in batches of 25, several in flight, retrying unprocessed items with capped, jittered backoff. */
  protected async batchWrite(requests: WriteRequest[]): Promise<void> {
    const batches: WriteRequest[][] = [];
    for (let i = 0; i < requests.length; i += 25) batches.push(requests.slice(i, i + 25));
    let next = 0;
    const worker = async () => {
      while (next < batches.length) {
        const batch = batches[next++];
        if (batch) await this.writeOneBatch(batch);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.batch.concurrency, batches.length) }, worker));
  }

  private async writeOneBatch(batch: WriteRequest[]): Promise<void> {
    let pending = batch;
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt >= this.batch.maxAttempts) {
        throw new RetryableError(
          "UNPROCESSED_ITEMS",
          `${pending.length} items stayed unprocessed after ${attempt} attempts`,
        );
      }
      if (attempt > 0) await sleep(backoffDelay(attempt, this.batch));
      const out = await this.doc.send(new BatchWriteCommand({ RequestItems: { [this.table]: pending } }));
      pending = out.UnprocessedItems?.[this.table] ?? [];
    }
  }
}
