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
 *   returns); monetary = net amount of all orders including returns, in currency units.
 * - Scores 1–5 by quintile of rank, ties sharing a score: with N customers scored,
 *     F = 1 + ⌊5 · #{customers with a strictly smaller frequency} / N⌋, and M likewise on monetary;
 *     R = 1 + ⌊5 · #{customers with a strictly larger recency_days} / N⌋ (more recent scores higher).
 *   A score is the quintile of the customer's lowest rank among equals, so equal values always share it.
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

function sortedCopy(values: ArrayLike<number>): Float64Array {
  const sorted = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) sorted[i] = values[i] as number;
  return sorted.sort();
}

/**
 * For integer values within a range not much wider than their number (recency days, order counts), the
 * number of values below each value from a histogram, in linear time: below[v - min] = #{values < v}.
 * undefined when the values are not such integers.
 */
function countsBelow(values: ArrayLike<number>): { below: Float64Array; min: number } | undefined {
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
  const below = new Float64Array(max - min + 2);
  for (let i = 0; i < n; i++) {
    const k = (values[i] as number) - min + 1;
    below[k] = (below[k] as number) + 1;
  }
  for (let k = 1; k < below.length; k++) below[k] = (below[k] as number) + (below[k - 1] as number);
  return { below, min };
}

/** Scores where larger is better: 1 + ⌊5 · #{strictly smaller} / N⌋. */
export function quintileScores(values: ArrayLike<number>, out = new Uint8Array(values.length)): Uint8Array {
  const n = values.length;
  const counts = countsBelow(values);
  if (counts !== undefined) {
    const { below, min } = counts;
    for (let i = 0; i < n; i++) {
      out[i] = 1 + Math.floor((5 * (below[(values[i] as number) - min] as number)) / n);
    }
    return out;
  }
  // The score of v reaches s + 1 when #{values < v} >= q = ⌈s·n/5⌉, that is when v > sorted[q − 1]: four
  // thresholds, so each value needs four comparisons rather than a search.
  const sorted = sortedCopy(values);
  const t1 = sorted[Math.ceil(n / 5) - 1] as number;
  const t2 = sorted[Math.ceil((2 * n) / 5) - 1] as number;
  const t3 = sorted[Math.ceil((3 * n) / 5) - 1] as number;
  const t4 = sorted[Math.ceil((4 * n) / 5) - 1] as number;
  for (let i = 0; i < n; i++) {
    const v = values[i] as number;
    out[i] = 1 + Number(v > t1) + Number(v > t2) + Number(v > t3) + Number(v > t4);
  }
  return out;
}

/** Scores where smaller is better: 1 + ⌊5 · #{strictly larger} / N⌋. */
export function reverseQuintileScores(
  values: ArrayLike<number>,
  out = new Uint8Array(values.length),
): Uint8Array {
  const n = values.length;
  const counts = countsBelow(values);
  if (counts !== undefined) {
    // #{larger than v} = n − #{values < v + 1}.
    const { below, min } = counts;
    for (let i = 0; i < n; i++) {
      out[i] = 1 + Math.floor((5 * (n - (below[(values[i] as number) - min + 1] as number))) / n);
    }
    return out;
  }
  // #{values > v} >= q exactly when v < sorted[n − q], q = ⌈s·n/5⌉.
  const sorted = sortedCopy(values);
  const t1 = sorted[n - Math.ceil(n / 5)] as number;
  const t2 = sorted[n - Math.ceil((2 * n) / 5)] as number;
  const t3 = sorted[n - Math.ceil((3 * n) / 5)] as number;
  const t4 = sorted[n - Math.ceil((4 * n) / 5)] as number;
  for (let i = 0; i < n; i++) {
    const v = values[i] as number;
    out[i] = 1 + Number(v < t1) + Number(v < t2) + Number(v < t3) + Number(v < t4);
  }
  return out;
}
