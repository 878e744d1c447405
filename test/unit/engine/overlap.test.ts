/**
 * Segment overlap (shared/engine/overlap.ts) against a plain Set computation: hand-made cases whose answers
 * are written out (empty, identical, disjoint, nested segments, the word edges at bits 0 and 31), random
 * segments of random densities, and 30 segments at once. Bitsets and sorted lists must agree.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  bitsetOf,
  cardinality,
  intersectionCount,
  intersectionPositions,
  MAX_OVERLAP_SEGMENTS,
  type OverlapPair,
  overlapOf,
  popcount32,
  positionsOf,
  sortedIntersectionCount,
} from "../../../shared/engine/overlap";

/** The overlap of a pair worked out with Sets, independently of the bitsets. */
function plainPair(a: ReadonlySet<number>, b: ReadonlySet<number>) {
  let count = 0;
  for (const x of a) if (b.has(x)) count++;
  let onlyB = 0;
  for (const x of b) if (!a.has(x)) onlyB++;
  const union = a.size + onlyB;
  const r = (p: number, w: number) => (w === 0 ? null : Math.round((p / w) * 1e6) / 1e6);
  return { count, union, shareOfA: r(count, a.size), shareOfB: r(count, b.size), jaccard: r(count, union) };
}

/** A deterministic generator (mulberry32), so that a failure reproduces. */
function random(seed: number): () => number {
  let t = seed >>> 0;
  return () => {
    t = (t + 0x6d2b79f5) >>> 0;
    let x = Math.imul(t ^ (t >>> 15), 1 | t);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

function check(sets: ReadonlySet<number>[], count: number) {
  const segments = sets.map((s, k) => ({ id: `rule:s${k}`, words: bitsetOf(s, count) }));
  const overlap = overlapOf(segments);
  expect(overlap.sizes).toEqual(sets.map((s, k) => ({ id: `rule:s${k}`, size: s.size })));
  const expected: OverlapPair[] = [];
  for (let i = 0; i < sets.length; i++) {
    for (let j = i + 1; j < sets.length; j++) {
      expected.push({
        a: `rule:s${i}`,
        b: `rule:s${j}`,
        ...plainPair(sets[i] as Set<number>, sets[j] as Set<number>),
      });
    }
  }
  expect(overlap.pairs).toEqual(expected);
  return overlap;
}

describe("popcount32", () => {
  it("counts the bits of edge words", () => {
    expect(popcount32(0)).toBe(0);
    expect(popcount32(1)).toBe(1);
    expect(popcount32(0x80000000)).toBe(1);
    expect(popcount32(0xffffffff)).toBe(32);
    expect(popcount32(-1)).toBe(32);
    expect(popcount32(0x55555555)).toBe(16);
    expect(popcount32(0x00ff00f0)).toBe(12);
  });
});

describe("overlap, hand-made", () => {
  it("answers written out by hand for five customers", () => {
    // A = {0,1,2}, B = {1,2,3,4}: A∩B = {1,2} (2), A∪B = 5; 2/3, 2/4, 2/5.
    const overlap = overlapOf([
      { id: "rfm:champions", words: bitsetOf([0, 1, 2], 5) },
      { id: "lifecycle:active", words: bitsetOf([1, 2, 3, 4], 5) },
    ]);
    expect(overlap).toEqual({
      sizes: [
        { id: "rfm:champions", size: 3 },
        { id: "lifecycle:active", size: 4 },
      ],
      pairs: [
        {
          a: "rfm:champions",
          b: "lifecycle:active",
          count: 2,
          union: 5,
          shareOfA: 0.666667,
          shareOfB: 0.5,
          jaccard: 0.4,
        },
      ],
    });
  });

  it("empty segments have no shares and no Jaccard, not a division by zero", () => {
    const [pair] = overlapOf([
      { id: "rule:a", words: bitsetOf([], 40) },
      { id: "rule:b", words: bitsetOf([], 40) },
    ]).pairs;
    expect(pair).toEqual({
      a: "rule:a",
      b: "rule:b",
      count: 0,
      union: 0,
      shareOfA: null,
      shareOfB: null,
      jaccard: null,
    });
    const [half] = overlapOf([
      { id: "rule:a", words: bitsetOf([], 40) },
      { id: "rule:b", words: bitsetOf([3, 39], 40) },
    ]).pairs;
    expect(half).toMatchObject({ count: 0, union: 2, shareOfA: null, shareOfB: 0, jaccard: 0 });
  });

  it("identical segments overlap wholly; disjoint ones not at all; a nested one is all inside", () => {
    const a = [0, 31, 32, 63, 64, 99];
    const [same] = overlapOf([
      { id: "rule:a", words: bitsetOf(a, 100) },
      { id: "rule:b", words: bitsetOf(a, 100) },
    ]).pairs;
    expect(same).toMatchObject({ count: 6, union: 6, shareOfA: 1, shareOfB: 1, jaccard: 1 });
    const [apart] = overlapOf([
      { id: "rule:a", words: bitsetOf(a, 100) },
      { id: "rule:b", words: bitsetOf([1, 30, 33, 62, 65, 98], 100) },
    ]).pairs;
    expect(apart).toMatchObject({ count: 0, union: 12, shareOfA: 0, shareOfB: 0, jaccard: 0 });
    const [nested] = overlapOf([
      { id: "rule:a", words: bitsetOf(a, 100) },
      { id: "rule:b", words: bitsetOf([31, 64], 100) },
    ]).pairs;
    // 2 of 6 = 0.333333; all of B; 2 of the union of 6.
    expect(nested).toMatchObject({ count: 2, union: 6, shareOfA: 0.333333, shareOfB: 1, jaccard: 0.333333 });
  });

  it("a position out of range is refused", () => {
    expect(() => bitsetOf([32], 32)).toThrow(RangeError);
    expect(() => bitsetOf([-1], 32)).toThrow(RangeError);
    expect(() => intersectionCount(new Uint32Array(1), new Uint32Array(2))).toThrow(RangeError);
  });
});

describe("overlap against Sets", () => {
  it("random segments of random densities, any customer count", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 300 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 2, maxLength: 6 }),
        fc.integer(),
        (count, densities, seed) => {
          const next = random(seed);
          const sets = densities.map((d) => {
            const s = new Set<number>();
            for (let p = 0; p < count; p++) if (next() < d) s.add(p);
            return s;
          });
          check(sets, count);
        },
      ),
      { numRuns: 200 },
    );
  });

  it(`${MAX_OVERLAP_SEGMENTS} segments over 10,000 customers`, () => {
    const next = random(14);
    const count = 10_000;
    const sets = Array.from({ length: MAX_OVERLAP_SEGMENTS }, (_, k) => {
      const s = new Set<number>();
      const density = k === 0 ? 0 : k === 1 ? 1 : (k % 7) / 7 + 0.01;
      for (let p = 0; p < count; p++) if (next() < density) s.add(p);
      return s;
    });
    const overlap = check(sets, count);
    expect(overlap.pairs).toHaveLength((MAX_OVERLAP_SEGMENTS * (MAX_OVERLAP_SEGMENTS - 1)) / 2);
    // Segment 1 holds everyone: its share of any other is that segment's size over 10,000.
    const everyone = overlap.pairs.find((p) => p.a === "rule:s1" && p.b === "rule:s2");
    expect(everyone?.count).toBe(sets[2]?.size);
  });
});

describe("positions", () => {
  it("sorted lists count the same intersections as bitsets", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 999 })),
        fc.uniqueArray(fc.integer({ min: 0, max: 999 })),
        (a, b) => {
          const bitsA = bitsetOf(a, 1000);
          const bitsB = bitsetOf(b, 1000);
          const listA = positionsOf(bitsA);
          const listB = positionsOf(bitsB);
          expect([...listA]).toEqual([...a].sort((x, y) => x - y));
          expect(cardinality(bitsA)).toBe(a.length);
          const plain = plainPair(new Set(a), new Set(b)).count;
          expect(intersectionCount(bitsA, bitsB)).toBe(plain);
          expect(sortedIntersectionCount(listA, listB)).toBe(plain);
        },
      ),
    );
  });

  it("pages of an intersection's positions, from any position, join up to the whole", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 199 })),
        fc.uniqueArray(fc.integer({ min: 0, max: 199 })),
        fc.integer({ min: 1, max: 7 }),
        (a, b, limit) => {
          const bitsA = bitsetOf(a, 200);
          const bitsB = bitsetOf(b, 200);
          const inB = new Set(b);
          const expected = a.filter((x) => inB.has(x)).sort((x, y) => x - y);
          const got: number[] = [];
          let from = 0;
          for (;;) {
            const page = intersectionPositions(bitsA, bitsB, from, limit);
            expect(page.positions.length).toBeLessThanOrEqual(limit);
            got.push(...page.positions);
            if (!page.more) break;
            expect(page.positions).toHaveLength(limit);
            from = (page.positions.at(-1) as number) + 1;
          }
          expect(got).toEqual(expected);
          // Starting mid-word skips exactly the positions before the start.
          const start = 37;
          expect(intersectionPositions(bitsA, bitsB, start, 1000).positions).toEqual(
            expected.filter((x) => x >= start),
          );
        },
      ),
    );
  });
});
