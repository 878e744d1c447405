/**
 * Core functions of the dataset routes: create, list and describe datasets, their settings, and their saved
 * rule segments. Changing settings or rule segments asks for a recompute of the dataset from its stored
 * state (through the event bus), so a new rule segment becomes available without a new upload.
 */
import { z } from "zod";
import {
  LIFECYCLE_STAGES,
  RFM_SEGMENTS,
  ruleEvaluationOrder,
  segmentReferences,
  sumAmounts,
} from "../engine";
import { type Rule, validateSegmentDefinition } from "../engine/rules";
import { BadRequestError, ConflictError, NotFoundError, ValidationError } from "../errors";
import { DETAIL_TYPES } from "../events";
import type { ApiRequest, ApiResult, RouteHandler } from "../http/api";
import type { CursorCodec } from "../http/cursor";
import { parseWith } from "../http/validation";
import { listSettings, loadLists } from "../lists/load";
import type { ListStore } from "../lists/ports";
import type { LookalikeStore } from "../lookalikes/ports";
import {
  type DatasetMeta,
  datasetIdSchema,
  datasetSettingsSchema,
  type SegmentDefinitionRecord,
} from "../model";
import type { BlobStore, DatasetStore, EventPublisher } from "../pipeline/ports";
import { computeSettingsFor } from "../pipeline/run";
import type { RouteId } from "../routes";
import { DryRunner } from "./dry-run";
import { erasureRoutes } from "./erasures";
import { rulesNaming } from "./lists";
import { lookalikesSeededBy } from "./lookalikes";

export interface DatasetDeps {
  store: DatasetStore;
  /** For dry runs, which evaluate a definition on the committed state. */
  blobs?: BlobStore;
  /** Dry runs over committed versions (dry-run.ts); one per warm function, made from `blobs` when absent. */
  dryRuns?: DryRunner;
  cursors: CursorCodec;
  events: EventPublisher;
  /** List segments, which rules may name; none: a rule naming a list is refused as unknown. */
  lists?: ListStore;
  /** Lookalikes, which may be seeded by a rule segment; none: nothing stops a seed's deletion. */
  lookalikes?: LookalikeStore;
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
          ...(current.nextBestCategory ? { nextBestCategory: current.nextBestCategory } : {}),
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
  const dryRuns = deps.dryRuns ?? (deps.blobs ? new DryRunner(deps.blobs) : undefined);

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

  /**
   * The segments a rule names must exist (a fixed RFM or lifecycle segment, a segment of the committed
   * version, a saved rule segment or a list), and rule segments must not name each other in a cycle; else 400
   * with the path of the condition in the body.
   */
  const checkReferences = async (tenantId: string, meta: DatasetMeta, segmentId: string, rule: Rule) => {
    const refs = segmentReferences(rule, "body.rule");
    if (refs.length === 0) return;
    // Lookalikes are computed after every rule (their seeds may be rule segments): a rule cannot read one.
    const lookalikes = refs.filter((r) => r.segmentId.startsWith("lookalike:"));
    if (lookalikes.length > 0) {
      throw new BadRequestError(
        "LOOKALIKE_IN_RULE",
        "A rule may not name a lookalike segment",
        lookalikes.map((r) => ({
          path: r.path,
          code: "LOOKALIKE_IN_RULE",
          message: "lookalike segments are computed after the rules and cannot be named in one",
        })),
      );
    }
    const definitions = await store.listDefinitions(tenantId, meta.datasetId);
    const known = new Set<string>([
      ...RFM_SEGMENTS.map((d) => d.id),
      ...LIFECYCLE_STAGES.map((d) => d.id),
      ...(meta.current?.segments ?? []).map((d) => d.id),
      ...(meta.current?.clusters?.ids ?? []),
      ...definitions.map((d) => d.segmentId),
      ...((await deps.lists?.listLists(tenantId, meta.datasetId)) ?? []).map((l) => l.listId),
      segmentId,
    ]);
    const unknown = refs.filter((r) => !known.has(r.segmentId));
    if (unknown.length > 0) {
      throw new ValidationError(
        "The rule names segments the dataset does not have",
        unknown.map((r) => ({
          path: r.path,
          code: "unknown_segment",
          message: "no segment of this dataset has this id",
        })),
      );
    }
    const segments = [
      ...definitions
        .filter((d) => d.segmentId !== segmentId)
        .map((d) => ({ id: d.segmentId, rule: d.rule as Rule })),
      { id: segmentId, rule },
    ];
    const ordered = ruleEvaluationOrder(segments);
    if (ordered.ok) return;
    // The saved segments had no cycle, so this one closes it: report its condition naming the next on it.
    const ids = ordered.cycle.ids;
    const next = ids[ids.indexOf(segmentId) + 1];
    const at = refs.find((r) => r.segmentId === next)?.path ?? "body.rule";
    throw new ValidationError("Rule segments would name each other in a cycle", [
      { path: at, code: "segment_cycle", message: `a cycle: ${ids.join(" → ")}` },
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
    await checkReferences(req.tenantId, meta, segmentId, checked.definition.rule);
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
    const users = (await rulesNaming(store, req.tenantId, datasetId, segmentId)).filter(
      (u) => !u.startsWith(`${segmentId} `),
    );
    if (users.length > 0) {
      throw new ConflictError(
        "SEGMENT_IN_USE",
        `Rule segments name ${segmentId}: ${users.slice(0, 5).join(", ")}; change them first`,
      );
    }
    const seeded = await lookalikesSeededBy(deps.lookalikes, req.tenantId, datasetId, segmentId);
    if (seeded.length > 0) {
      throw new ConflictError(
        "SEGMENT_IN_USE",
        `Lookalikes are seeded by ${segmentId}: ${seeded.slice(0, 5).join(", ")}; change them first`,
      );
    }
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
    if (!dryRuns)
      throw new ConflictError("STATE_UNAVAILABLE", "The dataset's state cannot be read; try again");
    const settings = computeSettingsFor(meta, current.asOf, []);
    // Rules over membership see the saved rule segments and the lists as they are now.
    const named = segmentReferences(checked.definition.rule).length > 0;
    const memberships = named
      ? {
          rules:
            computeSettingsFor(meta, current.asOf, await store.listDefinitions(req.tenantId, datasetId))
              .rules ?? [],
          lists: listSettings(await loadLists(deps.lists, req.tenantId, datasetId)),
        }
      : undefined;
    const { customerCount, summary, sample } = await dryRuns.run(
      meta,
      settings,
      checked.definition,
      memberships,
    );
    const { id: _id, family: _family, name: _name, description: _description, ...economics } = summary;
    return {
      status: 200,
      body: {
        datasetId,
        version: current.version,
        asOf: current.asOf,
        customerCount,
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
