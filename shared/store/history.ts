/**
 * The DynamoDB adapter of the membership history (port in shared/history/ports.ts). One item per customer
 * whose segments changed in a run, under the customer's history key and the run's version:
 *
 *   pk T#<tenant>#D#<dataset>#H#<customer>   sk V#<version, zero-padded>   runId, asOf, entered[], left[]
 *
 * A run writes its items before it commits, so a run that dies before its commit leaves items of a version
 * that never committed. Readers therefore serve an item only when its version is not newer than the
 * committed one and its run's record says that run committed that very version (succeeded, same version);
 * the run record also gives the commit time. The repair of the aborted run deletes what it can of them.
 */
import {
  BatchGetCommand,
  BatchWriteCommand,
  type BatchWriteCommandInput,
  type DynamoDBDocumentClient,
  QueryCommand,
} from "@aws-sdk/lib-dynamodb";
import { RetryableError } from "../errors";
import type { HistoryChange, HistoryEntry, HistoryRun, MembershipHistory } from "../history/ports";
import { backoffDelay } from "./dynamo";
import { datasetPk, historyPk, historySk, runSk } from "./keys";
import { queryAll } from "./query";

type WriteRequest = NonNullable<BatchWriteCommandInput["RequestItems"]>[string][number];

const MAX_ATTEMPTS = 10;
const BACKOFF = { baseDelayMs: 50, maxDelayMs: 5_000 };
const CONCURRENCY = 8;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface StoredItem {
  v: number;
  runId: string;
  asOf: string;
  entered: string[];
  left: string[];
}

function storedItem(item: Record<string, unknown>): StoredItem | undefined {
  const { v, runId, asOf, entered, left } = item;
  if (typeof v !== "number" || typeof runId !== "string" || typeof asOf !== "string") return undefined;
  const ids = (x: unknown) => (Array.isArray(x) ? x.filter((s): s is string => typeof s === "string") : []);
  return { v, runId, asOf, entered: ids(entered), left: ids(left) };
}

export class DynamoMembershipHistory implements MembershipHistory {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async write(
    tenantId: string,
    datasetId: string,
    run: HistoryRun,
    changes: readonly HistoryChange[],
  ): Promise<number> {
    await this.batchWrite(
      changes.map((c) => ({
        PutRequest: {
          Item: {
            pk: historyPk(tenantId, datasetId, c.customerId),
            sk: historySk(run.version),
            v: run.version,
            runId: run.runId,
            asOf: run.asOf,
            entered: c.entered,
            left: c.left,
          },
        },
      })),
    );
    return changes.length;
  }

  async discard(
    tenantId: string,
    datasetId: string,
    version: number,
    customerIds: readonly string[],
  ): Promise<void> {
    await this.batchWrite(
      customerIds.map((id) => ({
        DeleteRequest: { Key: { pk: historyPk(tenantId, datasetId, id), sk: historySk(version) } },
      })),
    );
  }

  async list(
    tenantId: string,
    datasetId: string,
    customerId: string,
    committedVersion: number,
    limit: number,
    before?: number,
  ): Promise<{ items: HistoryEntry[]; next?: number }> {
    const pk = historyPk(tenantId, datasetId, customerId);
    const newest = before === undefined ? committedVersion : Math.min(committedVersion, before - 1);
    const found: HistoryEntry[] = [];
    if (newest < 0) return { items: found };
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: "pk = :pk AND sk <= :newest",
          ExpressionAttributeValues: { ":pk": pk, ":newest": historySk(newest) },
          ScanIndexForward: false,
          ConsistentRead: true,
          Limit: Math.min(100, limit + 1 - found.length),
          ExclusiveStartKey: start,
        }),
      );
      const items = (out.Items ?? []).flatMap((item) => storedItem(item) ?? []);
      const commits = await this.commitsOf(
        tenantId,
        datasetId,
        items.map((i) => i.runId),
      );
      for (const item of items) {
        const commit = commits.get(item.runId);
        // An item of a version its run never committed (it died before the commit) is never served.
        if (!commit || commit.version !== item.v) continue;
        const { v, runId, asOf, entered, left } = item;
        found.push({ version: v, runId, asOf, completedAt: commit.finishedAt, entered, left });
      }
      start = out.LastEvaluatedKey;
    } while (start && found.length <= limit);
    if (found.length > limit) {
      const items = found.slice(0, limit);
      return { items, next: items[items.length - 1]?.version };
    }
    return { items: found };
  }

  async deleteCustomer(tenantId: string, datasetId: string, customerId: string): Promise<number> {
    const pk = historyPk(tenantId, datasetId, customerId);
    const items = await queryAll(this.doc, this.table, {
      KeyConditionExpression: "pk = :pk",
      ExpressionAttributeValues: { ":pk": pk },
      ProjectionExpression: "pk, sk",
    });
    const keys = items.map((item) => ({ pk, sk: String(item.sk) }));
    await this.batchWrite(keys.map((Key) => ({ DeleteRequest: { Key } })));
    return keys.length;
  }

  /** The committed version and commit time of each of the runs that succeeded. */
  private async commitsOf(
    tenantId: string,
    datasetId: string,
    runIds: readonly string[],
  ): Promise<Map<string, { version: number; finishedAt: string }>> {
    const pk = datasetPk(tenantId, datasetId);
    const commits = new Map<string, { version: number; finishedAt: string }>();
    let keys: Array<Record<string, unknown>> = [...new Set(runIds)].map((id) => ({ pk, sk: runSk(id) }));
    for (let attempt = 0; keys.length > 0; attempt++) {
      if (attempt >= MAX_ATTEMPTS) {
        throw new RetryableError("UNPROCESSED_KEYS", `${keys.length} run records stayed unread`);
      }
      if (attempt > 0) await sleep(backoffDelay(attempt, BACKOFF));
      const out = await this.doc.send(
        new BatchGetCommand({
          RequestItems: {
            [this.table]: {
              Keys: keys,
              ConsistentRead: true,
              ProjectionExpression: "runId, #status, version, finishedAt",
              ExpressionAttributeNames: { "#status": "status" },
            },
          },
        }),
      );
      for (const run of out.Responses?.[this.table] ?? []) {
        const { runId, status, version, finishedAt } = run;
        if (
          status === "succeeded" &&
          typeof runId === "string" &&
          typeof version === "number" &&
          typeof finishedAt === "string"
        ) {
          commits.set(runId, { version, finishedAt });
        }
      }
      keys = out.UnprocessedKeys?.[this.table]?.Keys ?? [];
    }
    return commits;
  }

  /** Batches of 25, several in flight, unprocessed items retried with capped, jittered backoff. */
  private async batchWrite(requests: WriteRequest[]): Promise<void> {
    const batches: WriteRequest[][] = [];
    for (let i = 0; i < requests.length; i += 25) batches.push(requests.slice(i, i + 25));
    let next = 0;
    const worker = async () => {
      while (next < batches.length) {
        let pending = batches[next++] ?? [];
        for (let attempt = 0; pending.length > 0; attempt++) {
          if (attempt >= MAX_ATTEMPTS) {
            throw new RetryableError(
              "UNPROCESSED_ITEMS",
              `${pending.length} history items stayed unprocessed`,
            );
          }
          if (attempt > 0) await sleep(backoffDelay(attempt, BACKOFF));
          const out = await this.doc.send(new BatchWriteCommand({ RequestItems: { [this.table]: pending } }));
          pending = out.UnprocessedItems?.[this.table] ?? [];
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, batches.length) }, worker));
  }
}
