/**
 * The features a lookalike model reads, per result position, before standardisation:
 *
 * - recency_days, log1p_frequency, log1p_monetary (net spend, negative taken as 0),
 *   log1p_average_order_value (net spend / orders, negative as 0), tenure_days (asOf − first purchase);
 * - probability_alive and log1p_clv when the value models were fitted;
 * - category_share.<name> for each of the 20 categories with the most net spend over all customers, and
 *   channel_share.<name> for every channel: the customer's net spend there (a negative net as 0) over the sum
 *   of those over all values (orders without one included); 0 when that sum is 0;
 * - per categorical attribute (strings, booleans): one indicator per value of the 10 most frequent values, and
 *   `<name> missing`; per numeric or date attribute (dates as day numbers): the value, the mean of the known
 *   values where it is missing, and `<name> missing`. List attributes are left out.
 *
 * Features are worked out row by row (`fill`) so that no customers × features matrix of the whole base is
 * ever held; a feature that is constant over the base is dropped, as it cannot separate anyone.
 */
import type { ComputedSegmentation, SpendByValue } from "../compute";
import { spendByValueOf } from "../profiles/from-result";
import type { ResultTraits } from "../traits";

/** Categories given a share feature (the largest by net spend). */
export const TOP_CATEGORIES = 20;
/** Values of a categorical attribute given an indicator (the most frequent). */
export const TOP_ATTRIBUTE_VALUES = 10;

export interface FeatureSpace {
  /** Feature names, in column order. */
  readonly names: readonly string[];
  /** Mean and standard deviation of each feature over all positions. */
  readonly means: Float64Array;
  readonly sds: Float64Array;
  /** Writes position i's standardised features into out[0 .. names.length − 1]. */
  fill(i: number, out: Float64Array): void;
}

type Filler = (i: number, out: Float64Array) => void;

interface RawFeatures {
  names: string[];
  fillers: Filler[];
}

function spendFeatures(
  raw: RawFeatures,
  result: ComputedSegmentation,
  dimension: "category" | "channel",
): void {
  const set = dimension === "category" ? result.source.categories : result.source.channels;
  if (set.size === 0) return;
  if (result.state === undefined && result.source.spend === undefined) return;
  const spend: SpendByValue = spendByValueOf(result, dimension);
  const n = result.customerCount;
  // Net spend per code over the base (each customer's negative nets as 0), to rank the values.
  const totals = new Float64Array(set.size + 1);
  for (let i = 0; i < n; i++) {
    for (let k = spend.offsets[i] as number; k < (spend.offsets[i + 1] as number); k++) {
      const v = spend.net[k] as number;
      if (v > 0) totals[spend.codes[k] as number] = (totals[spend.codes[k] as number] as number) + v;
    }
  }
  const codes: number[] = [];
  for (let c = 1; c <= set.size; c++) codes.push(c);
  codes.sort((a, b) => (totals[b] as number) - (totals[a] as number) || a - b);
  const chosen = dimension === "category" ? codes.slice(0, TOP_CATEGORIES) : codes;
  if (chosen.length === 0) return;
  const slot = new Int32Array(set.size + 1).fill(-1);
  const base = raw.names.length;
  chosen.forEach((code, s) => {
    slot[code] = base + s;
    raw.names.push(`${dimension}_share.${set.get(code - 1)}`);
  });
  const width = chosen.length;
  raw.fillers.push((i, out) => {
    for (let s = 0; s < width; s++) out[base + s] = 0;
    let total = 0;
    const from = spend.offsets[i] as number;
    const to = spend.offsets[i + 1] as number;
    for (let k = from; k < to; k++) total += Math.max(0, spend.net[k] as number);
    if (total <= 0) return;
    for (let k = from; k < to; k++) {
      const at = slot[spend.codes[k] as number] as number;
      if (at >= 0) out[at] = Math.max(0, spend.net[k] as number) / total;
    }
  });
}

function attributeFeatures(raw: RawFeatures, traits: ResultTraits, name: string): void {
  const type = traits.attributeType(name);
  const read = traits.attributeReader(name);
  if (type === undefined || read === undefined || type === "list") return;
  const n = traits.size;
  const base = raw.names.length;
  if (type === "number" || type === "date") {
    let sum = 0;
    let known = 0;
    for (let i = 0; i < n; i++) {
      const v = read(i);
      if (typeof v === "number" && Number.isFinite(v)) {
        sum += v;
        known++;
      }
    }
    const mean = known === 0 ? 0 : sum / known;
    raw.names.push(`attributes.${name}`, `attributes.${name} missing`);
    raw.fillers.push((i, out) => {
      const v = read(i);
      const present = typeof v === "number" && Number.isFinite(v);
      out[base] = present ? v : mean;
      out[base + 1] = present ? 0 : 1;
    });
    return;
  }
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const v = read(i);
    if (v === null || v === undefined) continue;
    const text = String(v);
    counts.set(text, (counts.get(text) ?? 0) + 1);
  }
  const top = [...counts.entries()]
    .sort(([a, ca], [b, cb]) => cb - ca || (a < b ? -1 : a > b ? 1 : 0))
    .slice(0, TOP_ATTRIBUTE_VALUES)
    .map(([text]) => text);
  const slot = new Map<string, number>(top.map((text, s) => [text, base + s]));
  for (const text of top) raw.names.push(`attributes.${name}=${text}`);
  raw.names.push(`attributes.${name} missing`);
  const missing = base + top.length;
  raw.fillers.push((i, out) => {
    for (let at = base; at <= missing; at++) out[at] = 0;
    const v = read(i);
    if (v === null || v === undefined) {
      out[missing] = 1;
      return;
    }
    const at = slot.get(String(v));
    if (at !== undefined) out[at] = 1;
  });
}

/** The feature space of a result with the given attributes (unknown names are left out). */
export function featureSpace(
  result: ComputedSegmentation,
  traits: ResultTraits,
  attributes: readonly string[],
): FeatureSpace {
  const c = result.columns;
  const raw: RawFeatures = {
    names: ["recency_days", "log1p_frequency", "log1p_monetary", "log1p_average_order_value", "tenure_days"],
    fillers: [
      (i, out) => {
        const frequency = c.frequency[i] as number;
        const monetary = Math.max(0, c.monetary[i] as number);
        out[0] = c.recencyDays[i] as number;
        out[1] = Math.log1p(frequency);
        out[2] = Math.log1p(monetary);
        out[3] = Math.log1p(frequency > 0 ? monetary / frequency : 0);
        out[4] = result.asOfDay - (c.firstPurchaseDay[i] as number);
      },
    ],
  };
  const alive = c.probabilityAlive;
  const clv = c.clv;
  if (alive !== undefined && clv !== undefined) {
    const base = raw.names.length;
    raw.names.push("probability_alive", "log1p_clv");
    raw.fillers.push((i, out) => {
      out[base] = alive[i] as number;
      out[base + 1] = Math.log1p(Math.max(0, clv[i] as number));
    });
  }
  spendFeatures(raw, result, "category");
  spendFeatures(raw, result, "channel");
  for (const name of attributes) attributeFeatures(raw, traits, name);

  // Mean and standard deviation over the base (Welford), then the features that vary.
  const width = raw.names.length;
  const row = new Float64Array(width);
  // A value that is not a finite number (none of the features above should give one) counts as 0.
  const fillRaw = (i: number) => {
    for (const fill of raw.fillers) fill(i, row);
    for (let j = 0; j < width; j++) if (!Number.isFinite(row[j] as number)) row[j] = 0;
  };
  const mean = new Float64Array(width);
  const m2 = new Float64Array(width);
  const n = result.customerCount;
  for (let i = 0; i < n; i++) {
    fillRaw(i);
    for (let j = 0; j < width; j++) {
      const x = row[j] as number;
      const d = x - (mean[j] as number);
      mean[j] = (mean[j] as number) + d / (i + 1);
      m2[j] = (m2[j] as number) + d * (x - (mean[j] as number));
    }
  }
  const kept: number[] = [];
  for (let j = 0; j < width; j++) {
    const sd = n > 1 ? Math.sqrt((m2[j] as number) / n) : 0;
    if (sd > 1e-12 * Math.max(1, Math.abs(mean[j] as number))) kept.push(j);
  }
  const means = Float64Array.from(kept, (j) => mean[j] as number);
  const sds = Float64Array.from(kept, (j) => Math.sqrt((m2[j] as number) / n));
  return {
    names: kept.map((j) => raw.names[j] as string),
    means,
    sds,
    fill(i, out) {
      fillRaw(i);
      for (let k = 0; k < kept.length; k++) {
        out[k] = ((row[kept[k] as number] as number) - (means[k] as number)) / (sds[k] as number);
      }
    },
  };
}
