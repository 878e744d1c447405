/**
 * The traits rule segments read (rules/catalog.ts), served from a computation's columns and its source's
 * customer attributes (shares come from the state's orders, or from a merged result's spend per value). Customers are the result positions 0..customerCount-1.
 *
 * - Numeric traits: recency_days and days_since_last_order (days from the last order to asOf), frequency and
 *   order_count (orders that are not returns), monetary (net spend, returns included), r_score, f_score,
 *   m_score, average_order_value (net spend / orders), and, when the value models were fitted, clv,
 *   probability_alive and expected_purchases. Dates first_purchase and last_purchase as day numbers.
 * - Categorical traits hold the part of the segment id after the family: rfm_segment "champions",
 *   "cant-lose-them" …; lifecycle "new", "active", "cooling", "lapsed", "reactivated"; cluster "c1", "c2" …
 *   (absent when clusters were not computed).
 * - channel_share.<name> and category_share.<name>: the customer's net spend in that channel (category), as a
 *   share of the sum over all channels (orders without one form a group of their own) of the net spend in each,
 *   counting a channel whose returns exceed its purchases as 0. So shares lie in 0..1 and sum to 1 per customer;
 *   NaN (missing) when nothing is left (no positive net spend anywhere). Names not in the data give 0.
 * - attributes.<name>: the customers file's column, typed as declared in the settings or else as inferred
 *   from all its values (rules/attributes.ts); a value that does not parse as its type is missing.
 */
import { LIFECYCLE_STAGES } from "./lifecycle";
import { type CustomerOrders, netSpendByValue, positionsOf } from "./orders";
import { RFM_SEGMENTS } from "./rfm";
import {
  type AttributeType,
  AttributeTypeInference,
  type AttributeValue,
  type CategoricalColumn,
  type CategoricalTrait,
  type DateTrait,
  type NumericColumn,
  type NumericTrait,
  parseAttributeValue,
  type ShareDimension,
  type TraitSource,
} from "./rules";
import type { CustomerColumns, SegmentationSource, SpendByValue } from "./segmentation-source";
import {
  type AggregateState,
  type AttributeColumn,
  BIG_CENTS,
  ORDER_BLOCK_BITS,
  ORDER_BLOCK_MASK,
  ORDER_BLOCK_SIZE,
  type OrderBlock,
} from "./state";

const slug = (id: string) => id.slice(id.indexOf(":") + 1);
const RFM_LABELS = RFM_SEGMENTS.map((d) => slug(d.id));
const LIFECYCLE_LABELS = LIFECYCLE_STAGES.map((d) => slug(d.id));

type Reader = (i: number) => AttributeValue | undefined;

/**
 * The parts of a computed result that traits read: ComputedSegmentation (./compute) is one. Customers are
 * positions 0..customerCount-1 of its columns.
 */
export interface TraitResult {
  readonly customerCount: number;
  readonly asOfDay: number;
  readonly columns: CustomerColumns;
  /** The cluster model's segment ids, code c of columns.cluster being ids[c]; absent without clusters. */
  readonly clusters?: { readonly ids: readonly string[] };
  /** Customer attributes and dimension names, and a merged result's spend per value. */
  readonly source: SegmentationSource;
  /** The state the result was computed from; undefined for a result merged from shards. */
  readonly state: AggregateState | undefined;
  /** The orders of each position (indices into the state's orders), grouped by position. */
  customerOrders(): CustomerOrders;
}

export class ResultTraits implements TraitSource {
  readonly size: number;
  private averageOrderValue: Float64Array | undefined;
  private readonly totals = new Map<ShareDimension, Float64Array>();
  private readonly shares = new Map<string, Float64Array>();
  private readonly types = new Map<string, AttributeType>();
  private readonly readers = new Map<string, Reader>();
  private positions: Int32Array | undefined;
  private readonly dense = new Map<ShareDimension, { net: Float64Array; width: number } | undefined>();

  private readonly maxDenseEntries: number;

  constructor(
    private readonly result: TraitResult,
    private readonly declared: Readonly<Record<string, AttributeType>> = {},
    options: {
      /**
       * Largest customers × values matrix of net spend kept for shares (default 8 Mi entries, 64 MB); a dimension
       * with more values is worked out customer by customer instead, which is slower.
       */
      maxDenseEntries?: number;
    } = {},
  ) {
    this.size = result.customerCount;
    this.maxDenseEntries = options.maxDenseEntries ?? DENSE_LIMIT;
  }

  /** Members of segments computed outside the result's own families (rule and list segments), by id. */
  private readonly segmentMembers = new Map<string, Uint8Array>();

  /** Makes a rule or list segment's members known to membership conditions evaluated later. */
  addMembership(segmentId: string, members: Uint8Array): void {
    this.segmentMembers.set(segmentId, members);
  }

  /** Segments of exclusive families added by code (attribute families): id -> the codes and its code. */
  private readonly codedMembers = new Map<string, { codes: ArrayLike<number>; code: number }>();

  /**
   * Makes the segments of a family where position i is in ids[codes[i]] known, as addMembership does; each
   * segment's members are worked out when first asked for.
   */
  addExclusiveFamily(ids: readonly string[], codes: ArrayLike<number>): void {
    ids.forEach((id, code) => {
      this.segmentMembers.delete(id);
      this.codedMembers.set(id, { codes, code });
    });
  }

  /**
   * Membership of a segment: RFM, lifecycle and cluster segments from the result's columns, rule and list
   * segments as added; undefined for an id that names none of them.
   */
  membership(segmentId: string): Uint8Array | undefined {
    const added = this.segmentMembers.get(segmentId);
    if (added) return added;
    const c = this.result.columns;
    const colon = segmentId.indexOf(":");
    const family = segmentId.slice(0, colon);
    const label = segmentId.slice(colon + 1);
    let codes: ArrayLike<number> | undefined;
    let code = -1;
    const coded = this.codedMembers.get(segmentId);
    if (coded !== undefined) {
      codes = coded.codes;
      code = coded.code;
    } else if (family === "rfm") {
      codes = c.rfmSegment;
      code = RFM_LABELS.indexOf(label);
    } else if (family === "lifecycle") {
      codes = c.lifecycle;
      code = LIFECYCLE_LABELS.indexOf(label);
    } else if (family === "cluster" && c.cluster !== undefined && this.result.clusters !== undefined) {
      codes = c.cluster;
      code = this.result.clusters.ids.indexOf(segmentId);
    }
    if (codes === undefined || code < 0) return undefined;
    const members = new Uint8Array(this.size);
    for (let i = 0; i < this.size; i++) members[i] = Number(codes[i] === code);
    this.segmentMembers.set(segmentId, members);
    return members;
  }

  numeric(trait: NumericTrait | DateTrait): NumericColumn | undefined {
    const c = this.result.columns;
    switch (trait) {
      case "recency_days":
      case "days_since_last_order":
        return c.recencyDays;
      case "frequency":
      case "order_count":
        return c.frequency;
      case "monetary":
        return c.monetary;
      case "r_score":
        return c.r;
      case "f_score":
        return c.f;
      case "m_score":
        return c.m;
      case "average_order_value":
        if (this.averageOrderValue === undefined) {
          const out = new Float64Array(this.size);
          for (let i = 0; i < this.size; i++) out[i] = (c.monetary[i] as number) / (c.frequency[i] as number);
          this.averageOrderValue = out;
        }
        return this.averageOrderValue;
      case "clv":
        return c.clv;
      case "probability_alive":
        return c.probabilityAlive;
      case "expected_purchases":
        return c.expectedPurchases;
      case "first_purchase":
        return c.firstPurchaseDay;
      case "last_purchase":
        return c.lastPurchaseDay;
    }
  }

  categorical(trait: CategoricalTrait): CategoricalColumn | undefined {
    const c = this.result.columns;
    switch (trait) {
      case "rfm_segment":
        return { codes: c.rfmSegment, dictionary: RFM_LABELS };
      case "lifecycle":
        return { codes: c.lifecycle, dictionary: LIFECYCLE_LABELS };
      case "cluster": {
        const model = this.result.clusters;
        return c.cluster === undefined || model === undefined
          ? undefined
          : { codes: c.cluster, dictionary: model.ids.map(slug) };
      }
    }
  }

  share(dimension: ShareDimension, key: string): NumericColumn | undefined {
    const { source } = this.result;
    const names = dimension === "channel" ? source.channels : source.categories;
    if (names.size === 0) return undefined;
    const cacheKey = `${dimension}\u0000${key}`;
    let column = this.shares.get(cacheKey);
    if (column === undefined) {
      column = this.shareColumn(dimension, names.findString(key) + 1);
      this.shares.set(cacheKey, column);
    }
    return column;
  }

  attributeType(name: string): AttributeType | undefined {
    const column = this.result.source.attribute(name);
    if (column === undefined) return undefined;
    let type = this.types.get(name);
    if (type === undefined) {
      type = Object.hasOwn(this.declared, name) ? this.declared[name] : inferType(column);
      this.types.set(name, type ?? "string");
    }
    return type;
  }

  /** The names of the customer attributes the result's source holds. */
  attributeNames(): readonly string[] {
    return this.result.source.attributeNames();
  }

  attribute(i: number, name: string): AttributeValue | undefined {
    return this.attributeReader(name)?.(i);
  }

  attributeReader(name: string): Reader | undefined {
    let reader = this.readers.get(name);
    if (reader === undefined) {
      const column = this.result.source.attribute(name);
      const type = this.attributeType(name);
      if (column === undefined || type === undefined) return undefined;
      // Each distinct text is parsed once; customers share the parsed value through their code.
      const parsed: AttributeValue[] = [];
      for (let v = 0; v < column.values.size; v++) {
        const p = parseAttributeValue(column.values.get(v), type);
        parsed.push(p.ok ? p.value : null);
      }
      const stateIndex = this.result.columns.stateIndex;
      reader = (i) => {
        const code = column.code(stateIndex[i] as number);
        return code === 0 ? null : (parsed[code - 1] as AttributeValue);
      };
      this.readers.set(name, reader);
    }
    return reader;
  }

  /**
   * Net spend per customer in every value of a dimension (column 0: orders without one), customer-major, from
   * one pass over the orders; undefined when the matrix would be too large (many values).
   */
  private netByValue(dimension: ShareDimension): { net: Float64Array; width: number } | undefined {
    const cached = this.dense.get(dimension);
    if (cached !== undefined || this.dense.has(dimension)) return cached;
    const { asOfDay } = this.result;
    const state = this.stateOf();
    const width = (dimension === "channel" ? state.channels.size : state.categories.size) + 1;
    if (width * this.size > this.maxDenseEntries) {
      this.dense.set(dimension, undefined);
      return undefined;
    }
    const net = netSpendByValue(state, asOfDay, this.positionsOf(), this.size, dimension, width);
    const entry = { net, width };
    this.dense.set(dimension, entry);
    return entry;
  }

  private positionsOf(): Int32Array {
    if (this.positions === undefined) {
      this.positions = positionsOf(this.stateOf().customerCount, this.result.columns.stateIndex);
    }
    return this.positions;
  }

  private stateOf() {
    const state = this.result.state;
    if (state === undefined) throw new Error("Share traits of a merged result need its spend per value");
    return state;
  }

  /** The merged result's net spend per value, when it has no state to read orders from. */
  private spendOf(dimension: ShareDimension): SpendByValue | undefined {
    if (this.result.state !== undefined) return undefined;
    const spend = this.result.source.spend;
    if (spend === undefined) throw new Error("Share traits of a merged result need its spend per value");
    return dimension === "channel" ? spend.channel : spend.category;
  }

  /** Σ over the dimension's values (and "none") of max(0, net spend in it), per customer. */
  private total(dimension: ShareDimension): Float64Array {
    let total = this.totals.get(dimension);
    if (total !== undefined) return total;
    total = new Float64Array(this.size);
    const spend = this.spendOf(dimension);
    const dense = spend === undefined ? this.netByValue(dimension) : undefined;
    if (spend !== undefined) {
      for (let i = 0; i < this.size; i++) {
        let sum = 0;
        for (let k = spend.offsets[i] as number; k < (spend.offsets[i + 1] as number); k++) {
          const v = spend.net[k] as number;
          if (v > 0) sum += v;
        }
        total[i] = sum;
      }
    } else if (dense !== undefined) {
      const { net, width } = dense;
      for (let i = 0; i < this.size; i++) {
        let sum = 0;
        for (let at = i * width; at < (i + 1) * width; at++) {
          const v = net[at] as number;
          if (v > 0) sum += v;
        }
        total[i] = sum;
      }
    } else {
      this.sparseTotal(dimension, total);
    }
    this.totals.set(dimension, total);
    return total;
  }

  /** total() for dimensions with many values: customer by customer over their orders. */
  private sparseTotal(dimension: ShareDimension, total: Float64Array): void {
    const state = this.stateOf();
    const blocks = state.orderBlocks;
    const codeOf =
      dimension === "channel"
        ? (o: number) => blocks[o >>> ORDER_BLOCK_BITS]?.channel?.[o & ORDER_BLOCK_MASK] ?? 0
        : (o: number) => blocks[o >>> ORDER_BLOCK_BITS]?.category?.[o & ORDER_BLOCK_MASK] ?? 0;
    const { offsets, orders } = this.result.customerOrders();
    const values = dimension === "channel" ? state.channels.size : state.categories.size;
    const net = new Float64Array(values + 1);
    // The codes a customer's orders touched, listed once each (seenBy holds the position + 1 that listed it).
    const touched = new Uint32Array(values + 1);
    const seenBy = new Int32Array(values + 1);
    for (let i = 0; i < this.size; i++) {
      let count = 0;
      for (let k = offsets[i] as number; k < (offsets[i + 1] as number); k++) {
        const order = orders[k] as number;
        const code = codeOf(order);
        if (seenBy[code] !== i + 1) {
          seenBy[code] = i + 1;
          touched[count++] = code;
        }
        net[code] = (net[code] as number) + state.orderCents(order);
      }
      let sum = 0;
      for (let t = 0; t < count; t++) {
        const code = touched[t] as number;
        const v = net[code] as number;
        if (v > 0) sum += v;
        net[code] = 0;
      }
      total[i] = sum;
    }
  }

  private shareColumn(dimension: ShareDimension, code: number): Float64Array {
    const totals = this.total(dimension);
    const out = new Float64Array(this.size);
    const spend = this.spendOf(dimension);
    const dense = spend === undefined ? this.netByValue(dimension) : undefined;
    if (code > 0 && spend !== undefined) {
      for (let i = 0; i < this.size; i++) {
        for (let k = spend.offsets[i] as number; k < (spend.offsets[i + 1] as number); k++) {
          if (spend.codes[k] === code) out[i] = spend.net[k] as number;
        }
      }
    } else if (code > 0 && dense !== undefined) {
      const { net, width } = dense;
      for (let i = 0; i < this.size; i++) out[i] = net[i * width + code] as number;
    } else if (code > 0) {
      // Net spend in the value: one pass over the order blocks in storage order.
      const { asOfDay } = this.result;
      const state = this.stateOf();
      const positions = this.positionsOf();
      const total = state.orderCount;
      for (let b = 0; b * ORDER_BLOCK_SIZE < total; b++) {
        const block = state.orderBlocks[b] as OrderBlock;
        const codes = dimension === "channel" ? block.channel : block.category;
        if (codes === null) continue;
        const { customer, day, cents } = block;
        const length = Math.min(ORDER_BLOCK_SIZE, total - b * ORDER_BLOCK_SIZE);
        for (let k = 0; k < length; k++) {
          if (codes[k] !== code || (day[k] as number) > asOfDay) continue;
          const p = positions[customer[k] as number] as number;
          if (p < 0) continue;
          let c = cents[k] as number;
          if (c === BIG_CENTS) c = state.bigCents.get(b * ORDER_BLOCK_SIZE + k) as number;
          out[p] = (out[p] as number) + c;
        }
      }
    }
    for (let i = 0; i < this.size; i++) {
      const t = totals[i] as number;
      out[i] = t > 0 ? Math.max(0, out[i] as number) / t : Number.NaN;
    }
    return out;
  }
}

/** Most entries of a customers × values matrix of net spend (64 MB of doubles). */
const DENSE_LIMIT = 8 * 1024 * 1024;

/** The type of an attribute from the values customers in the state hold. */
function inferType(column: AttributeColumn): AttributeType {
  const used = new Uint8Array(column.values.size + 1);
  const codes = column.codes;
  for (let c = 0; c < codes.length; c++) used[codes[c] as number] = 1;
  const inference = new AttributeTypeInference();
  for (let v = 0; v < column.values.size; v++) if (used[v + 1] === 1) inference.observe(column.values.get(v));
  return inference.type;
}
