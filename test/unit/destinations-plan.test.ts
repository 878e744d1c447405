/**
 * Planning after a committed run (shared/destinations/plan.ts), from hand-made membership diffs whose
 * entered and left ids are known by construction: parts of at most 1,000 ids (entered first, then left),
 * exactly the changed ids per segment, rewrites that change nothing ignored, opted-out customers removed
 * unless the destination includes them, nothing for unchanged or unfollowed segments, a disabled webhook's
 * deliveries queued without a wake-up, bodies stored before the outbox entries, and one failing destination
 * not stopping the others.
 */
import { describe, expect, it } from "vitest";
import type { Contacts } from "../../shared/destinations/contacts";
import type { ExternalBucketWriter } from "../../shared/destinations/member-files";
import type { DestinationRecord, MembershipChangedPayload } from "../../shared/destinations/model";
import { changesBySegment, type PlanDeps, planDeliveries } from "../../shared/destinations/plan";
import type { RunRecord } from "../../shared/model";
import type { MembershipWrite } from "../../shared/pipeline/ports";
import { MemoryDestinationStore } from "../support/memory-destinations";

const NOW = new Date("2026-03-01T10:00:00.000Z");

const run: RunRecord = {
  tenantId: "t",
  datasetId: "shop",
  runId: "run-7",
  trigger: "upload",
  status: "succeeded",
  startedAt: "2026-03-01T09:59:00.000Z",
  finishedAt: "2026-03-01T10:00:00.000Z",
  attempts: 1,
  version: 7,
  asOf: "2026-02-28",
  segments: [
    {
      id: "rfm:champions",
      family: "rfm",
      name: "Champions",
      description: "",
      size: 0,
      share: 0,
      revenue: 0,
      revenueShare: 0,
      averageOrderValue: 0,
    },
  ],
};

let n = 0;
function destination(over: Partial<DestinationRecord> = {}): DestinationRecord {
  n++;
  return {
    tenantId: "t",
    datasetId: "shop",
    destinationId: `dst_${String(n).padStart(20, "a")}`,
    name: `d${n}`,
    kind: "webhook",
    segments: ["rfm:champions", "rule:big"],
    includeOptedOut: false,
    status: "enabled",
    consecutiveFailures: 0,
    createdAt: NOW.toISOString(),
    updatedAt: NOW.toISOString(),
    webhook: { url: "https://example.com/hook", secretRef: "ref" },
    ...over,
  };
}

const write = (
  segmentId: string,
  customerId: string,
  member: boolean,
  previous: boolean,
): MembershipWrite => ({
  segmentId,
  customerId,
  member,
  previous,
});

function contactsOptingOut(...ids: string[]): Contacts {
  const out = new Set(ids);
  return { optedOut: (id) => out.has(id), email: () => undefined, phone: () => undefined };
}

function setup() {
  const destinations = new MemoryDestinationStore();
  const objects = new Map<string, string>();
  const notified: string[] = [];
  const events: string[] = [];
  const deps: PlanDeps = {
    destinations,
    blobs: {
      put: async (key, body) => {
        events.push(`put ${key}`);
        objects.set(key, typeof body === "string" ? body : Buffer.from(body).toString("utf8"));
      },
      get: async (key) => (objects.has(key) ? Buffer.from(objects.get(key) ?? "") : undefined),
      list: async (prefix) => [...objects.keys()].filter((k) => k.startsWith(prefix)),
    },
    members: { all: async function* () {} },
    deliveryQueue: {
      notify: async (ref) => {
        notified.push(ref.destinationId);
      },
    },
    now: () => NOW,
  };
  const enqueue = destinations.enqueueDeliveries.bind(destinations);
  destinations.enqueueDeliveries = async (ref, deliveries) => {
    events.push(`enqueue ${deliveries.length}`);
    return enqueue(ref, deliveries);
  };
  const bodyOf = (key: string) => JSON.parse(objects.get(key) ?? "null") as MembershipChangedPayload;
  return { deps, destinations, objects, notified, events, bodyOf };
}

describe("changesBySegment", () => {
  it("collects entered and left ids per segment and ignores rewrites that change nothing", () => {
    const changes = changesBySegment([
      write("rfm:champions", "c3", true, false),
      write("rfm:champions", "c1", true, false),
      write("rfm:champions", "c2", false, true),
      write("rfm:champions", "c4", true, true), // a repair's rewrite: no change
      write("rfm:loyal", "c5", false, false),
      write("rule:big", "c6", false, true),
    ]);
    expect(Object.fromEntries(changes)).toEqual({
      "rfm:champions": { entered: ["c1", "c3"], left: ["c2"] },
      "rule:big": { entered: [], left: ["c6"] },
    });
  });
});

describe("planDeliveries: webhooks", () => {
  it("enqueues one delivery per changed followed segment with exactly its entered and left ids", async () => {
    const { deps, destinations, notified, bodyOf } = setup();
    const d = destination();
    await destinations.createDestination(d, 20);
    const summary = await planDeliveries(deps, {
      run,
      memberships: [
        write("rfm:champions", "c1", true, false),
        write("rfm:champions", "c2", false, true),
        write("rfm:champions", "c9", true, true),
        write("rule:big", "c3", true, false),
        write("rfm:loyal", "c4", true, false), // not followed
      ],
      contacts: contactsOptingOut(),
    });
    expect(summary).toEqual({ deliveriesEnqueued: 2, filesWritten: 0, failedDestinations: 0 });
    const outbox = await destinations.listPendingDeliveries(d, 10);
    expect(outbox.map((o) => [o.seq, o.segmentId, o.part, o.parts, o.entered, o.left])).toEqual([
      [1, "rfm:champions", 1, 1, 1, 1],
      [2, "rule:big", 1, 1, 1, 0],
    ]);
    expect(outbox.every((o) => o.runId === "run-7" && o.version === 7 && o.status === "pending")).toBe(true);
    expect(outbox.every((o) => o.attempts === 0 && o.nextAttemptAt === NOW.getTime())).toBe(true);
    expect(new Set(outbox.map((o) => o.webhookId)).size).toBe(2);
    expect(outbox[0]?.webhookId).toMatch(/^msg_[a-z2-7]{20}$/);
    const first = bodyOf(outbox[0]?.payloadKey ?? "");
    expect(first).toEqual({
      type: "segment.membership.changed",
      timestamp: NOW.toISOString(),
      data: {
        tenantId: "t",
        datasetId: "shop",
        runId: "run-7",
        version: 7,
        asOf: "2026-02-28",
        segmentId: "rfm:champions",
        segmentName: "Champions",
        part: 1,
        parts: 1,
        entered: ["c1"],
        left: ["c2"],
      },
    });
    // A segment the run's summaries do not name is named by its id.
    expect(bodyOf(outbox[1]?.payloadKey ?? "").data).toMatchObject({
      segmentName: "rule:big",
      entered: ["c3"],
      left: [],
    });
    expect(outbox[0]?.payloadKey).toBe(`deliveries/t/shop/${d.destinationId}/${outbox[0]?.webhookId}.json`);
    expect(notified).toEqual([d.destinationId]);
  });

  it("cuts a change into parts of at most 1,000 ids, entered first, then left", async () => {
    const { deps, destinations, bodyOf } = setup();
    const d = destination({ segments: ["rfm:champions"] });
    await destinations.createDestination(d, 20);
    const id = (prefix: string, i: number) => `${prefix}${String(i).padStart(5, "0")}`;
    const memberships = [
      ...Array.from({ length: 1500 }, (_, i) => write("rfm:champions", id("e", i), true, false)),
      ...Array.from({ length: 700 }, (_, i) => write("rfm:champions", id("l", i), false, true)),
    ];
    await planDeliveries(deps, { run, memberships, contacts: contactsOptingOut() });
    const outbox = await destinations.listPendingDeliveries(d, 10);
    // 2,200 ids: 1,000 entered | 500 entered + 500 left | 200 left.
    expect(outbox.map((o) => [o.part, o.parts, o.entered, o.left])).toEqual([
      [1, 3, 1000, 0],
      [2, 3, 500, 500],
      [3, 3, 0, 200],
    ]);
    const bodies = outbox.map((o) => bodyOf(o.payloadKey).data);
    expect(bodies.flatMap((b) => b.entered)).toEqual(Array.from({ length: 1500 }, (_, i) => id("e", i)));
    expect(bodies.flatMap((b) => b.left)).toEqual(Array.from({ length: 700 }, (_, i) => id("l", i)));
    expect(bodies[1]?.entered[0]).toBe("e01000");
    expect(bodies[1]?.left.at(-1)).toBe("l00499");
  });

  it("leaves opted-out customers out unless the destination includes them", async () => {
    const { deps, destinations, bodyOf } = setup();
    const plain = destination({ segments: ["rfm:champions"] });
    const all = destination({ segments: ["rfm:champions"], includeOptedOut: true });
    const onlyOptedOut = destination({ segments: ["rule:big"] });
    for (const d of [plain, all, onlyOptedOut]) await destinations.createDestination(d, 20);
    await planDeliveries(deps, {
      run,
      memberships: [
        write("rfm:champions", "c1", true, false),
        write("rfm:champions", "out1", true, false),
        write("rfm:champions", "out2", false, true),
        write("rfm:champions", "c2", false, true),
        write("rule:big", "out1", true, false),
      ],
      contacts: contactsOptingOut("out1", "out2"),
    });
    const [p] = await destinations.listPendingDeliveries(plain, 10);
    expect(bodyOf(p?.payloadKey ?? "").data).toMatchObject({ entered: ["c1"], left: ["c2"] });
    expect([p?.entered, p?.left]).toEqual([1, 1]);
    const [a] = await destinations.listPendingDeliveries(all, 10);
    expect(bodyOf(a?.payloadKey ?? "").data).toMatchObject({ entered: ["c1", "out1"], left: ["c2", "out2"] });
    // Only opted-out customers changed: no delivery at all.
    expect(await destinations.listPendingDeliveries(onlyOptedOut, 10)).toEqual([]);
  });

  it("gives nothing for unchanged segments or a run that did not commit; a disabled webhook's deliveries queue unwoken", async () => {
    const { deps, destinations, objects, notified } = setup();
    const d = destination();
    const off = destination({ status: "disabled", disabledReason: "failures" });
    await destinations.createDestination(d, 20);
    await destinations.createDestination(off, 20);
    const changed = [write("rfm:champions", "c1", true, false)];
    expect(
      await planDeliveries(deps, {
        run,
        memberships: [write("rfm:champions", "c1", true, true), write("rfm:loyal", "c2", true, false)],
        contacts: contactsOptingOut(),
      }),
    ).toEqual({ deliveriesEnqueued: 0, filesWritten: 0, failedDestinations: 0 });
    await planDeliveries(deps, {
      run: { ...run, status: "failed" },
      memberships: changed,
      contacts: contactsOptingOut(),
    });
    expect(await destinations.listPendingDeliveries(d, 10)).toEqual([]);
    await planDeliveries(deps, { run, memberships: changed, contacts: contactsOptingOut() });
    expect(await destinations.listPendingDeliveries(d, 10)).toHaveLength(1);
    // The disabled destination's delivery waits in its outbox (sent once it is enabled), without a wake-up.
    expect(await destinations.listPendingDeliveries(off, 10)).toHaveLength(1);
    expect(objects.size).toBe(2);
    expect(notified).toEqual([d.destinationId]);
  });

  it("stores every body before the outbox entries, and keeps runs in order across plans", async () => {
    const { deps, destinations, events } = setup();
    const d = destination();
    await destinations.createDestination(d, 20);
    await planDeliveries(deps, {
      run,
      memberships: [write("rfm:champions", "c1", true, false), write("rule:big", "c1", true, false)],
      contacts: contactsOptingOut(),
    });
    await planDeliveries(deps, {
      run: { ...run, runId: "run-8", version: 8 },
      memberships: [write("rfm:champions", "c1", false, true)],
      contacts: contactsOptingOut(),
    });
    expect(events.map((e) => e.split(" ")[0])).toEqual(["put", "put", "enqueue", "put", "enqueue"]);
    const outbox = await destinations.listPendingDeliveries(d, 10);
    expect(outbox.map((o) => [o.seq, o.runId])).toEqual([
      [1, "run-7"],
      [2, "run-7"],
      [3, "run-8"],
    ]);
  });

  it("serves the other destinations when one fails, and never throws", async () => {
    const { deps, destinations, notified } = setup();
    const broken = destination();
    const fine = destination();
    await destinations.createDestination(broken, 20);
    await destinations.createDestination(fine, 20);
    const enqueue = destinations.enqueueDeliveries.bind(destinations);
    destinations.enqueueDeliveries = async (ref, deliveries) => {
      if (ref.destinationId === broken.destinationId) throw new Error("throttled");
      return enqueue(ref, deliveries);
    };
    const summary = await planDeliveries(deps, {
      run,
      memberships: [write("rfm:champions", "c1", true, false)],
      contacts: contactsOptingOut(),
    });
    expect(summary).toEqual({ deliveriesEnqueued: 1, filesWritten: 0, failedDestinations: 1 });
    expect(notified).toEqual([fine.destinationId]);

    destinations.listDestinations = async () => {
      throw new Error("table unavailable");
    };
    expect(
      await planDeliveries(deps, {
        run,
        memberships: [write("rfm:champions", "c1", true, false)],
        contacts: contactsOptingOut(),
      }),
    ).toEqual({ deliveriesEnqueued: 0, filesWritten: 0, failedDestinations: 1 });
  });
});

describe("planDeliveries: files", () => {
  it("writes each followed segment's members without opted-out customers, after every committed run", async () => {
    const { deps, destinations } = setup();
    const puts: Array<{ bucket: string; key: string; body: string }> = [];
    const files: ExternalBucketWriter = {
      put: async (o) => {
        puts.push({ bucket: o.bucket, key: o.key, body: o.body });
      },
    };
    const members: Record<string, string[]> = { "rfm:champions": ["c1", "c2", "out1"] };
    const d = destination({
      kind: "s3",
      segments: ["rfm:champions"],
      webhook: undefined,
      s3: { bucket: "warehouse-in", prefix: "crm/", format: "csv" },
    });
    await destinations.createDestination(d, 20);
    const summary = await planDeliveries(
      {
        ...deps,
        files,
        members: {
          all: async function* (_t, _d, version, segmentId) {
            expect(version).toBe(7);
            yield* members[segmentId] ?? [];
          },
        },
      },
      // No membership changed: the files are written all the same.
      { run, memberships: [], contacts: contactsOptingOut("out1") },
    );
    expect(summary).toEqual({ deliveriesEnqueued: 0, filesWritten: 1, failedDestinations: 0 });
    expect(puts.map((p) => `${p.bucket}/${p.key}`)).toEqual([
      "warehouse-in/crm/shop/run-7/rfm:champions.csv",
      "warehouse-in/crm/shop/run-7/manifest.json",
    ]);
    expect(puts[0]?.body).toBe("customer_id\r\nc1\r\nc2\r\n");
  });
});
