/**
 * Stages an upload the way the API and S3 leave it for the pipeline: the upload record in the table, the
 * object in the bucket, and the S3 event that would announce it. Sequencers grow with every call, so later
 * stagings are newer, as S3's are.
 */
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { DatasetSettings, UploadRecord } from "../../shared/model";
import type { UploadEvent } from "../../shared/pipeline/run";
import type { DynamoDatasetStore } from "../../shared/store/dynamo";

export interface StagingTarget {
  store: DynamoDatasetStore;
  s3: S3Client;
  bucket: string;
  tenantId?: string;
}

let sequence = 0;

export async function stageUpload(
  target: StagingTarget,
  datasetId: string,
  body: Uint8Array,
  options: { fileName?: string; mode?: "append" | "replace"; settings?: DatasetSettings } = {},
): Promise<UploadEvent> {
  const tenantId = target.tenantId ?? "t";
  const fileName = options.fileName ?? "transactions.csv";
  const uploadId = `u${++sequence}`;
  const key = `uploads/${tenantId}/${datasetId}/${uploadId}/${fileName}`;
  const upload: UploadRecord = {
    tenantId,
    datasetId,
    uploadId,
    kind: "transactions",
    mode: options.mode ?? "append",
    format: "csv",
    compression: "auto",
    fileName,
    key,
    createdAt: new Date(Date.now() + sequence).toISOString(),
  };
  await target.store.ensureDataset(tenantId, datasetId, options.settings);
  await target.store.putUpload(upload);
  await target.s3.send(new PutObjectCommand({ Bucket: target.bucket, Key: key, Body: body }));
  return {
    tenantId,
    datasetId,
    uploadId,
    key,
    sequencer: `00000000000000${String(sequence).padStart(4, "0")}`,
    eventTime: new Date().toISOString(),
    size: body.length,
  };
}
