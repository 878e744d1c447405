/**
 * Benchmark of dry runs at scale: what shared/api/dry-run.ts does in a request, on the deterministic synthetic
 * data of the main benchmark (./generate.ts). A committed run is simulated once (read, aggregate, RFM and
 * lifecycle; its model values drawn from a fixed generator rather than fitted, which a dry run never does
 * anyway), its state and trait snapshot serialized as the run stores them; then a DryRunner over those bytes answers
 * dry runs cold (deserialize the state, RFM and lifecycle without models, decode the snapshot, evaluate) and
 * warm (the version kept: compile and evaluate only), for rules on model fields, shares and plain traits.
 * S3 transfer time is not included; the sizes of the two objects are printed so it can be estimated.
 *
 *   npm run bench -- --dry-run [--customers 1m] [--out-dir bench-out]
 */
import { createReadStream } from "node:fs";
import { parseArgs } from "node:util";
import { DryRunner } from "../../shared/api/dry-run";
import {
  AggregateState,
  ComputedSegmentation,
  computeSegments,
  ingestTransactions,
} from "../../shared/engine";
import type { DatasetMeta } from "../../shared/model";
import type { BlobStore } from "../../shared/pipeline/ports";
import { encodeTraitSnapshot } from "../../shared/pipeline/trait-snapshot";
import { objectKeys } from "../../shared/store/keys";
import { DEFAULT_SPEC, syntheticFile } from "./generate";

const USAGE = `usage: npm run bench -- --dry-run [--customers 1m] [--out-dir bench-out]
  --customers  customers in the synthetic file, e.g. 100k or 1m (default 1m)
  --out-dir    where the synthetic file is kept (default bench-out)
`;

function count(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)([km]?)$/i.exec(text.trim());
  if (!m) return undefined;
  const factor = { "": 1, k: 1e3, m: 1e6 }[(m[2] ?? "").toLowerCase()] ?? 1;
  const n = Math.round(Number(m[1]) * factor);
  return n > 0 ? n : undefined;
}

let options: { customers: string; "out-dir": string; help: boolean };
try {
  options = parseArgs({
    options: {
      customers: { type: "string", default: "1m" },
      "out-dir": { type: "string", default: "bench-out" },
      help: { type: "boolean", default: false },
    },
  }).values as typeof options;
} catch (error) {
  process.stderr.write(`bench --dry-run: ${(error as Error).message}\n${USAGE}`);
  process.exit(2);
}
if (options.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const customers = count(options.customers);
if (customers === undefined) {
  process.stderr.write(`bench --dry-run: --customers must be a count such as 100k or 1m\n${USAGE}`);
  process.exit(2);
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const rss = () => mb(process.resourceUsage().maxRSS * 1024);
const time = async <T>(f: () => Promise<T> | T): Promise<[T, number]> => {
  const t = performance.now();
  const out = await f();
  return [out, performance.now() - t];
};

const data = syntheticFile(options["out-dir"], { ...DEFAULT_SPEC, customers });
console.log(`data ${data.path}: ${customers} customers, ${data.rows} rows, ${mb(data.bytes)}`);

const state = new AggregateState();
const [, readMs] = await time(() =>
  ingestTransactions(createReadStream(data.path, { highWaterMark: 1 << 20 }), { format: "csv" }, state),
);
// The committed run's RFM and lifecycle are computed; its model values (CLV, P(alive), expected purchases,
// cluster) are drawn from a fixed generator instead of fitted, which takes minutes at this size and does not
// change what a dry run costs: it reads them from the snapshot either way.
const [base, runMs] = await time(() =>
  computeSegments(state, { asOf: data.asOf, clusters: false, value: false }),
);
const n = base.customerCount;
let seed = 12345;
const random = () => {
  seed = (seed * 48271) % 2147483647;
  return seed / 2147483647;
};
const floats = (f: () => number) => Float64Array.from({ length: n }, f);
const probabilityAlive = floats(random);
const expectedPurchases = floats(() => 3 * random());
const clv = floats(() => Math.round(30_000 * random() ** 2) / 100);
const result = new ComputedSegmentation(
  state,
  base.asOf,
  base.asOfDay,
  {
    ...base.columns,
    cluster: Uint16Array.from({ length: n }, () => Math.floor(random() * 6)),
    probabilityAlive,
    expectedPurchases,
    clv,
    clvLow: clv.map((v) => v * 0.8),
    clvHigh: clv.map((v) => v * 1.2),
  },
  {
    clusters: { ids: Array.from({ length: 6 }, (_, k) => `cluster:c${k + 1}`) } as never,
    lifecycleWindows: base.lifecycleWindows,
  },
);
console.log(
  `committed run (simulated): read ${(readMs / 1000).toFixed(1)} s, RFM and lifecycle ${(runMs / 1000).toFixed(1)} s; model values drawn, not fitted`,
);
const stateBytes = state.serialize();
const snapshotBytes = encodeTraitSnapshot(result);
console.log(
  `stored objects: aggregate.bin ${mb(stateBytes.byteLength)}, traits.bin ${mb(snapshotBytes.byteLength)}`,
);
const stored = new Map<string, Uint8Array>([
  [objectKeys.aggregate("t", "d", 1), stateBytes],
  [objectKeys.traits("t", "d", 1), snapshotBytes],
]);
const blobs = { get: async (key: string) => stored.get(key) } as unknown as BlobStore;
const meta = {
  tenantId: "t",
  datasetId: "d",
  settings: {},
  current: { version: 1, asOf: data.asOf },
} as unknown as DatasetMeta;
const settings = { asOf: data.asOf };
const someCluster = (result.clusters?.ids[0] ?? "cluster:c1").slice("cluster:".length);
const rules: [string, unknown][] = [
  ["clv > 100", { field: "clv", op: "gt", value: 100 }],
  [
    "probability_alive < 0.5 and expected_purchases >= 1",
    {
      and: [
        { field: "probability_alive", op: "lt", value: 0.5 },
        { field: "expected_purchases", op: "gte", value: 1 },
      ],
    },
  ],
  [`cluster = ${someCluster}`, { field: "cluster", op: "eq", value: someCluster }],
  ["channel_share.web >= 0.5", { field: "channel_share.web", op: "gte", value: 0.5 }],
  [
    "monetary >= 200 or rfm_segment = champions",
    {
      or: [
        { field: "monetary", op: "gte", value: 200 },
        { field: "rfm_segment", op: "eq", value: "champions" },
      ],
    },
  ],
];

// A fresh runner per cold measurement, so that each one loads the version.
for (const [name, rule] of rules.slice(0, 1)) {
  const runner = new DryRunner(blobs, undefined, 10 * 60_000);
  const [answer, ms] = await time(() => runner.run(meta, settings, { name, rule: rule as never }));
  console.log(`cold  ${name}: ${ms.toFixed(0)} ms (size ${answer.summary.size}), peak RSS so far ${rss()}`);
}
const runner = new DryRunner(blobs, undefined, 10 * 60_000);
await runner.run(meta, settings, { name: "warm-up", rule: rules[0]?.[1] as never });
for (const [name, rule] of rules) {
  const times: number[] = [];
  let size = 0;
  for (let k = 0; k < 5; k++) {
    const [answer, ms] = await time(() => runner.run(meta, settings, { name, rule: rule as never }));
    times.push(ms);
    size = answer.summary.size;
  }
  times.sort((a, b) => a - b);
  console.log(`warm  ${name}: median ${(times[2] as number).toFixed(0)} ms of 5 (size ${size})`);
}
console.log(`peak RSS ${rss()}`);
