/**
 * Core functions of these routes of the read function: the segments of the committed version (the list, one
 * segment, its history), the value model, runs, and the liveness check. One customer and a page of a
 * segment's members are routes of the lookup function, served by ./lookup alone.
 *
 * The parameter schemas below describe the read routes' requests and, in the contract (./contract) and the
 * OpenAPI document, the lookup routes' too; ./lookup checks the same rules with ./lookup-checks (no zod).
 */
import { z } from "zod";
import { NotFoundError } from "../errors";
import type { ApiRequest, ApiResult, RouteHandler } from "../http/api";
import type { CursorCodec } from "../http/cursor";
import { parseWith } from "../http/validation";
import {
  type CurrentVersion,
  customerIdSchema,
  type DatasetMeta,
  datasetIdSchema,
  type RunRecord,
  runIdSchema,
  segmentIdSchema,
} from "../model";
import type { BlobStore, DatasetStore } from "../pipeline/ports";
import { EXPORT_URL_TTL_SECONDS } from "../resources";
import type { RouteId } from "../routes";
import { liftProfileOf } from "./lift-profile";
import { valueModelAnswer } from "./value-model";

export interface ReadDeps {
  store: DatasetStore;
  cursors: CursorCodec;
  /**
   * Signs downloads of a run's rejected-rows report, and reads segment profiles; without it runs answer with
   * the key only and segments with a null liftProfile.
   */
  blobs?: Pick<BlobStore, "presignGet" | "get">;
}

export const datasetParams = z.object({ datasetId: datasetIdSchema });
export const customerParams = z.object({ datasetId: datasetIdSchema, customerId: customerIdSchema });
export const segmentParams = z.object({ datasetId: datasetIdSchema, segmentId: segmentIdSchema });
export const runParams = z.object({ datasetId: datasetIdSchema, runId: runIdSchema });
export const pageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().max(2048).optional(),
});
export const runsQuery = pageQuery.extend({ limit: z.coerce.number().int().min(1).max(100).default(20) });
export const historyQuery = pageQuery.extend({ limit: z.coerce.number().int().min(1).max(100).default(30) });

function requireCurrent(meta: DatasetMeta | undefined, datasetId: string): CurrentVersion {
  if (!meta) throw new NotFoundError("DATASET_NOT_FOUND", `Dataset ${datasetId} does not exist`);
  if (!meta.current)
    throw new NotFoundError("DATASET_NOT_READY", `Dataset ${datasetId} has no completed run yet`);
  return meta.current;
}

/** Which committed version an answer comes from. */
function versionOf(current: CurrentVersion) {
  return { version: current.version, runId: current.runId, asOf: current.asOf };
}

function runBody(run: RunRecord) {
  const { tenantId: _tenant, redelivery: _redelivery, ...rest } = run;
  return rest;
}

export function readRoutes(deps: ReadDeps): Partial<Record<RouteId, RouteHandler>> {
  const { store, cursors } = deps;

  const listSegments = async (req: ApiRequest): Promise<ApiResult> => {
    const { datasetId } = parseWith(datasetParams, req.params, "path");
    const current = requireCurrent(await store.getDataset(req.tenantId, datasetId), datasetId);
    return {
      status: 200,
      body: {
        datasetId,
        ...versionOf(current),
        customerCount: current.customerCount,
        segments: current.segments,
        distributions: current.distributions ?? null,
      },
    };
  };

  const listRuns = async (req: ApiRequest): Promise<ApiResult> => {
    const { datasetId } = parseWith(datasetParams, req.params, "path");
    const { limit, cursor } = parseWith(runsQuery, req.query, "query");
    const meta = await store.getDataset(req.tenantId, datasetId);
    if (!meta) throw new NotFoundError("DATASET_NOT_FOUND", `Dataset ${datasetId} does not exist`);
    const scope = `runs|${req.tenantId}|${datasetId}`;
    const after =
      cursor === undefined ? undefined : parseWith(runIdSchema, cursors.decode(scope, cursor), "query");
    const page = await store.listRuns(req.tenantId, datasetId, limit, after);
    return {
      status: 200,
      body: {
        datasetId,
        runs: page.items.map(runBody),
        nextCursor: page.next === undefined ? null : cursors.encode(scope, page.next),
      },
    };
  };

  const getRun = async (req: ApiRequest): Promise<ApiResult> => {
    const { datasetId, runId } = parseWith(runParams, req.params, "path");
    const run = await store.getRun(req.tenantId, datasetId, runId);
    if (!run) throw new NotFoundError("RUN_NOT_FOUND", `Run ${runId} does not exist`);
    const reportUrl =
      run.reportKey !== undefined && deps.blobs
        ? await deps.blobs.presignGet(run.reportKey, EXPORT_URL_TTL_SECONDS, "rejected-rows.csv")
        : undefined;
    return { status: 200, body: { ...runBody(run), ...(reportUrl ? { reportUrl } : {}) } };
  };

  const getSegment = async (req: ApiRequest): Promise<ApiResult> => {
    const { datasetId, segmentId } = parseWith(segmentParams, req.params, "path");
    const current = requireCurrent(await store.getDataset(req.tenantId, datasetId), datasetId);
    const segment = current.segments.find((s) => s.id === segmentId);
    if (!segment) throw new NotFoundError("SEGMENT_NOT_FOUND", `Segment ${segmentId} does not exist`);
    const [definition, liftProfile] = await Promise.all([
      segment.family === "rule" ? store.getDefinition(req.tenantId, datasetId, segmentId) : undefined,
      deps.blobs ? liftProfileOf(deps.blobs, req.tenantId, datasetId, current.version, segmentId) : null,
    ]);
    return {
      status: 200,
      body: {
        datasetId,
        ...versionOf(current),
        ...segment,
        definition: definition
          ? { name: definition.name, rule: definition.rule, updatedAt: definition.updatedAt }
          : null,
        liftProfile,
      },
    };
  };

  const getSegmentHistory = async (req: ApiRequest): Promise<ApiResult> => {
    const { datasetId, segmentId } = parseWith(segmentParams, req.params, "path");
    const { limit, cursor } = parseWith(historyQuery, req.query, "query");
    const meta = await store.getDataset(req.tenantId, datasetId);
    if (!meta) throw new NotFoundError("DATASET_NOT_FOUND", `Dataset ${datasetId} does not exist`);
    const scope = `history|${req.tenantId}|${datasetId}|${segmentId}`;
    const after =
      cursor === undefined ? undefined : parseWith(runIdSchema, cursors.decode(scope, cursor), "query");
    const page = await store.listRuns(req.tenantId, datasetId, limit, after);
    const points = page.items.flatMap((run) => {
      const s = run.status === "succeeded" ? run.segments?.find((x) => x.id === segmentId) : undefined;
      if (!s || run.version === undefined) return [];
      return [
        {
          runId: run.runId,
          version: run.version,
          asOf: run.asOf,
          completedAt: run.finishedAt,
          size: s.size,
          share: s.share,
          revenue: s.revenue,
          revenueShare: s.revenueShare,
        },
      ];
    });
    return {
      status: 200,
      body: {
        datasetId,
        segmentId,
        points,
        nextCursor: page.next === undefined ? null : cursors.encode(scope, page.next),
      },
    };
  };

  const getModel = async (req: ApiRequest): Promise<ApiResult> => {
    const { datasetId } = parseWith(datasetParams, req.params, "path");
    const meta = await store.getDataset(req.tenantId, datasetId);
    const current = requireCurrent(meta, datasetId);
    const disabled = meta?.settings.value?.enabled === false;
    return { status: 200, body: valueModelAnswer(datasetId, current, disabled) };
  };

  const health = async (): Promise<ApiResult> => ({ status: 200, body: { status: "ok" } });

  return {
    health,
    listSegments,
    getSegment,
    getSegmentHistory,
    getModel,
    listRuns,
    getRun,
  };
}
