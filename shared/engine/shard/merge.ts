/**
 * The merge step of a sharded read: the buckets' partials put back into the order of first appearance a whole
 * read gives (by their first rows, distinct integers: assignPositions reads them out of a table by key), then
 * everything of computeSegments after the order pass (segmentsFromTotals).
 */
import { ByteSet } from "../byteset";
import { ColumnBlock } from "../columns";
import {
  type ComputedSegmentation,
  type CustomerTotals,
  type HoldoutTotals,
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
export interface BucketSummary {
  meta: PartialMeta;
  /** Where its partial comes from (a rebuilt one replaces the original). */
  source: PartialSource;
  /** Sort key of each customer. */
  keys: Float64Array;
  /** Its columns, when its partial is held in memory (decoded once). */
  columns?: PartialColumns;
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
    buckets.push({ meta, source, keys, ...(source instanceof Uint8Array ? { columns } : {}) });
    n += meta.customers;
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
  const { bucketAt, indexAt } = assignPositions(
    buckets.map(({ keys }) => keys),
    n,
  );

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

  const { totals, idEnds, ids, totalsAsOf, spend } = await putTogether(
    buckets,
    bucketAt,
    indexAt,
    resolved.asOfDay,
    withSpend ? { channel: channels.codes, category: categories.codes } : undefined,
  );

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
  const result = segmentsFromTotals(source, totals, resolved, totalsAsOf, {
    valueThread: options.valueThreadFrom !== undefined && n >= options.valueThreadFrom,
  });
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

/** Each bucket's map from its channel (category) codes to the merged dictionary's (0 stays 0). */
interface SpendMaps {
  channel: readonly Uint32Array[];
  category: readonly Uint32Array[];
}

/** The columns of the merged result, in position order. */
export interface PutTogether {
  totals: CustomerTotals;
  /** Position p's id is ids[idEnds[p - 1] (0 for p = 0), idEnds[p]). */
  idEnds: Float64Array;
  ids: Uint8Array;
  /**
   * The purchase-day totals as of a day (segmentsFromTotals' totalsAsOf), when every partial has its
   * customers' purchase days: read from the partials held in memory, or from the days put in position order.
   */
  totalsAsOf?: (day: number) => HoldoutTotals;
  spend?: { channel: SpendByValue; category: SpendByValue };
}

/**
 * The buckets' columns put in position order (position p holds customer indexAt[p] of bucket bucketAt[p]):
 * from partials held in memory, each column gathered in position order; from loaders, each partial loaded
 * and scattered to its positions in turn (one partial held at a time). Both give the same bytes.
 */
export async function putTogether(
  buckets: readonly BucketSummary[],
  bucketAt: Uint16Array,
  indexAt: Uint32Array,
  asOfDay: number,
  spendMaps?: SpendMaps,
): Promise<PutTogether> {
  const n = bucketAt.length;
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
  let daysAt: DaysAt | undefined;
  const ids = new Uint8Array(buckets.reduce((sum, { meta }) => sum + meta.idBytes, 0));
  let spend: { channel: SpendByValue; category: SpendByValue } | undefined;
  const hasDays = (meta: PartialMeta) => meta.dayEntries !== undefined;
  if (buckets.every((bucket) => bucket.columns !== undefined)) {
    // Every partial in memory: each column gathered on its own in position order, so that the result's
    // column is written in order and each bucket's read in order too, one column of every bucket at a time.
    const all = buckets.map((bucket) => bucket.columns as PartialColumns);
    const of = <T>(pick: (c: PartialColumns) => T) => all.map(pick);
    const f64 = (into: Float64Array, pick: (c: PartialColumns) => Float64Array) =>
      gatherF64(into, of(pick), bucketAt, indexAt);
    const w32 = (into: Int32Array | Uint32Array, pick: (c: PartialColumns) => Int32Array | Uint32Array) =>
      gatherU32(
        u32(into),
        of((c) => u32(pick(c))),
        bucketAt,
        indexAt,
      );
    f64(monetaryCents, (c) => c.monetaryCents);
    f64(grossCents, (c) => c.grossCents);
    f64(firstDayCents, (c) => c.firstDayCents);
    w32(frequency, (c) => c.frequency);
    w32(returns, (c) => c.returns);
    w32(firstPurchaseDay, (c) => c.firstPurchaseDay);
    w32(lastPurchaseDay, (c) => c.lastPurchaseDay);
    w32(previousPurchaseDay, (c) => c.previousPurchaseDay);
    w32(purchaseDays, (c) => c.purchaseDays);
    for (let p = 0; p < n; p++) {
      monetary[p] = (monetaryCents[p] as number) / 100;
      recencyDays[p] = asOfDay - (lastPurchaseDay[p] as number);
    }
    gatherIds(
      idEnds,
      ids,
      of((c) => c.idEnds),
      of((c) => c.idBytes),
      bucketAt,
      indexAt,
    );
    // The days stay in the partials (read where they are, once or twice, by totalsAsOf): no copy of them.
    if (buckets.every(({ meta }) => hasDays(meta))) {
      daysAt = {
        offsets: of((c) => c.dayOffsets as Uint32Array),
        days: of((c) => c.days as Int32Array),
        bucketAt,
        indexAt,
      };
    }
    if (spendMaps !== undefined) {
      const gathered = (
        entries: (m: PartialMeta) => number,
        offsets: (c: PartialColumns) => Uint32Array,
        codes: (c: PartialColumns) => Uint32Array,
        net: (c: PartialColumns) => Float64Array,
        maps: readonly Uint32Array[],
      ): SpendByValue => {
        const total = buckets.reduce((sum, { meta }) => sum + entries(meta), 0);
        const into = {
          offsets: new Uint32Array(n + 1),
          codes: new Uint32Array(total),
          net: new Float64Array(total),
        };
        gatherRuns(into.offsets, into.codes, of(offsets), of(codes), bucketAt, indexAt, maps);
        gatherRuns(
          into.offsets,
          u32(into.net),
          of(offsets),
          of(net).map(u32),
          bucketAt,
          indexAt,
          undefined,
          2,
        );
        return into;
      };
      spend = {
        channel: gathered(
          (m) => m.channelEntries,
          (c) => c.channelOffsets,
          (c) => c.channelCodes,
          (c) => c.channelNet,
          spendMaps.channel,
        ),
        category: gathered(
          (m) => m.categoryEntries,
          (c) => c.categoryOffsets,
          (c) => c.categoryCodes,
          (c) => c.categoryNet,
          spendMaps.category,
        ),
      };
    }
  } else {
    // Partials loaded one at a time: each scattered to its positions.
    const positions = buckets.map(({ meta }) => new Uint32Array(meta.customers));
    for (let p = 0; p < n; p++) (positions[bucketAt[p] as number] as Uint32Array)[indexAt[p] as number] = p;
    const spendCounts =
      spendMaps !== undefined
        ? { channel: new Uint32Array(n + 1), category: new Uint32Array(n + 1) }
        : undefined;
    let counts: Uint32Array | undefined = buckets.every(({ meta }) => hasDays(meta))
      ? new Uint32Array(n + 1)
      : undefined;
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
      if (counts !== undefined) {
        const dayOffsets = columns.dayOffsets as Uint32Array;
        counts[p + 1] = (dayOffsets[i + 1] as number) - (dayOffsets[i] as number);
      }
    };
    for (let b = 0; b < buckets.length; b++) {
      const bucket = buckets[b] as BucketSummary;
      const { columns } = decodePartial(await bytesOf(bucket.source));
      const pos = positions[b] as Uint32Array;
      if (columns.dayOffsets === undefined || columns.dayOffsets.length !== pos.length + 1)
        counts = undefined;
      for (let i = 0; i < pos.length; i++) put(pos[i] as number, columns, i);
    }
    for (let p = 1; p < n; p++) idEnds[p] = (idEnds[p - 1] as number) + (idEnds[p] as number);
    if (counts !== undefined)
      for (let p = 0; p < n; p++) counts[p + 1] = (counts[p + 1] as number) + (counts[p] as number);
    const days = counts === undefined ? undefined : new Int32Array(counts[n] as number);
    const dayCounts = counts;
    if (days !== undefined && dayCounts !== undefined) daysAt = { offsets: [dayCounts], days: [days] };
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
      const { columns } = decodePartial(await bytesOf(bucket.source));
      const pos = positions[b] as Uint32Array;
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
          (spendMaps as SpendMaps).channel[b] as Uint32Array,
        );
        scatterSpend(
          spend.category,
          pos,
          columns.categoryOffsets,
          columns.categoryCodes,
          columns.categoryNet,
          (spendMaps as SpendMaps).category[b] as Uint32Array,
        );
      }
    }
  }
  for (let p = 0; p < n; p++) stateIndex[p] = p;
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
  return {
    totals,
    idEnds,
    ids,
    ...(daysAt === undefined ? {} : { totalsAsOf: (day: number) => totalsFromDays(daysAt, day) }),
    ...(spend === undefined ? {} : { spend }),
  };
}

/** Keys of a window of assignPositions: a window's customers are placed in a table this size, in cache. */
const KEY_WINDOW = 1 << 16;

/**
 * Each bucket's customers in key order (already so without a base), merged into positions; returns the
 * bucket and the index in it of the customer at each position. The keys are distinct integers from 0 (first
 * rows, or indices in the base): the customers of each window of KEY_WINDOW keys are put in a table by key,
 * which is then read in order, so a position costs no comparisons at all, whatever the number of buckets.
 */
export function assignPositions(
  keys: readonly Float64Array[],
  n: number,
): { bucketAt: Uint16Array; indexAt: Uint32Array } {
  if (keys.length > 0xffff) throw new RangeError("At most 65,535 buckets");
  const bucketAt = new Uint16Array(n);
  const indexAt = new Uint32Array(n);
  let last = -1;
  const orders = keys.map((k) => {
    let ascending = true;
    for (let i = 0; i < k.length; i++) {
      const key = k[i] as number;
      if (!Number.isInteger(key) || key < 0) throw new RangeError("A sort key is not an integer from 0");
      if (key > last) last = key;
      if (i > 0 && key <= (k[i - 1] as number)) ascending = false;
    }
    if (ascending) return undefined;
    const order = new Uint32Array(k.length);
    for (let i = 0; i < k.length; i++) order[i] = i;
    return order.sort((a, b) => (k[a] as number) - (k[b] as number));
  });
  /** Bucket + 1 of the customer whose key is the window's start + s (0: none), and its index. */
  const slotBucket = new Uint16Array(KEY_WINDOW);
  const slotIndex = new Uint32Array(KEY_WINDOW);
  const cursor = new Uint32Array(keys.length);
  let p = 0;
  for (let start = 0; start <= last; start += KEY_WINDOW) {
    let filled = 0;
    for (let b = 0; b < keys.length; b++) {
      const k = keys[b] as Float64Array;
      const order = orders[b];
      const from = cursor[b] as number;
      let c = from;
      for (; c < k.length; c++) {
        const i = order === undefined ? c : (order[c] as number);
        const s = (k[i] as number) - start;
        if (s >= KEY_WINDOW) break;
        if (slotBucket[s] !== 0) throw new RangeError("Two customers have the same sort key");
        slotBucket[s] = b + 1;
        slotIndex[s] = i;
      }
      cursor[b] = c;
      filled += c - from;
    }
    for (let s = 0; filled > 0; s++) {
      const b = slotBucket[s] as number;
      if (b === 0) continue;
      bucketAt[p] = b - 1;
      indexAt[p] = slotIndex[s] as number;
      slotBucket[s] = 0;
      p++;
      filled--;
    }
  }
  if (p !== n) throw new RangeError(`The buckets hold ${p} customers, not ${n}`);
  return { bucketAt, indexAt };
}

/** The same bytes as 32-bit unsigned integers (a gather copies bits). */
function u32(array: Int32Array | Uint32Array | Float64Array): Uint32Array {
  return new Uint32Array(array.buffer, array.byteOffset, array.byteLength >> 2);
}

/** into[p] = from[bucketAt[p]][indexAt[p]] for every position p. */
function gatherF64(
  into: Float64Array,
  from: readonly Float64Array[],
  bucketAt: Uint16Array,
  indexAt: Uint32Array,
): void {
  for (let p = 0; p < into.length; p++)
    into[p] = (from[bucketAt[p] as number] as Float64Array)[indexAt[p] as number] as number;
}

/** into[p] = from[bucketAt[p]][indexAt[p]] for every position p (gatherF64's loop on 32-bit elements: one loop
 * per element type keeps each monomorphic). */
function gatherU32(
  into: Uint32Array,
  from: readonly Uint32Array[],
  bucketAt: Uint16Array,
  indexAt: Uint32Array,
): void {
  for (let p = 0; p < into.length; p++)
    into[p] = (from[bucketAt[p] as number] as Uint32Array)[indexAt[p] as number] as number;
}

/** Every position's id bytes, in position order, and the end of each (idEnds of the merged source). */
function gatherIds(
  idEnds: Float64Array,
  ids: Uint8Array,
  fromEnds: readonly Uint32Array[],
  fromBytes: readonly Uint8Array[],
  bucketAt: Uint16Array,
  indexAt: Uint32Array,
): void {
  let at = 0;
  for (let p = 0; p < idEnds.length; p++) {
    const b = bucketAt[p] as number;
    const i = indexAt[p] as number;
    const ends = fromEnds[b] as Uint32Array;
    const bytes = fromBytes[b] as Uint8Array;
    const end = ends[i] as number;
    for (let k = i === 0 ? 0 : (ends[i - 1] as number); k < end; k++) ids[at++] = bytes[k] as number;
    idEnds[p] = at;
  }
}

/**
 * Every position's run of entries (from[b][fromOffsets[b][i]] .. before fromOffsets[b][i + 1], for b, i the
 * position's bucket and index), in position order, each entry `width` words wide; offsets[p] .. offsets[p + 1]
 * (in entries) is position p's run in `into`. With `maps`, each entry is a code mapped through its bucket's
 * map (0 stays 0).
 */
function gatherRuns(
  offsets: Uint32Array,
  into: Uint32Array,
  fromOffsets: readonly Uint32Array[],
  from: readonly Uint32Array[],
  bucketAt: Uint16Array,
  indexAt: Uint32Array,
  maps?: readonly Uint32Array[],
  width: 1 | 2 = 1,
): void {
  let at = 0;
  let entries = 0;
  offsets[0] = 0;
  for (let p = 0; p < bucketAt.length; p++) {
    const b = bucketAt[p] as number;
    const i = indexAt[p] as number;
    const o = fromOffsets[b] as Uint32Array;
    const source = from[b] as Uint32Array;
    const first = o[i] as number;
    const count = (o[i + 1] as number) - first;
    if (maps === undefined) {
      const end = (first + count) * width;
      for (let k = first * width; k < end; k++) into[at++] = source[k] as number;
    } else {
      const map = maps[b] as Uint32Array;
      for (let k = first; k < first + count; k++) {
        const code = source[k] as number;
        into[at++] = code === 0 ? 0 : (map[code] as number);
      }
    }
    entries += count;
    offsets[p + 1] = entries;
  }
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
 * Where every position's distinct purchase days are (ascending): days[b][offsets[b][i]] .. before
 * offsets[b][i + 1] for position p's bucket b = bucketAt[p] and index i = indexAt[p], or, without bucketAt,
 * in one array in position order (b = 0, i = p).
 */
interface DaysAt {
  offsets: readonly Uint32Array[];
  days: readonly Int32Array[];
  bucketAt?: Uint16Array;
  indexAt?: Uint32Array;
}

/**
 * The purchase-day totals customerTotals gives as of `day`, from every position's distinct purchase days:
 * the positions with a purchase on or before it.
 */
function totalsFromDays(at: DaysAt, day: number): HoldoutTotals {
  const { offsets, days, bucketAt, indexAt } = at;
  const n = bucketAt === undefined ? (offsets[0] as Uint32Array).length - 1 : bucketAt.length;
  let count = 0;
  for (let p = 0; p < n; p++) {
    const b = bucketAt === undefined ? 0 : (bucketAt[p] as number);
    const i = indexAt === undefined ? p : (indexAt[p] as number);
    const o = offsets[b] as Uint32Array;
    const from = o[i] as number;
    if (from < (o[i + 1] as number) && ((days[b] as Int32Array)[from] as number) <= day) count++;
  }
  const stateIndex = new Uint32Array(count);
  const firstPurchaseDay = new Int32Array(count);
  const lastPurchaseDay = new Int32Array(count);
  const purchaseDays = new Uint32Array(count);
  let k = 0;
  for (let p = 0; p < n; p++) {
    const b = bucketAt === undefined ? 0 : (bucketAt[p] as number);
    const i = indexAt === undefined ? p : (indexAt[p] as number);
    const o = offsets[b] as Uint32Array;
    const d = days[b] as Int32Array;
    const from = o[i] as number;
    const to = o[i + 1] as number;
    if (from === to || (d[from] as number) > day) continue;
    let j = from;
    while (j < to && (d[j] as number) <= day) j++;
    stateIndex[k] = p;
    firstPurchaseDay[k] = d[from] as number;
    lastPurchaseDay[k] = d[j - 1] as number;
    purchaseDays[k] = j - from;
    k++;
  }
  return { stateIndex, firstPurchaseDay, lastPurchaseDay, purchaseDays };
}
