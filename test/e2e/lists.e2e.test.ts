/**
 * A list segment and a rule over membership through the local service (`npm start`'s real servers): a list
 * "already-contacted" uploaded as a CSV over HTTP, a rule "Champions not in list:already-contacted", and the
 * rule's members after each recompute equal to the set worked out here: the fixture's Champions are C01 and C02
 * (by hand, test/fixtures/e2e/transactions.expected.md), minus the customers on the list.
 */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { uploadFile } from "../../scripts/local/upload";
import { createClient } from "../../shared/client";
import { type LocalService, startLocalService } from "./local-service";

let service: LocalService;
const DATASET = "lists";

beforeAll(async () => {
  service = await startLocalService({ args: ["--no-demo", "--refresh-every", "0"] });
}, 120_000);

afterAll(async () => {
  await service?.stop();
});

describe("lists and membership rules through the local service", () => {
  it("a rule 'Champions not in list:already-contacted' follows the list's changes", async () => {
    const api = createClient({ baseUrl: service.api, token: service.token });
    await api.createDataset({
      body: { datasetId: DATASET, settings: { asOf: "2025-10-01", clusters: { enabled: false } } },
    });
    const fixture = await readFile(resolve(import.meta.dirname, "../fixtures/e2e/transactions.csv"));
    const first = await uploadFile(service.api, DATASET, "transactions.csv", fixture, {
      waitMs: 120_000,
      token: service.token,
    });
    expect(first.status).toBe("succeeded");

    /** Waits (deadline only for a hang) until a recompute started after `since` has finished. */
    const recomputed = async (since: string) => {
      const deadline = Date.now() + 120_000;
      while (Date.now() < deadline) {
        const { runs } = await api.listRuns({ params: { datasetId: DATASET } });
        const run = runs.find(
          (r) => r.trigger === "definitions" && r.startedAt >= since && r.status !== "running",
        );
        if (run) return run;
        await new Promise((ok) => setTimeout(ok, 200));
      }
      throw new Error("no recompute finished before the deadline");
    };
    const members = async (segmentId: string) =>
      (
        await api.listSegmentMembers({ params: { datasetId: DATASET, segmentId }, query: { limit: 100 } })
      ).customerIds.sort();

    const champions = ["C01", "C02"];
    expect(await members("rfm:champions")).toEqual(champions);

    // The list as a CSV over HTTP: a header, one known champion and an id that is no customer.
    let since = new Date().toISOString();
    const csv = await fetch(
      `${service.api}/datasets/${DATASET}/lists/already-contacted?name=${encodeURIComponent("Already contacted")}`,
      {
        method: "PUT",
        headers: { "content-type": "text/csv", authorization: `Bearer ${service.token}` },
        body: "customer_id\nC01\nNOT-A-CUSTOMER\n",
      },
    );
    expect(csv.status).toBe(201);
    expect(await csv.json()).toMatchObject({
      listId: "list:already-contacted",
      size: 2,
      recompute: "requested",
    });
    expect((await recomputed(since)).status).toBe("succeeded");

    since = new Date().toISOString();
    await api.putDefinition({
      params: { datasetId: DATASET, segmentId: "rule:champions-to-contact" },
      body: {
        name: "Champions not yet contacted",
        rule: {
          and: [
            { field: "segment", op: "in_segment", value: "rfm:champions" },
            { field: "segment", op: "not_in_segment", value: "list:already-contacted" },
          ],
        },
      },
    });
    expect((await recomputed(since)).status).toBe("succeeded");
    let contacted = ["C01", "NOT-A-CUSTOMER"];
    expect(await members("rule:champions-to-contact")).toEqual(
      champions.filter((id) => !contacted.includes(id)),
    );
    expect(await members("list:already-contacted")).toEqual(["C01"]);
    const list = await api.getList({ params: { datasetId: DATASET, listId: "already-contacted" } });
    expect(list.lastRun).toMatchObject({
      current: true,
      members: 1,
      unknownIds: 1,
      unknownSample: ["NOT-A-CUSTOMER"],
    });
    const { segments } = await api.listSegments({ params: { datasetId: DATASET } });
    expect(segments.find((s) => s.id === "list:already-contacted")).toMatchObject({
      family: "list",
      size: 1,
    });

    since = new Date().toISOString();
    await api.changeListMembers({
      params: { datasetId: DATASET, listId: "already-contacted" },
      body: { add: ["C02"], remove: ["NOT-A-CUSTOMER"] },
    });
    expect((await recomputed(since)).status).toBe("succeeded");
    contacted = ["C01", "C02"];
    expect(await members("rule:champions-to-contact")).toEqual(
      champions.filter((id) => !contacted.includes(id)),
    );
    expect(await members("list:already-contacted")).toEqual(contacted);
  });
});
