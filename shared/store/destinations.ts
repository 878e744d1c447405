/**
 * The DynamoDB adapter of the destination store, in the service's single table.
 *
 *   pk                                  sk                         item
 *   T#<tenant>#D#<dataset>              DEST#<dst>                 the destination, with its delivery lease
 *                                                                  (leaseOwner, leaseUntil) and the last
 *                                                                  sequence number given out (lastSeq)
 *   T#<tenant>#D#<dataset>              DESTCOUNT                  n: how many destinations the dataset has
 *   T#<tenant>#D#<dataset>#DST#<dst>    OUT#<seq, 12 digits>       one webhook delivery of the outbox
 *   T#<tenant>#D#<dataset>#DST#<dst>    LOG#<at>#<seq>#<attempt>   one delivery attempt, expiresAt = 30 days
 *   DELIVERIES                          <tenant>#<dataset>#<dst>   the destination has deliveries waiting
 *                                                                  (mark changes on every enqueue)
 *
 * A destination's outbox and attempt log share a partition of their own, so listing one never reads another
 * destination's items, and the sort keys give the two orders the API needs: outbox by sequence, attempts by
 * time (read backwards for newest first). Creating a destination counts it on DESTCOUNT in the same
 * transaction, so two concurrent creates cannot pass the per-dataset limit. No item holds a customer id or a
 * secret: deliveries carry counts, their ids live in the payload object; secrets live in the secret store.
 */

import { ConditionalCheckFailedException, TransactionCanceledException } from "@aws-sdk/client-dynamodb";
import {
  BatchWriteCommand,
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import {
  ATTEMPT_LOG_TTL_SECONDS,
  type DeliveryAttempt,
  type DeliveryRecord,
  type DestinationRecord,
  type DestinationRef,
  deliveryAttemptSchema,
  deliveryRecordSchema,
  destinationRecordSchema,
  type NewDelivery,
} from "../destinations/model";
import type { DestinationStatePatch, DestinationStore, PendingMarker } from "../destinations/ports";
import type { Page } from "../pipeline/ports";
import { TABLE_KEYS } from "../resources";
import {
  ATTEMPT_PREFIX,
  attemptSk,
  DESTINATION_COUNT_SK,
  DESTINATION_PREFIX,
  datasetPk,
  destinationPk,
  destinationSk,
  OUTBOX_PREFIX,
  outboxSk,
  PENDING_DELIVERIES_PK,
  pendingDeliveriesSk,
} from "./keys";
import { queryAll } from "./query";

type Item = Record<string, unknown>;

/** Attributes of the destination item that are bookkeeping, not part of the record. */
const BOOKKEEPING = ["pk", "sk", "leaseOwner", "leaseUntil", "lastSeq"] as const;

function toDestination(item: Item): DestinationRecord {
  const copy: Item = { ...item };
  for (const key of BOOKKEEPING) delete copy[key];
  return destinationRecordSchema.parse(copy);
}

function toDelivery(item: Item): DeliveryRecord {
  const { pk: _pk, sk: _sk, ...rest } = item;
  return deliveryRecordSchema.parse(rest);
}

function toAttempt(item: Item): DeliveryAttempt {
  const { pk: _pk, sk: _sk, [TABLE_KEYS.ttlAttribute]: _ttl, ...rest } = item;
  return deliveryAttemptSchema.parse(rest);
}

const keyOf = (ref: DestinationRef) => ({
  pk: datasetPk(ref.tenantId, ref.datasetId),
  sk: destinationSk(ref.destinationId),
});

function conditionFailed(error: unknown): boolean {
  if (error instanceof ConditionalCheckFailedException) return true;
  return (
    error instanceof TransactionCanceledException &&
    (error.CancellationReasons ?? []).some((r) => r.Code === "ConditionalCheckFailed")
  );
}

function transactionConflict(error: unknown): boolean {
  return (
    error instanceof TransactionCanceledException &&
    (error.CancellationReasons ?? []).some((r) => r.Code === "TransactionConflict")
  );
}

export class DynamoDestinationStore implements DestinationStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async createDestination(destination: DestinationRecord, max: number): Promise<boolean> {
    // Two creates racing on the count item conflict; the loser tries again against the new count.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.tryCreate(destination, max);
      } catch (error) {
        if (!(transactionConflict(error) && attempt < 8)) throw error;
        await new Promise((r) => setTimeout(r, Math.random() * 20 * 2 ** attempt));
      }
    }
  }

  private async tryCreate(destination: DestinationRecord, max: number): Promise<boolean> {
    const pk = datasetPk(destination.tenantId, destination.datasetId);
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: this.table,
                Key: { pk, sk: DESTINATION_COUNT_SK },
                UpdateExpression: "SET n = if_not_exists(n, :zero) + :one",
                ConditionExpression: "attribute_not_exists(n) OR n < :max",
                ExpressionAttributeValues: { ":zero": 0, ":one": 1, ":max": max },
              },
            },
            {
              Put: {
                TableName: this.table,
                Item: { ...destination, pk, sk: destinationSk(destination.destinationId), lastSeq: 0 },
                ConditionExpression: "attribute_not_exists(pk)",
              },
            },
          ],
        }),
      );
      return true;
    } catch (error) {
      if (conditionFailed(error)) return false;
      throw error;
    }
  }

  async getDestination(ref: DestinationRef): Promise<DestinationRecord | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: keyOf(ref), ConsistentRead: true }),
    );
    return out.Item ? toDestination(out.Item) : undefined;
  }

  async listDestinations(tenantId: string, datasetId: string): Promise<DestinationRecord[]> {
    const items = await queryAll(this.doc, this.table, {
      KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
      ExpressionAttributeValues: { ":pk": datasetPk(tenantId, datasetId), ":prefix": DESTINATION_PREFIX },
    });
    return items.map(toDestination);
  }

  async replaceDestination(destination: DestinationRecord): Promise<boolean> {
    // Every record field is set; bookkeeping (lease, lastSeq) is kept as it is.
    const { tenantId, datasetId, destinationId, ...fields } = destination;
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    const sets: string[] = [];
    const removes: string[] = [];
    const optional = ["disabledReason", "disabledAt", "webhook", "s3", "audience"] as const;
    for (const [key, value] of Object.entries(fields)) {
      if (value === undefined) continue;
      names[`#${key}`] = key;
      values[`:${key}`] = value;
      sets.push(`#${key} = :${key}`);
    }
    for (const key of optional) {
      if (fields[key] === undefined) {
        names[`#${key}`] = key;
        removes.push(`#${key}`);
      }
    }
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: keyOf({ tenantId, datasetId, destinationId }),
          UpdateExpression: `SET ${sets.join(", ")}${removes.length ? ` REMOVE ${removes.join(", ")}` : ""}`,
          ConditionExpression: "attribute_exists(pk)",
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
      return true;
    } catch (error) {
      if (conditionFailed(error)) return false;
      throw error;
    }
  }

  async updateDestinationState(ref: DestinationRef, patch: DestinationStatePatch): Promise<boolean> {
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    const sets: string[] = [];
    const removes: string[] = [];
    for (const [key, value] of Object.entries(patch)) {
      names[`#${key}`] = key;
      if (value === undefined) {
        removes.push(`#${key}`);
      } else {
        values[`:${key}`] = value;
        sets.push(`#${key} = :${key}`);
      }
    }
    if (sets.length === 0 && removes.length === 0) return (await this.getDestination(ref)) !== undefined;
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: keyOf(ref),
          UpdateExpression: [
            sets.length ? `SET ${sets.join(", ")}` : "",
            removes.length ? `REMOVE ${removes.join(", ")}` : "",
          ]
            .filter(Boolean)
            .join(" "),
          ConditionExpression: "attribute_exists(pk)",
          ExpressionAttributeNames: names,
          ...(sets.length ? { ExpressionAttributeValues: values } : {}),
        }),
      );
      return true;
    } catch (error) {
      if (conditionFailed(error)) return false;
      throw error;
    }
  }

  async deleteDestination(
    ref: DestinationRef,
  ): Promise<{ destination: DestinationRecord; payloadKeys: string[] } | undefined> {
    const destination = await this.getDestination(ref);
    if (!destination) return undefined;
    const pk = datasetPk(ref.tenantId, ref.datasetId);
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Delete: {
                TableName: this.table,
                Key: keyOf(ref),
                ConditionExpression: "attribute_exists(pk)",
              },
            },
            {
              Update: {
                TableName: this.table,
                Key: { pk, sk: DESTINATION_COUNT_SK },
                UpdateExpression: "SET n = n - :one",
                ConditionExpression: "n > :zero",
                ExpressionAttributeValues: { ":one": 1, ":zero": 0 },
              },
            },
          ],
        }),
      );
    } catch (error) {
      if (conditionFailed(error)) return undefined;
      throw error;
    }
    // The destination is gone, so nothing enqueues to its partition any more; empty it.
    const items = await queryAll(this.doc, this.table, {
      KeyConditionExpression: "pk = :pk",
      ExpressionAttributeValues: { ":pk": destinationPk(ref.tenantId, ref.datasetId, ref.destinationId) },
      ProjectionExpression: "pk, sk, payloadKey",
    });
    const payloadKeys = items.flatMap((item) =>
      typeof item.payloadKey === "string" ? [item.payloadKey] : [],
    );
    await this.batchDelete([
      ...items.map((item) => ({ pk: item.pk, sk: item.sk })),
      { pk: PENDING_DELIVERIES_PK, sk: pendingDeliveriesSk(ref.tenantId, ref.datasetId, ref.destinationId) },
    ]);
    return { destination, payloadKeys };
  }

  async acquireDeliveryLease(
    ref: DestinationRef,
    owner: string,
    leaseMs: number,
    now: number,
  ): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: keyOf(ref),
          UpdateExpression: "SET leaseOwner = :owner, leaseUntil = :until",
          ConditionExpression:
            "attribute_exists(pk) AND (attribute_not_exists(leaseUntil) OR leaseUntil < :now OR leaseOwner = :owner)",
          ExpressionAttributeValues: { ":owner": owner, ":until": now + leaseMs, ":now": now },
        }),
      );
      return true;
    } catch (error) {
      if (conditionFailed(error)) return false;
      throw error;
    }
  }

  async releaseDeliveryLease(ref: DestinationRef, owner: string): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: keyOf(ref),
          UpdateExpression: "REMOVE leaseOwner, leaseUntil",
          ConditionExpression: "leaseOwner = :owner",
          ExpressionAttributeValues: { ":owner": owner },
        }),
      );
    } catch (error) {
      if (!conditionFailed(error)) throw error;
    }
  }

  async enqueueDeliveries(
    ref: DestinationRef,
    deliveries: readonly NewDelivery[],
  ): Promise<DeliveryRecord[]> {
    if (deliveries.length === 0) return [];
    // Reserve a block of sequence numbers in one atomic update; a failed enqueue leaves a gap, never a reuse.
    const out = await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: keyOf(ref),
        UpdateExpression: "SET lastSeq = if_not_exists(lastSeq, :zero) + :n",
        ConditionExpression: "attribute_exists(pk)",
        ExpressionAttributeValues: { ":zero": 0, ":n": deliveries.length },
        ReturnValues: "UPDATED_NEW",
      }),
    );
    const last = Number(out.Attributes?.lastSeq);
    const first = last - deliveries.length + 1;
    const pk = destinationPk(ref.tenantId, ref.datasetId, ref.destinationId);
    const stored = deliveries.map(
      (delivery, i): DeliveryRecord => ({ ...delivery, destinationId: ref.destinationId, seq: first + i }),
    );
    await this.batchPut(stored.map((d) => ({ ...d, pk, sk: outboxSk(d.seq) })));
    await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: {
          pk: PENDING_DELIVERIES_PK,
          sk: pendingDeliveriesSk(ref.tenantId, ref.datasetId, ref.destinationId),
        },
        UpdateExpression: "SET tenantId = :t, datasetId = :d, destinationId = :dst ADD mark :one",
        ExpressionAttributeValues: {
          ":t": ref.tenantId,
          ":d": ref.datasetId,
          ":dst": ref.destinationId,
          ":one": 1,
        },
      }),
    );
    return stored;
  }

  async listPendingDeliveries(ref: DestinationRef, limit: number): Promise<DeliveryRecord[]> {
    const found: DeliveryRecord[] = [];
    let start: Item | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
          FilterExpression: "#status = :pending",
          ExpressionAttributeNames: { "#status": "status" },
          ExpressionAttributeValues: {
            ":pk": destinationPk(ref.tenantId, ref.datasetId, ref.destinationId),
            ":prefix": OUTBOX_PREFIX,
            ":pending": "pending",
          },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      for (const item of out.Items ?? []) {
        if (found.length < limit) found.push(toDelivery(item));
      }
      start = out.LastEvaluatedKey;
    } while (start && found.length < limit);
    return found;
  }

  async updateDelivery(ref: DestinationRef, delivery: DeliveryRecord): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.table,
        Item: {
          ...delivery,
          pk: destinationPk(ref.tenantId, ref.datasetId, ref.destinationId),
          sk: outboxSk(delivery.seq),
        },
      }),
    );
  }

  async setDeliveryCounts(
    ref: DestinationRef,
    seq: number,
    counts: { entered: number; left: number },
  ): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: destinationPk(ref.tenantId, ref.datasetId, ref.destinationId), sk: outboxSk(seq) },
          UpdateExpression: "SET entered = :entered, #left = :left",
          ConditionExpression: "attribute_exists(pk)",
          ExpressionAttributeNames: { "#left": "left" },
          ExpressionAttributeValues: { ":entered": counts.entered, ":left": counts.left },
        }),
      );
    } catch (error) {
      if (!conditionFailed(error)) throw error;
    }
  }

  async listDeliveries(ref: DestinationRef, limit: number, after?: string): Promise<Page<DeliveryRecord>> {
    const items = await this.pageBackwards(ref, OUTBOX_PREFIX, limit, after);
    return { items: items.items.map(toDelivery), ...(items.next ? { next: items.next } : {}) };
  }

  async appendAttempt(ref: DestinationRef, attempt: DeliveryAttempt): Promise<void> {
    const expiresAt = Math.floor(Date.parse(attempt.at) / 1000) + ATTEMPT_LOG_TTL_SECONDS;
    await this.doc.send(
      new PutCommand({
        TableName: this.table,
        Item: {
          ...deliveryAttemptSchema.parse(attempt),
          pk: destinationPk(ref.tenantId, ref.datasetId, ref.destinationId),
          sk: attemptSk(attempt.at, attempt.seq, attempt.attempt),
          [TABLE_KEYS.ttlAttribute]: expiresAt,
        },
      }),
    );
  }

  async listAttempts(ref: DestinationRef, limit: number, after?: string): Promise<Page<DeliveryAttempt>> {
    const items = await this.pageBackwards(ref, ATTEMPT_PREFIX, limit, after);
    return { items: items.items.map(toAttempt), ...(items.next ? { next: items.next } : {}) };
  }

  async listPendingMarkers(): Promise<PendingMarker[]> {
    const items = await queryAll(this.doc, this.table, {
      KeyConditionExpression: "pk = :pk",
      ExpressionAttributeValues: { ":pk": PENDING_DELIVERIES_PK },
    });
    return items.flatMap((item) =>
      typeof item.tenantId === "string" &&
      typeof item.datasetId === "string" &&
      typeof item.destinationId === "string"
        ? [
            {
              tenantId: item.tenantId,
              datasetId: item.datasetId,
              destinationId: item.destinationId,
              mark: Number(item.mark ?? 0),
            },
          ]
        : [],
    );
  }

  async unmarkPending(marker: PendingMarker): Promise<void> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.table,
          Key: {
            pk: PENDING_DELIVERIES_PK,
            sk: pendingDeliveriesSk(marker.tenantId, marker.datasetId, marker.destinationId),
          },
          ConditionExpression: "attribute_not_exists(mark) OR mark = :mark",
          ExpressionAttributeValues: { ":mark": marker.mark },
        }),
      );
    } catch (error) {
      if (!conditionFailed(error)) throw error;
    }
  }

  /** Items of the destination's partition under `prefix`, newest (highest sort key) first; `after` is a sort key. */
  private async pageBackwards(
    ref: DestinationRef,
    prefix: string,
    limit: number,
    after?: string,
  ): Promise<Page<Item>> {
    const pk = destinationPk(ref.tenantId, ref.datasetId, ref.destinationId);
    const found: Item[] = [];
    let start: Item | undefined = after?.startsWith(prefix) ? { pk, sk: after } : undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
          ExpressionAttributeValues: { ":pk": pk, ":prefix": prefix },
          ScanIndexForward: false,
          ConsistentRead: true,
          Limit: limit + 1,
          ExclusiveStartKey: start,
        }),
      );
      found.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start && found.length <= limit);
    const items = found.slice(0, limit);
    const last = items.at(-1);
    const next = found.length > limit && typeof last?.sk === "string" ? last.sk : undefined;
    return { items, ...(next ? { next } : {}) };
  }

  private async batchPut(items: Item[]): Promise<void> {
    await this.batch(items.map((Item) => ({ PutRequest: { Item } })));
  }

  private async batchDelete(keys: Item[]): Promise<void> {
    await this.batch(keys.map((Key) => ({ DeleteRequest: { Key } })));
  }

  /** BatchWrite in chunks of 25, retrying unprocessed items with backoff. */
  private async batch(
    requests: Array<{ PutRequest: { Item: Item } } | { DeleteRequest: { Key: Item } }>,
  ): Promise<void> {
    for (let i = 0; i < requests.length; i += 25) {
      let pending = requests.slice(i, i + 25);
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt >= 10) throw new Error("DynamoDB left destination items unprocessed after 10 attempts");
        if (attempt > 0)
          await new Promise((r) => setTimeout(r, Math.random() * Math.min(2000, 50 * 2 ** attempt)));
        const out = await this.doc.send(new BatchWriteCommand({ RequestItems: { [this.table]: pending } }));
        pending = (out.UnprocessedItems?.[this.table] ?? []) as typeof pending;
      }
    }
  }
}
