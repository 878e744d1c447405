/**
 * The `liftProfile` of GET /datasets/{datasetId}/segments/{segmentId}: the segment's profile with lift
 * (engine/profiles, README "Segment profiles") from its version's profiles object (pipeline/profiles.ts), or
 * null when the version has none. A version's object is written once before its commit and never rewritten,
 * so a function keeps the last few versions' objects in memory by key.
 */
import { z } from "zod";
import type { SegmentLiftProfile } from "../engine/profiles";
import type { BlobStore } from "../pipeline/ports";
import { readProfiles, type StoredProfiles } from "../pipeline/profiles";
import { objectKeys } from "../store/keys";

const hiddenSchema = z.object({
  value: z.string(),
  suppressed: z
    .literal(true)
    .describe("Hidden: fewer than k customers, or hidden so that none can be inferred"),
});
const shareFields = {
  value: z.string(),
  suppressed: z.literal(false),
  share: z.number().describe("Share in the segment, 4 decimals"),
  baseShare: z.number().describe("The same share among all customers, 4 decimals"),
  lift: z.number().nullable().describe("share ÷ baseShare, 4 decimals; null when the base share is 0"),
  reading: z.string().optional().describe('The item in words, e.g. "put 2.3× the average customer\'s …"'),
};
const spendItemSchema = z.union([
  hiddenSchema,
  z.object({
    ...shareFields,
    buyers: z
      .number()
      .int()
      .nullable()
      .describe("Members with a positive net spend in the value; null for other"),
    netCents: z.number().int().describe("Members' positive net spend in the value, in cents"),
  }),
]);
const countItemSchema = z.union([
  hiddenSchema,
  z.object({ ...shareFields, count: z.number().int().describe("Members with the value") }),
]);
const quartilesSchema = z.object({ q1: z.number(), median: z.number(), q3: z.number(), mean: z.number() });

export const segmentLiftProfileSchema = z
  .object({
    segmentId: z.string(),
    size: z.number().int(),
    spend: z.array(
      z.object({
        dimension: z.enum(["category", "channel"]),
        totalCents: z
          .number()
          .int()
          .nullable()
          .describe("Members' positive net spend over all values, in cents; null when fewer than k spent"),
        items: z.array(spendItemSchema),
        other: spendItemSchema.optional(),
        unassigned: spendItemSchema.optional(),
      }),
    ),
    attributes: z.array(
      z.discriminatedUnion("kind", [
        z.object({
          kind: z.literal("categorical"),
          name: z.string(),
          items: z.array(countItemSchema),
          other: countItemSchema.optional(),
          missing: countItemSchema.optional(),
        }),
        z.object({
          kind: z.literal("numeric"),
          name: z.string(),
          present: countItemSchema,
          missing: countItemSchema,
          segment: quartilesSchema
            .nullable()
            .describe("Type-7 quartiles and mean; null when fewer than k hold one"),
          base: quartilesSchema.nullable(),
          reading: z.string().optional(),
        }),
        z.object({
          kind: z.literal("date"),
          name: z.string(),
          bucket: z.enum(["month", "year"]),
          items: z.array(countItemSchema),
          missing: countItemSchema.optional(),
        }),
      ]),
    ),
  })
  .meta({
    description:
      "What the segment's members spend on and who they are, each against all customers; cells of fewer than k customers are suppressed",
  });

// The engine's type and the schema describe the same object.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const same: Same<z.infer<typeof segmentLiftProfileSchema>, SegmentLiftProfile> = true;
void same;

/** Versions' profiles kept per function. */
const CACHE_ENTRIES = 4;
const cache = new Map<string, StoredProfiles | null>();

/** The profile of one segment of a version; null when the version has no profiles or none of the segment. */
export async function liftProfileOf(
  blobs: Pick<BlobStore, "get">,
  tenantId: string,
  datasetId: string,
  version: number,
  segmentId: string,
): Promise<SegmentLiftProfile | null> {
  const key = objectKeys.profiles(tenantId, datasetId, version);
  let stored = cache.get(key);
  if (stored === undefined) {
    stored = (await readProfiles(blobs, tenantId, datasetId, version)) ?? null;
    while (cache.size >= CACHE_ENTRIES) cache.delete(cache.keys().next().value as string);
  } else {
    cache.delete(key);
  }
  cache.set(key, stored);
  if (stored === null || !Object.hasOwn(stored.profiles, segmentId)) return null;
  return stored.profiles[segmentId] as SegmentLiftProfile;
}
