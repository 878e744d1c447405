/**
 * Core functions of the lookalike routes. A lookalike `lookalike:<slug>` names a seed segment (any segment of
 * the dataset but a lookalike) and a size (the top N customers outside the seed, or X % of them); every run
 * fits its model and recomputes its members (shared/engine/lookalike). Saving or deleting one asks for a
 * recompute, as a rule segment's change does. The record is in the table (shared/store/lookalikes.ts); the
 * model's report and the members are in the committed version, as every segment's are.
 */
import { z } from "zod";
import { LIFECYCLE_STAGES, RFM_SEGMENTS } from "../engine";
import { MAX_LOOKALIKE_ATTRIBUTES } from "../engine/lookalike";
import { familyOfId } from "../engine/segment-ids";
import { BadRequestError, ConflictError, NotFoundError } from "../errors";
import { DETAIL_TYPES } from "../events";
import type { ApiRequest, ApiResult, RouteHandler } from "../http/api";
import { parseWith } from "../http/validation";
import type { ListStore } from "../lists/ports";
import {
  type LookalikeRecord,
  type LookalikeStore,
  lookalikeRecordSchema,
  lookalikeSizeSchema,
  MAX_LOOKALIKES,
} from "../lookalikes/ports";
import { type DatasetMeta, datasetIdSchema, segmentIdSchema, segmentSummarySchema } from "../model";
import type { DatasetDefinitionStore, EventPublisher } from "../pipeline/ports";
import type { RouteId } from "../routes";

export interface LookalikeDeps {
  store: DatasetDefinitionStore;
  lookalikes?: LookalikeStore;
  /** Lists, which may be seeds. */
  lists?: ListStore;
  events: EventPublisher;
  now?: () => Date;
}

/** A lookalike's id in a path: its slug, or the segment id `lookalike:<slug>`. */
export const lookalikeIdParamSchema = z
  .string()
  .regex(
    /^(lookalike:)?[a-z0-9][a-z0-9-]{0,63}$/,
    "must look like 'like-champions' or 'lookalike:like-champions' (lower-case letters, digits, '-')",
  );
export const lookalikeParams = z.object({ datasetId: datasetIdSchema, lookalikeId: lookalikeIdParamSchema });
export const lookalikesParams = z.object({ datasetId: datasetIdSchema });

export const putLookalikeBodySchema = z.strictObject({
  name: z.string().trim().min(1, "name must not be empty").max(100, "name has at most 100 characters"),
  description: z.string().max(1000, "description has at most 1000 characters").optional(),
  seed: segmentIdSchema
    .refine((id) => familyOfId(id) !== "lookalike", "a seed may be any segment but a lookalike")
    .describe("The segment whose members the lookalike resembles; any family but lookalike"),
  size: lookalikeSizeSchema,
  attributes: z
    .array(z.string().trim().min(1).max(128))
    .max(MAX_LOOKALIKE_ATTRIBUTES)
    .optional()
    .describe(
      `Customer attributes the model reads, at most ${MAX_LOOKALIKE_ATTRIBUTES}; default: the profile attributes`,
    ),
});

export const lookalikeAnswerSchema = lookalikeRecordSchema.extend({
  datasetId: z.string(),
  lookalikeId: z.string().describe("The segment id, lookalike:<slug>"),
  /** The segment in the committed version (size, economics, the model's report); null before a run has it. */
  segment: segmentSummarySchema.nullable(),
});
export const lookalikeChangeAnswerSchema = lookalikeAnswerSchema.extend({
  recompute: z.enum(["requested", "none"]),
});
export const lookalikeListSchema = z.object({
  datasetId: z.string(),
  lookalikes: z.array(lookalikeAnswerSchema),
});

/** `lookalike:<slug>` from a path's slug or segment id. */
export function canonicalLookalikeId(param: string): string {
  return param.startsWith("lookalike:") ? param : `lookalike:${param}`;
}

/** The lookalikes of a dataset seeded by a segment, by id. */
export async function lookalikesSeededBy(
  lookalikes: LookalikeStore | undefined,
  tenantId: string,
  datasetId: string,
  segmentId: string,
): Promise<string[]> {
  if (!lookalikes) return [];
  return (await lookalikes.listLookalikes(tenantId, datasetId))
    .filter((l) => l.seed === segmentId)
    .map((l) => l.lookalikeId);
}

function answer(datasetId: string, record: LookalikeRecord, meta: DatasetMeta) {
  const segment = meta.current?.segments.find((s) => s.id === record.lookalikeId);
  return {
    datasetId,
    ...record,
    segment: segment ?? null,
  };
}

export function lookalikeRoutes(deps: LookalikeDeps): Partial<Record<RouteId, RouteHandler>> {
  const { store, events } = deps;
  const now = deps.now ?? (() => new Date());

  const lookalikeStore = (): LookalikeStore => {
    // Every function serving these routes is given the store (functions/*-api/handler.ts).
    if (!deps.lookalikes) throw new Error("The lookalike routes were wired without a lookalike store");
    return deps.lookalikes;
  };

  const requireDataset = async (tenantId: string, datasetId: string): Promise<DatasetMeta> => {
    const meta = await store.getDataset(tenantId, datasetId);
    if (!meta) throw new NotFoundError("DATASET_NOT_FOUND", `Dataset ${datasetId} does not exist`);
    return meta;
  };

  /** The seed must be a segment of the dataset: fixed, committed, a saved rule segment or a list. */
  const checkSeed = async (tenantId: string, meta: DatasetMeta, seed: string) => {
    const known = new Set<string>([
      ...RFM_SEGMENTS.map((d) => d.id),
      ...LIFECYCLE_STAGES.map((d) => d.id),
      ...(meta.current?.segments ?? []).map((d) => d.id),
    ]);
    if (known.has(seed)) return;
    const family = familyOfId(seed);
    if (family === "rule" && (await store.getDefinition(tenantId, meta.datasetId, seed))) return;
    if (family === "list" && (await deps.lists?.getList(tenantId, meta.datasetId, seed))) return;
    throw new BadRequestError("UNKNOWN_SEGMENT", `The dataset has no segment ${seed}`, [
      { path: "body.seed", code: "UNKNOWN_SEGMENT", message: `no segment ${seed} in this dataset` },
    ]);
  };

  const recompute = async (tenantId: string, datasetId: string, meta: DatasetMeta) => {
    if (!meta.current) return "none" as const;
    await events.publish([
      { detailType: DETAIL_TYPES.recomputeRequested, detail: { tenantId, datasetId, reason: "definitions" } },
    ]);
    return "requested" as const;
  };

  const listLookalikes = async (req: ApiRequest): Promise<ApiResult> => {
    const { datasetId } = parseWith(lookalikesParams, req.params, "path");
    const meta = await requireDataset(req.tenantId, datasetId);
    const found = await lookalikeStore().listLookalikes(req.tenantId, datasetId);
    return { status: 200, body: { datasetId, lookalikes: found.map((r) => answer(datasetId, r, meta)) } };
  };

  const getLookalike = async (req: ApiRequest): Promise<ApiResult> => {
    const params = parseWith(lookalikeParams, req.params, "path");
    const meta = await requireDataset(req.tenantId, params.datasetId);
    const id = canonicalLookalikeId(params.lookalikeId);
    const found = await lookalikeStore().getLookalike(req.tenantId, params.datasetId, id);
    if (!found) throw new NotFoundError("LOOKALIKE_NOT_FOUND", `Lookalike ${id} does not exist`);
    return { status: 200, body: answer(params.datasetId, found, meta) };
  };

  const putLookalike = async (req: ApiRequest): Promise<ApiResult> => {
    const params = parseWith(lookalikeParams, req.params, "path");
    const { datasetId } = params;
    const id = canonicalLookalikeId(params.lookalikeId);
    const body = parseWith(putLookalikeBodySchema, req.body ?? {}, "body");
    const meta = await requireDataset(req.tenantId, datasetId);
    await checkSeed(req.tenantId, meta, body.seed);
    const lookalikes = lookalikeStore();
    const existing = await lookalikes.getLookalike(req.tenantId, datasetId, id);
    if (!existing && (await lookalikes.listLookalikes(req.tenantId, datasetId)).length >= MAX_LOOKALIKES) {
      throw new ConflictError("TOO_MANY_LOOKALIKES", `A dataset holds at most ${MAX_LOOKALIKES} lookalikes`);
    }
    const at = now().toISOString();
    const record: LookalikeRecord = {
      lookalikeId: id,
      name: body.name,
      ...(body.description !== undefined ? { description: body.description } : {}),
      seed: body.seed,
      size: body.size,
      ...(body.attributes !== undefined ? { attributes: body.attributes } : {}),
      createdAt: existing?.createdAt ?? at,
      updatedAt: at,
    };
    await lookalikes.putLookalike(req.tenantId, datasetId, record);
    return {
      status: existing ? 200 : 201,
      body: { ...answer(datasetId, record, meta), recompute: await recompute(req.tenantId, datasetId, meta) },
    };
  };

  const deleteLookalike = async (req: ApiRequest): Promise<ApiResult> => {
    const params = parseWith(lookalikeParams, req.params, "path");
    const { datasetId } = params;
    const id = canonicalLookalikeId(params.lookalikeId);
    const meta = await requireDataset(req.tenantId, datasetId);
    if (!(await lookalikeStore().deleteLookalike(req.tenantId, datasetId, id))) {
      throw new NotFoundError("LOOKALIKE_NOT_FOUND", `Lookalike ${id} does not exist`);
    }
    await recompute(req.tenantId, datasetId, meta);
    return { status: 204 };
  };

  return { listLookalikes, getLookalike, putLookalike, deleteLookalike };
}
