/**
 * The sharded read's order check (checkOrderSlice, by hashing) against the plain way of saying what it must
 * find: every record of every list in a map by hash; a hash with two records or more is kept by the record of
 * the earliest row, and every other record's bucket holds it foreign. Lists are built by hand, with hashes in
 * one bucket or several, three-way and same-bucket repeats, streams in small chunks, and enough records to
 * fill many of the check's groups.
 */
import { describe, expect, it } from "vitest";
import { type BucketForeignOrders, checkOrderSlice } from "../../../shared/engine/shard";
import { ORDERS_MAGIC } from "../../../shared/engine/shard/aggregate";

interface OrderRecord {
  hi: number;
  lo: number;
  row: number;
}

function listBytes(bucket: number, records: readonly OrderRecord[]): Uint8Array {
  const out = new Uint8Array(16 + 16 * records.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, ORDERS_MAGIC, true);
  view.setUint32(4, bucket, true);
  view.setUint32(8, records.length, true);
  records.forEach((r, i) => {
    view.setUint32(16 + 16 * i, r.hi, true);
    view.setUint32(20 + 16 * i, r.lo, true);
    view.setFloat64(24 + 16 * i, r.row, true);
  });
  return out;
}

/** What the check must find, by a map from each hash to its records. */
function reference(
  lists: readonly { bucket: number; records: readonly OrderRecord[] }[],
): BucketForeignOrders[] {
  const byHash = new Map<string, { bucket: number; record: OrderRecord }[]>();
  for (const { bucket, records } of lists) {
    for (const record of records) {
      const key = `${record.hi}:${record.lo}`;
      byHash.set(key, [...(byHash.get(key) ?? []), { bucket, record }]);
    }
  }
  const foreign = new Map<number, OrderRecord[]>();
  for (const entries of byHash.values()) {
    if (entries.length < 2) continue;
    const earliest = Math.min(...entries.map((e) => e.record.row));
    for (const e of entries) {
      if (e.record.row === earliest) continue;
      foreign.set(e.bucket, [...(foreign.get(e.bucket) ?? []), e.record]);
    }
  }
  return [...foreign.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([bucket, records]) => {
      const sorted = [...records].sort((a, b) => a.hi - b.hi || a.lo - b.lo);
      return { bucket, orders: { hi: sorted.map((r) => r.hi), lo: sorted.map((r) => r.lo) } };
    });
}

/** A seeded generator of 32-bit words (xorshift32). */
function words(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

async function* inChunks(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

describe("the order check", () => {
  it("finds nothing when every hash is in one list", async () => {
    const a = listBytes(0, [
      { hi: 1, lo: 2, row: 5 },
      { hi: 0xffffffff, lo: 0, row: 7 },
    ]);
    const b = listBytes(1, [
      { hi: 1, lo: 3, row: 6 },
      { hi: 2, lo: 2, row: 8 },
    ]);
    expect(await checkOrderSlice([a, b])).toEqual([]);
  });

  it("gives each order to the earliest row, by hand", async () => {
    const lists = [
      // Bucket 3 holds hash (9, 9) from row 40 and (7, 1) from row 2.
      {
        bucket: 3,
        records: [
          { hi: 9, lo: 9, row: 40 },
          { hi: 7, lo: 1, row: 2 },
        ],
      },
      // Bucket 1 holds (9, 9) from row 12 (the earliest) and (7, 1) from row 30.
      {
        bucket: 1,
        records: [
          { hi: 9, lo: 9, row: 12 },
          { hi: 7, lo: 1, row: 30 },
        ],
      },
      // Bucket 0 holds (9, 9) from row 50.
      { bucket: 0, records: [{ hi: 9, lo: 9, row: 50 }] },
    ];
    const found = await checkOrderSlice(lists.map((l) => listBytes(l.bucket, l.records)));
    expect(found).toEqual([
      { bucket: 0, orders: { hi: [9], lo: [9] } },
      { bucket: 1, orders: { hi: [7], lo: [1] } },
      { bucket: 3, orders: { hi: [9], lo: [9] } },
    ]);
    expect(found).toEqual(reference(lists));
  });

  it("finds what the map finds on many records, from bytes and from streams in small chunks", async () => {
    const next = words(20261207);
    const buckets = 7;
    const lists = Array.from({ length: buckets }, (_, bucket) => ({ bucket, records: [] as OrderRecord[] }));
    const all: OrderRecord[] = [];
    let row = 0;
    for (let i = 0; i < 60_000; i++) {
      const bucket = next() % buckets;
      const pick = next() % 100;
      const earlier = all[next() % Math.max(1, all.length)];
      // Mostly new hashes; some repeat an earlier one (in another bucket or the same), some share a lane only
      // (the high lane, with the low lane's low bits; or the low lane).
      const record =
        pick < 3 && earlier !== undefined
          ? { hi: earlier.hi, lo: earlier.lo, row: row++ }
          : pick < 5 && earlier !== undefined
            ? { hi: earlier.hi, lo: (earlier.lo ^ ((next() | 0x10000) & 0xffff0000)) >>> 0, row: row++ }
            : pick < 7 && earlier !== undefined
              ? { hi: next(), lo: earlier.lo, row: row++ }
              : { hi: next(), lo: next(), row: row++ };
      all.push(record);
      (lists[bucket] as { records: OrderRecord[] }).records.push(record);
    }
    // Rows are not in list order: shuffle each list's records.
    for (const list of lists) list.records.sort((a, b) => (a.lo ^ b.hi) - (b.lo ^ a.hi));
    const want = reference(lists);
    expect(want.length).toBe(buckets);
    expect(want.reduce((n, w) => n + w.orders.hi.length, 0)).toBeGreaterThan(1000);
    const bytes = lists.map((l) => listBytes(l.bucket, l.records));
    expect(await checkOrderSlice(bytes)).toEqual(want);
    expect(await checkOrderSlice(bytes.map((b) => () => inChunks(b, 100)))).toEqual(want);
  });

  it("refuses a list that is not one or is cut short", async () => {
    const good = listBytes(0, [{ hi: 1, lo: 1, row: 1 }]);
    await expect(checkOrderSlice([good, good.subarray(0, 20)])).rejects.toThrow("truncated");
    const bad = good.slice();
    bad[0] = 0;
    await expect(checkOrderSlice([good, bad])).rejects.toThrow("Not an order list");
  });
});
