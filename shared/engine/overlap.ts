/**
 * Overlap between segments: for each pair, how many customers they share, what share of each segment that
 * is, and their Jaccard index |A∩B| / |A∪B|.
 *
 * A segment's membership is a bitset over the version's customer positions (bit p of word p >>> 5), so a
 * pair costs one AND and one popcount per 32 customers whatever the segments' sizes. Sorted position lists
 * are the alternative; `npm run bench` measures both on a million customers (BENCHMARKS.md, "Overlap").
 */

/** Segments one overlap may compare. */
export const MAX_OVERLAP_SEGMENTS = 30;

/** Digits the shares and Jaccard indexes are rounded to. */
export const OVERLAP_DIGITS = 6;

/** Words of a bitset over `count` positions. */
export const wordsFor = (count: number): number => (count + 31) >>> 5;

/** Set bits of a 32-bit word (SWAR). */
export function popcount32(x: number): number {
  let v = x - ((x >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  v = (v + (v >>> 4)) & 0x0f0f0f0f;
  return Math.imul(v, 0x01010101) >>> 24;
}

/** A bitset over `count` positions with the given positions set; throws for a position out of range. */
export function bitsetOf(positions: Iterable<number>, count: number): Uint32Array {
  const words = new Uint32Array(wordsFor(count));
  for (const p of positions) {
    if (!Number.isInteger(p) || p < 0 || p >= count) throw new RangeError(`position ${p} out of range`);
    words[p >>> 5] = (words[p >>> 5] as number) | (1 << (p & 31));
  }
  return words;
}

/** Set bits of a bitset. */
export function cardinality(words: Uint32Array): number {
  let n = 0;
  for (let i = 0; i < words.length; i++) n += popcount32(words[i] as number);
  return n;
}

/** |A ∩ B| of two bitsets of the same length. */
export function intersectionCount(a: Uint32Array, b: Uint32Array): number {
  if (a.length !== b.length) throw new RangeError("bitsets of different lengths");
  let n = 0;
  for (let i = 0; i < a.length; i++) n += popcount32((a[i] as number) & (b[i] as number));
  return n;
}

/** |A ∩ B| of two ascending lists of distinct positions (merge walk), the alternative the bench measures. */
export function sortedIntersectionCount(a: Uint32Array, b: Uint32Array): number {
  let i = 0;
  let j = 0;
  let n = 0;
  while (i < a.length && j < b.length) {
    const x = a[i] as number;
    const y = b[j] as number;
    if (x === y) {
      n++;
      i++;
      j++;
    } else if (x < y) i++;
    else j++;
  }
  return n;
}

/** The ascending positions of a bitset's set bits. */
export function positionsOf(words: Uint32Array): Uint32Array {
  const out = new Uint32Array(cardinality(words));
  let k = 0;
  for (let w = 0; w < words.length; w++) {
    let word = words[w] as number;
    while (word !== 0) {
      const low = word & -word;
      out[k++] = (w << 5) + 31 - Math.clz32(low);
      word = (word ^ low) >>> 0;
    }
  }
  return out;
}

/**
 * Up to `limit` positions set in both bitsets, ascending, from position `from` on; `more` says whether any
 * further one exists.
 */
export function intersectionPositions(
  a: Uint32Array,
  b: Uint32Array,
  from: number,
  limit: number,
): { positions: number[]; more: boolean } {
  if (a.length !== b.length) throw new RangeError("bitsets of different lengths");
  const positions: number[] = [];
  const start = Math.max(0, from);
  for (let w = start >>> 5; w < a.length; w++) {
    let word = ((a[w] as number) & (b[w] as number)) >>> 0;
    if (w === start >>> 5) word = (word & ~((1 << (start & 31)) - 1)) >>> 0;
    while (word !== 0) {
      if (positions.length === limit) return { positions, more: true };
      const low = word & -word;
      positions.push((w << 5) + 31 - Math.clz32(low));
      word = (word ^ low) >>> 0;
    }
  }
  return { positions, more: false };
}

const ratio = (part: number, whole: number): number | null => {
  if (whole === 0) return null;
  const scale = 10 ** OVERLAP_DIGITS;
  return Math.round((part / whole) * scale) / scale;
};

export interface OverlapPair {
  a: string;
  b: string;
  /** |A ∩ B| */
  count: number;
  /** |A ∪ B| */
  union: number;
  /** |A ∩ B| / |A|; null when A is empty. */
  shareOfA: number | null;
  /** |A ∩ B| / |B|; null when B is empty. */
  shareOfB: number | null;
  /** |A ∩ B| / |A ∪ B|; null when both are empty. */
  jaccard: number | null;
}

export interface Overlap {
  sizes: { id: string; size: number }[];
  /** Every unordered pair once, (a, b) with a before b in the order the segments were given. */
  pairs: OverlapPair[];
}

/** The overlap of every pair of segments, each given as a bitset over the same positions. */
export function overlapOf(segments: readonly { id: string; words: Uint32Array }[]): Overlap {
  const sizes = segments.map((s) => ({ id: s.id, size: cardinality(s.words) }));
  const pairs: OverlapPair[] = [];
  for (let i = 0; i < segments.length; i++) {
    for (let j = i + 1; j < segments.length; j++) {
      const a = segments[i] as { id: string; words: Uint32Array };
      const b = segments[j] as { id: string; words: Uint32Array };
      const sizeA = (sizes[i] as { size: number }).size;
      const sizeB = (sizes[j] as { size: number }).size;
      const count = intersectionCount(a.words, b.words);
      const union = sizeA + sizeB - count;
      pairs.push({
        a: a.id,
        b: b.id,
        count,
        union,
        shareOfA: ratio(count, sizeA),
        shareOfB: ratio(count, sizeB),
        jaccard: ratio(count, union),
      });
    }
  }
  return { sizes, pairs };
}
