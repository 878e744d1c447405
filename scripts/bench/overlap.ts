/**
 * Benchmark of overlap answers at scale: what shared/api/overlap.ts does in a request, on simulated
 * memberships with known structure. A version of N customers is simulated with the families a run makes
 * (11 RFM segments and 5 lifecycle stages, each a partition of the customers; 8 clusters, another partition;
 * rule segments of densities from 0.1% to 60%), its views written as a run writes them and the membership
 * object built from them (the run-side cost); then 30 of its segments are compared:
 *
 *  - bitsets, as served: decode the object (cold) and compute every pair (cold and warm, the version kept);
 *  - sorted position lists, the alternative: merge walks over each pair's ascending positions;
 *  - baseline: a plain Set of each segment's member ids, each pair counted by probing the larger set with the
 *    smaller one's members.
 *
 * All three must agree on every pair's count (exit 1 otherwise). S3 transfer time is not included; the object's
 * size is printed so it can be estimated.
 *
 *   npm run bench -- --overlap [--customers 1m] [--segments 30]
 */
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import {
  MAX_OVERLAP_SEGMENTS,
  overlapOf,
  positionsOf,
  sortedIntersectionCount,
} from "../../shared/engine/overlap";
import { encodeMembership, Membership } from "../../shared/pipeline/membership";
import type { Outputs } from "../../shared/pipeline/outputs";

const USAGE = `usage: npm run bench -- --overlap [--customers 1m] [--segments 30]
  --customers  customers of the simulated version, e.g. 100k or 1m (default 1m)
  --segments   segments compared, 2 to ${MAX_OVERLAP_SEGMENTS} (default ${MAX_OVERLAP_SEGMENTS})
`;

function count(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)([km]?)$/i.exec(text.trim());
  if (!m) return undefined;
  const factor = { "": 1, k: 1e3, m: 1e6 }[(m[2] ?? "").toLowerCase()] ?? 1;
  const n = Math.round(Number(m[1]) * factor);
  return n > 0 ? n : undefined;
}

let options: { customers: string; segments: string; help: boolean };
try {
  options = parseArgs({
    options: {
      customers: { type: "string", default: "1m" },
      segments: { type: "string", default: String(MAX_OVERLAP_SEGMENTS) },
      help: { type: "boolean", default: false },
    },
  }).values as typeof options;
} catch (error) {
  process.stderr.write(`bench --overlap: ${(error as Error).message}\n${USAGE}`);
  process.exit(2);
}
if (options.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const customers = count(options.customers);
const compared = count(options.segments);
if (customers === undefined || compared === undefined || compared < 2 || compared > MAX_OVERLAP_SEGMENTS) {
  process.stderr.write(`bench --overlap: bad --customers or --segments\n${USAGE}`);
  process.exit(2);
}

/** A deterministic generator (mulberry32). */
function random(seed: number): () => number {
  let t = seed >>> 0;
  return () => {
    t = (t + 0x6d2b79f5) >>> 0;
    let x = Math.imul(t ^ (t >>> 15), 1 | t);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const RFM = [
  "champions",
  "loyal",
  "potential-loyalist",
  "new-customers",
  "promising",
  "need-attention",
  "about-to-sleep",
  "at-risk",
  "cant-lose-them",
  "hibernating",
  "lost",
].map((s) => `rfm:${s}`);
const LIFECYCLE = ["new", "active", "at-risk", "lapsed", "reactivated"].map((s) => `lifecycle:${s}`);
const CLUSTERS = Array.from({ length: 8 }, (_, k) => `cluster:c${k + 1}`);
const RULES = [0.001, 0.01, 0.05, 0.1, 0.2, 0.3, 0.45, 0.6].map((d, k) => ({ id: `rule:r${k + 1}`, d }));
const ALL = [...RFM, ...LIFECYCLE, ...CLUSTERS, ...RULES.map((r) => r.id)];

/** Wall and CPU (user + system) milliseconds since a start taken by `start()`. */
const start = () => ({ wall: performance.now(), cpu: process.cpuUsage() });
const since = (t: ReturnType<typeof start>) => {
  const cpu = process.cpuUsage(t.cpu);
  return `${Math.round(performance.now() - t.wall)} ms (CPU ${Math.round((cpu.user + cpu.system) / 1000)} ms)`;
};
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

// The version: each customer's view as a run stores it (the other fields matter for the parse cost only).
let t = start();
const next = random(14);
const outputs: Outputs = new Map();
for (let c = 0; c < customers; c++) {
  const segments = [
    RFM[Math.floor(next() * RFM.length)],
    LIFECYCLE[Math.floor(next() * LIFECYCLE.length)],
    CLUSTERS[Math.floor(next() * CLUSTERS.length)],
  ] as string[];
  for (const r of RULES) if (next() < r.d) segments.push(r.id);
  const view = {
    firstPurchase: "2023-04-02",
    lastPurchase: "2025-05-17",
    frequency: 1 + Math.floor(next() * 20),
    monetary: Math.round(next() * 100_000) / 100,
    r: 3,
    f: 2,
    m: 4,
    rfm: "324",
    lifecycle: "active",
    cluster: "c3",
    segments: segments.sort(),
  };
  outputs.set(`C${String(c).padStart(8, "0")}`, JSON.stringify(view));
}
const simulateMs = since(t);

t = start();
const bytes = encodeMembership(outputs, ALL);
const encodeMs = since(t);

// The segments compared: every family, the densest and the sparsest.
const asked = [...RFM.slice(0, 8), ...LIFECYCLE, ...CLUSTERS.slice(0, 6), ...RULES.map((r) => r.id)]
  .concat(RFM.slice(8), CLUSTERS.slice(6))
  .slice(0, compared);

// Bitsets, as the API serves them: cold (decode the object, then compute) and warm (the version kept).
t = start();
const membership = new Membership(bytes);
const cold = overlapOf(asked.map((id) => ({ id, words: membership.bits(id) as Uint32Array })));
const coldMs = since(t);
const warmRuns: string[] = [];
for (let i = 0; i < 5; i++) {
  t = start();
  overlapOf(asked.map((id) => ({ id, words: membership.bits(id) as Uint32Array })));
  warmRuns.push(since(t));
}
// The fastest of five by wall time.
const warmMs = warmRuns.sort((a, b) => Number.parseInt(a, 10) - Number.parseInt(b, 10))[0] as string;

// Sorted position lists: built from the bitsets (not timed), then every pair by a merge walk.
const lists = asked.map((id) => positionsOf(membership.bits(id) as Uint32Array));
t = start();
const sortedCounts: number[] = [];
for (let i = 0; i < lists.length; i++) {
  for (let j = i + 1; j < lists.length; j++) {
    sortedCounts.push(sortedIntersectionCount(lists[i] as Uint32Array, lists[j] as Uint32Array));
  }
}
const sortedMs = since(t);

// Baseline: Sets of member ids, straight from the views (building them timed too, as a naive answer would).
t = start();
const sets = new Map<string, Set<string>>(asked.map((id) => [id, new Set<string>()]));
for (const [id, json] of outputs) {
  for (const s of (JSON.parse(json) as { segments: string[] }).segments) sets.get(s)?.add(id);
}
const setBuildMs = since(t);
t = start();
const setCounts: number[] = [];
for (let i = 0; i < asked.length; i++) {
  for (let j = i + 1; j < asked.length; j++) {
    const a = sets.get(asked[i] as string) as Set<string>;
    const b = sets.get(asked[j] as string) as Set<string>;
    const [small, large] = a.size <= b.size ? [a, b] : [b, a];
    let n = 0;
    for (const x of small) if (large.has(x)) n++;
    setCounts.push(n);
  }
}
const setMs = since(t);

const bitsetCounts = cold.pairs.map((p) => p.count);
const agree =
  JSON.stringify(bitsetCounts) === JSON.stringify(sortedCounts) &&
  JSON.stringify(bitsetCounts) === JSON.stringify(setCounts);

const rows: [string, string][] = [
  ["customers", customers.toLocaleString("en")],
  ["segments in the version / compared / pairs", `${ALL.length} / ${asked.length} / ${cold.pairs.length}`],
  ["membership object", mb(bytes.byteLength)],
  ["simulate the views (not part of any answer)", simulateMs],
  ["run side: build the object from the views", encodeMs],
  ["bitsets, cold: decode the object + every pair", coldMs],
  ["bitsets, warm: every pair, the version kept", warmMs],
  ["sorted positions: every pair (merge walks)", sortedMs],
  ["baseline Sets of ids: every pair", setMs],
  ["baseline Sets of ids: building the sets", setBuildMs],
  ["all three agree on every pair", agree ? "yes" : "NO"],
];
const width = Math.max(...rows.map(([k]) => k.length));
process.stdout.write(
  `Overlap of ${asked.length} segments (node ${process.version}, load average ${loadavg()[0]?.toFixed(1)})\n`,
);
for (const [k, v] of rows) process.stdout.write(`  ${k.padEnd(width)}  ${v}\n`);
if (!agree) process.exit(1);
