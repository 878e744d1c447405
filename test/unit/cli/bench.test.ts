/**
 * The benchmark's parts on a small scale: the synthetic data are deterministic and shaped as documented, and
 * the straightforward baseline agrees with the engine (through the segment CLI) on every customer's RFM.
 */
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { baselineRfm, baselineSegment } from "../../../scripts/bench/baseline";
import { DEFAULT_SPEC, simulateRows, syntheticFile } from "../../../scripts/bench/generate";
import { main } from "../../../scripts/segment";

const SPEC = { ...DEFAULT_SPEC, customers: 3_000 };
const quiet = { write: () => true };

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "bench-parts-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("synthetic data", () => {
  it("is the same file for the same spec, and reused from the cache", async () => {
    const first = syntheticFile(join(dir, "a"), SPEC);
    const second = syntheticFile(join(dir, "b"), SPEC);
    const again = syntheticFile(join(dir, "a"), SPEC);
    const digest = async (path: string) =>
      createHash("sha256")
        .update(await readFile(path))
        .digest("hex");
    expect(await digest(first.path)).toBe(await digest(second.path));
    expect(first.cached).toBeUndefined();
    expect(again.cached).toBe(true);
    expect(again.rows).toBe(first.rows);
    const other = syntheticFile(join(dir, "a"), { ...SPEC, seed: SPEC.seed + 1 });
    expect(other.path).not.toBe(first.path);
    expect(await digest(other.path)).not.toBe(await digest(first.path));
  });

  it("has about ten rows per customer, about 3 % returns, and one-time buyers", () => {
    const rows = simulateRows({ ...DEFAULT_SPEC, customers: 20_000 });
    let returns = 0;
    let lastDay = 0;
    const perCustomer = new Uint32Array(20_000);
    for (let k = 0; k < rows.length; k++) {
      if ((rows.cents[k] as number) < 0) returns++;
      else {
        const c = rows.customer[k] as number;
        perCustomer[c] = (perCustomer[c] as number) + 1;
      }
      lastDay = Math.max(lastDay, rows.day[k] as number);
    }
    expect(lastDay).toBe(DEFAULT_SPEC.days - 1);
    expect(rows.length / 20_000).toBeGreaterThan(9);
    expect(rows.length / 20_000).toBeLessThan(11);
    expect(returns / rows.length).toBeGreaterThan(0.025);
    expect(returns / rows.length).toBeLessThan(0.035);
    const oneTime = perCustomer.filter((n) => n === 1).length / 20_000;
    expect(oneTime).toBeGreaterThan(0.1);
    expect(Math.min(...perCustomer)).toBe(1);
  });

  it("is a CSV in the data contract, in date order", async () => {
    const file = syntheticFile(join(dir, "a"), SPEC);
    const records = parse(await readFile(file.path), { columns: true }) as Record<string, string>[];
    expect(records).toHaveLength(file.rows);
    expect(Object.keys(records[0] as object)).toEqual([
      "customer_id",
      "order_id",
      "order_date",
      "amount",
      "channel",
    ]);
    for (let i = 1; i < records.length; i++) {
      expect((records[i]?.order_date as string) >= (records[i - 1]?.order_date as string)).toBe(true);
    }
    expect(new Set(records.map((r) => r.order_id)).size).toBe(records.length);
    expect(records.filter((r) => Number(r.amount) < 0)).toHaveLength(file.returns);
    expect(records[records.length - 1]?.order_date).toBe(file.lastDay);
  });
});

describe("baseline", () => {
  it("maps R and FM by the README grid", () => {
    expect(baselineSegment(5, 5, 4)).toBe("rfm:champions");
    expect(baselineSegment(5, 1, 1)).toBe("rfm:new-customers");
    expect(baselineSegment(3, 3, 2)).toBe("rfm:need-attention");
    expect(baselineSegment(2, 5, 5)).toBe("rfm:cant-lose-them");
    expect(baselineSegment(1, 2, 1)).toBe("rfm:lost");
    expect(baselineSegment(4, 1, 2)).toBe("rfm:potential-loyalist");
  });

  it("agrees with the engine on every customer's RFM values, scores and segment", async () => {
    const file = syntheticFile(join(dir, "a"), SPEC);
    const baselineOut = join(dir, "baseline.csv");
    const engineOut = join(dir, "engine.csv");
    const result = await baselineRfm(file.path, file.asOf, baselineOut);
    expect(result.rows).toBe(file.rows);
    const code = await main([file.path, "--out", engineOut, "--as-of", file.asOf, "--k", "4"], {
      stdout: quiet,
      stderr: quiet,
    });
    expect(code).toBe(0);
    const baseline = parse(await readFile(baselineOut), { columns: true }) as Record<string, string>[];
    const engine = parse(await readFile(engineOut), { columns: true }) as Record<string, string>[];
    expect(engine).toHaveLength(baseline.length);
    const byId = new Map(baseline.map((r) => [r.customer_id, r]));
    for (const row of engine) {
      const want = byId.get(row.customer_id) as Record<string, string>;
      expect([
        row.recency_days,
        row.frequency,
        String(Math.round(Number(row.monetary) * 100)),
        row.r,
        row.f,
        row.m,
        row.rfm_segment,
      ]).toEqual([
        want.recency_days,
        want.frequency,
        want.monetary_cents,
        want.r,
        want.f,
        want.m,
        want.rfm_segment,
      ]);
    }
  });
});
