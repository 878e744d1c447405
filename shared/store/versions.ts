/**
 * Versions and views, in the single table (keys in ./keys): customer items, the commit that switches versions,
 * and a customer's committed view.
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
import { DeleteCommand, TransactGetCommand, TransactWriteCommand } from "@aws-sdk/lib-dynamodb";
import { RetryableError } from "../errors";
import { type CustomerView, customerViewSchema, type DatasetMeta, datasetMetaSchema } from "../model";
import type { CommitInput, CustomerWrite, VersionStore } from "../pipeline/ports";
import { parseServedValue, servedViewOf } from "../pipeline/served-view";
import { DynamoTable, stripKeys, type WriteRequest } from "./base";
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

export class DynamoVersions extends DynamoTable implements VersionStore {
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
