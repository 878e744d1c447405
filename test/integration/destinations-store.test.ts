/**
 * The destination store against DynamoDB Local: CRUD with the per-dataset limit held by a transaction, the
 * outbox handing out sequence numbers in enqueue order and listing pending deliveries in that order, the
 * attempt log newest first across pages, the delivery lease, the sweep's pending markers, and deletion
 * emptying the destination's partition. The file secret store keeps its files owner-only.
 */
import { mkdtemp, readdir, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { QueryCommand } from "@aws-sdk/lib-dynamodb";
import { beforeAll, describe, expect, it } from "vitest";
import {
  type DeliveryAttempt,
  type DestinationRecord,
  type DestinationRef,
  type NewDelivery,
  newDestinationId,
} from "../../shared/destinations/model";
import { DynamoDestinationStore } from "../../shared/store/destinations";
import { destinationPk } from "../../shared/store/keys";
import { FileSecretStore } from "../../shared/store/secrets";
import { createTestTable, type TestClients, testClients } from "../support/aws";

let clients: TestClients;
let table: string;
let store: DynamoDestinationStore;

beforeAll(async () => {
  clients = testClients();
  table = await createTestTable(clients.dynamo);
  store = new DynamoDestinationStore(clients.doc, table);
});

const NOW = "2026-01-01T00:00:00.000Z";

function destination(datasetId: string, name = "crm"): DestinationRecord {
  return {
    tenantId: "t",
    datasetId,
    destinationId: newDestinationId(),
    name,
    kind: "webhook",
    segments: ["rfm:champions"],
    includeOptedOut: false,
    status: "enabled",
    consecutiveFailures: 0,
    createdAt: NOW,
    updatedAt: NOW,
    webhook: { url: "https://example.com/hook", secretRef: "ref-1" },
  };
}

const refOf = (d: DestinationRecord): DestinationRef => ({
  tenantId: d.tenantId,
  datasetId: d.datasetId,
  destinationId: d.destinationId,
});

function delivery(runId: string, segmentId: string, part: number, parts: number): NewDelivery {
  return {
    webhookId: `msg_${runId}_${segmentId}_${part}`,
    runId,
    version: 1,
    segmentId,
    part,
    parts,
    payloadKey: `deliveries/t/x/${runId}-${part}.json`,
    status: "pending",
    attempts: 0,
    nextAttemptAt: 0,
    createdAt: NOW,
    entered: 3,
    left: 1,
  };
}

describe("destinations", () => {
  it("creates, reads, lists, replaces and updates state; absent ones answer undefined/false", async () => {
    const a = destination("crud", "a");
    const b = destination("crud", "b");
    expect(await store.createDestination(a, 20)).toBe(true);
    expect(await store.createDestination(b, 20)).toBe(true);
    // The same id twice is refused, and does not count.
    expect(await store.createDestination(a, 20)).toBe(false);

    expect(await store.getDestination(refOf(a))).toEqual(a);
    const listed = await store.listDestinations("t", "crud");
    expect(listed.map((d) => d.name).sort()).toEqual(["a", "b"]);

    const changed: DestinationRecord = {
      ...a,
      name: "renamed",
      kind: "s3",
      webhook: undefined,
      s3: { bucket: "warehouse-in", prefix: "seg/", format: "csv" },
    };
    expect(await store.replaceDestination(changed)).toBe(true);
    const read = await store.getDestination(refOf(a));
    expect(read?.name).toBe("renamed");
    expect(read?.webhook).toBeUndefined();
    expect(read?.s3).toEqual({ bucket: "warehouse-in", prefix: "seg/", format: "csv" });

    expect(
      await store.updateDestinationState(refOf(a), {
        status: "disabled",
        disabledReason: "7 failed attempts",
        disabledAt: NOW,
        consecutiveFailures: 7,
      }),
    ).toBe(true);
    expect(await store.getDestination(refOf(a))).toMatchObject({
      status: "disabled",
      disabledReason: "7 failed attempts",
      consecutiveFailures: 7,
    });
    // Re-enabling clears the reason.
    await store.updateDestinationState(refOf(a), {
      status: "enabled",
      disabledReason: undefined,
      disabledAt: undefined,
      consecutiveFailures: 0,
    });
    const enabled = await store.getDestination(refOf(a));
    expect(enabled?.status).toBe("enabled");
    expect(enabled?.disabledReason).toBeUndefined();

    const missing = { tenantId: "t", datasetId: "crud", destinationId: newDestinationId() };
    expect(await store.getDestination(missing)).toBeUndefined();
    expect(await store.replaceDestination({ ...a, destinationId: missing.destinationId })).toBe(false);
    expect(await store.updateDestinationState(missing, { consecutiveFailures: 1 })).toBe(false);
    expect(await store.deleteDestination(missing)).toBeUndefined();
  });

  it("holds the per-dataset limit, also under concurrent creates, and frees a place on delete", async () => {
    const made = await Promise.all(
      Array.from({ length: 5 }, (_, i) => store.createDestination(destination("limit", `d${i}`), 3)),
    );
    expect(made.filter(Boolean)).toHaveLength(3);
    expect(await store.listDestinations("t", "limit")).toHaveLength(3);
    expect(await store.createDestination(destination("limit"), 3)).toBe(false);

    const [first] = await store.listDestinations("t", "limit");
    if (!first) throw new Error("no destination");
    expect((await store.deleteDestination(refOf(first)))?.destination.destinationId).toBe(
      first.destinationId,
    );
    // A second delete of the same one does not free a second place.
    expect(await store.deleteDestination(refOf(first))).toBeUndefined();
    expect(await store.createDestination(destination("limit"), 3)).toBe(true);
    expect(await store.createDestination(destination("limit"), 3)).toBe(false);
  });
});

describe("outbox", () => {
  it("numbers deliveries in enqueue order and lists pending ones oldest first, skipping delivered", async () => {
    const d = destination("outbox");
    await store.createDestination(d, 20);
    const ref = refOf(d);
    const first = await store.enqueueDeliveries(ref, [
      delivery("r1", "rfm:champions", 1, 2),
      delivery("r1", "rfm:champions", 2, 2),
    ]);
    const second = await store.enqueueDeliveries(ref, [delivery("r2", "rfm:champions", 1, 1)]);
    expect(first.map((x) => x.seq)).toEqual([1, 2]);
    expect(second.map((x) => x.seq)).toEqual([3]);
    expect(second[0]?.destinationId).toBe(d.destinationId);

    // Concurrent enqueues never share a number.
    const racing = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        store.enqueueDeliveries(ref, [delivery(`c${i}`, "rfm:loyal", 1, 1)]),
      ),
    );
    expect(
      racing
        .flat()
        .map((x) => x.seq)
        .sort((x, y) => x - y),
    ).toEqual([4, 5, 6, 7, 8, 9]);

    const pending = await store.listPendingDeliveries(ref, 100);
    expect(pending.map((x) => x.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect((await store.listPendingDeliveries(ref, 2)).map((x) => x.seq)).toEqual([1, 2]);

    const [one] = first;
    if (!one) throw new Error("no delivery");
    await store.updateDelivery(ref, { ...one, status: "delivered", attempts: 1, lastStatusCode: 204 });
    expect((await store.listPendingDeliveries(ref, 3)).map((x) => x.seq)).toEqual([2, 3, 4]);

    // The admin listing: newest first, two pages of 5 and 4.
    const page1 = await store.listDeliveries(ref, 5);
    expect(page1.items.map((x) => x.seq)).toEqual([9, 8, 7, 6, 5]);
    const page2 = await store.listDeliveries(ref, 5, page1.next);
    expect(page2.items.map((x) => x.seq)).toEqual([4, 3, 2, 1]);
    expect(page2.next).toBeUndefined();
    expect(page2.items.at(-1)).toMatchObject({ status: "delivered", lastStatusCode: 204 });
  });

  it("keeps a pending marker per destination until it is removed with the mark that was read", async () => {
    const d = destination("markers");
    await store.createDestination(d, 20);
    const ref = refOf(d);
    await store.enqueueDeliveries(ref, [delivery("r1", "rfm:champions", 1, 1)]);
    const mine = (await store.listPendingMarkers()).filter((m) => m.destinationId === d.destinationId);
    expect(mine).toHaveLength(1);
    const [marker] = mine;
    if (!marker) throw new Error("no marker");
    // An enqueue after the read: removing with the old mark keeps the marker.
    await store.enqueueDeliveries(ref, [delivery("r2", "rfm:champions", 1, 1)]);
    await store.unmarkPending(marker);
    const after = (await store.listPendingMarkers()).filter((m) => m.destinationId === d.destinationId);
    expect(after).toHaveLength(1);
    const [fresh] = after;
    if (!fresh) throw new Error("no marker");
    await store.unmarkPending(fresh);
    expect((await store.listPendingMarkers()).some((m) => m.destinationId === d.destinationId)).toBe(false);
  });

  it("grants the delivery lease to one owner at a time until it lapses or is released", async () => {
    const d = destination("lease");
    await store.createDestination(d, 20);
    const ref = refOf(d);
    expect(await store.acquireDeliveryLease(ref, "a", 60_000, 1_000)).toBe(true);
    expect(await store.acquireDeliveryLease(ref, "b", 60_000, 2_000)).toBe(false);
    // The holder may extend it; after it lapses another owner takes it.
    expect(await store.acquireDeliveryLease(ref, "a", 60_000, 3_000)).toBe(true);
    expect(await store.acquireDeliveryLease(ref, "b", 60_000, 63_001)).toBe(true);
    await store.releaseDeliveryLease(ref, "a"); // not the holder: no effect
    expect(await store.acquireDeliveryLease(ref, "a", 60_000, 64_000)).toBe(false);
    await store.releaseDeliveryLease(ref, "b");
    expect(await store.acquireDeliveryLease(ref, "a", 60_000, 64_000)).toBe(true);
    // The lease never leaks into the record.
    expect(Object.keys((await store.getDestination(ref)) ?? {})).not.toContain("leaseOwner");
    expect(await store.acquireDeliveryLease({ ...ref, destinationId: newDestinationId() }, "a", 1, 1)).toBe(
      false,
    );
  });
});

describe("attempt log", () => {
  it("pages newest first and expires entries 30 days after their attempt", async () => {
    const d = destination("log");
    await store.createDestination(d, 20);
    const ref = refOf(d);
    const attempts: DeliveryAttempt[] = Array.from({ length: 7 }, (_, i) => ({
      at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
      webhookId: "msg_x",
      seq: 1,
      attempt: i + 1,
      latencyMs: 10 + i,
      outcome: i === 6 ? "delivered" : "retry",
      ...(i === 6 ? { statusCode: 200 } : { statusCode: 500, error: "HTTP 500" }),
    }));
    for (const a of attempts) await store.appendAttempt(ref, a);
    const seen: number[] = [];
    let next: string | undefined;
    let pages = 0;
    do {
      const page = await store.listAttempts(ref, 3, next);
      seen.push(...page.items.map((a) => a.attempt));
      next = page.next;
      pages++;
    } while (next);
    expect(seen).toEqual([7, 6, 5, 4, 3, 2, 1]);
    expect(pages).toBe(3);
    const newest = (await store.listAttempts(ref, 1)).items[0];
    expect(newest).toEqual(attempts[6]);

    const raw = await clients.doc.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: "pk = :pk AND begins_with(sk, :p)",
        ExpressionAttributeValues: { ":pk": destinationPk("t", "log", d.destinationId), ":p": "LOG#" },
        Limit: 1,
      }),
    );
    // 2026-01-01T00:00:00Z is 1767225600; 30 days later is 1769817600.
    expect(raw.Items?.[0]?.expiresAt).toBe(1_769_817_600);
  });
});

describe("delete", () => {
  it("removes the destination's outbox, attempt log and marker, and returns the payload keys", async () => {
    const d = destination("delete");
    await store.createDestination(d, 20);
    const ref = refOf(d);
    const stored = await store.enqueueDeliveries(ref, [
      delivery("r1", "rfm:champions", 1, 1),
      delivery("r1", "rfm:loyal", 1, 1),
    ]);
    await store.appendAttempt(ref, {
      at: NOW,
      webhookId: "msg_a",
      seq: 1,
      attempt: 1,
      latencyMs: 5,
      outcome: "retry",
    });
    const deleted = await store.deleteDestination(ref);
    expect(deleted?.payloadKeys.sort()).toEqual(stored.map((s) => s.payloadKey).sort());
    const left = await clients.doc.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: "pk = :pk",
        ExpressionAttributeValues: { ":pk": destinationPk("t", "delete", d.destinationId) },
      }),
    );
    expect(left.Items ?? []).toEqual([]);
    expect((await store.listPendingMarkers()).some((m) => m.destinationId === d.destinationId)).toBe(false);
    expect(await store.getDestination(ref)).toBeUndefined();
  });
});

describe("file secret store", () => {
  it("keeps each secret in a file only its owner can read, and refuses references outside its directory", async () => {
    const dir = await mkdtemp(join(tmpdir(), "secrets-"));
    const secrets = new FileSecretStore(join(dir, "secrets"));
    const ref = await secrets.create("t/ds/dst_abc/1", "whsec_one");
    expect(await secrets.get(ref)).toBe("whsec_one");
    await secrets.put(ref, "whsec_two");
    expect(await secrets.get(ref)).toBe("whsec_two");
    const [file] = await readdir(join(dir, "secrets"));
    expect(file).toBe(ref);
    expect((await stat(join(dir, "secrets", ref))).mode & 0o777).toBe(0o600);
    await expect(secrets.get("../escape")).rejects.toThrow("Not a local secret reference");
    await secrets.delete(ref);
    await secrets.delete(ref);
    await expect(secrets.get(ref)).rejects.toThrow();
  });
});
