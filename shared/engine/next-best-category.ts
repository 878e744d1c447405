/**
 * Next best category: for each customer, the category they have not bought yet that customers of their segment
 * (in one exclusive family, RFM by default) buy most often relative to everyone, and each run's hit rate on
 * held-out recent orders against the most popular category.
 *
 * A customer bought category c when their net spend in c is above zero. In segment s of size |s|, out of N
 * customers: b_s(c) = buyers of c in s / |s|, b(c) = buyers of c / N, lift = b_s(c) / b(c), and
 * score_s(c) = b_s(c) × lift. Only categories with at least k buyers in s are candidates, so a recommendation
 * never rests on a handful of people. Ties: higher b(c), then the name (code-unit order).
 *
 * The evaluation splits the orders at calibrationEnd = asOf − holdoutDays. The family's segments are worked out
 * again from the calibration orders alone (the caller supplies them), and so are the buyers and the
 * recommendations; nothing after calibrationEnd reaches them. A customer is evaluated when they have a
 * calibration order and bought in the holdout at least one category they had not bought in calibration; a hit
 * is a recommendation among those new categories. The baseline recommends the category with the most buyers in
 * calibration that the customer has not bought.
 */

import type { ByteSet } from "./byteset";
import type { SpendByValue } from "./compute";
import { isoDay } from "./days";
import { ComputeError } from "./errors";
import type { CustomerOrders } from "./orders";
import { type AggregateState, BIG_CENTS, ORDER_BLOCK_BITS, ORDER_BLOCK_MASK, type OrderBlock } from "./state";

/** Next best category settings (all optional). */
export interface NextBestCategorySettings {
  /** The exclusive family whose segments the lift is measured in. Default "rfm". */
  family?: "rfm" | "lifecycle";
  /** Length of the held-out window that ends at asOf, in days (1..3650). Default 90. */
  holdoutDays?: number;
  /** Least buyers of a category in a segment for it to be recommended there (the profiles' k). Default 10. */
  k?: number;
}

export interface ResolvedNextBestCategorySettings {
  readonly family: "rfm" | "lifecycle";
  readonly holdoutDays: number;
  readonly k: number;
}

export const NEXT_BEST_CATEGORY_DEFAULTS: ResolvedNextBestCategorySettings = {
  family: "rfm",
  holdoutDays: 90,
  k: 10,
};

/** The hit rate of a run, or why it could not be measured. */
export type NbcReport =
  | {
      family: "rfm" | "lifecycle";
      holdoutDays: number;
      /** Last day (yyyy-mm-dd) of the calibration orders. */
      calibrationEnd: string;
      /** Customers with a calibration order who bought a category new to them in the holdout. */
      customersEvaluated: number;
      /** Of them, those whose recommendation was one of those new categories. */
      hits: number;
      /** hits / customersEvaluated, to 4 decimals. */
      hitRate: number;
      /** Hits of the most popular category the customer had not bought. */
      baselineHits: number;
      baselineHitRate: number;
    }
  | {
      family: "rfm" | "lifecycle";
      skipped: { code: "NBC_NO_CATEGORIES" | "NBC_NO_ORDERS" | "NBC_TOO_LITTLE_HISTORY"; message: string };
    };

/** Checks the settings (ComputeError naming the bad one); undefined when turned off. */
export function resolveNextBestCategorySettings(
  settings: false | NextBestCategorySettings | undefined,
): ResolvedNextBestCategorySettings | undefined {
  if (settings === false) return undefined;
  const s = settings ?? {};
  if (typeof s !== "object" || s === null || Array.isArray(s)) {
    throw new ComputeError(
      "BAD_NEXT_BEST_CATEGORY_SETTINGS",
      "nextBestCategory must be false or an object",
      "nextBestCategory",
    );
  }
  const family = s.family ?? NEXT_BEST_CATEGORY_DEFAULTS.family;
  if (family !== "rfm" && family !== "lifecycle") {
    throw new ComputeError(
      "BAD_NEXT_BEST_CATEGORY_SETTINGS",
      'family is "rfm" or "lifecycle"',
      "nextBestCategory.family",
    );
  }
  const holdoutDays = s.holdoutDays ?? NEXT_BEST_CATEGORY_DEFAULTS.holdoutDays;
  if (!Number.isInteger(holdoutDays) || holdoutDays < 1 || holdoutDays > 3650) {
    throw new ComputeError(
      "BAD_NEXT_BEST_CATEGORY_SETTINGS",
      "holdoutDays is a whole number of days from 1 to 3650",
      "nextBestCategory.holdoutDays",
    );
  }
  const k = s.k ?? NEXT_BEST_CATEGORY_DEFAULTS.k;
  if (!Number.isInteger(k) || k < 1 || k > 1_000_000) {
    throw new ComputeError(
      "BAD_NEXT_BEST_CATEGORY_SETTINGS",
      "k is a whole number of customers from 1 to 1000000",
      "nextBestCategory.k",
    );
  }
  return { family, holdoutDays, k };
}

/** One candidate category of a segment, with the figures it was ranked by. */
export interface CategoryScore {
  /** Category code: 1-based into the category names. */
  readonly code: number;
  readonly name: string;
  /** Buyers of the category in the segment, and in all. */
  readonly segmentBuyers: number;
  readonly buyers: number;
  /** b_s(c), b(c), lift and score as the module header defines them. */
  readonly segmentShare: number;
  readonly share: number;
  readonly lift: number;
  readonly score: number;
}

/** The candidates of every segment in recommendation order, and every bought category by buyers. */
export interface CategoryRanking {
  /** ranked[s]: the candidates of segment s, best first. */
  readonly segments: readonly (readonly CategoryScore[])[];
  /** Codes of the categories anyone bought, most buyers first (ties: name): the baseline's order. */
  readonly popular: readonly number[];
}

/**
 * The customers (positions) who bought each category: a customer's codes are those of `spend` with net cents
 * above zero, code 0 (orders without a category) left out.
 */
function forEachBought(spend: SpendByValue, p: number, fn: (code: number) => void): void {
  const to = spend.offsets[p + 1] as number;
  for (let e = spend.offsets[p] as number; e < to; e++) {
    const code = spend.codes[e] as number;
    if (code !== 0 && (spend.net[e] as number) > 0) fn(code);
  }
}

/**
 * Ranks the categories of every segment. segmentOf[p] is the segment index of position p (a value
 * >= segmentCount: in none); names[c - 1] is category c's name.
 */
export function rankCategories(
  segmentOf: ArrayLike<number>,
  segmentCount: number,
  spend: SpendByValue,
  names: readonly string[],
  k: number,
): CategoryRanking {
  const width = names.length + 1;
  const n = spend.offsets.length - 1;
  const buyers = new Float64Array(width);
  const segmentBuyers = new Float64Array(segmentCount * width);
  const sizes = new Float64Array(segmentCount);
  for (let p = 0; p < n; p++) {
    const s = segmentOf[p] as number;
    const inSegment = s < segmentCount;
    if (inSegment) sizes[s] = (sizes[s] as number) + 1;
    forEachBought(spend, p, (code) => {
      buyers[code] = (buyers[code] as number) + 1;
      if (inSegment) segmentBuyers[s * width + code] = (segmentBuyers[s * width + code] as number) + 1;
    });
  }
  const nameOf = (code: number) => names[code - 1] as string;
  const byName = (a: number, b: number) => {
    const x = nameOf(a);
    const y = nameOf(b);
    return x < y ? -1 : x > y ? 1 : 0;
  };
  const popular: number[] = [];
  for (let c = 1; c < width; c++) if ((buyers[c] as number) > 0) popular.push(c);
  popular.sort((a, b) => (buyers[b] as number) - (buyers[a] as number) || byName(a, b));
  const segments: CategoryScore[][] = [];
  for (let s = 0; s < segmentCount; s++) {
    const size = sizes[s] as number;
    const list: CategoryScore[] = [];
    for (const c of popular) {
      const inSegment = segmentBuyers[s * width + c] as number;
      if (inSegment < k || inSegment === 0) continue;
      const all = buyers[c] as number;
      const segmentShare = inSegment / size;
      const share = all / n;
      const lift = segmentShare / share;
      list.push({
        code: c,
        name: nameOf(c),
        segmentBuyers: inSegment,
        buyers: all,
        segmentShare,
        share,
        lift,
        score: segmentShare * lift,
      });
    }
    // Within a segment the score is proportional to segmentBuyers² / buyers: compared in that form, equal
    // scores (as fractions) compare equal, so the tie rule decides them and not rounding.
    const key = (x: CategoryScore) => (x.segmentBuyers * x.segmentBuyers) / x.buyers;
    list.sort((a, b) => key(b) - key(a) || b.buyers - a.buyers || byName(a.code, b.code));
    segments.push(list);
  }
  return { segments, popular };
}

/** The first code of `order` that position p has not bought, or 0 for none. */
function firstNotBought(
  order: readonly number[] | readonly CategoryScore[],
  spend: SpendByValue,
  p: number,
  mark: Int32Array,
): number {
  forEachBought(spend, p, (code) => {
    mark[code] = p;
  });
  for (const item of order) {
    const code = typeof item === "number" ? item : item.code;
    if (mark[code] !== p) return code;
  }
  return 0;
}

/** Each position's recommended category code (0 for none) from a ranking. */
export function recommendCategories(
  ranking: CategoryRanking,
  segmentOf: ArrayLike<number>,
  spend: SpendByValue,
  categoryCount: number,
): Uint32Array {
  const n = spend.offsets.length - 1;
  const out = new Uint32Array(n);
  const mark = new Int32Array(categoryCount + 1).fill(-1);
  for (let p = 0; p < n; p++) {
    const list = ranking.segments[segmentOf[p] as number];
    if (list !== undefined && list.length > 0) out[p] = firstNotBought(list, spend, p, mark);
  }
  return out;
}

/**
 * Net spend of each group's orders in each category code, for the orders dated in (afterDay, toDay]:
 * groups.orders[groups.offsets[g] ..] are state order indices. Reads the order blocks directly and writes into
 * typed arrays: it runs over every order of the dataset, up to three times a run.
 */
export function categorySpendOf(
  state: AggregateState,
  groups: CustomerOrders,
  afterDay = Number.NEGATIVE_INFINITY,
  toDay = Number.POSITIVE_INFINITY,
): SpendByValue {
  const width = state.categories.size + 1;
  const count = groups.offsets.length - 1;
  const net = new Float64Array(width);
  const seenBy = new Int32Array(width).fill(-1);
  const touched = new Uint32Array(width);
  const offsets = new Uint32Array(count + 1);
  // At most one entry per order.
  const codes = new Uint32Array(groups.orders.length);
  const nets = new Float64Array(groups.orders.length);
  const blocks = state.orderBlocks;
  const list = groups.orders;
  let entries = 0;
  for (let g = 0; g < count; g++) {
    let touchedCount = 0;
    const to = groups.offsets[g + 1] as number;
    for (let e = groups.offsets[g] as number; e < to; e++) {
      const order = list[e] as number;
      const block = blocks[order >>> ORDER_BLOCK_BITS] as OrderBlock;
      const k = order & ORDER_BLOCK_MASK;
      const day = block.day[k] as number;
      if (day <= afterDay || day > toDay) continue;
      const code = block.category === null ? 0 : (block.category[k] as number);
      let cents = block.cents[k] as number;
      if (cents === BIG_CENTS) cents = state.bigCents.get(order) as number;
      if (seenBy[code] !== g) {
        seenBy[code] = g;
        touched[touchedCount++] = code;
        net[code] = 0;
      }
      net[code] = (net[code] as number) + cents;
    }
    for (let t = 0; t < touchedCount; t++) {
      const code = touched[t] as number;
      codes[entries] = code;
      nets[entries] = net[code] as number;
      entries++;
    }
    offsets[g + 1] = entries;
  }
  return { offsets, codes: codes.slice(0, entries), net: nets.slice(0, entries) };
}

/** Each position's spend per category in all, up to a day, and after it (SpendByValue each). */
export interface SplitSpend {
  readonly all: SpendByValue;
  readonly before: SpendByValue;
  readonly after: SpendByValue;
}

/**
 * categorySpendOf for all of each group's orders, for those dated on or before `day`, and for those after it,
 * in one pass over the orders: the recommendations, the calibration and the holdout read one each.
 */
export function splitCategorySpend(state: AggregateState, groups: CustomerOrders, day: number): SplitSpend {
  const width = state.categories.size + 1;
  const count = groups.offsets.length - 1;
  const before = new Float64Array(width);
  const after = new Float64Array(width);
  const seenBy = new Int32Array(width).fill(-1);
  const seenBefore = new Int32Array(width).fill(-1);
  const seenAfter = new Int32Array(width).fill(-1);
  const touched = new Uint32Array(width);
  const out = () => ({
    offsets: new Uint32Array(count + 1),
    codes: new Uint32Array(groups.orders.length),
    net: new Float64Array(groups.orders.length),
    entries: 0,
  });
  const all = out();
  const early = out();
  const late = out();
  const push = (o: ReturnType<typeof out>, code: number, net: number) => {
    o.codes[o.entries] = code;
    o.net[o.entries] = net;
    o.entries++;
  };
  const blocks = state.orderBlocks;
  const list = groups.orders;
  for (let g = 0; g < count; g++) {
    let touchedCount = 0;
    const to = groups.offsets[g + 1] as number;
    for (let e = groups.offsets[g] as number; e < to; e++) {
      const order = list[e] as number;
      const block = blocks[order >>> ORDER_BLOCK_BITS] as OrderBlock;
      const k = order & ORDER_BLOCK_MASK;
      const code = block.category === null ? 0 : (block.category[k] as number);
      let cents = block.cents[k] as number;
      if (cents === BIG_CENTS) cents = state.bigCents.get(order) as number;
      if (seenBy[code] !== g) {
        seenBy[code] = g;
        touched[touchedCount++] = code;
        before[code] = 0;
        after[code] = 0;
      }
      if ((block.day[k] as number) <= day) {
        before[code] = (before[code] as number) + cents;
        seenBefore[code] = g;
      } else {
        after[code] = (after[code] as number) + cents;
        seenAfter[code] = g;
      }
    }
    for (let t = 0; t < touchedCount; t++) {
      const code = touched[t] as number;
      push(all, code, (before[code] as number) + (after[code] as number));
      if (seenBefore[code] === g) push(early, code, before[code] as number);
      if (seenAfter[code] === g) push(late, code, after[code] as number);
    }
    all.offsets[g + 1] = all.entries;
    early.offsets[g + 1] = early.entries;
    late.offsets[g + 1] = late.entries;
  }
  const done = (o: ReturnType<typeof out>): SpendByValue => ({
    offsets: o.offsets,
    codes: o.codes.slice(0, o.entries),
    net: o.net.slice(0, o.entries),
  });
  return { all: done(all), before: done(early), after: done(late) };
}

/** The category names of a dictionary: names[c - 1] is category code c's. */
export function categoryNames(categories: ByteSet): string[] {
  return Array.from({ length: categories.size }, (_, i) => categories.get(i));
}

/** True when some position bought some category (net spend above zero). */
export function anyCategoryBought(spend: SpendByValue): boolean {
  for (let e = 0; e < spend.codes.length; e++)
    if ((spend.codes[e] as number) !== 0 && (spend.net[e] as number) > 0) return true;
  return false;
}

/** The family's segments as of the calibration end: positions are those of a computation as of that day. */
export interface CalibrationSegments {
  /** State customer index of each calibration position. */
  readonly stateIndex: Uint32Array;
  /** Segment index of each calibration position. */
  readonly segmentOf: ArrayLike<number>;
  readonly segmentCount: number;
}

const rate = (hits: number, of: number) => Math.round((hits / of) * 10_000) / 10_000;

/**
 * The hit rate of the recommendations made from the orders up to asOf − holdoutDays, measured on the orders
 * after it. `full` is each position's spend per category (its stateIndex entry) split at asOf − holdoutDays
 * (splitCategorySpend); `calibration(day)` gives the family's segments as of `day`, or undefined when no
 * customer has an order by then.
 */
export function evaluateNextBestCategory(
  state: AggregateState,
  asOfDay: number,
  settings: ResolvedNextBestCategorySettings,
  full: { readonly stateIndex: Uint32Array; readonly spend: SplitSpend },
  calibration: (day: number) => CalibrationSegments | undefined,
  /** Sees the recommendations made from the calibration orders, by calibration position. */
  onCalibration?: (stateIndex: Uint32Array, recommended: Uint32Array) => void,
): NbcReport {
  const { family, holdoutDays, k } = settings;
  const calibrationEnd = asOfDay - holdoutDays;
  const tooLittle = (why: string): NbcReport => ({
    family,
    skipped: { code: "NBC_TOO_LITTLE_HISTORY", message: why },
  });
  const cal = calibration(calibrationEnd);
  if (cal === undefined) {
    return tooLittle(`no order on or before ${isoDay(calibrationEnd)}, the end of the calibration period`);
  }
  const names = categoryNames(state.categories);
  // Every calibration customer has an order on or before calibrationEnd <= asOf, so a full position too: the
  // spend up to calibrationEnd of the full positions, put in calibration order, is the calibration spend.
  const fullPosition = new Int32Array(state.customerCount).fill(-1);
  for (let p = 0; p < full.stateIndex.length; p++) fullPosition[full.stateIndex[p] as number] = p;
  const { before, after: holdout } = full.spend;
  const n = cal.stateIndex.length;
  const calOffsets = new Uint32Array(n + 1);
  for (let p = 0; p < n; p++) {
    const q = fullPosition[cal.stateIndex[p] as number] as number;
    calOffsets[p + 1] =
      (calOffsets[p] as number) + ((before.offsets[q + 1] as number) - (before.offsets[q] as number));
  }
  const calCodes = new Uint32Array(calOffsets[n] as number);
  const calNet = new Float64Array(calOffsets[n] as number);
  for (let p = 0; p < n; p++) {
    const q = fullPosition[cal.stateIndex[p] as number] as number;
    const from = before.offsets[q] as number;
    const to = before.offsets[q + 1] as number;
    calCodes.set(before.codes.subarray(from, to), calOffsets[p] as number);
    calNet.set(before.net.subarray(from, to), calOffsets[p] as number);
  }
  const calSpend: SpendByValue = { offsets: calOffsets, codes: calCodes, net: calNet };
  const ranking = rankCategories(cal.segmentOf, cal.segmentCount, calSpend, names, k);
  const recommended = recommendCategories(ranking, cal.segmentOf, calSpend, names.length);
  onCalibration?.(cal.stateIndex, recommended);
  const mark = new Int32Array(names.length + 1).fill(-1);
  const fresh = new Int32Array(names.length + 1).fill(-1);
  let evaluated = 0;
  let hits = 0;
  let baselineHits = 0;
  for (let p = 0; p < n; p++) {
    const q = fullPosition[cal.stateIndex[p] as number] as number;
    if (q < 0) continue;
    forEachBought(calSpend, p, (code) => {
      mark[code] = p;
    });
    let anyNew = false;
    forEachBought(holdout, q, (code) => {
      if (mark[code] !== p) {
        fresh[code] = p;
        anyNew = true;
      }
    });
    if (!anyNew) continue;
    evaluated++;
    const pick = recommended[p] as number;
    if (pick !== 0 && fresh[pick] === p) hits++;
    let baseline = 0;
    for (const code of ranking.popular) {
      if (mark[code] !== p) {
        baseline = code;
        break;
      }
    }
    if (baseline !== 0 && fresh[baseline] === p) baselineHits++;
  }
  if (evaluated === 0) {
    return tooLittle(
      `no customer with an order on or before ${isoDay(calibrationEnd)} bought a category new to them in the ${holdoutDays} days after it`,
    );
  }
  return {
    family,
    holdoutDays,
    calibrationEnd: isoDay(calibrationEnd),
    customersEvaluated: evaluated,
    hits,
    hitRate: rate(hits, evaluated),
    baselineHits,
    baselineHitRate: rate(baselineHits, evaluated),
  };
}
