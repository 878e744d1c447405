/**
 * What a computed result is made of, apart from the computation: its per-customer columns and the source of
 * customer ids, attributes and dimension names. ComputedSegmentation (./compute) holds them, and the modules
 * that read a result without computing one (./traits) take them from here.
 */
import type { ByteSet } from "./byteset";
import type { AttributeColumn } from "./state";

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
  /** The latest purchase day before lastPurchaseDay; NO_DAY when the customer bought on one day only. */
  readonly previousPurchaseDay: Int32Array;
  /** Distinct days with an order that is not a return. */
  readonly purchaseDays: Uint32Array;
  /** Amount of the orders that are not returns, in cents. */
  readonly grossCents: Float64Array;
  /** Amount of the orders on the first purchase day, in cents. */
  readonly firstDayCents: Float64Array;
  readonly r: Uint8Array;
  readonly f: Uint8Array;
  readonly m: Uint8Array;
  /** Index into RFM_SEGMENTS. */
  readonly rfmSegment: Uint8Array;
  /** Index into LIFECYCLE_STAGES. */
  readonly lifecycle: Uint8Array;
  /** Index into the cluster model's ids; absent when clusters were not computed. */
  readonly cluster?: Uint16Array;
  /** Value predictions; absent when the value models were not computed. */
  readonly probabilityAlive?: Float64Array;
  /** Expected purchases over the value horizon. */
  readonly expectedPurchases?: Float64Array;
  readonly clv?: Float64Array;
  /** 80 % intervals of expectedPurchases and clv; absent when the value stage could not compute them. */
  readonly expectedPurchasesLow?: Float64Array;
  readonly expectedPurchasesHigh?: Float64Array;
  readonly clvLow?: Float64Array;
  readonly clvHigh?: Float64Array;
}

/**
 * Net spend of each result position in each value of a dimension (channel or category): the entries of
 * position i are codes[offsets[i]] .. codes[offsets[i + 1] - 1] with their net cents; code c is the source's
 * dimension entry c - 1, code 0 the orders without a value. A position lists each code once at most.
 */
export interface SpendByValue {
  readonly offsets: Uint32Array;
  readonly codes: Uint32Array;
  readonly net: Float64Array;
}

/**
 * What a result needs beyond its columns: customer ids and attributes by stateIndex entry, and the names of
 * channels and categories. An AggregateState is one; a result merged from shards has no orders, so it brings
 * the net spend per channel and category that share traits read instead (absent when not asked for).
 */
export interface SegmentationSource {
  customerId(index: number): string;
  /** An attribute's column; its codes are indexed by stateIndex entries. */
  attribute(name: string): AttributeColumn | undefined;
  /** The names of every attribute column. */
  attributeNames(): readonly string[];
  readonly channels: ByteSet;
  readonly categories: ByteSet;
  readonly spend?: { readonly channel: SpendByValue; readonly category: SpendByValue };
}
