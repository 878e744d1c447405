/**
 * Lookalike segments computed with a run (shared/engine/lookalike, compute.ts): a planted seed (members more
 * often in region=north and buying more often) is recovered with a held-out AUC above 0.9 and a lookalike
 * segment enriched in both traits; a seed drawn at random scores an AUC within 4 Hanley–McNeil standard errors
 * of ½ for the held-out sizes; runs are deterministic; top N and percent sizing with ties in position order;
 * too-small and unknown seeds give their issues; a rule may not name a lookalike.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { computeSegments } from "../../../shared/engine/compute";
import { ingestCustomers, ingestTransactions } from "../../../shared/engine/ingest";
import {
  hanleyMcNeilSe,
  type LookalikeReport,
  lookalikeCount,
  topByScore,
} from "../../../shared/engine/lookalike";
import { AggregateState } from "../../../shared/engine/state";
import type { ComputeSettings, SegmentationResult } from "../../../shared/engine/types";
import { textSource } from "./byte-source";

const AS_OF = "2024-07-01";
const CUSTOMERS = 4_000;
const REGIONS = ["north", "south", "east", "west"] as const;

/** mulberry32: a small seeded generator, so every run draws the same customers. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Planted {
  state: AggregateState;
  /** Customers drawn into the planted seed: P = σ(−8 + 0.9 × orders + 3 × [north]). */
  planted: string[];
  /** A random 30 % of customers, unrelated to anything. */
  random: string[];
  region: Map<string, string>;
  orders: Map<string, number>;
}

async function plantedState(): Promise<Planted> {
  const random = rng(20240701);
  const tx: string[] = [];
  const customers: string[] = [];
  const planted: string[] = [];
  const chance: string[] = [];
  const region = new Map<string, string>();
  const orders = new Map<string, number>();
  let order = 0;
  for (let c = 0; c < CUSTOMERS; c++) {
    const id = `C${String(c).padStart(5, "0")}`;
    const where = REGIONS[Math.floor(random() * 4)] as string;
    const count = 1 + Math.floor(random() * 10);
    for (let k = 0; k < count; k++) {
      const day = 1 + Math.floor(random() * 28);
      const month = 1 + Math.floor(random() * 6);
      const amount = (10 + Math.floor(random() * 9000) / 100).toFixed(2);
      tx.push(
        `${id},o${order++},2024-${String(month).padStart(2, "0")}-${String(day).padStart(2, "0")},${amount}`,
      );
    }
    customers.push(`${id},${where}`);
    region.set(id, where);
    orders.set(id, count);
    const z = -8 + 0.9 * count + 3 * (where === "north" ? 1 : 0);
    if (random() < 1 / (1 + Math.exp(-z))) planted.push(id);
    if (random() < 0.3) chance.push(id);
  }
  const state = new AggregateState();
  await ingestTransactions(
    textSource(`customer_id,order_id,order_date,amount\n${tx.join("\n")}\n`),
    { format: "csv" },
    state,
  );
  await ingestCustomers(
    textSource(`customer_id,region\n${customers.join("\n")}\n`),
    { format: "csv" },
    state,
  );
  return { state, planted, random: chance, region, orders };
}

function settingsOf(p: Planted): ComputeSettings {
  return {
    asOf: AS_OF,
    clusters: false,
    value: false,
    lists: [
      { id: "list:planted", name: "Planted", customerIds: p.planted },
      { id: "list:random", name: "Random", customerIds: p.random },
    ],
    lookalikes: [
      { id: "lookalike:like-planted", name: "Like planted", seed: "list:planted", size: { top: 300 } },
      { id: "lookalike:like-random", name: "Like random", seed: "list:random", size: { percent: 10 } },
    ],
  };
}

function membersOf(result: SegmentationResult, id: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < result.customerCount; i++) {
    const c = result.customer(i);
    if (c.segments.includes(id)) out.push(c.customerId);
  }
  return out;
}

function reportOf(result: SegmentationResult, id: string): LookalikeReport {
  const report = result.segments.find((s) => s.id === id)?.lookalike;
  if (report === undefined) throw new Error(`no report for ${id}`);
  return report;
}

describe("lookalike segments", () => {
  let planted: Planted;
  let result: SegmentationResult;
  beforeAll(async () => {
    planted = await plantedState();
    result = computeSegments(planted.state, settingsOf(planted));
  });

  it("recovers a planted seed: AUC above 0.9, the segment enriched in north and in order count", () => {
    const report = reportOf(result, "lookalike:like-planted");
    expect(report.seedSize).toBe(planted.planted.length);
    // About a fifth of the seed and of the rest held out, by a hash of the id.
    expect(report.heldOut.seed).toBeGreaterThan(planted.planted.length * 0.12);
    expect(report.heldOut.seed).toBeLessThan(planted.planted.length * 0.28);
    expect(report.heldOut.seed + report.trained.seed).toBe(planted.planted.length);
    expect(report.heldOut.rest + report.trained.rest).toBe(CUSTOMERS - planted.planted.length);
    expect(report.auc).toBeGreaterThan(0.9);
    const names = report.features.map((f) => f.name);
    expect(names.slice(0, 3)).toContain("attributes.region=north");
    expect(report.features.find((f) => f.name === "attributes.region=north")?.weight).toBeGreaterThan(0);
    expect(report.features.find((f) => f.name === "log1p_frequency")?.weight).toBeGreaterThan(0);

    const seed = new Set(planted.planted);
    const members = membersOf(result, "lookalike:like-planted");
    expect(members).toHaveLength(300);
    expect(members.some((id) => seed.has(id))).toBe(false);
    const rest = [...planted.region.keys()].filter((id) => !seed.has(id));
    const northShare = (ids: string[]) =>
      ids.filter((id) => planted.region.get(id) === "north").length / ids.length;
    const meanOrders = (ids: string[]) =>
      ids.reduce((s, id) => s + (planted.orders.get(id) as number), 0) / ids.length;
    expect(northShare(members)).toBeGreaterThan(2 * northShare(rest));
    expect(meanOrders(members)).toBeGreaterThan(meanOrders(rest) + 2);
  });

  it("gives a random seed an AUC within 4 Hanley–McNeil standard errors of ½", () => {
    const report = reportOf(result, "lookalike:like-random");
    expect(report.auc).not.toBeNull();
    const se = hanleyMcNeilSe(0.5, report.heldOut.seed, report.heldOut.rest);
    expect(se).toBeLessThan(0.05);
    expect(Math.abs((report.auc as number) - 0.5)).toBeLessThan(4 * se);
    // 10 % of the customers outside the seed, rounded down.
    const size = result.segments.find((s) => s.id === "lookalike:like-random")?.size;
    expect(size).toBe(Math.floor((CUSTOMERS - planted.random.length) / 10));
  });

  it("is deterministic: the same data give the same members and report", () => {
    const again = computeSegments(planted.state, settingsOf(planted));
    for (const id of ["lookalike:like-planted", "lookalike:like-random"]) {
      expect(reportOf(again, id)).toEqual(reportOf(result, id));
      expect(membersOf(again, id)).toEqual(membersOf(result, id));
    }
  });

  it("lists the lookalike family with the economics of its members", () => {
    const summary = result.segments.find((s) => s.id === "lookalike:like-planted");
    expect(summary?.family).toBe("lookalike");
    expect(summary?.name).toBe("Like planted");
    expect(summary?.size).toBe(300);
    expect(summary?.share).toBeCloseTo(300 / CUSTOMERS, 12);
  });
});

describe("lookalike sizing, ties and seeds that do not support a model", () => {
  /** 100 customers with the same single order: every feature constant, so every score ties. */
  async function flatState(): Promise<AggregateState> {
    const state = new AggregateState();
    const tx = Array.from({ length: 100 }, (_, c) => `F${String(c).padStart(3, "0")},f${c},2024-06-01,20.00`);
    await ingestTransactions(
      textSource(`customer_id,order_id,order_date,amount\n${tx.join("\n")}\n`),
      { format: "csv" },
      state,
    );
    return state;
  }
  const seedIds = Array.from({ length: 25 }, (_, c) => `F${String(c).padStart(3, "0")}`);

  it("takes tied customers in position order, top N or X % rounded down (at least 1)", async () => {
    const state = await flatState();
    const result = computeSegments(state, {
      asOf: AS_OF,
      clusters: false,
      value: false,
      lists: [{ id: "list:seed", name: "Seed", customerIds: seedIds }],
      lookalikes: [
        { id: "lookalike:top", name: "Top", seed: "list:seed", size: { top: 5 } },
        { id: "lookalike:ten", name: "Ten", seed: "list:seed", size: { percent: 10 } },
        { id: "lookalike:one", name: "One", seed: "list:seed", size: { percent: 1 } },
        { id: "lookalike:all", name: "All", seed: "list:seed", size: { top: 1000 } },
      ],
    });
    expect(membersOf(result, "lookalike:top")).toEqual(["F025", "F026", "F027", "F028", "F029"]);
    // 75 customers outside the seed: 10 % is 7.5, so 7; 1 % is 0.75, so at least 1.
    expect(membersOf(result, "lookalike:ten")).toHaveLength(7);
    expect(membersOf(result, "lookalike:one")).toEqual(["F025"]);
    expect(membersOf(result, "lookalike:all")).toHaveLength(75);
    expect(reportOf(result, "lookalike:top").features).toEqual([]);
  });

  it("reports a seed too small to hold out (no AUC) and an unknown seed (empty segment)", async () => {
    const state = await flatState();
    const result = computeSegments(state, {
      asOf: AS_OF,
      clusters: false,
      value: false,
      lists: [{ id: "list:few", name: "Few", customerIds: ["F000", "F001", "F002"] }],
      lookalikes: [
        { id: "lookalike:few", name: "Few", seed: "list:few", size: { top: 4 } },
        { id: "lookalike:none", name: "None", seed: "rule:nope", size: { top: 4 } },
      ],
    });
    const few = reportOf(result, "lookalike:few");
    expect(few.auc).toBeNull();
    expect(few.seedSize).toBe(3);
    expect(few.trained).toEqual({ seed: 3, rest: 97 });
    expect(membersOf(result, "lookalike:few")).toEqual(["F003", "F004", "F005", "F006"]);
    expect(result.issues).toContainEqual(
      expect.objectContaining({
        code: "LOOKALIKE_SEED_TOO_SMALL",
        stage: "lookalikes",
        segment: "lookalike:few",
      }),
    );
    expect(result.issues).toContainEqual(
      expect.objectContaining({
        code: "LOOKALIKE_UNKNOWN_SEED",
        stage: "lookalikes",
        segment: "lookalike:none",
      }),
    );
    expect(result.segments.find((s) => s.id === "lookalike:none")?.size).toBe(0);
    expect(reportOf(result, "lookalike:none").seedSize).toBe(0);
  });

  it("refuses a lookalike seeded by a lookalike and a bad size before any work", async () => {
    const state = await flatState();
    const base = { asOf: AS_OF, clusters: false as const, value: false as const };
    expect(() =>
      computeSegments(state, {
        ...base,
        lookalikes: [{ id: "lookalike:a", name: "A", seed: "lookalike:b", size: { top: 1 } }],
      }),
    ).toThrow(expect.objectContaining({ code: "BAD_LOOKALIKE", field: "lookalikes[0].seed" }));
    expect(() =>
      computeSegments(state, {
        ...base,
        lookalikes: [{ id: "lookalike:a", name: "A", seed: "rfm:champions", size: { percent: 0 } }],
      }),
    ).toThrow(expect.objectContaining({ code: "BAD_LOOKALIKE", field: "lookalikes[0].size" }));
  });

  it("leaves a rule that names a lookalike with an unknown segment", async () => {
    const state = await flatState();
    const result = computeSegments(state, {
      asOf: AS_OF,
      clusters: false,
      value: false,
      lists: [{ id: "list:seed", name: "Seed", customerIds: seedIds }],
      rules: [
        { id: "rule:r", name: "R", rule: { field: "segment", op: "in_segment", value: "lookalike:top" } },
      ],
      lookalikes: [{ id: "lookalike:top", name: "Top", seed: "list:seed", size: { top: 5 } }],
    });
    expect(result.segments.find((s) => s.id === "rule:r")?.size).toBe(0);
    expect(result.issues.some((i) => i.segment === "rule:r" && i.stage === "rules")).toBe(true);
  });
});

describe("lookalikeCount and topByScore", () => {
  it("sizes from top or percent of the candidates", () => {
    expect(lookalikeCount({ top: 10 }, 4)).toBe(4);
    expect(lookalikeCount({ percent: 10 }, 30)).toBe(3);
    expect(lookalikeCount({ percent: 100 }, 7)).toBe(7);
    expect(lookalikeCount({ percent: 0.1 }, 5)).toBe(1);
    expect(lookalikeCount({ percent: 50 }, 0)).toBe(0);
  });

  it("keeps the highest scores among the candidates, ties in position order", () => {
    const scores = Float64Array.from([5, 9, 7, 7, 7, 1, 9]);
    const candidate = Uint8Array.from([1, 1, 1, 1, 1, 1, 0]);
    expect(Array.from(topByScore(scores, candidate, 3))).toEqual([0, 1, 1, 1, 0, 0, 0]);
    expect(Array.from(topByScore(scores, candidate, 0))).toEqual([0, 0, 0, 0, 0, 0, 0]);
  });
});
