/**
 * An in-memory destination store and secret store for unit tests of code above the ports (route cores,
 * planning). The DynamoDB adapter itself is tested against DynamoDB Local (destinations-store.test.ts).
 */
import type {
  DeliveryAttempt,
  DeliveryRecord,
  DestinationRecord,
  DestinationRef,
  NewDelivery,
} from "../../shared/destinations/model";
import type {
  DestinationStatePatch,
  DestinationStore,
  PendingMarker,
  SecretStore,
} from "../../shared/destinations/ports";
import type { Page } from "../../shared/pipeline/ports";

const keyOf = (ref: DestinationRef) => `${ref.tenantId}/${ref.datasetId}/${ref.destinationId}`;

export class MemoryDestinationStore implements DestinationStore {
  readonly destinations = new Map<string, DestinationRecord>();
  readonly outbox = new Map<string, DeliveryRecord[]>();
  readonly attempts = new Map<string, DeliveryAttempt[]>();
  readonly markers = new Map<string, PendingMarker>();
  private readonly leases = new Map<string, { owner: string; until: number }>();

  async createDestination(destination: DestinationRecord, max: number): Promise<boolean> {
    const count = [...this.destinations.values()].filter(
      (d) => d.tenantId === destination.tenantId && d.datasetId === destination.datasetId,
    ).length;
    if (count >= max || this.destinations.has(keyOf(destination))) return false;
    this.destinations.set(keyOf(destination), structuredClone(destination));
    return true;
  }
  async getDestination(ref: DestinationRef) {
    const found = this.destinations.get(keyOf(ref));
    return found ? structuredClone(found) : undefined;
  }
  async listDestinations(tenantId: string, datasetId: string) {
    return [...this.destinations.values()]
      .filter((d) => d.tenantId === tenantId && d.datasetId === datasetId)
      .sort((a, b) => a.destinationId.localeCompare(b.destinationId))
      .map((d) => structuredClone(d));
  }
  async replaceDestination(destination: DestinationRecord) {
    if (!this.destinations.has(keyOf(destination))) return false;
    this.destinations.set(keyOf(destination), structuredClone(destination));
    return true;
  }
  async updateDestinationState(ref: DestinationRef, patch: DestinationStatePatch) {
    const found = this.destinations.get(keyOf(ref));
    if (!found) return false;
    const next: Record<string, unknown> = { ...found };
    for (const [k, v] of Object.entries(patch)) {
      if (v === undefined) delete next[k];
      else next[k] = v;
    }
    this.destinations.set(keyOf(ref), next as DestinationRecord);
    return true;
  }
  async deleteDestination(ref: DestinationRef) {
    const found = this.destinations.get(keyOf(ref));
    if (!found) return undefined;
    this.destinations.delete(keyOf(ref));
    const payloadKeys = (this.outbox.get(keyOf(ref)) ?? []).map((d) => d.payloadKey);
    this.outbox.delete(keyOf(ref));
    this.attempts.delete(keyOf(ref));
    this.markers.delete(keyOf(ref));
    return { destination: found, payloadKeys };
  }
  async acquireDeliveryLease(ref: DestinationRef, owner: string, leaseMs: number, now: number) {
    if (!this.destinations.has(keyOf(ref))) return false;
    const held = this.leases.get(keyOf(ref));
    if (held && held.owner !== owner && held.until >= now) return false;
    this.leases.set(keyOf(ref), { owner, until: now + leaseMs });
    return true;
  }
  async releaseDeliveryLease(ref: DestinationRef, owner: string) {
    if (this.leases.get(keyOf(ref))?.owner === owner) this.leases.delete(keyOf(ref));
  }
  async enqueueDeliveries(ref: DestinationRef, deliveries: readonly NewDelivery[]) {
    const list = this.outbox.get(keyOf(ref)) ?? [];
    const stored = deliveries.map((d, i) => ({
      ...structuredClone(d),
      destinationId: ref.destinationId,
      seq: list.length + i + 1,
    }));
    list.push(...stored);
    this.outbox.set(keyOf(ref), list);
    if (stored.length > 0) {
      const mark = (this.markers.get(keyOf(ref))?.mark ?? 0) + 1;
      this.markers.set(keyOf(ref), { ...ref, mark });
    }
    return structuredClone(stored);
  }
  async listPendingDeliveries(ref: DestinationRef, limit: number) {
    return (this.outbox.get(keyOf(ref)) ?? [])
      .filter((d) => d.status === "pending")
      .slice(0, limit)
      .map((d) => structuredClone(d));
  }
  async updateDelivery(ref: DestinationRef, delivery: DeliveryRecord) {
    const list = this.outbox.get(keyOf(ref)) ?? [];
    const at = list.findIndex((d) => d.seq === delivery.seq);
    if (at >= 0) list[at] = structuredClone(delivery);
    else list.push(structuredClone(delivery));
    this.outbox.set(keyOf(ref), list);
  }
  async setDeliveryCounts(ref: DestinationRef, seq: number, counts: { entered: number; left: number }) {
    const found = (this.outbox.get(keyOf(ref)) ?? []).find((d) => d.seq === seq);
    if (found) Object.assign(found, counts);
  }
  async listDeliveries(ref: DestinationRef, limit: number, after?: string): Promise<Page<DeliveryRecord>> {
    const all = [...(this.outbox.get(keyOf(ref)) ?? [])].reverse();
    const start = after ? all.findIndex((d) => String(d.seq) === after) + 1 : 0;
    const items = all.slice(start, start + limit);
    const last = items.at(-1);
    return { items, ...(start + limit < all.length && last ? { next: String(last.seq) } : {}) };
  }
  async appendAttempt(ref: DestinationRef, attempt: DeliveryAttempt) {
    const list = this.attempts.get(keyOf(ref)) ?? [];
    list.push(structuredClone(attempt));
    this.attempts.set(keyOf(ref), list);
  }
  async listAttempts(ref: DestinationRef, limit: number, after?: string): Promise<Page<DeliveryAttempt>> {
    const all = [...(this.attempts.get(keyOf(ref)) ?? [])].reverse();
    const start = after ? Number(after) : 0;
    const items = all.slice(start, start + limit);
    return { items, ...(start + limit < all.length ? { next: String(start + limit) } : {}) };
  }
  async listPendingMarkers() {
    return [...this.markers.values()];
  }
  async unmarkPending(marker: PendingMarker) {
    const key = keyOf(marker);
    if (this.markers.get(key)?.mark === marker.mark) this.markers.delete(key);
  }
}

export class MemorySecretStore implements SecretStore {
  readonly secrets = new Map<string, string>();
  async create(name: string, value: string) {
    const ref = `mem:${name}`;
    if (this.secrets.has(ref)) throw new Error(`secret ${name} exists`);
    this.secrets.set(ref, value);
    return ref;
  }
  async get(ref: string) {
    const value = this.secrets.get(ref);
    if (value === undefined) throw new Error(`no secret ${ref}`);
    return value;
  }
  async put(ref: string, value: string) {
    this.secrets.set(ref, value);
  }
  async delete(ref: string) {
    this.secrets.delete(ref);
  }
}
