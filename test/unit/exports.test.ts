/**
 * Member exports carry the 80% intervals of CLV and expected purchases, and leave probability_alive and
 * churn_risk empty where the version's model cannot tell (BG/NBD, a customer without a repeat purchase)
 * instead of writing 1 and 0.
 */
import { describe, expect, it } from "vitest";
import { exportRoutes } from "../../shared/api/exports";
import { type CustomerView, type DatasetMeta, datasetMetaSchema } from "../../shared/model";
import { encodeOutputs } from "../../shared/pipeline/outputs";
import type { BlobStore, DatasetStore } from "../../shared/pipeline/ports";

const base = {
  firstPurchase: "1997-01-01",
  frequency: 1,
  monetary: 20,
  r: 1,
  f: 1,
  m: 1,
  rfm: "111",
  expectedPurchases: 0.5,
  expectedPurchasesLow: 0.4,
  expectedPurchasesHigh: 0.62,
  clv: 12.5,
  clvLow: 10.25,
  clvHigh: 15,
  segments: ["rfm:lost"],
};
const views: Record<string, CustomerView> = {
  once: { ...base, lastPurchase: "1997-01-01", probabilityAlive: 1, repeatPurchases: 0 },
  twice: { ...base, lastPurchase: "1997-02-01", probabilityAlive: 0.25, repeatPurchases: 1 },
};

async function exportRows(selectedModel: string): Promise<string[][]> {
  const meta: DatasetMeta = datasetMetaSchema.parse({
    tenantId: "t",
    datasetId: "shop",
    createdAt: "2025-01-01T00:00:00.000Z",
    current: {
      version: 1,
      runId: "run-1",
      asOf: "1998-07-01",
      completedAt: "2025-01-01T00:00:00.000Z",
      customerCount: 2,
      orderCount: 3,
      segments: [
        {
          id: "rfm:lost",
          family: "rfm",
          name: "Lost",
          description: "",
          size: 2,
          share: 1,
          revenue: 40,
          revenueShare: 1,
          averageOrderValue: 20,
        },
      ],
      value: { horizonDays: 365, selectedModel },
    },
  });
  let written = "";
  const blobs: Partial<BlobStore> = {
    get: async () => encodeOutputs(new Map(Object.entries(views).map(([id, v]) => [id, JSON.stringify(v)]))),
    put: async (_key, body) => {
      written = String(body);
    },
    presignGet: async (key) => `https://bucket.example/${key}`,
  };
  const store: Partial<DatasetStore> = { getDataset: async () => meta };
  const routes = exportRoutes({ store: store as DatasetStore, blobs: blobs as BlobStore });
  await routes.createExport?.({
    routeId: "createExport",
    params: { datasetId: "shop", segmentId: "rfm:lost" },
    query: {},
    body: {
      columns: [
        "customer_id",
        "probability_alive",
        "churn_risk",
        "expected_purchases_low",
        "expected_purchases_high",
        "clv",
        "clv_low",
        "clv_high",
      ],
    },
    tenantId: "t",
    requestId: "r",
  });
  return written
    .trim()
    .split("\r\n")
    .map((line) => line.split(","));
}

describe("member exports", () => {
  it("leave churn risk empty for a one-time buyer under BG/NBD, and carry the intervals", async () => {
    expect(await exportRows("bgNbd")).toEqual([
      [
        "customer_id",
        "probability_alive",
        "churn_risk",
        "expected_purchases_low",
        "expected_purchases_high",
        "clv",
        "clv_low",
        "clv_high",
      ],
      ["once", "", "", "0.4", "0.62", "12.5", "10.25", "15"],
      ["twice", "0.25", "0.75", "0.4", "0.62", "12.5", "10.25", "15"],
    ]);
  });

  it("state it for everyone under a model in which one-time buyers can be gone", async () => {
    const rows = await exportRows("paretoNbd");
    expect(rows[1]?.slice(0, 3)).toEqual(["once", "1", "0"]);
  });
});
