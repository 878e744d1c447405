/**
 * A sharded run end to end, as a user meets it: the local service with a low sharding threshold, a file
 * uploaded through the presigned POST, the S3 event handed by the compute function to the sharded runner,
 * and the result read back over HTTP. The expected figures come from the engine run on the same file in
 * one piece, in this test.
 */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunSummary, uploadFile } from "../../scripts/local/upload";
import { AggregateState, computeSegments, ingestTransactions } from "../../shared/engine";
import { type LocalService, startLocalService } from "./local-service";

const FILE = resolve(import.meta.dirname, "../fixtures/e2e/transactions.csv");
const AS_OF = "2025-10-01";

let service: LocalService;

// biome-ignore lint/suspicious/noExplicitAny: API answers are JSON read field by field by the assertions.
type Json = any;

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${service.api}${path}`, {
    method,
    headers: { ...service.auth, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: await res.json() };
}

beforeAll(async () => {
  // Any file past 100 bytes runs sharded.
  service = await startLocalService({ args: ["--no-demo"], env: { SHARD_THRESHOLD_BYTES: "100" } });
}, 120_000);

afterAll(async () => {
  await service?.stop();
});

describe("an upload past the sharding threshold", () => {
  it("runs sharded and serves the same segments and customers as the engine computes in one piece", {
    timeout: 240_000,
  }, async () => {
    const created = await call("POST", "/datasets", { datasetId: "big", settings: { asOf: AS_OF } });
    expect(created.status).toBe(201);
    const body = await readFile(FILE);
    const run: RunSummary = await uploadFile(service.api, "big", FILE, body, {
      mode: "replace",
      waitMs: 120_000,
      token: service.token,
    });
    expect(run.status).toBe("succeeded");

    const state = new AggregateState();
    await ingestTransactions(
      (async function* () {
        yield body;
      })(),
      { format: "csv", compression: "none" },
      state,
    );
    const expected = computeSegments(state, { asOf: AS_OF, clusters: {}, value: {}, rules: [] });

    const dataset = await call("GET", "/datasets/big");
    expect(dataset.body.current.customerCount).toBe(expected.customerCount);
    expect(dataset.body.current.sharded).toBe(true);
    const segments = (await call("GET", "/datasets/big/segments")).body.segments as Array<{
      id: string;
      size: number;
      revenue: number;
    }>;
    const bySegment = new Map(expected.segments.map((s) => [s.id, s]));
    expect(segments.map((s) => s.id).sort()).toEqual([...bySegment.keys()].sort());
    for (const s of segments) {
      expect(s.size, s.id).toBe(bySegment.get(s.id)?.size);
      expect(s.revenue, s.id).toBeCloseTo(bySegment.get(s.id)?.revenue ?? Number.NaN, 2);
    }

    for (let i = 0; i < expected.customerCount; i++) {
      const c = expected.customer(i);
      const answer = await call("GET", `/datasets/big/customers/${encodeURIComponent(c.customerId)}`);
      expect(answer.status, c.customerId).toBe(200);
      expect(answer.body, c.customerId).toMatchObject({
        frequency: c.frequency,
        recencyDays: c.recencyDays,
        scores: { r: c.r, f: c.f, m: c.m, rfm: c.rfm },
        lifecycle: { id: c.lifecycle },
      });
      expect(answer.body.cluster?.id, c.customerId).toBe(c.cluster);
      expect(answer.body.monetary, c.customerId).toBeCloseTo(c.monetary, 2);
      const ids = (answer.body.segments as Array<{ id: string }>).map((s) => s.id).sort();
      expect(ids, c.customerId).toEqual([...c.segments].sort());
    }

    const runs = (await call("GET", "/datasets/big/runs")).body.runs as Array<Record<string, Json>>;
    expect(runs[0]).toMatchObject({ status: "succeeded", counts: { customers: expected.customerCount } });
  });
});
