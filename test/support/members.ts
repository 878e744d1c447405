/**
 * A page of a segment's members in a version, read from the version's member pages in S3 (the members
 * route's reader, shared/store/member-pages.ts), for tests that check what a run left for readers.
 */
import type { BlobStore, Page } from "../../shared/pipeline/ports";
import { S3MemberPages } from "../../shared/store/member-pages";

export async function memberPage(
  blobs: Pick<BlobStore, "get" | "stream" | "streamRange">,
  tenantId: string,
  datasetId: string,
  segmentId: string,
  version: number,
  limit: number,
  after?: string,
): Promise<Page<string>> {
  const page = await new S3MemberPages(blobs).list(tenantId, datasetId, version, segmentId, limit, after);
  if (!page) throw new Error(`Version ${version} of ${datasetId} has no member pages`);
  return page;
}
