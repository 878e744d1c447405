/**
 * Passes over the orders of a state for the computation: every order up to asOf in state order, the orders
 * grouped by scored customer, and each scored customer's number of distinct purchase days. All work on typed
 * arrays; `positions` maps a state customer index to its result position (-1 for customers not scored).
 */
import { type AggregateState, BIG_CENTS, ORDER_BLOCK_SIZE, type OrderBlock } from "./state";

/** Orders of each scored customer (orders on or before asOf, returns included), grouped by position. */
export interface CustomerOrders {
  /** Orders of position i are orders[offsets[i]] .. orders[offsets[i + 1] - 1], in state order. */
  readonly offsets: Uint32Array;
  /** State order indices. */
  readonly orders: Uint32Array;
}

/** Result position of every state customer, -1 for those without one. */
export function positionsOf(customerCount: number, stateIndex: Uint32Array): Int32Array {
  const positions = new Int32Array(customerCount).fill(-1);
  for (let i = 0; i < stateIndex.length; i++) positions[stateIndex[i] as number] = i;
  return positions;
}

/** Calls fn for every order dated on or before asOfDay, in state order. */
export function forEachOrder(
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

/**
 * Net spend of each position in each value of a dimension, customer-major (`net[p * width + code]`, code 0 the
 * orders without a value), in integer cents, from one pass over the orders dated on or before asOfDay. `seen`,
 * when given, marks each (position, code) that has at least one such order.
 */
export function netSpendByValue(
  state: AggregateState,
  asOfDay: number,
  positions: Int32Array,
  count: number,
  dimension: "channel" | "category",
  width: number,
  seen?: Uint8Array,
): Float64Array {
  const net = new Float64Array(count * width);
  const total = state.orderCount;
  for (let b = 0; b * ORDER_BLOCK_SIZE < total; b++) {
    const block = state.orderBlocks[b] as OrderBlock;
    const codes = dimension === "channel" ? block.channel : block.category;
    const { customer, day, cents } = block;
    const length = Math.min(ORDER_BLOCK_SIZE, total - b * ORDER_BLOCK_SIZE);
    for (let k = 0; k < length; k++) {
      if ((day[k] as number) > asOfDay) continue;
      const p = positions[customer[k] as number] as number;
      if (p < 0) continue;
      let c = cents[k] as number;
      if (c === BIG_CENTS) c = state.bigCents.get(b * ORDER_BLOCK_SIZE + k) as number;
      const at = p * width + (codes === null ? 0 : (codes[k] as number));
      net[at] = (net[at] as number) + c;
      if (seen !== undefined) seen[at] = 1;
    }
  }
  return net;
}

/** The orders of every position, grouped by a counting sort (two passes over the orders). */
export function groupOrders(state: AggregateState, asOfDay: number, positions: Int32Array): CustomerOrders {
  let count = 0;
  for (let p = 0; p < positions.length; p++) if ((positions[p] as number) >= 0) count++;
  const offsets = new Uint32Array(count + 1);
  const total = state.orderCount;
  for (let b = 0; b * ORDER_BLOCK_SIZE < total; b++) {
    const { customer, day } = state.orderBlocks[b] as OrderBlock;
    const length = Math.min(ORDER_BLOCK_SIZE, total - b * ORDER_BLOCK_SIZE);
    for (let k = 0; k < length; k++) {
      if ((day[k] as number) > asOfDay) continue;
      const p = positions[customer[k] as number] as number;
      if (p >= 0) offsets[p + 1] = (offsets[p + 1] as number) + 1;
    }
  }
  for (let i = 0; i < count; i++) offsets[i + 1] = (offsets[i + 1] as number) + (offsets[i] as number);
  const next = offsets.slice(0, count);
  const orders = new Uint32Array(offsets[count] as number);
  for (let b = 0; b * ORDER_BLOCK_SIZE < total; b++) {
    const { customer, day } = state.orderBlocks[b] as OrderBlock;
    const length = Math.min(ORDER_BLOCK_SIZE, total - b * ORDER_BLOCK_SIZE);
    const base = b * ORDER_BLOCK_SIZE;
    for (let k = 0; k < length; k++) {
      if ((day[k] as number) > asOfDay) continue;
      const p = positions[customer[k] as number] as number;
      if (p >= 0) {
        orders[next[p] as number] = base + k;
        next[p] = (next[p] as number) + 1;
      }
    }
  }
  return { offsets, orders };
}

/**
 * The days of every order on or before asOfDay that is not a return, grouped by position with a counting sort
 * straight from the order blocks: position i's days are days[offsets[i] … offsets[i + 1]), in the order of
 * its orders.
 */
export function purchaseDaysByPosition(
  state: AggregateState,
  asOfDay: number,
  positions: Int32Array,
  count: number,
): { offsets: Uint32Array; days: Int32Array } {
  const offsets = new Uint32Array(count + 1);
  const total = state.orderCount;
  const blocks = state.orderBlocks;
  // Big amounts are stored aside; only their sign matters here, and BIG_CENTS itself is negative.
  const isPurchase = (cents: number, order: number) =>
    cents === BIG_CENTS ? (state.bigCents.get(order) as number) >= 0 : cents >= 0;
  for (let b = 0; b * ORDER_BLOCK_SIZE < total; b++) {
    const { customer, day, cents } = blocks[b] as OrderBlock;
    const length = Math.min(ORDER_BLOCK_SIZE, total - b * ORDER_BLOCK_SIZE);
    const base = b * ORDER_BLOCK_SIZE;
    for (let k = 0; k < length; k++) {
      if ((day[k] as number) > asOfDay || !isPurchase(cents[k] as number, base + k)) continue;
      const p = positions[customer[k] as number] as number;
      if (p >= 0) offsets[p + 1] = (offsets[p + 1] as number) + 1;
    }
  }
  for (let i = 0; i < count; i++) offsets[i + 1] = (offsets[i + 1] as number) + (offsets[i] as number);
  const next = offsets.slice(0, count);
  const days = new Int32Array(offsets[count] as number);
  for (let b = 0; b * ORDER_BLOCK_SIZE < total; b++) {
    const { customer, day, cents } = blocks[b] as OrderBlock;
    const length = Math.min(ORDER_BLOCK_SIZE, total - b * ORDER_BLOCK_SIZE);
    const base = b * ORDER_BLOCK_SIZE;
    for (let k = 0; k < length; k++) {
      const d = day[k] as number;
      if (d > asOfDay || !isPurchase(cents[k] as number, base + k)) continue;
      const p = positions[customer[k] as number] as number;
      if (p >= 0) {
        days[next[p] as number] = d;
        next[p] = (next[p] as number) + 1;
      }
    }
  }
  return { offsets, days };
}

/**
 * Distinct days with an order that is not a return, per position: the purchase days grouped by position
 * (purchaseDaysByPosition), then counted group by group.
 */
export function distinctPurchaseDays(
  state: AggregateState,
  asOfDay: number,
  positions: Int32Array,
  count: number,
): Uint32Array {
  const { offsets, days } = purchaseDaysByPosition(state, asOfDay, positions, count);
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    const from = offsets[i] as number;
    const to = offsets[i + 1] as number;
    const m = to - from;
    let distinct = 0;
    if (m <= 16) {
      // Few days: compare each with the earlier ones, cheaper than sorting.
      for (let a = from; a < to; a++) {
        const d = days[a] as number;
        let seen = 0;
        for (let e = from; e < a; e++) seen |= Number(days[e] === d);
        distinct += 1 - seen;
      }
    } else {
      const sorted = days.subarray(from, to).sort();
      distinct = 1;
      for (let k = 1; k < m; k++) if (sorted[k] !== sorted[k - 1]) distinct++;
    }
    out[i] = distinct;
  }
  return out;
}
