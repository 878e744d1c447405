/**
 * Merging the states of consecutive byte ranges into the state a read of the whole file in one thread gives,
 * or saying why it cannot be done exactly (the caller then reads the file in one thread).
 *
 * The ranges are applied in file order. The first range's state is exactly the whole read's state after its
 * lines, so it is the start. Each later range's orders are taken in its order of first lines: an order_id
 * not seen before is appended (customer, channel and category interned as the whole read interns them, when
 * their first order comes), and one seen in an earlier range is that order's further lines (its cents added,
 * the range's new order counted as merged lines). Row numbers move by the lines of the earlier ranges.
 * Which orders and customers a later range shares with earlier ones is found from the sorted keys each
 * worker returns (keys.ts), by walking them side by side, not by probing tables entry by entry; the rest of
 * a range's orders are copied a run at a time, their customers and dictionary codes remapped.
 *
 * What a range read alone could decide otherwise than the whole read is checked, and the merge refuses
 * rather than guess: a quoted field holding a line break (ranges start at line starts); rows naming more
 * than one currency when the state has none; sums of |amounts| anywhere near the ingest limits; more
 * channel or category values than a state holds; an order whose lines in two ranges name different
 * customers; a dataset currency first set by such a continued order; and, when reading into a state that
 * already holds orders, an order_id it holds (a duplicate, which the whole read skips line by line).
 */
import { ByteSet } from "../byteset";
import { MAX_AMOUNT_CENTS, MAX_CUSTOMER_CENTS } from "../ingest";
import {
  AggregateState,
  BIG_CENTS,
  MAX_DICTIONARY_VALUES,
  ORDER_BLOCK_BITS,
  ORDER_BLOCK_MASK,
  ORDER_BLOCK_SIZE,
  type OrderBlock,
} from "../state";
import type { IngestReport, RowError } from "../types";
import { forEachShared, sortKeys } from "./keys";
import type { RangeResult } from "./protocol";

/** Why a parallel read gave way to a read in one thread. */
export type MergeRefusal =
  | "QUOTED_LINE_BREAK"
  | "CURRENCIES"
  | "LIMITS"
  | "DICTIONARY"
  | "ORDER_CUSTOMER"
  | "CURRENCY_ORDER"
  | "KNOWN_ORDER";

export type MergeOutcome =
  | {
      readonly ok: true;
      readonly state: AggregateState;
      readonly report: IngestReport;
      readonly errors: RowError[];
      /** The dataset's sum of |amounts| as the ingest limits count it (IngestOptions.totals). */
      readonly absoluteCents: number;
    }
  | { readonly ok: false; readonly refusal: MergeRefusal };

/** Codes of row errors whose decision depends on rows of other ranges. */
const ORDER_DEPENDENT = new Set(["CUSTOMER_TOTAL_TOO_LARGE", "DATASET_TOTAL_TOO_LARGE", "TOO_MANY_VALUES"]);

function refuse(refusal: MergeRefusal): MergeOutcome {
  return { ok: false, refusal };
}

/** Dictionary code c of `from` (0 = none) as a code of `to`, interned on first use; map caches it. */
function recode(map: Int32Array, from: ByteSet, to: ByteSet, code: number): number {
  if (code === 0) return 0;
  let mapped = map[code] as number;
  if (mapped === 0) {
    const bytes = from.bytes(code - 1);
    mapped = to.intern(bytes, 0, bytes.length) + 1;
    map[code] = mapped;
  }
  return mapped;
}

function unionSize(sets: readonly ByteSet[]): number {
  const union = new ByteSet();
  for (const set of sets) {
    for (let i = 0; i < set.size; i++) {
      const bytes = set.bytes(i);
      union.intern(bytes, 0, bytes.length);
    }
  }
  return union.size;
}

/** Orders of `from` as a whole, applied to `to` in order; see the module header. */
class OrderApplier {
  private readonly customers: Int32Array;
  private readonly channels: Int32Array;
  private readonly categories: Int32Array;
  /** Orders of `from` that were further lines of an order of `to`. */
  continued = 0;

  constructor(
    private readonly from: AggregateState,
    private readonly to: AggregateState,
  ) {
    this.customers = new Int32Array(from.customerCount).fill(-1);
    this.channels = new Int32Array(from.channels.size + 1);
    this.categories = new Int32Array(from.categories.size + 1);
  }

  private customer(c: number): number {
    let mapped = this.customers[c] as number;
    if (mapped < 0) {
      const bytes = this.from.customers.bytes(c);
      mapped = this.to.customers.intern(bytes, 0, bytes.length);
      this.customers[c] = mapped;
    }
    return mapped;
  }

  /**
   * Applies every order; `check` only looks for orders `to` already holds. Returns a refusal, or undefined.
   * With `release`, each block of `from` is dropped once applied.
   */
  apply(options: { currencyOrder: number; release: boolean; known: number }): MergeRefusal | undefined {
    const { from, to } = this;
    const n = from.orderCount;
    const blocks = from.orderBlocks;
    for (let b = 0; b * ORDER_BLOCK_SIZE < n; b++) {
      const block = blocks[b] as OrderBlock;
      const length = Math.min(ORDER_BLOCK_SIZE, n - b * ORDER_BLOCK_SIZE);
      for (let at = 0; at < length; at += 256) {
        const end = Math.min(length, at + 256);
        to.touchOrders(block.hi.subarray(at, end), end - at);
        for (let k = at; k < end; k++) {
          const order = (b << ORDER_BLOCK_BITS) | k;
          const hi = block.hi[k] as number;
          const lo = block.lo[k] as number;
          const raw = block.cents[k] as number;
          const cents = raw === BIG_CENTS ? (from.bigCents.get(order) as number) : raw;
          const existing = to.lookupOrder(hi, lo);
          if (existing < 0) {
            const channel = block.channel === null ? 0 : (block.channel[k] as number);
            const category = block.category === null ? 0 : (block.category[k] as number);
            to.addOrder(
              hi,
              lo,
              this.customer(block.customer[k] as number),
              block.day[k] as number,
              cents,
              recode(this.channels, from.channels, to.channels, channel),
              recode(this.categories, from.categories, to.categories, category),
            );
            if (order === options.currencyOrder && to.currency === undefined) {
              to.setCurrency(from.currency as string);
            }
            continue;
          }
          if (existing < options.known) return "KNOWN_ORDER";
          const c = block.customer[k] as number;
          const target = to.orderCustomer(existing);
          const mapped = this.customers[c] as number;
          if (mapped >= 0 ? mapped !== target : !this.sameCustomer(c, target)) return "ORDER_CUSTOMER";
          this.customers[c] = target;
          if (order === options.currencyOrder && to.currency === undefined) return "CURRENCY_ORDER";
          to.addOrderCents(existing, cents);
          this.continued++;
        }
      }
      if (options.release) blocks[b] = undefined as unknown as OrderBlock;
    }
    return undefined;
  }

  private sameCustomer(c: number, target: number): boolean {
    const bytes = this.from.customers.bytes(c);
    return this.to.customers.equals(target, bytes, 0, bytes.length);
  }
}

/**
 * Appends the orders of ranges 1.. to the first range's state, as a whole read would have added them after
 * the first range's lines; returns, per range, its orders that were further lines of an earlier range's
 * order, or a refusal. The entries two ranges share are found from the ranges' sorted keys (keys.ts): an
 * order of a later range whose order_id an earlier range holds adds its cents to that order; a customer an
 * earlier range holds keeps that customer's index; the other customers are appended in the range's order
 * of first appearance, which is the whole read's, since a customer is interned with its first new order.
 */
function appendRanges(
  ranges: readonly RangeResult[],
  states: readonly AggregateState[],
): MergeRefusal | number[] {
  const merged = states[0] as AggregateState;
  const continued = ranges.map(() => 0);
  if (ranges.length < 2) return continued;
  const state = (r: number) => states[r] as AggregateState;
  const lo = (r: number, order: number) =>
    (state(r).orderBlocks[order >>> ORDER_BLOCK_BITS] as OrderBlock).lo[order & ORDER_BLOCK_MASK] as number;

  // Orders that are further lines of an earlier range's order (few: orders cut by a range boundary, and
  // repeated lines far apart), per range: [order, owner range, owner order], sorted by order below.
  const further = ranges.map(() => [] as number[]);
  forEachShared(
    ranges.map((r) => r.orderKeys),
    (qa, a, qb, b) => lo(qa, a) === lo(qb, b),
    (r, order, q, owner) => (further[r] as number[]).push(order, q, owner),
  );
  // The first holder of each customer of a later range that an earlier range holds, as the earlier
  // range's first customer number (customerStart) plus its index there; -1: the range's own.
  const customerStart = new Float64Array(ranges.length);
  for (let r = 1; r < ranges.length; r++)
    customerStart[r] = (customerStart[r - 1] as number) + state(r - 1).customerCount;
  const customerOwner = states.map((s, r) =>
    r === 0 ? new Int32Array(0) : new Int32Array(s.customerCount).fill(-1),
  );
  forEachShared(
    ranges.map((r) => r.customerKeys),
    (qa, a, qb, b) => state(qb).customers.equalsEntry(b, state(qa).customers, a),
    (r, customer, q, owner) => {
      (customerOwner[r] as Int32Array)[customer] = (customerStart[q] as number) + owner;
    },
  );

  // Customer index in the merged state of each range's customers (the first range's are their own).
  const customerMaps: Int32Array[] = [];
  const mergedCustomer = (global: number) => {
    let q = 0;
    while (q + 1 < ranges.length && (customerStart[q + 1] as number) <= global) q++;
    const customer = global - (customerStart[q] as number);
    return q === 0 ? customer : ((customerMaps[q] as Int32Array)[customer] as number);
  };
  // Where each range's orders start in the merged state; an order that is not a further line of an earlier
  // one is appended, so its index moves back by the further lines before it.
  const orderBase = new Float64Array(ranges.length);
  const furtherOrders: Uint32Array[] = [];
  const mergedOrder = (range: number, order: number) => {
    if (range === 0) return order;
    const skipped = furtherOrders[range] as Uint32Array;
    let low = 0;
    let high = skipped.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((skipped[mid] as number) < order) low = mid + 1;
      else high = mid;
    }
    return (orderBase[range] as number) + order - low;
  };

  for (let r = 1; r < ranges.length; r++) {
    const from = state(r);
    const currencyOrder = (ranges[r] as RangeResult).currencyOrder;
    const owners = customerOwner[r] as Int32Array;
    const map = new Int32Array(from.customerCount);
    for (let c = 0; c < map.length; c++) {
      const owner = owners[c] as number;
      map[c] = owner >= 0 ? mergedCustomer(owner) : merged.customers.appendEntry(from.customers, c);
    }
    customerMaps[r] = map;

    // The range's further lines in order of their order index.
    const triples = further[r] as number[];
    const count = triples.length / 3;
    const byOrder = sortKeys(Uint32Array.from({ length: count }, (_, j) => triples[3 * j] as number));
    furtherOrders[r] = byOrder.keys;
    orderBase[r] = merged.orderCount;
    const channels = new Int32Array(from.channels.size + 1);
    const categories = new Int32Array(from.categories.size + 1);
    // Each block of the range is dropped once its orders are in the merged state, and its columns, emptied,
    // take the merged state's next orders: the range's blocks were allocated by its worker, and memory freed
    // there would not serve this thread's allocations.
    let released = 0;
    const spare: OrderBlock[] = [];
    const release = (done: number) => {
      for (; (released + 1) * ORDER_BLOCK_SIZE <= done; released++) {
        const emptied = (from.orderBlocks[released] as OrderBlock).emptied();
        if (emptied !== undefined) spare.push(emptied);
        from.orderBlocks[released] = undefined as unknown as OrderBlock;
      }
    };
    const append = (start: number, end: number) => {
      for (let at = start; at < end; ) {
        const stop = Math.min(end, ((at >>> ORDER_BLOCK_BITS) + 1) * ORDER_BLOCK_SIZE);
        merged.appendOrders(from, at, stop, map, channels, categories, spare);
        release(stop);
        at = stop;
      }
      if (currencyOrder >= start && currencyOrder < end && merged.currency === undefined)
        merged.setCurrency(from.currency as string);
    };
    let next = 0;
    for (let j = 0; j < count; j++) {
      const t = 3 * (byOrder.entries[j] as number);
      const order = triples[t] as number;
      append(next, order);
      next = order + 1;
      const owner = mergedOrder(triples[t + 1] as number, triples[t + 2] as number);
      if (map[from.orderCustomer(order)] !== merged.orderCustomer(owner)) return "ORDER_CUSTOMER";
      if (order === currencyOrder && merged.currency === undefined) return "CURRENCY_ORDER";
      merged.addOrderCents(owner, from.orderCents(order));
      (continued[r] as number)++;
      release(next);
    }
    append(next, from.orderCount);
  }
  return continued;
}

/** True when `state` holds nothing: a read into it is a read into a new state. */
export function isEmptyState(state: AggregateState): boolean {
  return (
    state.customerCount === 0 &&
    state.orderCount === 0 &&
    state.currency === undefined &&
    state.channels.size === 0 &&
    state.categories.size === 0 &&
    state.attributeNames().length === 0
  );
}

/**
 * Merges the ranges' results (in range order; the first one's state read with its order_id table kept) into
 * `target` as a whole read into it would leave it. `headerLine` is the plan's (0-based line of the header).
 * With an empty target the merged state is a new object (the first range's); otherwise it is `target`.
 * `target` is not changed when the merge refuses.
 */
export function mergeRanges(
  ranges: readonly RangeResult[],
  target: AggregateState,
  headerLine: number,
): MergeOutcome {
  if (ranges.some((r) => r.quotedLineBreaks > 0)) return refuse("QUOTED_LINE_BREAK");
  if (ranges.some((r) => r.errors.some((e) => ORDER_DEPENDENT.has(e.code)))) return refuse("LIMITS");
  if (target.currency === undefined) {
    const named = new Set(ranges.flatMap((r) => r.currencies));
    if (named.size > 1) return refuse("CURRENCIES");
  }
  let absolute = 0;
  for (let order = 0; order < target.orderCount; order++) absolute += Math.abs(target.orderCents(order));
  for (const r of ranges) absolute += r.absoluteCents;
  if (absolute + MAX_AMOUNT_CENTS > MAX_CUSTOMER_CENTS) return refuse("LIMITS");

  const states = ranges.map((r) => AggregateState.fromParts(r.parts));
  for (const name of ["channels", "categories"] as const) {
    if (unionSize([target[name], ...states.map((s) => s[name])]) > MAX_DICTIONARY_VALUES)
      return refuse("DICTIONARY");
  }

  const merged = states[0] ?? new AggregateState();
  const continued = appendRanges(ranges, states);
  if (typeof continued === "string") return refuse(continued);
  const report: { -readonly [K in keyof IngestReport]: IngestReport[K] } = {
    rowsRead: 0,
    rowsAccepted: 0,
    rowsRejected: 0,
    ordersAdded: 0,
    ordersDuplicate: 0,
    orderLinesMerged: 0,
  };
  const errors: RowError[] = [];
  let linesBefore = 0;
  for (let k = 0; k < ranges.length; k++) {
    const range = ranges[k] as RangeResult;
    for (const key of Object.keys(report) as (keyof IngestReport)[]) report[key] += range.report[key];
    report.ordersAdded -= continued[k] as number;
    report.orderLinesMerged += continued[k] as number;
    const shift = headerLine + linesBefore;
    for (const error of range.errors) errors.push({ ...error, row: error.row + shift });
    linesBefore += range.lines;
  }
  merged.releaseTables();
  if (isEmptyState(target)) return { ok: true, state: merged, report, errors, absoluteCents: absolute };

  // Reading into a state that holds customers or orders already: the file's orders go after them.
  const known = target.orderCount;
  for (let order = 0; order < merged.orderCount; order++) {
    // A probe only: lookups build target's table, which the appending below does not need.
    const block = merged.orderBlocks[order >>> ORDER_BLOCK_BITS] as OrderBlock;
    const k = order & (ORDER_BLOCK_SIZE - 1);
    if (known > 0 && target.lookupOrder(block.hi[k] as number, block.lo[k] as number) >= 0)
      return refuse("KNOWN_ORDER");
  }
  target.reserveOrders(known + merged.orderCount);
  // No order of merged is in target, so every one is appended.
  new OrderApplier(merged, target).apply({ currencyOrder: -1, release: true, known });
  if (target.currency === undefined && merged.currency !== undefined) target.setCurrency(merged.currency);
  target.releaseTables();
  return { ok: true, state: target, report, errors, absoluteCents: absolute };
}
