/**
 * The reduce step of a sharded read: one bucket's parts from every range, read in range order by
 * ingestTransactions itself (so order lines, duplicates and row errors behave as in a whole read), then the
 * per-customer totals of computeSegments' order pass, packed into a partial (partial.ts).
 */
import { customerTotals } from "../compute";
import { parseDay } from "../days";
import { ComputeError, FileError } from "../errors";
import { ingestTransactions } from "../ingest";
import { groupOrders, positionsOf } from "../orders";
import { AggregateState, ORDER_BLOCK_SIZE, type OrderBlock } from "../state";
import type { ComputeSettings, RowError } from "../types";
import { encodePartial, type PartialColumns } from "./partial";
import { type PartitionResult, readPart } from "./partition";
import type { ShardPlan } from "./plan";

/** What every aggregate step needs besides its bucket's parts; plain JSON (see aggregateContext). */
export interface AggregateContext {
  readonly plan: ShardPlan;
  /** Lines of each range, from the partition results. */
  readonly lines: readonly number[];
  /** The evaluation date, yyyy-mm-dd (the totals count orders on or before it). */
  readonly asOf: string;
  /** Whether partials carry each customer's spend per channel and category (share rules need it). */
  readonly spend: boolean;
  /** The latest order_date accepted, yyyy-mm-dd; later rows are rejected FUTURE_DATE (see ingest.ts). */
  readonly latestOrderDay?: string;
}

/**
 * The context of the aggregate steps, from the plan, every range's partition result (or just its lines
 * and currencies) and the computation's settings (asOf; and rules, since only share rules need each
 * customer's spend per channel and category; options.spend forces it). Throws UNSHARDABLE_FILE when the ranges name more than one currency: a whole read rejects
 * the rows in currencies other than the first order's, which buckets read apart cannot tell.
 */
export function aggregateContext(
  plan: ShardPlan,
  partitions: readonly Pick<PartitionResult, "index" | "lines" | "currencies">[],
  settings: Pick<ComputeSettings, "asOf" | "rules">,
  options: { spend?: boolean; latestOrderDay?: string } = {},
): AggregateContext {
  const asOf = settings.asOf;
  if (typeof asOf !== "string" || parseDay(asOf) === undefined) {
    throw new ComputeError("BAD_AS_OF", "asOf must be a calendar date yyyy-mm-dd", "asOf");
  }
  const spend = options.spend ?? rulesReadShares(settings.rules);
  const lines = new Array<number>(plan.ranges.length).fill(-1);
  const currencies = new Set<string>();
  for (const p of partitions) {
    lines[p.index] = p.lines;
    for (const c of p.currencies) currencies.add(c);
  }
  const missing = lines.indexOf(-1);
  if (missing >= 0) throw new RangeError(`No partition result for range ${missing}`);
  if (currencies.size > 1) {
    throw new FileError(
      "UNSHARDABLE_FILE",
      `The file cannot be read in shards: its rows name more than one currency (${[...currencies].join(", ")})`,
    );
  }
  const latest = options.latestOrderDay;
  if (latest !== undefined && parseDay(latest) === undefined)
    throw new RangeError("latestOrderDay must be yyyy-mm-dd");
  return { plan, lines, asOf, spend, ...(latest === undefined ? {} : { latestOrderDay: latest }) };
}

/** Whether any rule reads a share trait (channel_share.*, category_share.*). */
export function rulesReadShares(rules: ComputeSettings["rules"]): boolean {
  const text = JSON.stringify(rules ?? []);
  return text.includes("channel_share") || text.includes("category_share");
}

export type PartSource = Uint8Array | AsyncIterable<Uint8Array>;

async function bytesOf(source: PartSource): Promise<Uint8Array> {
  if (source instanceof Uint8Array) return source;
  const chunks: Uint8Array[] = [];
  for await (const chunk of source) chunks.push(chunk);
  return chunks.length === 1 ? (chunks[0] as Uint8Array) : Buffer.concat(chunks);
}

/** Growable array of doubles. */
class Doubles {
  values = new Float64Array(1024);
  length = 0;
  /** Makes room for `more` values. */
  reserve(more: number): void {
    if (this.length + more <= this.values.length) return;
    const grown = new Float64Array(Math.max(this.length + more, this.values.length * 2));
    grown.set(this.values.subarray(0, this.length));
    this.values = grown;
  }
  push(value: number): void {
    if (this.length === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.length++] = value;
  }
}

/**
 * Orders other buckets hold, by the two lanes of their order_id hash (unsigned): a bucket rebuilt with them
 * rejects their lines as a whole read does (see mergePartials). Plain JSON.
 */
export interface ForeignOrders {
  readonly hi: readonly number[];
  readonly lo: readonly number[];
}

export interface BucketAggregate {
  /** The bucket's customers, totals, rejected rows and counts, for mergePartials. */
  readonly partial: Uint8Array;
  /**
   * The bucket's orders, for the check that no order_id is in two buckets (conflicts.ts), in ORDER_SLICES
   * slices by hash (slice s holds the hashes whose high lane is in [s, s + 1) * 2^32 / ORDER_SLICES), so that
   * slices can be checked apart. Each: u32 magic, bucket and count, then 16-byte records (u32 hash lanes hi
   * and lo, f64 row of the line that added the order) sorted by hash.
   */
  readonly orders: Uint8Array[];
}

/** Slices of every bucket's order list. */
export const ORDER_SLICES = 16;

export const ORDERS_MAGIC = 0x3144524f; // "ORD1"

/**
 * Aggregates bucket `bucket`: `parts` are its parts from ranges 0, 1, ... in order (bytes, or streams of
 * them). Returns the bucket's partial and order list for mergePartials. Throws the FileErrors of
 * ingestTransactions.
 */
export async function aggregateBucket(
  parts: Iterable<PartSource> | AsyncIterable<PartSource>,
  context: AggregateContext,
  bucket: number,
  options: { foreignOrders?: ForeignOrders } = {},
): Promise<BucketAggregate> {
  const { plan, lines } = context;
  const asOfDay = parseDay(context.asOf);
  if (asOfDay === undefined) throw new RangeError("asOf must be a date yyyy-mm-dd");
  const latestOrderDay = context.latestOrderDay === undefined ? undefined : parseDay(context.latestOrderDay);
  // The file's line number of the bucket's k-th line (k from 0): the header's line (headerLine + 1), plus 1,
  // plus the lines of earlier ranges, plus its index within its range.
  const rows = new Doubles();
  const firstLine = new Float64Array(lines.length);
  for (let r = 1; r < lines.length; r++)
    firstLine[r] = (firstLine[r - 1] as number) + (lines[r - 1] as number);

  async function* text(): AsyncGenerator<Uint8Array> {
    yield Buffer.from(`${plan.header}\n`, "utf8");
    let range = 0;
    for await (const source of parts) {
      if (range >= lines.length) throw new RangeError("More parts than ranges");
      const part = readPart(await bytesOf(source));
      const base = plan.headerLine + 2 + (firstLine[range] as number);
      rows.reserve(part.count);
      const values = rows.values;
      const lineOf = part.lines;
      let at = rows.length;
      for (let k = 0; k < part.count; k++) values[at++] = base + (lineOf[k] as number);
      rows.length = at;
      if (part.text.length > 0) yield part.text;
      range++;
    }
    if (range !== lines.length) throw new RangeError(`${lines.length - range} parts are missing`);
  }

  const errors: RowError[] = [];
  const firstRow = new Doubles();
  const orderRow = new Doubles();
  // The bucket's text is its header line and then one line per record, so its record on line l (as the
  // reader numbers it) is the bucket's (l - 2)-th line.
  const rowOf = (row: number) => rows.values[row - 2] as number;
  const state = new AggregateState();
  const amounts = { absoluteCents: 0 };
  let isForeignOrder: ((hi: number, lo: number) => boolean) | undefined;
  const foreign = options.foreignOrders;
  if (foreign !== undefined && foreign.hi.length > 0) {
    const keys = new Set(foreign.hi.map((hi, i) => `${hi >>> 0}:${(foreign.lo[i] as number) >>> 0}`));
    isForeignOrder = (hi, lo) => keys.has(`${hi >>> 0}:${lo >>> 0}`);
  }
  const report = await ingestTransactions(
    text(),
    {
      ...plan.reader,
      compression: "none",
      binaryProbeBytes: 0,
      // As the whole read's hint (size / 40), for this bucket's share of the upload.
      expectedOrders: (plan.size - plan.dataStart) / plan.buckets / 40,
      onRowError: (error) => errors.push({ ...error, row: rowOf(error.row) }),
      onCustomerAdded: (row) => firstRow.push(rowOf(row)),
      onOrderAdded: (row) => orderRow.push(rowOf(row)),
      ...(isForeignOrder === undefined ? {} : { isForeignOrder }),
      ...(latestOrderDay === undefined ? {} : { latestOrderDay }),
      totals: amounts,
    },
    state,
  );
  const orders = orderList(state, orderRow.values, bucket);
  const totals = customerTotals(state, asOfDay);
  const n = totals.stateIndex.length;
  const idEnds = new Uint32Array(n);
  let idBytes = 0;
  const keys = new Float64Array(n);
  for (let p = 0; p < n; p++) {
    const c = totals.stateIndex[p] as number;
    idBytes += state.customers.byteLengthOf(c);
    idEnds[p] = idBytes;
    keys[p] = firstRow.values[c] as number;
  }
  const idArena = new Uint8Array(idBytes);
  for (let p = 0; p < n; p++) {
    const c = totals.stateIndex[p] as number;
    const length = state.customers.byteLengthOf(c);
    idArena.set(state.customers.bytes(c).subarray(0, length), (idEnds[p] as number) - length);
  }
  const spend = spendOf(state, asOfDay, totals.stateIndex, context.spend);
  const purchaseDays = purchaseDaysOf(state, asOfDay, totals.stateIndex);
  const columns: PartialColumns = {
    firstRow: keys,
    monetaryCents: totals.monetaryCents,
    grossCents: totals.grossCents,
    firstDayCents: totals.firstDayCents,
    frequency: totals.frequency,
    returns: totals.returns,
    firstPurchaseDay: totals.firstPurchaseDay,
    lastPurchaseDay: totals.lastPurchaseDay,
    previousPurchaseDay: totals.previousPurchaseDay,
    purchaseDays: totals.purchaseDays,
    idEnds,
    idBytes: idArena,
    channelOffsets: spend.channel.offsets,
    channelCodes: spend.channel.codes,
    channelNet: spend.channel.net,
    categoryOffsets: spend.category.offsets,
    categoryCodes: spend.category.codes,
    categoryNet: spend.category.net,
    dayOffsets: purchaseDays.offsets,
    days: purchaseDays.days,
  };
  const names = (set: AggregateState["channels"]) => Array.from({ length: set.size }, (_, i) => set.get(i));
  const partial = encodePartial(
    {
      version: 1,
      bucket,
      customers: n,
      report,
      errors,
      currency: state.currency ?? null,
      channels: names(state.channels),
      categories: names(state.categories),
      channelEntries: spend.channel.codes.length,
      categoryEntries: spend.category.codes.length,
      idBytes,
      spend: context.spend,
      ordersAfterAsOf: totals.ordersAfterAsOf ?? 0,
      absoluteCents: amounts.absoluteCents,
      dayEntries: purchaseDays.days.length,
    },
    columns,
  );
  return { partial, orders };
}

/**
 * The state's orders sorted by hash: an LSD radix sort of the high lanes on 8-bit digits, carrying the low
 * lanes and order indices along so that every pass reads sequentially, then the rare runs of equal high
 * lanes put in low-lane order.
 */
function orderList(state: AggregateState, rows: Float64Array, bucket: number): Uint8Array[] {
  const n = state.orderCount;
  let hi = new Uint32Array(n);
  let lo = new Uint32Array(n);
  let order = new Uint32Array(n);
  for (let b = 0; b * ORDER_BLOCK_SIZE < n; b++) {
    const block = state.orderBlocks[b] as OrderBlock;
    const length = Math.min(ORDER_BLOCK_SIZE, n - b * ORDER_BLOCK_SIZE);
    hi.set(new Uint32Array(block.hi.buffer, 0, length), b * ORDER_BLOCK_SIZE);
    lo.set(new Uint32Array(block.lo.buffer, 0, length), b * ORDER_BLOCK_SIZE);
  }
  for (let i = 0; i < n; i++) order[i] = i;
  let hi2 = new Uint32Array(n);
  let lo2 = new Uint32Array(n);
  let order2 = new Uint32Array(n);
  const counts = new Uint32Array(257);
  for (let shift = 0; shift < 32; shift += 8) {
    counts.fill(0);
    for (let i = 0; i < n; i++) {
      const d = (((hi[i] as number) >>> shift) & 0xff) + 1;
      counts[d] = (counts[d] as number) + 1;
    }
    for (let d = 0; d < 256; d++) counts[d + 1] = (counts[d + 1] as number) + (counts[d] as number);
    for (let i = 0; i < n; i++) {
      const h = hi[i] as number;
      const d = (h >>> shift) & 0xff;
      const at = counts[d] as number;
      counts[d] = at + 1;
      hi2[at] = h;
      lo2[at] = lo[i] as number;
      order2[at] = order[i] as number;
    }
    [hi, hi2] = [hi2, hi];
    [lo, lo2] = [lo2, lo];
    [order, order2] = [order2, order];
  }
  for (let i = 1; i < n; i++) {
    // Insertion into the run of equal high lanes before i.
    let j = i;
    while (j > 0 && hi[j - 1] === hi[j] && (lo[j - 1] as number) > (lo[j] as number)) {
      const l = lo[j] as number;
      lo[j] = lo[j - 1] as number;
      lo[j - 1] = l;
      const o = order[j] as number;
      order[j] = order[j - 1] as number;
      order[j - 1] = o;
      j--;
    }
  }
  const slices: Uint8Array[] = [];
  let from = 0;
  for (let slice = 0; slice < ORDER_SLICES; slice++) {
    let to = from;
    while (to < n && Math.floor(((hi[to] as number) * ORDER_SLICES) / 4294967296) === slice) to++;
    const out = new Uint8Array(16 + 16 * (to - from));
    const view = new DataView(out.buffer);
    view.setUint32(0, ORDERS_MAGIC, true);
    view.setUint32(4, bucket, true);
    view.setUint32(8, to - from, true);
    for (let i = from; i < to; i++) {
      const at = 16 + 16 * (i - from);
      view.setUint32(at, hi[i] as number, true);
      view.setUint32(at + 4, lo[i] as number, true);
      view.setFloat64(at + 8, rows[order[i] as number] as number, true);
    }
    slices.push(out);
    from = to;
  }
  return slices;
}

interface Spend {
  offsets: Uint32Array;
  codes: Uint32Array;
  net: Float64Array;
}

/**
 * Each position's distinct purchase days (orders that are not returns, on or before asOf), ascending, as
 * customerTotals counts them: the merge works out the value stage's calibration totals from them.
 */
function purchaseDaysOf(
  state: AggregateState,
  asOfDay: number,
  stateIndex: Uint32Array,
): { offsets: Uint32Array; days: Int32Array } {
  const grouped = groupOrders(state, asOfDay, positionsOf(state.customerCount, stateIndex));
  const orders = grouped.orders;
  const n = stateIndex.length;
  const offsets = new Uint32Array(n + 1);
  const days = new Int32Array(orders.length);
  let size = 0;
  let scratch = new Int32Array(16);
  for (let p = 0; p < n; p++) {
    const from = grouped.offsets[p] as number;
    const to = grouped.offsets[p + 1] as number;
    if (scratch.length < to - from) scratch = new Int32Array(to - from);
    let k = 0;
    for (let j = from; j < to; j++) {
      const order = orders[j] as number;
      if (state.orderCents(order) >= 0) scratch[k++] = state.orderDay(order);
    }
    const sorted = scratch.subarray(0, k).sort();
    for (let j = 0; j < k; j++) {
      const d = sorted[j] as number;
      if (j === 0 || d !== sorted[j - 1]) days[size++] = d;
    }
    offsets[p + 1] = size;
  }
  return { offsets, days: days.slice(0, size) };
}

/** Net spend of each position in each channel and category code (0 = none) it has orders in. */
function spendOf(state: AggregateState, asOfDay: number, stateIndex: Uint32Array, wanted: boolean) {
  const n = stateIndex.length;
  const empty = (): Spend => ({
    offsets: new Uint32Array(n + 1),
    codes: new Uint32Array(0),
    net: new Float64Array(0),
  });
  if (!wanted || (state.channels.size === 0 && state.categories.size === 0)) {
    return { channel: empty(), category: empty() };
  }
  const { offsets, orders } = groupOrders(state, asOfDay, positionsOf(state.customerCount, stateIndex));
  const dimension = (size: number, codeOf: (order: number) => number): Spend => {
    if (size === 0) return empty();
    const net = new Float64Array(size + 1);
    const seen = new Int32Array(size + 1).fill(-1);
    const touched = new Uint32Array(size + 1);
    const outOffsets = new Uint32Array(n + 1);
    let outCodes = new Uint32Array(Math.max(16, orders.length));
    let outNet = new Float64Array(outCodes.length);
    let e = 0;
    for (let p = 0; p < n; p++) {
      let count = 0;
      for (let k = offsets[p] as number; k < (offsets[p + 1] as number); k++) {
        const order = orders[k] as number;
        const code = codeOf(order);
        if (seen[code] !== p) {
          seen[code] = p;
          touched[count++] = code;
          net[code] = 0;
        }
        net[code] = (net[code] as number) + state.orderCents(order);
      }
      if (e + count > outCodes.length) {
        const grownCodes = new Uint32Array((e + count) * 2);
        grownCodes.set(outCodes);
        outCodes = grownCodes;
        const grownNet = new Float64Array((e + count) * 2);
        grownNet.set(outNet);
        outNet = grownNet;
      }
      for (let t = 0; t < count; t++) {
        const code = touched[t] as number;
        outCodes[e] = code;
        outNet[e] = net[code] as number;
        e++;
      }
      outOffsets[p + 1] = e;
    }
    return { offsets: outOffsets, codes: outCodes.slice(0, e), net: outNet.slice(0, e) };
  };
  return {
    channel: dimension(state.channels.size, (o) => state.orderChannel(o)),
    category: dimension(state.categories.size, (o) => state.orderCategory(o)),
  };
}
