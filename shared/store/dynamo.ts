/**
 * The DynamoDB adapter of the dataset store (key design in ./keys).
 *
 * Versioned reads without copying: a run writes only what changed, and each changed item keeps the value
 * readers of the committed version must still see (`view`/`prev`, tagged with the version `v`). Readers pick
 * the value whose version is not newer than the dataset's committed version, which the dataset item switches
 * in the same transaction that records the run. So a reader never sees a mix of two runs, and a run that dies
 * half-way leaves readers on the previous result. A segment's members are no items: each version keeps them
 * in S3 (pipeline/member-pages.ts). A customer's membership history rides in their item (`hist`), and each
 * commit writes its version's item (`VER#<version>`), which tells the history reader the version committed
 * (store/history.ts).
 */

import { randomBytes } from "node:crypto";
import { ConditionalCheckFailedException, TransactionCanceledException } from "@aws-sdk/client-dynamodb";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import {
  DeleteCommand,
  PutCommand,
  QueryCommand,
  TransactGetCommand,
  TransactWriteCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import { RetryableError } from "../errors";
import {
  type CustomerView,
  customerViewSchema,
  type DatasetMeta,
  datasetMetaSchema,
  type ErasureCounts,
  type ErasureRecord,
  erasureRecordSchema,
  type RunRecord,
  type RunStatus,
  runRecordSchema,
  type UploadRecord,
  uploadRecordSchema,
} from "../model";
import type {
  CommitInput,
  CustomerWrite,
  DatasetDefinitionStore,
  DatasetStore,
  LeasedDataset,
  Page,
} from "../pipeline/ports";
import { parseServedValue, servedViewOf } from "../pipeline/served-view";
import { type BatchOptions, DynamoTable, stripKeys, type WriteRequest } from "./base";
import { DynamoDatasets } from "./datasets";
import {
  CUSTOMER_SK,
  customerPk,
  datasetPk,
  ERASURE_PREFIX,
  erasureSk,
  legacyHistoryPk,
  legacyMembershipPk,
  META_SK,
  runSk,
  UPLOAD_PREFIX,
  uploadSk,
  versionSk,
} from "./keys";
import { CUSTOMER_VIEW_PROJECTION } from "./lookup";
import { queryAll } from "./query";

export { type BatchOptions, backoffDelay } from "./base";

/** The customer item a run writes for one customer (its key, the version that wrote it, views and history). */
export function customerItem(
  tenantId: string,
  datasetId: string,
  version: number,
  w: CustomerWrite,
): Record<string, unknown> {
  return {
    pk: customerPk(tenantId, datasetId, w.customerId),
    sk: CUSTOMER_SK,
    v: version,
    ...(w.view ? { view: w.view } : {}),
    ...(w.previous ? { prev: w.previous } : {}),
    ...(w.history && w.history.length > 0 ? { hist: w.history } : {}),
  };
}

export class DynamoDatasetStore extends DynamoTable implements DatasetStore {
  private readonly definitions: DynamoDatasets;

  constructor(doc: DynamoDBDocumentClient, table: string, batch: Partial<BatchOptions> = {}) {
    super(doc, table, batch);
    this.definitions = new DynamoDatasets(doc, table, batch);
  }

  getDataset(
    ...args: Parameters<DatasetDefinitionStore["getDataset"]>
  ): ReturnType<DatasetDefinitionStore["getDataset"]> {
    return this.definitions.getDataset(...args);
  }

  ensureDataset(
    ...args: Parameters<DatasetDefinitionStore["ensureDataset"]>
  ): ReturnType<DatasetDefinitionStore["ensureDataset"]> {
    return this.definitions.ensureDataset(...args);
  }

  createDataset(
    ...args: Parameters<DatasetDefinitionStore["createDataset"]>
  ): ReturnType<DatasetDefinitionStore["createDataset"]> {
    return this.definitions.createDataset(...args);
  }

  listTenantDatasets(
    ...args: Parameters<DatasetDefinitionStore["listTenantDatasets"]>
  ): ReturnType<DatasetDefinitionStore["listTenantDatasets"]> {
    return this.definitions.listTenantDatasets(...args);
  }

  putSettings(
    ...args: Parameters<DatasetDefinitionStore["putSettings"]>
  ): ReturnType<DatasetDefinitionStore["putSettings"]> {
    return this.definitions.putSettings(...args);
  }

  putDefinition(
    ...args: Parameters<DatasetDefinitionStore["putDefinition"]>
  ): ReturnType<DatasetDefinitionStore["putDefinition"]> {
    return this.definitions.putDefinition(...args);
  }

  getDefinition(
    ...args: Parameters<DatasetDefinitionStore["getDefinition"]>
  ): ReturnType<DatasetDefinitionStore["getDefinition"]> {
    return this.definitions.getDefinition(...args);
  }

  listDefinitions(
    ...args: Parameters<DatasetDefinitionStore["listDefinitions"]>
  ): ReturnType<DatasetDefinitionStore["listDefinitions"]> {
    return this.definitions.listDefinitions(...args);
  }

  deleteDefinition(
    ...args: Parameters<DatasetDefinitionStore["deleteDefinition"]>
  ): ReturnType<DatasetDefinitionStore["deleteDefinition"]> {
    return this.definitions.deleteDefinition(...args);
  }

  listDatasets(
    ...args: Parameters<DatasetDefinitionStore["listDatasets"]>
  ): ReturnType<DatasetDefinitionStore["listDatasets"]> {
    return this.definitions.listDatasets(...args);
  }

  async putUpload(upload: UploadRecord): Promise<void> {
    await this.putItem(datasetPk(upload.tenantId, upload.datasetId), uploadSk(upload.uploadId), upload);
  }

  async getUpload(tenantId: string, datasetId: string, uploadId: string): Promise<UploadRecord | undefined> {
    return this.getItem(datasetPk(tenantId, datasetId), uploadSk(uploadId), uploadRecordSchema);
  }

  async listUploads(tenantId: string, datasetId: string): Promise<UploadRecord[]> {
    return (await this.queryPrefix(tenantId, datasetId, UPLOAD_PREFIX)).map((item) =>
      uploadRecordSchema.parse(stripKeys(item)),
    );
  }

  async ensureErasureSalt(tenantId: string, datasetId: string): Promise<string | undefined> {
    const out = await this.updateMeta(tenantId, datasetId, {
      UpdateExpression: "SET erasureSalt = if_not_exists(erasureSalt, :salt)",
      ConditionExpression: "attribute_exists(pk)",
      ExpressionAttributeValues: { ":salt": randomBytes(32).toString("base64") },
      ReturnValues: "UPDATED_NEW",
    });
    if (!out) return undefined;
    const salt = out.Attributes?.erasureSalt;
    if (typeof salt !== "string") throw new Error("The dataset's erasure key was not returned");
    return salt;
  }

  async putErasure(erasure: ErasureRecord): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.table,
        Item: {
          pk: datasetPk(erasure.tenantId, erasure.datasetId),
          sk: erasureSk(erasure.erasureId),
          ...erasure,
        },
        ConditionExpression: "attribute_not_exists(pk)",
      }),
    );
  }

  async getErasure(
    tenantId: string,
    datasetId: string,
    erasureId: string,
  ): Promise<ErasureRecord | undefined> {
    return this.getItem(datasetPk(tenantId, datasetId), erasureSk(erasureId), erasureRecordSchema);
  }

  async listErasureHashes(tenantId: string, datasetId: string): Promise<string[]> {
    const items = await this.queryPrefix(tenantId, datasetId, ERASURE_PREFIX, "customerHash");
    return items.flatMap((item) => (typeof item.customerHash === "string" ? [item.customerHash] : []));
  }

  /**
   * `counts.<name> = counts.<name> + :n` for each count, with the names and values an update needs. (ADD
   * takes top-level attributes only; the counts map is created with every count at zero.)
   */
  private countUpdate(counts: Partial<ErasureCounts>) {
    const names: Record<string, string> = { "#counts": "counts" };
    const values: Record<string, number> = {};
    const parts: string[] = [];
    Object.entries(counts).forEach(([name, n], i) => {
      if (n === undefined || n === 0) return;
      names[`#c${i}`] = name;
      values[`:c${i}`] = n;
      // A count added after the record was made (a newer kind of count) starts from 0.
      parts.push(`#counts.#c${i} = if_not_exists(#counts.#c${i}, :zero) + :c${i}`);
    });
    if (parts.length > 0) values[":zero"] = 0;
    return { names, values, parts };
  }

  async addErasureCounts(
    tenantId: string,
    datasetId: string,
    erasureId: string,
    counts: Partial<ErasureCounts>,
  ): Promise<void> {
    const { names, values, parts } = this.countUpdate(counts);
    if (parts.length === 0) return;
    await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: datasetPk(tenantId, datasetId), sk: erasureSk(erasureId) },
        UpdateExpression: `SET ${parts.join(", ")}`,
        ConditionExpression: "attribute_exists(pk)",
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
    );
  }

  async recordUploadRewrite(input: {
    tenantId: string;
    datasetId: string;
    uploadId: string;
    eTag: string;
    erasureId: string;
    counts: Partial<ErasureCounts>;
  }): Promise<void> {
    const pk = datasetPk(input.tenantId, input.datasetId);
    const { names, values, parts } = this.countUpdate(input.counts);
    await this.doc.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Update: {
              TableName: this.table,
              Key: { pk, sk: uploadSk(input.uploadId) },
              UpdateExpression: "SET erasureEtags = list_append(if_not_exists(erasureEtags, :none), :etag)",
              ConditionExpression: "attribute_exists(pk)",
              ExpressionAttributeValues: { ":none": [], ":etag": [input.eTag] },
            },
          },
          ...(parts.length > 0
            ? [
                {
                  Update: {
                    TableName: this.table,
                    Key: { pk, sk: erasureSk(input.erasureId) },
                    UpdateExpression: `SET ${parts.join(", ")}`,
                    ConditionExpression: "attribute_exists(pk)",
                    ExpressionAttributeNames: names,
                    ExpressionAttributeValues: values,
                  },
                },
              ]
            : []),
        ],
      }),
    );
  }

  async completeErasure(input: {
    tenantId: string;
    datasetId: string;
    erasureId: string;
    completedAt: string;
    runId: string;
    version?: number;
    customersErased: number;
    add: Partial<ErasureCounts>;
  }): Promise<void> {
    const { customersErased: _set, ...add } = input.add;
    const { names, values, parts } = this.countUpdate(add);
    const sets = [
      "#status = :completed",
      "completedAt = :at",
      "runId = :run",
      "#counts.customersErased = :erased",
      ...(input.version !== undefined ? ["version = :version"] : []),
      ...parts,
    ];
    await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: datasetPk(input.tenantId, input.datasetId), sk: erasureSk(input.erasureId) },
        UpdateExpression: `SET ${sets.join(", ")} REMOVE customerId`,
        ConditionExpression: "attribute_exists(pk)",
        ExpressionAttributeNames: { ...names, "#status": "status" },
        ExpressionAttributeValues: {
          ...values,
          ":completed": "completed",
          ":at": input.completedAt,
          ":run": input.runId,
          ":erased": input.customersErased,
          ...(input.version !== undefined ? { ":version": input.version } : {}),
        },
      }),
    );
  }

  async deleteCustomerItems(
    tenantId: string,
    datasetId: string,
    customerId: string,
    legacy?: { segmentIds: readonly string[] },
  ): Promise<{ items: number; historyEntries: number }> {
    const keys: Array<{ pk: string; sk: string }> = [
      { pk: customerPk(tenantId, datasetId, customerId), sk: CUSTOMER_SK },
    ];
    // Items an earlier release wrote for the customer (keys.ts): a membership item per segment it may have
    // been in, and its history items, found by their partition.
    let legacyHistory = 0;
    if (legacy) {
      for (const segment of legacy.segmentIds)
        keys.push({ pk: legacyMembershipPk(tenantId, datasetId, segment), sk: customerId });
      const historyKeys = await queryAll(this.doc, this.table, {
        KeyConditionExpression: "pk = :pk",
        ExpressionAttributeValues: { ":pk": legacyHistoryPk(tenantId, datasetId, customerId) },
        ProjectionExpression: "pk, sk",
      });
      for (const item of historyKeys) keys.push({ pk: String(item.pk), sk: String(item.sk) });
      legacyHistory = historyKeys.length;
    }
    // One DeleteItem per key (not a batch), so each answer says whether the item existed.
    let next = 0;
    let deleted = 0;
    let historyEntries = 0;
    const worker = async () => {
      while (next < keys.length) {
        const key = keys[next++];
        if (!key) continue;
        const out = await this.doc.send(
          new DeleteCommand({ TableName: this.table, Key: key, ReturnValues: "ALL_OLD" }),
        );
        if (out.Attributes) deleted++;
        // The customer item carries the customer's membership history (`hist`), which goes with it.
        if (key.sk === CUSTOMER_SK && Array.isArray(out.Attributes?.hist))
          historyEntries += out.Attributes.hist.length;
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.batch.concurrency, keys.length) }, worker));
    return { items: deleted, historyEntries: historyEntries + legacyHistory };
  }

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

  async writeCustomers(
    tenantId: string,
    datasetId: string,
    version: number,
    writes: CustomerWrite[],
  ): Promise<number> {
    const requests: WriteRequest[] = writes.map((w) => ({
      PutRequest: { Item: customerItem(tenantId, datasetId, version, w) },
    }));
    await this.batchWrite(requests);
    return requests.length;
  }

  async commit(input: CommitInput): Promise<void> {
    const { tenantId, datasetId, run, current, upload, owner } = input;
    const pk = datasetPk(tenantId, datasetId);
    const names: Record<string, string> = { "#lock": "lock", "#owner": "owner" };
    const values: Record<string, unknown> = { ":current": current, ":owner": owner };
    let update = "SET #current = :current REMOVE #lock, pending";
    names["#current"] = "current";
    if (upload?.replaceCreatedAt) {
      update = "SET #current = :current, lastReplaceUploadAt = :replaceAt REMOVE #lock, pending";
      values[":replaceAt"] = upload.replaceCreatedAt;
    }
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: this.table,
                Key: { pk, sk: META_SK },
                UpdateExpression: update,
                ConditionExpression: "#lock.#owner = :owner",
                ExpressionAttributeNames: names,
                ExpressionAttributeValues: values,
              },
            },
            { Put: { TableName: this.table, Item: { pk, sk: runSk(run.runId), ...run } } },
            // The version's own item: the membership history serves entries of recorded versions only.
            {
              Put: {
                TableName: this.table,
                Item: {
                  pk,
                  sk: versionSk(current.version),
                  v: current.version,
                  runId: current.runId,
                  asOf: current.asOf,
                  completedAt: current.completedAt,
                },
              },
            },
            ...(upload
              ? [
                  {
                    Update: {
                      TableName: this.table,
                      Key: { pk, sk: uploadSk(upload.uploadId) },
                      UpdateExpression: upload.erasureEtag
                        ? "SET appliedSequencer = :seq, erasureEtags = list_append(if_not_exists(erasureEtags, :none), :etag)"
                        : "SET appliedSequencer = :seq",
                      ExpressionAttributeValues: {
                        ":seq": upload.sequencer,
                        ...(upload.erasureEtag ? { ":none": [], ":etag": [upload.erasureEtag] } : {}),
                      },
                    },
                  },
                ]
              : []),
          ],
        }),
      );
    } catch (error) {
      if (error instanceof TransactionCanceledException) {
        throw new RetryableError("LOCK_LOST", "The run lost its lease on the dataset before committing");
      }
      throw error;
    }
  }

  async getCustomer(
    tenantId: string,
    datasetId: string,
    customerId: string,
  ): Promise<{ meta: DatasetMeta | undefined; view: CustomerView | undefined }> {
    const out = await this.doc.send(
      new TransactGetCommand({
        TransactItems: [
          { Get: { TableName: this.table, Key: { pk: datasetPk(tenantId, datasetId), sk: META_SK } } },
          {
            Get: {
              TableName: this.table,
              Key: { pk: customerPk(tenantId, datasetId, customerId), sk: CUSTOMER_SK },
              ...CUSTOMER_VIEW_PROJECTION,
            },
          },
        ],
      }),
    );
    const [metaItem, customerItem] = [out.Responses?.[0]?.Item, out.Responses?.[1]?.Item];
    const meta = metaItem ? datasetMetaSchema.parse(stripKeys(metaItem)) : undefined;
    const committed = meta?.current?.version;
    if (committed === undefined || !customerItem) return { meta, view: undefined };
    const written = typeof customerItem.v === "number" ? customerItem.v : 0;
    const raw = written <= committed ? customerItem.view : customerItem.prev;
    if (raw === undefined) return { meta, view: undefined };
    // The stored table view with the committed version's predictions (pipeline/served-view.ts).
    const current = meta?.current as NonNullable<DatasetMeta["current"]>;
    const view = servedViewOf(
      customerViewSchema.parse(raw),
      parseServedValue(current.servedValue),
      current.asOf,
    );
    return { meta, view };
  }
}
