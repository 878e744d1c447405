/** An in-memory lookalike store for tests of the route cores (the DynamoDB one is tested on the emulators). */
import type { LookalikeRecord, LookalikeStore } from "../../shared/lookalikes/ports";

export class MemoryLookalikeStore implements LookalikeStore {
  private readonly records = new Map<string, LookalikeRecord>();

  async listLookalikes(tenantId: string, datasetId: string): Promise<LookalikeRecord[]> {
    const prefix = `${tenantId}|${datasetId}|`;
    return [...this.records].filter(([k]) => k.startsWith(prefix)).map(([, r]) => r);
  }

  async getLookalike(tenantId: string, datasetId: string, id: string): Promise<LookalikeRecord | undefined> {
    return this.records.get(`${tenantId}|${datasetId}|${id}`);
  }

  async putLookalike(tenantId: string, datasetId: string, record: LookalikeRecord): Promise<void> {
    this.records.set(`${tenantId}|${datasetId}|${record.lookalikeId}`, record);
  }

  async deleteLookalike(
    tenantId: string,
    datasetId: string,
    id: string,
  ): Promise<LookalikeRecord | undefined> {
    const key = `${tenantId}|${datasetId}|${id}`;
    const found = this.records.get(key);
    this.records.delete(key);
    return found;
  }
}
