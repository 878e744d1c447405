/**
 * Runs and the lease, in the single table (keys in ./keys): run records (`RUN#`), created once and closed only
 * by the attempt that saw them as they are, and the dataset's lease on META (taken when free or lapsed, renewed
 * and released by its owner) with the version a run is about to write (`pending`).
 */

import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import { PutCommand, QueryCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { RetryableError } from "../errors";
import { datasetMetaSchema, type RunRecord, type RunStatus, runRecordSchema } from "../model";
import type { LeasedDataset, Page, RunLeaseStore } from "../pipeline/ports";
import { DynamoTable, stripKeys } from "./base";
import { datasetPk, runSk } from "./keys";

export class DynamoRuns extends DynamoTable implements RunLeaseStore {
  async createRun(run: RunRecord): Promise<RunRecord | undefined> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: { pk: datasetPk(run.tenantId, run.datasetId), sk: runSk(run.runId), ...run },
          ConditionExpression: "attribute_not_exists(pk)",
        }),
      );
      return undefined;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      return this.getRun(run.tenantId, run.datasetId, run.runId);
    }
  }

  async putRun(run: RunRecord): Promise<void> {
    await this.putItem(datasetPk(run.tenantId, run.datasetId), runSk(run.runId), run);
  }

  async getRun(tenantId: string, datasetId: string, runId: string): Promise<RunRecord | undefined> {
    return this.getItem(datasetPk(tenantId, datasetId), runSk(runId), runRecordSchema);
  }

  async listRuns(
    tenantId: string,
    datasetId: string,
    limit: number,
    after?: string,
  ): Promise<Page<RunRecord>> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues: { ":pk": datasetPk(tenantId, datasetId), ":prefix": "RUN#" },
        ScanIndexForward: false,
        Limit: limit,
        ExclusiveStartKey: after ? { pk: datasetPk(tenantId, datasetId), sk: runSk(after) } : undefined,
      }),
    );
    const items = (out.Items ?? []).map((item) => runRecordSchema.parse(stripKeys(item)));
    const last = items.at(-1);
    return { items, ...(out.LastEvaluatedKey && last ? { next: last.runId } : {}) };
  }

  async acquireLock(
    tenantId: string,
    datasetId: string,
    owner: string,
    leaseMs: number,
  ): Promise<LeasedDataset | undefined> {
    const now = Date.now();
    const lock = { owner, until: now + leaseMs };
    const out = await this.updateMeta(tenantId, datasetId, {
      UpdateExpression: "SET #lock = :lock",
      ConditionExpression: "attribute_exists(pk) AND (attribute_not_exists(#lock) OR #lock.#until < :now)",
      ExpressionAttributeNames: { "#lock": "lock", "#until": "until" },
      ExpressionAttributeValues: { ":lock": lock, ":now": now },
      // The item as it was: the lapsed lease it held, if any, names the attempt that died holding it.
      ReturnValues: "ALL_OLD",
    });
    if (!out?.Attributes) return undefined;
    const before = datasetMetaSchema.parse(stripKeys(out.Attributes));
    const { lock: lapsed, ...meta } = before;
    return { ...meta, lock, ...(lapsed ? { lapsedLease: lapsed } : {}) };
  }

  async closeRun(run: RunRecord, expected: { status: RunStatus; attempts: number }): Promise<boolean> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: { pk: datasetPk(run.tenantId, run.datasetId), sk: runSk(run.runId), ...run },
          ConditionExpression: "#status = :status AND attempts = :attempts",
          ExpressionAttributeNames: { "#status": "status" },
          ExpressionAttributeValues: { ":status": expected.status, ":attempts": expected.attempts },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async markDestinationsServed(
    tenantId: string,
    datasetId: string,
    runId: string,
    at: string,
  ): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: datasetPk(tenantId, datasetId), sk: runSk(runId) },
          UpdateExpression: "SET destinationsServedAt = :at",
          ConditionExpression: "attribute_exists(pk)",
          ExpressionAttributeValues: { ":at": at },
        }),
      );
    } catch (error) {
      // A run deleted with its dataset has nothing left to mark.
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  async listRunsSince(tenantId: string, datasetId: string, sinceRunId: string): Promise<RunRecord[]> {
    const found: RunRecord[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: "pk = :pk AND sk BETWEEN :from AND :to",
          ExpressionAttributeValues: {
            ":pk": datasetPk(tenantId, datasetId),
            ":from": runSk(sinceRunId),
            // Run ids are letters, digits, '-' and '_': all sort before '~'.
            ":to": runSk("~"),
          },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      for (const item of out.Items ?? []) found.push(runRecordSchema.parse(stripKeys(item)));
      start = out.LastEvaluatedKey;
    } while (start);
    return found;
  }

  async renewLock(tenantId: string, datasetId: string, owner: string, leaseMs: number): Promise<boolean> {
    const out = await this.updateMeta(tenantId, datasetId, {
      UpdateExpression: "SET #lock.#until = :until",
      ConditionExpression: "#lock.#owner = :owner",
      ExpressionAttributeNames: { "#lock": "lock", "#until": "until", "#owner": "owner" },
      ExpressionAttributeValues: { ":until": Date.now() + leaseMs, ":owner": owner },
    });
    return out !== undefined;
  }

  async releaseLock(tenantId: string, datasetId: string, owner: string): Promise<void> {
    // A lease already taken over by another attempt is not ours to release: nothing to do.
    await this.updateMeta(tenantId, datasetId, {
      UpdateExpression: "REMOVE #lock",
      ConditionExpression: "#lock.#owner = :owner",
      ExpressionAttributeNames: { "#lock": "lock", "#owner": "owner" },
      ExpressionAttributeValues: { ":owner": owner },
    });
  }

  async markPending(
    tenantId: string,
    datasetId: string,
    owner: string,
    runId: string,
    version: number,
  ): Promise<void> {
    const out = await this.updateMeta(tenantId, datasetId, {
      UpdateExpression: "SET pending = :pending",
      ConditionExpression: "#lock.#owner = :owner",
      ExpressionAttributeNames: { "#lock": "lock", "#owner": "owner" },
      ExpressionAttributeValues: { ":pending": { version, runId }, ":owner": owner },
    });
    if (!out) throw new RetryableError("LOCK_LOST", "The run lost its lease on the dataset");
  }
}
