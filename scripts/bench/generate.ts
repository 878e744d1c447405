/**
 * Deterministic synthetic transactions for the benchmark, shaped like real order data:
 *
 * - Customers arrive uniformly over the first `acquisitionDays` of a `days`-long window; each one's first
 *   order is on their arrival day.
 * - Purchasing follows BG/NBD's story (Fader, Hardie & Lee 2005): each customer has a purchase rate
 *   λ ~ Gamma(shape r, rate α) per day, so rates are heterogeneous, and a dropout probability p ~ Beta(a, b);
 *   while alive, orders come as a Poisson process of rate λ, and after each repeat order the customer drops out
 *   with probability p (geometric churn). Orders after the window's end are not observed.
 * - Spend is lognormal: each customer has a typical order value exp(N(ln median, σ_customer)) and each order
 *   is that times exp(N(−σ_order² / 2, σ_order)), in whole cents, at least 1.00.
 * - Each order is returned with probability `returnRate`: a second row with its own order_id, dated 1–30 days
 *   later (within the window), for minus the whole amount (half the time) or a part of it.
 * - Channel web / app / store with probabilities 0.55 / 0.30 / 0.15.
 *
 * Rows are written in date order (as an export from an order system would be), with order ids numbered in
 * that order: `customer_id,order_id,order_date,amount,channel`, e.g. `C0000448,O000000001,2023-01-01,41.27,app`.
 * Everything random comes from seeded Mersenne Twisters (@stdlib), so a spec always gives the same bytes.
 */
import { createHash } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import betaRandom from "@stdlib/random-base-beta";
import exponentialRandom from "@stdlib/random-base-exponential";
import gammaRandom from "@stdlib/random-base-gamma";
import { isoDay, parseDay } from "../../shared/engine/days";

/** Bumped whenever the generator's output for a given spec changes, so cached files are not reused. */
export const GENERATOR_VERSION = 1;

export interface SyntheticSpec {
  customers: number;
  seed: number;
  /** First day of the window, yyyy-mm-dd. */
  start: string;
  /** Length of the window in days. */
  days: number;
  /** Customers arrive uniformly over the first this-many days. */
  acquisitionDays: number;
  /** λ ~ Gamma(shape r, rate alpha), orders per day. */
  r: number;
  alpha: number;
  /** p ~ Beta(a, b), dropout probability after each repeat order. */
  a: number;
  b: number;
  /** Median typical order value, and the lognormal spreads between customers and between orders. */
  medianOrderValue: number;
  sigmaCustomer: number;
  sigmaOrder: number;
  returnRate: number;
}

/** Tuned for about ten rows per customer (see BENCHMARKS.md for the realised figures). */
export const DEFAULT_SPEC: Omit<SyntheticSpec, "customers"> = {
  seed: 20240701,
  start: "2023-01-01",
  days: 730,
  acquisitionDays: 545,
  r: 0.4,
  alpha: 8,
  a: 1,
  b: 12,
  medianOrderValue: 40,
  sigmaCustomer: 0.6,
  sigmaOrder: 0.35,
  returnRate: 0.03,
};

export interface SyntheticFile {
  path: string;
  spec: SyntheticSpec;
  rows: number;
  purchases: number;
  returns: number;
  bytes: number;
  /** Last order date in the file and the day after it (the default evaluation date). */
  lastDay: string;
  asOf: string;
  generatedSeconds: number;
  /** True when the file was already there from an earlier run with the same spec. */
  cached?: boolean;
}

const CHANNELS = ["web", "app", "store"];

export function specHash(spec: SyntheticSpec): string {
  return createHash("sha256")
    .update(JSON.stringify({ version: GENERATOR_VERSION, ...spec }))
    .digest("hex")
    .slice(0, 10);
}

/** Growable typed columns of generated rows. */
class Rows {
  length = 0;
  day = new Uint16Array(1 << 16);
  customer = new Uint32Array(1 << 16);
  cents = new Int32Array(1 << 16);
  channel = new Uint8Array(1 << 16);

  push(day: number, customer: number, cents: number, channel: number): void {
    if (this.length === this.day.length) this.grow();
    const k = this.length++;
    this.day[k] = day;
    this.customer[k] = customer;
    this.cents[k] = cents;
    this.channel[k] = channel;
  }

  private grow(): void {
    const size = this.day.length * 2;
    const day = new Uint16Array(size);
    day.set(this.day);
    this.day = day;
    const customer = new Uint32Array(size);
    customer.set(this.customer);
    this.customer = customer;
    const cents = new Int32Array(size);
    cents.set(this.cents);
    this.cents = cents;
    const channel = new Uint8Array(size);
    channel.set(this.channel);
    this.channel = channel;
  }
}

/** Draws every row of the spec (in customer order). */
export function simulateRows(spec: SyntheticSpec): Rows {
  const gamma = gammaRandom.factory({ seed: spec.seed });
  const beta = betaRandom.factory({ seed: spec.seed + 1 });
  const exponential = exponentialRandom.factory({ seed: spec.seed + 2 });
  const prng = gammaRandom.factory({ seed: spec.seed + 3 }).PRNG;
  const uniform = (): number => ((prng() as number) + 0.5) / 4294967296;
  const normal = (): number => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  const rows = new Rows();
  const last = spec.days - 1;
  const orderShift = (spec.sigmaOrder * spec.sigmaOrder) / 2;
  const logMedian = Math.log(spec.medianOrderValue * 100);

  const order = (day: number, customer: number, typicalCents: number): void => {
    const cents = Math.max(100, Math.round(typicalCents * Math.exp(spec.sigmaOrder * normal() - orderShift)));
    const u = uniform();
    const channel = u < 0.55 ? 0 : u < 0.85 ? 1 : 2;
    rows.push(day, customer, cents, channel);
    if (uniform() < spec.returnRate) {
      const returnDay = Math.min(last, day + 1 + Math.floor(uniform() * 30));
      const refunded = uniform() < 0.5 ? cents : Math.max(1, Math.round(cents * (0.2 + 0.7 * uniform())));
      rows.push(returnDay, customer, -refunded, channel);
    }
  };

  for (let c = 0; c < spec.customers; c++) {
    const first = Math.floor(uniform() * spec.acquisitionDays);
    const lambda = gamma(spec.r, spec.alpha);
    const p = beta(spec.a, spec.b);
    const typical = Math.exp(logMedian + spec.sigmaCustomer * normal());
    order(first, c, typical);
    let t = first;
    for (;;) {
      t += exponential(lambda);
      if (t >= spec.days) break;
      order(Math.floor(t), c, typical);
      if (uniform() < p) break;
    }
  }
  return rows;
}

function amountText(cents: number): string {
  const abs = Math.abs(cents);
  const frac = abs % 100;
  return `${cents < 0 ? "-" : ""}${(abs - frac) / 100}.${frac < 10 ? "0" : ""}${frac}`;
}

/**
 * Writes the spec's file into `dir` (`synthetic-<customers>-<hash>.csv`), or reuses it when a complete file of
 * the same spec is already there (its `.json` sidecar is written last, so an interrupted run is not reused).
 */
export function syntheticFile(dir: string, spec: SyntheticSpec): SyntheticFile {
  mkdirSync(dir, { recursive: true });
  const base = join(dir, `synthetic-${spec.customers}-${specHash(spec)}`);
  const path = `${base}.csv`;
  const sidecar = `${base}.json`;
  if (existsSync(sidecar) && existsSync(path)) {
    const meta = JSON.parse(readFileSync(sidecar, "utf8")) as Omit<SyntheticFile, "path">;
    if (statSync(path).size === meta.bytes) return { ...meta, path, cached: true };
  }

  const started = performance.now();
  const rows = simulateRows(spec);
  const n = rows.length;
  // Counting sort by day: rows of one day keep their customer order.
  const counts = new Uint32Array(spec.days + 1);
  for (let k = 0; k < n; k++) {
    const d = (rows.day[k] as number) + 1;
    counts[d] = (counts[d] as number) + 1;
  }
  for (let d = 0; d < spec.days; d++) counts[d + 1] = (counts[d + 1] as number) + (counts[d] as number);
  const sorted = new Uint32Array(n);
  for (let k = 0; k < n; k++) {
    const d = rows.day[k] as number;
    sorted[counts[d] as number] = k;
    counts[d] = (counts[d] as number) + 1;
  }

  const startDay = parseDay(spec.start) as number;
  const dates = Array.from({ length: spec.days }, (_, d) => isoDay(startDay + d));
  const idWidth = Math.max(7, String(spec.customers).length);
  const orderWidth = Math.max(9, String(n).length);
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w");
  let bytes = 0;
  let purchases = 0;
  let lastDay = 0;
  let chunk = "customer_id,order_id,order_date,amount,channel\n";
  for (let o = 0; o < n; o++) {
    const k = sorted[o] as number;
    const cents = rows.cents[k] as number;
    const day = rows.day[k] as number;
    if (cents > 0) purchases++;
    if (day > lastDay) lastDay = day;
    chunk += `C${String(rows.customer[k]).padStart(idWidth, "0")},O${String(o + 1).padStart(orderWidth, "0")},${
      dates[day]
    },${amountText(cents)},${CHANNELS[rows.channel[k] as number]}\n`;
    if (chunk.length >= 1 << 20) {
      bytes += writeSync(fd, chunk);
      chunk = "";
    }
  }
  bytes += writeSync(fd, chunk);
  closeSync(fd);
  renameSync(tmp, path);
  const meta: Omit<SyntheticFile, "path"> = {
    spec,
    rows: n,
    purchases,
    returns: n - purchases,
    bytes,
    lastDay: isoDay(startDay + lastDay),
    asOf: isoDay(startDay + lastDay + 1),
    generatedSeconds: (performance.now() - started) / 1000,
  };
  writeFileSync(sidecar, `${JSON.stringify(meta, null, 2)}\n`);
  return { ...meta, path };
}
