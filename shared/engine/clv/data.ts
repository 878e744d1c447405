/**
 * Input checks and compression of the per-customer summaries the models read.
 *
 * BG/NBD needs only (x, t_x, T) per customer, and in real data many customers share a triple: everyone who
 * bought once in the same week has x = 0, t_x = 0 and the same T. Fitting on the unique triples with their
 * counts as weights gives the same likelihood (a sum of identical terms is one term times its count) at a
 * fraction of the cost, which is what makes a million customers quick to fit.
 */
import { ClvFitError, ClvInputError } from "./errors";

/** Per-customer recency/frequency summary, all times in one unit (weeks by default). */
export interface CustomerSummary {
  /** Repeat purchases: distinct purchase periods after the first. Integer >= 0. */
  x: ArrayLike<number>;
  /** Time of the last purchase, measured from the first. 0 <= t_x <= T. */
  tx: ArrayLike<number>;
  /** Age: time from the first purchase to the evaluation date. */
  T: ArrayLike<number>;
}

/** Unique (x, t_x, T) triples with how many customers (or how much weight) each stands for. */
export interface CompressedSummary {
  x: Float64Array;
  tx: Float64Array;
  T: Float64Array;
  weight: Float64Array;
  /** Customer i has triple `index[i]`. */
  index: Uint32Array;
}

export function checkLength(field: string, values: ArrayLike<number>, n: number): void {
  if (values.length !== n) {
    throw new ClvInputError(
      "CLV_LENGTH_MISMATCH",
      `${field} has ${values.length} values but x has ${n}`,
      field,
    );
  }
}

/** Throws a `ClvInputError` naming the first row whose x, t_x, T or weight is out of its domain. */
export function validateSummary(data: CustomerSummary, weight?: ArrayLike<number>): void {
  const n = data.x.length;
  checkLength("tx", data.tx, n);
  checkLength("T", data.T, n);
  if (weight !== undefined) checkLength("weight", weight, n);
  for (let i = 0; i < n; i++) {
    const x = data.x[i] as number;
    const tx = data.tx[i] as number;
    const T = data.T[i] as number;
    if (!(Number.isInteger(x) && x >= 0)) {
      throw new ClvInputError("CLV_BAD_VALUE", "x must be an integer >= 0", "x", i);
    }
    if (!(Number.isFinite(tx) && tx >= 0)) {
      throw new ClvInputError("CLV_BAD_VALUE", "tx must be a finite number >= 0", "tx", i);
    }
    if (!(Number.isFinite(T) && T >= tx)) {
      throw new ClvInputError("CLV_BAD_VALUE", "T must be a finite number >= tx", "T", i);
    }
    if (weight !== undefined) {
      const w = weight[i] as number;
      if (!(Number.isFinite(w) && w >= 0)) {
        throw new ClvInputError("CLV_BAD_WEIGHT", "weight must be a finite number >= 0", "weight", i);
      }
    }
  }
}

const bits = new Float64Array(1);
const words = new Uint32Array(bits.buffer);

function mixDouble(h: number, v: number): number {
  // `+ 0` folds -0 into 0 so equal values hash alike.
  bits[0] = v + 0;
  h = Math.imul(h ^ (words[0] as number), 0x9e3779b1);
  h = Math.imul(h ^ (words[1] as number), 0x85ebca77);
  return h ^ (h >>> 15);
}

function tripleHash(x: number, tx: number, T: number): number {
  return mixDouble(mixDouble(mixDouble(0x811c9dc5, x), tx), T);
}

function grown(array: Float64Array, size: number): Float64Array<ArrayBuffer> {
  const next = new Float64Array(size);
  next.set(array);
  return next;
}

/** Largest x and largest t_x or T of the triples packed into one key (packedKeys). */
const PACKED_X_LIMIT = 2 ** 20;
const PACKED_T_LIMIT = 2 ** 16;

/**
 * Each customer's triple as one number, x · 2^32 + t_x · 2^16 + T, exact below 2^53, when every x is an
 * integer below 2^20 and every t_x and T an integer below 2^16 (times in days: 179 years); undefined otherwise.
 * Equal keys are equal triples, and the key's two 32-bit halves hash without going through a double's bits.
 */
function packedKeys(data: CustomerSummary, n: number): Float64Array | undefined {
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const x = data.x[i] as number;
    const tx = data.tx[i] as number;
    const T = data.T[i] as number;
    // Integers in range only: NaN, fractions and negative numbers fail these.
    if (!(x >= 0 && x < PACKED_X_LIMIT && x === Math.floor(x))) return undefined;
    if (!(tx >= 0 && tx < PACKED_T_LIMIT && tx === Math.floor(tx))) return undefined;
    if (!(T >= 0 && T < PACKED_T_LIMIT && T === Math.floor(T))) return undefined;
    keys[i] = x * 4294967296 + tx * 65536 + T;
  }
  return keys;
}

/** A 32-bit hash of a packed key's halves (murmur3's finalizer over their mix). */
function packedHash(low: number, high: number): number {
  let h = Math.imul(low, 0xcc9e2d51) ^ Math.imul(high + 0x7f4a7c15, 0x1b873593);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * compressSummary over packed keys: one number compared per probe, the table sized once for every customer
 * being distinct (no rehashing), the arrays written only as far as the triples found. The reference the
 * sorted grouping (compressSorted) is tested against; used where the triples do not fit its 31-bit keys.
 */
export function compressPacked(
  data: CustomerSummary,
  packed: Float64Array | undefined = packedKeys(data, data.x.length),
  weight?: ArrayLike<number>,
): CompressedSummary {
  if (packed === undefined)
    throw new RangeError("The triples are not whole days within the packing's limits");
  const keys = packed;
  const n = keys.length;
  let capacity = 16;
  while (capacity < 2 * n) capacity *= 2;
  const mask = capacity - 1;
  const table = new Int32Array(capacity).fill(-1);
  const uk = new Float64Array(n);
  const ux = new Float64Array(n);
  const utx = new Float64Array(n);
  const uT = new Float64Array(n);
  const uw = new Float64Array(n);
  const index = new Uint32Array(n);
  let size = 0;
  for (let i = 0; i < n; i++) {
    const key = keys[i] as number;
    const high = Math.floor(key / 4294967296);
    let slot = packedHash((key - high * 4294967296) | 0, high) & mask;
    for (;;) {
      const id = table[slot] as number;
      if (id < 0) {
        table[slot] = size;
        uk[size] = key;
        ux[size] = data.x[i] as number;
        utx[size] = (data.tx[i] as number) + 0;
        uT[size] = (data.T[i] as number) + 0;
        uw[size] = weight === undefined ? 1 : (weight[i] as number);
        index[i] = size;
        size++;
        break;
      }
      if (uk[id] === key) {
        uw[id] = (uw[id] as number) + (weight === undefined ? 1 : (weight[i] as number));
        index[i] = id;
        break;
      }
      slot = (slot + 1) & mask;
    }
  }
  return {
    x: ux.slice(0, size),
    tx: utx.slice(0, size),
    T: uT.slice(0, size),
    weight: uw.slice(0, size),
    index,
  };
}

/**
 * Groups customers by exact (x, t_x, T), summing weights (1 each by default). Triples appear in order of
 * first occurrence. Expects validated input. Triples of whole days (the value stage's) are grouped by sorting
 * one packed key each (compressSorted), or by those keys in a hash table (compressPacked) where they do not
 * fit 31 bits; the grouping is the same every way (test/unit/engine/clv-compress.test.ts).
 */
export function compressSummary(data: CustomerSummary, weight?: ArrayLike<number>): CompressedSummary {
  if (data.x.length >= PACKED_MIN_CUSTOMERS) {
    const sorted = compressSorted(data, weight);
    if (sorted !== undefined) return sorted;
  }
  return compressHashed(data, weight);
}

/**
 * compressSummary by a hash table: of packed keys (compressPacked) for whole days from PACKED_MIN_CUSTOMERS
 * customers, of the doubles' bits otherwise. Quicker than sorting where the triples are few, as the table
 * they touch then stays in cache.
 */
export function compressHashed(data: CustomerSummary, weight?: ArrayLike<number>): CompressedSummary {
  const n = data.x.length;
  const keys = n >= PACKED_MIN_CUSTOMERS ? packedKeys(data, n) : undefined;
  if (keys !== undefined) return compressPacked(data, keys, weight);
  return compressByDoubles(data, weight);
}

/**
 * The distinct (x, T) pairs of distinct triples: compressSummary({ x, tx: T, T }) of them (weights 1, one per
 * triple), by hash, as pairs are far fewer than triples.
 */
export function pairsOf(triples: CompressedSummary): CompressedSummary {
  return compressHashed({ x: triples.x, tx: triples.T, T: triples.T });
}

/** Bits needed to write every integer from 0 to `max`. */
function bitsFor(max: number): number {
  let bits = 0;
  while (2 ** bits <= max) bits++;
  return bits;
}

/** Widest sorting key of compressSorted, in bits: an Int32 holds it without its sign bit. */
const SORTED_KEY_BITS = 31;
const SORTED_KEY_LIMIT = 2 ** SORTED_KEY_BITS;
/** Widest digit of compressSorted's radix sort, in bits (2,048 buckets: their heads stay in cache). */
const SORTED_DIGIT_BITS = 11;

/**
 * compressSummary by sorting: each customer's triple as one 31-bit integer (x, t_x and T each given as many
 * bits as its largest value needs), the customers sorted by it with a stable least-significant-digit radix
 * sort, and the runs of equal keys numbered in order of their first customer. Every pass reads and writes
 * memory in order but one scatter, where a hash table (compressPacked) misses the cache on nearly every
 * customer of a million. Each triple's weight is summed over its run, which holds its customers in order,
 * so the sums are compressPacked's to the bit. Undefined when some x, t_x or T is not an integer >= 0 or the
 * three do not fit 31 bits together.
 */
export function compressSorted(
  data: CustomerSummary,
  weight?: ArrayLike<number>,
): CompressedSummary | undefined {
  const n = data.x.length;
  const xs = data.x;
  const txs = data.tx;
  const Ts = data.T;
  let maxX = 0;
  let maxTx = 0;
  let maxT = 0;
  for (let i = 0; i < n; i++) {
    const x = xs[i] as number;
    const tx = txs[i] as number;
    const T = Ts[i] as number;
    // Integers in range only: NaN, fractions and negative numbers fail these.
    if (!(x >= 0 && x < SORTED_KEY_LIMIT && x === Math.floor(x))) return undefined;
    if (!(tx >= 0 && tx < SORTED_KEY_LIMIT && tx === Math.floor(tx))) return undefined;
    if (!(T >= 0 && T < SORTED_KEY_LIMIT && T === Math.floor(T))) return undefined;
    if (x > maxX) maxX = x;
    if (tx > maxTx) maxTx = tx;
    if (T > maxT) maxT = T;
  }
  const txBits = bitsFor(maxTx);
  const TBits = bitsFor(maxT);
  const keyBits = bitsFor(maxX) + txBits + TBits;
  if (keyBits > SORTED_KEY_BITS) return undefined;
  const passes = Math.max(1, Math.ceil(keyBits / SORTED_DIGIT_BITS));
  const digitBits = Math.max(1, Math.ceil(keyBits / passes));
  const buckets = 1 << digitBits;
  const digitMask = buckets - 1;
  let keys = new Int32Array(n);
  let order = new Int32Array(n);
  let nextKeys = new Int32Array(n);
  let nextOrder = new Int32Array(n);
  const heads = new Int32Array(buckets * passes);
  const TShift = TBits;
  const txShift = txBits + TBits;
  for (let i = 0; i < n; i++) {
    const key = ((xs[i] as number) << txShift) | ((txs[i] as number) << TShift) | (Ts[i] as number);
    keys[i] = key;
    order[i] = i;
    for (let p = 0; p < passes; p++) {
      const at = p * buckets + ((key >>> (p * digitBits)) & digitMask);
      heads[at] = (heads[at] as number) + 1;
    }
  }
  for (let p = 0; p < passes; p++) {
    const offset = p * buckets;
    let start = 0;
    for (let b = 0; b < buckets; b++) {
      const count = heads[offset + b] as number;
      heads[offset + b] = start;
      start += count;
    }
    const shift = p * digitBits;
    for (let i = 0; i < n; i++) {
      const key = keys[i] as number;
      const at = offset + ((key >>> shift) & digitMask);
      const to = heads[at] as number;
      heads[at] = to + 1;
      nextKeys[to] = key;
      nextOrder[to] = order[i] as number;
    }
    const sortedKeys = nextKeys;
    nextKeys = keys;
    keys = sortedKeys;
    const sortedOrder = nextOrder;
    nextOrder = order;
    order = sortedOrder;
  }
  // Runs of equal keys, in sorted order: each customer's run, the run of each run's first customer, and the
  // run's summed weight. The sort's spare arrays hold the first two.
  const runOf = nextKeys;
  const runAtFirst = nextOrder.fill(-1);
  const runWeight = new Float64Array(n);
  let runs = 0;
  for (let j = 0; j < n; ) {
    const key = keys[j] as number;
    const first = order[j] as number;
    let w = weight === undefined ? 1 : (weight[first] as number);
    runOf[first] = runs;
    let k = j + 1;
    for (; k < n && keys[k] === key; k++) {
      const i = order[k] as number;
      runOf[i] = runs;
      w += weight === undefined ? 1 : (weight[i] as number);
    }
    runAtFirst[first] = runs;
    runWeight[runs] = w;
    runs++;
    j = k;
  }
  // The runs numbered in order of their first customer, the triples written in that order.
  const idOfRun = keys;
  const ux = new Float64Array(runs);
  const utx = new Float64Array(runs);
  const uT = new Float64Array(runs);
  const uw = new Float64Array(runs);
  const index = new Uint32Array(n);
  let size = 0;
  for (let i = 0; i < n; i++) {
    const run = runAtFirst[i] as number;
    if (run >= 0) {
      idOfRun[run] = size;
      ux[size] = xs[i] as number;
      utx[size] = (txs[i] as number) + 0;
      uT[size] = (Ts[i] as number) + 0;
      uw[size] = runWeight[run] as number;
      size++;
    }
    index[i] = idOfRun[runOf[i] as number] as number;
  }
  return { x: ux, tx: utx, T: uT, weight: uw, index };
}

/** Fewest customers for which compressSummary packs keys; below, the general way is as quick. */
const PACKED_MIN_CUSTOMERS = 4096;

/** compressSummary of any triples: hashes of the doubles' bits, the table and arrays doubling as needed. */
export function compressByDoubles(data: CustomerSummary, weight?: ArrayLike<number>): CompressedSummary {
  const n = data.x.length;
  // Far fewer triples than customers, as a rule: the table and the arrays start small and double as needed,
  // the table staying at least twice as large as the triples found.
  let room = Math.min(n, 4096);
  let capacity = 16;
  while (capacity < 2 * room) capacity *= 2;
  let mask = capacity - 1;
  let table = new Int32Array(capacity).fill(-1);
  let ux = new Float64Array(room);
  let utx = new Float64Array(room);
  let uT = new Float64Array(room);
  let uw = new Float64Array(room);
  const index = new Uint32Array(n);
  let size = 0;
  for (let i = 0; i < n; i++) {
    if (size === room) {
      room = Math.min(n, room * 2);
      ux = grown(ux, room);
      utx = grown(utx, room);
      uT = grown(uT, room);
      uw = grown(uw, room);
      while (capacity < 2 * room) capacity *= 2;
      mask = capacity - 1;
      table = new Int32Array(capacity).fill(-1);
      for (let id = 0; id < size; id++) {
        let slot = tripleHash(ux[id] as number, utx[id] as number, uT[id] as number) & mask;
        while ((table[slot] as number) >= 0) slot = (slot + 1) & mask;
        table[slot] = id;
      }
    }
    const x = data.x[i] as number;
    const tx = (data.tx[i] as number) + 0;
    const T = (data.T[i] as number) + 0;
    let slot = tripleHash(x, tx, T) & mask;
    for (;;) {
      const id = table[slot] as number;
      if (id < 0) {
        table[slot] = size;
        ux[size] = x;
        utx[size] = tx;
        uT[size] = T;
        uw[size] = weight === undefined ? 1 : (weight[i] as number);
        index[i] = size;
        size++;
        break;
      }
      if (ux[id] === x && utx[id] === tx && uT[id] === T) {
        uw[id] = (uw[id] as number) + (weight === undefined ? 1 : (weight[i] as number));
        index[i] = id;
        break;
      }
      slot = (slot + 1) & mask;
    }
  }
  return {
    x: ux.slice(0, size),
    tx: utx.slice(0, size),
    T: uT.slice(0, size),
    weight: uw.slice(0, size),
    index,
  };
}

/** The compressed data a repeat-purchase fit starts from, with the weighted sums its starting points use. */
export interface RepeatFitData {
  compressed: CompressedSummary;
  /** Σ weight · x and Σ weight · T. */
  sumX: number;
  sumT: number;
}

/**
 * What every repeat-purchase fit (BG/NBD, Pareto/NBD, MBG/NBD) does first: validates and compresses the data,
 * refuses an empty one (`ClvInputError` CLV_EMPTY), and throws `ClvFitError` CLV_NO_REPEAT_PURCHASES when no
 * customer of positive weight has x > 0, where the likelihoods have no maximum. `compressed`, when given,
 * must be compressSummary(data, weights) (the caller compressed the data for another use too).
 */
export function repeatFitData(
  x: ArrayLike<number>,
  tx: ArrayLike<number>,
  T: ArrayLike<number>,
  weights?: ArrayLike<number>,
  given?: CompressedSummary,
): RepeatFitData {
  const data = { x, tx, T };
  validateSummary(data, weights);
  if (x.length === 0) throw new ClvInputError("CLV_EMPTY", "no customers to fit", "x");
  if (given !== undefined && given.index.length !== x.length) {
    throw new ClvInputError(
      "CLV_LENGTH_MISMATCH",
      `the compressed summary is of ${given.index.length} customers but x has ${x.length}`,
      "compressed",
    );
  }
  const compressed = given ?? compressSummary(data, weights);
  let sumX = 0;
  let sumT = 0;
  let totalWeight = 0;
  for (let i = 0; i < compressed.x.length; i++) {
    const w = compressed.weight[i] as number;
    sumX += w * (compressed.x[i] as number);
    sumT += w * (compressed.T[i] as number);
    totalWeight += w;
  }
  if (!(sumX > 0) || !(totalWeight > 0)) {
    throw new ClvFitError(
      "CLV_NO_REPEAT_PURCHASES",
      "no customer has a repeat purchase, so the repeat-purchase model cannot be fitted",
    );
  }
  return { compressed, sumX, sumT };
}
