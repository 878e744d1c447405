/**
 * The deliver function as Lambda loads it (configured from the environment, aimed at DynamoDB Local and the
 * S3 server): an SQS batch of wake-ups sends each destination's deliveries to a real receiver; a wake-up
 * whose pass fails (a DynamoDB error injected at the client) is reported as a batch item failure so SQS
 * retries it, and only that one; a malformed wake-up is dropped, not retried; a scheduled event sweeps every
 * destination with deliveries waiting. The handler built by its factory (functions/deliver/core.ts) on a
 * delivery queue of the test's own wakes itself through that queue when a pass runs short of time.
 */

import { mkdtemp } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetCommand } from "@aws-sdk/lib-dynamodb";
import type { Context, SQSBatchResponse } from "aws-lambda";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { S3_SERVER_CREDENTIALS } from "../../scripts/emulators/s3-server";
import type { SweepReport } from "../../shared/destinations/deliver";
import {
  type DestinationRecord,
  type DestinationRef,
  newDestinationId,
  newWebhookId,
} from "../../shared/destinations/model";
import { newWebhookSecret } from "../../shared/destinations/webhook";
import type { Runtime } from "../../shared/runtime";
import { createTestBucket, createTestTable, testClients } from "../support/aws";

type Core = (event: unknown, context?: Pick<Context, "getRemainingTimeInMillis">) => Promise<unknown>;

const seen: Array<{ path: string; id: string; verified: boolean }> = [];
const secrets = new Map<string, string>();
const server = http.createServer((req, res) => {
  let body = "";
  req.on("data", (c) => {
    body += c;
  });
  req.on("end", () => {
    const path = req.url ?? "";
    const headers = {
      "webhook-id": String(req.headers["webhook-id"]),
      "webhook-timestamp": String(req.headers["webhook-timestamp"]),
      "webhook-signature": String(req.headers["webhook-signature"]),
    };
    let verified = true;
    try {
      new Webhook(secrets.get(path) ?? "").verify(body, headers);
    } catch {
      verified = false;
    }
    seen.push({ path, id: headers["webhook-id"], verified });
    res.statusCode = 200;
    res.end();
  });
});

let core: Core;
let rt: Runtime;

beforeAll(async () => {
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const clients = testClients();
  const table = await createTestTable(clients.dynamo);
  const bucket = await createTestBucket(clients.s3);
  // The environment the stack gives the function, aimed at the local servers.
  Object.assign(process.env, {
    TABLE_NAME: table,
    BUCKET_NAME: bucket,
    AWS_REGION: "us-east-1",
    AWS_ENDPOINT_URL_DYNAMODB: clients.endpoints.dynamodb,
    AWS_ENDPOINT_URL_S3: clients.endpoints.s3,
    AWS_ACCESS_KEY_ID: S3_SERVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3_SERVER_CREDENTIALS.secretAccessKey,
    LOCAL_SECRETS_DIR: await mkdtemp(join(tmpdir(), "deliver-secrets-")),
    ALLOW_LOOPBACK_WEBHOOKS: "true",
  });
  core = (await import("../../functions/deliver/handler")).deliverCore as Core;
  rt = (await import("../../shared/runtime")).runtime();
});
afterAll(() => new Promise<void>((ok) => server.close(() => ok())));

async function destinationWithOneDelivery(datasetId: string): Promise<{ ref: DestinationRef; path: string }> {
  const destinationId = newDestinationId();
  const path = `/${datasetId}`;
  const secret = newWebhookSecret();
  secrets.set(path, secret);
  const now = new Date().toISOString();
  const record: DestinationRecord = {
    tenantId: "t",
    datasetId,
    destinationId,
    name: datasetId,
    kind: "webhook",
    segments: ["rfm:champions"],
    includeOptedOut: false,
    status: "enabled",
    consecutiveFailures: 0,
    createdAt: now,
    updatedAt: now,
    webhook: {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`,
      secretRef: await rt.secrets.create(destinationId, secret),
    },
  };
  await rt.destinations.createDestination(record, 20);
  const ref = { tenantId: "t", datasetId, destinationId };
  const webhookId = newWebhookId();
  const payloadKey = `deliveries/t/${datasetId}/${destinationId}/${webhookId}.json`;
  await rt.blobs.put(payloadKey, JSON.stringify({ type: "segment.membership.changed" }), "application/json");
  await rt.destinations.enqueueDeliveries(ref, [
    {
      webhookId,
      runId: "r1",
      version: 1,
      segmentId: "rfm:champions",
      part: 1,
      parts: 1,
      payloadKey,
      status: "pending",
      attempts: 0,
      nextAttemptAt: Date.now(),
      createdAt: now,
      entered: 1,
      left: 0,
    },
  ]);
  return { ref, path };
}

const sqs = (bodies: string[]) => ({
  Records: bodies.map((body, i) => ({ messageId: `m${i}`, body, eventSource: "aws:sqs" })),
});
const enough = { getRemainingTimeInMillis: () => 120_000 };

describe("deliver function", () => {
  it("sends each wake-up's destination, reports only the failed pass for retry, and drops a malformed wake-up", async () => {
    const ok = await destinationWithOneDelivery("wake-ok");
    const broken = await destinationWithOneDelivery("wake-broken");
    const send = rt.clients.doc.send.bind(rt.clients.doc);
    const spy = vi.spyOn(rt.clients.doc, "send").mockImplementation(((command: unknown) => {
      const key = command instanceof GetCommand ? JSON.stringify(command.input.Key) : "";
      if (key.includes(broken.ref.destinationId)) {
        return Promise.reject(Object.assign(new Error("injected"), { name: "InternalServerError" }));
      }
      return send(command as never);
    }) as typeof rt.clients.doc.send);
    let answer: SQSBatchResponse;
    try {
      answer = (await core(
        sqs([
          JSON.stringify(ok.ref),
          JSON.stringify(broken.ref),
          "not json",
          JSON.stringify({ tenantId: "t" }),
        ]),
        enough,
      )) as SQSBatchResponse;
    } finally {
      spy.mockRestore();
    }
    expect(answer.batchItemFailures).toEqual([{ itemIdentifier: "m1" }]);
    expect(seen.filter((s) => s.path === ok.path)).toHaveLength(1);
    expect(seen.filter((s) => s.path === broken.path)).toHaveLength(0);
    expect(seen.every((s) => s.verified)).toBe(true);

    // SQS's retry of the failed message, with DynamoDB answering again, delivers it.
    const retry = (await core(sqs([JSON.stringify(broken.ref)]), enough)) as SQSBatchResponse;
    expect(retry.batchItemFailures).toEqual([]);
    expect(seen.filter((s) => s.path === broken.path)).toHaveLength(1);
  });

  it("sweeps every destination with deliveries waiting on a scheduled event", async () => {
    const a = await destinationWithOneDelivery("sweep-1");
    const b = await destinationWithOneDelivery("sweep-2");
    const report = (await core(
      {
        version: "0",
        id: "e1",
        "detail-type": "Scheduled Event",
        source: "aws.events",
        time: new Date().toISOString(),
        detail: {},
      },
      enough,
    )) as SweepReport;
    expect(report.errors).toBe(0);
    expect(report.delivered).toBeGreaterThanOrEqual(2);
    expect(seen.filter((s) => s.path === a.path || s.path === b.path)).toHaveLength(2);
    expect((await rt.destinations.listPendingMarkers()).map((m) => m.destinationId)).not.toContain(
      a.ref.destinationId,
    );
  });

  it("built by its factory, wakes itself through the delivery queue it was given when a pass runs short of time", async () => {
    const { createDeliverHandler } = await import("../../functions/deliver/core");
    const woken: DestinationRef[] = [];
    // The runtime's own queue is none here (no DELIVERY_QUEUE_URL): only the one handed in can hear this.
    const built = createDeliverHandler({
      ...rt,
      deliveryQueue: {
        async notify(ref) {
          woken.push(ref);
        },
      },
    });
    const late = await destinationWithOneDelivery("wake-late");
    // Less time left than the function keeps in reserve: the pass stops before its first attempt.
    const short = (await built.core(sqs([JSON.stringify(late.ref)]), {
      getRemainingTimeInMillis: () => 1_000,
    })) as SQSBatchResponse;
    expect(short.batchItemFailures).toEqual([]);
    expect(woken).toEqual([late.ref]);
    expect(seen.filter((s) => s.path === late.path)).toHaveLength(0);

    // The wake-up it sent itself, with time enough, delivers.
    const again = (await built.core(sqs([JSON.stringify(late.ref)]), enough)) as SQSBatchResponse;
    expect(again.batchItemFailures).toEqual([]);
    expect(seen.filter((s) => s.path === late.path)).toHaveLength(1);
    expect(woken).toHaveLength(1);
  });

  it("refuses an event that is neither a batch of wake-ups nor a scheduled event", async () => {
    await expect(core({ hello: "world" }, enough)).rejects.toThrow();
  });
});
