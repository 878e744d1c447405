/**
 * Core functions of the list routes. A list segment `list:<slug>` holds customer ids the business uploads
 * (JSON, or a CSV of one column with an optional `customer_id` header) or edits (add and remove at most
 * MAX_IDS_PER_CHANGE ids each per call). The table holds its definition and counts, the service bucket its ids
 * (shared/store/lists.ts). Every change asks for a recompute of the dataset, as a rule segment's change does,
 * so memberships, history and destinations follow. Ids that are no customers of the dataset are kept: the
 * run counts them, and the list's answer reports the count and a sample.
 */
import { z } from "zod";
import { segmentReferences } from "../engine/memberships";
import type { Rule } from "../engine/rules";
import { BadRequestError, ConflictError, NotFoundError, ValidationError } from "../errors";
import { DETAIL_TYPES } from "../events";
import { type ApiRequest, type ApiResult, CsvBody, type RouteHandler } from "../http/api";
import { parseWith } from "../http/validation";
import { type ListRecord, type ListStore, MAX_IDS_PER_CHANGE, MAX_LIST_IDS, MAX_LISTS } from "../lists/ports";
import type { LookalikeStore } from "../lookalikes/ports";
import { customerIdSchema, type DatasetMeta, datasetIdSchema } from "../model";
import type { DatasetDefinitionStore, EventPublisher } from "../pipeline/ports";
import type { RouteId } from "../routes";
import { lookalikesSeededBy } from "./lookalikes";

export interface ListDeps {
  store: DatasetDefinitionStore;
  lists?: ListStore;
  /** Lookalikes, which may be seeded by a list; none: nothing stops a seed's deletion. */
  lookalikes?: LookalikeStore;
  events: EventPublisher;
  now?: () => Date;
}

/** Ids of the list itself shown in its answer. */
export const LIST_SAMPLE = 20;

/** A list's id in a path: its slug, or the segment id `list:<slug>`. */
export const listIdParamSchema = z
  .string()
  .regex(
    /^(list:)?[a-z0-9][a-z0-9-]{0,63}$/,
    "must look like 'vip-guests' or 'list:vip-guests' (lower-case letters, digits, '-')",
  );
export const listParams = z.object({ datasetId: datasetIdSchema, listId: listIdParamSchema });
export const listsParams = z.object({ datasetId: datasetIdSchema });

const nameSchema = z
  .string()
  .trim()
  .min(1, "name must not be empty")
  .max(100, "name has at most 100 characters");
const descriptionSchema = z.string().max(1000, "description has at most 1000 characters");

export const putListBodySchema = z.strictObject({
  name: nameSchema,
  description: descriptionSchema.optional(),
  customerIds: z
    .array(customerIdSchema)
    .optional()
    .describe(`The list's customer ids, at most ${MAX_LIST_IDS.toLocaleString("en")}; repeats count once`),
});
/** For a CSV body: the name (needed when the list is new) and description come in the query. */
export const putListQuery = z.object({
  name: nameSchema.optional(),
  description: descriptionSchema.optional(),
});

export const changeListMembersBodySchema = z.strictObject({
  add: z
    .array(customerIdSchema)
    .optional()
    .describe(`At most ${MAX_IDS_PER_CHANGE.toLocaleString("en")} ids`),
  remove: z
    .array(customerIdSchema)
    .optional()
    .describe(`At most ${MAX_IDS_PER_CHANGE.toLocaleString("en")} ids; removed after the additions`),
});

const listRunAnswer = z.object({
  version: z.number().int(),
  runId: z.string(),
  /** Whether the run read the list as it is now (false: a change since waits for its recompute). */
  current: z.boolean(),
  /** Customers of the version on the list: the segment's members. */
  members: z.number().int(),
  /** Distinct ids on the list that are no customers of the version (kept, no member). */
  unknownIds: z.number().int(),
  /** Up to 10 of them, in the list's order. */
  unknownSample: z.array(z.string()),
});

export const listAnswerSchema = z.object({
  datasetId: z.string(),
  listId: z.string().describe("The segment id, list:<slug>"),
  name: z.string(),
  description: z.string().optional(),
  /** Distinct ids on the list. */
  size: z.number().int(),
  revision: z.number().int(),
  createdAt: z.string(),
  updatedAt: z.string(),
  /** What the last run that evaluated the list found; null before any. */
  lastRun: listRunAnswer.nullable(),
});
export const listDetailSchema = listAnswerSchema.extend({
  /** The first ids of the list. */
  sample: z.array(z.string()),
});
export const listChangeAnswerSchema = listAnswerSchema.extend({
  recompute: z.enum(["requested", "none"]),
  /** Ids of the request already on the list (add) or not on it (remove), or repeated in it. */
  unchanged: z.number().int(),
});
export const listListSchema = z.object({ datasetId: z.string(), lists: z.array(listAnswerSchema) });

/** `list:<slug>` from a path's slug or segment id. */
export function canonicalListId(param: string): string {
  return param.startsWith("list:") ? param : `list:${param}`;
}

function answer(datasetId: string, record: ListRecord) {
  const run = record.lastRun;
  return {
    datasetId,
    listId: record.listId,
    name: record.name,
    ...(record.description !== undefined ? { description: record.description } : {}),
    size: record.size,
    revision: record.revision,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    lastRun: run
      ? {
          version: run.version,
          runId: run.runId,
          current: run.revision === record.revision,
          members: run.members,
          unknownIds: run.unknownIds,
          unknownSample: run.unknownSample,
        }
      : null,
  };
}

/** Distinct ids in their first order. */
function distinct(ids: Iterable<string>): string[] {
  return [...new Set(ids)];
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * The ids of a CSV of one column: blank lines skipped, an optional header `customer_id`, values optionally in
 * double quotes ("" for a quote inside). Problems name the line.
 */
export function parseIdCsv(text: string): string[] {
  const ids: string[] = [];
  const problems: { path: string; code: string; message: string }[] = [];
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  let first = true;
  for (let n = 0; n < lines.length && problems.length < 20; n++) {
    const line = (lines[n] as string).trim();
    if (line === "") continue;
    let value = line;
    if (line.startsWith('"')) {
      if (!line.endsWith('"') || line.length < 2 || /[^"]"[^"]/.test(line.slice(1, -1).replace(/""/g, ""))) {
        problems.push({
          path: `body.line[${n + 1}]`,
          code: "bad_quotes",
          message: "a quoted id must end with a quote",
        });
        continue;
      }
      value = line.slice(1, -1).replace(/""/g, '"');
    } else if (line.includes(",")) {
      problems.push({
        path: `body.line[${n + 1}]`,
        code: "too_many_columns",
        message: "the CSV has one column, customer ids (quote an id that holds a comma)",
      });
      continue;
    }
    if (first && value.toLowerCase() === "customer_id") {
      first = false;
      continue;
    }
    first = false;
    if (value.length === 0 || value.length > 128 || CONTROL.test(value)) {
      problems.push({
        path: `body.line[${n + 1}]`,
        code: "invalid_customer_id",
        message: "a customer id has 1 to 128 characters and no control characters",
      });
      continue;
    }
    ids.push(value);
  }
  if (problems.length > 0) throw new ValidationError("The CSV of customer ids is invalid", problems);
  return ids;
}

function tooMany(path: string, count: number, max: number, what: string): never {
  throw new BadRequestError("TOO_MANY_IDS", `${what} holds ${count} ids; at most ${max} are allowed`, [
    { path, code: "too_many_ids", message: `at most ${max} ids` },
  ]);
}

/** Rule segments of a dataset that name a segment, as "rule:x (rule.and[0].value)". */
export async function rulesNaming(
  store: DatasetDefinitionStore,
  tenantId: string,
  datasetId: string,
  segmentId: string,
) {
  const users: string[] = [];
  for (const d of await store.listDefinitions(tenantId, datasetId)) {
    const refs = segmentReferences(d.rule as Rule).filter((r) => r.segmentId === segmentId);
    if (refs.length > 0) users.push(`${d.segmentId} (${refs[0]?.path})`);
  }
  return users;
}

export function listRoutes(deps: ListDeps): Partial<Record<RouteId, RouteHandler>> {
  const { store, events } = deps;
  const now = deps.now ?? (() => new Date());

  const listStore = (): ListStore => {
    // Every function serving these routes is given the store (functions/*-api/handler.ts).
    if (!deps.lists) throw new Error("The list routes were wired without a list store");
    return deps.lists;
  };

  const requireDataset = async (tenantId: string, datasetId: string): Promise<DatasetMeta> => {
    const meta = await store.getDataset(tenantId, datasetId);
    if (!meta) throw new NotFoundError("DATASET_NOT_FOUND", `Dataset ${datasetId} does not exist`);
    return meta;
  };

  const requireList = async (tenantId: string, datasetId: string, listId: string): Promise<ListRecord> => {
    const found = await listStore().getList(tenantId, datasetId, listId);
    if (!found) throw new NotFoundError("LIST_NOT_FOUND", `List ${listId} does not exist`);
    return found;
  };

  const recompute = async (tenantId: string, datasetId: string, meta: DatasetMeta) => {
    if (!meta.current) return "none" as const;
    await events.publish([
      { detailType: DETAIL_TYPES.recomputeRequested, detail: { tenantId, datasetId, reason: "definitions" } },
    ]);
    return "requested" as const;
  };

  const idsOf = async (record: ListRecord): Promise<string[]> => {
    const ids = await listStore().readIds(record);
    if (!ids) throw new ConflictError("LIST_CHANGED", "The list changed while it was read; try again");
    return ids;
  };

  const listLists = async (req: ApiRequest): Promise<ApiResult> => {
    const { datasetId } = parseWith(listsParams, req.params, "path");
    await requireDataset(req.tenantId, datasetId);
    const found = await listStore().listLists(req.tenantId, datasetId);
    return { status: 200, body: { datasetId, lists: found.map((r) => answer(datasetId, r)) } };
  };

  const getList = async (req: ApiRequest): Promise<ApiResult> => {
    const params = parseWith(listParams, req.params, "path");
    const { datasetId } = params;
    await requireDataset(req.tenantId, datasetId);
    const record = await requireList(req.tenantId, datasetId, canonicalListId(params.listId));
    const ids = await idsOf(record);
    return { status: 200, body: { ...answer(datasetId, record), sample: ids.slice(0, LIST_SAMPLE) } };
  };

  const putList = async (req: ApiRequest): Promise<ApiResult> => {
    const params = parseWith(listParams, req.params, "path");
    const { datasetId } = params;
    const listId = canonicalListId(params.listId);
    let name: string | undefined;
    let description: string | undefined;
    let given: string[];
    if (req.body instanceof CsvBody) {
      const query = parseWith(putListQuery, req.query, "query");
      name = query.name;
      description = query.description;
      given = parseIdCsv(req.body.text);
    } else {
      const raw = req.body as { customerIds?: unknown } | undefined;
      if (Array.isArray(raw?.customerIds) && raw.customerIds.length > MAX_LIST_IDS) {
        tooMany("body.customerIds", raw.customerIds.length, MAX_LIST_IDS, "The list");
      }
      const body = parseWith(putListBodySchema, req.body ?? {}, "body");
      name = body.name;
      description = body.description;
      given = body.customerIds ?? [];
    }
    const ids = distinct(given);
    if (ids.length > MAX_LIST_IDS) tooMany("body", ids.length, MAX_LIST_IDS, "The list");
    const meta = await requireDataset(req.tenantId, datasetId);
    const lists = listStore();
    const existing = await lists.getList(req.tenantId, datasetId, listId);
    if (!existing && (await lists.listLists(req.tenantId, datasetId)).length >= MAX_LISTS) {
      throw new ConflictError("TOO_MANY_LISTS", `A dataset holds at most ${MAX_LISTS} lists`);
    }
    const resolvedName = name ?? existing?.name;
    if (resolvedName === undefined) {
      throw new ValidationError("A new list needs a name", [
        {
          path: "query.name",
          code: "missing_name",
          message: "give the list's name (the query's name with a CSV body)",
        },
      ]);
    }
    const at = now().toISOString();
    const resolvedDescription =
      description ?? (req.body instanceof CsvBody ? existing?.description : undefined);
    const saved = await lists.saveList(
      req.tenantId,
      datasetId,
      {
        listId,
        name: resolvedName,
        ...(resolvedDescription !== undefined ? { description: resolvedDescription } : {}),
        createdAt: existing?.createdAt ?? at,
        updatedAt: at,
      },
      ids,
      existing ?? null,
    );
    if (!saved) throw new ConflictError("LIST_CHANGED", "The list was changed at the same time; try again");
    return {
      status: existing ? 200 : 201,
      body: {
        ...answer(datasetId, saved),
        recompute: await recompute(req.tenantId, datasetId, meta),
        unchanged: given.length - ids.length,
      },
    };
  };

  const changeListMembers = async (req: ApiRequest): Promise<ApiResult> => {
    const params = parseWith(listParams, req.params, "path");
    const { datasetId } = params;
    const listId = canonicalListId(params.listId);
    const raw = req.body as { add?: unknown; remove?: unknown } | undefined;
    for (const key of ["add", "remove"] as const) {
      const value = raw?.[key];
      if (Array.isArray(value) && value.length > MAX_IDS_PER_CHANGE) {
        tooMany(`body.${key}`, value.length, MAX_IDS_PER_CHANGE, `${key}`);
      }
    }
    const body = parseWith(changeListMembersBodySchema, req.body ?? {}, "body");
    const meta = await requireDataset(req.tenantId, datasetId);
    const lists = listStore();
    // A change that raced another is read and applied again; additions and removals commute with others'.
    for (let attempt = 0; attempt < 5; attempt++) {
      const record = await requireList(req.tenantId, datasetId, listId);
      const ids = new Set(await idsOf(record));
      let changed = 0;
      for (const id of body.add ?? []) {
        if (ids.has(id)) continue;
        ids.add(id);
        changed++;
      }
      for (const id of body.remove ?? []) if (ids.delete(id)) changed++;
      if (ids.size > MAX_LIST_IDS)
        tooMany("body.add", ids.size, MAX_LIST_IDS, "The list would hold more ids than allowed:");
      const requested = (body.add?.length ?? 0) + (body.remove?.length ?? 0);
      if (changed === 0) {
        return {
          status: 200,
          body: { ...answer(datasetId, record), recompute: "none", unchanged: requested },
        };
      }
      const saved = await lists.saveList(
        req.tenantId,
        datasetId,
        {
          listId,
          name: record.name,
          ...(record.description !== undefined ? { description: record.description } : {}),
          createdAt: record.createdAt,
          updatedAt: now().toISOString(),
        },
        [...ids],
        record,
      );
      if (saved) {
        return {
          status: 200,
          body: {
            ...answer(datasetId, saved),
            recompute: await recompute(req.tenantId, datasetId, meta),
            unchanged: requested - changed,
          },
        };
      }
    }
    throw new ConflictError("LIST_CHANGED", "The list keeps changing; try again");
  };

  const deleteList = async (req: ApiRequest): Promise<ApiResult> => {
    const params = parseWith(listParams, req.params, "path");
    const { datasetId } = params;
    const listId = canonicalListId(params.listId);
    const meta = await requireDataset(req.tenantId, datasetId);
    const users = await rulesNaming(store, req.tenantId, datasetId, listId);
    if (users.length > 0) {
      throw new ConflictError(
        "SEGMENT_IN_USE",
        `Rule segments name ${listId}: ${users.slice(0, 5).join(", ")}; change them first`,
      );
    }
    const seeded = await lookalikesSeededBy(deps.lookalikes, req.tenantId, datasetId, listId);
    if (seeded.length > 0) {
      throw new ConflictError(
        "SEGMENT_IN_USE",
        `Lookalikes are seeded by ${listId}: ${seeded.slice(0, 5).join(", ")}; change them first`,
      );
    }
    if (!(await listStore().deleteList(req.tenantId, datasetId, listId))) {
      throw new NotFoundError("LIST_NOT_FOUND", `List ${listId} does not exist`);
    }
    await recompute(req.tenantId, datasetId, meta);
    return { status: 204 };
  };

  return { listLists, getList, putList, changeListMembers, deleteList };
}
