/**
 * Uploads and erasures, in the single table (keys in ./keys): upload records (`UPLOAD#`), erasure records
 * (`ERASURE#`) and their counts, the dataset's erasure key on META, and the bookkeeping of an upload an erasure
 * rewrote (its new ETag and the rows removed, in one transaction).
 */

import { randomBytes } from "node:crypto";
import { PutCommand, TransactWriteCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import {
  type ErasureCounts,
  type ErasureRecord,
  erasureRecordSchema,
  type UploadRecord,
  uploadRecordSchema,
} from "../model";
import type { UploadErasureStore } from "../pipeline/ports";
import { DynamoTable, stripKeys } from "./base";
import { datasetPk, ERASURE_PREFIX, erasureSk, UPLOAD_PREFIX, uploadSk } from "./keys";

export class DynamoUploads extends DynamoTable implements UploadErasureStore {
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
}
