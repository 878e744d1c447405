/**
 * Merging the states of consecutive byte ranges into the state a read of the whole file in one thread gives,
 * or saying why it cannot be done exactly (the caller then reads the file in one thread).
 *
 * The ranges are applied in file order. The first range's state is exactly the whole read's state after its
 * lines, so it is the start. Each later range's orders are taken in its order of first lines: an order_id
 * not seen before is appended (customer, channel and category interned as the whole read interns them, when
 * their first order comes), and one seen in an earlier range is that order's further lines (its cents added,
 * the range's new order counted as merged lines). Row numbers move by the lines of the earlier ranges.
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
  ORDER_BLOCK_SIZE,
  type OrderBlock,
} from "../state";
import type { IngestReport, RowError } from "../types";
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
    const state = states[k] as AggregateState;
    if (k > 0) {
      const applier = new OrderApplier(state, merged);
      const refusal = applier.apply({ currencyOrder: range.currencyOrder, release: true, known: 0 });
      if (refusal !== undefined) return refuse(refusal);
      report.ordersAdded -= applier.continued;
      report.orderLinesMerged += applier.continued;
    }
    for (const key of Object.keys(report) as (keyof IngestReport)[]) report[key] += range.report[key];
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
