/**
 * Moving from Amazon Pinpoint, end to end through the real local service (`npm start`'s servers): orders
 * from the shop, two Pinpoint segments rebuilt as rule segments, an S3 destination, then a gzipped endpoint
 * export built from the record shape of the AWS CLI documentation, uploaded as kind pinpoint-endpoints.
 *
 * The export is generated from known parameters per user i (0..23), so every expected value below follows
 * from those parameters, not from the service's mapping code:
 * - an SMS endpoint for everyone (OptOut ALL when i % 5 == 0; app version `${1 + i % 3}.${i}.0`; seen
 *   3·i days before the evaluation date), an EMAIL endpoint when i is even, an INACTIVE APNS endpoint with
 *   OptOut ALL when i % 7 == 0 (which opts nobody out); country CAN when i % 3 == 2, else USA;
 * - three endpoints without a user id and one malformed line (line 7 of the file).
 */
import { gzipSync } from "node:zlib";
import { GetObjectCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBucket } from "../../scripts/emulators/resources";
import { S3_SERVER_CREDENTIALS } from "../../scripts/emulators/s3-server";
import { type RunSummary, uploadFile } from "../../scripts/local/upload";
import { AggregateState } from "../../shared/engine";
import { type LocalService, startLocalService } from "./local-service";

const DATASET = "pinpoint";
const AS_OF = "2026-12-01";
const DEST_BUCKET = "crm-drop";
const USERS = 24;
const MS_PER_DAY = 86_400_000;

const id = (i: number) => `P${String(i).padStart(2, "0")}`;
const sms = (i: number) => `+1555010${String(i).padStart(2, "0")}`;
const country = (i: number) => (i % 3 === 2 ? "CAN" : "USA");
const version = (i: number) => `${1 + (i % 3)}.${i}.0`;
const seen = (i: number) => new Date(Date.parse(`${AS_OF}T12:00:00.000Z`) - 3 * i * MS_PER_DAY).toISOString();
const optedOut = (i: number) => i % 5 === 0;
const hasEmail = (i: number) => i % 2 === 0;
const hasApns = (i: number) => i % 7 === 0;
const all = Array.from({ length: USERS }, (_, i) => i);

function endpoint(fields: Record<string, unknown>): string {
  return JSON.stringify({
    ApplicationId: "611e3e3cdd47474c9c1399a505665b91",
    Attributes: {},
    CohortId: "63",
    EndpointStatus: "ACTIVE",
    Metrics: {},
    OptOut: "NONE",
    RequestId: "a204b1f2-7e26-48a7-9c80-b49a2143489d",
    ...fields,
  });
}

/** The export, one endpoint per line, SMS endpoints first: a user's endpoints lie far apart. */
function exportLines(): string[] {
  const lines: string[] = [];
  for (const i of all) {
    lines.push(
      endpoint({
        Id: `${id(i)}-sms`,
        ChannelType: "SMS",
        Address: sms(i),
        CreationDate: "2023-01-01T00:00:00.000Z",
        EffectiveDate: seen(i),
        OptOut: optedOut(i) ? "ALL" : "NONE",
        Location: { Country: country(i) },
        Demographic: { AppVersion: version(i), Platform: "android" },
        Metrics: { Opens: 0.2 },
        User: { UserId: id(i), UserAttributes: { Tier: [i % 4 === 0 ? "gold" : "basic"] } },
      }),
    );
    // Line 7: Metrics that are text.
    if (lines.length === 6)
      lines.push(endpoint({ Id: "bad", Metrics: { Opens: "2" }, User: { UserId: "PX" } }));
  }
  for (const n of [1, 2, 3])
    lines.push(endpoint({ Id: `anon-${n}`, ChannelType: "EMAIL", Address: `a${n}@x.io` }));
  for (const i of all.filter(hasEmail)) {
    lines.push(
      endpoint({
        Id: `${id(i)}-email`,
        ChannelType: "EMAIL",
        Address: `p${i}@example.com`,
        CreationDate: "2022-03-01T08:00:00.000Z",
        EffectiveDate: "2024-01-01T00:00:00.000Z",
        Location: { Country: country(i) },
        Metrics: { Opens: 0.1 },
        User: { UserId: id(i) },
      }),
    );
  }
  for (const i of all.filter(hasApns)) {
    lines.push(
      endpoint({
        Id: `${id(i)}-apns`,
        ChannelType: "APNS",
        Address: `token-${i}`,
        EndpointStatus: "INACTIVE",
        OptOut: "ALL",
        EffectiveDate: "2020-01-01T00:00:00.000Z",
        Demographic: { AppVersion: "0.0.1" },
        User: { UserId: id(i) },
      }),
    );
  }
  return lines;
}

/** The attributes each user must have, from the parameters alone. */
function expectedAttributes(i: number): Record<string, string> {
  return {
    phone: sms(i),
    ...(hasEmail(i) ? { email: `p${i}@example.com` } : {}),
    opt_out: optedOut(i) ? "true" : "false",
    channels: hasEmail(i) ? "EMAIL|SMS" : "SMS",
    endpoint_count: String(1 + (hasEmail(i) ? 1 : 0) + (hasApns(i) ? 1 : 0)),
    first_seen: hasEmail(i) ? "2022-03-01T08:00:00.000Z" : "2023-01-01T00:00:00.000Z",
    last_seen: seen(i),
    country: country(i),
    app_version: version(i),
    platform: "android",
    "user.Tier": i % 4 === 0 ? "gold" : "basic",
    "metric.Opens": hasEmail(i) ? "0.3" : "0.2",
  };
}

/** "Users in the US with an email channel, not opted out", as the README writes it. */
const US_EMAIL = {
  name: "US email, not opted out",
  rule: {
    and: [
      { field: "attributes.country", op: "in", value: ["US", "USA"] },
      { field: "attributes.channels", op: "contains", value: "EMAIL" },
      { field: "attributes.opt_out", op: "eq", value: false },
    ],
  },
};
/** "App users on a version before 3 seen in the last 30 days", as the README writes it. */
const STALE_APP = {
  name: "Old app, active lately",
  rule: {
    and: [
      {
        or: [
          { field: "attributes.app_version", op: "starts_with", value: "1." },
          { field: "attributes.app_version", op: "starts_with", value: "2." },
        ],
      },
      { field: "attributes.last_seen", op: "after", value: { days_ago: 30 } },
    ],
  },
};
// Seen 3·i days before asOf, after asOf − 30 days: i < 10; version 1.x or 2.x: i % 3 != 2.
const expectedUsEmail = all.filter((i) => country(i) === "USA" && hasEmail(i) && !optedOut(i)).map(id);
const expectedStaleApp = all.filter((i) => i % 3 !== 2 && 3 * i < 30).map(id);

let service: LocalService;
let s3: S3Client;
let bucket: string;
let imported: RunSummary;
let destinationId: string;

async function call(method: string, path: string, body?: unknown) {
  const res = await fetch(`${service.api}${path}`, {
    method,
    headers: { ...service.auth, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, text };
}

/** Polls until `fn` answers something; the deadline only catches a hang. */
async function poll<T>(what: string, fn: () => Promise<T | undefined>, ms = 120_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await fn();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((ok) => setTimeout(ok, 250));
  }
  throw new Error(`Timed out waiting for ${what}`, { cause: last });
}

async function objectBytes(inBucket: string, key: string): Promise<Uint8Array | undefined> {
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: inBucket, Key: key }));
    return await out.Body?.transformToByteArray();
  } catch (error) {
    if ((error as Error).name === "NoSuchKey") return undefined;
    throw error;
  }
}

async function members(segmentId: string): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  do {
    const q = cursor === undefined ? "" : `&cursor=${encodeURIComponent(cursor)}`;
    const page = await call("GET", `/datasets/${DATASET}/segments/${segmentId}/members?limit=100${q}`);
    expect(page.status, page.text).toBe(200);
    ids.push(...page.body.customerIds);
    cursor = page.body.nextCursor ?? undefined;
  } while (cursor !== undefined);
  return ids.sort();
}

beforeAll(async () => {
  service = await startLocalService({ args: ["--no-demo", "--refresh-every", "0"] });
  bucket = /S3:\s+\S+ \(bucket ([^)]+)\)/.exec(service.output())?.[1] ?? "";
  expect(bucket).not.toBe("");
  s3 = new S3Client({
    endpoint: service.s3,
    region: "us-east-1",
    credentials: S3_SERVER_CREDENTIALS,
    forcePathStyle: true,
  });
  await ensureBucket(s3, DEST_BUCKET);
  const created = await call("POST", "/datasets", { datasetId: DATASET, settings: { asOf: AS_OF } });
  expect(created.status, created.text).toBe(201);
  const options = { waitMs: 120_000, token: service.token };

  // Orders from the shop: Pinpoint exports carry none.
  const orders = [
    "customer_id,order_id,order_date,amount,channel",
    ...all.map((i) => `${id(i)},O${i},2026-${String(1 + (i % 11)).padStart(2, "0")}-15,${10 + i}.50,app`),
    "",
  ].join("\n");
  expect((await uploadFile(service.api, DATASET, "orders.csv", Buffer.from(orders), options)).status).toBe(
    "succeeded",
  );
  for (const [segment, definition] of [
    ["us-email", US_EMAIL],
    ["stale-app", STALE_APP],
  ] as const) {
    const put = await call("PUT", `/datasets/${DATASET}/definitions/rule:${segment}`, definition);
    expect(put.status, put.text).toBeLessThan(300);
  }
  const destination = await call("POST", `/datasets/${DATASET}/destinations`, {
    name: "CRM drop",
    kind: "s3",
    segments: ["rule:us-email", "rule:stale-app"],
    s3: { bucket: DEST_BUCKET, prefix: "crm/", format: "csv" },
  });
  expect(destination.status, destination.text).toBe(201);
  destinationId = destination.body.destinationId;
  // The definitions' runs end before the import's run starts: it is the one that changes the segments.
  await poll("the definitions' runs to end", async () => {
    const runs = await call("GET", `/datasets/${DATASET}/runs?limit=10`);
    return runs.body.runs.every((r: { status: string }) => r.status !== "running") ? true : undefined;
  });

  const file = gzipSync(Buffer.from(`${exportLines().join("\n")}\n`));
  imported = await uploadFile(service.api, DATASET, "endpoints.json.gz", file, {
    ...options,
    kind: "pinpoint-endpoints",
  });
}, 400_000);

afterAll(async () => {
  await service?.stop();
});

describe("a Pinpoint endpoint export uploaded as kind pinpoint-endpoints", () => {
  it("is read with the endpoints without a user id, the inactive ones and the malformed line counted", async () => {
    expect(imported.status, JSON.stringify(imported)).toBe("succeeded");
    const endpoints = USERS + all.filter(hasEmail).length + all.filter(hasApns).length;
    expect(imported.counts).toMatchObject({
      rowsRead: endpoints + 3 + 1,
      rowsAccepted: endpoints,
      rowsRejected: 1,
      endpoints: endpoints + 3,
      endpointsWithoutUserId: 3,
      endpointsInactive: all.filter(hasApns).length,
      endpointUsers: USERS,
    });
    const run = await call("GET", `/datasets/${DATASET}/runs/${imported.runId}`);
    const report = await (await fetch(run.body.reportUrl)).text();
    expect(report.trim().split("\n")).toEqual([
      "line,column,code,reason",
      '7,Metrics.Opens,BAD_VALUE,"Metrics.Opens must be a number"',
    ]);
  });

  it("gives each user the documented attributes", async () => {
    const segments = await call("GET", `/datasets/${DATASET}/segments`);
    const bytes = await objectBytes(bucket, `state/demo/${DATASET}/v${segments.body.version}/aggregate.bin`);
    expect(bytes).toBeDefined();
    const state = AggregateState.deserialize(bytes as Uint8Array);
    for (const i of all) {
      const at = state.findCustomer(id(i));
      expect(at, id(i)).toBeGreaterThanOrEqual(0);
      expect(state.attributesOf(at), id(i)).toEqual(expectedAttributes(i));
    }
    expect(state.customerCount).toBe(USERS);
  });

  it("selects exactly the expected users in the two rebuilt Pinpoint segments", async () => {
    expect(expectedUsEmail).toEqual(["P04", "P06", "P12", "P16", "P18", "P22"]);
    expect(expectedStaleApp).toEqual(["P00", "P01", "P03", "P04", "P06", "P07", "P09"]);
    expect(await members("rule:us-email")).toEqual(expectedUsEmail);
    expect(await members("rule:stale-app")).toEqual(expectedStaleApp);
    const dry = await call("POST", `/datasets/${DATASET}/dry-run`, STALE_APP);
    expect(dry.status, dry.text).toBe(200);
    expect(dry.body.size).toBe(expectedStaleApp.length);
  });

  it("leaves opted-out users out of the destination's files", async () => {
    const folder = `crm/${DATASET}/${imported.runId}/`;
    const manifest = await poll("the destination's manifest", () =>
      objectBytes(DEST_BUCKET, `${folder}manifest.json`),
    );
    expect(JSON.parse(Buffer.from(manifest).toString("utf8"))).toMatchObject({ runId: imported.runId });
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: DEST_BUCKET, Prefix: folder }));
    expect((listed.Contents ?? []).length).toBe(3);
    const file = Buffer.from(
      (await objectBytes(DEST_BUCKET, `${folder}rule:stale-app.csv`)) ?? new Uint8Array(),
    ).toString("utf8");
    const ids = file.trim().split(/\r?\n/).slice(1).sort();
    // P00 is in the segment but opted out (OptOut ALL on its SMS endpoint).
    expect(ids).toEqual(expectedStaleApp.filter((u) => u !== "P00"));
    expect(destinationId).toMatch(/^dst_/);
  });
});

describe("the upload route", () => {
  it("takes pinpoint-endpoints as JSON lines whatever the file is called, and refuses csv", async () => {
    const ok = await call("POST", `/datasets/${DATASET}/uploads`, {
      fileName: "part-00000.gz",
      kind: "pinpoint-endpoints",
    });
    expect(ok.status, ok.text).toBe(201);
    expect(ok.body).toMatchObject({ kind: "pinpoint-endpoints", format: "ndjson" });
    const csv = await call("POST", `/datasets/${DATASET}/uploads`, {
      fileName: "endpoints.csv",
      kind: "pinpoint-endpoints",
      format: "csv",
    });
    expect(csv.status).toBe(400);
    expect(csv.body.error.code).toBe("VALIDATION_FAILED");
    expect(JSON.stringify(csv.body.error.details)).toContain("format");
  });
});
