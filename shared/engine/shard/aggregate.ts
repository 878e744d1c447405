/**
 * The reduce step of a sharded read: one bucket's parts from every range, read in range order by
 * ingestTransactions itself (so order lines, duplicates and row errors behave as in a whole read), then the
 * per-customer totals of computeSegments' order pass, packed into a partial (partial.ts).
 */
import { endianness } from "node:os";
import { customerTotals } from "../compute";
import { parseDay } from "../days";
import { ComputeError, FileError } from "../errors";
import { ingestTransactions } from "../ingest";
import { groupOrders, positionsOf, purchaseDaysByPosition } from "../orders";
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
   * slices can be checked apart. Each: u32 magic, bucket, count and 0, then 16-byte records (u32 hash lanes hi
   * and lo, f64 row of the line that added the order), in the order the bucket added the orders.
   */
  readonly orders: Uint8Array[];
}

/** Slices of every bucket's order list. */
export const ORDER_SLICES = 16;

export const ORDERS_MAGIC = 0x3244524f; // "ORD2"

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
 * The state's orders in ORDER_SLICES slices by the high lane of their hash, in the order the bucket added
 * them: one pass counts each slice's records, a second writes them into the slices' lists. Nothing is
 * sorted; the check (conflicts.ts) finds equal hashes by hashing.
 */
function orderList(state: AggregateState, rows: Float64Array, bucket: number): Uint8Array[] {
  const n = state.orderCount;
  const counts = new Uint32Array(ORDER_SLICES);
  for (let b = 0; b * ORDER_BLOCK_SIZE < n; b++) {
    const hi = (state.orderBlocks[b] as OrderBlock).hi;
    const length = Math.min(ORDER_BLOCK_SIZE, n - b * ORDER_BLOCK_SIZE);
    for (let k = 0; k < length; k++) {
      const s = sliceOf(hi[k] as number);
      counts[s] = (counts[s] as number) + 1;
    }
  }
  const slices = Array.from({ length: ORDER_SLICES }, (_, slice) => {
    const out = new Uint8Array(16 + 16 * (counts[slice] as number));
    const view = new DataView(out.buffer);
    view.setUint32(0, ORDERS_MAGIC, true);
    view.setUint32(4, bucket, true);
    view.setUint32(8, counts[slice] as number, true);
    return out;
  });
  const little = endianness() === "LE";
  const words = slices.map((out) => new Uint32Array(out.buffer));
  const doubles = slices.map((out) => new Float64Array(out.buffer));
  const views = slices.map((out) => new DataView(out.buffer));
  // The next record of each slice.
  const next = new Uint32Array(ORDER_SLICES).fill(1);
  for (let b = 0; b * ORDER_BLOCK_SIZE < n; b++) {
    const block = state.orderBlocks[b] as OrderBlock;
    const length = Math.min(ORDER_BLOCK_SIZE, n - b * ORDER_BLOCK_SIZE);
    const base = b * ORDER_BLOCK_SIZE;
    for (let k = 0; k < length; k++) {
      const h = (block.hi[k] as number) >>> 0;
      const l = (block.lo[k] as number) >>> 0;
      const row = rows[base + k] as number;
      const s = sliceOf(h);
      const r = next[s] as number;
      next[s] = r + 1;
      if (little) {
        const w = words[s] as Uint32Array;
        w[4 * r] = h;
        w[4 * r + 1] = l;
        (doubles[s] as Float64Array)[2 * r + 1] = row;
      } else {
        const view = views[s] as DataView;
        view.setUint32(16 * r, h, true);
        view.setUint32(16 * r + 4, l, true);
        view.setFloat64(16 * r + 8, row, true);
      }
    }
  }
  return slices;
}

/** The slice of an order list a hash's high lane (as a signed or unsigned 32-bit integer) belongs to. */
export function sliceOf(hi: number): number {
  return Math.floor(((hi >>> 0) * ORDER_SLICES) / 4294967296);
}

interface Spend {
  offsets: Uint32Array;
  codes: Uint32Array;
  net: Float64Array;
}

/**
 * Each position's distinct purchase days (orders that are not returns, on or before asOf), ascending, as
 * customerTotals counts them: the merge works out the value stage's calibration totals from them. The days
 * are grouped by position (purchaseDaysByPosition, a counting sort straight from the order blocks); a
 * position's days come in the order of its orders, so they are sorted only when they are not in order
 * already, then written once each.
 */
function purchaseDaysOf(
  state: AggregateState,
  asOfDay: number,
  stateIndex: Uint32Array,
): { offsets: Uint32Array; days: Int32Array } {
  const n = stateIndex.length;
  const { offsets: starts, days } = purchaseDaysByPosition(
    state,
    asOfDay,
    positionsOf(state.customerCount, stateIndex),
    n,
  );
  // Each position's distinct days written over its group, from the front: the write never passes the read.
  const offsets = new Uint32Array(n + 1);
  let size = 0;
  for (let p = 0; p < n; p++) {
    const from = starts[p] as number;
    const to = starts[p + 1] as number;
    let ordered = true;
    for (let j = from + 1; j < to && ordered; j++) ordered = (days[j - 1] as number) <= (days[j] as number);
    if (!ordered) days.subarray(from, to).sort();
    for (let j = from; j < to; j++) {
      const d = days[j] as number;
      if (j === from || d !== days[j - 1]) days[size++] = d;
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
