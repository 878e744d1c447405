/**
 * Privacy canary (reliability property 11), against the local service logging at DEBUG.
 *
 * What the property covers. Two kinds of customer data go into the service:
 * - Customer ids: identifiers the tenant chose. Lookups by id, segment member lists and the
 *   `Segment Membership Changed` events carry them by design (a CRM needs to know who entered a segment).
 *   They must still stay out of logs, error bodies, run records, rejected-row reports and dead letters.
 * - Everything else about a customer: attribute values (names, e-mail addresses), order lines, and the raw
 *   contents of rejected rows. These are served only by the routes that return a customer's own data
 *   (`GET …/customers/{id}`, rule definitions the tenant wrote), and appear nowhere else: not in logs,
 *   error bodies, run records, rejected-row reports, dead letters, nor in events.
 *
 * The test puts ID_CANARY in a customer id and PII_CANARY in attributes, in a rule definition, in the
 * fields of rejected rows and in requests that fail (bodies, paths, queries, tokens), then looks for both.
 * Positive controls show each place looked at was written to (log lines, events with ids, reports).
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localKeys, mintToken } from "../../scripts/local/auth";
import { type RunSummary, uploadFile } from "../../scripts/local/upload";
import { type LocalService, startLocalService } from "./local-service";

const ID_CANARY = "CANARY-ID-7f3a";
const PII_CANARY = "CANARY-PII-7f3a";
const DATASET = "priv";

/** Data rows 3 (amount), 4 (date) and 5 (seven fields) are rejected, each carrying PII_CANARY. */
const TRANSACTIONS = [
  "customer_id,order_id,order_date,amount,channel,category",
  `${ID_CANARY},O1,2025-06-01,100.00,web,books`,
  "C02,O2,2025-06-02,50.00,web,music",
  `C02,O3,2025-06-03,${PII_CANARY},web,music`,
  `C03,O4,2025-13-01,10.00,${PII_CANARY},books`,
  `C04,${PII_CANARY},2025-06-05,20.00,web,books,extra`,
  "",
].join("\n");

/** Data rows 3 (no customer id) and 4 (two fields) are rejected, each carrying PII_CANARY. */
const CUSTOMERS = [
  "customer_id,name,email",
  `${ID_CANARY},Ada ${PII_CANARY},ada.${PII_CANARY}@example.com`,
  "C02,Bob,bob@example.com",
  `,Eve ${PII_CANARY},eve@example.com`,
  `C04,${PII_CANARY}`,
  "",
].join("\n");

let service: LocalService;
const runs: RunSummary[] = [];
/** Bodies of every request the service refused. */
const errorBodies: Array<{ what: string; status: number; text: string }> = [];

async function send(method: string, path: string, init: { body?: string; token?: string | null } = {}) {
  const token = init.token === undefined ? service.token : init.token;
  const res = await fetch(`${service.api}${path}`, {
    method,
    headers: {
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      ...(init.body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(init.body === undefined ? {} : { body: init.body }),
  });
  return { status: res.status, text: await res.text() };
}

async function refused(what: string, method: string, path: string, init: Parameters<typeof send>[2] = {}) {
  const res = await send(method, path, init);
  expect(res.status, `${what}: ${res.text}`).toBeGreaterThanOrEqual(400);
  expect(res.status, `${what}: ${res.text}`).toBeLessThan(500);
  errorBodies.push({ what, ...res });
}

async function waitForDefinitionsRun(since: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const res = await send("GET", `/datasets/${DATASET}/runs?limit=20`);
    const found = (
      JSON.parse(res.text).runs as Array<{ trigger: string; startedAt: string; status: string }>
    ).find((r) => r.trigger === "definitions" && r.startedAt >= since && r.status !== "running");
    if (found) return;
    await new Promise((ok) => setTimeout(ok, 200));
  }
  throw new Error("The definitions run did not finish");
}

beforeAll(async () => {
  service = await startLocalService({
    args: ["--no-demo", "--refresh-every", "0"],
    env: { LOG_LEVEL: "DEBUG" },
  });
  const options = { waitMs: 90_000, token: service.token };
  runs.push(await uploadFile(service.api, DATASET, "orders.csv", Buffer.from(TRANSACTIONS), options));
  runs.push(
    await uploadFile(service.api, DATASET, "customers.csv", Buffer.from(CUSTOMERS), {
      ...options,
      kind: "customers",
    }),
  );

  // A rule segment over the canary attribute: its members' ids go out in events, its definition must not.
  const since = new Date().toISOString();
  const saved = await send("PUT", `/datasets/${DATASET}/definitions/rule:canary-mail`, {
    body: JSON.stringify({
      name: "Canary mail",
      rule: { field: "attributes.email", op: "contains", value: PII_CANARY },
    }),
  });
  expect(saved.status, saved.text).toBe(201);
  await waitForDefinitionsRun(since);

  // Requests that fail, with the canary in every part of a request.
  const keys = await localKeys(service.dataDir);
  const base = `/datasets/${DATASET}`;
  await refused("unknown customer id in the path", "GET", `${base}/customers/${PII_CANARY}`);
  await refused("invalid dataset id in the path", "GET", `/datasets/${PII_CANARY}!/segments`);
  await refused("cursor", "GET", `${base}/segments/rfm:champions/members?cursor=${PII_CANARY}`);
  await refused("limit", "GET", `${base}/runs?limit=${PII_CANARY}`);
  await refused("bad JSON", "PUT", `${base}/definitions/rule:x`, { body: `{"name": "${PII_CANARY}` });
  await refused("rule value of the wrong type", "PUT", `${base}/definitions/rule:x`, {
    body: JSON.stringify({ name: PII_CANARY, rule: { field: "monetary", op: "gte", value: PII_CANARY } }),
  });
  await refused("rule operator without its operand shape", "PUT", `${base}/definitions/rule:x`, {
    body: JSON.stringify({ name: "x", rule: { field: "attributes.name", op: "between", value: PII_CANARY } }),
  });
  await refused("dry run with a bad rule", "POST", `${base}/dry-run`, {
    body: JSON.stringify({ name: "x", rule: { field: "frequency", op: "in", value: PII_CANARY } }),
  });
  await refused("dataset id in a body", "POST", "/datasets", {
    body: JSON.stringify({ datasetId: `${PII_CANARY} !` }),
  });
  await refused("settings", "PUT", `${base}/settings`, {
    body: JSON.stringify({ currency: PII_CANARY, asOf: PII_CANARY }),
  });
  await refused("upload request", "POST", `${base}/uploads`, {
    body: JSON.stringify({ fileName: "a.csv", mode: PII_CANARY, kind: PII_CANARY }),
  });
  await refused("garbage token", "GET", `${base}/segments`, { token: PII_CANARY });
  await refused("token without the scope, canary subject", "PUT", `${base}/settings`, {
    body: "{}",
    token: await mintToken(keys, { tenant: "demo", scopes: ["read"], ttlSeconds: 60, subject: PII_CANARY }),
  });
  await refused("token with a canary tenant", "GET", `${base}/segments`, {
    token: await mintToken(keys, { tenant: `${PII_CANARY}#x`, scopes: ["read"], ttlSeconds: 60 }),
  });
}, 300_000);

afterAll(async () => {
  await service?.stop();
});

describe("the canaries went in", () => {
  it("both files ran, with their bad rows rejected and counted", () => {
    expect(runs.map((r) => r.status)).toEqual(["succeeded", "succeeded"]);
    expect(runs[0]?.counts).toMatchObject({ rowsRead: 5, rowsAccepted: 2, rowsRejected: 3 });
    expect(runs[1]?.counts).toMatchObject({ rowsRead: 4, rowsAccepted: 2, rowsRejected: 2 });
  });

  it("the canary attribute was stored: the rule over it selects the canary customer", async () => {
    const res = await send("GET", `/datasets/${DATASET}/customers/${ID_CANARY}`);
    expect(res.status).toBe(200);
    const ids = (JSON.parse(res.text).segments as Array<{ id: string }>).map((seg) => seg.id);
    expect(ids).toContain("rule:canary-mail");
    const other = await send("GET", `/datasets/${DATASET}/customers/C02`);
    expect(other.text).not.toContain("rule:canary-mail");
  });
});

describe("neither canary leaks", () => {
  it("into error bodies", () => {
    expect(errorBodies.length).toBe(14);
    for (const { what, text } of errorBodies) {
      expect(text, what).not.toContain(PII_CANARY);
      expect(text, what).not.toContain(ID_CANARY);
      expect(text, what).not.toContain("CANARY");
    }
  });

  it("into the service's log output at DEBUG", () => {
    const out = service.output();
    // The logs were on: every refused request that reached a handler (all but the authorizer's 401s) and
    // every processed upload left a line.
    const handled = errorBodies.filter((e) => e.status !== 401).length;
    expect(handled).toBe(13);
    expect(out.match(/"Request rejected"/g)?.length ?? 0).toBeGreaterThanOrEqual(handled);
    expect(out).toContain('"Upload processed"');
    expect(out).not.toContain("CANARY");
  });

  it("into run records and the dataset's summary", async () => {
    const list = await send("GET", `/datasets/${DATASET}/runs?limit=50`);
    const ids = (JSON.parse(list.text).runs as Array<{ runId: string }>).map((r) => r.runId);
    expect(ids.length).toBeGreaterThanOrEqual(3);
    const texts = [
      list.text,
      (await send("GET", `/datasets/${DATASET}`)).text,
      (await send("GET", "/datasets")).text,
    ];
    for (const id of ids) texts.push((await send("GET", `/datasets/${DATASET}/runs/${id}`)).text);
    for (const text of texts) expect(text).not.toContain("CANARY");
  });

  it("into the rejected-row reports", async () => {
    const s3 = new S3Client({
      endpoint: service.s3,
      forcePathStyle: true,
      region: "us-east-1",
      credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    });
    const reports: string[] = [];
    for (const run of runs) {
      const detail = JSON.parse((await send("GET", `/datasets/${DATASET}/runs/${run.runId}`)).text);
      const object = await s3.send(
        new GetObjectCommand({ Bucket: "segmentation-local", Key: detail.reportKey }),
      );
      reports.push(await (object.Body as { transformToString(): Promise<string> }).transformToString());
    }
    // Header and one line per rejected row: 3 and 2.
    expect(reports.map((r) => r.trim().split("\n").length)).toEqual([4, 3]);
    for (const report of reports) expect(report).not.toContain("CANARY");
  });

  // Nothing here fails three times (Lambda's retries are minutes apart), so the folder is normally empty; the
  // check guards against a failure of this run landing there with its data.
  it("into dead letters", async () => {
    const dir = join(service.dataDir, "dead-letters");
    for (const name of await readdir(dir))
      expect(await readFile(join(dir, name), "utf8")).not.toContain("CANARY");
  });

  it("into events, which carry customer ids but no other customer data", async () => {
    const events = await readFile(join(service.dataDir, "events.ndjson"), "utf8");
    // Membership events name the canary customer who entered the rule segment: ids go out by design.
    const entered = events
      .split("\n")
      .filter((line) => line !== "")
      .map(
        (line) =>
          JSON.parse(line) as { "detail-type": string; detail: { segmentId?: string; entered?: string[] } },
      )
      .filter(
        (e) => e["detail-type"] === "Segment Membership Changed" && e.detail.segmentId === "rule:canary-mail",
      )
      .flatMap((e) => e.detail.entered ?? []);
    expect(entered).toEqual([ID_CANARY]);
    expect(events).not.toContain(PII_CANARY);
  });
});
