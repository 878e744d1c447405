/**
 * Segment profiles with lift: for each segment, what its members spend on (categories, channels) and how its
 * customer attributes are distributed, each against the whole base, with k-suppression (suppression.ts).
 *
 * Inputs are what a run holds in memory: segments as bitsets over result positions (bit p of word p >>> 5,
 * as overlap.ts), per-customer net spend per channel and category value (compute.ts SpendByValue), and
 * attribute columns by position. One pass over the customers serves every segment and every table.
 *
 * - Spend (category, channel): a customer's net spend in a value (returns included) counts as 0 when negative,
 *   as traits.ts's shares do. A segment's share of a value is Σ over members of that spend ÷ Σ over members
 *   and over all values (and orders without one) of it; the base share the same over all customers; lift =
 *   share ÷ base share. Buyers are the members with a positive net spend in the value. Sums are integer cents.
 *   The table shows the `top` values with the largest spend among those with ≥ k buyers, then "other" (every
 *   remaining value, its buyers unknown, so it is hidden unless one of its values alone has ≥ k buyers) and
 *   "unassigned" (orders without a value).
 * - Categorical attributes: the `top` values with ≥ k members by count, "other" (the rest) and "missing";
 *   share = count ÷ segment size, lift against the base's share.
 * - Numeric attributes: quartiles (linear interpolation between order statistics, the "type 7" definition:
 *   position (n − 1)·p of the sorted values) and the mean, of the members holding a value, beside the base's;
 *   hidden when fewer than k members hold a value. A column of few distinct values (ProfileOptions.histogramLimit)
 *   is counted per value in the pass and its quartiles read from the counts; others are sorted per segment.
 * - Dates: counts by month ("2024-03") when the base's dates span at most 36 calendar months, otherwise by
 *   year ("2024"), every bucket in order, plus "missing".
 * Shares, lifts, quartiles and means are rounded half away from zero to 4 decimals (reading.ts).
 */
import type { SpendByValue } from "../compute";
import { attributeReading, numericReading, roundTo, spendReading } from "./reading";
import { suppressTable } from "./suppression";

/** Smallest count of customers a profile shows, by default. */
export const DEFAULT_PROFILE_K = 10;
/** Values each table lists by name, by default. */
export const DEFAULT_PROFILE_TOP = 10;
/** The widest span of dates (calendar months) still counted by month. */
export const MONTH_BUCKET_SPAN = 36;

export interface ProfileSegment {
  readonly id: string;
  /** Members as a bitset over positions 0..customerCount−1. */
  readonly members: Uint32Array;
}

export interface SpendDimension {
  readonly dimension: "category" | "channel";
  /** Code c names values[c − 1]; code 0 is orders without a value. */
  readonly values: readonly string[];
  readonly spend: SpendByValue;
}

export type ProfileAttribute =
  /** codes[p]: 0 missing, c the value values[c − 1]. */
  | {
      readonly kind: "categorical";
      readonly name: string;
      readonly values: readonly string[];
      readonly codes: ArrayLike<number>;
    }
  /** NaN is missing. */
  | { readonly kind: "numeric"; readonly name: string; readonly values: ArrayLike<number> }
  /** Day numbers (days since 1970-01-01 UTC); NaN is missing. */
  | { readonly kind: "date"; readonly name: string; readonly days: ArrayLike<number> };

export interface ProfileInput {
  readonly customerCount: number;
  readonly segments: readonly ProfileSegment[];
  readonly dimensions?: readonly SpendDimension[];
  readonly attributes?: readonly ProfileAttribute[];
}

export interface ProfileOptions {
  /** Cells on fewer customers than this are hidden (default 10). */
  readonly k?: number;
  /** Values listed by name per table (default 10). */
  readonly top?: number;
  /**
   * Distinct values up to which a numeric attribute's quartiles are read from counts per value rather than
   * from each segment's sorted values (default 4096); both give the same answer, counts are faster.
   */
  readonly histogramLimit?: number;
}

export type Hidden = { readonly value: string; readonly suppressed: true };

export type SpendItem =
  | Hidden
  | {
      readonly value: string;
      readonly suppressed: false;
      /** Members with a positive net spend in the value; null for "other" (not counted in the one pass). */
      readonly buyers: number | null;
      readonly netCents: number;
      readonly share: number;
      readonly baseShare: number;
      readonly lift: number | null;
      readonly reading?: string;
    };

export interface SpendProfile {
  readonly dimension: "category" | "channel";
  /**
   * Σ over members of their positive net spend per value, in cents; null when fewer than k members have a
   * positive net spend anywhere (the total would describe too few people).
   */
  readonly totalCents: number | null;
  readonly items: SpendItem[];
  /** The values not listed, together; absent when there are none. */
  readonly other?: SpendItem;
  /** Orders without a value; absent when the segment has none. */
  readonly unassigned?: SpendItem;
}

export type CountItem =
  | Hidden
  | {
      readonly value: string;
      readonly suppressed: false;
      readonly count: number;
      readonly share: number;
      readonly baseShare: number;
      readonly lift: number | null;
      readonly reading?: string;
    };

export interface CategoricalProfile {
  readonly kind: "categorical";
  readonly name: string;
  readonly items: CountItem[];
  /** The values not listed, together; absent when the base has none. */
  readonly other?: CountItem;
  /** Members without a value; absent when the whole base has one. */
  readonly missing?: CountItem;
}

export interface Quartiles {
  readonly q1: number;
  readonly median: number;
  readonly q3: number;
  readonly mean: number;
}

export interface NumericProfile {
  readonly kind: "numeric";
  readonly name: string;
  /** Members holding a value, and members without; hidden under the table rule. */
  readonly present: CountItem;
  readonly missing: CountItem;
  /** null when fewer than k members hold a value. */
  readonly segment: Quartiles | null;
  readonly base: Quartiles | null;
  readonly reading?: string;
}

export interface DateProfile {
  readonly kind: "date";
  readonly name: string;
  readonly bucket: "month" | "year";
  readonly items: CountItem[];
  /** Members without a date; absent when the whole base has one. */
  readonly missing?: CountItem;
}

export type AttributeProfile = CategoricalProfile | NumericProfile | DateProfile;

export interface SegmentLiftProfile {
  readonly segmentId: string;
  readonly size: number;
  readonly spend: SpendProfile[];
  readonly attributes: AttributeProfile[];
}

/** Profiles of every segment, in the input's order; one pass over the customers. */
export function profileSegments(input: ProfileInput, options: ProfileOptions = {}): SegmentLiftProfile[] {
  const k = options.k ?? DEFAULT_PROFILE_K;
  const top = options.top ?? DEFAULT_PROFILE_TOP;
  if (!(Number.isInteger(k) && k >= 1)) throw new RangeError("k must be a whole number of at least 1");
  if (!(Number.isInteger(top) && top >= 0)) throw new RangeError("top must be a whole number");
  const n = input.customerCount;
  const segments = input.segments;
  const S = segments.length;
  const dimensions = input.dimensions ?? [];
  const attributes = input.attributes ?? [];
  const { offsets, list, sizes } = membershipLists(segments, n);

  // Accumulators: per dimension, [segment][code] cents and buyers (row S is the whole base).
  const spendAcc = dimensions.map((d) => {
    const width = d.values.length + 1;
    return {
      width,
      cents: new Float64Array((S + 1) * width),
      buyers: new Uint32Array((S + 1) * width),
      spenders: new Uint32Array(S + 1),
    };
  });
  const dateKeys = attributes.map((a) => (a.kind === "date" ? dateBucketsOf(a.days, n) : undefined));
  const countAcc = attributes.map((a, j) => {
    const width =
      a.kind === "categorical"
        ? a.values.length + 1
        : a.kind === "date"
          ? (dateKeys[j]?.labels.length ?? 0) + 1
          : 2;
    return { width, counts: new Uint32Array((S + 1) * width) };
  });
  // Numeric attributes with few distinct values: counts per value and segment (row S the base), filled in
  // the pass. Others: the values of each segment (and the base), filled in the same pass, sorted after it.
  const histogramLimit = options.histogramLimit ?? HISTOGRAM_LIMIT;
  const histograms = attributes.map((a) =>
    a.kind === "numeric" ? histogramOf(a.values, n, S, histogramLimit) : undefined,
  );
  const numericValues = attributes.map((a, j) => {
    if (a.kind !== "numeric" || histograms[j] !== undefined) return undefined;
    let present = 0;
    for (let p = 0; p < n; p++) if (!Number.isNaN(a.values[p] as number)) present++;
    const arrays: Float64Array[] = [];
    // Each segment's values fit in an array of its size; filled[s] says how many it holds after the pass.
    for (let s = 0; s < S; s++) arrays.push(new Float64Array(sizes[s] as number));
    const base = new Float64Array(present);
    arrays.push(base);
    return { base, filled: new Uint32Array(S + 1), arrays };
  });

  for (let p = 0; p < n; p++) {
    const from = offsets[p] as number;
    const to = offsets[p + 1] as number;
    for (let d = 0; d < dimensions.length; d++) {
      const { spend } = dimensions[d] as SpendDimension;
      const acc = spendAcc[d] as (typeof spendAcc)[number];
      const { width, cents, buyers } = acc;
      let spent = false;
      for (let e = spend.offsets[p] as number; e < (spend.offsets[p + 1] as number); e++) {
        const v = spend.net[e] as number;
        if (!(v > 0)) continue;
        spent = true;
        const code = spend.codes[e] as number;
        let at = S * width + code;
        cents[at] = (cents[at] as number) + v;
        buyers[at] = (buyers[at] as number) + 1;
        for (let m = from; m < to; m++) {
          at = (list[m] as number) * width + code;
          cents[at] = (cents[at] as number) + v;
          buyers[at] = (buyers[at] as number) + 1;
        }
      }
      if (spent) {
        acc.spenders[S] = (acc.spenders[S] as number) + 1;
        for (let m = from; m < to; m++)
          acc.spenders[list[m] as number] = (acc.spenders[list[m] as number] as number) + 1;
      }
    }
    for (let j = 0; j < attributes.length; j++) {
      const a = attributes[j] as ProfileAttribute;
      const { width, counts } = countAcc[j] as (typeof countAcc)[number];
      let code: number;
      if (a.kind === "categorical") code = a.codes[p] as number;
      else if (a.kind === "date") code = (dateKeys[j] as DateBuckets).codes[p] as number;
      else {
        const x = a.values[p] as number;
        code = Number.isNaN(x) ? 0 : 1;
        const histogram = histograms[j];
        if (histogram !== undefined) {
          const v = histogram.codes[p] as number;
          if (v > 0) {
            const { width: w, counts: c } = histogram;
            c[S * w + v - 1] = (c[S * w + v - 1] as number) + 1;
            for (let m = from; m < to; m++) {
              const at = (list[m] as number) * w + v - 1;
              c[at] = (c[at] as number) + 1;
            }
          }
        } else if (code === 1) {
          const values = numericValues[j] as NonNullable<(typeof numericValues)[number]>;
          values.base[(values.filled[S] as number)++] = x;
          for (let m = from; m < to; m++) {
            const s = list[m] as number;
            (values.arrays[s] as Float64Array)[(values.filled[s] as number)++] = x;
          }
        }
      }
      counts[S * width + code] = (counts[S * width + code] as number) + 1;
      for (let m = from; m < to; m++) {
        const at = (list[m] as number) * width + code;
        counts[at] = (counts[at] as number) + 1;
      }
    }
  }

  const quartilesAt = (j: number, s: number): Quartiles | null => {
    const histogram = histograms[j];
    if (histogram !== undefined) {
      const row = histogram.counts.subarray(s * histogram.width, (s + 1) * histogram.width);
      let present = 0;
      for (let v = 0; v < row.length; v++) present += row[v] as number;
      return present >= k ? quartilesOfCounts(row, histogram.values, present) : null;
    }
    const values = numericValues[j];
    if (values === undefined) return null;
    const sorted = (values.arrays[s] as Float64Array).subarray(0, values.filled[s]).sort();
    return sorted.length >= k ? quartilesOf(sorted) : null;
  };
  const baseQuartiles = attributes.map((a, j) => (a.kind === "numeric" ? quartilesAt(j, S) : null));

  const out: SegmentLiftProfile[] = [];
  for (let s = 0; s < S; s++) {
    const spend = dimensions.map((d, i) =>
      spendTable(d, spendAcc[i] as (typeof spendAcc)[number], s, S, k, top),
    );
    const profiles: AttributeProfile[] = attributes.map((a, j) => {
      const { width, counts } = countAcc[j] as (typeof countAcc)[number];
      const row = counts.subarray(s * width, (s + 1) * width);
      const base = counts.subarray(S * width, (S + 1) * width);
      const size = sizes[s] as number;
      if (a.kind === "categorical") return categoricalTable(a.name, a.values, row, base, size, n, k, top);
      if (a.kind === "date") {
        const buckets = dateKeys[j] as DateBuckets;
        return dateTable(a.name, buckets, row, base, size, n, k);
      }
      return numericTable(a.name, quartilesAt(j, s), baseQuartiles[j] ?? null, row, base, size, n, k);
    });
    out.push({
      segmentId: (segments[s] as ProfileSegment).id,
      size: sizes[s] as number,
      spend,
      attributes: profiles,
    });
  }
  return out;
}

/** Each position's segments (indexes into the input), as CSR lists, and each segment's size. */
function membershipLists(segments: readonly ProfileSegment[], n: number) {
  const words = (n + 31) >>> 5;
  const counts = new Uint32Array(n + 1);
  const sizes = new Uint32Array(segments.length);
  // Bits past position n − 1 in the last word would name customers that do not exist.
  const tail = n & 31;
  for (const [s, segment] of segments.entries()) {
    const members = segment.members;
    if (members.length !== words)
      throw new RangeError("a segment's bitset does not match the customer count");
    if (tail !== 0 && (members[words - 1] as number) >>> tail !== 0) {
      throw new RangeError(`segment ${segment.id} holds a position past the last customer`);
    }
    let size = 0;
    for (let w = 0; w < words; w++) {
      let word = members[w] as number;
      while (word !== 0) {
        const low = word & -word;
        const p = (w << 5) + 31 - Math.clz32(low);
        counts[p + 1] = (counts[p + 1] as number) + 1;
        size++;
        word = (word ^ low) >>> 0;
      }
    }
    sizes[s] = size;
  }
  const offsets = new Uint32Array(n + 1);
  for (let p = 0; p < n; p++) offsets[p + 1] = (offsets[p] as number) + (counts[p + 1] as number);
  const list = new Uint32Array(offsets[n] as number);
  const next = offsets.slice(0, n);
  for (const [s, segment] of segments.entries()) {
    const members = segment.members;
    for (let w = 0; w < words; w++) {
      let word = members[w] as number;
      while (word !== 0) {
        const low = word & -word;
        const p = (w << 5) + 31 - Math.clz32(low);
        list[(next[p] as number)++] = s;
        word = (word ^ low) >>> 0;
      }
    }
  }
  return { offsets, list, sizes };
}

function liftOf(share: number, baseShare: number): number | null {
  return baseShare > 0 ? roundTo(share / baseShare) : null;
}

function spendTable(
  d: SpendDimension,
  acc: { width: number; cents: Float64Array; buyers: Uint32Array; spenders: Uint32Array },
  s: number,
  S: number,
  k: number,
  top: number,
): SpendProfile {
  const { width, cents, buyers } = acc;
  const row = s * width;
  const base = S * width;
  let total = 0;
  let baseTotal = 0;
  for (let c = 0; c < width; c++) {
    total += cents[row + c] as number;
    baseTotal += cents[base + c] as number;
  }
  // Values with k or more buyers, by spend (then by code, so the order is stable).
  const eligible: number[] = [];
  for (let c = 1; c < width; c++) if ((buyers[row + c] as number) >= k) eligible.push(c);
  eligible.sort((a, b) => (cents[row + b] as number) - (cents[row + a] as number) || a - b);
  const listed = eligible.slice(0, top);
  const inOther: number[] = [];
  const isListed = new Uint8Array(width);
  for (const c of listed) isListed[c] = 1;
  for (let c = 1; c < width; c++) if (isListed[c] === 0 && (buyers[row + c] as number) > 0) inOther.push(c);
  let otherCents = 0;
  let otherBase = 0;
  let otherMaxBuyers = 0;
  for (const c of inOther) {
    otherCents += cents[row + c] as number;
    otherBase += cents[base + c] as number;
    otherMaxBuyers = Math.max(otherMaxBuyers, buyers[row + c] as number);
  }
  // Cells: the listed values, other (its buyers known only to be ≥ its largest value's), unassigned.
  const counts = listed.map((c) => buyers[row + c] as number);
  const forced = listed.map(() => false);
  counts.push(otherMaxBuyers);
  forced.push(inOther.length > 0 && otherMaxBuyers < k);
  counts.push(buyers[row] as number);
  forced.push(false);
  const hidden = suppressTable(counts, k, forced);
  const item = (
    value: string,
    c: number,
    segCents: number,
    baseCents: number,
    i: number,
    read: boolean,
  ): SpendItem => {
    if (hidden[i]) return { value, suppressed: true };
    const share = total > 0 ? segCents / total : 0;
    const baseShare = baseTotal > 0 ? baseCents / baseTotal : 0;
    const lift = liftOf(share, baseShare);
    return {
      value,
      suppressed: false,
      buyers: c,
      netCents: segCents,
      share: roundTo(share),
      baseShare: roundTo(baseShare),
      lift,
      ...(read && lift !== null ? { reading: spendReading(d.dimension, value, share / baseShare) } : {}),
    };
  };
  const items = listed.map((c, i) =>
    item(
      d.values[c - 1] as string,
      buyers[row + c] as number,
      cents[row + c] as number,
      cents[base + c] as number,
      i,
      true,
    ),
  );
  const totalCents = (acc.spenders[s] as number) >= k ? total : null;
  const profile: SpendProfile = { dimension: d.dimension, totalCents, items };
  const withOther =
    inOther.length > 0
      ? {
          ...profile,
          other: otherItem(hidden[listed.length] === true, otherCents, otherBase, total, baseTotal),
        }
      : profile;
  return (buyers[row] as number) > 0
    ? {
        ...withOther,
        unassigned: item(
          "unassigned",
          buyers[row] as number,
          cents[row] as number,
          cents[base] as number,
          listed.length + 1,
          false,
        ),
      }
    : withOther;
}

/** "other" of a spend table: its share and lift but no count of buyers (not counted in one pass). */
function otherItem(
  hidden: boolean,
  cents: number,
  baseCents: number,
  total: number,
  baseTotal: number,
): SpendItem {
  if (hidden) return { value: "other", suppressed: true };
  const share = total > 0 ? cents / total : 0;
  const baseShare = baseTotal > 0 ? baseCents / baseTotal : 0;
  return {
    value: "other",
    suppressed: false,
    buyers: null,
    netCents: cents,
    share: roundTo(share),
    baseShare: roundTo(baseShare),
    lift: liftOf(share, baseShare),
  };
}

function countItem(
  value: string,
  hidden: boolean,
  count: number,
  baseCount: number,
  size: number,
  baseSize: number,
  reading?: (lift: number) => string,
): CountItem {
  if (hidden) return { value, suppressed: true };
  const share = size > 0 ? count / size : 0;
  const baseShare = baseSize > 0 ? baseCount / baseSize : 0;
  const lift = liftOf(share, baseShare);
  return {
    value,
    suppressed: false,
    count,
    share: roundTo(share),
    baseShare: roundTo(baseShare),
    lift,
    ...(reading !== undefined && lift !== null && count > 0 ? { reading: reading(share / baseShare) } : {}),
  };
}

function categoricalTable(
  name: string,
  values: readonly string[],
  row: Uint32Array,
  base: Uint32Array,
  size: number,
  baseSize: number,
  k: number,
  top: number,
): CategoricalProfile {
  const eligible: number[] = [];
  for (let c = 1; c < row.length; c++) if ((row[c] as number) >= k) eligible.push(c);
  eligible.sort((a, b) => (row[b] as number) - (row[a] as number) || a - b);
  const listed = eligible.slice(0, top);
  let shown = 0;
  let baseShown = 0;
  for (const c of listed) {
    shown += row[c] as number;
    baseShown += base[c] as number;
  }
  const missing = row[0] as number;
  const other = size - missing - shown;
  const baseOther = baseSize - (base[0] as number) - baseShown;
  const hasOther = listed.length < row.length - 1 && baseOther > 0;
  const counts = [...listed.map((c) => row[c] as number), hasOther ? other : 0, missing];
  const hidden = suppressTable(counts, k);
  const items = listed.map((c, i) =>
    countItem(
      values[c - 1] as string,
      hidden[i] === true,
      row[c] as number,
      base[c] as number,
      size,
      baseSize,
      (l) => attributeReading(name, values[c - 1] as string, l),
    ),
  );
  return {
    kind: "categorical",
    name,
    items,
    ...(hasOther
      ? { other: countItem("other", hidden[listed.length] === true, other, baseOther, size, baseSize) }
      : {}),
    ...((base[0] as number) > 0
      ? {
          missing: countItem(
            "missing",
            hidden[listed.length + 1] === true,
            missing,
            base[0] as number,
            size,
            baseSize,
          ),
        }
      : {}),
  };
}

function dateTable(
  name: string,
  buckets: DateBuckets,
  row: Uint32Array,
  base: Uint32Array,
  size: number,
  baseSize: number,
  k: number,
): DateProfile {
  const hidden = suppressTable(Array.from(row), k);
  const items = buckets.labels.map((label, i) =>
    countItem(
      label,
      hidden[i + 1] === true,
      row[i + 1] as number,
      base[i + 1] as number,
      size,
      baseSize,
      (l) => attributeReading(name, label, l, true),
    ),
  );
  const missing = row[0] as number;
  return {
    kind: "date",
    name,
    bucket: buckets.unit,
    items,
    ...((base[0] as number) > 0
      ? { missing: countItem("missing", hidden[0] === true, missing, base[0] as number, size, baseSize) }
      : {}),
  };
}

function numericTable(
  name: string,
  segment: Quartiles | null,
  base: Quartiles | null,
  row: Uint32Array,
  baseRow: Uint32Array,
  size: number,
  baseSize: number,
  k: number,
): NumericProfile {
  const present = row[1] as number;
  const missing = row[0] as number;
  const hidden = suppressTable([present, missing], k);
  return {
    kind: "numeric",
    name,
    present: countItem("present", hidden[0] === true, present, baseRow[1] as number, size, baseSize),
    missing: countItem("missing", hidden[1] === true, missing, baseRow[0] as number, size, baseSize),
    segment,
    base,
    ...(segment !== null && base !== null
      ? { reading: numericReading(name, segment.median, base.median) }
      : {}),
  };
}

/** The "type 7" quantile of ascending values: linear between the order statistics around (n − 1)·p. */
export function quantileSorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const h = (n - 1) * p;
  const lo = Math.floor(h);
  const a = sorted[lo] as number;
  if (lo + 1 >= n) return a;
  return a + (h - lo) * ((sorted[lo + 1] as number) - a);
}

function quartilesOf(sorted: Float64Array): Quartiles {
  let sum = 0;
  for (let i = 0; i < sorted.length; i++) sum += sorted[i] as number;
  return {
    q1: roundTo(quantileSorted(sorted, 0.25)),
    median: roundTo(quantileSorted(sorted, 0.5)),
    q3: roundTo(quantileSorted(sorted, 0.75)),
    mean: roundTo(sum / sorted.length),
  };
}

/** Distinct values up to which quartiles come from counts per value (ProfileOptions.histogramLimit). */
const HISTOGRAM_LIMIT = 4096;

interface Histogram {
  /** The distinct values, ascending. */
  readonly values: Float64Array;
  /** Per position: 0 missing, v the value values[v − 1]. */
  readonly codes: Uint32Array;
  readonly width: number;
  /** Members per segment (row S: every customer) and value. */
  readonly counts: Uint32Array;
}

/** Counts per distinct value of a numeric column, or undefined when it has more than `limit` of them. */
function histogramOf(column: ArrayLike<number>, n: number, S: number, limit: number): Histogram | undefined {
  const index = new Map<number, number>();
  for (let p = 0; p < n; p++) {
    const x = column[p] as number;
    if (Number.isNaN(x) || index.has(x)) continue;
    if (index.size >= limit) return undefined;
    index.set(x, 0);
  }
  const values = Float64Array.from(index.keys()).sort();
  for (let v = 0; v < values.length; v++) index.set(values[v] as number, v + 1);
  const codes = new Uint32Array(n);
  for (let p = 0; p < n; p++) {
    const x = column[p] as number;
    if (!Number.isNaN(x)) codes[p] = index.get(x) as number;
  }
  return { values, codes, width: values.length, counts: new Uint32Array((S + 1) * values.length) };
}

/** quartilesOf for values given as counts per distinct ascending value. */
function quartilesOfCounts(counts: Uint32Array, values: Float64Array, present: number): Quartiles {
  // The j-th smallest value (0-based).
  const at = (j: number) => {
    let seen = 0;
    for (let v = 0; v < counts.length; v++) {
      seen += counts[v] as number;
      if (seen > j) return values[v] as number;
    }
    return Number.NaN;
  };
  const quantile = (p: number) => {
    const h = (present - 1) * p;
    const lo = Math.floor(h);
    const a = at(lo);
    return lo + 1 >= present ? a : a + (h - lo) * (at(lo + 1) - a);
  };
  let sum = 0;
  for (let v = 0; v < counts.length; v++) sum += (counts[v] as number) * (values[v] as number);
  return {
    q1: roundTo(quantile(0.25)),
    median: roundTo(quantile(0.5)),
    q3: roundTo(quantile(0.75)),
    mean: roundTo(sum / present),
  };
}

interface DateBuckets {
  readonly unit: "month" | "year";
  readonly labels: string[];
  /** Bucket code per position: 0 missing, b the bucket labels[b − 1]. */
  readonly codes: Uint32Array;
}

/** Widest span of days whose buckets are kept in a table while bucketing. */
const DAY_TABLE_LIMIT = 1 << 20;

/** Month index (year·12 + month − 1) of a day number. */
function monthOf(day: number): number {
  const date = new Date(day * 86_400_000);
  return date.getUTCFullYear() * 12 + date.getUTCMonth();
}

/** Buckets of a date column: by month when the base spans at most MONTH_BUCKET_SPAN months, else by year. */
export function dateBucketsOf(days: ArrayLike<number>, n: number): DateBuckets {
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  for (let p = 0; p < n; p++) {
    const d = days[p] as number;
    if (Number.isNaN(d)) continue;
    if (d < first) first = d;
    if (d > last) last = d;
  }
  const codes = new Uint32Array(n);
  if (first > last) return { unit: "month", labels: [], codes };
  const m0 = monthOf(first);
  const m1 = monthOf(last);
  const byMonth = m1 - m0 + 1 <= MONTH_BUCKET_SPAN;
  const y0 = Math.floor(m0 / 12);
  const labels: string[] = [];
  if (byMonth) {
    for (let m = m0; m <= m1; m++)
      labels.push(`${Math.floor(m / 12)}-${String((m % 12) + 1).padStart(2, "0")}`);
  } else {
    for (let y = y0; y <= Math.floor(m1 / 12); y++) labels.push(String(y));
  }
  // The bucket of each whole day, worked out once per distinct day when the span allows a table of them.
  const span = Math.floor(last) - Math.floor(first) + 1;
  const byDay = span <= DAY_TABLE_LIMIT ? new Uint32Array(span) : undefined;
  const bucketOf = (d: number) => {
    const m = monthOf(d);
    return byMonth ? m - m0 + 1 : Math.floor(m / 12) - y0 + 1;
  };
  for (let p = 0; p < n; p++) {
    const d = days[p] as number;
    if (Number.isNaN(d)) continue;
    if (byDay === undefined) {
      codes[p] = bucketOf(d);
      continue;
    }
    const at = Math.floor(d) - Math.floor(first);
    let b = byDay[at] as number;
    if (b === 0) {
      b = bucketOf(Math.floor(d));
      byDay[at] = b;
    }
    codes[p] = b;
  }
  return { unit: byMonth ? "month" : "year", labels, codes };
}
