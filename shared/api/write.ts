/** Core functions of the write routes: handing out presigned uploads. */
import { randomUUID } from "node:crypto";
import { z } from "zod";
import type { ApiRequest, ApiResult, RouteHandler } from "../http/api";
import { parseWith } from "../http/validation";
import {
  compressionSchema,
  datasetIdSchema,
  fileFormatSchema,
  fileKindSchema,
  type UploadRecord,
  uploadModeSchema,
} from "../model";
import type { DatasetStore } from "../pipeline/ports";
import { MAX_UPLOAD_BYTES, UPLOAD_URL_TTL_SECONDS } from "../resources";
import type { RouteId } from "../routes";
import { objectKeys } from "../store/keys";

/** Signs a browser-style POST upload limited to one key and a size range. */
export interface UploadSigner {
  presignPost(
    key: string,
    maxBytes: number,
    expiresSeconds: number,
  ): Promise<{ url: string; fields: Record<string, string> }>;
}

export interface WriteDeps {
  store: DatasetStore;
  signer: UploadSigner;
  now?: () => Date;
}

function hasPathOrControlCharacter(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x20 || c === 0x7f || c === 0x2f || c === 0x5c) return true;
  }
  return false;
}

const fileNameSchema = z
  .string()
  .min(1)
  .max(200)
  .refine((s) => !hasPathOrControlCharacter(s), "must not contain '/', '\\' or control characters")
  .refine((s) => s !== "." && s !== "..", "must be a file name");

export const uploadParams = z.object({ datasetId: datasetIdSchema });

export const createUploadBodySchema = z
  .strictObject({
    fileName: fileNameSchema,
    kind: fileKindSchema.default("transactions"),
    mode: uploadModeSchema.default("append"),
    format: fileFormatSchema.optional(),
    compression: compressionSchema.default("auto"),
    columns: z.record(z.string().min(1).max(64), z.string().min(1).max(256)).optional(),
  })
  .transform((body, ctx) => {
    if (body.kind === "pinpoint-endpoints") {
      // An endpoint export is JSON lines whatever its files are called.
      if (body.format === "csv") {
        ctx.addIssue({
          code: "custom",
          path: ["format"],
          message: "a Pinpoint endpoint export is JSON lines: give 'ndjson' or leave format out",
        });
        return z.NEVER;
      }
      return { ...body, format: "ndjson" as const };
    }
    const lower = body.fileName.toLowerCase().replace(/\.gz$/, "");
    const format =
      body.format ??
      (lower.endsWith(".ndjson") || lower.endsWith(".jsonl")
        ? "ndjson"
        : lower.endsWith(".csv")
          ? "csv"
          : undefined);
    if (!format) {
      ctx.addIssue({
        code: "custom",
        path: ["format"],
        message: "cannot be inferred from the file name; give 'csv' or 'ndjson'",
      });
      return z.NEVER;
    }
    return { ...body, format };
  });

export function writeRoutes(deps: WriteDeps): Partial<Record<RouteId, RouteHandler>> {
  const now = deps.now ?? (() => new Date());

  const createUpload = async (req: ApiRequest): Promise<ApiResult> => {
    const { datasetId } = parseWith(uploadParams, req.params, "path");
    const body = parseWith(createUploadBodySchema, req.body ?? {}, "body");
    await deps.store.ensureDataset(req.tenantId, datasetId);
    const uploadId = randomUUID();
    const key = `${objectKeys.uploadPrefix(req.tenantId, datasetId, uploadId)}${body.fileName}`;
    const created = now();
    const record: UploadRecord = {
      tenantId: req.tenantId,
      datasetId,
      uploadId,
      kind: body.kind,
      mode: body.mode,
      format: body.format,
      compression: body.compression,
      ...(body.columns ? { columns: body.columns } : {}),
      fileName: body.fileName,
      key,
      createdAt: created.toISOString(),
    };
    await deps.store.putUpload(record);
    const { url, fields } = await deps.signer.presignPost(key, MAX_UPLOAD_BYTES, UPLOAD_URL_TTL_SECONDS);
    return {
      status: 201,
      body: {
        uploadId,
        datasetId,
        kind: record.kind,
        mode: record.mode,
        format: record.format,
        key,
        url,
        fields,
        maxBytes: MAX_UPLOAD_BYTES,
        expiresAt: new Date(created.getTime() + UPLOAD_URL_TTL_SECONDS * 1000).toISOString(),
      },
    };
  };

  return { createUpload };
}
