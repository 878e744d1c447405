/**
 * Lookalike segments as stored: one record per lookalike in the dataset's partition of the table (sk
 * `LAL#<segmentId>`), apart from the rule definitions. Nothing here knows an AWS SDK; shared/store/lookalikes.ts
 * is the adapter.
 */
import { z } from "zod";
import type { LookalikeSettings } from "../engine/lookalike";

/** Most lookalikes one dataset holds; each is a model fitted on every run. */
export const MAX_LOOKALIKES = 20;
/** Largest `size.top`. */
export const MAX_LOOKALIKE_TOP = 1_000_000;

export const lookalikeSizeSchema = z.union([
  z.strictObject({
    top: z.number().int().min(1).max(MAX_LOOKALIKE_TOP).describe("The N customers most like the seed"),
  }),
  z.strictObject({
    percent: z
      .number()
      .gt(0)
      .max(100)
      .describe("This share (0, 100] of the customers outside the seed, rounded down, at least 1"),
  }),
]);

export const lookalikeRecordSchema = z.object({
  /** `lookalike:<slug>`. */
  lookalikeId: z.string(),
  name: z.string(),
  description: z.string().optional(),
  seed: z.string(),
  size: lookalikeSizeSchema,
  attributes: z.array(z.string()).optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type LookalikeRecord = z.infer<typeof lookalikeRecordSchema>;

export interface LookalikeStore {
  listLookalikes(tenantId: string, datasetId: string): Promise<LookalikeRecord[]>;
  getLookalike(
    tenantId: string,
    datasetId: string,
    lookalikeId: string,
  ): Promise<LookalikeRecord | undefined>;
  putLookalike(tenantId: string, datasetId: string, record: LookalikeRecord): Promise<void>;
  /** The deleted record, or undefined if there was none. */
  deleteLookalike(
    tenantId: string,
    datasetId: string,
    lookalikeId: string,
  ): Promise<LookalikeRecord | undefined>;
}

/** The engine's settings of a dataset's lookalikes, in id order. */
export function lookalikeSettings(
  records: readonly LookalikeRecord[],
  defaults: {
    /** The attributes of a lookalike that names none (the profile attributes when the dataset sets them). */
    attributes?: readonly string[];
    /** Left out of the default choice: the contact and consent attributes. */
    exclude: readonly string[];
  },
): LookalikeSettings[] {
  return [...records]
    .sort((a, b) => (a.lookalikeId < b.lookalikeId ? -1 : a.lookalikeId > b.lookalikeId ? 1 : 0))
    .map((r) => {
      const attributes = r.attributes ?? defaults.attributes;
      return {
        id: r.lookalikeId,
        name: r.name,
        ...(r.description !== undefined ? { description: r.description } : {}),
        seed: r.seed,
        size: r.size,
        ...(attributes !== undefined ? { attributes } : { excludeAttributes: defaults.exclude }),
      };
    });
}

/** What of the lookalikes changes a computation's result (for the inputs fingerprint). */
export function lookalikeFingerprints(records: readonly LookalikeRecord[]): unknown[] {
  return [...records]
    .sort((a, b) => (a.lookalikeId < b.lookalikeId ? -1 : a.lookalikeId > b.lookalikeId ? 1 : 0))
    .map((r) => ({
      id: r.lookalikeId,
      name: r.name,
      description: r.description ?? null,
      seed: r.seed,
      size: r.size,
      attributes: r.attributes ?? null,
    }));
}
