/**
 * Deterministic synthetic data for tests and benchmarks: customers shaped like real order data (geometric
 * order counts, lognormal order values, recency spread over two years and shorter for frequent buyers) and
 * Gaussian blobs around known centres.
 */
import type { CustomerValues } from "./features";
import { createRandom, type Random } from "./random";

/** Standard normal by Box–Muller (one value per call; the second is dropped to keep the stream simple). */
export function gaussian(random: Random): number {
  const u = 1 - random.next();
  const v = random.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

export interface SyntheticCustomers extends CustomerValues {
  frequency: Float64Array;
  monetary: Float64Array;
  recencyDays: Float64Array;
}

/**
 * n customers: order count 1 + Geometric(p = 0.45) with a 10% "loyal" minority at p = 0.12; a per-customer
 * typical order value lognormal(ln 45, 0.7) and each order's value jittered lognormally around it; recency
 * uniform over 730 days for most, within the last 120 days for the loyal; 3% of customers net negative spend
 * after a refund.
 */
export function syntheticCustomers(n: number, seed = 1): SyntheticCustomers {
  const random = createRandom(seed);
  const frequency = new Float64Array(n);
  const monetary = new Float64Array(n);
  const recencyDays = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const loyal = random.next() < 0.1;
    const p = loyal ? 0.12 : 0.45;
    let orders = 1;
    while (random.next() >= p && orders < 500) orders++;
    const typical = Math.exp(Math.log(45) + 0.7 * gaussian(random));
    // The sum of `orders` lognormal order values, approximated by one draw with shrinking spread.
    const spend = orders * typical * Math.exp((0.5 * gaussian(random)) / Math.sqrt(orders));
    frequency[i] = orders;
    monetary[i] = random.next() < 0.03 ? -0.2 * typical : Math.round(spend * 100) / 100;
    recencyDays[i] = Math.floor(random.next() * (loyal ? 120 : 730));
  }
  return { frequency, monetary, recencyDays };
}

export interface Blobs {
  /** One Float64Array per dimension. */
  columns: Float64Array[];
  /** True blob of each point. */
  truth: Int32Array;
}

/** `perBlob` points around each centre, isotropic normal noise with standard deviation `sd`, interleaved. */
export function gaussianBlobs(
  centres: readonly (readonly number[])[],
  perBlob: number,
  sd: number,
  seed = 1,
): Blobs {
  const random = createRandom(seed);
  const d = centres[0]?.length ?? 0;
  const n = centres.length * perBlob;
  const columns = Array.from({ length: d }, () => new Float64Array(n));
  const truth = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % centres.length;
    truth[i] = c;
    for (let f = 0; f < d; f++) {
      (columns[f] as Float64Array)[i] = (centres[c]?.[f] as number) + sd * gaussian(random);
    }
  }
  return { columns, truth };
}
