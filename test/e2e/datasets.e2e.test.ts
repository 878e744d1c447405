/**
 * Datasets, settings and rule segments over HTTP against the local service: a dataset created with settings,
 * a rule segment saved and recomputed without a new upload (members checked against the rule evaluated here
 * on the fixture's hand-worked values), its summary, definition and history, change events on the local bus,
 * deletion, and the documented errors of bad input.
 */
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parse } from "csv-parse/sync";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { uploadFile } from "../../scripts/local/upload";
import { ApiError, createClient } from "../../shared/client";
import type { Rule } from "../../shared/engine/rules";
import { type LocalService, startLocalService } from "./local-service";

const fixture = (name: string) => readFile(resolve(import.meta.dirname, "../fixtures/e2e", name));

/** Net spend, orders and RFM segment of each customer of transactions.csv (transactions.expected.md). */
const CUSTOMERS: Record<string, { monetary: number; frequency: number; segment: string }> = {
  C01: { monetary: 230, frequency: 3, segment: "rfm:champions" },
  C02: { monetary: 750.5, frequency: 2, segment: "rfm:champions" },
  C03: { monetary: 20, frequency: 1, segment: "rfm:lost" },
  C04: { monetary: 150, frequency: 4, segment: "rfm:at-risk" },
  C05: { monetary: 15, frequency: 1, segment: "rfm:new-customers" },
  C06: { monetary: 250, frequency: 1, segment: "rfm:at-risk" },
  C07: { monetary: 130, frequency: 2, segment: "rfm:about-to-sleep" },
  C08: { monetary: 2000, frequency: 5, segment: "rfm:loyal" },
  C09: { monetary: 25, frequency: 1, segment: "rfm:potential-loyalist" },
  C10: { monetary: 180, frequency: 2, segment: "rfm:hibernating" },
};

const RULE: Rule = {
  or: [
    { field: "monetary", op: "gte", value: 200 },
    {
      and: [
        { field: "frequency", op: "gte", value: 2 },
        { field: "rfm_segment", op: "eq", value: "at-risk" },
      ],
    },
  ],
};
/** The rule above, evaluated on the fixture's values in plain JavaScript. */
const expectedMembers = Object.entries(CUSTOMERS)
  .filter(([, c]) => c.monetary >= 200 || (c.frequency >= 2 && c.segment === "rfm:at-risk"))
  .map(([id]) => id)
  .sort();

let service: LocalService;

// biome-ignore lint/suspicious/noExplicitAny: API answers are JSON read field by field by the assertions.
type Json = any;

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${service.api}${path}`, {
    method,
    ...(body === undefined
      ? { headers: service.auth }
      : {
          headers: { ...service.auth, "content-type": "application/json" },
          body: JSON.stringify(body),
        }),
  });
  const text = await res.text();
  return { status: res.status, body: text === "" ? undefined : JSON.parse(text) };
}

async function members(dataset: string, segmentId: string): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const query: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
    const page = await call("GET", `/datasets/${dataset}/segments/${segmentId}/members?limit=2${query}`);
    expect(page.status).toBe(200);
    ids.push(...page.body.customerIds);
    cursor = page.body.nextCursor;
  } while (cursor);
  return ids.sort();
}

/** Polls the dataset's runs until one started by `trigger` after `since` has finished. */
async function waitForRun(dataset: string, trigger: string, since: string) {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const runs = await call("GET", `/datasets/${dataset}/runs?limit=10`);
    const run = runs.body.runs.find(
      (r: { trigger: string; startedAt: string; status: string }) =>
        r.trigger === trigger && r.startedAt >= since && r.status !== "running",
    );
    if (run) return run;
    await new Promise((ok) => setTimeout(ok, 200));
  }
  throw new Error(`No ${trigger} run finished within the deadline`);
}

async function busEvents(): Promise<Array<{ "detail-type": string; detail: Json }>> {
  const text = await readFile(join(service.dataDir, "events.ndjson"), "utf8").catch(() => "");
  return text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line));
}

beforeAll(async () => {
  service = await startLocalService({ args: ["--no-demo", "--refresh-every", "0"] });
}, 120_000);

afterAll(async () => {
  await service?.stop();
});

describe("datasets", () => {
  it("creates a dataset with settings, lists and describes it, and refuses a second one of that id", async () => {
    const created = await call("POST", "/datasets", {
      datasetId: "rules",
      settings: {
        asOf: "2025-10-01",
        currency: "EUR",
        lifecycle: { newDays: 14 },
        clusters: { enabled: false },
      },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ datasetId: "rules", current: null, settings: { currency: "EUR" } });
    expect((await call("POST", "/datasets", { datasetId: "rules" })).body.error.code).toBe("DATASET_EXISTS");

    const listed = await call("GET", "/datasets");
    expect(listed.body.datasets.map((d: { datasetId: string }) => d.datasetId)).toContain("rules");
    const described = await call("GET", "/datasets/rules");
    expect(described.body.settings.lifecycle).toEqual({ newDays: 14 });
  });

  it("rejects bad settings with the path at fault", async () => {
    const bad = await call("PUT", "/datasets/rules/settings", {
      lifecycle: { activeDays: 200, lapsedDays: 100 },
      clusters: { kMin: 9, kMax: 3 },
      value: { annualDiscountRate: 2 },
      colour: "red",
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe("VALIDATION_FAILED");
    const paths = bad.body.error.details.map((d: { path: string }) => d.path);
    expect(paths).toEqual(expect.arrayContaining(["body.value.annualDiscountRate", "body"]));
    expect((await call("PUT", "/datasets/nope/settings", {})).body.error.code).toBe("DATASET_NOT_FOUND");
    expect((await call("GET", "/datasets/nope")).status).toBe(404);
    expect((await call("POST", "/datasets", { datasetId: "bad id!" })).body.error.details[0].path).toBe(
      "body.datasetId",
    );
  });
});

describe("rule segments", () => {
  beforeAll(async () => {
    const run = await uploadFile(
      service.api,
      "rules",
      "transactions.csv",
      await fixture("transactions.csv"),
      { waitMs: 120_000, token: service.token },
    );
    expect(run.status).toBe("succeeded");
  }, 180_000);

  it("dry-runs a definition: size, economics and members without saving anything", async () => {
    // Through the typed client, as an application would call it.
    const api = createClient({ baseUrl: service.api, token: service.token });
    const dry = {
      body: await api.dryRun({ params: { datasetId: "rules" }, body: { name: "Valuable", rule: RULE } }),
    };
    expect(dry.body.size).toBe(expectedMembers.length);
    expect([...dry.body.sample].sort()).toEqual(expectedMembers);
    const revenue = expectedMembers.reduce((sum, id) => sum + (CUSTOMERS[id]?.monetary ?? 0), 0);
    const total = Object.values(CUSTOMERS).reduce((sum, c) => sum + c.monetary, 0);
    expect(dry.body.revenue).toBeCloseTo(revenue, 6);
    expect(dry.body.revenueShare).toBeCloseTo(revenue / total, 9);
    expect(dry.body.share).toBeCloseTo(expectedMembers.length / 10, 9);
    expect((await call("GET", "/datasets/rules/definitions")).body.definitions).toEqual([]);

    const unknown = await api
      .dryRun({
        params: { datasetId: "rules" },
        body: { name: "Tall", rule: { field: "attributes.height", op: "gt", value: 180 } },
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(unknown).toBeInstanceOf(ApiError);
    expect(unknown).toMatchObject({ status: 400, code: "VALIDATION_FAILED" });
    expect((unknown as ApiError).details[0]?.path).toMatch(/^body\.rule/);
    const invalid = await call("POST", "/datasets/rules/dry-run", {
      name: "x",
      rule: { field: "monetary", op: "gte" },
    });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error.details[0].path).toMatch(/^body\.rule/);
  });

  it("saves a definition, recomputes without an upload, and serves members equal to the rule", async () => {
    const since = new Date().toISOString();
    const saved = await call("PUT", "/datasets/rules/definitions/rule:valuable", {
      name: "Valuable",
      description: "Spent 200 or more, or repeat buyers at risk",
      rule: RULE,
    });
    expect(saved.status).toBe(201);
    expect(saved.body).toMatchObject({ segmentId: "rule:valuable", recompute: "requested" });

    const run = await waitForRun("rules", "definitions", since);
    expect(run.status).toBe("succeeded");
    expect(await members("rules", "rule:valuable")).toEqual(expectedMembers);
    // Same state, same evaluation date: only the new segment's members change, and only they are written
    // (their customer items; members are in the version's pages in S3, no items).
    expect(run.counts.customersWritten).toBe(expectedMembers.length);
    expect(run.counts.membershipsWritten).toBeUndefined();

    const segment = await call("GET", "/datasets/rules/segments/rule:valuable");
    expect(segment.status).toBe(200);
    expect(segment.body).toMatchObject({ id: "rule:valuable", family: "rule", size: expectedMembers.length });
    expect(segment.body.definition.rule).toEqual(RULE);
    // The profile, from the fixture's hand-worked values of the members.
    const mean = (f: (c: { monetary: number; frequency: number }) => number) =>
      expectedMembers.reduce(
        (sum, id) => sum + f(CUSTOMERS[id] as { monetary: number; frequency: number }),
        0,
      ) / expectedMembers.length;
    expect(segment.body.profile.meanMonetary).toBeCloseTo(
      mean((c) => c.monetary),
      4,
    );
    expect(segment.body.profile.meanFrequency).toBeCloseTo(
      mean((c) => c.frequency),
      4,
    );
    const mix: Record<string, number> = {};
    for (const id of expectedMembers) {
      const rfm = CUSTOMERS[id]?.segment as string;
      mix[rfm] = (mix[rfm] ?? 0) + 1;
    }
    expect(segment.body.profile.rfm).toEqual(mix);
    const revenue = expectedMembers.reduce((sum, id) => sum + (CUSTOMERS[id]?.monetary ?? 0), 0);
    expect(segment.body.revenue).toBeCloseTo(revenue, 6);

    const customer = await call("GET", "/datasets/rules/customers/C08");
    expect(customer.body.segments.map((s: { id: string }) => s.id)).toContain("rule:valuable");
    expect(customer.body.lifecycle.id).toMatch(/^lifecycle:/);

    const changes = (await busEvents()).filter(
      (e) => e["detail-type"] === "Segment Membership Changed" && e.detail.runId === run.runId,
    );
    expect(changes.map((e) => e.detail.segmentId)).toEqual(["rule:valuable"]);
    expect(changes.flatMap((e) => e.detail.entered).sort()).toEqual(expectedMembers);
    expect(changes.flatMap((e) => e.detail.left)).toEqual([]);
    const finished = (await busEvents()).filter(
      (e) => e["detail-type"] === "Run Finished" && e.detail.runId === run.runId,
    );
    expect(finished.map((e) => e.detail.status)).toEqual(["succeeded"]);
  }, 180_000);

  it("lists, reads and validates definitions, with the path of each problem", async () => {
    const list = await call("GET", "/datasets/rules/definitions");
    expect(list.body.definitions.map((d: { segmentId: string }) => d.segmentId)).toEqual(["rule:valuable"]);
    expect((await call("GET", "/datasets/rules/definitions/rule:valuable")).body.name).toBe("Valuable");
    expect((await call("GET", "/datasets/rules/definitions/rule:none")).body.error.code).toBe(
      "DEFINITION_NOT_FOUND",
    );

    const bad = await call("PUT", "/datasets/rules/definitions/rule:bad", {
      name: "Bad",
      rule: {
        and: [
          { field: "monetary", op: "gte", value: 1 },
          { field: "shoe_size", op: "eq", value: 3 },
        ],
      },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].path).toBe("body.rule.and[1].field");
    const badId = await call("PUT", "/datasets/rules/definitions/rfm:mine", { name: "x", rule: RULE });
    expect(badId.body.error.details[0].path).toBe("path.segmentId");
  });

  it("keeps each run's size in the segment's history", async () => {
    const history = await call("GET", "/datasets/rules/segments/rfm:at-risk/history");
    expect(history.status).toBe(200);
    expect(history.body.points.length).toBeGreaterThanOrEqual(2);
    const atRisk = Object.values(CUSTOMERS).filter((c) => c.segment === "rfm:at-risk").length;
    for (const point of history.body.points) expect(point.size).toBe(atRisk);
  });

  it("deletes a definition and recomputes without it", async () => {
    const since = new Date().toISOString();
    expect((await call("DELETE", "/datasets/rules/definitions/rule:valuable")).status).toBe(204);
    await waitForRun("rules", "definitions", since);
    expect((await call("GET", "/datasets/rules/segments/rule:valuable")).body.error.code).toBe(
      "SEGMENT_NOT_FOUND",
    );
    expect((await call("DELETE", "/datasets/rules/definitions/rule:valuable")).status).toBe(404);
  }, 180_000);
});

describe("exports", () => {
  it("exports a segment's members with the chosen columns, downloadable through the link", async () => {
    const created = await call("POST", "/datasets/rules/segments/rfm:at-risk/exports", {
      columns: ["customer_id", "monetary", "rfm"],
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      segmentId: "rfm:at-risk",
      rows: 2,
      columns: ["customer_id", "monetary", "rfm"],
    });
    const download = await fetch(created.body.url);
    expect(download.status).toBe(200);
    const rows: Array<Record<string, string>> = parse(await download.text(), { columns: true });
    const atRisk = Object.entries(CUSTOMERS).filter(([, c]) => c.segment === "rfm:at-risk");
    expect(rows.map((r) => [r.customer_id, Number(r.monetary)])).toEqual(
      atRisk.map(([id, c]) => [id, c.monetary]).sort(),
    );
    const bad = await call("POST", "/datasets/rules/segments/rfm:at-risk/exports", { columns: ["password"] });
    expect(bad.body.error.details[0].path).toMatch(/^body\.columns/);
    expect((await call("POST", "/datasets/rules/segments/rfm:nope/exports", {})).body.error.code).toBe(
      "SEGMENT_NOT_FOUND",
    );
  });

  it("defuses cells a spreadsheet would run as formulas", async () => {
    const ids = ['=HYPERLINK("http://x")', "+SUM(A1)", "-1+2", "@cmd", "x;=cmd|'/C calc'!A0;y", "plain"];
    const csv = ["customer_id,order_id,order_date,amount"]
      .concat(ids.map((id, i) => `"${id.replace(/"/g, '""')}",F${i},2025-09-0${i + 1},10.00`))
      .join("\n");
    await call("POST", "/datasets", { datasetId: "formulas", settings: { asOf: "2025-09-10" } });
    const run = await uploadFile(service.api, "formulas", "orders.csv", Buffer.from(`${csv}\n`), {
      waitMs: 120_000,
      token: service.token,
    });
    expect(run.status).toBe("succeeded");
    const segments = await call("GET", "/datasets/formulas/segments");
    const lifecycle = segments.body.segments.find(
      (s: { id: string; size: number }) => s.id === "lifecycle:new",
    );
    expect(lifecycle.size).toBe(ids.length);
    const created = await call("POST", "/datasets/formulas/segments/lifecycle:new/exports", {
      columns: ["customer_id", "frequency"],
    });
    const text = await (await fetch(created.body.url)).text();
    const rows: Array<{ customer_id: string }> = parse(text, { columns: true });
    // Read back with quotes honoured, each id is itself behind the defusing quotes (worked out by hand).
    expect(rows.map((r) => r.customer_id).sort()).toEqual(
      ['\'=HYPERLINK("http://x")', "'+SUM(A1)", "'-1+2", "'@cmd", "x;'=cmd|'/C calc'!A0;y", "plain"].sort(),
    );
    // Split on each separator a spreadsheet may use, quotes honoured only at the start of a cell: no cell
    // starts a formula (numbers the service computed are numbers).
    for (const separator of [",", ";", "\t"]) {
      for (const line of text.split("\r\n").slice(1)) {
        for (const cell of line.split(separator)) {
          const bare = cell.startsWith('"') ? cell.slice(1) : cell;
          if (/^-?\d+(\.\d+)?$/.test(bare)) continue;
          expect(bare, `${JSON.stringify(separator)} ${line}`).not.toMatch(/^[=+\-@\t\r]/);
        }
      }
    }
  }, 180_000);
});
