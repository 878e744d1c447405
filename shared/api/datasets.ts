/**
 * Core functions of the dataset routes: create, list and describe datasets, their settings, and their saved
 * rule segments. Changing settings or rule segments asks for a recompute of the dataset from its stored
 * state (through the event bus), so a new rule segment becomes available without a new upload.
 */
import { z } from "zod";
import { AggregateState, computeSegments, sumAmounts } from "../engine";
import { type Rule, validateSegmentDefinition } from "../engine/rules";
import { ConflictError, NotFoundError, ValidationError } from "../errors";
import { DETAIL_TYPES } from "../events";
import type { ApiRequest, ApiResult, RouteHandler } from "../http/api";
import type { CursorCodec } from "../http/cursor";
import { parseWith } from "../http/validation";
import {
  type DatasetMeta,
  datasetIdSchema,
  datasetSettingsSchema,
  type SegmentDefinitionRecord,
} from "../model";
import type { BlobStore, DatasetStore, EventPublisher } from "../pipeline/ports";
import { computeSettingsFor } from "../pipeline/run";
import type { RouteId } from "../routes";
import { objectKeys } from "../store/keys";
import { erasureRoutes } from "./erasures";

export interface DatasetDeps {
  store: DatasetStore;
  /** For dry runs, which evaluate a definition on the committed state. */
  blobs?: BlobStore;
  cursors: CursorCodec;
  events: EventPublisher;
  now?: () => Date;
}

/** Most rule segments one dataset may hold; each is evaluated on every run. */
export const MAX_DEFINITIONS = 100;

export const ruleSegmentIdSchema = z
  .string()
  .regex(/^rule:[a-z0-9][a-z0-9-]{0,63}$/, "must look like 'rule:big-spenders' (lower-case, digits, '-')");

export const datasetParams = z.object({ datasetId: datasetIdSchema });
export const definitionParams = z.object({ datasetId: datasetIdSchema, segmentId: ruleSegmentIdSchema });

export const createDatasetBodySchema = z.strictObject({
  datasetId: datasetIdSchema,
  settings: datasetSettingsSchema.default({}),
});

export const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(50).default(20),
  cursor: z.string().max(2048).optional(),
});

/** Members a dry run lists as a sample. */
export const DRY_RUN_SAMPLE = 20;

/** Every field a rule's conditions name. */
function fieldsOf(rule: Rule, out = new Set<string>()): Set<string> {
  if ("and" in rule) for (const r of rule.and) fieldsOf(r, out);
  else if ("or" in rule) for (const r of rule.or) fieldsOf(r, out);
  else if ("not" in rule) fieldsOf(rule.not, out);
  else out.add(rule.field);
  return out;
}

const VALUE_FIELDS = ["clv", "probability_alive", "expected_purchases"];

/** What a dataset looks like to a client: never its lease or internal bookkeeping. */
export function datasetBody(meta: DatasetMeta) {
  const current = meta.current;
  return {
    datasetId: meta.datasetId,
    createdAt: meta.createdAt,
    settings: meta.settings,
    current: current
      ? {
          version: current.version,
          runId: current.runId,
          asOf: current.asOf,
          completedAt: current.completedAt,
          customerCount: current.customerCount,
          orderCount: current.orderCount,
          // Summed in integer cents: each segment's revenue is exact to the cent, and so is their sum.
          revenue: sumAmounts(current.segments.filter((s) => s.family === "rfm").map((s) => s.revenue)),
          segmentCount: current.segments.length,
          sharded: current.source !== undefined,
          // What the computation skipped or found wrong with the data as a whole, e.g. STALE_DATA.
          issues: (current.issues ?? []).map(({ code, message, stage, segment }) => ({
            code,
            message,
            stage,
            ...(segment ? { segment } : {}),
          })),
        }
      : null,
    running: meta.lock !== undefined && meta.lock.until > Date.now(),
  };
}

function definitionBody(datasetId: string, d: SegmentDefinitionRecord) {
  return { datasetId, ...d };
}

export function datasetRoutes(deps: DatasetDeps): Partial<Record<RouteId, RouteHandler>> {
  const { store, cursors, events } = deps;
  const now = deps.now ?? (() => new Date());

  const requireDataset = async (tenantId: string, datasetId: string): Promise<DatasetMeta> => {
    const meta = await store.getDataset(tenantId, datasetId);
    if (!meta) throw new NotFoundError("DATASET_NOT_FOUND", `Dataset ${datasetId} does not exist`);
    return meta;
  };

  const requestRecompute = async (
    tenantId: string,
    datasetId: string,
    reason: "settings" | "definitions",
  ) => {
    await events.publish([
      { detailType: DETAIL_TYPES.recomputeRequested, detail: { tenantId, datasetId, reason } },
    ]);
  };

  const createDataset = async (req: ApiRequest): Promise<ApiResult> => {
    const body = parseWith(createDatasetBodySchema, req.body ?? {}, "body");
    const created = await store.createDataset(req.tenantId, body.datasetId, body.settings);
    if (!created) throw new ConflictError("DATASET_EXISTS", `Dataset ${body.datasetId} exists already`);
    return { status: 201, body: datasetBody(created) };
  };

  const listDatasets = async (req: ApiRequest): Promise<ApiResult> => {
    const { limit, cursor } = parseWith(listQuery, req.query, "query");
    const scope = `datasets|${req.tenantId}`;
    const after =
      cursor === undefined ? undefined : parseWith(datasetIdSchema, cursors.decode(scope, cursor), "query");
    const page = await store.listTenantDatasets(req.tenantId, limit, after);
    const metas = await Promise.all(page.items.map((id) => store.getDataset(req.tenantId, id)));
    return {
      status: 200,
      body: {
        datasets: metas.flatMap((m) => (m ? [datasetBody(m)] : [])),
        nextCursor: page.next === undefined ? null : cursors.encode(scope, page.next),
      },
    };
  };

  const getDataset = async (req: ApiRequest): Promise<ApiResult> => {
    const { datasetId } = parseWith(datasetParams, req.params, "path");
    return { status: 200, body: datasetBody(await requireDataset(req.tenantId, datasetId)) };
  };

  const putSettings = async (req: ApiRequest): Promise<ApiResult> => {
    const { datasetId } = parseWith(datasetParams, req.params, "path");
    const settings = parseWith(datasetSettingsSchema, req.body ?? {}, "body");
    if (!(await store.putSettings(req.tenantId, datasetId, settings))) {
      throw new NotFoundError("DATASET_NOT_FOUND", `Dataset ${datasetId} does not exist`);
    }
    const meta = await requireDataset(req.tenantId, datasetId);
    if (meta.current) await requestRecompute(req.tenantId, datasetId, "settings");
    return { status: 200, body: { ...datasetBody(meta), recompute: meta.current ? "requested" : "none" } };
  };

  const putDefinition = async (req: ApiRequest): Promise<ApiResult> => {
    const { datasetId, segmentId } = parseWith(definitionParams, req.params, "path");
    const checked = validateSegmentDefinition(req.body ?? {}, { prefix: "body" });
    if (!checked.ok) throw new ValidationError("The segment definition is invalid", checked.issues);
    const meta = await requireDataset(req.tenantId, datasetId);
    const existing = await store.getDefinition(req.tenantId, datasetId, segmentId);
    if (!existing && (await store.listDefinitions(req.tenantId, datasetId)).length >= MAX_DEFINITIONS) {
      throw new ConflictError(
        "TOO_MANY_DEFINITIONS",
        `A dataset holds at most ${MAX_DEFINITIONS} rule segments`,
      );
    }
    const at = now().toISOString();
    const record: SegmentDefinitionRecord = {
      segmentId,
      name: checked.definition.name,
      ...(checked.definition.description !== undefined
        ? { description: checked.definition.description }
        : {}),
      rule: checked.definition.rule,
      createdAt: existing?.createdAt ?? at,
      updatedAt: at,
    };
    await store.putDefinition(req.tenantId, datasetId, record);
    if (meta.current) await requestRecompute(req.tenantId, datasetId, "definitions");
    return {
      status: existing ? 200 : 201,
      body: { ...definitionBody(datasetId, record), recompute: meta.current ? "requested" : "none" },
    };
  };

  const getDefinition = async (req: ApiRequest): Promise<ApiResult> => {
    const { datasetId, segmentId } = parseWith(definitionParams, req.params, "path");
    await requireDataset(req.tenantId, datasetId);
    const found = await store.getDefinition(req.tenantId, datasetId, segmentId);
    if (!found) throw new NotFoundError("DEFINITION_NOT_FOUND", `Rule segment ${segmentId} does not exist`);
    return { status: 200, body: definitionBody(datasetId, found) };
  };

  const listDefinitions = async (req: ApiRequest): Promise<ApiResult> => {
    const { datasetId } = parseWith(datasetParams, req.params, "path");
    await requireDataset(req.tenantId, datasetId);
    const found = await store.listDefinitions(req.tenantId, datasetId);
    return { status: 200, body: { datasetId, definitions: found.map((d) => definitionBody(datasetId, d)) } };
  };

  const deleteDefinition = async (req: ApiRequest): Promise<ApiResult> => {
    const { datasetId, segmentId } = parseWith(definitionParams, req.params, "path");
    const meta = await requireDataset(req.tenantId, datasetId);
    if (!(await store.deleteDefinition(req.tenantId, datasetId, segmentId))) {
      throw new NotFoundError("DEFINITION_NOT_FOUND", `Rule segment ${segmentId} does not exist`);
    }
    if (meta.current) await requestRecompute(req.tenantId, datasetId, "definitions");
    return { status: 204 };
  };

  const dryRun = async (req: ApiRequest): Promise<ApiResult> => {
    const { datasetId } = parseWith(datasetParams, req.params, "path");
    const checked = validateSegmentDefinition(req.body ?? {}, { prefix: "body" });
    if (!checked.ok) throw new ValidationError("The segment definition is invalid", checked.issues);
    const meta = await requireDataset(req.tenantId, datasetId);
    const current = meta.current;
    if (!current)
      throw new NotFoundError("DATASET_NOT_READY", `Dataset ${datasetId} has no completed run yet`);
    if (current.source)
      throw new ConflictError(
        "DRY_RUN_UNAVAILABLE",
        "A dataset computed sharded keeps no state to try a rule on; save the segment and read its size after the recompute",
      );
    const bytes = deps.blobs
      ? await deps.blobs.get(objectKeys.aggregate(req.tenantId, datasetId, current.version))
      : undefined;
    if (!bytes) throw new ConflictError("STATE_UNAVAILABLE", "The dataset's state cannot be read; try again");
    const id = "rule:dry-run";
    const settings = computeSettingsFor(meta, current.asOf, [
      {
        segmentId: id,
        name: checked.definition.name,
        rule: checked.definition.rule,
        createdAt: "",
        updatedAt: "",
      },
    ]);
    // Clusters and value models are fitted only when the rule looks at them.
    const fields = fieldsOf(checked.definition.rule);
    if (!fields.has("cluster")) settings.clusters = false;
    if (!VALUE_FIELDS.some((f) => fields.has(f))) settings.value = false;
    const result = computeSegments(AggregateState.deserialize(bytes), settings);
    const summary = result.segments.find((s) => s.id === id);
    const problems = result.issues.filter((i) => i.segment === id);
    if (!summary || problems.some((p) => p.code.startsWith("RULE_"))) {
      throw new ValidationError(
        "The rule cannot be evaluated on this dataset",
        problems.map((p) => ({
          path: p.path ? `body.${p.path}` : "body.rule",
          code: p.code,
          message: p.message,
        })),
      );
    }
    const sample: string[] = [];
    for (let i = 0; i < result.customerCount && sample.length < DRY_RUN_SAMPLE; i++) {
      const customer = result.customer(i);
      if (customer.segments.includes(id)) sample.push(customer.customerId);
    }
    const { id: _id, family: _family, name: _name, description: _description, ...economics } = summary;
    return {
      status: 200,
      body: {
        datasetId,
        version: current.version,
        asOf: current.asOf,
        customerCount: result.customerCount,
        ...economics,
        sample,
      },
    };
  };

  return {
    // Erasures name a dataset too; both API functions get them here, as they get the routes above.
    ...erasureRoutes(deps),
    dryRun,
    createDataset,
    listDatasets,
    getDataset,
    putSettings,
    putDefinition,
    getDefinition,
    listDefinitions,
    deleteDefinition,
  };
}
