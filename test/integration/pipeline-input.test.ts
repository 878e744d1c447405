/**
 * What the pipeline makes of awkward but well-formed input, on the real stores (DynamoDB Local and the S3
 * server): money whose float sums are noisy comes out exact to the cent in every stored figure and API
 * answer; amounts past the limits are rejected rows, never a crash or a retry; rows dated in the future are
 * rejected, and every row of a file is in the result or in the report; the report numbers rows by the file's
 * line. Expected values are worked out here from the file's text, in BigInt.
 */
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { parse } from "csv-parse/sync";
import { beforeAll, describe, expect, it } from "vitest";
import { datasetBody } from "../../shared/api/datasets";
import { exportRoutes } from "../../shared/api/exports";
import { runUpload } from "../../shared/pipeline/run";
import { DynamoDatasetStore } from "../../shared/store/dynamo";
import { objectKeys } from "../../shared/store/keys";
import { S3BlobStore } from "../../shared/store/s3";
import { createTestBucket, createTestTable, testClients, uniqueName } from "../support/aws";
import { stageUpload } from "../support/uploads";

let store: DynamoDatasetStore;
let blobs: S3BlobStore;
let stage: (datasetId: string, text: string, settings?: { asOf?: string }) => ReturnType<typeof stageUpload>;

beforeAll(async () => {
  const clients = testClients();
  const table = await createTestTable(clients.dynamo, uniqueName("input"));
  const bucket = await createTestBucket(clients.s3, uniqueName("input"));
  store = new DynamoDatasetStore(DynamoDBDocumentClient.from(clients.dynamo), table);
  blobs = new S3BlobStore(clients.s3, bucket);
  stage = (datasetId, text, settings) =>
    stageUpload({ store, s3: clients.s3, bucket }, datasetId, Buffer.from(text, "utf8"), {
      ...(settings === undefined ? {} : { settings }),
    });
});

const HEADER = "customer_id,order_id,order_date,amount";

function centsOf(text: string): bigint {
  const [whole = "0", fraction = ""] = text.replace("-", "").split(".");
  const cents = BigInt(whole) * 100n + BigInt(fraction.padEnd(2, "0"));
  return text.startsWith("-") ? -cents : cents;
}

/** Cents as the decimal a JSON number of them prints as (no trailing zeros). */
function jsonOf(cents: bigint): string {
  return String(Number(`${cents / 100n}.${(cents % 100n).toString().padStart(2, "0")}`));
}

/** total / n rounded half away from zero, for total ≥ 0. */
function meanCents(total: bigint, n: bigint): bigint {
  return (2n * total + n) / (2n * n);
}

async function reportOf(key: string | undefined): Promise<{ line: string; column: string; code: string }[]> {
  const bytes = key === undefined ? undefined : await blobs.get(key);
  if (bytes === undefined) return [];
  const text = Buffer.from(bytes).toString("utf8");
  expect(text.split("\n")[0]).toBe("line,column,code,reason");
  return parse(text, { columns: true });
}

describe("money in the pipeline's answers", () => {
  it("is exact to the cent where float sums are noisy: dataset revenue, segment revenue and order value, spend", async () => {
    // 60 customers, each with orders of 0.10, 0.20 and 0.70 and a few other amounts: summed as floats they
    // give 0.30000000000000004 and the like.
    const amounts = ["0.10", "0.20", "0.70", "19.99", "0.01", "344274.80", "2500277.31", "0.07"];
    const rows: { customer: string; amount: string }[] = [];
    const lines = [HEADER];
    for (let c = 0; c < 60; c++) {
      for (let k = 0; k <= c % amounts.length; k++) {
        const amount = amounts[(c + k) % amounts.length] as string;
        rows.push({ customer: `C${c}`, amount });
        lines.push(`C${c},o${c}-${k},2024-0${1 + (k % 6)}-1${c % 10},${amount}`);
      }
    }
    const floatSum = rows.reduce((sum, r) => sum + Number(r.amount), 0);
    const exact = rows.reduce((sum, r) => sum + centsOf(r.amount), 0n);
    // The premise: the float sum of the file's amounts is not the exact decimal.
    expect(String(floatSum)).not.toBe(jsonOf(exact));

    const outcome = await runUpload(
      { store, blobs },
      await stage("money", `${lines.join("\n")}\n`, { asOf: "2024-07-01" }),
    );
    expect(outcome.outcome).toBe("succeeded");
    const meta = await store.getDataset("t", "money");
    const body = JSON.stringify(datasetBody(meta as NonNullable<typeof meta>));
    expect(body).toContain(`"revenue":${jsonOf(exact)}`);

    const spend = new Map<string, { cents: bigint; orders: bigint; segments: string[] }>();
    for (const r of rows) {
      const s = spend.get(r.customer) ?? { cents: 0n, orders: 0n, segments: [] };
      s.cents += centsOf(r.amount);
      s.orders += 1n;
      spend.set(r.customer, s);
    }
    for (const [id, s] of spend) {
      const { view } = await store.getCustomer("t", "money", id);
      expect(JSON.stringify(view?.monetary)).toBe(jsonOf(s.cents));
      s.segments = view?.segments ?? [];
    }
    const segments = meta?.current?.segments ?? [];
    expect(segments.length).toBeGreaterThan(0);
    for (const segment of segments) {
      const members = [...spend.values()].filter((s) => s.segments.includes(segment.id));
      const cents = members.reduce((sum, s) => sum + s.cents, 0n);
      const orders = members.reduce((sum, s) => sum + s.orders, 0n);
      const answer = JSON.parse(JSON.stringify(segment)) as typeof segment;
      expect(JSON.stringify(answer.revenue), segment.id).toBe(jsonOf(cents));
      expect(JSON.stringify(answer.averageOrderValue), segment.id).toBe(
        orders === 0n ? "0" : jsonOf(meanCents(cents, orders)),
      );
      if (members.length > 0) {
        expect(JSON.stringify(answer.profile?.meanMonetary), segment.id).toBe(
          jsonOf(meanCents(cents, BigInt(members.length))),
        );
      }
    }

    // The export of the largest segment carries each member's spend as its exact decimal.
    const largest = [...segments].sort((a, b) => b.size - a.size)[0] as (typeof segments)[number];
    const createExport = exportRoutes({ store, blobs }).createExport;
    if (createExport === undefined) throw new Error("no export route");
    const created = await createExport({
      routeId: "createExport",
      params: { datasetId: "money", segmentId: largest.id },
      query: {},
      body: { columns: ["customer_id", "monetary"] },
      tenantId: "t",
      requestId: "r",
    });
    expect(created.status).toBe(201);
    const { exportId } = created.body as { exportId: string };
    const csv = await blobs.get(objectKeys.export("t", "money", exportId, largest.id));
    const exported = parse(Buffer.from(csv as Uint8Array).toString("utf8"), { columns: true }) as {
      customer_id: string;
      monetary: string;
    }[];
    expect(exported).toHaveLength(largest.size);
    for (const row of exported) {
      expect(row.monetary, row.customer_id).toBe(jsonOf(spend.get(row.customer_id)?.cents ?? -1n));
    }
  });
});

describe("amounts past the limits", () => {
  it("are rejected rows of a run that succeeds at once; a file of nothing else fails without a retry", async () => {
    // Line 2 a good row; lines 3-2002 2,000 rows of 9,999,999,999,999.99, each past the row limit;
    // then 101 customers with an order of 99,999,999,999.99 (lines 2003-2103): the dataset's sum passes its
    // limit (9,999,999,999,999.99) at the 100th of them, line 2102, since the good row's 1.00 counts too.
    const lines = [HEADER, "ok,o,2024-01-01,1.00"];
    for (let k = 0; k < 2000; k++) lines.push(`big${k},b${k},2024-01-01,9999999999999.99`);
    for (let k = 0; k < 101; k++) lines.push(`max${k},m${k},2024-01-02,99999999999.99`);
    const outcome = await runUpload(
      { store, blobs },
      await stage("limits", `${lines.join("\n")}\n`, { asOf: "2024-07-01" }),
    );
    expect(outcome.outcome).toBe("succeeded");
    const run = "run" in outcome ? outcome.run : undefined;
    expect(run?.counts).toMatchObject({ rowsRead: 2102, rowsAccepted: 100, rowsRejected: 2002 });
    const report = await reportOf(run?.reportKey);
    expect(report.map((r) => [Number(r.line), r.code])).toEqual([
      ...Array.from({ length: 2000 }, (_, k) => [k + 3, "AMOUNT_TOO_LARGE"]),
      [2102, "DATASET_TOTAL_TOO_LARGE"],
      [2103, "DATASET_TOTAL_TOO_LARGE"],
    ]);
    const meta = await store.getDataset("t", "limits");
    // 1.00 + 99 · 99,999,999,999.99, to the cent.
    expect(JSON.stringify(datasetBody(meta as NonNullable<typeof meta>).current?.revenue)).toBe(
      jsonOf(100n + 99n * 9_999_999_999_999n),
    );

    const only = [HEADER, "a,o1,2024-01-01,100000000000.00", "b,o2,2024-01-01,-100000000000.00"];
    const failed = await runUpload({ store, blobs }, await stage("limits-only", `${only.join("\n")}\n`));
    expect(failed.outcome).toBe("failed");
    const failedRun = "run" in failed ? failed.run : undefined;
    expect(failedRun?.error?.code).toBe("NO_VALID_ROWS");
    expect((await reportOf(failedRun?.reportKey)).map((r) => [Number(r.line), r.code])).toEqual([
      [2, "AMOUNT_TOO_LARGE"],
      [3, "AMOUNT_TOO_LARGE"],
    ]);
  });
});

describe("future dates and line numbers", () => {
  it("rejects rows dated after the day after processing; every row is in the result or in the report", async () => {
    const now = () => new Date("2026-12-07T22:30:00Z");
    // Line 4-5 is one record (a quoted line break in its customer id), so the rows after it are on lines
    // one further down than their row count says.
    const lines = [
      HEADER,
      "A,o1,2026-12-01,10.00", // 2
      "A,o2,2026-12-08,1.10", // 3: the day after processing, accepted
      '"B\nline",o3,2026-12-07,2.20', // 4-5
      "B,o4,2026-12-09,3.30", // 6: rejected
      "C,o5,2030-01-01,4.40", // 7: rejected
      "C,o6,9999-12-31,5.50", // 8: rejected
      "D,o7,2026-12-06T23:00:00-05:00,6.60", // 9: 2026-12-07 in UTC, accepted
    ];
    const outcome = await runUpload(
      { store, blobs, now },
      await stage("future", `${lines.join("\n")}\n`, { asOf: "2026-12-08" }),
    );
    expect(outcome.outcome).toBe("succeeded");
    const run = "run" in outcome ? outcome.run : undefined;
    const report = await reportOf(run?.reportKey);
    expect(report.map((r) => [Number(r.line), r.column, r.code])).toEqual([
      [6, "order_date", "FUTURE_DATE"],
      [7, "order_date", "FUTURE_DATE"],
      [8, "order_date", "FUTURE_DATE"],
    ]);
    expect(run?.counts).toMatchObject({ rowsRead: 7, rowsAccepted: 4, rowsRejected: 3 });
    // Every accepted row is in its customer's spend and in the dataset's revenue.
    const spend: Record<string, string> = { A: "11.10", "B\nline": "2.20", D: "6.60" };
    for (const [id, amount] of Object.entries(spend)) {
      const { view } = await store.getCustomer("t", "future", id);
      expect(JSON.stringify(view?.monetary), id).toBe(jsonOf(centsOf(amount)));
    }
    expect((await store.getCustomer("t", "future", "C")).view).toBeUndefined();
    const meta = await store.getDataset("t", "future");
    expect(datasetBody(meta as NonNullable<typeof meta>).current?.revenue).toBe(19.9);
  });
});
