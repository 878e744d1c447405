/**
 * Segment profiles within a run: the share of a run's compute stage that profiles take. On the benchmark's
 * generated transactions (scripts/bench/generate.ts, e.g. 1 M customers; channels web / app / store) and a
 * generated customers file (a country of 30 values, an age with 5% missing, a signup date over 6 years, and an
 * email that profiles leave out), it times the compute stage as shared/pipeline/run.ts publish runs it:
 * computeSegments (RFM, lifecycle, clusters, value models), the per-customer views (outputsAndProfiles) and the
 * segment profiles (computeProfiles with the default settings), and prints one JSON line with each part's
 * seconds and profiles ÷ compute stage.
 *
 *   npx tsx scripts/bench/profiles-in-run.ts [--customers 1m] [--dir bench-out]
 */
import { createReadStream } from "node:fs";
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { AggregateState, computeSegments, ingestCustomers, ingestTransactions } from "../../shared/engine";
import { outputsAndProfiles } from "../../shared/pipeline/outputs";
import { computeProfiles } from "../../shared/pipeline/profiles";
import { mulberry32 } from "../random";
import { DEFAULT_SPEC, syntheticFile } from "./generate";

const { values } = parseArgs({ options: { customers: { type: "string" }, dir: { type: "string" } } });
const m = /^(\d+)([km]?)$/i.exec(values.customers ?? "1m");
if (m === null) throw new Error(`not a count: ${values.customers}`);
const customers = Number(m[1]) * ({ k: 1000, m: 1_000_000 }[m[2]?.toLowerCase() ?? ""] ?? 1);

/** Customers C0000000 … as the generator names them, each with attributes drawn from a seeded generator. */
async function* customersFile(count: number): AsyncGenerator<Uint8Array> {
  const next = mulberry32(41);
  const start = Date.parse("2018-01-01T00:00:00Z");
  let chunk = "customer_id,country,age,signup_date,email\n";
  for (let c = 0; c < count; c++) {
    const id = `C${String(c).padStart(7, "0")}`;
    const country = `K${String(Math.floor(next() ** 2 * 30)).padStart(2, "0")}`;
    const age = next() < 0.05 ? "" : String(18 + Math.floor(next() * 62));
    const signup = new Date(start + Math.floor(next() * 6 * 365) * 86_400_000).toISOString().slice(0, 10);
    chunk += `${id},${country},${age},${signup},${id.toLowerCase()}@example.com\n`;
    if (chunk.length > 1 << 20) {
      yield Buffer.from(chunk);
      chunk = "";
    }
  }
  yield Buffer.from(chunk);
}

const file = syntheticFile(values.dir ?? "bench-out", { ...DEFAULT_SPEC, customers });
const state = new AggregateState();
await ingestTransactions(
  createReadStream(file.path, { highWaterMark: 1 << 20 }),
  { format: "csv", compression: "none", expectedOrders: file.rows },
  state,
);
await ingestCustomers(customersFile(customers), { format: "csv" }, state);

const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const seconds = (ms: number) => Math.round(ms) / 1000;
let t = performance.now();
let c = cpu();
const result = computeSegments(state, { asOf: file.asOf });
const engine = { wall: performance.now() - t, cpu: cpu() - c };
t = performance.now();
c = cpu();
outputsAndProfiles(result);
const views = { wall: performance.now() - t, cpu: cpu() - c };
t = performance.now();
c = cpu();
const profiles = computeProfiles(result, {});
const profiled = { wall: performance.now() - t, cpu: cpu() - c };
const stage = {
  wall: engine.wall + views.wall + profiled.wall,
  cpu: engine.cpu + views.cpu + profiled.cpu,
};
console.log(
  JSON.stringify({
    customers: result.customerCount,
    rows: file.rows,
    segments: Object.keys(profiles.profiles).length,
    attributes: profiles.attributes,
    seconds: {
      computeSegments: seconds(engine.wall),
      views: seconds(views.wall),
      profiles: seconds(profiled.wall),
      computeStage: seconds(stage.wall),
    },
    cpuSeconds: {
      computeSegments: seconds(engine.cpu),
      views: seconds(views.cpu),
      profiles: seconds(profiled.cpu),
      computeStage: seconds(stage.cpu),
    },
    profilesShareOfComputeStage: {
      wall: Math.round((profiled.wall / stage.wall) * 1000) / 1000,
      cpu: Math.round((profiled.cpu / stage.cpu) * 1000) / 1000,
    },
    loadAverage: loadavg().map((x) => Math.round(x * 10) / 10),
    at: new Date().toISOString(),
  }),
);
