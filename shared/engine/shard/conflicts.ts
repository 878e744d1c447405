/**
 * The one thing buckets cannot see alone: an order_id whose lines name customers of different buckets. A
 * whole read gives the order to the customer of its first accepted line and rejects the other customers'
 * lines (ORDER_CUSTOMER_MISMATCH); buckets would each keep an order. So every bucket lists its orders' hashes
 * in slices by hash (aggregate.ts), and the check of a slice finds the hashes in more than one bucket's list
 * by hashing them: the bucket whose line came first keeps the order, the others are to be rebuilt with it
 * foreign.
 */
import type { ForeignOrders } from "./aggregate";
import { ORDERS_MAGIC } from "./aggregate";

/** An order list: its bytes, or a function opening a stream of them (say, an object store's GET). */
export type OrderListSource =
  | Uint8Array
  | (() => AsyncIterable<Uint8Array> | Promise<AsyncIterable<Uint8Array>>);

const RECORD = 16;

/** A list's bytes, whole. */
async function bytesOf(source: OrderListSource): Promise<Uint8Array> {
  if (source instanceof Uint8Array) return source;
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of await source()) {
    chunks.push(chunk);
    total += chunk.length;
  }
  if (chunks.length === 1) return chunks[0] as Uint8Array;
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/** One order list, checked: its bucket, records and bytes. */
interface List {
  bucket: number;
  count: number;
  view: DataView;
}

function openList(bytes: Uint8Array): List {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 16) throw new Error("The order list is truncated");
  if (view.getUint32(0, true) !== ORDERS_MAGIC) throw new Error("Not an order list");
  const count = view.getUint32(8, true);
  if (bytes.length < 16 + RECORD * count) throw new Error("The order list is truncated");
  return { bucket: view.getUint32(4, true), count, view };
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

/** Records per group of the check's first pass, about: a group's table stays in the processor's caches. */
const GROUP_RECORDS = 4096;

/**
 * The foreign orders of each bucket that must be rebuilt (empty when no order_id is in two buckets). Every
 * record goes to a group by the low bits of its hash's low lane (a counting pass, then a scatter), and each
 * group's records go into a small open-addressing table of their hashes: a record whose hash is already in
 * it joins that hash's entries. Of the entries of one hash (from two buckets or more, or twice from one),
 * the one of the earliest row keeps the order and every other names its bucket as holding it foreign.
 */
async function findForeignOrders(sources: readonly OrderListSource[]): Promise<Map<number, ForeignOrders>> {
  const lists = (await Promise.all(sources.map(bytesOf))).map(openList);
  const foreign = new Map<number, { hi: number[]; lo: number[] }>();
  let n = 0;
  for (const list of lists) n += list.count;
  if (lists.filter((l) => l.count > 0).length < 2) return foreign;
  // Every record by its number g (the lists one after another): its hash lanes.
  const his = new Uint32Array(n);
  const los = new Uint32Array(n);
  const listStart = new Float64Array(lists.length + 1);
  let g = 0;
  lists.forEach((list, i) => {
    listStart[i] = g;
    const view = list.view;
    for (let r = 0; r < list.count; r++) {
      his[g] = view.getUint32(16 + RECORD * r, true);
      los[g] = view.getUint32(20 + RECORD * r, true);
      g++;
    }
  });
  listStart[lists.length] = n;
  let groupBits = 0;
  while (groupBits < 16 && n >> groupBits > GROUP_RECORDS) groupBits++;
  const groups = 1 << groupBits;
  const groupMask = groups - 1;
  const starts = new Uint32Array(groups + 1);
  for (let i = 0; i < n; i++) {
    const k = ((los[i] as number) & groupMask) + 1;
    starts[k] = (starts[k] as number) + 1;
  }
  let largest = 0;
  for (let k = 0; k < groups; k++) {
    largest = Math.max(largest, starts[k + 1] as number);
    starts[k + 1] = (starts[k + 1] as number) + (starts[k] as number);
  }
  const byGroup = new Uint32Array(n);
  const fill = starts.slice(0, groups);
  for (let i = 0; i < n; i++) {
    const k = (los[i] as number) & groupMask;
    const at = fill[k] as number;
    fill[k] = at + 1;
    byGroup[at] = i;
  }
  let tableBits = 1;
  while (1 << tableBits < 2 * largest) tableBits++;
  const table = new Int32Array(1 << tableBits);
  // Pairs (first record of a hash, a later record of the same hash).
  const firsts: number[] = [];
  const laters: number[] = [];
  for (let k = 0; k < groups; k++) {
    const from = starts[k] as number;
    const to = starts[k + 1] as number;
    if (to - from < 2) continue;
    let bits = 1;
    while (1 << bits < 2 * (to - from)) bits++;
    const mask = (1 << bits) - 1;
    table.fill(-1, 0, mask + 1);
    for (let j = from; j < to; j++) {
      const i = byGroup[j] as number;
      const h = his[i] as number;
      const l = los[i] as number;
      let slot = Math.imul(h ^ (l >>> groupBits), 0x9e3779b1) >>> (32 - bits);
      for (;;) {
        const there = table[slot] as number;
        if (there < 0) {
          table[slot] = i;
          break;
        }
        if (his[there] === h && los[there] === l) {
          firsts.push(there);
          laters.push(i);
          break;
        }
        slot = (slot + 1) & mask;
      }
    }
  }
  if (firsts.length === 0) return foreign;
  // The list of record i, and the row of its line.
  const listAt = (i: number) => {
    let at = 0;
    while ((listStart[at + 1] as number) <= i) at++;
    return at;
  };
  const listOf = (i: number) => lists[listAt(i)] as List;
  const rowOf = (i: number) => {
    const at = listAt(i);
    return (lists[at] as List).view.getFloat64(24 + RECORD * (i - (listStart[at] as number)), true);
  };
  const entries = new Map<number, number[]>();
  firsts.forEach((first, p) => {
    let list = entries.get(first);
    if (list === undefined) {
      list = [first];
      entries.set(first, list);
    }
    list.push(laters[p] as number);
  });
  const found: { bucket: number; hi: number; lo: number }[] = [];
  for (const records of entries.values()) {
    const rows = records.map(rowOf);
    let owner = 0;
    for (let k = 1; k < rows.length; k++) if ((rows[k] as number) < (rows[owner] as number)) owner = k;
    records.forEach((i, k) => {
      if (k !== owner) found.push({ bucket: listOf(i).bucket, hi: his[i] as number, lo: los[i] as number });
    });
  }
  found.sort((a, b) => a.hi - b.hi || a.lo - b.lo);
  for (const { bucket, hi, lo } of found) {
    let list = foreign.get(bucket);
    if (list === undefined) {
      list = { hi: [], lo: [] };
      foreign.set(bucket, list);
    }
    list.hi.push(hi);
    list.lo.push(lo);
  }
  return foreign;
}
