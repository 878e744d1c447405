/**
 * The merge step of a sharded read: the buckets' partials put back into the order of first appearance a whole
 * read gives (each bucket's customers are already in that order, so it is a k-way merge on their first rows),
 * then everything of computeSegments after the order pass (segmentsFromTotals).
 */
import { ByteSet } from "../byteset";
import { ColumnBlock } from "../columns";
import {
  type ComputedSegmentation,
  type CustomerTotals,
  resolveComputeSettings,
  type SegmentationSource,
  type SpendByValue,
  segmentsFromTotals,
} from "../compute";
import { FileError } from "../errors";
import { MAX_DATASET_CENTS } from "../ingest";
import { centsText } from "../money";
import { type AggregateState, AttributeColumn, MAX_DICTIONARY_VALUES } from "../state";
import type { ComputeSettings, IngestReport, RowError } from "../types";
import { type ForeignOrders, rulesReadShares } from "./aggregate";
import {
  type BucketForeignOrders,
  checkOrderSlice,
  combineForeignOrders,
  type OrderListSource,
} from "./conflicts";
import { decodePartial, type PartialColumns, type PartialMeta } from "./partial";

export type PartialSource = Uint8Array | (() => Promise<Uint8Array>);

export interface MergeOptions {
  /**
   * A state holding customers files only (no orders): the transactions are taken as read into it, so its
   * customers come first in its order, and its attributes serve attribute rules.
   */
  readonly customers?: AggregateState;
  /** Keep each customer's spend per channel and category (for share rules) even when no rule asks for it. */
  readonly spend?: boolean;
  /**
   * The buckets' order lists by slice: orders[s] holds BucketAggregate.orders[s] of every bucket. With them
   * the merge finds order_ids whose lines name customers in different buckets (checkOrderSlice, slice by
   * slice) and has those buckets rebuilt. Alternatively pass `conflicts`, the results of checkOrderSlice run
   * elsewhere (in parallel, say). With neither the check is skipped, and such an order is kept by each bucket
   * where a whole read rejects the later customers' lines.
   */
  readonly orders?: readonly (readonly OrderListSource[])[];
  readonly conflicts?: readonly (readonly BucketForeignOrders[])[];
  /**
   * Aggregates a bucket again with orders other buckets hold (aggregateBucket with options.foreignOrders)
   * and returns its partial. Needed only when the check finds such orders; without it the merge throws
   * UNSHARDABLE_FILE then.
   */
  readonly rebuild?: (bucket: number, foreignOrders: ForeignOrders) => Promise<Uint8Array>;
  /**
   * Runs the value stage on a thread of its own, beside the clusters' fit, when the merged result has at least
   * this many customers (computeSegments' valueThread option: the same result bit for bit). Absent: never.
   */
  readonly valueThreadFrom?: number;
}

export interface MergedSegmentation {
  readonly result: ComputedSegmentation;
  /** The counts ingestTransactions would have reported for the whole upload. */
  readonly report: IngestReport;
  /** Rejected rows, in row order, as a whole read reports them. */
  readonly errors: RowError[];
  /** The dataset's currency, when its rows name one. */
  readonly currency: string | undefined;
  /** Orders read (ordersAdded of the report). */
  readonly orderCount: number;
  /** Time spent putting the partials together, before segmentsFromTotals (whose stages are in timings). */
  readonly mergeMs: number;
  /** Buckets that were rebuilt because an order of theirs was another bucket's. */
  readonly rebuilt: number[];
}

/** The customers, attributes and dimension names of a merged result. */
class MergedSource implements SegmentationSource {
  spend?: { channel: SpendByValue; category: SpendByValue };
  private readonly utf8 = new TextDecoder();

  constructor(
    private readonly idEnds: Float64Array,
    private readonly idBytes: Uint8Array,
    readonly channels: ByteSet,
    readonly categories: ByteSet,
    private readonly attributes: Map<string, AttributeColumn>,
  ) {}

  customerId(index: number): string {
    const start = index === 0 ? 0 : (this.idEnds[index - 1] as number);
    return this.utf8.decode(this.idBytes.subarray(start, this.idEnds[index] as number));
  }

  attribute(name: string): AttributeColumn | undefined {
    return this.attributes.get(name);
  }

  attributeNames(): string[] {
    return [...this.attributes.keys()];
  }
}

/** What the merge keeps of a bucket between its two passes over the partials. */
interface BucketSummary {
  meta: PartialMeta;
  /** Where its partial comes from (a rebuilt one replaces the original). */
  source: PartialSource;
  /** Sort key of each customer. */
  keys: Float64Array;
  /** Each customer's position in the result. */
  positions: Uint32Array;
}

function bytesOf(source: PartialSource): Promise<Uint8Array> | Uint8Array {
  return source instanceof Uint8Array ? source : source();
}

/**
 * Merges the partials of every bucket (any order) into the result computeSegments gives for the whole
 * upload read into a new state (or into options.customers). Throws ComputeError for a bad setting before
 * reading any partial, and UNSHARDABLE_FILE when the buckets together hold more distinct channels or
 * categories than a state may (a whole read would reject the rows past the limit). Partials given as
 * loaders are loaded twice, one at a time (first for the order of customers, then for their columns), so
 * that the merge holds one partial at a time besides the result.
 */
export async function mergePartials(
  partials: readonly PartialSource[],
  settings: ComputeSettings,
  options: MergeOptions = {},
): Promise<MergedSegmentation> {
  const resolved = resolveComputeSettings(settings);
  const base = options.customers;
  if (base !== undefined && base.orderCount > 0) {
    throw new RangeError("The customers state of a sharded merge must hold no orders");
  }
  const started = performance.now();
  const checked: BucketForeignOrders[][] = [...(options.conflicts ?? [])].map((c) => [...c]);
  for (const slice of options.orders ?? []) checked.push(await checkOrderSlice(slice));
  const foreign = combineForeignOrders(checked);
  const withSpend = options.spend === true || rulesReadShares(settings.rules);
  const baseCount = base?.customerCount ?? 0;

  // Pass 1: each bucket's sort keys (a base customer's index in the base, else base size + its first row),
  // and what sizes the result's columns.
  const buckets: BucketSummary[] = [];
  let n = 0;
  let idBytes = 0;
  let absoluteCents = 0;
  for (const original of partials) {
    let source = original;
    let { meta, columns } = decodePartial(await bytesOf(source));
    const orders = foreign.get(meta.bucket);
    if (orders !== undefined) {
      if (options.rebuild === undefined) {
        throw new FileError(
          "UNSHARDABLE_FILE",
          "The file cannot be read in shards: an order_id names customers of different buckets",
        );
      }
      const rebuilt = await options.rebuild(meta.bucket, orders);
      source = rebuilt;
      ({ meta, columns } = decodePartial(rebuilt));
    }
    if (withSpend && !meta.spend) {
      throw new Error("The rules read channel or category shares, but the partials were built without spend");
    }
    const keys = new Float64Array(meta.customers);
    if (base === undefined) keys.set(columns.firstRow);
    else {
      let start = 0;
      for (let i = 0; i < meta.customers; i++) {
        const end = columns.idEnds[i] as number;
        const found = base.customers.find(columns.idBytes, start, end);
        keys[i] = found >= 0 ? found : baseCount + (columns.firstRow[i] as number);
        start = end;
      }
    }
    buckets.push({ meta, source, keys, positions: new Uint32Array(meta.customers) });
    n += meta.customers;
    idBytes += meta.idBytes;
    absoluteCents += meta.absoluteCents ?? 0;
    if (meta.errors.some((e) => e.code === "DATASET_TOTAL_TOO_LARGE"))
      absoluteCents = Number.POSITIVE_INFINITY;
  }
  // The dataset limit counts the file's rows in file order, across buckets: when no bucket met it and their
  // sums together stay within it, a whole read would not have met it either, and the buckets' rows are the
  // whole read's. Otherwise the rows the whole read rejects are not known here.
  if (absoluteCents > MAX_DATASET_CENTS) {
    throw new FileError(
      "UNSHARDABLE_FILE",
      `The file cannot be read in shards: its amounts add up to more than the dataset limit of ${centsText(MAX_DATASET_CENTS)} (sum of |amount|)`,
    );
  }
  const { bucketAt, indexAt } = assignPositions(buckets, n);

  // Dimension names: the union over buckets, each bucket's codes mapped into it.
  const dictionary = (pick: (m: PartialMeta) => string[], what: string) => {
    const set = new ByteSet();
    const codes = buckets.map(({ meta }) => {
      const map = new Uint32Array(pick(meta).length + 1);
      pick(meta).forEach((name, i) => {
        map[i + 1] = set.internString(name) + 1;
      });
      return map;
    });
    if (set.size > MAX_DICTIONARY_VALUES) {
      throw new FileError(
        "UNSHARDABLE_FILE",
        `The file cannot be read in shards: it holds more than ${MAX_DICTIONARY_VALUES} distinct ${what} values`,
      );
    }
    return { set, codes };
  };
  const channels = dictionary((m) => m.channels, "channel");
  const categories = dictionary((m) => m.categories, "category");

  // Pass 2: every bucket's columns scattered to their positions.
  const block = new ColumnBlock(n).reserve(8, 5).reserve(4, 8).allocate();
  const monetaryCents = block.f64();
  const monetary = block.f64();
  const grossCents = block.f64();
  const firstDayCents = block.f64();
  const idEnds = block.f64();
  const stateIndex = block.u32();
  const recencyDays = block.i32();
  const frequency = block.u32();
  const returns = block.u32();
  const firstPurchaseDay = block.i32();
  const lastPurchaseDay = block.i32();
  const previousPurchaseDay = block.i32();
  const purchaseDays = block.u32();
  const asOfDay = resolved.asOfDay;
  const spendCounts = withSpend
    ? { channel: new Uint32Array(n + 1), category: new Uint32Array(n + 1) }
    : undefined;
  const loaded: PartialColumns[] = [];
  // Every customer's purchase days, when every partial has them (for the value stage's holdout).
  let dayCounts: Uint32Array | undefined = new Uint32Array(n + 1);
  /** Customer i of a bucket's columns to position p. */
  const put = (p: number, columns: PartialColumns, i: number) => {
    const cents = columns.monetaryCents[i] as number;
    monetaryCents[p] = cents;
    monetary[p] = cents / 100;
    grossCents[p] = columns.grossCents[i] as number;
    firstDayCents[p] = columns.firstDayCents[i] as number;
    frequency[p] = columns.frequency[i] as number;
    returns[p] = columns.returns[i] as number;
    firstPurchaseDay[p] = columns.firstPurchaseDay[i] as number;
    lastPurchaseDay[p] = columns.lastPurchaseDay[i] as number;
    recencyDays[p] = asOfDay - (columns.lastPurchaseDay[i] as number);
    previousPurchaseDay[p] = columns.previousPurchaseDay[i] as number;
    purchaseDays[p] = columns.purchaseDays[i] as number;
    idEnds[p] = (columns.idEnds[i] as number) - (i === 0 ? 0 : (columns.idEnds[i - 1] as number));
    if (spendCounts !== undefined) {
      spendCounts.channel[p + 1] =
        (columns.channelOffsets[i + 1] as number) - (columns.channelOffsets[i] as number);
      spendCounts.category[p + 1] =
        (columns.categoryOffsets[i + 1] as number) - (columns.categoryOffsets[i] as number);
    }
    if (dayCounts !== undefined) {
      const dayOffsets = columns.dayOffsets as Uint32Array;
      dayCounts[p + 1] = (dayOffsets[i + 1] as number) - (dayOffsets[i] as number);
    }
  };
  const hasDays = (columns: PartialColumns, count: number) =>
    columns.dayOffsets !== undefined && columns.dayOffsets.length === count + 1;
  if (buckets.every((bucket) => bucket.source instanceof Uint8Array)) {
    // Every partial in memory: gathered in position order, so that the result's columns are written in
    // order and each bucket's read in order too (a scatter to positions misses the cache at every write).
    for (let b = 0; b < buckets.length; b++) {
      const bucket = buckets[b] as BucketSummary;
      const columns = decodePartial(bucket.source as Uint8Array).columns;
      if (!hasDays(columns, bucket.positions.length)) dayCounts = undefined;
      loaded[b] = columns;
    }
    for (let p = 0; p < n; p++) put(p, loaded[bucketAt[p] as number] as PartialColumns, indexAt[p] as number);
  } else {
    // Partials loaded one at a time: each scattered to its positions.
    for (let b = 0; b < buckets.length; b++) {
      const bucket = buckets[b] as BucketSummary;
      const { columns } = decodePartial(await bytesOf(bucket.source));
      const pos = bucket.positions;
      if (!hasDays(columns, pos.length)) dayCounts = undefined;
      for (let i = 0; i < pos.length; i++) put(pos[i] as number, columns, i);
    }
  }
  for (let p = 0; p < n; p++) stateIndex[p] = p;
  for (let p = 1; p < n; p++) idEnds[p] = (idEnds[p - 1] as number) + (idEnds[p] as number);
  if (dayCounts !== undefined)
    for (let p = 0; p < n; p++) dayCounts[p + 1] = (dayCounts[p + 1] as number) + (dayCounts[p] as number);
  const days = dayCounts === undefined ? undefined : new Int32Array(dayCounts[n] as number);
  const ids = new Uint8Array(idBytes);
  let spend: { channel: SpendByValue; category: SpendByValue } | undefined;
  if (spendCounts !== undefined) {
    const make = (counts: Uint32Array) => {
      for (let p = 0; p < n; p++) counts[p + 1] = (counts[p + 1] as number) + (counts[p] as number);
      const total = counts[n] as number;
      return { offsets: counts, codes: new Uint32Array(total), net: new Float64Array(total) };
    };
    spend = { channel: make(spendCounts.channel), category: make(spendCounts.category) };
  }
  for (let b = 0; b < buckets.length; b++) {
    const bucket = buckets[b] as BucketSummary;
    const columns = loaded[b] ?? decodePartial(await bytesOf(bucket.source)).columns;
    loaded[b] = undefined as unknown as PartialColumns;
    const pos = bucket.positions;
    if (days !== undefined && dayCounts !== undefined) {
      const from = columns.dayOffsets as Uint32Array;
      const source = columns.days as Int32Array;
      for (let i = 0; i < pos.length; i++) {
        let at = dayCounts[pos[i] as number] as number;
        for (let k = from[i] as number; k < (from[i + 1] as number); k++) days[at++] = source[k] as number;
      }
    }
    let start = 0;
    for (let i = 0; i < pos.length; i++) {
      const end = columns.idEnds[i] as number;
      const idBytes = columns.idBytes;
      let at = (idEnds[pos[i] as number] as number) - (end - start);
      for (let k = start; k < end; k++) ids[at++] = idBytes[k] as number;
      start = end;
    }
    if (spend !== undefined) {
      scatterSpend(
        spend.channel,
        pos,
        columns.channelOffsets,
        columns.channelCodes,
        columns.channelNet,
        channels.codes[b] as Uint32Array,
      );
      scatterSpend(
        spend.category,
        pos,
        columns.categoryOffsets,
        columns.categoryCodes,
        columns.categoryNet,
        categories.codes[b] as Uint32Array,
      );
    }
  }
  const totals: CustomerTotals = {
    stateIndex,
    recencyDays,
    frequency,
    returns,
    monetaryCents,
    monetary,
    firstPurchaseDay,
    lastPurchaseDay,
    previousPurchaseDay,
    purchaseDays,
    grossCents,
    firstDayCents,
    ordersAfterAsOf: buckets.reduce((sum, { meta }) => sum + (meta.ordersAfterAsOf ?? 0), 0),
  };

  // Attributes of the base's customers, by position; base customers without orders follow the positions so
  // that a type is inferred from the same values a whole read sees.
  const attributes = new Map<string, AttributeColumn>();
  if (base !== undefined) {
    const baseIndex = new Int32Array(n);
    for (let p = 0; p < n; p++) {
      const start = p === 0 ? 0 : (idEnds[p - 1] as number);
      baseIndex[p] = base.customers.find(ids, start, idEnds[p] as number);
    }
    for (const name of base.attributeNames()) {
      const column = base.attribute(name) as AttributeColumn;
      const codes = new Uint32Array(n + baseCount);
      for (let p = 0; p < n; p++) {
        const j = baseIndex[p] as number;
        if (j >= 0) codes[p] = column.code(j);
      }
      for (let j = 0; j < baseCount; j++) codes[n + j] = column.code(j);
      attributes.set(name, new AttributeColumn(name, column.values, codes));
    }
  }
  const source = new MergedSource(idEnds, ids, channels.set, categories.set, attributes);
  if (spend !== undefined) source.spend = spend;

  const report: IngestReport = {
    rowsRead: 0,
    rowsAccepted: 0,
    rowsRejected: 0,
    ordersAdded: 0,
    ordersDuplicate: 0,
    orderLinesMerged: 0,
  };
  const errors: RowError[] = [];
  const currencies = new Set<string>();
  for (const { meta } of buckets) {
    for (const key of Object.keys(report) as (keyof IngestReport)[]) report[key] += meta.report[key];
    for (const error of meta.errors) errors.push(error);
    if (meta.currency !== null) currencies.add(meta.currency);
  }
  errors.sort((a, b) => a.row - b.row);
  if (currencies.size > 1) {
    throw new FileError(
      "UNSHARDABLE_FILE",
      `The file cannot be read in shards: its rows name more than one currency (${[...currencies].join(", ")})`,
    );
  }
  const mergeMs = Math.round((performance.now() - started) * 10) / 10;
  const result = segmentsFromTotals(
    source,
    totals,
    resolved,
    days === undefined || dayCounts === undefined ? undefined : (day) => totalsFromDays(dayCounts, days, day),
    { valueThread: options.valueThreadFrom !== undefined && n >= options.valueThreadFrom },
  );
  return {
    mergeMs,
    rebuilt: [...foreign.keys()].sort((a, b) => a - b),
    result,
    report,
    errors,
    currency: currencies.size === 0 ? undefined : [...currencies][0],
    orderCount: report.ordersAdded,
  };
}

/**
 * Each bucket's customers in key order (already so without a base), merged k ways into positions; returns
 * the bucket and the index in it of the customer at each position.
 */
function assignPositions(
  buckets: BucketSummary[],
  n: number,
): { bucketAt: Uint32Array; indexAt: Uint32Array } {
  const bucketAt = new Uint32Array(n);
  const indexAt = new Uint32Array(n);
  const orders = buckets.map(({ keys }) => {
    const order = new Uint32Array(keys.length);
    for (let i = 0; i < keys.length; i++) order[i] = i;
    let sorted = true;
    for (let i = 1; i < keys.length && sorted; i++) sorted = (keys[i - 1] as number) < (keys[i] as number);
    if (!sorted) order.sort((a, b) => (keys[a] as number) - (keys[b] as number));
    return order;
  });
  const cursor = new Uint32Array(buckets.length);
  const headKey = (b: number) =>
    (buckets[b] as BucketSummary).keys[(orders[b] as Uint32Array)[cursor[b] as number] as number] as number;
  const heap: number[] = [];
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      let m = i;
      if (l < heap.length && headKey(heap[l] as number) < headKey(heap[m] as number)) m = l;
      if (l + 1 < heap.length && headKey(heap[l + 1] as number) < headKey(heap[m] as number)) m = l + 1;
      if (m === i) return;
      const t = heap[i] as number;
      heap[i] = heap[m] as number;
      heap[m] = t;
      i = m;
    }
  };
  for (let b = 0; b < buckets.length; b++) if ((buckets[b] as BucketSummary).keys.length > 0) heap.push(b);
  for (let i = (heap.length >> 1) - 1; i >= 0; i--) down(i);
  for (let p = 0; p < n; p++) {
    const b = heap[0] as number;
    const bucket = buckets[b] as BucketSummary;
    const c = cursor[b] as number;
    const i = (orders[b] as Uint32Array)[c] as number;
    bucket.positions[i] = p;
    bucketAt[p] = b;
    indexAt[p] = i;
    cursor[b] = c + 1;
    if (c + 1 === bucket.keys.length) {
      heap[0] = heap[heap.length - 1] as number;
      heap.pop();
    }
    if (heap.length > 0) down(0);
  }
  return { bucketAt, indexAt };
}

/** Copies a bucket's spend entries to their positions, its codes mapped to the merged dictionary. */
function scatterSpend(
  into: SpendByValue,
  positions: Uint32Array,
  offsets: Uint32Array,
  codes: Uint32Array,
  net: Float64Array,
  map: Uint32Array,
): void {
  for (let i = 0; i < positions.length; i++) {
    let at = into.offsets[positions[i] as number] as number;
    for (let k = offsets[i] as number; k < (offsets[i + 1] as number); k++) {
      const code = codes[k] as number;
      into.codes[at] = code === 0 ? 0 : (map[code] as number);
      into.net[at] = net[k] as number;
      at++;
    }
  }
}

/**
 * The purchase-day totals customerTotals gives as of `day`, from every position's distinct purchase days
 * (ascending, days[offsets[p]] .. days[offsets[p + 1] - 1]): the positions with a purchase on or before it.
 */
function totalsFromDays(
  offsets: Uint32Array,
  days: Int32Array,
  day: number,
): {
  stateIndex: Uint32Array;
  firstPurchaseDay: Int32Array;
  lastPurchaseDay: Int32Array;
  purchaseDays: Uint32Array;
} {
  const n = offsets.length - 1;
  let count = 0;
  for (let p = 0; p < n; p++) {
    const from = offsets[p] as number;
    if (from < (offsets[p + 1] as number) && (days[from] as number) <= day) count++;
  }
  const stateIndex = new Uint32Array(count);
  const firstPurchaseDay = new Int32Array(count);
  const lastPurchaseDay = new Int32Array(count);
  const purchaseDays = new Uint32Array(count);
  let i = 0;
  for (let p = 0; p < n; p++) {
    const from = offsets[p] as number;
    const to = offsets[p + 1] as number;
    if (from === to || (days[from] as number) > day) continue;
    let k = from;
    while (k < to && (days[k] as number) <= day) k++;
    stateIndex[i] = p;
    firstPurchaseDay[i] = days[from] as number;
    lastPurchaseDay[i] = days[k - 1] as number;
    purchaseDays[i] = k - from;
    i++;
  }
  return { stateIndex, firstPurchaseDay, lastPurchaseDay, purchaseDays };
}
