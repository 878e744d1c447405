/**
 * The merge's put-together against plainer ways of saying what it must give: positions by a window table
 * (assignPositions) against a sort of every key, and the partials held in memory gathered column by column
 * against the same partials loaded one at a time and scattered to their positions, byte for byte, on random
 * partials whose keys span several windows, with purchase days and spend.
 */
import { describe, expect, it } from "vitest";
import { mulberry32 } from "../../../scripts/random";
import {
  assignPositions,
  type BucketSummary,
  type PutTogether,
  putTogether,
} from "../../../shared/engine/shard/merge";
import { decodePartial, encodePartial, type PartialColumns } from "../../../shared/engine/shard/partial";

/** Distinct integers from [0, limit), `count` of them, in random order. */
function distinct(random: () => number, count: number, limit: number): number[] {
  const seen = new Set<number>();
  while (seen.size < count) seen.add(Math.floor(random() * limit));
  return [...seen];
}

/** The bucket and index of the customer at each position: every key sorted, each with its bucket and index. */
function sortedPositions(keys: readonly number[][]): { bucketAt: number[]; indexAt: number[] } {
  const all = keys.flatMap((k, b) => k.map((key, i) => ({ key, b, i })));
  all.sort((x, y) => x.key - y.key);
  return { bucketAt: all.map((x) => x.b), indexAt: all.map((x) => x.i) };
}

describe("assignPositions", () => {
  it("orders the customers of every bucket by key like a sort of all keys, across windows, sorted or not", () => {
    const random = mulberry32(11);
    const sizes = [0, 700, 5_000, 1, 3_000, 12_000, 2_500, 900, 40];
    const total = sizes.reduce((a, b) => a + b, 0);
    // Keys 0 and the windows' edges among them, the rest spread over five windows and a bit.
    const pool = [0, 65_535, 65_536, 131_071, 131_072, ...distinct(random, total, 5 * 65_536 + 123)];
    const unique = [...new Set(pool)].slice(0, total);
    const keys: number[][] = [];
    let at = 0;
    for (const [b, size] of sizes.entries()) {
      const mine = unique.slice(at, at + size);
      at += size;
      // Buckets 3 and 5 in arbitrary order (as with a base of customers); the others ascending.
      keys.push(b === 3 || b === 5 ? mine : mine.sort((x, y) => x - y));
    }
    expect(keys[5]?.some((k, i) => i > 0 && k < (keys[5]?.[i - 1] as number))).toBe(true);
    const got = assignPositions(
      keys.map((k) => Float64Array.from(k)),
      total,
    );
    const want = sortedPositions(keys);
    expect(Array.from(got.bucketAt)).toEqual(want.bucketAt);
    expect(Array.from(got.indexAt)).toEqual(want.indexAt);
  });

  it("refuses keys that are not distinct integers from 0", () => {
    const f = (...k: number[][]) => k.map((x) => Float64Array.from(x));
    expect(() => assignPositions(f([1, 70_000], [70_000]), 3)).toThrow(/same sort key/);
    expect(() => assignPositions(f([1, 2.5]), 2)).toThrow(/integer/);
    expect(() => assignPositions(f([-1, 2]), 2)).toThrow(/integer/);
    expect(() => assignPositions(f([1, 2]), 3)).toThrow(/2 customers, not 3/);
  });
});

interface RandomBucket {
  bytes: Uint8Array;
  keys: number[];
  ids: string[];
  days: number[][];
}

/** A random partial of bucket `bucket` whose customers have first rows `rows` (ascending). */
function randomPartial(
  random: () => number,
  bucket: number,
  rows: readonly number[],
  withDays: boolean,
): RandomBucket {
  const n = rows.length;
  const int = (limit: number) => Math.floor(random() * limit);
  const ids = rows.map((row) => `c${row}-${"x".repeat(int(9))}${int(1000)}`);
  const idBytes = Buffer.from(ids.join(""), "utf8");
  const days = rows.map(() => {
    const count = int(5);
    let day = 19_000 + int(100);
    return Array.from({ length: count }, () => {
      day += 1 + int(30);
      return day;
    });
  });
  const spendOf = () => rows.map(() => Array.from({ length: int(4) }, () => [int(4), int(100_000) / 100]));
  const channel = spendOf();
  const category = spendOf();
  const offsets = (runs: readonly unknown[][]) => {
    const out = new Uint32Array(n + 1);
    runs.forEach((run, i) => {
      out[i + 1] = (out[i] as number) + run.length;
    });
    return out;
  };
  let end = 0;
  const columns: PartialColumns = {
    firstRow: Float64Array.from(rows),
    monetaryCents: Float64Array.from(rows, () => int(1e9)),
    grossCents: Float64Array.from(rows, () => int(1e9)),
    firstDayCents: Float64Array.from(rows, () => int(1e7) + 0.5),
    frequency: Uint32Array.from(rows, () => 1 + int(50)),
    returns: Uint32Array.from(rows, () => int(3)),
    firstPurchaseDay: Int32Array.from(rows, () => 19_000 + int(700)),
    lastPurchaseDay: Int32Array.from(rows, () => 19_000 + int(700)),
    previousPurchaseDay: Int32Array.from(rows, () => (random() < 0.3 ? -2147483648 : 19_000 + int(700))),
    purchaseDays: Uint32Array.from(rows, () => int(40)),
    idEnds: Uint32Array.from(ids, (id) => {
      end += Buffer.byteLength(id);
      return end;
    }),
    idBytes,
    channelOffsets: offsets(channel),
    channelCodes: Uint32Array.from(channel.flat(), (e) => e[0] as number),
    channelNet: Float64Array.from(channel.flat(), (e) => e[1] as number),
    categoryOffsets: offsets(category),
    categoryCodes: Uint32Array.from(category.flat(), (e) => e[0] as number),
    categoryNet: Float64Array.from(category.flat(), (e) => e[1] as number),
    ...(withDays ? { dayOffsets: offsets(days), days: Int32Array.from(days.flat()) } : {}),
  };
  const bytes = encodePartial(
    {
      version: 1,
      bucket,
      customers: n,
      report: {
        rowsRead: n,
        rowsAccepted: n,
        rowsRejected: 0,
        ordersAdded: n,
        ordersDuplicate: 0,
        orderLinesMerged: 0,
      },
      errors: [],
      currency: null,
      channels: ["a", "b", "c"],
      categories: ["x", "y", "z"],
      channelEntries: columns.channelCodes.length,
      categoryEntries: columns.categoryCodes.length,
      idBytes: idBytes.length,
      spend: true,
      ...(withDays ? { dayEntries: (columns.days as Int32Array).length } : {}),
    },
    columns,
  );
  return { bytes, keys: [...rows], ids, days };
}

/** Every array of a put-together as bytes, by name. */
function bytesOf(put: PutTogether): Record<string, string> {
  const out: Record<string, string> = {};
  const add = (name: string, a: ArrayBufferView | undefined) => {
    out[name] =
      a === undefined ? "absent" : Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("base64");
  };
  for (const [name, column] of Object.entries(put.totals)) {
    if (typeof column !== "number") add(`totals.${name}`, column as ArrayBufferView);
  }
  add("idEnds", put.idEnds);
  add("ids", put.ids);
  // The holdout's totals as of days before, among and after every purchase day.
  for (const day of [18_000, 19_050, 19_120, 19_200, 19_400, 30_000]) {
    const t = put.totalsAsOf?.(day);
    add(`asOf ${day}.stateIndex`, t?.stateIndex);
    add(`asOf ${day}.firstPurchaseDay`, t?.firstPurchaseDay);
    add(`asOf ${day}.lastPurchaseDay`, t?.lastPurchaseDay);
    add(`asOf ${day}.purchaseDays`, t?.purchaseDays);
  }
  for (const family of ["channel", "category"] as const) {
    add(`${family}.offsets`, put.spend?.[family].offsets);
    add(`${family}.codes`, put.spend?.[family].codes);
    add(`${family}.net`, put.spend?.[family].net);
  }
  return out;
}

describe("putTogether", () => {
  for (const withDays of [true, false]) {
    it(`gathers partials held in memory into the bytes the loaders' scatter gives${withDays ? ", purchase days included" : " (a partial without days: none)"}`, async () => {
      const random = mulberry32(withDays ? 5 : 6);
      const sizes = [4_000, 0, 9_000, 2_500, 7_000];
      const total = sizes.reduce((a, b) => a + b, 0);
      const rows = distinct(random, total, 400_000).map((r) => r + 2);
      let at = 0;
      const buckets = sizes.map((size, b) => {
        const mine = rows.slice(at, at + size).sort((x, y) => x - y);
        at += size;
        // Without days: one bucket's partial has none, so the merged result has none either.
        return randomPartial(random, b, mine, withDays || b !== 2);
      });
      const { bucketAt, indexAt } = assignPositions(
        buckets.map((b) => Float64Array.from(b.keys)),
        total,
      );
      const summaries = (inMemory: boolean): BucketSummary[] =>
        buckets.map(({ bytes, keys }) => {
          const { meta, columns } = decodePartial(bytes);
          const common = { meta, keys: Float64Array.from(keys) };
          return inMemory
            ? { ...common, source: bytes, columns }
            : { ...common, source: async () => bytes.slice() };
        });
      const maps = (shift: number) =>
        sizes.map((_, b) => Uint32Array.from([0, 1, 2, 3], (c) => (c === 0 ? 0 : ((c + b + shift) % 5) + 1)));
      const spendMaps = { channel: maps(0), category: maps(2) };
      const asOf = 19_800;
      const gathered = await putTogether(summaries(true), bucketAt, indexAt, asOf, spendMaps);
      const scattered = await putTogether(summaries(false), bucketAt, indexAt, asOf, spendMaps);
      expect(bytesOf(gathered)).toEqual(bytesOf(scattered));
      expect(gathered.totalsAsOf === undefined).toBe(!withDays);

      // And worked out apart: position p holds the customer with the p-th smallest first row.
      const byRow = buckets
        .flatMap((bucket) =>
          bucket.keys.map((row, i) => ({ row, id: bucket.ids[i], days: bucket.days[i] ?? [] })),
        )
        .sort((x, y) => x.row - y.row);
      const decoder = new TextDecoder();
      for (let p = 0; p < total; p += 37) {
        const want = byRow[p] as { id: string; days: number[] };
        const start = p === 0 ? 0 : (gathered.idEnds[p - 1] as number);
        expect(decoder.decode(gathered.ids.subarray(start, gathered.idEnds[p] as number))).toBe(want.id);
        expect(gathered.totals.recencyDays[p]).toBe(asOf - (gathered.totals.lastPurchaseDay[p] as number));
        expect(gathered.totals.monetary[p]).toBe((gathered.totals.monetaryCents[p] as number) / 100);
      }
      if (withDays) {
        // The positions with a purchase day on or before 19,150, each with its first, last and count of them.
        const day = 19_150;
        const want = byRow.flatMap(({ days }, p) => {
          const before = days.filter((d) => d <= day);
          return before.length === 0 ? [] : [[p, before[0], before[before.length - 1], before.length]];
        });
        const t = gathered.totalsAsOf?.(day);
        expect(want.length).toBeGreaterThan(1000);
        expect(
          Array.from(t?.stateIndex ?? [], (p, k) => [
            p,
            t?.firstPurchaseDay[k],
            t?.lastPurchaseDay[k],
            t?.purchaseDays[k],
          ]),
        ).toEqual(want);
      }
    });
  }
});
