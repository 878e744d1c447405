/** Lists as a computation reads them: every list of a dataset with its ids, at one revision each. */
import type { ListSegmentSettings } from "../engine/memberships";
import { RetryableError } from "../errors";
import type { ListRecord, ListStore } from "./ports";

export interface LoadedList {
  record: ListRecord;
  ids: string[];
}

/**
 * Every list of a dataset with its ids. A list changed between reading its record and its object (whose old
 * revision is then gone) is read again; one that keeps changing is a retryable error.
 */
export async function loadLists(
  lists: ListStore | undefined,
  tenantId: string,
  datasetId: string,
): Promise<LoadedList[]> {
  if (!lists) return [];
  const records = await lists.listLists(tenantId, datasetId);
  const loaded = await Promise.all(
    records.map(async (first): Promise<LoadedList | undefined> => {
      let record: ListRecord | undefined = first;
      for (let attempt = 0; attempt < 3 && record; attempt++) {
        const ids = await lists.readIds(record);
        if (ids) return { record, ids };
        record = await lists.getList(tenantId, datasetId, first.listId);
      }
      // Deleted meanwhile: the computation goes on without it.
      if (!record) return undefined;
      throw new RetryableError("LIST_CHANGING", "A list changed while it was read; try again");
    }),
  );
  return loaded.filter((l): l is LoadedList => l !== undefined);
}

/** The engine's list settings. */
export function listSettings(loaded: readonly LoadedList[]): ListSegmentSettings[] {
  return loaded.map(({ record, ids }) => ({
    id: record.listId,
    name: record.name,
    ...(record.description !== undefined ? { description: record.description } : {}),
    customerIds: ids,
  }));
}

/** What of the lists changes a computation's result: ids, names and revisions (for the inputs fingerprint). */
export function listFingerprints(records: readonly ListRecord[]): unknown[] {
  return records.map((record) => ({
    id: record.listId,
    name: record.name,
    description: record.description ?? null,
    revision: record.revision,
  }));
}
