/** A committed version's outputs file (the per-customer views a run wrote to S3), read back for a test. */
import type { CustomerView } from "../../shared/model";
import { decodeOutputs } from "../../shared/pipeline/outputs";
import type { BlobStore } from "../../shared/pipeline/ports";
import { objectKeys } from "../../shared/store/keys";

/** Customer id -> view of the version's outputs file; throws when the version has none. */
export async function versionViews(
  blobs: BlobStore,
  tenantId: string,
  datasetId: string,
  version: number,
): Promise<Map<string, CustomerView>> {
  const bytes = await blobs.get(objectKeys.outputs(tenantId, datasetId, version));
  if (!bytes) throw new Error(`no outputs file for version ${version}`);
  const out = new Map<string, CustomerView>();
  for (const [id, json] of decodeOutputs(bytes)) out.set(id, JSON.parse(json) as CustomerView);
  return out;
}
