/**
 * Segment profiles with lift of a version (engine/profiles): computed in a run's compute stage from its
 * result and the dataset's settings, and kept in S3 beside the version's other objects as gzipped JSON
 * `{ version, k, top, profiles: { [segmentId]: SegmentLiftProfile } }` (objectKeys.profiles), written before
 * the commit and never rewritten.
 */
import { gunzipSync, gzipSync } from "node:zlib";
import type { ComputedSegmentation } from "../engine/compute";
import {
  profilesOf,
  type ResultProfiles,
  type ResultProfilesOptions,
  type SegmentLiftProfile,
} from "../engine/profiles";
import type { DatasetSettings } from "../model";
import { objectKeys } from "../store/keys";
import type { BlobStore } from "./ports";

/** What objectKeys.profiles holds. */
export interface StoredProfiles {
  readonly version: number;
  readonly k: number;
  readonly top: number;
  readonly profiles: Record<string, SegmentLiftProfile>;
}

/** The engine's options from a dataset's settings (profiles, contact and consent attributes). */
export function profileOptionsOf(settings: DatasetSettings): ResultProfilesOptions {
  const { profiles, contact, consent } = settings;
  return {
    ...(profiles?.k !== undefined ? { k: profiles.k } : {}),
    ...(profiles?.top !== undefined ? { top: profiles.top } : {}),
    ...(profiles?.attributes !== undefined ? { attributes: profiles.attributes } : {}),
    ...(contact !== undefined ? { contact } : {}),
    ...(consent !== undefined ? { consent } : {}),
  };
}

/** The profiles of every segment of a run's result (timing `profiles`, issues on the result). */
export function computeProfiles(result: ComputedSegmentation, settings: DatasetSettings): ResultProfiles {
  return profilesOf(result, profileOptionsOf(settings));
}

export function encodeProfiles(version: number, profiles: ResultProfiles): Uint8Array {
  const stored: StoredProfiles = { version, k: profiles.k, top: profiles.top, profiles: profiles.profiles };
  return gzipSync(Buffer.from(JSON.stringify(stored), "utf8"));
}

export function decodeProfiles(bytes: Uint8Array): StoredProfiles {
  return JSON.parse(gunzipSync(bytes).toString("utf8")) as StoredProfiles;
}

export async function writeProfiles(
  blobs: BlobStore,
  tenantId: string,
  datasetId: string,
  version: number,
  profiles: ResultProfiles,
): Promise<void> {
  await blobs.put(
    objectKeys.profiles(tenantId, datasetId, version),
    encodeProfiles(version, profiles),
    "application/gzip",
  );
}

/** The profiles of a version, or undefined when it has none (written before profiles were). */
export async function readProfiles(
  blobs: Pick<BlobStore, "get">,
  tenantId: string,
  datasetId: string,
  version: number,
): Promise<StoredProfiles | undefined> {
  const bytes = await blobs.get(objectKeys.profiles(tenantId, datasetId, version));
  return bytes === undefined ? undefined : decodeProfiles(bytes);
}
