/**
 * compressSummary against a Map keyed by the (x, t_x, T) triple: triples in order of first occurrence, summed
 * weights, and every customer's triple, for a few or many thousands of distinct triples (the table grows),
 * whole days (grouped by packed keys from 4,096 customers) or not, values at the packing's limits included.
 * The sorted grouping (compressSorted, what compressSummary uses for whole days whose keys fit 31 bits) is
 * held to the hash table's (compressPacked) and the Map's, at and past its keys' width; the pairs of triples
 * to compressSummary of (x, T, T).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compressSummary } from "../../../shared/engine/clv";
import {
  type CompressedSummary,
  compressByDoubles,
  compressPacked,
  compressSorted,
  pairsOf,
} from "../../../shared/engine/clv/data";

function model(x: number[], tx: number[], T: number[], weight?: number[]) {
  const groups = new Map<string, { x: number; tx: number; T: number; weight: number; id: number }>();
  const index: number[] = [];
  x.forEach((xi, i) => {
    const key = `${xi}|${tx[i]}|${T[i]}`;
    let group = groups.get(key);
    if (group === undefined) {
      group = { x: xi, tx: tx[i] as number, T: T[i] as number, weight: 0, id: groups.size };
      groups.set(key, group);
    }
    group.weight += weight === undefined ? 1 : (weight[i] as number);
    index.push(group.id);
  });
  const list = [...groups.values()];
  return {
    x: list.map((g) => g.x),
    tx: list.map((g) => g.tx),
    T: list.map((g) => g.T),
    weight: list.map((g) => g.weight),
    index,
  };
}

/** Numbers in [0, 1) from a linear congruential generator seeded with `seed`. */
function lcg(seed: number): () => number {
  let s = seed;
  return () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 4294967296;
  };
}

describe("compressSummary", () => {
  it("groups equal triples in order of first occurrence, however many there are", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 30_000 }),
        fc.integer({ min: 1, max: 400 }),
        fc.boolean(),
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        (n, spread, weighted, seed) => {
          const next = lcg(seed);
          const x: number[] = [];
          const tx: number[] = [];
          const T: number[] = [];
          const weight: number[] = [];
          for (let i = 0; i < n; i++) {
            const xi = Math.floor(next() * 10);
            const Ti = Math.floor(next() * spread) + 1;
            x.push(xi);
            T.push(Ti);
            tx.push(xi === 0 ? 0 : Math.floor(next() * Ti));
            weight.push(Math.floor(next() * 3) + 0.5);
          }
          const expected = model(x, tx, T, weighted ? weight : undefined);
          const c = compressSummary(
            { x: Float64Array.from(x), tx: Float64Array.from(tx), T: Float64Array.from(T) },
            weighted ? weight : undefined,
          );
          expect(Array.from(c.x)).toEqual(expected.x);
          expect(Array.from(c.tx)).toEqual(expected.tx);
          expect(Array.from(c.T)).toEqual(expected.T);
          expect(Array.from(c.weight)).toEqual(expected.weight);
          expect(Array.from(c.index)).toEqual(expected.index);
        },
      ),
      { seed: 5, numRuns: 30 },
    );
  });
  it("groups the same with packed keys as by the doubles' bits, at and past the packing's limits", () => {
    // Values either side of the limits of packing (x below 2^20, t_x and T below 2^16), -0, and fractions:
    // with one of the last two or a value past a limit the whole data is grouped by the doubles' bits.
    const xs = [0, -0, 1, 2, 2 ** 20 - 1, 2 ** 20, 2 ** 20 + 1, 2 ** 32, 0.5];
    const ts = [0, -0, 1, 7, 65_535, 65_536, 65_537, 2 ** 32 + 3, 1.25];
    fc.assert(
      fc.property(
        fc.integer({ min: 4096, max: 12_000 }),
        fc.constantFrom("packable", "past a limit", "fractions"),
        fc.boolean(),
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        (n, kind, weighted, seed) => {
          const next = lcg(seed);
          const pick = (values: number[], last: number) => values[Math.floor(next() * last)] as number;
          const x: number[] = [];
          const tx: number[] = [];
          const T: number[] = [];
          const weight: number[] = [];
          for (let i = 0; i < n; i++) {
            // Mostly a few small values (so that triples repeat), some at the limits.
            const limits = next() < 0.2;
            const xi = limits ? pick(xs, kind === "packable" ? 5 : 7) : Math.floor(next() * 4);
            const ti = limits ? pick(ts, kind === "packable" ? 5 : 7) : Math.floor(next() * 5);
            x.push(xi);
            tx.push(ti);
            T.push(limits ? pick(ts, kind === "packable" ? 5 : 7) : ti + Math.floor(next() * 3));
            weight.push(Math.floor(next() * 3) + 0.5);
          }
          if (kind === "fractions") tx[Math.floor(next() * n)] = 0.5;
          const data = { x: Float64Array.from(x), tx: Float64Array.from(tx), T: Float64Array.from(T) };
          const w = weighted ? weight : undefined;
          // Grouped triples carry t_x and T with -0 as 0 (x as it came).
          const expected = model(
            x,
            tx.map((v) => v + 0),
            T.map((v) => v + 0),
            w,
          );
          for (const c of [compressSummary(data, w), compressByDoubles(data, w)]) {
            expect(Array.from(c.x)).toEqual(expected.x);
            expect(Array.from(c.tx)).toEqual(expected.tx);
            expect(Array.from(c.T)).toEqual(expected.T);
            expect(Array.from(c.weight)).toEqual(expected.weight);
            expect(Array.from(c.index)).toEqual(expected.index);
          }
        },
      ),
      { seed: 7, numRuns: 30 },
    );
  });
  it("tells apart triples that a looser packing would give one key", () => {
    // Pairs whose keys x · 2^32 + t_x · 2^16 + T would be equal, or round to equal, were t_x or T allowed to
    // reach 2^16 or x 2^21: each pair is past a limit, so grouped by the doubles' bits, two triples.
    const pairs = [
      [
        [1, 65_536, 70_000],
        [2, 0, 70_000],
      ],
      [
        [0, 1, 0],
        [0, 0, 65_536],
      ],
      [
        [2 ** 21 + 1, 0, 0],
        [2 ** 21 + 1, 0, 1],
      ],
    ];
    const n = 5000;
    for (const pair of pairs) {
      const rows = Array.from({ length: n }, (_, i) => pair[(i * 7) % 3 === 0 ? 0 : 1] as number[]);
      const x = rows.map((r) => r[0] as number);
      const tx = rows.map((r) => r[1] as number);
      const T = rows.map((r) => r[2] as number);
      const c = compressSummary({
        x: Float64Array.from(x),
        tx: Float64Array.from(tx),
        T: Float64Array.from(T),
      });
      const expected = model(x, tx, T);
      expect(c.x.length).toBe(2);
      expect(Array.from(c.x)).toEqual(expected.x);
      expect(Array.from(c.tx)).toEqual(expected.tx);
      expect(Array.from(c.T)).toEqual(expected.T);
      expect(Array.from(c.weight)).toEqual(expected.weight);
      expect(Array.from(c.index)).toEqual(expected.index);
    }
  });

  it("groups the same by sorting as by the hash table and the Map, at and past the sort keys' 31 bits", () => {
    // x, t_x and T take the bits of their largest values: 11 + 10 + 10 = 31 bits fit, 32 do not.
    const widths = [
      { x: 2 ** 11 - 1, t: 2 ** 10 - 1, fits: true },
      { x: 2 ** 11, t: 2 ** 10 - 1, fits: false },
      { x: 3, t: 2 ** 15 - 1, fits: false },
      { x: 2 ** 20 - 1, t: 7, fits: true },
    ];
    fc.assert(
      fc.property(
        fc.integer({ min: 4096, max: 20_000 }),
        fc.constantFrom(...widths),
        fc.boolean(),
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        (n, width, weighted, seed) => {
          const next = lcg(seed);
          const x: number[] = [];
          const tx: number[] = [];
          const T: number[] = [];
          const weight: number[] = [];
          for (let i = 0; i < n; i++) {
            // Mostly small values, so that triples repeat; some at the largest; -0 now and then.
            const big = next() < 0.1;
            const xi = big ? width.x : next() < 0.05 ? -0 : Math.floor(next() * 5);
            const Ti = big ? width.t : Math.floor(next() * 9);
            x.push(xi);
            T.push(Ti);
            tx.push(next() < 0.05 ? -0 : Math.floor(next() * (Ti + 1)));
            weight.push(Math.floor(next() * 3) + 0.25);
          }
          // The largest values at least once, so that the keys take their full width.
          x[0] = width.x;
          tx[0] = width.t;
          T[0] = width.t;
          const data = { x: Float64Array.from(x), tx: Float64Array.from(tx), T: Float64Array.from(T) };
          const w = weighted ? weight : undefined;
          const sorted = compressSorted(data, w);
          expect(sorted === undefined).toBe(!width.fits);
          const expected = model(
            x,
            tx.map((v) => v + 0),
            T.map((v) => v + 0),
            w,
          );
          const packed = compressPacked(data, undefined, w);
          for (const c of [compressSummary(data, w), packed, ...(sorted === undefined ? [] : [sorted])]) {
            // Object.is: -0 stays apart from 0 where x came as -0 first.
            expect(Array.from(c.x).every((v, k) => Object.is(v, packed.x[k]))).toBe(true);
            expect(Array.from(c.x)).toEqual(expected.x);
            expect(Array.from(c.tx)).toEqual(expected.tx);
            expect(Array.from(c.T)).toEqual(expected.T);
            expect(Array.from(c.weight)).toEqual(expected.weight);
            expect(Array.from(c.index)).toEqual(expected.index);
          }
        },
      ),
      { seed: 11, numRuns: 24 },
    );
  });
  it("gives the pairs of triples as compressSummary of (x, T, T)", () => {
    const triples: CompressedSummary[] = [];
    for (const n of [100, 20_000]) {
      const x = Float64Array.from({ length: n }, (_, i) => (i * 7) % 3);
      const T = Float64Array.from({ length: n }, (_, i) => 30 + ((i * 13) % (n < 1000 ? 5 : 97)));
      const tx = Float64Array.from(T, (t, i) => (i * 5) % (t + 1));
      triples.push(compressSummary({ x, tx, T }));
    }
    for (const c of triples) {
      const expected = model(Array.from(c.x), Array.from(c.T), Array.from(c.T));
      const pairs = pairsOf(c);
      expect(pairs.x.length).toBeLessThan(c.x.length);
      expect(Array.from(pairs.x)).toEqual(expected.x);
      expect(Array.from(pairs.tx)).toEqual(expected.tx);
      expect(Array.from(pairs.T)).toEqual(expected.T);
      expect(Array.from(pairs.weight)).toEqual(expected.weight);
      expect(Array.from(pairs.index)).toEqual(expected.index);
    }
  });
});
