/** An in-memory list store for tests of the route cores (the DynamoDB and S3 one is tested on the emulators). */
import type { ListDraft, ListRecord, ListRun, ListStore } from "../../shared/lists/ports";

export class MemoryListStore implements ListStore {
  private readonly records = new Map<string, ListRecord>();
  private readonly objects = new Map<string, string[]>();

  async listLists(tenantId: string, datasetId: string): Promise<ListRecord[]> {
    const prefix = `${tenantId}|${datasetId}|`;
    return [...this.records].filter(([k]) => k.startsWith(prefix)).map(([, r]) => r);
  }

  async getList(tenantId: string, datasetId: string, listId: string): Promise<ListRecord | undefined> {
    return this.records.get(`${tenantId}|${datasetId}|${listId}`);
  }

  async readIds(record: ListRecord): Promise<string[] | undefined> {
    return this.objects.get(record.idsKey);
  }

  async saveList(
    tenantId: string,
    datasetId: string,
    draft: ListDraft,
    ids: readonly string[],
    previous: ListRecord | null,
  ): Promise<ListRecord | undefined> {
    const key = `${tenantId}|${datasetId}|${draft.listId}`;
    if ((this.records.get(key)?.revision ?? null) !== (previous?.revision ?? null)) return undefined;
    const revision = (previous?.revision ?? 0) + 1;
    const idsKey = `${key}|r${revision}`;
    this.objects.set(idsKey, [...ids]);
    const record: ListRecord = { ...draft, revision, size: ids.length, idsKey };
    this.records.set(key, record);
    return record;
  }

  async deleteList(tenantId: string, datasetId: string, listId: string): Promise<ListRecord | undefined> {
    const key = `${tenantId}|${datasetId}|${listId}`;
    const found = this.records.get(key);
    this.records.delete(key);
    return found;
  }

  async recordRun(tenantId: string, datasetId: string, listId: string, run: ListRun): Promise<void> {
    const key = `${tenantId}|${datasetId}|${listId}`;
    const found = this.records.get(key);
    if (found && found.revision === run.revision) this.records.set(key, { ...found, lastRun: run });
  }
}
