/**
 * The webhook delivery worker against DynamoDB Local, the S3 server and a real HTTP receiver on loopback:
 * strict sequence order, the same webhook-id on every retry, retries on the schedule with injected jitter and
 * an injected clock (no sleeping), the destination disabled with its reason once a delivery fails every
 * attempt, nothing sent while disabled, enable resuming in order, one worker per destination at a time,
 * signatures during a secret rotation, the SSRF guard on every attempt, and the sweep across datasets.
 */

import { mkdtemp } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { type DeliveryDeps, deliverDestination, sweepDeliveries } from "../../shared/destinations/deliver";
import {
  type DestinationRecord,
  type DestinationRef,
  type NewDelivery,
  newDestinationId,
  newWebhookId,
} from "../../shared/destinations/model";
import { newWebhookSecret } from "../../shared/destinations/webhook";
import { DynamoDestinationStore } from "../../shared/store/destinations";
import { S3BlobStore } from "../../shared/store/s3";
import { FileSecretStore } from "../../shared/store/secrets";
import { createTestBucket, createTestTable, type TestClients, testClients, waitFor } from "../support/aws";

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A receiver whose answer the test sets; it can hold a request until the test lets it go. */
class Receiver {
  server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", async () => {
      this.received.push({ path: req.url ?? "", headers: req.headers, body });
      this.inFlight++;
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
      if (this.hold) await this.hold;
      this.inFlight--;
      res.statusCode = this.status;
      res.end("answer text that is never logged");
    });
  });
  received: Received[] = [];
  status = 204;
  hold: Promise<void> | undefined;
  inFlight = 0;
  maxInFlight = 0;
  port = 0;
  async start() {
    await new Promise<void>((ok) => this.server.listen(0, "127.0.0.1", ok));
    this.port = (this.server.address() as AddressInfo).port;
  }
  url(path: string) {
    return `http://127.0.0.1:${this.port}${path}`;
  }
  of(path: string) {
    return this.received.filter((r) => r.path === path);
  }
}

let clients: TestClients;
let store: DynamoDestinationStore;
let blobs: S3BlobStore;
let secrets: FileSecretStore;
const receiver = new Receiver();
let time = Date.parse("2026-03-01T00:00:00.000Z");
const clock = () => time;

beforeAll(async () => {
  clients = testClients();
  const table = await createTestTable(clients.dynamo);
  const bucket = await createTestBucket(clients.s3);
  store = new DynamoDestinationStore(clients.doc, table);
  blobs = new S3BlobStore(clients.s3, bucket);
  secrets = new FileSecretStore(await mkdtemp(join(tmpdir(), "secrets-")));
  await receiver.start();
});
afterAll(() => new Promise<void>((ok) => receiver.server.close(() => ok())));
beforeEach(() => {
  receiver.status = 204;
  receiver.hold = undefined;
});

function deps(overrides: Partial<DeliveryDeps> = {}): DeliveryDeps {
  return {
    destinations: store,
    secrets,
    blobs,
    policy: { allowLoopback: true },
    schedule: [5, 300, 1800],
    random: () => 0.5,
    clock,
    ...overrides,
  };
}

const CUSTOMERS = ["C-canary-1", "C-canary-2"];

async function webhookDestination(
  datasetId: string,
  path: string,
): Promise<{ ref: DestinationRef; secret: string; record: DestinationRecord }> {
  const destinationId = newDestinationId();
  const secret = newWebhookSecret();
  const secretRef = await secrets.create(destinationId, secret);
  const at = new Date(time).toISOString();
  const record: DestinationRecord = {
    tenantId: "t",
    datasetId,
    destinationId,
    name: "crm",
    kind: "webhook",
    segments: ["rfm:champions"],
    includeOptedOut: false,
    status: "enabled",
    consecutiveFailures: 0,
    createdAt: at,
    updatedAt: at,
    webhook: { url: receiver.url(path), secretRef },
  };
  expect(await store.createDestination(record, 20)).toBe(true);
  return { ref: { tenantId: "t", datasetId, destinationId }, secret, record };
}

/** Enqueues deliveries whose bodies name their run; returns their webhook ids in order. */
async function enqueue(ref: DestinationRef, runs: string[]): Promise<string[]> {
  const items: NewDelivery[] = [];
  for (const runId of runs) {
    const webhookId = newWebhookId();
    const payloadKey = `deliveries/${ref.destinationId}/${webhookId}.json`;
    const body = JSON.stringify({
      type: "segment.membership.changed",
      timestamp: new Date(time).toISOString(),
      data: { datasetId: ref.datasetId, runId, entered: CUSTOMERS, left: [] },
    });
    await blobs.put(payloadKey, body, "application/json");
    items.push({
      webhookId,
      runId,
      version: 1,
      segmentId: "rfm:champions",
      part: 1,
      parts: 1,
      payloadKey,
      status: "pending",
      attempts: 0,
      nextAttemptAt: time,
      createdAt: new Date(time).toISOString(),
      entered: 2,
      left: 0,
    });
  }
  await store.enqueueDeliveries(ref, items);
  return items.map((i) => i.webhookId);
}

/**
 * Verifies a received request with the standardwebhooks library, as a receiver whose clock reads the
 * worker's injected time (the library refuses timestamps five minutes away from its own clock).
 */
function verify(secret: string, r: Received): unknown {
  vi.useFakeTimers({ toFake: ["Date"] });
  try {
    vi.setSystemTime(Number(r.headers["webhook-timestamp"]) * 1000);
    return new Webhook(secret).verify(r.body, r.headers as Record<string, string>);
  } finally {
    vi.useRealTimers();
  }
}

const runsOf = (received: Received[]) =>
  received.map((r) => (JSON.parse(r.body) as { data: { runId: string } }).data.runId);

describe("deliverDestination", () => {
  it("sends pending deliveries in sequence order, signed so the standardwebhooks library verifies them", async () => {
    const { ref, secret } = await webhookDestination("order", "/order");
    const ids = await enqueue(ref, ["r1", "r2", "r3"]);
    const pass = await deliverDestination(deps(), ref, time);
    expect(pass).toMatchObject({ outcome: "sent", delivered: 3, retried: 0, failed: 0, pending: false });
    const got = receiver.of("/order");
    expect(runsOf(got)).toEqual(["r1", "r2", "r3"]);
    expect(got.map((r) => r.headers["webhook-id"])).toEqual(ids);
    expect(got.map((r) => r.headers["webhook-timestamp"])).toEqual(
      ids.map(() => String(Math.floor(time / 1000))),
    );
    for (const r of got) {
      expect(() => verify(secret, r)).not.toThrow();
    }
    expect((await store.listPendingDeliveries(ref, 10)).length).toBe(0);
    const outbox = await store.listDeliveries(ref, 10);
    expect(outbox.items.map((d) => [d.seq, d.status, d.attempts, d.lastStatusCode])).toEqual([
      [3, "delivered", 1, 204],
      [2, "delivered", 1, 204],
      [1, "delivered", 1, 204],
    ]);
    const log = await store.listAttempts(ref, 10);
    expect(log.items.map((a) => [a.seq, a.outcome, a.statusCode, a.attempt])).toEqual(
      expect.arrayContaining([
        [1, "delivered", 204, 1],
        [2, "delivered", 204, 1],
        [3, "delivered", 204, 1],
      ]),
    );
    // Neither the outbox nor the log holds a customer id or the receiver's answer.
    const stored = JSON.stringify([outbox, log]);
    for (const id of CUSTOMERS) expect(stored).not.toContain(id);
    expect(stored).not.toContain("answer text");
  });

  it("retries a failed delivery with the same webhook-id after the jittered delay, holding back later ones", async () => {
    const { ref, secret } = await webhookDestination("retry", "/retry");
    const [first, second] = await enqueue(ref, ["r1", "r2"]);
    receiver.status = 500;
    const start = time;
    const pass1 = await deliverDestination(deps(), ref, time);
    expect(pass1).toMatchObject({ delivered: 0, retried: 1, pending: true });
    expect(runsOf(receiver.of("/retry"))).toEqual(["r1"]);
    const [head] = await store.listPendingDeliveries(ref, 1);
    // Attempt 1 failed: the next waits random × 5 s = 2.5 s (random is 0.5).
    expect(head?.nextAttemptAt).toBe(start + 2500);
    expect(head?.lastError).toBe("HTTP 500");
    expect((await store.getDestination(ref))?.consecutiveFailures).toBe(1);

    // Not due yet: nothing is sent, and r2 never overtakes r1.
    time = start + 2499;
    expect(await deliverDestination(deps(), ref, time)).toMatchObject({ delivered: 0, retried: 0 });
    expect(receiver.of("/retry")).toHaveLength(1);

    time = start + 2500;
    receiver.status = 200;
    expect(await deliverDestination(deps(), ref, time)).toMatchObject({ delivered: 2, pending: false });
    const got = receiver.of("/retry");
    expect(runsOf(got)).toEqual(["r1", "r1", "r2"]);
    expect(got.map((r) => r.headers["webhook-id"])).toEqual([first, first, second]);
    // The retry is signed afresh and verifies.
    for (const r of got) verify(secret, r);
    expect((await store.getDestination(ref))?.consecutiveFailures).toBe(0);
    const log = (await store.listAttempts(ref, 10)).items;
    expect(log.map((a) => [a.webhookId, a.attempt, a.outcome, a.statusCode])).toEqual([
      [second, 1, "delivered", 200],
      [first, 2, "delivered", 200],
      [first, 1, "retry", 500],
    ]);
  });

  it("fails a delivery that failed every attempt, disables the destination with the reason, queues what follows, and resumes in order when enabled", async () => {
    const { ref } = await webhookDestination("disable", "/disable");
    const [doomed] = await enqueue(ref, ["r1"]);
    receiver.status = 503;
    const firstAt = time;
    const schedule = [1, 2];
    // Attempts at 0 s, then (random 0.5) +0.5 s, +1 s, +1 s, …: exhausted at the first failure after 3 s.
    let passes = 0;
    for (;;) {
      const pass = await deliverDestination(deps({ schedule }), ref, time);
      passes++;
      if (pass.failed === 1) break;
      expect(pass.retried).toBe(1);
      const [head] = await store.listPendingDeliveries(ref, 1);
      time = head?.nextAttemptAt ?? time;
      expect(passes).toBeLessThan(10);
    }
    const attempts = receiver.of("/disable");
    // 0, 0.5, 1.5, 2.5, 3.5 s: five attempts, the last one after the 3 s window.
    expect(attempts).toHaveLength(5);
    expect(new Set(attempts.map((r) => r.headers["webhook-id"]))).toEqual(new Set([doomed]));
    const disabled = await store.getDestination(ref);
    expect(disabled?.status).toBe("disabled");
    expect(disabled?.disabledReason).toBe(
      `delivery ${doomed} failed every attempt from ${new Date(firstAt).toISOString()} to ${new Date(time).toISOString()}`,
    );
    const log = (await store.listAttempts(ref, 10)).items;
    expect(log.map((a) => a.outcome)).toEqual(["failed", "retry", "retry", "retry", "retry"]);
    expect(log.every((a) => a.statusCode === 503)).toBe(true);

    // While disabled, new deliveries wait unsent.
    receiver.status = 204;
    await enqueue(ref, ["r2", "r3"]);
    time += 60_000;
    expect(await deliverDestination(deps({ schedule }), ref, time)).toMatchObject({ outcome: "disabled" });
    expect(receiver.of("/disable")).toHaveLength(5);

    // What POST …/enable does to the record.
    await store.updateDestinationState(ref, {
      status: "enabled",
      disabledReason: undefined,
      disabledAt: undefined,
      consecutiveFailures: 0,
      updatedAt: new Date(time).toISOString(),
    });
    const enabled = await store.getDestination(ref);
    expect(enabled?.status).toBe("enabled");
    expect(enabled?.disabledReason).toBeUndefined();
    expect(enabled?.consecutiveFailures).toBe(0);
    expect(await deliverDestination(deps({ schedule }), ref, time)).toMatchObject({ delivered: 2 });
    expect(runsOf(receiver.of("/disable")).slice(5)).toEqual(["r2", "r3"]);
    const outbox = (await store.listDeliveries(ref, 10)).items;
    expect(outbox.map((d) => [d.runId, d.status])).toEqual([
      ["r3", "delivered"],
      ["r2", "delivered"],
      ["r1", "failed"],
    ]);
  });

  it("lets one worker at a time send a destination's deliveries", async () => {
    const { ref } = await webhookDestination("lease", "/lease");
    await enqueue(ref, ["r1", "r2"]);
    let release: () => void = () => undefined;
    receiver.hold = new Promise<void>((ok) => {
      release = ok;
    });
    receiver.maxInFlight = 0;
    const first = deliverDestination(deps(), ref, time);
    await waitFor(() => receiver.of("/lease").length === 1, { description: "the first request" });
    const second = await deliverDestination(deps(), ref, time);
    expect(second).toMatchObject({ outcome: "busy", delivered: 0 });
    release();
    expect(await first).toMatchObject({ delivered: 2 });
    expect(runsOf(receiver.of("/lease"))).toEqual(["r1", "r2"]);
    expect(receiver.maxInFlight).toBe(1);
  });

  it("signs with the previous secret too while a rotation's grace lasts, and with the new one alone after", async () => {
    const { ref, secret: old, record } = await webhookDestination("rotate", "/rotate");
    const fresh = newWebhookSecret();
    const freshRef = await secrets.create(`${ref.destinationId}-2`, fresh);
    const until = new Date(time + 24 * 3600_000).toISOString();
    await store.replaceDestination({
      ...record,
      webhook: {
        url: receiver.url("/rotate"),
        secretRef: freshRef,
        rotatedAt: new Date(time).toISOString(),
        previousSecretRef: record.webhook?.secretRef as string,
        previousSecretUntil: until,
      },
    });
    await enqueue(ref, ["during"]);
    await deliverDestination(deps(), ref, time);
    time += 24 * 3600_000 + 1;
    await enqueue(ref, ["after"]);
    await deliverDestination(deps(), ref, time);
    const [during, after] = receiver.of("/rotate");
    if (!during || !after) throw new Error("two deliveries expected");
    expect(String(during.headers["webhook-signature"]).split(" ")).toHaveLength(2);
    for (const s of [old, fresh]) verify(s, during);
    expect(String(after.headers["webhook-signature"]).split(" ")).toHaveLength(1);
    verify(fresh, after);
    expect(() => verify(old, after)).toThrow();
  });

  it("checks the URL on every attempt: a host that now resolves to the metadata address gets nothing", async () => {
    const { ref, record } = await webhookDestination("ssrf", "/ssrf");
    await store.replaceDestination({
      ...record,
      webhook: {
        ...(record.webhook as NonNullable<DestinationRecord["webhook"]>),
        url: "http://hooks.example.test/in",
      },
    });
    await enqueue(ref, ["r1"]);
    const sent: string[] = [];
    const pass = await deliverDestination(
      deps({
        resolve: async () => [{ address: "169.254.169.254", family: 4 }],
        send: async (target) => {
          sent.push(target.address.address);
          return { statusCode: 200 };
        },
      }),
      ref,
      time,
    );
    expect(pass).toMatchObject({ delivered: 0, retried: 1 });
    expect(sent).toEqual([]);
    const [attempt] = (await store.listAttempts(ref, 1)).items;
    expect(attempt?.error).toMatch(/^URL_FORBIDDEN_ADDRESS: .*link-local/);
    expect(attempt?.statusCode).toBeUndefined();
  });
});

describe("sweepDeliveries", () => {
  it("sends what is due in every dataset and clears the marks of destinations with nothing left", async () => {
    const a = await webhookDestination("sweep-a", "/sweep-a");
    const b = await webhookDestination("sweep-b", "/sweep-b");
    await enqueue(a.ref, ["a1", "a2"]);
    await enqueue(b.ref, ["b1"]);
    const report = await sweepDeliveries(deps(), time);
    expect(report.errors).toBe(0);
    expect(runsOf(receiver.of("/sweep-a"))).toEqual(["a1", "a2"]);
    expect(runsOf(receiver.of("/sweep-b"))).toEqual(["b1"]);
    const marked = (await store.listPendingMarkers()).map((m) => m.destinationId);
    expect(marked).not.toContain(a.ref.destinationId);
    expect(marked).not.toContain(b.ref.destinationId);
  });
});
