/**
 * RFM: recency, frequency and monetary value per customer, quintile scores, and the named RFM segments.
 *
 * Rules
 * - An order is one order_id (its lines summed). An order whose net amount is negative is a return: it is
 *   not an order for frequency or recency, and it reduces monetary value. An order of amount 0 (a free or
 *   fully discounted order) is an order like any other: the customer did buy.
 * - Only orders dated on or before the evaluation day (asOf) count; later ones are ignored, so a
 *   computation "as of" a past day sees what was known then.
 * - Customers scored: those with at least one order that is not a return. Customers with only returns, or
 *   only attributes, get no RFM scores and are in no RFM segment.
 * - recency_days = asOf − day of the last order (not return); frequency = number of distinct orders (not
 *   returns); purchase days = number of distinct days with such an order; monetary = net amount of all orders
 *   including returns, in currency units.
 * - Scores 1–5, data-driven unless the dataset fixes thresholds. R scores recency_days (smaller is better), F
 *   the number of distinct purchase days (days with an order that is not a return: two orders on one day are
 *   one shopping occasion, as the value models count them; `frequency` still reports orders), M monetary.
 *   Each distinct value gets one score, so customers with equal values always share it. List a column's
 *   distinct values from worst to best, v_1 … v_D, with below_j customers holding a worse value than v_j, of
 *   N scored customers. Then
 *     q_j = 1 + ⌊5 · below_j / N⌋                     (the rank quintile of the value's lowest rank)
 *     D < 5:  score_j = q_j
 *     D ≥ 5:  score_j = max(min(q_j, score_{j−1} + 1), 5 − (D − j))   (score_0 = 0)
 *   With five or more distinct values no score is skipped (a tie group spanning more than a fifth of the
 *   customers, such as the one-time buyers, no longer pushes the next value two scores up) and the best value
 *   scores 5, so all five scores are used; where no group spans a fifth, the scores are the rank quintiles.
 *   Scores never fall as the value improves.
 * - Fixed thresholds (settings `rfm.thresholds`, each of r, f, m optional): four increasing cut points per
 *   score. R: recency_days ≤ r[0] scores 5, ≤ r[1] 4, ≤ r[2] 3, ≤ r[3] 2, otherwise 1. F and M: a value ≥
 *   cut k adds one to a base of 1, so f: [2, 3, 5, 10] scores one purchase day 1 and ten or more 5; m cuts are
 *   in currency units with at most two decimals and compared in cents. Bad thresholds throw ComputeError
 *   BAD_RFM_THRESHOLDS naming the field, e.g. "rfm.thresholds.f".
 * - Segments from R and FM = ⌊(F + M + 1) / 2⌋ (the mean of F and M, rounded half up) by the grid below.
 *   It is adapted from Putler's RFM segment table ("RFM Analysis For Successful Customer Segmentation",
 *   https://www.putler.com/rfm-analysis/) and the default segments of the R package rfm by Aravind Hebbali
 *   (`rfm_segment()`, https://cran.r-project.org/package=rfm); both give overlapping score ranges per
 *   segment, which the grid turns into one segment for each of the 25 (R, FM) cells:
 *
 *           FM=1            FM=2                FM=3            FM=4             FM=5
 *   R=5   New Customers   Potential Loyalist  Loyal           Champions        Champions
 *   R=4   Promising       Potential Loyalist  Loyal           Champions        Champions
 *   R=3   About to Sleep  About to Sleep      Need Attention  Loyal            Loyal
 *   R=2   Hibernating     Hibernating         At Risk         At Risk          Can't Lose Them
 *   R=1   Lost            Lost                At Risk         Can't Lose Them  Can't Lose Them
 */

import { ComputeError } from "./errors";

export interface SegmentDefinition {
  id: string;
  name: string;
  description: string;
}

/** The RFM segments; a customer's segment code is an index into this list. */
export const RFM_SEGMENTS: readonly SegmentDefinition[] = [
  { id: "rfm:champions", name: "Champions", description: "Bought recently, buy often and spend the most." },
  { id: "rfm:loyal", name: "Loyal", description: "Buy regularly and spend well; recent enough to respond." },
  {
    id: "rfm:potential-loyalist",
    name: "Potential Loyalist",
    description: "Recent customers with a few orders and modest spend, who could become loyal.",
  },
  {
    id: "rfm:new-customers",
    name: "New Customers",
    description: "Bought very recently, but rarely and little so far.",
  },
  {
    id: "rfm:promising",
    name: "Promising",
    description: "Bought fairly recently, but have not ordered or spent much yet.",
  },
  {
    id: "rfm:need-attention",
    name: "Need Attention",
    description: "Middling recency, frequency and spend; may slip away without contact.",
  },
  {
    id: "rfm:about-to-sleep",
    name: "About to Sleep",
    description: "Below-average recency, with few orders and low spend.",
  },
  { id: "rfm:at-risk", name: "At Risk", description: "Ordered often or spent well, but not for a while." },
  {
    id: "rfm:cant-lose-them",
    name: "Can't Lose Them",
    description: "Among the most frequent and biggest spenders, but gone quiet for a long time.",
  },
  {
    id: "rfm:hibernating",
    name: "Hibernating",
    description: "Last ordered long ago, with few orders and low spend.",
  },
  {
    id: "rfm:lost",
    name: "Lost",
    description: "Longest since their last order, with the fewest orders and lowest spend.",
  },
];

const CHAMPIONS = 0;
const LOYAL = 1;
const POTENTIAL_LOYALIST = 2;
const NEW_CUSTOMERS = 3;
const PROMISING = 4;
const NEED_ATTENTION = 5;
const ABOUT_TO_SLEEP = 6;
const AT_RISK = 7;
const CANT_LOSE_THEM = 8;
const HIBERNATING = 9;
const LOST = 10;

/** SEGMENT_GRID[r - 1][fm - 1] is the segment code of a customer with scores R and FM. */
export const SEGMENT_GRID: readonly (readonly number[])[] = [
  [LOST, LOST, AT_RISK, CANT_LOSE_THEM, CANT_LOSE_THEM],
  [HIBERNATING, HIBERNATING, AT_RISK, AT_RISK, CANT_LOSE_THEM],
  [ABOUT_TO_SLEEP, ABOUT_TO_SLEEP, NEED_ATTENTION, LOYAL, LOYAL],
  [PROMISING, POTENTIAL_LOYALIST, LOYAL, CHAMPIONS, CHAMPIONS],
  [NEW_CUSTOMERS, POTENTIAL_LOYALIST, LOYAL, CHAMPIONS, CHAMPIONS],
];

/** The mean of F and M, rounded half up. */
export function fmScore(f: number, m: number): number {
  return Math.floor((f + m + 1) / 2);
}

export function rfmSegmentCode(r: number, f: number, m: number): number {
  return (SEGMENT_GRID[r - 1] as readonly number[])[fmScore(f, m) - 1] as number;
}

/** Distinct values in ascending order and how many customers hold each. */
function distinctCounts(values: ArrayLike<number>): { distinct: Float64Array; counts: Float64Array } {
  const n = values.length;
  const histogram = integerHistogram(values);
  if (histogram !== undefined) {
    const { bins, min } = histogram;
    let d = 0;
    for (let k = 0; k < bins.length; k++) if ((bins[k] as number) > 0) d++;
    const distinct = new Float64Array(d);
    const counts = new Float64Array(d);
    let j = 0;
    for (let k = 0; k < bins.length; k++) {
      const c = bins[k] as number;
      if (c === 0) continue;
      distinct[j] = min + k;
      counts[j++] = c;
    }
    return { distinct, counts };
  }
  const sorted = new Float64Array(n);
  for (let i = 0; i < n; i++) sorted[i] = values[i] as number;
  sorted.sort();
  let d = 0;
  for (let i = 0; i < n; i++) if (i === 0 || sorted[i] !== sorted[i - 1]) d++;
  const distinct = new Float64Array(d);
  const counts = new Float64Array(d);
  let j = -1;
  for (let i = 0; i < n; i++) {
    if (i === 0 || sorted[i] !== sorted[i - 1]) distinct[++j] = sorted[i] as number;
    counts[j] = (counts[j] as number) + 1;
  }
  return { distinct, counts };
}

/**
 * For integer values within a range not much wider than their number (recency days, purchase days), the
 * number of customers at each value, in linear time: bins[v - min]. undefined for other values.
 */
function integerHistogram(values: ArrayLike<number>): { bins: Float64Array; min: number } | undefined {
  const n = values.length;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    const v = values[i] as number;
    if (!Number.isInteger(v)) return undefined;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (n === 0 || max - min > 4 * n + 1024) return undefined;
  const bins = new Float64Array(max - min + 1);
  for (let i = 0; i < n; i++) {
    const k = (values[i] as number) - min;
    bins[k] = (bins[k] as number) + 1;
  }
  return { bins, min };
}

/**
 * The scores of the distinct values of a column, listed from the worst to the best with how many customers
 * hold each (see the module header): the rank quintile 1 + ⌊5 · below / N⌋, and with five or more distinct
 * values no score skipped and the best value scored 5.
 */
export function scoresOfDistinct(counts: ArrayLike<number>): Uint8Array {
  const d = counts.length;
  let n = 0;
  for (let j = 0; j < d; j++) n += counts[j] as number;
  const scores = new Uint8Array(d);
  let below = 0;
  for (let j = 0; j < d; j++) {
    let score = 1 + Math.floor((5 * below) / n);
    if (d >= 5) {
      if (j > 0) score = Math.min(score, (scores[j - 1] as number) + 1);
      // Room for a higher score for each better distinct value, so the best one gets 5.
      score = Math.max(score, 5 - (d - 1 - j));
    }
    scores[j] = score;
    below += counts[j] as number;
  }
  return scores;
}

/**
 * The four cut points of a column's scores: cuts[s - 1] is the worst value with a score above s (Infinity,
 * or -Infinity for lower-is-better, when no value scores above s).
 */
function cutsOf(values: ArrayLike<number>, higherIsBetter: boolean): number[] {
  const { distinct, counts } = distinctCounts(values);
  if (!higherIsBetter) {
    distinct.reverse();
    counts.reverse();
  }
  const scores = scoresOfDistinct(counts);
  const none = higherIsBetter ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
  const cuts = [none, none, none, none];
  for (let j = distinct.length - 1; j >= 0; j--) {
    for (let s = 1; s < (scores[j] as number); s++) cuts[s - 1] = distinct[j] as number;
  }
  return cuts;
}

/** Data-driven scores where larger is better (frequency, monetary); see the module header. */
export function quintileScores(values: ArrayLike<number>, out = new Uint8Array(values.length)): Uint8Array {
  if (values.length === 0) return out;
  const [t1, t2, t3, t4] = cutsOf(values, true) as [number, number, number, number];
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    out[i] = 1 + Number(v >= t1) + Number(v >= t2) + Number(v >= t3) + Number(v >= t4);
  }
  return out;
}

/** Data-driven scores where smaller is better (recency); see the module header. */
export function reverseQuintileScores(
  values: ArrayLike<number>,
  out = new Uint8Array(values.length),
): Uint8Array {
  if (values.length === 0) return out;
  const [t1, t2, t3, t4] = cutsOf(values, false) as [number, number, number, number];
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    out[i] = 1 + Number(v <= t1) + Number(v <= t2) + Number(v <= t3) + Number(v <= t4);
  }
  return out;
}

/** Fixed scores where larger is better: 1 + the number of cut points the value reaches (value >= cut). */
export function thresholdScores(
  values: ArrayLike<number>,
  cuts: readonly number[],
  out = new Uint8Array(values.length),
): Uint8Array {
  const [t1, t2, t3, t4] = cuts as [number, number, number, number];
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    out[i] = 1 + Number(v >= t1) + Number(v >= t2) + Number(v >= t3) + Number(v >= t4);
  }
  return out;
}

/** Fixed scores where smaller is better: 5 − the number of cut points the value exceeds (value > cut). */
export function reverseThresholdScores(
  values: ArrayLike<number>,
  cuts: readonly number[],
  out = new Uint8Array(values.length),
): Uint8Array {
  const [t1, t2, t3, t4] = cuts as [number, number, number, number];
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    out[i] = 5 - Number(v > t1) - Number(v > t2) - Number(v > t3) - Number(v > t4);
  }
  return out;
}

/** Fixed score cut points, as the settings give them (m in currency units). */
export interface RfmThresholdSettings {
  r?: readonly number[];
  f?: readonly number[];
  m?: readonly number[];
}

export interface RfmSettings {
  thresholds?: RfmThresholdSettings;
}

/** Checked cut points; m in cents. A dimension without cut points is scored from the data. */
export interface RfmThresholds {
  readonly r?: readonly number[];
  readonly f?: readonly number[];
  readonly m?: readonly number[];
}

/** Largest amount a monetary cut point may have, in currency units (cents stay exact in a double). */
export const MAX_RFM_AMOUNT = 1e13;

const THRESHOLD_RULES = {
  r: { text: "whole numbers of days from 0", min: 0, whole: true },
  f: { text: "whole numbers of purchase days from 1", min: 1, whole: true },
  m: {
    text: `amounts with at most two decimals within ±${MAX_RFM_AMOUNT}`,
    min: -MAX_RFM_AMOUNT,
    whole: false,
  },
} as const;

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** The checked fixed thresholds; throws ComputeError BAD_RFM_THRESHOLDS naming the field at fault. */
export function resolveRfmThresholds(settings: RfmSettings | undefined): RfmThresholds {
  if (settings === undefined) return {};
  if (!isRecord(settings)) throw new ComputeError("BAD_RFM_THRESHOLDS", "rfm must be an object", "rfm");
  for (const key of Object.keys(settings)) {
    if (key !== "thresholds") throw new ComputeError("BAD_RFM_THRESHOLDS", "unknown setting", `rfm.${key}`);
  }
  const thresholds: unknown = settings.thresholds;
  if (thresholds === undefined) return {};
  if (!isRecord(thresholds)) {
    throw new ComputeError(
      "BAD_RFM_THRESHOLDS",
      "thresholds must be an object { r?, f?, m? }",
      "rfm.thresholds",
    );
  }
  const out: { r?: number[]; f?: number[]; m?: number[] } = {};
  for (const [key, cuts] of Object.entries(thresholds)) {
    const field = `rfm.thresholds.${key}`;
    if (key !== "r" && key !== "f" && key !== "m") {
      throw new ComputeError("BAD_RFM_THRESHOLDS", "thresholds are given for r, f and m only", field);
    }
    if (cuts === undefined) continue;
    const rule = THRESHOLD_RULES[key];
    const message = `${key} takes four increasing cut points, ${rule.text}`;
    if (!Array.isArray(cuts) || cuts.length !== 4)
      throw new ComputeError("BAD_RFM_THRESHOLDS", message, field);
    const checked: number[] = [];
    cuts.forEach((cut: unknown, k) => {
      const at = `${field}[${k}]`;
      if (typeof cut !== "number" || !Number.isFinite(cut) || cut < rule.min || cut > MAX_RFM_AMOUNT) {
        throw new ComputeError("BAD_RFM_THRESHOLDS", message, at);
      }
      if (rule.whole && !Number.isInteger(cut)) throw new ComputeError("BAD_RFM_THRESHOLDS", message, at);
      const value = rule.whole ? cut : Math.round(cut * 100);
      if (!rule.whole && Math.abs(value - cut * 100) > 1e-6 * Math.max(1, Math.abs(cut))) {
        throw new ComputeError("BAD_RFM_THRESHOLDS", message, at);
      }
      if (k > 0 && value <= (checked[k - 1] as number))
        throw new ComputeError("BAD_RFM_THRESHOLDS", message, at);
      checked.push(value);
    });
    out[key] = checked;
  }
  return out;
}
