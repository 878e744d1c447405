/**
 * Core of the members route: a page of one segment's members of the dataset's committed version, read from
 * that version's member pages in S3 (shared/pipeline/member-pages.ts), which never change once written, so
 * a page is wholly one version even while a newer one commits. The cursor names the version and the last id
 * served; a cursor of a version no longer committed answers 409 CURSOR_STALE.
 *
 * A version committed before runs wrote member pages answers 409 MEMBER_PAGES_MISSING until the next run
 * (a refresh will do) commits a version that has them. A version whose pages were deleted between reading
 * META and reading them (an erasure deletes the objects of the versions before its own) is read again at
 * the version committed by then.
 */
import { z } from "zod";
import { ConflictError, NotFoundError } from "../errors";
import type { ApiRequest, ApiResult, RouteHandler } from "../http/api";
import type { CursorCodec } from "../http/cursor";
import { parseWith } from "../http/validation";
import type { CurrentVersion } from "../model";
import type { MemberPages } from "../pipeline/member-pages";
import type { DatasetDefinitionStore } from "../pipeline/ports";
import type { RouteId } from "../routes";
import { pageQuery, segmentParams } from "./read";

export interface MemberRouteDeps {
  store: Pick<DatasetDefinitionStore, "getDataset">;
  members: MemberPages;
  cursors: CursorCodec;
}

const memberCursor = z.object({ v: z.number(), after: z.string() });

export function memberRoutes(deps: MemberRouteDeps): Partial<Record<RouteId, RouteHandler>> {
  const { store, members, cursors } = deps;

  const currentOf = async (tenantId: string, datasetId: string): Promise<CurrentVersion> => {
    const meta = await store.getDataset(tenantId, datasetId);
    if (!meta) throw new NotFoundError("DATASET_NOT_FOUND", `Dataset ${datasetId} does not exist`);
    if (!meta.current)
      throw new NotFoundError("DATASET_NOT_READY", `Dataset ${datasetId} has no completed run yet`);
    return meta.current;
  };

  const listSegmentMembers = async (req: ApiRequest): Promise<ApiResult> => {
    const { datasetId, segmentId } = parseWith(segmentParams, req.params, "path");
    const { limit, cursor } = parseWith(pageQuery, req.query, "query");
    const scope = `members|${req.tenantId}|${datasetId}|${segmentId}`;
    let current = await currentOf(req.tenantId, datasetId);
    let position: z.infer<typeof memberCursor> | undefined;
    for (let attempt = 0; ; attempt++) {
      const segment = current.segments.find((s) => s.id === segmentId);
      if (!segment) throw new NotFoundError("SEGMENT_NOT_FOUND", `Segment ${segmentId} does not exist`);
      if (cursor !== undefined) position ??= parseWith(memberCursor, cursors.decode(scope, cursor), "query");
      if (position && position.v !== current.version) {
        throw new ConflictError(
          "CURSOR_STALE",
          "The segment was recomputed since this cursor was issued; start again",
        );
      }
      const page = await members.list(
        req.tenantId,
        datasetId,
        current.version,
        segmentId,
        limit,
        position?.after,
      );
      if (page) {
        return {
          status: 200,
          body: {
            datasetId,
            segmentId,
            version: current.version,
            size: segment.size,
            customerIds: page.items,
            nextCursor:
              page.next === undefined
                ? null
                : cursors.encode(scope, { v: current.version, after: page.next }),
          },
        };
      }
      // No pages: a version from before them, or one a newer commit's erasure has just deleted.
      const latest = await currentOf(req.tenantId, datasetId);
      if (attempt > 0 || latest.version === current.version) throw missingPages(current.version);
      current = latest;
    }
  };

  return { listSegmentMembers };
}

/** The refusal of a version whose member pages do not exist. */
export function missingPages(version: number): ConflictError {
  return new ConflictError(
    "MEMBER_PAGES_MISSING",
    `Version ${version} has no member pages (it was committed before runs wrote them): refresh the dataset to compute a version that has them`,
  );
}
