/**
 * The value models end to end, as a user meets them: the local service (`npm start`'s servers), CDNOW
 * transactions uploaded through the presigned POST, and the model route read back over HTTP. The holdout
 * figures are checked against a count made here from the file itself: the customers who had bought by the
 * calibration end, and their distinct purchase days after it.
 *
 * What is uploaded: the whole CDNOW master file (23,570 customers, 69,659 rows). The service keeps its tables
 * in memory here (`--tables memory`), so that the two runs' writes take seconds rather than minutes.
 */
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunSummary, uploadFile } from "../../scripts/local/upload";
import { sharedData } from "../support/shared-data";
import { type LocalService, startLocalService } from "./local-service";

const MASTER = sharedData("cdnow/cdnow-master-transactions.csv");
const AS_OF = "1998-07-01";
const HOLDOUT_DAYS = 182;
/** AS_OF − 182 days: 181 days of 1998 before July 1, and December 31. */
const CALIBRATION_END = "1997-12-31";
const DATASET = "cdnow-model";

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

/** The uploaded file and its rows. */
async function master(): Promise<{ text: string; rows: string[][] }> {
  const text = await readFile(MASTER, "utf8");
  const lines = text.trimEnd().split("\n");
  return { text, rows: lines.slice(1).map((line) => line.split(",")) };
}

/** Customers who bought by CALIBRATION_END, and their purchase days (distinct order dates) after it. */
function holdoutCount(rows: string[][]): { customers: number; repeats: number; oneTimeBuyer: string } {
  const days = new Map<string, Set<string>>();
  for (const [id = "", , date = ""] of rows) {
    const set = days.get(id) ?? new Set<string>();
    set.add(date);
    days.set(id, set);
  }
  let customers = 0;
  let repeats = 0;
  let oneTimeBuyer = "";
  for (const [id, set] of days) {
    const sorted = [...set].sort();
    if (sorted.length === 1 && !oneTimeBuyer) oneTimeBuyer = id;
    if ((sorted[0] as string) > CALIBRATION_END) continue;
    customers++;
    repeats += sorted.filter((d) => d > CALIBRATION_END && d <= AS_OF).length;
  }
  return { customers, repeats, oneTimeBuyer };
}

/**
 * Polls the dataset's runs until one started by `trigger` after `since` has finished. The deadline only
 * catches a hang: it is pushed back whenever the runs' records change (status, progress, attempts).
 */
async function waitForRun(trigger: string, since: string) {
  const stallMs = 300_000;
  let deadline = Date.now() + stallMs;
  let last: unknown;
  let seen = "";
  while (Date.now() < deadline) {
    const runs = await call("GET", `/datasets/${DATASET}/runs?limit=10`);
    last = runs.body;
    const run = runs.body.runs?.find(
      (r: { trigger: string; startedAt: string; status: string }) =>
        r.trigger === trigger && r.startedAt >= since && r.status !== "running",
    );
    if (run) return run;
    const now = JSON.stringify(runs.body.runs ?? []);
    if (now !== seen) {
      seen = now;
      deadline = Date.now() + stallMs;
    }
    await new Promise((ok) => setTimeout(ok, 250));
  }
  throw new Error(
    `No ${trigger} run showed progress for ${stallMs / 1000} s; last answer ${JSON.stringify(last)}`,
  );
}

beforeAll(async () => {
  service = await startLocalService({ args: ["--no-demo", "--refresh-every", "0", "--tables", "memory"] });
}, 120_000);

afterAll(async () => {
  await service?.stop();
});

describe("the model route on CDNOW", () => {
  it("validates the models on the last 182 days, with the file's own count of repeat purchases", {
    // The waits above catch a hang; this only bounds a run that keeps reporting progress forever.
    timeout: 1_800_000,
  }, async () => {
    const created = await call("POST", "/datasets", {
      datasetId: DATASET,
      settings: { asOf: AS_OF, value: { holdoutDays: HOLDOUT_DAYS } },
    });
    expect(created.status).toBe(201);
    const { text, rows } = await master();
    const run: RunSummary = await uploadFile(service.api, DATASET, MASTER, Buffer.from(text), {
      fileName: "cdnow-master-transactions.csv",
      mode: "replace",
      token: service.token,
    });
    expect(run.status).toBe("succeeded");

    const counted = holdoutCount(rows);
    const model = await call("GET", `/datasets/${DATASET}/model`);
    expect(model.status).toBe(200);
    const v = model.body.validation;
    expect(v).toMatchObject({ calibrationEnd: CALIBRATION_END, asOf: AS_OF, holdoutDays: HOLDOUT_DAYS });
    expect(v.customers).toBe(counted.customers);
    expect(v.actualRepeatPurchases).toBe(counted.repeats);
    const table = v.conditionalExpectations as Array<{
      label: string;
      customers: number;
      meanActual: number;
    }>;
    expect(table.map((r) => r.label)).toEqual(["0", "1", "2", "3", "4", "5", "6", "7+"]);
    expect(table.reduce((sum, r) => sum + r.customers, 0)).toBe(counted.customers);
    expect(table.reduce((sum, r) => sum + r.meanActual * r.customers, 0)).toBeCloseTo(counted.repeats, 6);

    // The model with the lowest mean absolute error serves the predictions, and the sentence says so in figures.
    const errors = Object.entries(v.models as Record<string, { mae: number }>);
    expect(errors.map(([name]) => name).sort()).toEqual(["bgNbd", "mbgNbd", "paretoNbd"]);
    const [best] = errors.reduce((a, b) => (b[1].mae < a[1].mae ? b : a));
    expect(model.body).toMatchObject({ fitted: true, selectedModel: best, selection: "holdout" });
    const predicted = Math.round(v.models[best].predictedRepeatPurchases).toLocaleString("en-US");
    expect(model.body.summary).toBe(
      `Over the last ${HOLDOUT_DAYS} days the model expected ${predicted} repeat purchases; customers made ${counted.repeats.toLocaleString("en-US")}.`,
    );
    expect(Object.keys(model.body.models[best].params).length).toBe(4);
    expect(Object.keys(model.body.gammaGamma.params).sort()).toEqual(["gamma", "p", "q"]);

    const customer = await call("GET", `/datasets/${DATASET}/customers/${counted.oneTimeBuyer}`);
    expect(customer.status).toBe(200);
    const p = customer.body.predictions;
    expect(p.model).toBe(best);
    expect(p.clvInterval.low).toBeLessThanOrEqual(p.clv);
    expect(p.clvInterval.high).toBeGreaterThanOrEqual(p.clv);

    // Fixed to BG/NBD by the settings: a one-time buyer's churn risk is then unknown, not 0.
    const since = new Date().toISOString();
    const saved = await call("PUT", `/datasets/${DATASET}/settings`, {
      asOf: AS_OF,
      value: { holdoutDays: HOLDOUT_DAYS, model: "bgNbd" },
    });
    expect(saved.status).toBe(200);
    expect((await waitForRun("settings", since)).status).toBe("succeeded");
    const fixed = await call("GET", `/datasets/${DATASET}/model`);
    expect(fixed.body).toMatchObject({ selectedModel: "bgNbd", selection: "setting" });
    expect(fixed.body.validation.actualRepeatPurchases).toBe(counted.repeats);
    const once = (await call("GET", `/datasets/${DATASET}/customers/${counted.oneTimeBuyer}`)).body
      .predictions;
    expect(once).toMatchObject({
      model: "bgNbd",
      churnRisk: null,
      probabilityAlive: null,
      churnRiskBasis: "unknown",
    });
  });

  it("refuses a model the service does not fit, naming the field", async () => {
    const refused = await call("PUT", `/datasets/${DATASET}/settings`, {
      value: { model: "gbm", holdoutDays: 0 },
    });
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe("VALIDATION_FAILED");
    const paths = (refused.body.error.details as Array<{ path: string }>).map((d) => d.path).sort();
    expect(paths).toEqual(["body.value.holdoutDays", "body.value.model"]);
  });
});
