/**
 * The one thing buckets cannot see alone: an order_id whose lines name customers of different buckets. A
 * whole read gives the order to the customer of its first accepted line and rejects the other customers'
 * lines (ORDER_CUSTOMER_MISMATCH); buckets would each keep an order. So every bucket lists its orders sorted
 * by hash (aggregate.ts) and this streaming k-way merge of the lists finds the hashes in more than one
 * bucket: the bucket whose line came first keeps the order, the others are to be rebuilt with it foreign.
 */
import type { ForeignOrders } from "./aggregate";
import { ORDERS_MAGIC } from "./aggregate";

/** An order list: its bytes, or a function opening a stream of them (say, an object store's GET). */
export type OrderListSource =
  | Uint8Array
  | (() => AsyncIterable<Uint8Array> | Promise<AsyncIterable<Uint8Array>>);

const RECORD = 16;

/** Sequential reader of one order list's records. */
class ListReader {
  bucket = -1;
  hi = 0;
  lo = 0;
  row = 0;
  private buf = new Uint8Array(0);
  private view = new DataView(this.buf.buffer);
  private at = 0;
  private left = 0;
  private iterator: AsyncIterator<Uint8Array> | undefined;
  private ended = false;

  constructor(private readonly source: OrderListSource) {}

  /** Reads the header and the first record; false when the list is empty. */
  async open(): Promise<boolean> {
    const source = this.source;
    const iterable =
      source instanceof Uint8Array
        ? (async function* () {
            yield source;
          })()
        : await source();
    this.iterator = iterable[Symbol.asyncIterator]();
    if (!(await this.fill(16))) throw new Error("The order list is truncated");
    if (this.view.getUint32(this.at, true) !== ORDERS_MAGIC) throw new Error("Not an order list");
    this.bucket = this.view.getUint32(this.at + 4, true);
    this.left = this.view.getUint32(this.at + 8, true);
    this.at += 16;
    return this.next();
  }

  /** Moves to the next record; false at the end. */
  async next(): Promise<boolean> {
    if (this.left === 0) return false;
    if (this.buf.length - this.at < RECORD && !(await this.fill(RECORD))) {
      throw new Error("The order list is truncated");
    }
    this.read();
    return true;
  }

  /** next() without waiting, when the record is already buffered; undefined when it is not. */
  nextBuffered(): boolean | undefined {
    if (this.left === 0) return false;
    if (this.buf.length - this.at < RECORD) return undefined;
    this.read();
    return true;
  }

  private read(): void {
    const view = this.view;
    this.hi = view.getUint32(this.at, true);
    this.lo = view.getUint32(this.at + 4, true);
    this.row = view.getFloat64(this.at + 8, true);
    this.at += RECORD;
    this.left--;
  }

  private async fill(bytes: number): Promise<boolean> {
    while (this.buf.length - this.at < bytes) {
      if (this.ended) return false;
      const next = await (this.iterator as AsyncIterator<Uint8Array>).next();
      if (next.done) {
        this.ended = true;
        continue;
      }
      const rest = this.buf.subarray(this.at);
      const joined = new Uint8Array(rest.length + next.value.length);
      joined.set(rest);
      joined.set(next.value, rest.length);
      this.buf = joined;
      this.view = new DataView(joined.buffer, joined.byteOffset, joined.byteLength);
      this.at = 0;
    }
    return true;
  }

  async close(): Promise<void> {
    await this.iterator?.return?.();
  }
}

/** The orders of one bucket that another bucket holds from an earlier row. */
export interface BucketForeignOrders {
  readonly bucket: number;
  readonly orders: ForeignOrders;
}

/**
 * Checks one slice of the order lists: `sources` are that slice's lists from every bucket. Returns the
 * buckets to rebuild with their foreign orders (empty when no order_id is in two buckets). Plain JSON.
 */
export async function checkOrderSlice(sources: readonly OrderListSource[]): Promise<BucketForeignOrders[]> {
  const found = await findForeignOrders(sources);
  return [...found.entries()].sort((a, b) => a[0] - b[0]).map(([bucket, orders]) => ({ bucket, orders }));
}

/** The foreign orders of the check results of every slice, by bucket. */
export function combineForeignOrders(
  results: readonly (readonly BucketForeignOrders[])[],
): Map<number, ForeignOrders> {
  const out = new Map<number, { hi: number[]; lo: number[] }>();
  for (const list of results) {
    for (const { bucket, orders } of list) {
      let entry = out.get(bucket);
      if (entry === undefined) {
        entry = { hi: [], lo: [] };
        out.set(bucket, entry);
      }
      for (let i = 0; i < orders.hi.length; i++) {
        entry.hi.push(orders.hi[i] as number);
        entry.lo.push(orders.lo[i] as number);
      }
    }
  }
  return out;
}

/** The foreign orders of each bucket that must be rebuilt (empty when no order_id is in two buckets). */
async function findForeignOrders(sources: readonly OrderListSource[]): Promise<Map<number, ForeignOrders>> {
  const readers = sources.map((s) => new ListReader(s));
  const foreign = new Map<number, { hi: number[]; lo: number[] }>();
  try {
    const heap: ListReader[] = [];
    for (const reader of readers) if (await reader.open()) heap.push(reader);
    if (heap.length < 2) return foreign;
    const less = (a: ListReader, b: ListReader) => a.hi < b.hi || (a.hi === b.hi && a.lo < b.lo);
    const down = (i: number) => {
      const n = heap.length;
      for (;;) {
        const l = 2 * i + 1;
        let m = i;
        if (l < n && less(heap[l] as ListReader, heap[m] as ListReader)) m = l;
        if (l + 1 < n && less(heap[l + 1] as ListReader, heap[m] as ListReader)) m = l + 1;
        if (m === i) return;
        const t = heap[i] as ListReader;
        heap[i] = heap[m] as ListReader;
        heap[m] = t;
        i = m;
      }
    };
    for (let i = (heap.length >> 1) - 1; i >= 0; i--) down(i);
    // Records come out in hash order; a run of equal hashes comes from different buckets.
    let groupHi = -1;
    let groupLo = -1;
    const buckets: number[] = [];
    const rows: number[] = [];
    const flush = () => {
      if (buckets.length < 2) return;
      let owner = 0;
      for (let k = 1; k < rows.length; k++) if ((rows[k] as number) < (rows[owner] as number)) owner = k;
      for (let k = 0; k < buckets.length; k++) {
        if (k === owner) continue;
        const bucket = buckets[k] as number;
        let list = foreign.get(bucket);
        if (list === undefined) {
          list = { hi: [], lo: [] };
          foreign.set(bucket, list);
        }
        list.hi.push(groupHi);
        list.lo.push(groupLo);
      }
    };
    while (heap.length > 0) {
      const top = heap[0] as ListReader;
      if (top.hi !== groupHi || top.lo !== groupLo) {
        flush();
        groupHi = top.hi;
        groupLo = top.lo;
        buckets.length = 0;
        rows.length = 0;
      }
      buckets.push(top.bucket);
      rows.push(top.row);
      const more = top.nextBuffered() ?? (await top.next());
      if (!more) {
        const last = heap.pop() as ListReader;
        if (heap.length === 0) break;
        heap[0] = last;
      }
      down(0);
    }
    flush();
    return foreign;
  } finally {
    await Promise.all(readers.map((r) => r.close()));
  }
}
