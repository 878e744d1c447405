/**
 * Computation of segments from an AggregateState: per-customer values in columns (typed arrays indexed by
 * result position), the segment families, and the economics of every segment.
 *
 * Stages, in order (each timed in `timings`, in ms):
 * - rfm: one pass over the orders gives every customer's RFM values, first, last and previous purchase days
 *   and gross spend, and beside them the columns the value stage's holdout reads as of its calibration end
 *   (found before the pass); then quintile scores and the RFM segments (rfm.ts);
 * - lifecycle: stages from the purchase days and the dataset's windows (lifecycle.ts);
 * - clusters: k-means on the RFM features, unless turned off or there are too few customers (clusters.ts);
 * - value: the repeat-purchase models validated on a holdout, the chosen one and Gamma-Gamma fitted on the
 *   dataset, then probability alive, expected purchases and CLV with their 80 % intervals for everyone, unless
 *   turned off or the data cannot support the models (value.ts);
 * - attributes: one exclusive family per attribute to segment by (attribute-families.ts), before lists and
 *   rules so that rules may name its segments;
 * - rules: every rule segment compiled against the columns above and evaluated column-wise (traits.ts).
 * Every setting is checked before any work starts, and a bad one throws ComputeError naming it; a part the
 * data cannot support is skipped and reported in `issues`, never thrown.
 *
 * The result is built of families: each contributes segment summaries and the segment ids of each customer.
 * Nothing here creates an object per customer until customer(i) is asked for one.
 */

import {
  attributeFamilies,
  checkAttributeFamilySettings,
  type ResolvedAttributeFamily,
} from "./attribute-families";
import { checkClusterSettings, clusterDefinitions, clusterStage } from "./clusters";
import type { Predictions } from "./clv";
import { ColumnBlock } from "./columns";
import { isoDay, parseDay } from "./days";
import { ComputeError } from "./errors";
import { staleDataIssue } from "./evaluation-date";
import { type ClusterModel, defaultFitThreads, type KMeansOptions, prestartFitThreads } from "./kmeans";
import {
  LIFECYCLE_STAGES,
  type LifecycleWindows,
  lifecycleDefinitions,
  lifecycleStages,
  NO_DAY,
  resolveLifecycleWindows,
} from "./lifecycle";
import { checkLookalikeSettings, lookalikeSegments } from "./lookalike";
import { checkListSettings, listMembership, orderRuleSegments } from "./memberships";
import { amountOfCents, centsOfAmount, meanRounded, roundToCent } from "./money";
import {
  anyCategoryBought,
  type CalibrationSegments,
  categoryNames,
  evaluateNextBestCategory,
  type NbcReport,
  type ResolvedNextBestCategorySettings,
  rankCategories,
  recommendCategories,
  resolveNextBestCategorySettings,
  type SplitSpend,
  splitCategorySpend,
} from "./next-best-category";
import { type CustomerOrders, distinctPurchaseDays, groupOrders, positionsOf } from "./orders";
import {
  quintileScores,
  RFM_SEGMENTS,
  type RfmThresholds,
  resolveRfmThresholds,
  reverseQuintileScores,
  reverseThresholdScores,
  rfmSegmentCode,
  type SegmentDefinition,
  thresholdScores,
} from "./rfm";
import { checkRuleSettings } from "./rule-segments";
import { ATTRIBUTE_TYPES, type AttributeType, compileRule } from "./rules";
import type { CustomerColumns, SegmentationSource } from "./segmentation-source";
import { AggregateState, BIG_CENTS, ORDER_BLOCK_SIZE, type OrderBlock } from "./state";
import { ResultTraits } from "./traits";
import type {
  ComputeIssue,
  ComputeSettings,
  CustomerScores,
  CustomerValueInputs,
  SegmentationResult,
  SegmentFamily,
  SegmentSummary,
  ServedValueModel,
  ValueModelSummary,
} from "./types";
import {
  calibrationEndDay,
  customerValueInputs,
  type HoldoutContext,
  type ResolvedValueSettings,
  resolveValueSettings,
  valueInputs,
  valueStage,
} from "./value";
import { ValueThread } from "./value-thread";

export type { CustomerOrders } from "./orders";
export type { CustomerColumns, SegmentationSource, SpendByValue } from "./segmentation-source";

/** One family's part of a result. */
export interface FamilyResult {
  readonly family: SegmentFamily;
  readonly summaries: readonly SegmentSummary[];
  /** Appends the ids of the family's segments that position i belongs to. */
  segmentsOf(i: number, out: string[]): void;
}

/** What a computation found beyond the columns; all optional for a result built from columns alone. */
export interface ComputedParts {
  clusters?: ClusterModel;
  clusterNames?: readonly string[];
  value?: ValueModelSummary;
  /** The served value model of the predictions (clv/served.ts), when the value models were fitted. */
  servedValue?: ServedValueModel;
  issues?: ComputeIssue[];
  timings?: Record<string, number>;
  lifecycleWindows?: LifecycleWindows;
  /** The orders of each position, when already grouped (customerOrders() groups them otherwise). */
  orders?: CustomerOrders;
}

const LIFECYCLE_IDS = LIFECYCLE_STAGES.map((d) => d.id);

export class ComputedSegmentation implements SegmentationResult {
  readonly asOf: string;
  readonly asOfDay: number;
  readonly customerCount: number;
  readonly columns: CustomerColumns;
  /** Net revenue of all scored customers, in cents. */
  readonly totalCents: number;
  /** Orders (not returns) of all scored customers. */
  readonly totalOrders: number;
  readonly clusters?: ClusterModel;
  readonly value?: ValueModelSummary;
  readonly servedValue?: ServedValueModel;
  readonly issues: ComputeIssue[];
  readonly timings: Record<string, number>;
  readonly lifecycleWindows: LifecycleWindows;
  private readonly clusterNames: readonly string[];
  private readonly families: FamilyResult[] = [];
  private ordersCache: CustomerOrders | undefined;
  /** The next best category's hit rate, or why it was skipped; absent when turned off. */
  nextBestCategory?: NbcReport;
  /** Each position's recommended category code (0 for none) and the category names (code c is names[c - 1]). */
  private nextCategories: { readonly codes: Uint32Array; readonly names: readonly string[] } | undefined;

  /** Where customer ids, attributes and dimension names come from. */
  readonly source: SegmentationSource;
  /** The state the result was computed from; undefined for a result merged from shards. */
  readonly state: AggregateState | undefined;
  /**
   * The traits over the result: the computation sets the ones its rules read (declared attribute types, and
   * every segment added by membership); a result built from columns alone gets plain ones.
   */
  traits: ResultTraits;

  constructor(
    source: SegmentationSource,
    asOf: string,
    asOfDay: number,
    columns: CustomerColumns,
    parts: ComputedParts = {},
  ) {
    this.source = source;
    this.state = source instanceof AggregateState ? source : undefined;
    this.asOf = asOf;
    this.asOfDay = asOfDay;
    this.columns = columns;
    this.customerCount = columns.stateIndex.length;
    let cents = 0;
    let orders = 0;
    for (let i = 0; i < this.customerCount; i++) {
      cents += columns.monetaryCents[i] as number;
      orders += columns.frequency[i] as number;
    }
    this.totalCents = cents;
    this.totalOrders = orders;
    if (parts.clusters !== undefined) this.clusters = parts.clusters;
    if (parts.value !== undefined) this.value = parts.value;
    if (parts.servedValue !== undefined) this.servedValue = parts.servedValue;
    this.clusterNames = parts.clusterNames ?? parts.clusters?.descriptions ?? [];
    this.issues = parts.issues ?? [];
    this.timings = parts.timings ?? {};
    this.lifecycleWindows = parts.lifecycleWindows ?? resolveLifecycleWindows();
    this.ordersCache = parts.orders;
    this.traits = new ResultTraits(this);
  }

  get segments(): SegmentSummary[] {
    return this.families.flatMap((family) => family.summaries);
  }

  addFamily(family: FamilyResult): void {
    this.families.push(family);
  }

  customerId(i: number): string {
    return this.source.customerId(this.columns.stateIndex[this.position(i)] as number);
  }

  customer(i: number): CustomerScores {
    const c = this.columns;
    const p = this.position(i);
    const r = c.r[p] as number;
    const f = c.f[p] as number;
    const m = c.m[p] as number;
    const scores: CustomerScores = {
      customerId: this.source.customerId(c.stateIndex[p] as number),
      firstPurchase: isoDay(c.firstPurchaseDay[p] as number),
      lastPurchase: isoDay(c.lastPurchaseDay[p] as number),
      recencyDays: c.recencyDays[p] as number,
      frequency: c.frequency[p] as number,
      monetary: amountOfCents(c.monetaryCents[p] as number),
      r,
      f,
      m,
      rfm: `${r}${f}${m}`,
      lifecycle: LIFECYCLE_IDS[c.lifecycle[p] as number] as string,
    } as CustomerScores;
    if (c.cluster !== undefined && this.clusters !== undefined) {
      const k = c.cluster[p] as number;
      scores.cluster = this.clusters.ids[k] as string;
      scores.clusterName = this.clusterNames[k] as string;
    }
    if (c.probabilityAlive !== undefined) scores.probabilityAlive = c.probabilityAlive[p] as number;
    if (c.expectedPurchases !== undefined) scores.expectedPurchases = c.expectedPurchases[p] as number;
    if (c.clv !== undefined) scores.clv = roundToCent(c.clv[p] as number);
    if (c.expectedPurchasesLow !== undefined && c.expectedPurchasesHigh !== undefined) {
      scores.expectedPurchasesLow = c.expectedPurchasesLow[p] as number;
      scores.expectedPurchasesHigh = c.expectedPurchasesHigh[p] as number;
    }
    if (c.clvLow !== undefined && c.clvHigh !== undefined) {
      scores.clvLow = roundToCent(c.clvLow[p] as number);
      scores.clvHigh = roundToCent(c.clvHigh[p] as number);
    }
    if (c.probabilityAlive !== undefined) scores.repeatPurchases = (c.purchaseDays[p] as number) - 1;
    const nextBestCategory = this.nextBestCategoryOf(p);
    if (nextBestCategory !== undefined) scores.nextBestCategory = nextBestCategory;
    // Added last, so that the segments come after the scores when the object is printed or serialized.
    const segments: string[] = [];
    for (const family of this.families) family.segmentsOf(p, segments);
    scores.segments = segments;
    return scores;
  }

  /** The value models' inputs of position i, when the value models were fitted (clv/served.ts). */
  valueInputsOf(i: number): CustomerValueInputs | undefined {
    if (this.servedValue === undefined) return undefined;
    return customerValueInputs(this.columns, this.columns.purchaseDays, this.position(i));
  }

  /** The category recommended to position i next, or undefined for none. */
  nextBestCategoryOf(i: number): string | undefined {
    const next = this.nextCategories;
    const code = next === undefined ? 0 : (next.codes[this.position(i)] as number);
    return code === 0 ? undefined : (next?.names[code - 1] as string);
  }

  /** Sets each position's recommended category: codes[i] is 0 for none, else names[codes[i] - 1]. */
  setNextBestCategories(codes: Uint32Array, names: readonly string[]): void {
    this.nextCategories = { codes, names };
  }

  /** The orders of each position (built on first use); only for a result computed from a state. */
  customerOrders(): CustomerOrders {
    if (this.ordersCache === undefined) {
      const state = this.state;
      if (state === undefined) throw new Error("A result merged from shards holds no orders");
      this.ordersCache = groupOrders(
        state,
        this.asOfDay,
        positionsOf(state.customerCount, this.columns.stateIndex),
      );
    }
    return this.ordersCache;
  }

  /** Distinct days with an order (not a return) per position. */
  purchaseDays(): Uint32Array {
    return this.columns.purchaseDays;
  }

  private position(i: number): number {
    if (!(Number.isInteger(i) && i >= 0 && i < this.customerCount)) {
      throw new RangeError(`No customer at position ${i} (0..${this.customerCount - 1})`);
    }
    return i;
  }
}

type BaseColumns = Omit<
  CustomerColumns,
  | "lifecycle"
  | "cluster"
  | "probabilityAlive"
  | "expectedPurchases"
  | "clv"
  | "expectedPurchasesLow"
  | "expectedPurchasesHigh"
  | "clvLow"
  | "clvHigh"
>;

/**
 * The columns of every scored customer that depend on that customer's orders alone (everything before the
 * quintile scores): what a shard of customers can work out without the others.
 */
export type CustomerTotals = Omit<BaseColumns, "r" | "f" | "m" | "rfmSegment"> & {
  /** Orders dated after asOf: kept in the state, counted from the first evaluation on or after their day. */
  ordersAfterAsOf?: number;
};

// Per-customer accumulators of the order pass, interleaved so that an order touches one or two cache lines:
// three sums of cents as doubles (exact to 2^53) and six 32-bit integers after them (48 bytes); when the pass
// also keeps the totals as of an earlier day, three more integers for them (64 bytes, one cache line).
const ACC_BYTES = 48;
const ACC_BYTES_WITH_EARLIER = 64;
const NET = 0;
const GROSS = 1;
const FIRST_CENTS = 2;
/** In 32-bit integers. */
const ORDERS = 6;
const FIRST = 7;
const LAST = 8;
const PREVIOUS = 9;
/** Distinct purchase days while the customer's days arrive in order; -1 once one arrives out of order. */
const DISTINCT = 10;
const RETURNS = 11;
/** FIRST, LAST and DISTINCT as of the earlier day. */
const EARLIER_FIRST = 12;
const EARLIER_LAST = 13;
const EARLIER_DISTINCT = 14;
/** Orders whose accumulators are brought into cache together before they are updated. */
const TOUCH_BATCH = 256;
const NO_FIRST = 2147483647;
/** Where the touch loops' reads end up, so that they are not optimized away. */
const TOUCH_SINK = new Int32Array(1);

/** RFM values and purchase days of every customer with at least one order on or before asOfDay. */
export function customerTotals(state: AggregateState, asOfDay: number): CustomerTotals {
  return orderPass(state, asOfDay, undefined).totals;
}

/**
 * The columns of customerTotals that the value stage's holdout reads (HoldoutContext.totalsAsOf): those of the
 * customers with an order on or before the day, counting those orders only.
 */
export type HoldoutTotals = ReturnType<NonNullable<HoldoutContext["totalsAsOf"]>>;

/**
 * customerTotals(state, asOfDay), and the HoldoutTotals columns of customerTotals(state, earlierDay), in one
 * pass over the orders (earlierDay below asOfDay).
 */
export function customerTotalsWithEarlier(
  state: AggregateState,
  asOfDay: number,
  earlierDay: number,
): { totals: CustomerTotals; earlier: HoldoutTotals } {
  if (!(Number.isInteger(earlierDay) && earlierDay < asOfDay)) {
    throw new RangeError(`the earlier day ${earlierDay} must come before asOf (${asOfDay})`);
  }
  const { totals, earlier } = orderPass(state, asOfDay, earlierDay);
  return { totals, earlier: earlier as HoldoutTotals };
}

/**
 * The first day of a purchase (an order that is not a return) on or before asOfDay, or asOfDay when there is
 * none: the smallest firstPurchaseDay of customerTotals(state, asOfDay), found by a sequential scan.
 */
export function firstPurchaseDayOf(state: AggregateState, asOfDay: number): number {
  let first = asOfDay;
  const total = state.orderCount;
  for (let b = 0; b * ORDER_BLOCK_SIZE < total; b++) {
    const { day, cents } = state.orderBlocks[b] as OrderBlock;
    const length = Math.min(ORDER_BLOCK_SIZE, total - b * ORDER_BLOCK_SIZE);
    for (let k = 0; k < length; k++) {
      const d = day[k] as number;
      if (d >= first) continue;
      const amount = cents[k] as number;
      // BIG_CENTS is negative itself: the sign of such an amount is in bigCents.
      if (
        amount >= 0 ||
        (amount === BIG_CENTS && (state.bigCents.get(b * ORDER_BLOCK_SIZE + k) as number) >= 0)
      )
        first = d;
    }
  }
  return first;
}

/**
 * The end of the value stage's calibration period, the day validate (value.ts) asks totalsAsOf for: asOf less
 * the holdout the settings give for the data; undefined when the holdout is too short to be validated on.
 */
export function calibrationEndDayOf(
  state: AggregateState,
  asOfDay: number,
  valueSettings: Pick<ResolvedValueSettings, "holdoutDays">,
): number | undefined {
  return calibrationEndDay(valueSettings, firstPurchaseDayOf(state, asOfDay), asOfDay);
}

function orderPass(
  state: AggregateState,
  asOfDay: number,
  earlierDay: number | undefined,
): { totals: CustomerTotals; earlier: HoldoutTotals | undefined } {
  const n = state.customerCount;
  const withEarlier = earlierDay !== undefined;
  const accBytes = withEarlier ? ACC_BYTES_WITH_EARLIER : ACC_BYTES;
  /** Strides in doubles and in 32-bit integers. */
  const fStride = accBytes / 8;
  const iStride = accBytes / 4;
  // With no earlier day, no order's day is on or before this one.
  const earlier = earlierDay ?? NO_DAY;
  const buffer = new ArrayBuffer(n * accBytes);
  const sums = new Float64Array(buffer);
  const ints = new Int32Array(buffer);
  for (let c = 0; c < n; c++) {
    const at = c * iStride;
    ints[at + FIRST] = NO_FIRST;
    ints[at + LAST] = NO_DAY;
    ints[at + PREVIOUS] = NO_DAY;
    if (withEarlier) {
      ints[at + EARLIER_FIRST] = NO_FIRST;
      ints[at + EARLIER_LAST] = NO_DAY;
    }
  }
  const total = state.orderCount;
  let unordered = 0;
  let unorderedEarlier = 0;
  let later = 0;
  let touched = 0;
  for (let b = 0; b * ORDER_BLOCK_SIZE < total; b++) {
    const block = state.orderBlocks[b] as OrderBlock;
    const length = Math.min(ORDER_BLOCK_SIZE, total - b * ORDER_BLOCK_SIZE);
    const { customer, day, cents } = block;
    for (let from = 0; from < length; from += TOUCH_BATCH) {
      const to = Math.min(length, from + TOUCH_BATCH);
      // Customers come in no particular order: reading their accumulators first, in a loop of independent
      // loads, lets the cache misses of the batch overlap instead of following one another.
      for (let k = from; k < to; k++) {
        const c = customer[k] as number;
        touched ^= (ints[c * iStride] as number) ^ (ints[c * iStride + RETURNS] as number);
      }
      for (let k = from; k < to; k++) {
        const d = day[k] as number;
        if (d > asOfDay) {
          later++;
          continue;
        }
        const c = customer[k] as number;
        const f = c * fStride;
        const at = c * iStride;
        let amount = cents[k] as number;
        if (amount === BIG_CENTS) amount = state.bigCents.get(b * ORDER_BLOCK_SIZE + k) as number;
        sums[f + NET] = (sums[f + NET] as number) + amount;
        if (amount < 0) {
          ints[at + RETURNS] = (ints[at + RETURNS] as number) + 1;
          continue;
        }
        sums[f + GROSS] = (sums[f + GROSS] as number) + amount;
        ints[at + ORDERS] = (ints[at + ORDERS] as number) + 1;
        const first = ints[at + FIRST] as number;
        if (d < first) {
          ints[at + FIRST] = d;
          sums[f + FIRST_CENTS] = amount;
        } else if (d === first) {
          sums[f + FIRST_CENTS] = (sums[f + FIRST_CENTS] as number) + amount;
        }
        // PREVIOUS stays the latest distinct day below LAST, whatever order the days come in.
        const last = ints[at + LAST] as number;
        if (d > last) {
          ints[at + PREVIOUS] = last;
          ints[at + LAST] = d;
          if ((ints[at + DISTINCT] as number) >= 0) ints[at + DISTINCT] = (ints[at + DISTINCT] as number) + 1;
        } else if (d < last) {
          if (d > (ints[at + PREVIOUS] as number)) ints[at + PREVIOUS] = d;
          if ((ints[at + DISTINCT] as number) >= 0) {
            ints[at + DISTINCT] = -1;
            unordered++;
          }
        }
        if (d <= earlier) {
          if (d < (ints[at + EARLIER_FIRST] as number)) ints[at + EARLIER_FIRST] = d;
          const earlierLast = ints[at + EARLIER_LAST] as number;
          if (d > earlierLast) {
            ints[at + EARLIER_LAST] = d;
            if ((ints[at + EARLIER_DISTINCT] as number) >= 0)
              ints[at + EARLIER_DISTINCT] = (ints[at + EARLIER_DISTINCT] as number) + 1;
          } else if (d < earlierLast && (ints[at + EARLIER_DISTINCT] as number) >= 0) {
            ints[at + EARLIER_DISTINCT] = -1;
            unorderedEarlier++;
          }
        }
      }
    }
  }
  TOUCH_SINK[0] = touched;
  let count = 0;
  for (let c = 0; c < n; c++) if ((ints[c * iStride + ORDERS] as number) > 0) count++;
  const block = new ColumnBlock(count).reserve(8, 4).reserve(4, 8).allocate();
  const monetaryCents = block.f64();
  const monetary = block.f64();
  const grossCents = block.f64();
  const firstDayCents = block.f64();
  const stateIndex = block.u32();
  const recencyDays = block.i32();
  const frequency = block.u32();
  const returnCount = block.u32();
  const firstPurchaseDay = block.i32();
  const lastPurchaseDay = block.i32();
  const previousPurchaseDay = block.i32();
  const purchaseDays = block.u32();
  // Customers whose purchase days came out of order get their distinct days counted exactly below.
  const recount = unordered > 0 ? new Int32Array(n).fill(-1) : undefined;
  const recounted = new Uint32Array(unordered);
  let u = 0;
  let p = 0;
  for (let c = 0; c < n; c++) {
    const at = c * iStride;
    const f = c * fStride;
    if ((ints[at + ORDERS] as number) === 0) continue;
    const net = sums[f + NET] as number;
    stateIndex[p] = c;
    recencyDays[p] = asOfDay - (ints[at + LAST] as number);
    frequency[p] = ints[at + ORDERS] as number;
    returnCount[p] = ints[at + RETURNS] as number;
    monetaryCents[p] = net;
    monetary[p] = net / 100;
    firstPurchaseDay[p] = ints[at + FIRST] as number;
    lastPurchaseDay[p] = ints[at + LAST] as number;
    previousPurchaseDay[p] = ints[at + PREVIOUS] as number;
    grossCents[p] = sums[f + GROSS] as number;
    firstDayCents[p] = sums[f + FIRST_CENTS] as number;
    const distinct = ints[at + DISTINCT] as number;
    if (distinct < 0 && recount !== undefined) {
      recount[c] = u;
      recounted[u++] = p;
    } else {
      purchaseDays[p] = distinct;
    }
    p++;
  }
  if (recount !== undefined) {
    const exact = distinctPurchaseDays(state, asOfDay, recount, unordered);
    for (let j = 0; j < unordered; j++) purchaseDays[recounted[j] as number] = exact[j] as number;
  }
  const totals: CustomerTotals = {
    stateIndex,
    recencyDays,
    frequency,
    returns: returnCount,
    monetaryCents,
    monetary,
    firstPurchaseDay,
    lastPurchaseDay,
    previousPurchaseDay,
    purchaseDays,
    grossCents,
    firstDayCents,
    ordersAfterAsOf: later,
  };
  return {
    totals,
    earlier: withEarlier ? earlierColumns(state, ints, iStride, earlier, unorderedEarlier) : undefined,
  };
}

/** The HoldoutTotals of the order pass's earlier accumulators (ints, iStride) as of earlierDay. */
function earlierColumns(
  state: AggregateState,
  ints: Int32Array,
  iStride: number,
  earlierDay: number,
  unordered: number,
): HoldoutTotals {
  const n = state.customerCount;
  let count = 0;
  for (let c = 0; c < n; c++) if ((ints[c * iStride + EARLIER_FIRST] as number) !== NO_FIRST) count++;
  const block = new ColumnBlock(count).reserve(4, 4).allocate();
  const stateIndex = block.u32();
  const firstPurchaseDay = block.i32();
  const lastPurchaseDay = block.i32();
  const purchaseDays = block.u32();
  const recount = unordered > 0 ? new Int32Array(n).fill(-1) : undefined;
  const recounted = new Uint32Array(unordered);
  let u = 0;
  let p = 0;
  for (let c = 0; c < n; c++) {
    const at = c * iStride;
    const first = ints[at + EARLIER_FIRST] as number;
    if (first === NO_FIRST) continue;
    stateIndex[p] = c;
    firstPurchaseDay[p] = first;
    lastPurchaseDay[p] = ints[at + EARLIER_LAST] as number;
    const distinct = ints[at + EARLIER_DISTINCT] as number;
    if (distinct < 0 && recount !== undefined) {
      recount[c] = u;
      recounted[u++] = p;
    } else {
      purchaseDays[p] = distinct;
    }
    p++;
  }
  if (recount !== undefined) {
    const exact = distinctPurchaseDays(state, earlierDay, recount, unordered);
    for (let j = 0; j < unordered; j++) purchaseDays[recounted[j] as number] = exact[j] as number;
  }
  return { stateIndex, firstPurchaseDay, lastPurchaseDay, purchaseDays };
}

/**
 * Totals with their R, F and M scores (F from purchase days) and RFM segments: ranked against the other
 * customers, or by the dataset's fixed thresholds where it sets them (rfm.ts).
 */
function scoreColumns(totals: CustomerTotals, thresholds: RfmThresholds = {}): BaseColumns {
  const count = totals.stateIndex.length;
  const block = new ColumnBlock(count).reserve(1, 4).allocate();
  const r =
    thresholds.r === undefined
      ? reverseQuintileScores(totals.recencyDays, block.u8())
      : reverseThresholdScores(totals.recencyDays, thresholds.r, block.u8());
  const f =
    thresholds.f === undefined
      ? quintileScores(totals.purchaseDays, block.u8())
      : thresholdScores(totals.purchaseDays, thresholds.f, block.u8());
  const m =
    thresholds.m === undefined
      ? quintileScores(totals.monetaryCents, block.u8())
      : thresholdScores(totals.monetaryCents, thresholds.m, block.u8());
  const rfmSegment = block.u8();
  for (let i = 0; i < count; i++)
    rfmSegment[i] = rfmSegmentCode(r[i] as number, f[i] as number, m[i] as number);
  return { ...totals, r, f, m, rfmSegment };
}

/** RFM values, purchase days and scores of every customer with at least one order on or before asOfDay. */
function baseColumns(state: AggregateState, asOfDay: number): BaseColumns {
  return scoreColumns(customerTotals(state, asOfDay));
}

/**
 * Per-customer RFM values, scores and lifecycle stages (default windows unless given) of every customer with
 * at least one order on or before asOfDay.
 */
export function customerColumns(
  state: AggregateState,
  asOfDay: number,
  windows: LifecycleWindows = resolveLifecycleWindows(),
): CustomerColumns {
  const base = baseColumns(state, asOfDay);
  return { ...base, lifecycle: lifecycleStages(base, asOfDay, windows) };
}

// ---- economics ---------------------------------------------------------------------------------------------

interface SegmentTotals {
  size: number;
  cents: number;
  orders: number;
  clvCents: number;
  /** Sums of the members' CLV bounds, in cents. */
  clvLowCents: number;
  clvHighCents: number;
  /** Sum of P(alive) over the members it counts for (aliveCounts; see aliveCounts()). */
  alive: number;
  aliveCount: number;
}

/**
 * Whether position i's P(alive) counts in a segment's mean: always, but when BG/NBD is the served model only
 * for customers with a repeat purchase (BG/NBD's P(alive) = 1 of the others is no knowledge; value.ts).
 */
function aliveCounts(result: ComputedSegmentation): (i: number) => boolean {
  if (result.value?.selectedModel !== "bgNbd") return () => true;
  const days = result.columns.purchaseDays;
  return (i) => (days[i] as number) > 1;
}

function summary(
  family: SegmentFamily,
  definition: SegmentDefinition,
  totals: SegmentTotals,
  result: ComputedSegmentation,
): SegmentSummary {
  // Money in integer cents to the end; the means are rounded to the cent (money.ts), the mean CLV being the
  // mean of the members' CLVs as each is served, to the cent.
  const { size, cents, orders } = totals;
  const valued = result.columns.clv !== undefined && size > 0;
  const bounded = valued && result.columns.clvLow !== undefined && result.columns.clvHigh !== undefined;
  return {
    id: definition.id,
    family,
    name: definition.name,
    description: definition.description,
    size,
    share: result.customerCount === 0 ? 0 : size / result.customerCount,
    revenue: amountOfCents(cents),
    revenueShare: result.totalCents === 0 ? 0 : cents / result.totalCents,
    averageOrderValue: amountOfCents(meanRounded(cents, orders)),
    meanClv: valued ? amountOfCents(meanRounded(totals.clvCents, size)) : null,
    meanClvLow: bounded ? amountOfCents(meanRounded(totals.clvLowCents, size)) : null,
    meanClvHigh: bounded ? amountOfCents(meanRounded(totals.clvHighCents, size)) : null,
    meanProbabilityAlive:
      valued && result.columns.probabilityAlive && totals.aliveCount > 0
        ? totals.alive / totals.aliveCount
        : null,
  };
}

/**
 * Summaries of a family where each customer is in at most one segment: codes[i] is the index into
 * definitions of position i's segment, or a value >= definitions.length for none. Every segment is listed,
 * empty ones included.
 */
export function exclusiveSummaries(
  result: ComputedSegmentation,
  family: SegmentFamily,
  definitions: readonly SegmentDefinition[],
  codes: ArrayLike<number>,
): SegmentSummary[] {
  const k = definitions.length;
  const sizes = new Float64Array(k);
  const cents = new Float64Array(k);
  const orders = new Float64Array(k);
  const clv = new Float64Array(k);
  const clvLow = new Float64Array(k);
  const clvHigh = new Float64Array(k);
  const alive = new Float64Array(k);
  const aliveCount = new Float64Array(k);
  const { monetaryCents, frequency } = result.columns;
  for (let i = 0; i < result.customerCount; i++) {
    const code = codes[i] as number;
    if (code >= k) continue;
    sizes[code] = (sizes[code] as number) + 1;
    cents[code] = (cents[code] as number) + (monetaryCents[i] as number);
    orders[code] = (orders[code] as number) + (frequency[i] as number);
  }
  const clvColumn = result.columns.clv;
  const aliveColumn = result.columns.probabilityAlive;
  if (clvColumn !== undefined && aliveColumn !== undefined) {
    const counts = aliveCounts(result);
    const { clvLow: lowColumn, clvHigh: highColumn } = result.columns;
    for (let i = 0; i < result.customerCount; i++) {
      const code = codes[i] as number;
      if (code >= k) continue;
      clv[code] = (clv[code] as number) + centsOfAmount(clvColumn[i] as number);
      if (lowColumn !== undefined && highColumn !== undefined) {
        clvLow[code] = (clvLow[code] as number) + centsOfAmount(lowColumn[i] as number);
        clvHigh[code] = (clvHigh[code] as number) + centsOfAmount(highColumn[i] as number);
      }
      if (counts(i)) {
        alive[code] = (alive[code] as number) + (aliveColumn[i] as number);
        aliveCount[code] = (aliveCount[code] as number) + 1;
      }
    }
  }
  return definitions.map((d, s) =>
    summary(
      family,
      d,
      {
        size: sizes[s] as number,
        cents: cents[s] as number,
        orders: orders[s] as number,
        clvCents: clv[s] as number,
        clvLowCents: clvLow[s] as number,
        clvHighCents: clvHigh[s] as number,
        alive: alive[s] as number,
        aliveCount: aliveCount[s] as number,
      },
      result,
    ),
  );
}

/** Summary of one segment whose members are the positions i with members[i] !== 0. */
export function membershipSummary(
  result: ComputedSegmentation,
  family: SegmentFamily,
  definition: SegmentDefinition,
  members: ArrayLike<number>,
): SegmentSummary {
  const totals: SegmentTotals = {
    size: 0,
    cents: 0,
    orders: 0,
    clvCents: 0,
    clvLowCents: 0,
    clvHighCents: 0,
    alive: 0,
    aliveCount: 0,
  };
  const { monetaryCents, frequency, clv, clvLow, clvHigh, probabilityAlive } = result.columns;
  const counts = aliveCounts(result);
  for (let i = 0; i < result.customerCount; i++) {
    if (members[i] === 0) continue;
    totals.size++;
    totals.cents += monetaryCents[i] as number;
    totals.orders += frequency[i] as number;
    if (clv !== undefined) totals.clvCents += centsOfAmount(clv[i] as number);
    if (clvLow !== undefined && clvHigh !== undefined) {
      totals.clvLowCents += centsOfAmount(clvLow[i] as number);
      totals.clvHighCents += centsOfAmount(clvHigh[i] as number);
    }
    if (probabilityAlive !== undefined && counts(i)) {
      totals.alive += probabilityAlive[i] as number;
      totals.aliveCount++;
    }
  }
  return summary(family, definition, totals, result);
}

// ---- the computation ---------------------------------------------------------------------------------------

/** The family of a segmentation where every customer is in exactly one segment. */
function exclusiveFamily(
  result: ComputedSegmentation,
  family: SegmentFamily,
  definitions: readonly SegmentDefinition[],
  codes: ArrayLike<number>,
): FamilyResult {
  const ids = definitions.map((d) => d.id);
  return {
    family,
    summaries: exclusiveSummaries(result, family, definitions, codes),
    segmentsOf: (i, out) => {
      const id = ids[codes[i] as number];
      if (id !== undefined) out.push(id);
    },
  };
}

function checkAttributeTypes(
  declared: Readonly<Record<string, AttributeType>> | undefined,
): Readonly<Record<string, AttributeType>> {
  if (declared === undefined) return {};
  if (typeof declared !== "object" || declared === null || Array.isArray(declared)) {
    throw new ComputeError(
      "BAD_ATTRIBUTE_TYPE",
      "attributeTypes must map attribute names to types",
      "attributeTypes",
    );
  }
  for (const [name, type] of Object.entries(declared)) {
    if (!(ATTRIBUTE_TYPES as readonly unknown[]).includes(type)) {
      throw new ComputeError(
        "BAD_ATTRIBUTE_TYPE",
        `an attribute type is one of ${ATTRIBUTE_TYPES.join(", ")}`,
        `attributeTypes.${name}`,
      );
    }
  }
  return declared;
}

function parseAsOf(asOf: unknown): number {
  const day = typeof asOf === "string" && /^\d{4}-\d{2}-\d{2}$/.test(asOf) ? parseDay(asOf) : undefined;
  if (day === undefined)
    throw new ComputeError("BAD_AS_OF", "asOf must be a calendar date yyyy-mm-dd", "asOf");
  return day;
}

/** Milliseconds since `start`, to a tenth. */
function since(start: number): number {
  return Math.round((performance.now() - start) * 10) / 10;
}

/**
 * Scores every customer with an order, and computes the RFM, lifecycle, cluster and rule families with the
 * value predictions. Throws ComputeError for a bad setting; see the module header for the rest.
 */
export function computeSegments(
  state: AggregateState,
  settings: ComputeSettings,
  options: ComputeOptions = {},
): ComputedSegmentation {
  const resolved = resolveComputeSettings(settings);
  // The k-means helper threads load while the totals, RFM and lifecycle are computed (kmeans/fit-threads.ts).
  const clusterThreads =
    resolved.clusterOptions === undefined
      ? 1
      : fitThreadsFor(
          resolved.clusterOptions,
          state.customerCount,
          options.valueThread === true && resolved.valueSettings !== undefined,
        );
  if (resolved.clusterOptions !== undefined) prestartFitThreads(clusterThreads);
  const t = performance.now();
  const { asOfDay, valueSettings } = resolved;
  // The value stage's holdout asks for the totals as of its calibration end: one pass over the orders gives
  // them beside the totals as of asOf.
  const calibrationEndDay =
    valueSettings === undefined ? undefined : calibrationEndDayOf(state, asOfDay, valueSettings);
  // With options.releaseOrders, the orders go as soon as the order pass has its totals (and the holdout's),
  // unless the next best category reads them: then after it (segmentsOf).
  const releaseOrders = () => {
    if (options.releaseOrders === true && !(resolved.nextBestCategory !== undefined && readsOrders(state))) {
      state.releaseOrders();
    }
  };
  if (calibrationEndDay === undefined) {
    const totals = customerTotals(state, asOfDay);
    releaseOrders();
    return segmentsOf(state, totals, resolved, since(t), (day) => customerTotals(state, day), options);
  }
  const { totals, earlier } = customerTotalsWithEarlier(state, asOfDay, calibrationEndDay);
  releaseOrders();
  let calibration: HoldoutTotals | undefined = earlier;
  const totalsAsOf = (day: number): HoldoutTotals => {
    // Handed over once, then let go; any other day (or the same day again) is computed as it is asked for.
    // When the orders may go, the columns are kept for a second ask: a value thread that gives no result has the
    // stage run again here, after the orders are gone.
    if (calibration === undefined || day !== calibrationEndDay) return customerTotals(state, day);
    const columns = calibration;
    if (options.releaseOrders !== true) calibration = undefined;
    return columns;
  };
  return segmentsOf(state, totals, resolved, since(t), totalsAsOf, options);
}

/**
 * The threads the clusters are fitted on (kmeans `threads`): the setting, else one per core from
 * FIT_THREADS_MIN_ROWS rows, but one fewer while the value stage has a thread of its own, so that the fits
 * leave that thread a core rather than three threads sharing two, and their helper threads' memory is not
 * added to the value thread's. Any count gives the same clusters (kmeans/fit-threads.ts).
 */
export function fitThreadsFor(clusterOptions: KMeansOptions, rows: number, valueThread: boolean): number {
  if (clusterOptions.threads !== undefined) return clusterOptions.threads;
  const threads = defaultFitThreads(rows);
  return valueThread ? Math.max(1, threads - 1) : threads;
}

/** How computeSegments runs; none of it changes the result. */
export interface ComputeOptions {
  /**
   * Runs the value stage on a thread of its own while the clusters are fitted (value-thread.ts; the calling
   * thread fits its Gamma-Gamma model first and hands it over); the result is the one-thread result. Its own time is then timings.valueThread, and timings.value the calling thread's.
   */
  readonly valueThread?: boolean;
  /**
   * The caller reads no order of the state after this call (neither the state's orders nor the result's
   * customerOrders): the state lets its orders go (AggregateState.releaseOrders) as soon as the computation
   * needs them no more, which lowers its peak memory. That is right after the order pass, before the clusters
   * and the value stage, unless the next best category reads the orders (a state with categories); then
   * after it.
   */
  readonly releaseOrders?: boolean;
}

/** Settings checked and resolved, as computeSegments and segmentsFromTotals use them. */
export interface ResolvedComputeSettings {
  readonly settings: ComputeSettings;
  readonly asOfDay: number;
  readonly windows: LifecycleWindows;
  readonly rfmThresholds: RfmThresholds;
  readonly clusterOptions: KMeansOptions | undefined;
  readonly valueSettings: ResolvedValueSettings | undefined;
  readonly ruleSegments: ReturnType<typeof checkRuleSettings>;
  /** Indexes into ruleSegments, each rule segment after those it names. */
  readonly ruleOrder: readonly number[];
  readonly listSegments: ReturnType<typeof checkListSettings>;
  readonly attributeTypes: Readonly<Record<string, AttributeType>>;
  readonly attributeFamilies: readonly ResolvedAttributeFamily[];
  readonly lookalikes: ReturnType<typeof checkLookalikeSettings>;
  readonly nextBestCategory: ResolvedNextBestCategorySettings | undefined;
}

/** Checks every setting (ComputeError naming the first bad one) before any work starts. */
export function resolveComputeSettings(settings: ComputeSettings): ResolvedComputeSettings {
  const asOfDay = parseAsOf(settings.asOf);
  const rfmThresholds = resolveRfmThresholds(settings.rfm);
  const windows = resolveLifecycleWindows(settings.lifecycle);
  const clusterOptions: KMeansOptions | undefined =
    settings.clusters === false ? undefined : checkClusterSettings(settings.clusters ?? {});
  const valueSettings: ResolvedValueSettings | undefined =
    settings.value === false ? undefined : resolveValueSettings(settings.value ?? {});
  const ruleSegments = checkRuleSettings(settings.rules);
  const ruleOrder = orderRuleSegments(ruleSegments);
  const listSegments = checkListSettings(settings.lists);
  const attributeTypes = checkAttributeTypes(settings.attributeTypes);
  const attributeFamilies = checkAttributeFamilySettings(settings.attributeFamilies);
  const lookalikes = checkLookalikeSettings(settings.lookalikes);
  const nextBestCategory = resolveNextBestCategorySettings(settings.nextBestCategory);
  return {
    settings,
    asOfDay,
    windows,
    rfmThresholds,
    clusterOptions,
    valueSettings,
    ruleSegments,
    ruleOrder,
    listSegments,
    attributeTypes,
    attributeFamilies,
    lookalikes,
    nextBestCategory,
  };
}

/**
 * computeSegments from per-customer totals worked out elsewhere (by shards of customers, say): everything
 * after the order pass. `totals` must be in the order of first appearance computeSegments would give, and
 * `source` must answer for its stateIndex entries. The result equals computeSegments' on the same data.
 */
export function segmentsFromTotals(
  source: SegmentationSource,
  totals: CustomerTotals,
  settings: ComputeSettings | ResolvedComputeSettings,
  /**
   * The purchase-day totals as of an earlier day (the columns of customerTotals that the value stage's
   * holdout reads), for positions in increasing order; without it, the value stage has no holdout.
   */
  totalsAsOf?: HoldoutContext["totalsAsOf"],
  /** computeSegments' options (the value stage on a thread of its own). */
  options: ComputeOptions = {},
): ComputedSegmentation {
  const resolved = "windows" in settings ? settings : resolveComputeSettings(settings);
  return segmentsOf(source, totals, resolved, 0, totalsAsOf, options);
}

function segmentsOf(
  source: SegmentationSource,
  totals: CustomerTotals,
  resolved: ResolvedComputeSettings,
  totalsMs: number,
  /** Totals as of an earlier day, for the value stage's holdout; absent when the orders are not at hand. */
  totalsAsOf?: HoldoutContext["totalsAsOf"],
  options: ComputeOptions = {},
): ComputedSegmentation {
  const {
    settings,
    asOfDay,
    windows,
    rfmThresholds,
    clusterOptions,
    valueSettings,
    ruleSegments,
    ruleOrder,
    listSegments,
    attributeTypes,
  } = resolved;
  const timings: Record<string, number> = { rfm: 0, lifecycle: 0, clusters: 0, value: 0, rules: 0 };
  const issues: ComputeIssue[] = [];

  let t = performance.now();
  const base = scoreColumns(totals, rfmThresholds);
  const stale = staleDataIssue(base.lastPurchaseDay, asOfDay, windows);
  if (stale !== undefined) issues.push(stale);
  const later = totals.ordersAfterAsOf ?? 0;
  if (later > 0) {
    issues.push({
      code: "ORDERS_AFTER_AS_OF",
      stage: "data",
      message: `${later} order${later === 1 ? " is" : "s are"} dated after the evaluation date (${isoDay(asOfDay)}): kept, and counted from the first evaluation on or after ${later === 1 ? "its" : "their"} day`,
    });
  }
  timings.rfm = Math.round((totalsMs + since(t)) * 10) / 10;

  const valueContext = (): HoldoutContext => ({
    asOfDay,
    columns: base,
    ...(totalsAsOf === undefined ? {} : { totalsAsOf }),
  });
  t = performance.now();
  // The thread's inputs are made for it alone: their buffer moves to it rather than being copied. This thread
  // fits Gamma-Gamma (x and m_x only) on copies, while the thread validates and fits the repeat model.
  const threadInputs =
    valueSettings !== undefined && options.valueThread === true
      ? valueInputs(base, base.purchaseDays, asOfDay)
      : undefined;
  const orderValues = threadInputs && { x: threadInputs.x.slice(), mx: threadInputs.mx.slice() };
  const valueThread =
    threadInputs === undefined || valueSettings === undefined
      ? undefined
      : ValueThread.start(threadInputs, valueSettings, valueContext(), undefined, {
          data: "take",
          gammaGamma: true,
        });
  if (valueThread !== undefined && orderValues !== undefined) {
    valueThread.fitGammaGamma(orderValues.x, orderValues.mx);
  }
  const valueStartMs = since(t);
  const state = source instanceof AggregateState ? source : undefined;

  t = performance.now();
  const lifecycle = lifecycleStages(base, asOfDay, windows);
  timings.lifecycle = since(t);

  t = performance.now();
  let clusters: ClusterModel | undefined;
  let clusterColumn: Uint16Array | undefined;
  let clusterSegments: SegmentDefinition[] = [];
  if (clusterOptions !== undefined) {
    const threads = fitThreadsFor(clusterOptions, base.stateIndex.length, valueThread !== undefined);
    const stage = clusterStage(base, clusterOptions, threads);
    if (stage.ok) {
      clusters = stage.result.model;
      clusterColumn = stage.result.assignment;
      clusterSegments = clusterDefinitions(clusters);
    } else {
      issues.push(stage.issue);
    }
  }
  timings.clusters = since(t);

  // The next best category reads neither the clusters nor the value stage: it runs here, while the value
  // stage's thread (if any) works, and its outcome is set on the result when that is built.
  let nextBestCategory: NextBestCategoryOutcome | undefined;
  let orders: CustomerOrders | undefined;
  if (resolved.nextBestCategory !== undefined) {
    t = performance.now();
    const inputs: NextBestCategoryInputs = {
      source,
      asOfDay,
      stateIndex: base.stateIndex,
      segmentOf: resolved.nextBestCategory.family === "rfm" ? base.rfmSegment : lifecycle,
      orders: () => {
        if (state === undefined) throw new Error("A result merged from shards holds no orders");
        orders ??= groupOrders(state, asOfDay, positionsOf(state.customerCount, base.stateIndex));
        return orders;
      },
    };
    nextBestCategory = nextBestCategoryStage(inputs, resolved, resolved.nextBestCategory);
    timings.nextBestCategory = since(t);
    if (options.releaseOrders === true) state?.releaseOrders();
  }

  t = performance.now();
  let value: ValueModelSummary | undefined;
  let predictions: Predictions | undefined;
  let servedValue: ServedValueModel | undefined;
  if (valueSettings !== undefined) {
    const joined = valueThread?.join();
    if (joined !== undefined) timings.valueThread = Math.round(joined.ms * 10) / 10;
    const stage =
      joined?.stage ??
      valueStage(valueInputs(base, base.purchaseDays, asOfDay), valueSettings, valueContext());
    issues.push(...stage.issues);
    if (stage.ok) {
      value = stage.summary;
      predictions = stage.predictions;
      servedValue = stage.served;
    }
  }
  timings.value = Math.round((valueStartMs + since(t)) * 10) / 10;

  const columns: CustomerColumns = {
    ...base,
    lifecycle,
    ...(clusterColumn === undefined ? {} : { cluster: clusterColumn }),
    ...(predictions === undefined
      ? {}
      : {
          probabilityAlive: predictions.probabilityAlive,
          expectedPurchases: predictions.expectedPurchases,
          clv: predictions.clv,
          ...(predictions.intervals === undefined ? {} : predictions.intervals),
        }),
  };
  const result = new ComputedSegmentation(source, settings.asOf, asOfDay, columns, {
    ...(clusters === undefined ? {} : { clusters, clusterNames: clusterSegments.map((d) => d.name) }),
    ...(value === undefined ? {} : { value }),
    ...(servedValue === undefined ? {} : { servedValue }),
    issues,
    timings,
    lifecycleWindows: windows,
    ...(orders === undefined ? {} : { orders }),
  });

  t = performance.now();
  result.addFamily(exclusiveFamily(result, "rfm", RFM_SEGMENTS, columns.rfmSegment));
  timings.rfm += since(t);
  if (clusterColumn !== undefined) {
    t = performance.now();
    result.addFamily(exclusiveFamily(result, "cluster", clusterSegments, clusterColumn));
    timings.clusters += since(t);
  }
  t = performance.now();
  result.addFamily(exclusiveFamily(result, "lifecycle", lifecycleDefinitions(windows), lifecycle));
  timings.lifecycle += since(t);

  t = performance.now();
  const traits = new ResultTraits(result, attributeTypes);
  result.traits = traits;
  if (resolved.attributeFamilies.length > 0) {
    // After lifecycle and before lists and rules, so that rules may name attribute segments.
    for (const family of attributeFamilies(result, traits, resolved.attributeFamilies, issues)) {
      const ids = family.segments.map((s) => s.id);
      traits.addExclusiveFamily(ids, family.codes);
      const summaries = exclusiveSummaries(result, "attr", family.segments, family.codes);
      family.segments.forEach((s, k) => {
        (summaries[k] as SegmentSummary).attribute = s.attribute;
      });
      result.addFamily({
        family: "attr",
        summaries,
        segmentsOf: (i, out) => {
          out.push(ids[family.codes[i] as number] as string);
        },
      });
    }
    timings.attributes = since(t);
    t = performance.now();
  }
  if (listSegments.length > 0) {
    const members: Uint8Array[] = [];
    const summaries: SegmentSummary[] = [];
    for (const { definition, customerIds } of listSegments) {
      const list = listMembership(result, customerIds);
      if (list.unknownIds > 0) {
        issues.push({
          code: "LIST_UNKNOWN_IDS",
          message: `${list.unknownIds} id${list.unknownIds === 1 ? " on the list is not a customer" : "s on the list are not customers"} of this version (kept on the list, counted, no member)`,
          stage: "lists",
          segment: definition.id,
        });
      }
      members.push(list.members);
      traits.addMembership(definition.id, list.members);
      summaries.push({
        ...membershipSummary(result, "list", definition, list.members),
        unknownIds: list.unknownIds,
      });
    }
    const ids = listSegments.map((s) => s.definition.id);
    result.addFamily({
      family: "list",
      summaries,
      segmentsOf: (i, out) => {
        for (let s = 0; s < members.length; s++)
          if ((members[s] as Uint8Array)[i] === 1) out.push(ids[s] as string);
      },
    });
  }
  timings.lists = since(t);

  t = performance.now();
  if (ruleSegments.length > 0) {
    const members: Uint8Array[] = new Array(ruleSegments.length);
    const summaries: SegmentSummary[] = new Array(ruleSegments.length);
    // Each rule segment after those it names, so their members are known when it is compiled.
    for (const index of ruleOrder) {
      const { definition, rule } = ruleSegments[index] as (typeof ruleSegments)[number];
      const compiled = compileRule(rule, traits, { asOf: asOfDay });
      for (const warning of compiled.warnings) {
        issues.push({
          code: `RULE_${warning.code.toUpperCase()}`,
          message: warning.message,
          stage: "rules",
          segment: definition.id,
          path: warning.path,
        });
      }
      const bits = compiled.evaluate();
      members[index] = bits;
      traits.addMembership(definition.id, bits);
      summaries[index] = membershipSummary(result, "rule", definition, bits);
    }
    const ids = ruleSegments.map((s) => s.definition.id);
    result.addFamily({
      family: "rule",
      summaries,
      segmentsOf: (i, out) => {
        for (let s = 0; s < members.length; s++)
          if ((members[s] as Uint8Array)[i] === 1) out.push(ids[s] as string);
      },
    });
  }
  timings.rules = since(t);

  if (resolved.lookalikes.length > 0) {
    t = performance.now();
    // After the rules: a seed may be any segment but a lookalike, and no rule may name a lookalike.
    const lookalikes = lookalikeSegments(result, traits, resolved.lookalikes, issues);
    const summaries = lookalikes.map(({ settings: l, members, report }) => {
      traits.addMembership(l.id, members);
      return {
        ...membershipSummary(
          result,
          "lookalike",
          { id: l.id, name: l.name, description: l.description ?? `Customers most like ${l.seed}` },
          members,
        ),
        lookalike: report,
      };
    });
    result.addFamily({
      family: "lookalike",
      summaries,
      segmentsOf: (i, out) => {
        for (const { settings: l, members } of lookalikes) if (members[i] === 1) out.push(l.id);
      },
    });
    timings.lookalikes = since(t);
  }

  if (nextBestCategory !== undefined) {
    const { recommendations } = nextBestCategory;
    if (recommendations !== undefined)
      result.setNextBestCategories(recommendations.codes, recommendations.names);
    result.nextBestCategory = nextBestCategory.report;
  }
  return result;
}

/**
 * The segments of an exclusive family as a computation as of `day` would give them, from the orders up to that
 * day alone; undefined when no customer has an order by then.
 */
export function calibrationSegmentsOf(
  state: AggregateState,
  resolved: ResolvedComputeSettings,
  family: "rfm" | "lifecycle",
  day: number,
): CalibrationSegments | undefined {
  const totals = customerTotals(state, day);
  if (totals.stateIndex.length === 0) return undefined;
  const base = scoreColumns(totals, resolved.rfmThresholds);
  return {
    stateIndex: totals.stateIndex,
    segmentOf: family === "rfm" ? base.rfmSegment : lifecycleStages(base, day, resolved.windows),
    segmentCount: family === "rfm" ? RFM_SEGMENTS.length : LIFECYCLE_STAGES.length,
  };
}

/** What the next best category stage gives a result: its report, and the recommendations when made. */
interface NextBestCategoryOutcome {
  readonly report: NbcReport;
  readonly recommendations?: { readonly codes: Uint32Array; readonly names: readonly string[] };
}

/** What the next best category stage reads: nothing of the clusters or the value stage. */
interface NextBestCategoryInputs {
  readonly source: SegmentationSource;
  readonly asOfDay: number;
  readonly stateIndex: Uint32Array;
  /** Each position's segment in the settings' family (RFM segment or lifecycle stage). */
  readonly segmentOf: ArrayLike<number>;
  /** The orders of each position, as ComputedSegmentation.customerOrders() gives them. */
  readonly orders: () => CustomerOrders;
}

/** Whether the next best category stage reads the state's orders: only when some order carries a category. */
function readsOrders(state: AggregateState | undefined): boolean {
  return state !== undefined && state.categories.size > 0;
}

/**
 * Next best category (next-best-category.ts): each customer's recommendation from the spend of the whole
 * computation, and the hit rate of the recommendations made from the orders before the holdout window. A
 * result merged from shards holds no orders: its recommendations come from the merged spend, unevaluated.
 */
function nextBestCategoryStage(
  inputs: NextBestCategoryInputs,
  resolved: ResolvedComputeSettings,
  settings: ResolvedNextBestCategorySettings,
): NextBestCategoryOutcome {
  const { family } = settings;
  // Like the value models' validationSkipped: the report says why, and the run has nothing to fix.
  const skip = (
    code: "NBC_NO_CATEGORIES" | "NBC_NO_ORDERS" | "NBC_TOO_LITTLE_HISTORY",
    message: string,
  ): NbcReport => ({ family, skipped: { code, message } });
  const { source, asOfDay, segmentOf } = inputs;
  const state = source instanceof AggregateState ? source : undefined;
  const noCategories = () =>
    skip("NBC_NO_CATEGORIES", "no customer has net spend in any category: the orders carry no category");
  // Orders without a category anywhere buy no category: the spend would only say so after a pass over them.
  if (state !== undefined && !readsOrders(state)) return { report: noCategories() };
  // One pass over the orders gives the spend in all (the recommendations) and either side of the calibration end.
  const split =
    state !== undefined
      ? splitCategorySpend(state, inputs.orders(), asOfDay - settings.holdoutDays)
      : undefined;
  const spend = split !== undefined ? split.all : source.spend?.category;
  if (spend === undefined) {
    return {
      report: skip(
        "NBC_NO_ORDERS",
        "a computation merged from shards without each customer's spend per category",
      ),
    };
  }
  if (!anyCategoryBought(spend)) return { report: noCategories() };
  const names = categoryNames(source.categories);
  const segmentCount = family === "rfm" ? RFM_SEGMENTS.length : LIFECYCLE_STAGES.length;
  const ranking = rankCategories(segmentOf, segmentCount, spend, names, settings.k);
  const recommendations = { codes: recommendCategories(ranking, segmentOf, spend, names.length), names };
  if (state === undefined) {
    return {
      report: skip(
        "NBC_NO_ORDERS",
        "a computation merged from shards holds no orders to hold out: recommendations made, hit rate not measured",
      ),
      recommendations,
    };
  }
  const report = evaluateNextBestCategory(
    state,
    asOfDay,
    settings,
    { stateIndex: inputs.stateIndex, spend: split as SplitSpend },
    (day) => calibrationSegmentsOf(state, resolved, family, day),
  );
  return {
    report: "skipped" in report ? skip(report.skipped.code, report.skipped.message) : report,
    recommendations,
  };
}
