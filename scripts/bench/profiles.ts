/**
 * Benchmark of segment profiles (shared/engine/profiles) at scale, on simulated customers: 30 segments as a
 * run makes them (11 RFM segments and 5 lifecycle stages, each a partition of the customers; 8 clusters,
 * another partition; 6 rule segments of densities 0.1% to 60%), net spend in 20 categories (1 to 3 per
 * customer, some returns) and 4 channels, and three attributes (a country of 30 values, an age with 5%
 * missing, a signup date over 6 years). Prints the wall and CPU time of profileSegments (medians of the runs,
 * with the load average, as the machine may be shared) and a
 * check figure (the first segment's top category), so the work cannot be skipped.
 *
 *   npx tsx scripts/bench/profiles.ts [--customers 1m] [--runs 3]
 */
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { bitsetOf } from "../../shared/engine/overlap";
import { type ProfileInput, type ProfileSegment, profileSegments } from "../../shared/engine/profiles";
import { size } from "../cli";
import { mulberry32 } from "../random";

const { values } = parseArgs({ options: { customers: { type: "string" }, runs: { type: "string" } } });
const N = size("customers", values.customers ?? "1m");
const RUNS = size("runs", values.runs ?? "3");

const next = mulberry32(14);

function simulate(): ProfileInput {
  const partitions = [11, 5, 8];
  const lists: number[][] = [];
  for (const parts of partitions) {
    const members: number[][] = Array.from({ length: parts }, () => []);
    for (let p = 0; p < N; p++) (members[Math.floor(next() ** 1.5 * parts)] as number[]).push(p);
    lists.push(...members);
  }
  for (const density of [0.001, 0.01, 0.05, 0.2, 0.4, 0.6]) {
    const members: number[] = [];
    for (let p = 0; p < N; p++) if (next() < density) members.push(p);
    lists.push(members);
  }
  const segments: ProfileSegment[] = lists.map((members, i) => ({
    id: `s${i}`,
    members: bitsetOf(members, N),
  }));
  const spend = (values: number, most: number) => {
    const offsets = new Uint32Array(N + 1);
    const codes = new Uint32Array(N * most);
    const net = new Float64Array(N * most);
    let e = 0;
    for (let p = 0; p < N; p++) {
      const k = 1 + Math.floor(next() * most);
      let code = Math.floor(next() ** 2 * values);
      for (let j = 0; j < k && code <= values; j++, code++) {
        codes[e] = code;
        net[e] = next() < 0.03 ? -Math.floor(next() * 5000) : Math.floor(next() * 20_000);
        e++;
      }
      offsets[p + 1] = e;
    }
    return { offsets, codes: codes.slice(0, e), net: net.slice(0, e) };
  };
  const country = new Uint32Array(N);
  const age = new Float64Array(N);
  const signup = new Float64Array(N);
  for (let p = 0; p < N; p++) {
    country[p] = 1 + Math.floor(next() ** 3 * 30);
    age[p] = next() < 0.05 ? Number.NaN : 18 + Math.floor(next() * 60);
    signup[p] = 17_000 + Math.floor(next() * 6 * 365);
  }
  return {
    customerCount: N,
    segments,
    dimensions: [
      {
        dimension: "category",
        values: Array.from({ length: 20 }, (_, i) => `cat${i + 1}`),
        spend: spend(20, 3),
      },
      { dimension: "channel", values: ["web", "store", "app", "phone"], spend: spend(4, 2) },
    ],
    attributes: [
      {
        kind: "categorical",
        name: "country",
        values: Array.from({ length: 30 }, (_, i) => `C${i + 1}`),
        codes: country,
      },
      { kind: "numeric", name: "age", values: age },
      { kind: "date", name: "signup", days: signup },
    ],
  };
}

const input = simulate();
const times: number[] = [];
const cpu: number[] = [];
let check = "";
for (let r = 0; r < RUNS; r++) {
  const start = performance.now();
  const used = process.cpuUsage();
  const profiles = profileSegments(input);
  times.push(performance.now() - start);
  const spent = process.cpuUsage(used);
  cpu.push((spent.user + spent.system) / 1000);
  const top = profiles[0]?.spend[0]?.items[0];
  check = `${profiles.length} profiles; s0 top category ${top?.value} lift ${top && !top.suppressed ? top.lift : "-"}`;
}
times.sort((a, b) => a - b);
cpu.sort((a, b) => a - b);
console.log(
  `profiles: ${N} customers, ${input.segments.length} segments, 2 spend dimensions, 3 attributes: ` +
    `median ${Math.round(times[Math.floor(times.length / 2)] as number)} ms of ${RUNS} runs ` +
    `(min ${Math.round(times[0] as number)} ms), CPU median ${Math.round(cpu[Math.floor(cpu.length / 2)] as number)} ms; ` +
    `load average ${loadavg()[0]?.toFixed(1)}; ${check}`,
);
