/**
 * The cluster family inside computeSegments: on customers generated in three well-separated groups the
 * clusters are exactly the groups, the family's economics agree with the customers' own values, ids stay with
 * their groups from one run to the next when the previous model is passed, and too few customers or bad
 * settings are reported.
 */
import { describe, expect, it } from "vitest";
import { type ComputedSegmentation, computeSegments } from "../../../shared/engine/compute";
import { ComputeError } from "../../../shared/engine/errors";
import { ingestTransactions } from "../../../shared/engine/ingest";
import { previousFrom } from "../../../shared/engine/kmeans";
import { AggregateState } from "../../../shared/engine/state";
import type { ComputeSettings } from "../../../shared/engine/types";
import { textSource } from "./byte-source";

const AS_OF = "2024-07-01";
const AS_OF_MS = Date.parse(`${AS_OF}T00:00:00Z`);
const DAY_MS = 86_400_000;

/** A small deterministic generator (Park–Miller), so the data do not depend on the code under test. */
function lcg(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 48271) % 2147483647;
    return s / 2147483647;
  };
}

const date = (daysAgo: number) => new Date(AS_OF_MS - daysAgo * DAY_MS).toISOString().slice(0, 10);

type Group = "once" | "loyal" | "middling";

/**
 * once: one order of 8–12, 300–360 days ago; loyal: 12 orders of 180–220 every 5 days, the last 0–4 days
 * ago; middling: 4 orders of 45–55 every 10 days, the last 120–150 days ago.
 */
function groupCsv(
  sizes: Record<Group, number>,
  seed: number,
  prefix: string,
): { csv: string; truth: Map<string, Group> } {
  const next = lcg(seed);
  const rows: string[] = [];
  const truth = new Map<string, Group>();
  let order = 0;
  for (const group of ["once", "loyal", "middling"] as const) {
    for (let c = 0; c < sizes[group]; c++) {
      const id = `${prefix}${group}${c}`;
      truth.set(id, group);
      const [orders, low, spread, last, gap] =
        group === "once"
          ? [1, 8, 4, 300 + Math.floor(next() * 60), 0]
          : group === "loyal"
            ? [12, 180, 40, Math.floor(next() * 5), 5]
            : [4, 45, 10, 120 + Math.floor(next() * 30), 10];
      for (let k = 0; k < orders; k++) {
        const amount = (low + next() * spread).toFixed(2);
        rows.push(`${id},o${prefix}${order++},${date(last + k * gap)},${amount}`);
      }
    }
  }
  return { csv: `customer_id,order_id,order_date,amount\n${rows.join("\n")}\n`, truth };
}

async function compute(csv: string, settings: Partial<ComputeSettings> = {}): Promise<ComputedSegmentation> {
  const state = new AggregateState();
  await ingestTransactions(textSource(csv), { format: "csv" }, state);
  return computeSegments(state, { asOf: AS_OF, value: false, ...settings });
}

/** The cluster id of each true group, after checking that every group is one cluster and vice versa. */
function idsOfGroups(result: ComputedSegmentation, truth: Map<string, Group>): Record<Group, string> {
  const byGroup = new Map<Group, Set<string>>();
  const byCluster = new Map<string, Set<Group>>();
  for (let i = 0; i < result.customerCount; i++) {
    const c = result.customer(i);
    const group = truth.get(c.customerId) as Group;
    const cluster = c.cluster as string;
    expect(c.segments.filter((s) => s.startsWith("cluster:"))).toEqual([cluster]);
    byGroup.set(group, (byGroup.get(group) ?? new Set()).add(cluster));
    byCluster.set(cluster, (byCluster.get(cluster) ?? new Set()).add(group));
  }
  for (const clusters of byGroup.values()) expect(clusters.size).toBe(1);
  for (const groups of byCluster.values()) expect(groups.size).toBe(1);
  return Object.fromEntries([...byGroup].map(([g, set]) => [g, [...set][0]])) as Record<Group, string>;
}

describe("the cluster family", () => {
  it("finds the three generated groups, k chosen by silhouette within 3..8", async () => {
    const { csv, truth } = groupCsv({ once: 80, loyal: 40, middling: 60 }, 7, "a");
    const result = await compute(csv);
    expect(result.clusters?.k).toBe(3);
    const ids = idsOfGroups(result, truth);
    // Ids are numbered by size on a first run: the biggest group is c1.
    expect(ids).toEqual({ once: "cluster:c1", middling: "cluster:c2", loyal: "cluster:c3" });

    const family = result.segments.filter((s) => s.family === "cluster");
    expect(family.map((s) => s.id)).toEqual(result.clusters?.ids);
    const customers = Array.from({ length: result.customerCount }, (_, i) => result.customer(i));
    const totalRevenue = customers.reduce((s, c) => s + c.monetary, 0);
    for (const segment of family) {
      const members = customers.filter((c) => c.cluster === segment.id);
      const revenue = members.reduce((s, c) => s + c.monetary, 0);
      const orders = members.reduce((s, c) => s + c.frequency, 0);
      expect(segment.size).toBe(members.length);
      expect(segment.share).toBeCloseTo(members.length / customers.length, 12);
      expect(segment.revenue).toBeCloseTo(revenue, 6);
      expect(segment.revenueShare).toBeCloseTo(revenue / totalRevenue, 9);
      // Rounded to the cent (engine/money.ts): within half a cent of the exact mean, on a whole cent.
      expect(Math.abs(segment.averageOrderValue - revenue / orders)).toBeLessThanOrEqual(0.005 + 1e-9);
      expect(
        Math.abs(segment.averageOrderValue * 100 - Math.round(segment.averageOrderValue * 100)),
      ).toBeLessThan(1e-6);
      expect(segment.meanClv).toBeNull();
      expect(members.every((c) => c.clusterName === segment.name)).toBe(true);
    }
    const loyal = family.find((s) => s.id === ids.loyal);
    expect(loyal?.name).toMatch(/^Frequent, high spend, recent/);
    // The centre in the data's units: 12 orders of 180–220, the last 0–4 days ago.
    expect(loyal?.description).toMatch(
      /^Typical customer: 12 orders, 2,[1-6]\d\d spent, (18\d|19\d|20\d|21\d) per order, last order [0-4] days? ago\.$/,
    );
    expect(family.find((s) => s.id === ids.once)?.name).toMatch(/^One-time/);
    expect(new Set(family.map((s) => s.name)).size).toBe(3);
  });

  it("keeps each group's id when the previous model is passed, though sizes and order change", async () => {
    const first = groupCsv({ once: 80, loyal: 40, middling: 60 }, 7, "a");
    const before = await compute(first.csv);
    const idsBefore = idsOfGroups(before, first.truth);

    // Other customers, groups listed in another order and sized so that loyal is now the biggest.
    const second = groupCsv({ once: 30, loyal: 90, middling: 50 }, 11, "b");
    const lines = second.csv.trim().split("\n");
    const shuffled = [lines[0], ...lines.slice(1).reverse()].join("\n");
    const fresh = idsOfGroups(await compute(shuffled, { clusters: { seed: 5 } }), second.truth);
    // Without the previous model the biggest group, now loyal, would be c1.
    expect(fresh.loyal).toBe("cluster:c1");

    const previous = previousFrom(before.clusters as NonNullable<typeof before.clusters>);
    const after = await compute(shuffled, { clusters: { seed: 5, previous } });
    expect(idsOfGroups(after, second.truth)).toEqual(idsBefore);
    expect(after.clusters?.retiredIds).toEqual([]);
    // A JSON round trip, as a stored model would take, changes nothing.
    const stored = JSON.parse(JSON.stringify(previous));
    const again = await compute(shuffled, { clusters: { seed: 5, previous: stored } });
    expect(idsOfGroups(again, second.truth)).toEqual(idsBefore);
  });

  it("honours a fixed k", async () => {
    const { csv } = groupCsv({ once: 20, loyal: 20, middling: 20 }, 3, "k");
    const result = await compute(csv, { clusters: { k: 2 } });
    expect(result.clusters?.k).toBe(2);
    expect(result.segments.filter((s) => s.family === "cluster")).toHaveLength(2);
  });

  it("skips clustering with fewer customers than the smallest k, and says why", async () => {
    const csv = "customer_id,order_id,order_date,amount\na,1,2024-06-01,10\nb,2,2024-05-01,20\n";
    const result = await compute(csv);
    expect(result.clusters).toBeUndefined();
    expect(result.columns.cluster).toBeUndefined();
    expect(result.segments.some((s) => s.family === "cluster")).toBe(false);
    expect(result.issues).toEqual([
      {
        code: "CLUSTERS_TOO_FEW_CUSTOMERS",
        message: "2 customers with orders; clustering needs at least 3",
        stage: "clusters",
      },
    ]);
    const c = result.customer(0);
    expect(c.cluster).toBeUndefined();
    expect(c.clusterName).toBeUndefined();
    expect(c.segments.some((s) => s.startsWith("cluster:"))).toBe(false);
    // With k fixed at 2 the same two customers are enough.
    const two = await compute(csv, { clusters: { k: 2 } });
    expect(two.clusters?.k).toBe(2);
    expect(two.issues).toEqual([]);
  });

  it("is left out, without an issue, when turned off", async () => {
    const { csv } = groupCsv({ once: 5, loyal: 5, middling: 5 }, 3, "off");
    const result = await compute(csv, { clusters: false });
    expect(result.clusters).toBeUndefined();
    expect(result.issues).toEqual([]);
    expect(result.timings.clusters).toBe(0);
  });

  it("refuses bad settings with BAD_CLUSTER_SETTINGS and the field, before computing anything", () => {
    const cases: [unknown, string][] = [
      [{ kMin: 1 }, "clusters.kMin"],
      [{ kMin: 6, kMax: 4 }, "clusters.kMin"],
      [{ kMax: 65 }, "clusters.kMax"],
      [{ k: 0 }, "clusters.k"],
      [{ seed: Number.NaN }, "clusters.seed"],
      [
        { previous: { featureNames: ["a"], ids: ["cluster:c1"], centroids: [[1, 2]] } },
        "clusters.previous.centroids",
      ],
      [{ previous: { featureNames: ["a"], ids: ["not an id"], centroids: [[1]] } }, "clusters.previous.ids"],
    ];
    for (const [clusters, field] of cases) {
      let caught: unknown;
      try {
        computeSegments(new AggregateState(), {
          asOf: AS_OF,
          clusters: clusters as ComputeSettings["clusters"],
        });
      } catch (error) {
        caught = error;
      }
      expect(caught, JSON.stringify(clusters)).toBeInstanceOf(ComputeError);
      expect((caught as ComputeError).code).toBe("BAD_CLUSTER_SETTINGS");
      expect((caught as ComputeError).field).toBe(field);
    }
  });
});
