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

import { TransactionCanceledException } from "@aws-sdk/client-dynamodb";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { DeleteCommand, TransactGetCommand, TransactWriteCommand } from "@aws-sdk/lib-dynamodb";
import { RetryableError } from "../errors";
import { type CustomerView, customerViewSchema, type DatasetMeta, datasetMetaSchema } from "../model";
import type {
  CommitInput,
  CustomerWrite,
  DatasetDefinitionStore,
  DatasetStore,
  RunLeaseStore,
  UploadErasureStore,
} from "../pipeline/ports";
import { parseServedValue, servedViewOf } from "../pipeline/served-view";
import { type BatchOptions, DynamoTable, stripKeys, type WriteRequest } from "./base";
import { DynamoDatasets } from "./datasets";
import {
  CUSTOMER_SK,
  customerPk,
  datasetPk,
  legacyHistoryPk,
  legacyMembershipPk,
  META_SK,
  runSk,
  uploadSk,
  versionSk,
} from "./keys";
import { CUSTOMER_VIEW_PROJECTION } from "./lookup";
import { queryAll } from "./query";
import { DynamoRuns } from "./runs";
import { DynamoUploads } from "./uploads";

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
  private readonly uploads: DynamoUploads;
  private readonly runs: DynamoRuns;

  constructor(doc: DynamoDBDocumentClient, table: string, batch: Partial<BatchOptions> = {}) {
    super(doc, table, batch);
    this.definitions = new DynamoDatasets(doc, table, batch);
    this.uploads = new DynamoUploads(doc, table, batch);
    this.runs = new DynamoRuns(doc, table, batch);
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

  putUpload(
    ...args: Parameters<UploadErasureStore["putUpload"]>
  ): ReturnType<UploadErasureStore["putUpload"]> {
    return this.uploads.putUpload(...args);
  }

  getUpload(
    ...args: Parameters<UploadErasureStore["getUpload"]>
  ): ReturnType<UploadErasureStore["getUpload"]> {
    return this.uploads.getUpload(...args);
  }

  listUploads(
    ...args: Parameters<UploadErasureStore["listUploads"]>
  ): ReturnType<UploadErasureStore["listUploads"]> {
    return this.uploads.listUploads(...args);
  }

  ensureErasureSalt(
    ...args: Parameters<UploadErasureStore["ensureErasureSalt"]>
  ): ReturnType<UploadErasureStore["ensureErasureSalt"]> {
    return this.uploads.ensureErasureSalt(...args);
  }

  putErasure(
    ...args: Parameters<UploadErasureStore["putErasure"]>
  ): ReturnType<UploadErasureStore["putErasure"]> {
    return this.uploads.putErasure(...args);
  }

  getErasure(
    ...args: Parameters<UploadErasureStore["getErasure"]>
  ): ReturnType<UploadErasureStore["getErasure"]> {
    return this.uploads.getErasure(...args);
  }

  listErasureHashes(
    ...args: Parameters<UploadErasureStore["listErasureHashes"]>
  ): ReturnType<UploadErasureStore["listErasureHashes"]> {
    return this.uploads.listErasureHashes(...args);
  }

  addErasureCounts(
    ...args: Parameters<UploadErasureStore["addErasureCounts"]>
  ): ReturnType<UploadErasureStore["addErasureCounts"]> {
    return this.uploads.addErasureCounts(...args);
  }

  recordUploadRewrite(
    ...args: Parameters<UploadErasureStore["recordUploadRewrite"]>
  ): ReturnType<UploadErasureStore["recordUploadRewrite"]> {
    return this.uploads.recordUploadRewrite(...args);
  }

  completeErasure(
    ...args: Parameters<UploadErasureStore["completeErasure"]>
  ): ReturnType<UploadErasureStore["completeErasure"]> {
    return this.uploads.completeErasure(...args);
  }

  createRun(...args: Parameters<RunLeaseStore["createRun"]>): ReturnType<RunLeaseStore["createRun"]> {
    return this.runs.createRun(...args);
  }

  putRun(...args: Parameters<RunLeaseStore["putRun"]>): ReturnType<RunLeaseStore["putRun"]> {
    return this.runs.putRun(...args);
  }

  getRun(...args: Parameters<RunLeaseStore["getRun"]>): ReturnType<RunLeaseStore["getRun"]> {
    return this.runs.getRun(...args);
  }

  listRuns(...args: Parameters<RunLeaseStore["listRuns"]>): ReturnType<RunLeaseStore["listRuns"]> {
    return this.runs.listRuns(...args);
  }

  acquireLock(...args: Parameters<RunLeaseStore["acquireLock"]>): ReturnType<RunLeaseStore["acquireLock"]> {
    return this.runs.acquireLock(...args);
  }

  closeRun(...args: Parameters<RunLeaseStore["closeRun"]>): ReturnType<RunLeaseStore["closeRun"]> {
    return this.runs.closeRun(...args);
  }

  markDestinationsServed(
    ...args: Parameters<RunLeaseStore["markDestinationsServed"]>
  ): ReturnType<RunLeaseStore["markDestinationsServed"]> {
    return this.runs.markDestinationsServed(...args);
  }

  listRunsSince(
    ...args: Parameters<RunLeaseStore["listRunsSince"]>
  ): ReturnType<RunLeaseStore["listRunsSince"]> {
    return this.runs.listRunsSince(...args);
  }

  renewLock(...args: Parameters<RunLeaseStore["renewLock"]>): ReturnType<RunLeaseStore["renewLock"]> {
    return this.runs.renewLock(...args);
  }

  releaseLock(...args: Parameters<RunLeaseStore["releaseLock"]>): ReturnType<RunLeaseStore["releaseLock"]> {
    return this.runs.releaseLock(...args);
  }

  markPending(...args: Parameters<RunLeaseStore["markPending"]>): ReturnType<RunLeaseStore["markPending"]> {
    return this.runs.markPending(...args);
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
