/**
 * The service end to end, as a user runs it: `npm start`'s local service on real DynamoDB Local and S3
 * servers, files uploaded through presigned POSTs over HTTP, runs awaited by polling, results read back over
 * HTTP. Expected values come from test/fixtures/e2e/*.expected.md, worked out by hand.
 */
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { parse } from "csv-parse/sync";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunSummary, uploadFile } from "../../scripts/local/upload";
import { type LocalService, startLocalService } from "./local-service";

const fixtures = resolve(import.meta.dirname, "../fixtures/e2e");
const fixture = (name: string) => readFile(join(fixtures, name));

/** From transactions.expected.md. */
const EXPECTED: Record<
  string,
  { last: string; frequency: number; monetary: number; r: number; f: number; m: number; segment: string }
> = {
  C01: { last: "2025-09-20", frequency: 3, monetary: 230, r: 4, f: 3, m: 4, segment: "rfm:champions" },
  C02: { last: "2025-09-28", frequency: 2, monetary: 750.5, r: 4, f: 2, m: 5, segment: "rfm:champions" },
  C03: { last: "2025-01-10", frequency: 1, monetary: 20, r: 1, f: 1, m: 1, segment: "rfm:lost" },
  C04: { last: "2025-06-05", frequency: 4, monetary: 150, r: 2, f: 4, m: 3, segment: "rfm:at-risk" },
  C05: { last: "2025-09-30", frequency: 1, monetary: 15, r: 5, f: 1, m: 1, segment: "rfm:new-customers" },
  C06: { last: "2025-02-14", frequency: 1, monetary: 250, r: 1, f: 1, m: 4, segment: "rfm:at-risk" },
  C07: { last: "2025-09-01", frequency: 2, monetary: 130, r: 3, f: 2, m: 2, segment: "rfm:about-to-sleep" },
  C08: { last: "2025-07-07", frequency: 5, monetary: 2000, r: 3, f: 5, m: 5, segment: "rfm:loyal" },
  C09: {
    last: "2025-09-28",
    frequency: 1,
    monetary: 25,
    r: 4,
    f: 1,
    m: 2,
    segment: "rfm:potential-loyalist",
  },
  C10: { last: "2025-04-01", frequency: 2, monetary: 180, r: 2, f: 1, m: 3, segment: "rfm:hibernating" },
};

interface Segment {
  id: string;
  name: string;
  size: number;
  share: number;
  revenue: number;
  revenueShare: number;
  averageOrderValue: number;
}

let service: LocalService;

// biome-ignore lint/suspicious/noExplicitAny: API answers are JSON read field by field by the assertions.
type Json = any;

async function get(path: string): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${service.api}${path}`, { headers: service.auth });
  return { status: res.status, body: await res.json() };
}

const daysBetween = (from: string, to: string) => (Date.parse(to) - Date.parse(from)) / 86_400_000;

async function upload(dataset: string, name: string, body: Buffer, fileName = name): Promise<RunSummary> {
  return uploadFile(service.api, dataset, name, body, { waitMs: 60_000, fileName, token: service.token });
}

beforeAll(async () => {
  service = await startLocalService({ args: ["--no-demo", "--refresh-every", "0"] });
}, 120_000);

afterAll(async () => {
  await service?.stop();
});

describe("upload, compute, lookup", () => {
  let first: RunSummary;

  beforeAll(async () => {
    first = await upload("shop", "transactions.csv", await fixture("transactions.csv"));
  }, 90_000);

  it("finishes the run with the file's counts", async () => {
    expect(first.status).toBe("succeeded");
    expect(first.counts).toMatchObject({
      rowsRead: 24,
      rowsAccepted: 24,
      rowsRejected: 0,
      ordersAdded: 23,
      customers: 10,
    });
    const run = await get(`/datasets/shop/runs/${first.runId}`);
    expect(run.status).toBe(200);
    expect(run.body.status).toBe("succeeded");
    expect(run.body.timingsMs.totalMs).toBeGreaterThanOrEqual(0);
  });

  it("gives every customer the scores and segment worked out by hand", async () => {
    const segments = await get("/datasets/shop/segments");
    const asOf: string = segments.body.asOf;
    for (const [id, want] of Object.entries(EXPECTED)) {
      const { status, body } = await get(`/datasets/shop/customers/${id}`);
      expect(status, id).toBe(200);
      expect(body, id).toMatchObject({
        customerId: id,
        lastPurchase: want.last,
        frequency: want.frequency,
        monetary: want.monetary,
        recencyDays: daysBetween(want.last, asOf),
        scores: { r: want.r, f: want.f, m: want.m, rfm: `${want.r}${want.f}${want.m}` },
      });
      expect(
        body.segments.map((s: { id: string }) => s.id),
        id,
      ).toContain(want.segment);
    }
  });

  it("lists every RFM segment with its size and revenue share", async () => {
    const { body } = await get("/datasets/shop/segments");
    const rfm: Segment[] = body.segments.filter((s: Segment) => s.id.startsWith("rfm:"));
    expect(rfm).toHaveLength(11);
    const sizes = Object.fromEntries(rfm.map((s) => [s.id, s.size]));
    const expectedSizes: Record<string, number> = {};
    for (const want of Object.values(EXPECTED))
      expectedSizes[want.segment] = (expectedSizes[want.segment] ?? 0) + 1;
    for (const s of rfm) expect(sizes[s.id], s.id).toBe(expectedSizes[s.id] ?? 0);
    const champions = rfm.find((s) => s.id === "rfm:champions");
    expect(champions?.revenue).toBeCloseTo(980.5, 6);
    expect(champions?.revenueShare).toBeCloseTo(980.5 / 3750.5, 9);
    expect(champions?.averageOrderValue).toBeCloseTo(196.1, 9);
    expect(champions?.share).toBeCloseTo(0.2, 12);
  });

  it("pages through a segment's members with an opaque cursor", async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
      const { status, body } = await get(`/datasets/shop/segments/rfm:at-risk/members?limit=1${q}`);
      expect(status).toBe(200);
      expect(body.customerIds.length).toBeLessThanOrEqual(1);
      seen.push(...body.customerIds);
      cursor = body.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    expect(pages).toBe(2);
    expect(seen).toEqual(["C04", "C06"]);

    const tampered = await get("/datasets/shop/segments/rfm:at-risk/members?cursor=abc.def");
    expect(tampered.status).toBe(400);
    expect(tampered.body.error.code).toBe("BAD_CURSOR");
  });

  it("answers 404 with a code for an unknown customer, segment and dataset", async () => {
    const customer = await get("/datasets/shop/customers/NOPE");
    expect(customer.status).toBe(404);
    expect(customer.body.error.code).toBe("CUSTOMER_NOT_FOUND");
    const segment = await get("/datasets/shop/segments/rfm:nope/members");
    expect(segment.body.error.code).toBe("SEGMENT_NOT_FOUND");
    const dataset = await get("/datasets/nope/segments");
    expect(dataset.body.error.code).toBe("DATASET_NOT_FOUND");
  });

  it("stores the same result when the same file is uploaded again", async () => {
    const before = await get("/datasets/shop/segments");
    const customersBefore = await Promise.all(
      Object.keys(EXPECTED).map((id) => get(`/datasets/shop/customers/${id}`)),
    );
    const again = await upload("shop", "transactions.csv", await fixture("transactions.csv"));
    expect(again.status).toBe("succeeded");
    expect(again.counts).toMatchObject({ ordersAdded: 0, ordersDuplicate: 23, customersWritten: 0 });
    const after = await get("/datasets/shop/segments");
    expect(after.body.segments).toEqual(before.body.segments);
    const customersAfter = await Promise.all(
      Object.keys(EXPECTED).map((id) => get(`/datasets/shop/customers/${id}`)),
    );
    const strip = (b: Json) => ({ ...b, version: undefined, runId: undefined });
    expect(customersAfter.map((c) => strip(c.body))).toEqual(customersBefore.map((c) => strip(c.body)));
  });

  it("fails an empty or non-CSV file with a clear reason and keeps the previous result readable", async () => {
    const before = await get("/datasets/shop/segments");
    // A file of no bytes is refused by S3 itself: the presigned POST's policy asks for 1 byte or more.
    await expect(upload("shop", "empty.csv", await fixture("empty.csv"))).rejects.toThrow(/EntityTooSmall/);
    // A file of blank lines reaches the run, which fails it as empty.
    const empty = await upload("shop", "blank.csv", Buffer.from("\n\r\n\n"));
    expect(empty.status).toBe("failed");
    expect(empty.error?.code).toBe("EMPTY_FILE");
    const binary = await upload("shop", "not-a-csv.csv", await fixture("not-a-csv.csv"));
    expect(binary.status).toBe("failed");
    expect(binary.error?.code).toMatch(/BINARY_FILE|NOT_CSV/);
    const after = await get("/datasets/shop/segments");
    expect(after.body.version).toBe(before.body.version);
    expect(after.body.segments).toEqual(before.body.segments);
    const c01 = await get("/datasets/shop/customers/C01");
    expect(c01.body.scores.rfm).toBe("434");
  });
});

describe("a file with bad rows mixed in", () => {
  it("counts the good rows and reports every bad row with its row number and reason", async () => {
    const run = await upload(
      "mixed",
      "transactions-with-bad-rows.csv",
      await fixture("transactions-with-bad-rows.csv"),
    );
    expect(run.status).toBe("succeeded");
    expect(run.counts).toMatchObject({ rowsRead: 11, rowsAccepted: 6, rowsRejected: 5, customers: 3 });

    const detail = await get(`/datasets/mixed/runs/${run.runId}`);
    const s3 = new S3Client({
      endpoint: service.s3,
      forcePathStyle: true,
      region: "us-east-1",
      credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    });
    const object = await s3.send(
      new GetObjectCommand({ Bucket: "segmentation-local", Key: detail.body.reportKey }),
    );
    const rows: Array<{ line: string; column: string; code: string; reason: string }> = parse(
      (await object.Body?.transformToString()) ?? "",
      { columns: true },
    );
    // The file's line numbers (the header is line 1), as transactions-with-bad-rows.expected.md lists them.
    expect(rows.map((r) => [Number(r.line), r.column])).toEqual([
      [3, "customer_id"],
      [6, "order_date"],
      [9, "amount"],
      [10, "amount"],
      [12, ""],
    ]);
    for (const r of rows) expect(r.reason.length).toBeGreaterThan(0);
    // The run's answer links the same report for download, with no credentials of the caller's.
    const download = await fetch(detail.body.reportUrl);
    expect(download.status).toBe(200);
    expect(await download.text()).toBe(
      await (
        await s3.send(new GetObjectCommand({ Bucket: "segmentation-local", Key: detail.body.reportKey }))
      ).Body?.transformToString(),
    );

    const c02 = await get("/datasets/mixed/customers/C02");
    expect(c02.body).toMatchObject({ frequency: 2, monetary: 750.5 });
    const c03 = await get("/datasets/mixed/customers/C03");
    expect(c03.body).toMatchObject({ frequency: 1, monetary: 20 });
  });
});

describe("keys S3 encodes in its events", () => {
  it("processes a file whose name has spaces, '+', '%' and non-ASCII characters", async () => {
    const run = await upload("keys", "x.csv", await fixture("transactions.csv"), "März 2025 +50% (1).csv");
    expect(run.status).toBe("succeeded");
    expect(run.counts?.customers).toBe(10);
  });
});
