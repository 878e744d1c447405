/**
 * Computation of segments from an AggregateState: per-customer values in columns (typed arrays indexed by
 * result position), the RFM family (see rfm.ts for the rules), and the economics of every segment.
 *
 * The result is built of families: each contributes segment summaries and the segment ids of each customer,
 * so further families (clusters, lifecycle, rules) are added with addFamily without touching RFM. Other
 * engine modules read the columns directly; nothing here creates an object per customer until customer(i)
 * is asked for one.
 */
import { isoDay, parseDay } from "./days";
import { ComputeError } from "./errors";
import {
  quintileScores,
  RFM_SEGMENTS,
  reverseQuintileScores,
  rfmSegmentCode,
  type SegmentDefinition,
} from "./rfm";
import { type AggregateState, BIG_CENTS, ORDER_BLOCK_SIZE, type OrderBlock } from "./state";
import type {
  ComputeSettings,
  CustomerScores,
  SegmentationResult,
  SegmentFamily,
  SegmentSummary,
} from "./types";

/** Per-customer values; entry i belongs to result position i (a customer with at least one order). */
export interface CustomerColumns {
  /** The customer's index in the state. */
  readonly stateIndex: Uint32Array;
  readonly recencyDays: Int32Array;
  /** Orders that are not returns. */
  readonly frequency: Uint32Array;
  /** Returns (orders with a negative net amount). */
  readonly returns: Uint32Array;
  /** Net amount of all orders, returns included, in cents. */
  readonly monetaryCents: Float64Array;
  /** monetaryCents / 100. */
  readonly monetary: Float64Array;
  readonly firstPurchaseDay: Int32Array;
  readonly lastPurchaseDay: Int32Array;
  readonly r: Uint8Array;
  readonly f: Uint8Array;
  readonly m: Uint8Array;
  /** Index into RFM_SEGMENTS. */
  readonly rfmSegment: Uint8Array;
}

/** Orders of each scored customer (orders on or before asOf, returns included), grouped by position. */
export interface CustomerOrders {
  /** Orders of position i are orders[offsets[i]] .. orders[offsets[i + 1] - 1], in state order. */
  readonly offsets: Uint32Array;
  /** State order indices. */
  readonly orders: Uint32Array;
}

/** One family's part of a result. */
export interface FamilyResult {
  readonly family: SegmentFamily;
  readonly summaries: readonly SegmentSummary[];
  /** Appends the ids of the family's segments that position i belongs to. */
  segmentsOf(i: number, out: string[]): void;
}

export class ComputedSegmentation implements SegmentationResult {
  readonly asOf: string;
  readonly asOfDay: number;
  readonly customerCount: number;
  readonly columns: CustomerColumns;
  /** Net revenue of all scored customers, in cents. */
  readonly totalCents: number;
  /** Orders (not returns) of all scored customers. */
  readonly totalOrders: number;
  private readonly families: FamilyResult[] = [];
  private ordersCache: CustomerOrders | undefined;
  private purchaseDaysCache: Uint32Array | undefined;

  constructor(
    readonly state: AggregateState,
    asOf: string,
    asOfDay: number,
    columns: CustomerColumns,
  ) {
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
  }

  get segments(): SegmentSummary[] {
    return this.families.flatMap((family) => family.summaries);
  }

  addFamily(family: FamilyResult): void {
    this.families.push(family);
  }

  customerId(i: number): string {
    return this.state.customerId(this.columns.stateIndex[this.position(i)] as number);
  }

  customer(i: number): CustomerScores {
    const c = this.columns;
    const p = this.position(i);
    const r = c.r[p] as number;
    const f = c.f[p] as number;
    const m = c.m[p] as number;
    const segments: string[] = [];
    for (const family of this.families) family.segmentsOf(p, segments);
    return {
      customerId: this.state.customerId(c.stateIndex[p] as number),
      firstPurchase: isoDay(c.firstPurchaseDay[p] as number),
      lastPurchase: isoDay(c.lastPurchaseDay[p] as number),
      recencyDays: c.recencyDays[p] as number,
      frequency: c.frequency[p] as number,
      monetary: (c.monetaryCents[p] as number) / 100,
      r,
      f,
      m,
      rfm: `${r}${f}${m}`,
      segments,
    };
  }

  /** The orders of each position (built on first use). */
  customerOrders(): CustomerOrders {
    if (this.ordersCache === undefined) this.ordersCache = groupOrders(this);
    return this.ordersCache;
  }

  /** Distinct days with an order (not a return) per position (built on first use). */
  purchaseDays(): Uint32Array {
    if (this.purchaseDaysCache === undefined) {
      const { offsets, orders } = this.customerOrders();
      const out = new Uint32Array(this.customerCount);
      let days = new Int32Array(64);
      for (let i = 0; i < this.customerCount; i++) {
        const from = offsets[i] as number;
        const to = offsets[i + 1] as number;
        if (days.length < to - from) days = new Int32Array((to - from) * 2);
        let n = 0;
        for (let k = from; k < to; k++) {
          const order = orders[k] as number;
          if (this.state.orderCents(order) >= 0) days[n++] = this.state.orderDay(order);
        }
        const sorted = days.subarray(0, n).sort();
        let distinct = n > 0 ? 1 : 0;
        for (let k = 1; k < n; k++) if (sorted[k] !== sorted[k - 1]) distinct++;
        out[i] = distinct;
      }
      this.purchaseDaysCache = out;
    }
    return this.purchaseDaysCache;
  }

  private position(i: number): number {
    if (!(Number.isInteger(i) && i >= 0 && i < this.customerCount)) {
      throw new RangeError(`No customer at position ${i} (0..${this.customerCount - 1})`);
    }
    return i;
  }
}

function groupOrders(result: ComputedSegmentation): CustomerOrders {
  const { state, asOfDay, customerCount } = result;
  const positionOf = new Int32Array(state.customerCount).fill(-1);
  for (let i = 0; i < customerCount; i++) positionOf[result.columns.stateIndex[i] as number] = i;
  const offsets = new Uint32Array(customerCount + 1);
  forEachOrder(state, asOfDay, (customer) => {
    const p = positionOf[customer] as number;
    if (p >= 0) offsets[p + 1] = (offsets[p + 1] as number) + 1;
  });
  for (let i = 0; i < customerCount; i++)
    offsets[i + 1] = (offsets[i + 1] as number) + (offsets[i] as number);
  const next = offsets.slice(0, customerCount);
  const orders = new Uint32Array(offsets[customerCount] as number);
  forEachOrder(state, asOfDay, (customer, _day, _cents, order) => {
    const p = positionOf[customer] as number;
    if (p >= 0) {
      orders[next[p] as number] = order;
      next[p] = (next[p] as number) + 1;
    }
  });
  return { offsets, orders };
}

/** Calls fn for every order dated on or before asOfDay, in state order. */
function forEachOrder(
  state: AggregateState,
  asOfDay: number,
  fn: (customer: number, day: number, cents: number, order: number) => void,
): void {
  const total = state.orderCount;
  for (let b = 0; b * ORDER_BLOCK_SIZE < total; b++) {
    const block = state.orderBlocks[b] as OrderBlock;
    const length = Math.min(ORDER_BLOCK_SIZE, total - b * ORDER_BLOCK_SIZE);
    const base = b * ORDER_BLOCK_SIZE;
    const { customer, day, cents } = block;
    for (let k = 0; k < length; k++) {
      const d = day[k] as number;
      if (d > asOfDay) continue;
      let c = cents[k] as number;
      if (c === BIG_CENTS) c = state.bigCents.get(base + k) as number;
      fn(customer[k] as number, d, c, base + k);
    }
  }
}

/** Per-customer RFM values and scores of every customer with at least one order on or before asOfDay. */
export function customerColumns(state: AggregateState, asOfDay: number): CustomerColumns {
  const n = state.customerCount;
  const orders = new Uint32Array(n);
  const returns = new Uint32Array(n);
  const net = new Float64Array(n);
  const first = new Int32Array(n).fill(2147483647);
  const last = new Int32Array(n).fill(-2147483648);
  const total = state.orderCount;
  for (let b = 0; b * ORDER_BLOCK_SIZE < total; b++) {
    const block = state.orderBlocks[b] as OrderBlock;
    const length = Math.min(ORDER_BLOCK_SIZE, total - b * ORDER_BLOCK_SIZE);
    const { customer, day, cents } = block;
    for (let k = 0; k < length; k++) {
      const d = day[k] as number;
      if (d > asOfDay) continue;
      const c = customer[k] as number;
      let amount = cents[k] as number;
      if (amount === BIG_CENTS) amount = state.bigCents.get(b * ORDER_BLOCK_SIZE + k) as number;
      net[c] = (net[c] as number) + amount;
      if (amount < 0) {
        returns[c] = (returns[c] as number) + 1;
      } else {
        orders[c] = (orders[c] as number) + 1;
        if (d < (first[c] as number)) first[c] = d;
        if (d > (last[c] as number)) last[c] = d;
      }
    }
  }
  let count = 0;
  for (let c = 0; c < n; c++) if ((orders[c] as number) > 0) count++;
  const stateIndex = new Uint32Array(count);
  const recencyDays = new Int32Array(count);
  const frequency = new Uint32Array(count);
  const returnCount = new Uint32Array(count);
  const monetaryCents = new Float64Array(count);
  const monetary = new Float64Array(count);
  const firstPurchaseDay = new Int32Array(count);
  const lastPurchaseDay = new Int32Array(count);
  let p = 0;
  for (let c = 0; c < n; c++) {
    if ((orders[c] as number) === 0) continue;
    stateIndex[p] = c;
    recencyDays[p] = asOfDay - (last[c] as number);
    frequency[p] = orders[c] as number;
    returnCount[p] = returns[c] as number;
    monetaryCents[p] = net[c] as number;
    monetary[p] = (net[c] as number) / 100;
    firstPurchaseDay[p] = first[c] as number;
    lastPurchaseDay[p] = last[c] as number;
    p++;
  }
  const r = reverseQuintileScores(recencyDays);
  const f = quintileScores(frequency);
  const m = quintileScores(monetaryCents);
  const rfmSegment = new Uint8Array(count);
  for (let i = 0; i < count; i++)
    rfmSegment[i] = rfmSegmentCode(r[i] as number, f[i] as number, m[i] as number);
  return {
    stateIndex,
    recencyDays,
    frequency,
    returns: returnCount,
    monetaryCents,
    monetary,
    firstPurchaseDay,
    lastPurchaseDay,
    r,
    f,
    m,
    rfmSegment,
  };
}

function summary(
  family: SegmentFamily,
  definition: SegmentDefinition,
  size: number,
  cents: number,
  orders: number,
  result: ComputedSegmentation,
): SegmentSummary {
  return {
    id: definition.id,
    family,
    name: definition.name,
    description: definition.description,
    size,
    share: result.customerCount === 0 ? 0 : size / result.customerCount,
    revenue: cents / 100,
    revenueShare: result.totalCents === 0 ? 0 : cents / result.totalCents,
    averageOrderValue: orders === 0 ? 0 : cents / 100 / orders,
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
  const { monetaryCents, frequency } = result.columns;
  for (let i = 0; i < result.customerCount; i++) {
    const code = codes[i] as number;
    if (code >= k) continue;
    sizes[code] = (sizes[code] as number) + 1;
    cents[code] = (cents[code] as number) + (monetaryCents[i] as number);
    orders[code] = (orders[code] as number) + (frequency[i] as number);
  }
  return definitions.map((d, s) =>
    summary(family, d, sizes[s] as number, cents[s] as number, orders[s] as number, result),
  );
}

/** Summary of one segment whose members are the positions i with members[i] !== 0. */
export function membershipSummary(
  result: ComputedSegmentation,
  family: SegmentFamily,
  definition: SegmentDefinition,
  members: ArrayLike<number>,
): SegmentSummary {
  let size = 0;
  let cents = 0;
  let orders = 0;
  const { monetaryCents, frequency } = result.columns;
  for (let i = 0; i < result.customerCount; i++) {
    if (members[i] === 0) continue;
    size++;
    cents += monetaryCents[i] as number;
    orders += frequency[i] as number;
  }
  return summary(family, definition, size, cents, orders, result);
}

/** Scores every customer with an order and assigns the RFM segments. Throws ComputeError for a bad asOf. */
export function computeSegments(state: AggregateState, settings: ComputeSettings): ComputedSegmentation {
  const asOfDay = /^\d{4}-\d{2}-\d{2}$/.test(settings.asOf) ? parseDay(settings.asOf) : undefined;
  if (asOfDay === undefined) {
    throw new ComputeError("BAD_AS_OF", "asOf must be a calendar date yyyy-mm-dd");
  }
  const result = new ComputedSegmentation(state, settings.asOf, asOfDay, customerColumns(state, asOfDay));
  const codes = result.columns.rfmSegment;
  const ids = RFM_SEGMENTS.map((d) => [d.id]);
  result.addFamily({
    family: "rfm",
    summaries: exclusiveSummaries(result, "rfm", RFM_SEGMENTS, codes),
    segmentsOf: (i, out) => {
      out.push(...(ids[codes[i] as number] as string[]));
    },
  });
  return result;
}
