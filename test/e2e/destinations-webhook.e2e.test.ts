/**
 * Webhook destinations through the real local service (`npm start`) and a real HTTP receiver in this test:
 *
 * - a webhook destination following two RFM segments receives, for each run, exactly the ids that entered and
 *   left each segment, computed here from the API's member pages before and after the run, in run order,
 *   every request verified with the standardwebhooks library and the secret the create answer showed once;
 * - when the receiver answers 500, the retries carry the same webhook-id; with DELIVERY_RETRY_SCHEDULE=1,1,1
 *   the delivery fails after its schedule and the destination is disabled with the documented reason;
 * - a later run's deliveries wait while it is disabled, and POST …/enable sends them, in order;
 * - the admin deliveries route shows the outbox and the attempts with their status codes; a read token is
 *   refused it (403).
 *
 * The runs: v1 = transactions.csv; v2 appends orders that move known customers (C03 leaves rfm:lost);
 * v3 replaces the data with transactions.csv again, so its changes are v2's reversed; v4 replaces it with
 * v2's data once more.
 */

import { readFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { resolve } from "node:path";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localKeys, mintToken } from "../../scripts/local/auth";
import { uploadFile } from "../../scripts/local/upload";
import { waitFor } from "../support/aws";
import { type LocalService, startLocalService } from "./local-service";

// biome-ignore lint/suspicious/noExplicitAny: API answers are JSON read field by field by the assertions.
type Json = any;

const DATASET = "hooks";
const SEGMENTS = ["rfm:champions", "rfm:lost"];
const HEADER = "customer_id,order_id,order_date,amount,channel\n";
const MOVES = [
  "C03,O302,2025-09-29,900.00,web",
  "C03,O303,2025-09-30,400.00,web",
  "C10,O1003,2025-09-27,300.00,store",
  "",
].join("\n");

interface Delivery {
  webhookId: string;
  timestamp: string;
  verified: boolean;
  status: number;
  runId: string;
  segmentId: string;
  part: number;
  parts: number;
  entered: string[];
  left: string[];
}

/** The receiver: answers `status`, verifies every request with standardwebhooks, keeps what it saw. */
const receiver = {
  status: 204,
  seen: [] as Delivery[],
  secret: "",
  server: undefined as http.Server | undefined,
  url: "",
};

let service: LocalService;

async function call(
  method: string,
  path: string,
  body?: unknown,
  token = service.token,
): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${service.api}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text === "" ? undefined : JSON.parse(text) };
}

async function members(segmentId: string): Promise<Set<string>> {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const query: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
    const page = await call("GET", `/datasets/${DATASET}/segments/${segmentId}/members?limit=100${query}`);
    if (page.status === 404) return new Set();
    expect(page.status).toBe(200);
    ids.push(...page.body.customerIds);
    cursor = page.body.nextCursor;
  } while (cursor);
  return new Set(ids);
}

async function snapshot(): Promise<Record<string, Set<string>>> {
  const out: Record<string, Set<string>> = {};
  for (const s of SEGMENTS) out[s] = await members(s);
  return out;
}

type Change = { segmentId: string; entered: string[]; left: string[] };

/** Each followed segment's entered and left ids between two member snapshots; unchanged segments left out. */
function changes(before: Record<string, Set<string>>, after: Record<string, Set<string>>): Change[] {
  return SEGMENTS.flatMap((segmentId) => {
    const b = before[segmentId] ?? new Set<string>();
    const a = after[segmentId] ?? new Set<string>();
    const entered = [...a].filter((id) => !b.has(id)).sort();
    const left = [...b].filter((id) => !a.has(id)).sort();
    return entered.length + left.length > 0 ? [{ segmentId, entered, left }] : [];
  });
}

/** What the receiver got for one run, parts merged, per segment (sorted by segment id). */
function received(runId: string, only?: (d: Delivery) => boolean): Change[] {
  const bySegment = new Map<string, Change>();
  const firstOfEach = new Map<string, Delivery>();
  for (const d of receiver.seen.filter((x) => x.runId === runId && x.status < 300 && (!only || only(x)))) {
    // A retried message counts once.
    if (firstOfEach.has(d.webhookId)) continue;
    firstOfEach.set(d.webhookId, d);
    const c = bySegment.get(d.segmentId) ?? { segmentId: d.segmentId, entered: [], left: [] };
    c.entered.push(...d.entered);
    c.left.push(...d.left);
    bySegment.set(d.segmentId, c);
  }
  return [...bySegment.values()]
    .map((c) => ({ ...c, entered: c.entered.sort(), left: c.left.sort() }))
    .sort((x, y) => x.segmentId.localeCompare(y.segmentId));
}

async function upload(name: string, body: string, mode: "append" | "replace") {
  const run = await uploadFile(service.api, DATASET, name, new TextEncoder().encode(body), {
    waitMs: 120_000,
    token: service.token,
    mode,
  });
  expect(run.status).toBe("succeeded");
  return run.runId;
}

let destinationId = "";
let base = "";
let extended = "";
const runs: string[] = [];
const expected: Record<string, Change[]> = {};

beforeAll(async () => {
  receiver.server = http.createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => {
      body += c;
    });
    req.on("end", () => {
      const headers = {
        "webhook-id": String(req.headers["webhook-id"]),
        "webhook-timestamp": String(req.headers["webhook-timestamp"]),
        "webhook-signature": String(req.headers["webhook-signature"]),
      };
      let verified = false;
      try {
        new Webhook(receiver.secret).verify(body, headers);
        verified = true;
      } catch {
        verified = false;
      }
      const parsed = JSON.parse(body) as { type: string; data: Json };
      receiver.seen.push({
        webhookId: headers["webhook-id"],
        timestamp: headers["webhook-timestamp"],
        verified: verified && parsed.type === "segment.membership.changed",
        status: receiver.status,
        runId: parsed.data.runId,
        segmentId: parsed.data.segmentId,
        part: parsed.data.part,
        parts: parsed.data.parts,
        entered: parsed.data.entered,
        left: parsed.data.left,
      });
      res.statusCode = receiver.status;
      res.end();
    });
  });
  await new Promise<void>((ok) => receiver.server?.listen(0, "127.0.0.1", ok));
  receiver.url = `http://127.0.0.1:${(receiver.server.address() as AddressInfo).port}/hooks/segments`;

  service = await startLocalService({
    args: ["--no-demo", "--refresh-every", "0"],
    env: { DELIVERY_RETRY_SCHEDULE: "1,1,1" },
  });
  base = await readFile(resolve(import.meta.dirname, "../fixtures/e2e/transactions.csv"), "utf8");
  extended = base.endsWith("\n") ? base + MOVES : `${base}\n${MOVES}`;
  const created = await call("POST", "/datasets", { datasetId: DATASET, settings: { asOf: "2025-10-01" } });
  expect(created.status).toBe(201);
}, 180_000);

afterAll(async () => {
  await service?.stop();
  await new Promise<void>((ok) => (receiver.server ? receiver.server.close(() => ok()) : ok()));
});

describe("webhook destinations", () => {
  it("creates a webhook destination, showing its signing secret once", async () => {
    const created = await call("POST", `/datasets/${DATASET}/destinations`, {
      name: "CRM",
      kind: "webhook",
      segments: SEGMENTS,
      webhook: { url: receiver.url },
    });
    expect(created.status).toBe(201);
    expect(created.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    receiver.secret = created.body.secret;
    destinationId = created.body.destinationId;
    const read = await call("GET", `/datasets/${DATASET}/destinations/${destinationId}`);
    expect(read.status).toBe(200);
    expect(read.body.status).toBe("enabled");
    expect(JSON.stringify(read.body)).not.toContain(receiver.secret);
    // A URL that points at the instance metadata address is refused even here.
    const metadata = await call("POST", `/datasets/${DATASET}/destinations`, {
      name: "bad",
      kind: "webhook",
      segments: SEGMENTS,
      webhook: { url: "http://169.254.169.254/latest/meta-data/" },
    });
    expect(metadata.status).toBe(400);
  });

  it("sends exactly the ids that entered and left each segment in two successive uploads, in run order, signed", async () => {
    const v0 = await snapshot();
    runs.push(await upload("first.csv", base, "append"));
    const v1 = await snapshot();
    runs.push(await upload("moves.csv", HEADER + MOVES, "append"));
    const v2 = await snapshot();
    expected[runs[0] as string] = changes(v0, v1);
    expected[runs[1] as string] = changes(v1, v2);
    // The moves were chosen so that C03, alone in rfm:lost after the first file, leaves it.
    expect(v1["rfm:lost"]?.has("C03")).toBe(true);
    expect(v2["rfm:lost"]?.has("C03")).toBe(false);
    expect(expected[runs[1] as string]?.find((c) => c.segmentId === "rfm:lost")?.left).toContain("C03");

    const count = (runId: string) => expected[runId]?.length ?? 0;
    await waitFor(() => received(runs[1] as string).length === count(runs[1] as string), {
      timeoutMs: 60_000,
      description: "the second run's deliveries",
    });
    for (const runId of runs.slice(0, 2)) expect(received(runId)).toEqual(expected[runId]);
    expect(receiver.seen.every((d) => d.verified)).toBe(true);
    expect(receiver.seen.every((d) => d.webhookId.startsWith("msg_"))).toBe(true);
    // Run order: every message of the first run arrived before any of the second.
    const order = receiver.seen.map((d) => runs.indexOf(d.runId));
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(new Set(receiver.seen.map((d) => d.webhookId)).size).toBe(receiver.seen.length);
  });

  it("retries with the same webhook-id while the receiver answers 500, then fails the delivery and disables the destination", async () => {
    receiver.status = 500;
    const before = await snapshot();
    const seenBefore = receiver.seen.length;
    runs.push(await upload("again.csv", base, "replace"));
    const runId = runs[2] as string;
    expected[runId] = changes(before, await snapshot());
    expect(expected[runId]?.length).toBeGreaterThan(0);

    const disabled = await waitFor(
      async () => {
        const d = await call("GET", `/datasets/${DATASET}/destinations/${destinationId}`);
        return d.body.status === "disabled" ? d.body : undefined;
      },
      { timeoutMs: 60_000, description: "the destination disabled" },
    );
    const attempts = receiver.seen.slice(seenBefore);
    const failedId = attempts[0]?.webhookId as string;
    // Every attempt was the same message, with the same webhook-id, each one signed afresh and verified.
    expect(attempts.length).toBeGreaterThanOrEqual(4);
    expect(new Set(attempts.map((a) => a.webhookId))).toEqual(new Set([failedId]));
    expect(attempts.every((a) => a.verified && a.runId === runId)).toBe(true);
    expect(disabled.disabledReason).toMatch(
      new RegExp(`^delivery ${failedId} failed every attempt from (\\S+) to (\\S+)$`),
    );
    const [, from, to] = /from (\S+) to (\S+)$/.exec(disabled.disabledReason) ?? [];
    // The schedule 1,1,1: at least its 3 s passed between the first attempt and the last.
    expect(Date.parse(to as string) - Date.parse(from as string)).toBeGreaterThanOrEqual(3000);

    // The admin route: the outbox entry failed with its attempts, and the attempt log with status codes.
    const log = await call("GET", `/datasets/${DATASET}/destinations/${destinationId}/deliveries?limit=100`);
    expect(log.status).toBe(200);
    const entry = log.body.deliveries.find((d: Json) => d.webhookId === failedId);
    expect(entry).toMatchObject({ status: "failed", attempts: attempts.length, lastStatusCode: 500, runId });
    const mine = log.body.attempts.filter((a: Json) => a.webhookId === failedId);
    expect(mine.map((a: Json) => a.statusCode)).toEqual(attempts.map(() => 500));
    expect(mine.map((a: Json) => a.outcome)).toEqual(["failed", ...attempts.slice(1).map(() => "retry")]);
    expect(
      log.body.attempts.filter((a: Json) => a.outcome === "delivered").every((a: Json) => a.statusCode < 300),
    ).toBe(true);
    // No customer id in the log.
    expect(JSON.stringify(log.body)).not.toMatch(/"C\d\d"/);

    // A read token cannot see the deliveries.
    const keys = await localKeys(service.dataDir);
    const reader = await mintToken(keys, { tenant: "demo", scopes: ["read"], ttlSeconds: 600 });
    const refused = await call(
      "GET",
      `/datasets/${DATASET}/destinations/${destinationId}/deliveries`,
      undefined,
      reader,
    );
    expect(refused.status).toBe(403);
  });

  it("keeps a later run's deliveries waiting while disabled and sends them, in order, once enabled", async () => {
    receiver.status = 204;
    const before = await snapshot();
    runs.push(await upload("moved-again.csv", extended, "replace"));
    const runId = runs[3] as string;
    expected[runId] = changes(before, await snapshot());
    expect(expected[runId]).toEqual(expected[runs[1] as string]);
    // Its messages are in the outbox, pending and never tried.
    const waiting = await waitFor(
      async () => {
        const log = await call(
          "GET",
          `/datasets/${DATASET}/destinations/${destinationId}/deliveries?limit=100`,
        );
        const mine = log.body.deliveries.filter((d: Json) => d.runId === runId);
        return mine.length > 0 ? mine : undefined;
      },
      { timeoutMs: 30_000, description: "the fourth run's deliveries in the outbox" },
    );
    expect(waiting.every((d: Json) => d.status === "pending" && d.attempts === 0)).toBe(true);
    expect(receiver.seen.some((d) => d.runId === runId)).toBe(false);

    const enabled = await call("POST", `/datasets/${DATASET}/destinations/${destinationId}/enable`);
    expect(enabled.status).toBe(200);
    expect(enabled.body.status).toBe("enabled");
    expect(enabled.body.disabledReason).toBeUndefined();
    await waitFor(() => received(runId).length === expected[runId]?.length, {
      timeoutMs: 60_000,
      description: "the fourth run's deliveries after enable",
    });
    expect(received(runId)).toEqual(expected[runId]);
    // The third run's failed message is not sent again; its other messages (if any) went before the fourth's.
    const third = runs[2] as string;
    const failedId = receiver.seen.find((d) => d.runId === third)?.webhookId;
    const afterEnable = receiver.seen.filter(
      (d) => d.status < 300 && (d.runId === third || d.runId === runId),
    );
    expect(afterEnable.some((d) => d.webhookId === failedId)).toBe(false);
    const order = afterEnable.map((d) => runs.indexOf(d.runId));
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(received(third, (d) => d.webhookId !== failedId)).toEqual(
      (expected[third] ?? []).filter(
        (c) => c.segmentId !== receiver.seen.find((d) => d.webhookId === failedId)?.segmentId,
      ),
    );
    expect(receiver.seen.every((d) => d.verified)).toBe(true);
  });
});
