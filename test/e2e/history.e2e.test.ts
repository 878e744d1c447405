/**
 * A customer's membership history through the local service (`npm start`'s real servers): two uploads that
 * move a known customer, and the history the API then serves for them, through the typed client.
 *
 * The move is worked out by hand (rules in test/fixtures/e2e/transactions.expected.md). After the fixture,
 * C03 is Lost (R 1, F 1, M 1). The second file adds two orders of 900.00 on 2025-09-29 and 2025-09-30:
 *   R: C03's last purchase 2025-09-30 ties C05's as the newest of eight distinct days: R = 5.
 *   F: purchase days 1 (C05, C06, C09, C10), 2 (C02, C07), 3 (C01, C03), 4 (C04), 5 (C08); D = 5, q for 3 is
 *      1 + ⌊5 × 6 / 10⌋ = 4, capped at one step above F(2) = 2: F = 3.
 *   M: 1,820.00, second of ten distinct totals after C08's 2,000.00: 1 + ⌊5 × 8 / 10⌋ = 5.
 *   FM = ⌊(3 + 5 + 1) / 2⌋ = 4; R 5 × FM 4 is Champions.
 * So the second run moves C03 out of Lost and into Champions. Segments of other families (lifecycle) are
 * checked against what the customer route serves before and after each upload.
 */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { uploadFile } from "../../scripts/local/upload";
import { createClient } from "../../shared/client";
import { type LocalService, startLocalService } from "./local-service";

let service: LocalService;

beforeAll(async () => {
  service = await startLocalService({ args: ["--no-demo", "--refresh-every", "0"] });
}, 120_000);

afterAll(async () => {
  await service?.stop();
});

const SECOND = Buffer.from(
  "customer_id,order_id,order_date,amount,channel\nC03,O302,2025-09-29,900.00,web\nC03,O303,2025-09-30,900.00,web\n",
);

describe("a customer's membership history", () => {
  it("shows exactly the entries and exits two uploads caused, newest first, page by page", async () => {
    const api = createClient({ baseUrl: service.api, token: service.token });
    const params = { datasetId: "moves", customerId: "C03" };
    await api.createDataset({
      body: { datasetId: "moves", settings: { asOf: "2025-10-01", clusters: { enabled: false } } },
    });
    const fixture = await readFile(resolve(import.meta.dirname, "../fixtures/e2e/transactions.csv"));
    const upload = (name: string, body: Uint8Array) =>
      uploadFile(service.api, "moves", name, body, { waitMs: 120_000, token: service.token });

    const first = await upload("transactions.csv", fixture);
    expect(first.status).toBe("succeeded");
    const before = (await api.getCustomer({ params })).segments.map((s) => s.id).sort();
    expect(before).toContain("rfm:lost");

    const second = await upload("more.csv", SECOND);
    expect(second.status).toBe("succeeded");
    const after = (await api.getCustomer({ params })).segments.map((s) => s.id).sort();
    expect(after).toContain("rfm:champions");

    const runs = new Map(
      (await api.listRuns({ params: { datasetId: "moves" } })).runs.map((r) => [r.runId, r]),
    );
    const entry = (runId: string, entered: string[], left: string[]) => ({
      runId,
      version: runs.get(runId)?.version,
      asOf: "2025-10-01",
      completedAt: runs.get(runId)?.finishedAt,
      entered: entered.map((segmentId) => expect.objectContaining({ segmentId })),
      left: left.map((segmentId) => expect.objectContaining({ segmentId })),
    });
    const page1 = await api.getCustomerHistory({ params, query: { limit: 1 } });
    expect(page1.version).toBe(2);
    expect(page1.entries).toEqual([
      entry(
        second.runId,
        after.filter((s) => !before.includes(s)),
        before.filter((s) => !after.includes(s)),
      ),
    ]);
    expect(page1.entries[0]?.entered).toContainEqual({ segmentId: "rfm:champions", name: "Champions" });
    expect(page1.entries[0]?.left).toContainEqual({ segmentId: "rfm:lost", name: "Lost" });
    expect(page1.nextCursor).not.toBeNull();

    const page2 = await api.getCustomerHistory({
      params,
      query: { limit: 1, cursor: page1.nextCursor ?? undefined },
    });
    expect(page2.entries).toEqual([entry(first.runId, before, [])]);
    expect(page2.nextCursor).toBeNull();

    // The whole history in one page is the same two entries.
    const all = await api.getCustomerHistory({ params });
    expect(all.entries.map((e) => e.runId)).toEqual([second.runId, first.runId]);
  });
});
