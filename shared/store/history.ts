/**
 * The DynamoDB adapter of the membership history (port in shared/history/ports.ts). The history lives in the
 * customer's item (`hist`: compact entries `{v, e, l}`, newest first, capped; history/entries.ts), written with
 * the item by the run that changed the customer's segments, so it costs no item of its own.
 *
 * A run writes its items before it commits, so an item may carry an entry of a version that never committed
 * (its run died before the commit) until the next run rewrites the item. Readers therefore serve an entry only
 * when its version is not newer than the committed one and its version's item (`VER#<version>`, written in
 * the commit's transaction) exists; that item also gives the entry's run, evaluation date and commit time.
 * One read of the customer item, then one BatchGetItem of the page's version items.
 */
import { BatchGetCommand, type DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
import { RetryableError } from "../errors";
import { type StoredEntry, storedEntries } from "../history/entries";
import type { HistoryEntry, HistoryRun, MembershipHistory } from "../history/ports";
import { backoffDelay } from "./base";
import { CUSTOMER_SK, customerPk, datasetPk, versionSk } from "./keys";

const MAX_ATTEMPTS = 10;
/** Keys one BatchGetItem takes. */
const BATCH_GET_KEYS = 100;
const BACKOFF = { baseDelayMs: 50, maxDelayMs: 5_000 };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Commit = HistoryRun & { completedAt: string };

export class DynamoMembershipHistory implements MembershipHistory {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async list(
    tenantId: string,
    datasetId: string,
    customerId: string,
    committedVersion: number,
    limit: number,
    before?: number,
  ): Promise<{ items: HistoryEntry[]; next?: number }> {
    const newest = before === undefined ? committedVersion : Math.min(committedVersion, before - 1);
    if (newest < 1) return { items: [] };
    const out = await this.doc.send(
      new GetCommand({
        TableName: this.table,
        Key: { pk: customerPk(tenantId, datasetId, customerId), sk: CUSTOMER_SK },
        ConsistentRead: true,
        ProjectionExpression: "hist",
      }),
    );
    const candidates = storedEntries(out.Item?.hist)
      .filter((e) => e.v <= newest)
      .sort((a, b) => b.v - a.v);
    const found: HistoryEntry[] = [];
    let at = 0;
    // One more than the page, to tell whether another page follows; more only when some never committed.
    while (found.length <= limit && at < candidates.length) {
      const chunk = candidates.slice(at, at + Math.min(BATCH_GET_KEYS, limit + 1 - found.length));
      at += chunk.length;
      const commits = await this.commitsOf(
        tenantId,
        datasetId,
        chunk.map((e) => e.v),
      );
      for (const entry of chunk) {
        const commit = commits.get(entry.v);
        // An entry of a version that never committed (its run died before the commit) is never served.
        if (commit) found.push(served(entry, commit));
      }
    }
    if (found.length > limit) {
      const items = found.slice(0, limit);
      return { items, next: items[items.length - 1]?.version };
    }
    return { items: found };
  }

  /** The version items of these versions that exist: each committed version's run, asOf and commit time. */
  private async commitsOf(
    tenantId: string,
    datasetId: string,
    versions: readonly number[],
  ): Promise<Map<number, Commit>> {
    const pk = datasetPk(tenantId, datasetId);
    const commits = new Map<number, Commit>();
    let keys: Array<Record<string, unknown>> = [...new Set(versions)].map((v) => ({ pk, sk: versionSk(v) }));
    for (let attempt = 0; keys.length > 0; attempt++) {
      if (attempt >= MAX_ATTEMPTS) {
        throw new RetryableError("UNPROCESSED_KEYS", `${keys.length} version items stayed unread`);
      }
      if (attempt > 0) await sleep(backoffDelay(attempt, BACKOFF));
      const out = await this.doc.send(
        new BatchGetCommand({
          RequestItems: {
            [this.table]: {
              Keys: keys,
              ConsistentRead: true,
              ProjectionExpression: "v, runId, asOf, completedAt",
            },
          },
        }),
      );
      for (const item of out.Responses?.[this.table] ?? []) {
        const { v, runId, asOf, completedAt } = item;
        if (
          typeof v === "number" &&
          typeof runId === "string" &&
          typeof asOf === "string" &&
          typeof completedAt === "string"
        ) {
          commits.set(v, { version: v, runId, asOf, completedAt });
        }
      }
      keys = out.UnprocessedKeys?.[this.table]?.Keys ?? [];
    }
    return commits;
  }
}

function served(entry: StoredEntry, commit: Commit): HistoryEntry {
  return {
    version: entry.v,
    runId: commit.runId,
    asOf: commit.asOf,
    completedAt: commit.completedAt,
    entered: entry.e,
    left: entry.l,
  };
}
