/**
 * The `segment` CLI run in-process on a hand-checked fixture, on the CDNOW demo file, and on bad arguments and
 * bad files.
 *
 * Expected values of test/fixtures/cli/transactions.csv, worked out by hand, evaluated with --as-of 2024-07-01,
 * the day after the latest order_date (2024-06-30). Five customers are scored (F has only a return; G, H and
 * the row without an id are rejected). R and M have five distinct values among five customers, and F (purchase
 * days, here equal to orders) four, so every score is 1 + (number of customers strictly worse).
 *
 *   customer   orders (not returns)                   last        recency  freq  net spend
 *   A          05-01 200.00, 06-30 100.00              2024-06-30      1     2     300.00
 *   B          01-15 100.00 (return 02-01 −40.00)      2024-01-15    168     1      60.00
 *   C          03-10 2.50, 04-10 3.00, 06-01 5.00+7.50 2024-06-01     30     3      18.00
 *   Dee, Ltd   2023-12-01 250.00                       2023-12-01    213     1     250.00
 *   E          06-10, 06-20, 06-25, 06-29 at 1.00      2024-06-29      2     4       4.00
 *
 * Recency 2024-01-15 → 2024-07-01: 17 + 29 + 31 + 30 + 31 + 30 = 168 (2024 is a leap year); 2023-12-01 adds 31 +
 * 14 more days to 2024-01-15, so 213.
 * R (more recent is better): A 1 + 4, E 1 + 3, C 1 + 2, B 1 + 1, Dee 1 + 0.
 * F: B and Dee have 1 purchase day → F 1; A (2) beats 2 → 3; C (3) beats 3 → 4; E (4) beats 4 → 5.
 * M: E 4.00 → 1; C 18.00 → 2; B 60.00 → 3; Dee 250.00 → 4; A 300.00 → 5.
 * FM = ⌊(F + M + 1) / 2⌋: A 4, B 2, C 3, Dee 3, E 3; with R by the README grid: A (5, 4) Champions,
 * B (2, 2) Hibernating, C (3, 3) Need Attention, Dee (1, 3) At Risk, E (4, 3) Loyal.
 * Lifecycle (new 30, active 90, lapsed 180 days): E's first order is 21 days back → new; A (last 1 day back, gap
 * 60 days) and C (30 days back, gap 52) → active; B 168 days → cooling; Dee 213 days → lapsed.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { parse } from "csv-parse/sync";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main, OUTPUT_COLUMNS, type SegmentSummaryLine } from "../../../scripts/segment";
import { computeSegments } from "../../../shared/engine/compute";
import { ingestTransactions } from "../../../shared/engine/ingest";
import { AggregateState } from "../../../shared/engine/state";
import { FIXTURE_AS_OF, makeCategorizedTransactions } from "../../browser/fixture";
import { textSource } from "../engine/byte-source";

const FIXTURE = "test/fixtures/cli/transactions.csv";
const FIXTURE_NDJSON = "test/fixtures/cli/transactions.ndjson";
const CDNOW = "scripts/local/demo/cdnow-transactions.csv.gz";
/** The day after the fixture's latest order. */
const AS_OF = "2024-07-01";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(args: string[]): Promise<Run> {
  let stdout = "";
  let stderr = "";
  const code = await main(args, {
    stdout: {
      write: (text: string) => {
        stdout += text;
      },
    },
    stderr: {
      write: (text: string) => {
        stderr += text;
      },
    },
  });
  return { code, stdout, stderr };
}

/** The JSON summary: the last line of stdout. */
function summaryOf(result: Run): SegmentSummaryLine {
  const lines = result.stdout.trimEnd().split("\n");
  return JSON.parse(lines[lines.length - 1] as string);
}

async function rowsOf(path: string): Promise<Record<string, string>[]> {
  return parse(await readFile(path), { columns: true }) as Record<string, string>[];
}

const EXPECTED: Record<string, Record<string, string>> = {
  A: {
    first_purchase: "2024-05-01",
    recency_days: "1",
    frequency: "2",
    monetary: "300.00",
    r: "5",
    f: "3",
    m: "5",
    rfm_segment: "rfm:champions",
    lifecycle_stage: "lifecycle:active",
  },
  B: {
    first_purchase: "2024-01-15",
    recency_days: "168",
    frequency: "1",
    monetary: "60.00",
    r: "2",
    f: "1",
    m: "3",
    rfm_segment: "rfm:hibernating",
    lifecycle_stage: "lifecycle:cooling",
  },
  C: {
    first_purchase: "2024-03-10",
    recency_days: "30",
    frequency: "3",
    monetary: "18.00",
    r: "3",
    f: "4",
    m: "2",
    rfm_segment: "rfm:need-attention",
    lifecycle_stage: "lifecycle:active",
  },
  "Dee, Ltd": {
    first_purchase: "2023-12-01",
    recency_days: "213",
    frequency: "1",
    monetary: "250.00",
    r: "1",
    f: "1",
    m: "4",
    rfm_segment: "rfm:at-risk",
    lifecycle_stage: "lifecycle:lapsed",
  },
  E: {
    first_purchase: "2024-06-10",
    recency_days: "2",
    frequency: "4",
    monetary: "4.00",
    r: "4",
    f: "5",
    m: "1",
    rfm_segment: "rfm:loyal",
    lifecycle_stage: "lifecycle:new",
  },
};

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "segment-cli-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("segment CLI on the hand-checked fixture", () => {
  let result: Run;
  let rows: Record<string, string>[];
  let out: string;

  beforeAll(async () => {
    out = join(dir, "fixture.csv");
    result = await run([FIXTURE, "--out", out, "--as-of", AS_OF]);
    rows = await rowsOf(out);
  });

  it("exits 0 and writes the documented columns, one row per scored customer", async () => {
    expect(result.code).toBe(0);
    const header = (await readFile(out, "utf8")).split("\n")[0];
    expect(header).toBe(OUTPUT_COLUMNS.join(","));
    expect(rows.map((r) => r.customer_id).sort()).toEqual(["A", "B", "C", "Dee, Ltd", "E"]);
  });

  it("has the hand-computed RFM values, scores, segments and lifecycle stages", () => {
    for (const row of rows) {
      const want = EXPECTED[row.customer_id as string] as Record<string, string>;
      for (const [column, value] of Object.entries(want)) {
        expect({ customer: row.customer_id, column, value: row[column] }).toEqual({
          customer: row.customer_id,
          column,
          value,
        });
      }
    }
  });

  it("evaluates as of today (UTC) without --as-of, and says when the data is stale", async () => {
    const before = new Date().toISOString().slice(0, 10);
    const today = await run([FIXTURE, "--out", join(dir, "today.csv")]);
    const after = new Date().toISOString().slice(0, 10);
    expect(today.code).toBe(0);
    const summary = summaryOf(today);
    expect([before, after]).toContain(summary.asOf);
    expect(summary.asOfDefaulted).toBe(true);
    // The latest purchase (A's, 2024-06-30) is more than the 180-day lapsed window before any day from 2025 on.
    const stale = summary.issues.filter((i) => i.code === "STALE_DATA");
    expect(stale).toHaveLength(1);
    expect(stale[0]?.stage).toBe("data");
    expect(stale[0]?.message).toContain("The latest order (2024-06-30)");
    expect(stale[0]?.message).toContain("every customer looks lapsed");
    expect(stale[0]?.message).toContain("asOf to 2024-07-01");
    expect(today.stderr).toContain("STALE_DATA");
    const stages = new Set((await rowsOf(join(dir, "today.csv"))).map((r) => r.lifecycle_stage));
    expect([...stages]).toEqual(["lifecycle:lapsed"]);
    // Evaluated as of the data's end, nothing is stale.
    expect(summaryOf(result).issues.map((i) => i.code)).not.toContain("STALE_DATA");
    expect(summaryOf(result).asOfDefaulted).toBe(false);
  });

  it("clusters the five customers (k from 3 to 5) and has no value models for so few", () => {
    const summary = summaryOf(result);
    const k = summary.clusters?.k as number;
    expect(k).toBeGreaterThanOrEqual(3);
    expect(k).toBeLessThanOrEqual(5);
    const clusters = new Set(rows.map((r) => r.cluster));
    expect(clusters.size).toBe(k);
    for (const id of clusters) expect(id).toMatch(/^cluster:c\d+$/);
    expect(summary.value).toBeNull();
    expect(summary.issues.map((i: { code: string }) => i.code)).toContain("VALUE_TOO_FEW_CUSTOMERS");
    for (const row of rows) {
      expect([row.probability_alive, row.expected_purchases, row.clv]).toEqual(["", "", ""]);
    }
  });

  it("counts rows and orders, and lists the rejected rows on stderr", () => {
    const summary = summaryOf(result);
    expect(summary.rows).toEqual({ read: 17, accepted: 14, rejected: 3 });
    // 13 distinct order ids among the accepted rows (O8 has two lines); customers A, B, C, Dee, E and F.
    expect(summary.orders).toBe(13);
    expect(summary.customers).toBe(5);
    expect(summary.customersKnown).toBe(6);
    expect(result.stderr).toContain("3 rows rejected");
    // By the file's line (the header is line 1): data rows 5, 11 and 13.
    expect(result.stderr).toMatch(/line 6, column amount: BAD_AMOUNT/);
    expect(result.stderr).toMatch(/line 12, column order_date: BAD_DATE/);
    expect(result.stderr).toMatch(/line 14, column customer_id: MISSING_VALUE/);
  });

  it("reports seconds per stage and peak memory", () => {
    const summary = summaryOf(result);
    for (const stage of ["readAggregate", "rfm", "lifecycle", "clusters", "value", "write", "total"]) {
      expect(summary.seconds[stage]).toBeGreaterThanOrEqual(0);
    }
    expect(summary.peakMemoryMB.maxRss).toBeGreaterThan(0);
  });

  it("gives the same rows for the NDJSON and the gzipped copies", async () => {
    const gz = join(dir, "transactions.csv.gz");
    await writeFile(gz, gzipSync(await readFile(FIXTURE)));
    const fromGzip = join(dir, "gzip.csv");
    const fromNdjson = join(dir, "ndjson.csv");
    expect((await run([gz, "--out", fromGzip, "--as-of", AS_OF])).code).toBe(0);
    expect((await run([FIXTURE_NDJSON, "--out", fromNdjson, "--as-of", AS_OF])).code).toBe(0);
    const original = await readFile(out, "utf8");
    expect(await readFile(fromGzip, "utf8")).toBe(original);
    expect(await readFile(fromNdjson, "utf8")).toBe(original);
  });

  it("measures recency to --as-of and fixes k with --k", async () => {
    const later = join(dir, "later.csv");
    const result = await run([FIXTURE, "--out", later, "--as-of", "2024-08-01", "--k", "2", "--seed", "7"]);
    expect(result.code).toBe(0);
    const summary = summaryOf(result);
    expect(summary.asOf).toBe("2024-08-01");
    expect(summary.asOfDefaulted).toBe(false);
    expect(summary.clusters?.k).toBe(2);
    const byId = new Map((await rowsOf(later)).map((r) => [r.customer_id, r]));
    // July has 31 days; the ranks, and so the scores, do not change.
    for (const [id, want] of Object.entries(EXPECTED)) {
      const row = byId.get(id) as Record<string, string>;
      expect(Number(row.recency_days)).toBe(Number(want.recency_days) + 31);
      expect(row.rfm_segment).toBe(want.rfm_segment);
    }
    expect(new Set([...byId.values()].map((r) => r.cluster)).size).toBe(2);
  });

  it("leaves clusters empty, with an issue, when k exceeds the customers", async () => {
    const result = await run([FIXTURE, "--out", join(dir, "k6.csv"), "--k", "6"]);
    expect(result.code).toBe(0);
    const summary = summaryOf(result);
    expect(summary.clusters).toBeNull();
    expect(summary.issues.map((i: { code: string }) => i.code)).toContain("CLUSTERS_TOO_FEW_CUSTOMERS");
    for (const row of await rowsOf(join(dir, "k6.csv"))) expect(row.cluster).toBe("");
  });

  it("reads a customers file alongside, counting its rows", async () => {
    const result = await run([
      FIXTURE,
      "--customers",
      "test/fixtures/cli/customers.csv",
      "--out",
      join(dir, "c.csv"),
      "--as-of",
      AS_OF,
    ]);
    expect(result.code).toBe(0);
    const summary = summaryOf(result);
    // Z has attributes but no orders: known, not scored. The third row has no id.
    expect(summary.customerRows).toEqual({ read: 3, accepted: 2, rejected: 1 });
    expect(summary.customersKnown).toBe(7);
    expect(summary.customers).toBe(5);
    expect(result.stderr).toMatch(
      /customers\.csv: 1 row rejected\n {2}line 4, column customer_id: MISSING_VALUE/,
    );
    expect(await readFile(join(dir, "c.csv"), "utf8")).toBe(await readFile(out, "utf8"));
  });

  it("writes <input>.segments.csv by default", async () => {
    const input = join(dir, "orders.csv");
    await writeFile(input, await readFile(FIXTURE));
    const result = await run([input, "--as-of", AS_OF]);
    expect(result.code).toBe(0);
    expect(summaryOf(result).output).toBe(`${input}.segments.csv`);
    expect(await readFile(`${input}.segments.csv`, "utf8")).toBe(await readFile(out, "utf8"));
  });
});

describe("segment CLI on the CDNOW demo file", () => {
  it("scores all 23,570 customers with clusters and value, and a JSON summary last", async () => {
    const out = join(dir, "cdnow.csv");
    const result = await run([CDNOW, "--out", out, "--as-of", "1998-07-01"]);
    expect(result.code).toBe(0);
    const summary = summaryOf(result);
    // The file runs to the end of June 1998: evaluated as of the day after, nothing is stale.
    expect(summary.asOf).toBe("1998-07-01");
    expect(summary.issues.map((i) => i.code)).not.toContain("STALE_DATA");
    expect(summary.rows).toEqual({ read: 69_659, accepted: 69_659, rejected: 0 });
    expect(summary.customers).toBe(23_570);
    expect(summary.clusters?.k).toBeGreaterThanOrEqual(3);
    expect(summary.clusters?.k).toBeLessThanOrEqual(8);
    expect(summary.clusters?.inertia).toBeGreaterThan(0);
    const { bgNbd, paretoNbd, mbgNbd, gammaGamma } = summary.models ?? {};
    for (const [fit, names] of [
      [bgNbd, ["a", "alpha", "b", "r"]],
      [paretoNbd, ["alpha", "beta", "r", "s"]],
      [mbgNbd, ["a", "alpha", "b", "r"]],
      [gammaGamma, ["gamma", "p", "q"]],
    ] as const) {
      expect(Object.keys(fit?.params ?? {}).sort()).toEqual(names);
      for (const v of Object.values(fit?.params ?? {})) expect(v).toBeGreaterThan(0);
      expect(Number.isFinite(fit?.logLikelihood)).toBe(true);
    }
    expect(summary.selectedModel).toBe(summary.validation?.selected);

    const rows = await rowsOf(out);
    expect(rows).toHaveLength(23_570);
    expect(Object.keys(rows[0] as object)).toEqual([...OUTPUT_COLUMNS]);
    const orders = rows.reduce((sum, r) => sum + Number(r.frequency), 0);
    // CDNOW has no returns: every row is an order of its customer.
    expect(orders).toBe(69_659);
    for (const row of rows) {
      const alive = Number(row.probability_alive);
      expect(alive).toBeGreaterThanOrEqual(0);
      expect(alive).toBeLessThanOrEqual(1);
      expect(Number(row.clv)).toBeGreaterThanOrEqual(0);
      expect(row.cluster).toMatch(/^cluster:c\d+$/);
      expect(row.lifecycle_stage).toMatch(/^lifecycle:(new|active|cooling|lapsed|reactivated)$/);
    }
  });
});

/**
 * Repeat purchases in the holdout window counted from the file itself: for each customer whose first order is
 * on or before calibrationEnd, the distinct order days after calibrationEnd up to asOf (CDNOW has no returns).
 */
async function holdoutCount(path: string, calibrationEnd: string, asOf: string) {
  const rows = parse(gunzipSync(await readFile(path)), { columns: true }) as Record<string, string>[];
  const byCustomer = new Map<string, Set<string>>();
  for (const row of rows) {
    const id = row.customer_id as string;
    let days = byCustomer.get(id);
    if (!days) {
      days = new Set();
      byCustomer.set(id, days);
    }
    days.add(row.order_date as string);
  }
  let customers = 0;
  let repeats = 0;
  for (const days of byCustomer.values()) {
    const sorted = [...days].sort();
    if ((sorted[0] as string) > calibrationEnd) continue;
    customers++;
    repeats += sorted.filter((d) => d > calibrationEnd && d < asOf).length;
  }
  return { customers, repeats };
}

describe("segment CLI's value models on the CDNOW demo file", () => {
  it("validates every model on --holdout-days and lists the record, the fits and the model selected", async () => {
    const out = join(dir, "cdnow-holdout.csv");
    const result = await run([
      CDNOW,
      "--out",
      out,
      "--as-of",
      "1998-07-01",
      "--holdout-days",
      "182",
      "--k",
      "3",
    ]);
    expect(result.code).toBe(0);
    const { validation, selectedModel, selection, models } = summaryOf(result);
    // 1998-07-01 − 182 days: 1997-12-31 (181 days of 1998 to June 30, and the last day of 1997).
    expect(validation?.calibrationEnd).toBe("1997-12-31");
    expect(validation?.holdoutDays).toBe(182);
    const counted = await holdoutCount(CDNOW, "1997-12-31", "1998-07-01");
    expect(validation?.customers).toBe(counted.customers);
    expect(validation?.actualRepeatPurchases).toBe(counted.repeats);
    const rows = validation?.conditionalExpectations ?? [];
    expect(rows.map((r) => r.label)).toEqual(["0", "1", "2", "3", "4", "5", "6", "7+"]);
    expect(rows.reduce((sum, r) => sum + r.customers, 0)).toBe(counted.customers);
    expect(rows.reduce((sum, r) => sum + r.meanActual * r.customers, 0)).toBeCloseTo(counted.repeats, 6);
    // auto: the model with the lowest mean absolute error serves the predictions.
    const errors = Object.entries(validation?.models ?? {}).map(([name, m]) => [name, m.mae] as const);
    expect(errors).toHaveLength(3);
    const best = errors.reduce((a, b) => (b[1] < a[1] ? b : a));
    expect([selectedModel, selection]).toEqual([best[0], "holdout"]);
    expect(models?.[best[0] as "bgNbd"]?.fittedOn).toBe("all");
  });

  it("serves the model --model names over --horizon-days, with 80% intervals around each prediction", async () => {
    const out = join(dir, "cdnow-pareto.csv");
    const args = [CDNOW, "--as-of", "1998-07-01", "--model", "pareto", "--k", "3"];
    const result = await run([...args, "--out", out, "--horizon-days", "730"]);
    expect(result.code).toBe(0);
    const summary = summaryOf(result);
    expect([summary.selectedModel, summary.selection]).toEqual(["paretoNbd", "setting"]);
    expect(summary.value?.horizonDays).toBe(730);
    const params = summary.models?.paretoNbd?.params ?? {};
    expect(summary.models?.paretoNbd?.fittedOn).toBe("all");
    const rows = await rowsOf(out);
    let widened = 0;
    for (const row of rows) {
      const [low, mid, high] = [
        row.expected_purchases_low,
        row.expected_purchases,
        row.expected_purchases_high,
      ].map(Number);
      expect(low).toBeLessThanOrEqual(mid as number);
      expect(mid).toBeLessThanOrEqual(high as number);
      expect(Number(row.clv_low)).toBeLessThanOrEqual(Number(row.clv));
      expect(Number(row.clv)).toBeLessThanOrEqual(Number(row.clv_high));
      if ((high as number) > (low as number)) widened++;
    }
    expect(widened).toBeGreaterThan(rows.length / 2);
    // Customer 00001: one order, on 1997-01-01, T = 546 days before asOf. Pareto/NBD's conditional expectation
    // (Schmittlein, Morrison & Colombo 1987) is (r + x)(β + T) / ((α + T)(s − 1)) · [1 − ((β + T) / (β + T + t))^(s − 1)]
    // · P(alive): between two horizons t only the bracket changes, so the two runs' ratio is the brackets' ratio.
    const one = rows.find((r) => r.customer_id === "00001");
    const short = join(dir, "cdnow-pareto-365.csv");
    expect((await run([...args, "--out", short, "--horizon-days", "365"])).code).toBe(0);
    const oneShort = (await rowsOf(short)).find((r) => r.customer_id === "00001");
    const { s: shape = 0, beta = 0 } = params;
    const b = beta + 546;
    const growth = (t: number) => 1 - (b / (b + t)) ** (shape - 1);
    expect(Number(one?.expected_purchases) / Number(oneShort?.expected_purchases)).toBeCloseTo(
      growth(730) / growth(365),
      2,
    );
  });
});

describe("segment CLI errors", () => {
  it.each([
    [[]],
    [[FIXTURE, "other.csv"]],
    [[FIXTURE, "--nope"]],
    [[FIXTURE, "--as-of", "2024-02-30"]],
    [[FIXTURE, "--as-of", "yesterday"]],
    [[FIXTURE, "--k", "0"]],
    [[FIXTURE, "--k", "65"]],
    [[FIXTURE, "--k", "three"]],
    [[FIXTURE, "--seed", "-1"]],
    [[FIXTURE, "--seed=-1"]],
    [[FIXTURE, "--seed", "1.5"]],
    [[FIXTURE, "--format", "xml"]],
    [[FIXTURE, "--out"]],
    [[FIXTURE, "--model", "gbm"]],
    [[FIXTURE, "--holdout-days", "0"]],
    [[FIXTURE, "--horizon-days", "a year"]],
  ])("exits 2 with usage for %j", async (args) => {
    const result = await run(args as string[]);
    expect(result.code).toBe(2);
    // One line saying what is wrong, no stack trace.
    expect(result.stderr).toMatch(/^segment: [^\n]+ \(--help for usage\)\n$/);
    expect(result.stdout).toBe("");
  });

  it("exits 1 for a missing file, naming the system code", async () => {
    const result = await run([join(dir, "missing.csv")]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("ENOENT");
  });

  it("exits 1 for a file without the required columns, naming the FileError code", async () => {
    const bad = join(dir, "bad.csv");
    await writeFile(bad, "id,when,total\n1,2024-01-01,3.00\n");
    const result = await run([bad, "--out", join(dir, "bad.out.csv")]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/MISSING_COLUMNS/);
    expect(result.stderr).toContain("customer_id");
  });

  it("exits 1 for an empty file and for a binary file", async () => {
    const empty = join(dir, "empty.csv");
    await writeFile(empty, "");
    const emptyRun = await run([empty, "--out", join(dir, "empty.out.csv")]);
    expect(emptyRun.code).toBe(1);
    expect(emptyRun.stderr).toContain("EMPTY_FILE");
    const binary = join(dir, "binary.csv");
    await writeFile(binary, Buffer.from([0, 1, 2, 3, 0, 255, 254, 0, 9, 0]));
    const binaryRun = await run([binary, "--out", join(dir, "binary.out.csv")]);
    expect(binaryRun.code).toBe(1);
    expect(binaryRun.stderr).toContain("BINARY_FILE");
  });

  it("exits 1 when the output cannot be written", async () => {
    const result = await run([FIXTURE, "--out", join(dir, "no-such-dir", "out.csv")]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("ENOENT");
  });
});

describe("segment CLI's next best category", () => {
  it("writes each customer's next_best_category and the hit rate in the summary, as the engine has them", async () => {
    const dir = await mkdtemp(join(tmpdir(), "segment-nbc-"));
    try {
      const text = makeCategorizedTransactions(300, 5);
      const file = join(dir, "records.csv");
      await writeFile(file, text);
      const out = join(dir, "out.csv");
      const result = await run([file, "--as-of", FIXTURE_AS_OF, "--out", out]);
      expect(result.code).toBe(0);
      const state = new AggregateState();
      await ingestTransactions(textSource(text), { format: "csv" }, state);
      const engine = computeSegments(state, { asOf: FIXTURE_AS_OF, clusters: false, value: false });
      const report = engine.nextBestCategory;
      if (report === undefined || "skipped" in report) throw new Error("the engine measured no hit rate");
      expect(summaryOf(result).nextBestCategory).toEqual(report);
      const rows = await rowsOf(out);
      const want = new Map<string, string>();
      for (let i = 0; i < engine.customerCount; i++) {
        const c = engine.customer(i);
        want.set(c.customerId, c.nextBestCategory ?? "");
      }
      expect(rows.map((r) => [r.customer_id, r.next_best_category])).toEqual([...want]);
      expect(rows.filter((r) => r.next_best_category !== "").length).toBeGreaterThan(100);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
