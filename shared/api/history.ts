/**
 * Core of the customer-history route: the segments one customer entered and left, run by run, newest first.
 * Served by the read function rather than the lookup function: it is not on the hot path of a single
 * lookup, and it reads the version items of a page next to the customer item (BatchGetItem), which the
 * lookup function's small aws-lite bundle does not carry.
 */
import { z } from "zod";
import { NotFoundError } from "../errors";
import type { MembershipHistory } from "../history/ports";
import type { ApiRequest, ApiResult, RouteHandler } from "../http/api";
import type { CursorCodec } from "../http/cursor";
import { parseWith } from "../http/validation";
import { customerIdSchema, datasetIdSchema } from "../model";
import type { DatasetDefinitionStore } from "../pipeline/ports";
import type { RouteId } from "../routes";

export interface HistoryDeps {
  store: Pick<DatasetDefinitionStore, "getDataset">;
  history: MembershipHistory;
  cursors: CursorCodec;
}

export const customerHistoryParams = z.object({ datasetId: datasetIdSchema, customerId: customerIdSchema });
export const customerHistoryQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(2048).optional(),
});
const position = z.object({ before: z.number().int().min(1) });

export function historyRoutes(deps: HistoryDeps): Partial<Record<RouteId, RouteHandler>> {
  const { store, history, cursors } = deps;

  const getCustomerHistory = async (req: ApiRequest): Promise<ApiResult> => {
    const { datasetId, customerId } = parseWith(customerHistoryParams, req.params, "path");
    const { limit, cursor } = parseWith(customerHistoryQuery, req.query, "query");
    const scope = `customer-history|${req.tenantId}|${datasetId}|${customerId}`;
    const before =
      cursor === undefined ? undefined : parseWith(position, cursors.decode(scope, cursor), "query").before;
    const meta = await store.getDataset(req.tenantId, datasetId);
    if (!meta) throw new NotFoundError("DATASET_NOT_FOUND", `Dataset ${datasetId} does not exist`);
    const current = meta.current;
    if (!current)
      throw new NotFoundError("DATASET_NOT_READY", `Dataset ${datasetId} has no completed run yet`);
    const names = new Map(current.segments.map((s) => [s.id, s.name]));
    const named = (ids: readonly string[]) =>
      ids.map((id) => ({ segmentId: id, name: names.get(id) ?? null }));
    const page = await history.list(req.tenantId, datasetId, customerId, current.version, limit, before);
    return {
      status: 200,
      body: {
        datasetId,
        customerId,
        version: current.version,
        entries: page.items.map((e) => ({
          runId: e.runId,
          version: e.version,
          asOf: e.asOf,
          completedAt: e.completedAt,
          entered: named(e.entered),
          left: named(e.left),
        })),
        nextCursor: page.next === undefined ? null : cursors.encode(scope, { before: page.next }),
      },
    };
  };

  return { getCustomerHistory };
}
