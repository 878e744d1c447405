/**
 * Coverage of the 80 % intervals (clv/uncertainty.ts) on data simulated from known BG/NBD and Gamma-Gamma
 * parameters: over many datasets (seed 20261207), the expected CLV and expected purchases computed with the
 * true parameters lie inside the intervals the fitted models give about 80 % of the time. Tolerance: the
 * observed share within 0.70–0.90 (with 4 customers × DATASETS datasets, correlated within a dataset, this is
 * a few standard errors either side of 0.8, while intervals of half or twice the right width would cover
 * about 0.47 or 0.99).
 */
import { describe, expect, it } from "vitest";
import {
  type BgNbdParams,
  customerLifetimeValue,
  expectedAverageValue,
  expectedPurchases,
  type GammaGammaParams,
} from "../../../shared/engine/clv";
import {
  clvOptionsFor,
  resolveValueSettings,
  type ValueInputs,
  valueStage,
} from "../../../shared/engine/value";

const SEED = 20261207;
const DATASETS = 50;
const CUSTOMERS = 1000;
const TRUE_BG: BgNbdParams = { r: 0.5, alpha: 30, a: 0.7, b: 2.5 };
const TRUE_GG: GammaGammaParams = { p: 5, q: 4, gamma: 40 };
/** Customers whose intervals are checked: one-time buyer, light, steady and lapsed heavy buyers. */
const PROFILES = [
  { x: 0, tx: 0, T: 200, mx: 0 },
  { x: 2, tx: 100, T: 250, mx: 35 },
  { x: 6, tx: 280, T: 300, mx: 50 },
  { x: 12, tx: 150, T: 380, mx: 20 },
];

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

function normal(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/** Gamma(shape k, rate 1) by Marsaglia and Tsang (with the U^(1/k) boost for k < 1). */
function gamma(random: () => number, k: number): number {
  if (k < 1) return gamma(random, k + 1) * (1 - random()) ** (1 / k);
  const d = k - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const z = normal(random);
    const v = (1 + c * z) ** 3;
    if (v <= 0) continue;
    if (Math.log(1 - random()) < 0.5 * z * z + d - d * v + d * Math.log(v)) return d * v;
  }
}

/** One dataset of whole-day summaries drawn from the true models, with the profiles appended. */
function dataset(random: () => number): ValueInputs {
  const n = CUSTOMERS + PROFILES.length;
  const x = new Float64Array(n);
  const tx = new Float64Array(n);
  const T = new Float64Array(n);
  const mx = new Float64Array(n);
  for (let i = 0; i < CUSTOMERS; i++) {
    const age = 30 + Math.floor(random() * 370);
    const lambda = gamma(random, TRUE_BG.r) / TRUE_BG.alpha;
    const ga = gamma(random, TRUE_BG.a);
    const p = ga / (ga + gamma(random, TRUE_BG.b));
    const nu = gamma(random, TRUE_GG.q) / TRUE_GG.gamma;
    let t = 0;
    let count = 0;
    let last = 0;
    let spend = 0;
    for (;;) {
      t += -Math.log(1 - random()) / lambda;
      if (t > age) break;
      count++;
      last = t;
      spend += gamma(random, TRUE_GG.p) / nu;
      if (random() < p) break;
    }
    x[i] = count;
    // Whole days, as the engine counts them (a purchase day after the first is at least a day later).
    tx[i] = count === 0 ? 0 : Math.min(age, Math.max(count, Math.round(last)));
    T[i] = age;
    mx[i] = count === 0 ? 0 : spend / count;
  }
  PROFILES.forEach((c, k) => {
    const i = CUSTOMERS + k;
    x[i] = c.x;
    tx[i] = c.tx;
    T[i] = c.T;
    mx[i] = c.mx;
  });
  return { x, tx, T, mx, fallbackOrderValue: Float64Array.from(mx) };
}

describe("80 % intervals", () => {
  it("hold the true expected CLV and purchases about 80 % of the time over simulated datasets", () => {
    const random = rng(SEED);
    const settings = resolveValueSettings({ model: "bgNbd" });
    const options = clvOptionsFor(settings);
    const truth = PROFILES.map((c) => ({
      clv: customerLifetimeValue(TRUE_BG, expectedAverageValue(TRUE_GG, c.x, c.mx), c.x, c.tx, c.T, options),
      purchases: expectedPurchases(TRUE_BG, settings.horizonDays, c.x, c.tx, c.T),
    }));
    let clvHits = 0;
    let purchaseHits = 0;
    let checks = 0;
    let widths = 0;
    for (let d = 0; d < DATASETS; d++) {
      const data = dataset(random);
      const stage = valueStage(data, settings);
      if (!stage.ok) throw new Error(`dataset ${d}: ${JSON.stringify(stage.issues)}`);
      const intervals = stage.predictions.intervals;
      if (intervals === undefined) throw new Error(`dataset ${d}: no intervals`);
      PROFILES.forEach((_, k) => {
        const i = CUSTOMERS + k;
        const t = truth[k] as { clv: number; purchases: number };
        const low = intervals.clvLow[i] as number;
        const high = intervals.clvHigh[i] as number;
        expect(low).toBeLessThanOrEqual(stage.predictions.clv[i] as number);
        expect(high).toBeGreaterThanOrEqual(stage.predictions.clv[i] as number);
        if (t.clv >= low && t.clv <= high) clvHits++;
        const pLow = intervals.expectedPurchasesLow[i] as number;
        const pHigh = intervals.expectedPurchasesHigh[i] as number;
        if (t.purchases >= pLow && t.purchases <= pHigh) purchaseHits++;
        widths += high / low;
        checks++;
      });
    }
    const clvCoverage = clvHits / checks;
    const purchaseCoverage = purchaseHits / checks;
    expect(clvCoverage).toBeGreaterThanOrEqual(0.7);
    expect(clvCoverage).toBeLessThanOrEqual(0.9);
    expect(purchaseCoverage).toBeGreaterThanOrEqual(0.7);
    expect(purchaseCoverage).toBeLessThanOrEqual(0.9);
    // The intervals are real: neither points nor the whole line.
    expect(widths / checks).toBeGreaterThan(1.01);
    expect(widths / checks).toBeLessThan(10);
  }, 120_000);
});
