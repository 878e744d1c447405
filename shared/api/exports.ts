/**
 * Member exports: one segment's members of the committed version, with chosen columns, written as CSV to S3
 * under exports/ (deleted by a lifecycle rule after EXPORT_RETENTION_DAYS) and handed back as a short-lived
 * download link. The rows come from the version's per-customer view file, so an export is exactly what the
 * lookups of that version serve.
 *
 * Text cells are written by `csvTextCell` (../csv.ts): defused against spreadsheet formulas and quoted
 * wherever a spreadsheet splitting on `,`, `;` or tab could cut them; numbers the service itself computed
 * are written as numbers.
 */
import { randomUUID } from "node:crypto";
import { z } from "zod";
import { csvTextCell } from "../csv";
import { fileSafeId } from "../engine/segment-ids";
import { ConflictError, NotFoundError } from "../errors";
import type { ApiRequest, ApiResult, RouteHandler } from "../http/api";
import { parseWith } from "../http/validation";
import { type CustomerView, datasetIdSchema, segmentIdSchema } from "../model";
import { decodeOutputs } from "../pipeline/outputs";
import type { BlobStore, DatasetDefinitionStore } from "../pipeline/ports";
import { EXPORT_RETENTION_DAYS, EXPORT_URL_TTL_SECONDS } from "../resources";
import type { RouteId } from "../routes";
import { objectKeys } from "../store/keys";
import { churnRiskKnown, selectedModelOf } from "./customer-answer";

export const EXPORT_COLUMNS = [
  "customer_id",
  "first_purchase",
  "last_purchase",
  "frequency",
  "monetary",
  "r",
  "f",
  "m",
  "rfm",
  "lifecycle",
  "cluster",
  "probability_alive",
  "churn_risk",
  "expected_purchases",
  "expected_purchases_low",
  "expected_purchases_high",
  "clv",
  "clv_low",
  "clv_high",
  "next_best_category",
  "segments",
] as const;
export type ExportColumn = (typeof EXPORT_COLUMNS)[number];

export const exportParams = z.object({ datasetId: datasetIdSchema, segmentId: segmentIdSchema });
export const createExportBodySchema = z.strictObject({
  /** Default: every column, in this order. */
  columns: z
    .array(z.enum(EXPORT_COLUMNS))
    .min(1)
    .max(EXPORT_COLUMNS.length)
    .refine((c) => new Set(c).size === c.length, "must not repeat a column")
    .optional(),
});

export interface ExportDeps {
  store: Pick<DatasetDefinitionStore, "getDataset">;
  blobs?: BlobStore;
  now?: () => Date;
}

function numberCell(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? "" : String(value);
}

/**
 * One cell of a member's row. `model` is the version's repeat-purchase model: where it cannot tell whether
 * the customer is still buying (BG/NBD and a customer without a repeat purchase, see ./customer-answer),
 * probability_alive and churn_risk are left empty rather than written as 1 and 0.
 */
function cell(column: ExportColumn, id: string, v: CustomerView, model: string): string {
  switch (column) {
    case "customer_id":
      return csvTextCell(id);
    case "first_purchase":
      return v.firstPurchase;
    case "last_purchase":
      return v.lastPurchase;
    case "frequency":
      return numberCell(v.frequency);
    case "monetary":
      return numberCell(v.monetary);
    case "r":
      return numberCell(v.r);
    case "f":
      return numberCell(v.f);
    case "m":
      return numberCell(v.m);
    case "rfm":
      return csvTextCell(v.rfm);
    case "lifecycle":
      return csvTextCell(v.lifecycle ?? "");
    case "cluster":
      return csvTextCell(v.cluster ?? "");
    case "probability_alive":
      return churnRiskKnown(model, v) ? numberCell(v.probabilityAlive) : "";
    case "churn_risk":
      return churnRiskKnown(model, v) && v.probabilityAlive !== undefined
        ? numberCell(Math.round((1 - v.probabilityAlive) * 10_000) / 10_000)
        : "";
    case "expected_purchases_low":
      return numberCell(v.expectedPurchasesLow);
    case "expected_purchases_high":
      return numberCell(v.expectedPurchasesHigh);
    case "clv_low":
      return numberCell(v.clvLow);
    case "clv_high":
      return numberCell(v.clvHigh);
    case "expected_purchases":
      return numberCell(v.expectedPurchases);
    case "clv":
      return numberCell(v.clv);
    case "next_best_category":
      return csvTextCell(v.nextBestCategory ?? "");
    case "segments":
      return csvTextCell(v.segments.join(" "));
  }
}

export function exportRoutes(deps: ExportDeps): Partial<Record<RouteId, RouteHandler>> {
  const now = deps.now ?? (() => new Date());

  const createExport = async (req: ApiRequest): Promise<ApiResult> => {
    const { datasetId, segmentId } = parseWith(exportParams, req.params, "path");
    const { columns = [...EXPORT_COLUMNS] } = parseWith(createExportBodySchema, req.body ?? {}, "body");
    const meta = await deps.store.getDataset(req.tenantId, datasetId);
    if (!meta) throw new NotFoundError("DATASET_NOT_FOUND", `Dataset ${datasetId} does not exist`);
    const current = meta.current;
    if (!current)
      throw new NotFoundError("DATASET_NOT_READY", `Dataset ${datasetId} has no completed run yet`);
    if (!current.segments.some((s) => s.id === segmentId)) {
      throw new NotFoundError("SEGMENT_NOT_FOUND", `Segment ${segmentId} does not exist`);
    }
    const bytes = deps.blobs
      ? await deps.blobs.get(objectKeys.outputs(req.tenantId, datasetId, current.version))
      : undefined;
    if (!bytes || !deps.blobs)
      throw new ConflictError("STATE_UNAVAILABLE", "The dataset's results cannot be read; try again");

    const model = selectedModelOf(current);
    const lines = [columns.join(",")];
    const outputs = decodeOutputs(bytes);
    const ids = [...outputs.keys()].sort();
    for (const id of ids) {
      const view = JSON.parse(outputs.get(id) as string) as CustomerView;
      if (!view.segments.includes(segmentId)) continue;
      lines.push(columns.map((c) => cell(c, id, view, model)).join(","));
    }
    const exportId = randomUUID();
    const key = objectKeys.export(req.tenantId, datasetId, exportId, segmentId);
    await deps.blobs.put(key, `${lines.join("\r\n")}\r\n`, "text/csv; charset=utf-8");
    const fileName = `${datasetId}-${fileSafeId(segmentId)}-v${current.version}.csv`;
    const url = await deps.blobs.presignGet(key, EXPORT_URL_TTL_SECONDS, fileName);
    const created = now();
    return {
      status: 201,
      body: {
        exportId,
        datasetId,
        segmentId,
        version: current.version,
        rows: lines.length - 1,
        columns,
        url,
        expiresAt: new Date(created.getTime() + EXPORT_URL_TTL_SECONDS * 1000).toISOString(),
        deletedAfterDays: EXPORT_RETENTION_DAYS,
      },
    };
  };

  return { createExport };
}
