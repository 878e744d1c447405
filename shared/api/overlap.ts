/**
 * Cores of the overlap routes: how up to 30 segments of the committed version overlap, pair by pair, and the
 * members two segments share, a page at a time in the members routes' order.
 *
 * Both read the version's membership object (shared/pipeline/membership.ts), kept decoded in the warm
 * function per version. A sharded erasure rewrites the current version's object in place, always smaller,
 * so the cached copy is checked against the object's size on every call (one HEAD request).
 *
 * Versions committed before runs wrote the object answer 409 OVERLAP_UNAVAILABLE: building it here from the
 * version's outputs file would mean unzipping and parsing every customer's view, hundreds of megabytes at a
 * million customers, more than the read function's time allows; any run writes it.
 */
import { z } from "zod";
import {
  intersectionCount,
  intersectionPositions,
  MAX_OVERLAP_SEGMENTS,
  overlapOf,
  wordsFor,
} from "../engine/overlap";
import { familyOfId } from "../engine/segment-ids";
import { BadRequestError, ConflictError, NotFoundError } from "../errors";
import type { ApiRequest, ApiResult, RouteHandler } from "../http/api";
import type { CursorCodec } from "../http/cursor";
import { parseWith } from "../http/validation";
import { type CurrentVersion, datasetIdSchema, segmentIdSchema } from "../model";
import { Membership } from "../pipeline/membership";
import type { BlobStore, DatasetDefinitionStore } from "../pipeline/ports";
import type { RouteId } from "../routes";
import { objectKeys } from "../store/keys";

export interface OverlapDeps {
  store: Pick<DatasetDefinitionStore, "getDataset">;
  blobs?: Pick<BlobStore, "get" | "size">;
  cursors: CursorCodec;
}

export const overlapParams = z.object({ datasetId: datasetIdSchema });
export const overlapBodySchema = z.strictObject({
  /** The segments to compare, any family; the answer keeps their order. */
  segments: z
    .array(segmentIdSchema)
    .min(2)
    .max(MAX_OVERLAP_SEGMENTS)
    .superRefine((ids, ctx) => {
      const seen = new Set<string>();
      ids.forEach((id, i) => {
        if (seen.has(id)) ctx.addIssue({ code: "custom", path: [i], message: "names a segment twice" });
        seen.add(id);
      });
    }),
});
export const intersectionParams = z.object({
  datasetId: datasetIdSchema,
  segmentId: segmentIdSchema,
  otherSegmentId: segmentIdSchema,
});
export const intersectionQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().max(2048).optional(),
});

/** Decoded membership objects of recent versions, newest use last. */
const CACHE_ENTRIES = 4;
const cache = new Map<string, { bytes: number; membership: Membership }>();

function requireCurrent(
  meta: Awaited<ReturnType<DatasetDefinitionStore["getDataset"]>>,
  datasetId: string,
): CurrentVersion {
  if (!meta) throw new NotFoundError("DATASET_NOT_FOUND", `Dataset ${datasetId} does not exist`);
  if (!meta.current)
    throw new NotFoundError("DATASET_NOT_READY", `Dataset ${datasetId} has no completed run yet`);
  return meta.current;
}

async function membershipOf(
  blobs: OverlapDeps["blobs"],
  tenantId: string,
  datasetId: string,
  version: number,
): Promise<Membership> {
  const unavailable = () =>
    new ConflictError(
      "OVERLAP_UNAVAILABLE",
      `Version ${version} was committed before the service kept segment memberships for overlaps; ` +
        "a new run (an upload, or saving the settings) writes them",
    );
  if (!blobs) throw unavailable();
  const key = objectKeys.membership(tenantId, datasetId, version);
  const size = await blobs.size(key);
  if (size === undefined) throw unavailable();
  const cached = cache.get(key);
  if (cached && cached.bytes === size) {
    cache.delete(key);
    cache.set(key, cached);
    return cached.membership;
  }
  const bytes = await blobs.get(key);
  if (!bytes) throw unavailable();
  const membership = new Membership(bytes);
  cache.delete(key);
  cache.set(key, { bytes: bytes.byteLength, membership });
  while (cache.size > CACHE_ENTRIES) cache.delete(cache.keys().next().value as string);
  return membership;
}

export function overlapRoutes(deps: OverlapDeps): Partial<Record<RouteId, RouteHandler>> {
  const { store, blobs, cursors } = deps;

  const getOverlap = async (req: ApiRequest): Promise<ApiResult> => {
    const { datasetId } = parseWith(overlapParams, req.params, "path");
    const { segments: ids } = parseWith(overlapBodySchema, req.body, "body");
    const current = requireCurrent(await store.getDataset(req.tenantId, datasetId), datasetId);
    const summaries = new Map(current.segments.map((s) => [s.id, s]));
    const unknown = ids.flatMap((id, i) =>
      summaries.has(id)
        ? []
        : [{ path: `body.segments.${i}`, code: "unknown_segment", message: "is no segment of the dataset" }],
    );
    if (unknown.length > 0) {
      throw new BadRequestError(
        "UNKNOWN_SEGMENT",
        "The dataset's committed version has no segment of that id",
        unknown,
      );
    }
    const membership = await membershipOf(blobs, req.tenantId, datasetId, current.version);
    const empty = new Uint32Array(wordsFor(membership.count));
    // A segment of the version that nobody is in may be absent from an object written before it existed.
    const overlap = overlapOf(ids.map((id) => ({ id, words: membership.bits(id) ?? empty })));
    return {
      status: 200,
      body: {
        datasetId,
        version: current.version,
        runId: current.runId,
        asOf: current.asOf,
        customerCount: membership.count,
        segments: overlap.sizes.map(({ id, size }) => {
          const s = summaries.get(id);
          return { id, name: s?.name ?? id, family: s?.family ?? familyOfId(id), size };
        }),
        pairs: overlap.pairs,
      },
    };
  };

  const listIntersectionMembers = async (req: ApiRequest): Promise<ApiResult> => {
    const { datasetId, segmentId, otherSegmentId } = parseWith(intersectionParams, req.params, "path");
    const { limit, cursor } = parseWith(intersectionQuery, req.query, "query");
    const current = requireCurrent(await store.getDataset(req.tenantId, datasetId), datasetId);
    for (const id of [segmentId, otherSegmentId]) {
      if (!current.segments.some((s) => s.id === id)) {
        throw new NotFoundError("SEGMENT_NOT_FOUND", `Segment ${id} does not exist`);
      }
    }
    const scope = `intersection|${req.tenantId}|${datasetId}|${segmentId}|${otherSegmentId}`;
    let after: string | undefined;
    if (cursor !== undefined) {
      const position = parseWith(
        z.object({ v: z.number(), after: z.string() }),
        cursors.decode(scope, cursor),
        "query",
      );
      if (position.v !== current.version) {
        throw new ConflictError(
          "CURSOR_STALE",
          "The segments were recomputed since this cursor was issued; start again",
        );
      }
      after = position.after;
    }
    const membership = await membershipOf(blobs, req.tenantId, datasetId, current.version);
    const empty = new Uint32Array(wordsFor(membership.count));
    const a = membership.bits(segmentId) ?? empty;
    const b = membership.bits(otherSegmentId) ?? empty;
    const from = after === undefined ? 0 : membership.positionAfter(after);
    const page = intersectionPositions(a, b, from, limit);
    const customerIds = page.positions.map((p) => membership.id(p));
    const last = customerIds.at(-1);
    return {
      status: 200,
      body: {
        datasetId,
        segmentId,
        otherSegmentId,
        version: current.version,
        size: intersectionCount(a, b),
        customerIds,
        nextCursor:
          page.more && last !== undefined ? cursors.encode(scope, { v: current.version, after: last }) : null,
      },
    };
  };

  return { getOverlap, listIntersectionMembers };
}
