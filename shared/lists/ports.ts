/**
 * List segments as stored: the definition and counts in the table (ListRecord), the ids in one object per
 * revision in the service bucket. Nothing here knows an AWS SDK; shared/store/lists.ts is the adapter.
 */
import { z } from "zod";

/** Most ids one list holds. */
export const MAX_LIST_IDS = 100_000;
/** Most ids one call adds or removes. */
export const MAX_IDS_PER_CHANGE = 10_000;
/** Most lists one dataset holds; each is evaluated on every run. */
export const MAX_LISTS = 50;
/** Largest body of a list upload (JSON or CSV), within the function's 6 MB invoke payload. */
export const MAX_LIST_BODY_BYTES = 5 * 1024 * 1024;

/** What the last run that evaluated a list found: members and ids that are no customers (a sample). */
export const listRunSchema = z.object({
  version: z.number().int(),
  runId: z.string(),
  /** The list's revision the run read. */
  revision: z.number().int(),
  members: z.number().int(),
  unknownIds: z.number().int(),
  unknownSample: z.array(z.string()),
});
export type ListRun = z.infer<typeof listRunSchema>;

export const listRecordSchema = z.object({
  /** `list:<slug>`. */
  listId: z.string(),
  name: z.string(),
  description: z.string().optional(),
  /** 1 on creation, one more on every change; the ids object of each revision has its own key. */
  revision: z.number().int().positive(),
  /** Distinct ids on the list. */
  size: z.number().int().nonnegative(),
  /** The ids object of this revision. */
  idsKey: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
  lastRun: listRunSchema.optional(),
});
export type ListRecord = z.infer<typeof listRecordSchema>;

/** A list as a change writes it; revision, size and key are the store's. */
export interface ListDraft {
  listId: string;
  name: string;
  description?: string;
  createdAt: string;
  updatedAt: string;
}

export interface ListStore {
  listLists(tenantId: string, datasetId: string): Promise<ListRecord[]>;
  getList(tenantId: string, datasetId: string, listId: string): Promise<ListRecord | undefined>;
  /** The ids of a record's revision, in their order; undefined when that revision's object is gone. */
  readIds(record: ListRecord): Promise<string[] | undefined>;
  /**
   * Writes a new revision: the ids object first, then the record, on condition that the stored revision is
   * still `previous`'s (null: that no list has this id). Undefined when the condition failed (a concurrent
   * change; nothing is changed). The previous revision's object is deleted once the record points past it.
   */
  saveList(
    tenantId: string,
    datasetId: string,
    draft: ListDraft,
    ids: readonly string[],
    previous: ListRecord | null,
  ): Promise<ListRecord | undefined>;
  /** Deletes the record and its ids object; the deleted record, or undefined if none. */
  deleteList(tenantId: string, datasetId: string, listId: string): Promise<ListRecord | undefined>;
  /** Records what a run found, if the list is still at the revision the run read. */
  recordRun(tenantId: string, datasetId: string, listId: string, run: ListRun): Promise<void>;
}
