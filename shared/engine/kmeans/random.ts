/**
 * Seeded pseudo-random numbers for clustering. Only 32-bit integer arithmetic (`Math.imul`, shifts) feeds the
 * state, so a seed gives the same stream on every JavaScript engine and Node version; the generator is
 * xoshiro128** with its state filled from a SplitMix32-style mixer, as its authors recommend.
 */

export interface Random {
  /** Next unsigned 32-bit integer. */
  nextUint32(): number;
  /** Uniform in [0, 1), 32 bits of resolution. */
  next(): number;
  /** Uniform integer in [0, bound), for 0 < bound <= 2^32. */
  nextInt(bound: number): number;
}

function mix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

export function createRandom(seed: number): Random {
  const seeder = { s: seed >>> 0 };
  return xoshiro128ss(mix32(seeder), mix32(seeder), mix32(seeder), mix32(seeder));
}

/** xoshiro128** (Blackman & Vigna) from an explicit 128-bit state. */
export function xoshiro128ss(a: number, b: number, c: number, d: number): Random {
  let s0 = a | 0;
  let s1 = b | 0;
  let s2 = c | 0;
  let s3 = d | 0;
  // An all-zero state would emit zeros forever.
  if ((s0 | s1 | s2 | s3) === 0) s0 = 1;

  const nextUint32 = (): number => {
    const r = Math.imul(s1, 5);
    const result = Math.imul((r << 7) | (r >>> 25), 9) >>> 0;
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = (s3 << 11) | (s3 >>> 21);
    return result;
  };
  const next = (): number => nextUint32() / 4294967296;
  return { nextUint32, next, nextInt: (bound: number) => Math.floor(next() * bound) };
}

/** Derives an independent seed for a sub-stream (restart r of candidate k, say) from a base seed. */
export function deriveSeed(seed: number, ...parts: number[]): number {
  const state = { s: seed >>> 0 };
  let h = mix32(state);
  for (const part of parts) {
    state.s = (h ^ Math.imul(part >>> 0, 0x27d4eb2f)) | 0;
    h = mix32(state);
  }
  return h;
}

/**
 * `m` distinct indices of [0, n), in increasing order (selection sampling, Knuth's Algorithm S): one pass,
 * no extra memory, and sorted output keeps the sampled rows in memory order.
 */
export function sampleIndices(n: number, m: number, random: Random): Uint32Array {
  const size = Math.min(n, Math.max(0, m));
  const out = new Uint32Array(size);
  if (size === n) {
    for (let i = 0; i < n; i++) out[i] = i;
    return out;
  }
  let chosen = 0;
  for (let i = 0; i < n && chosen < size; i++) {
    if ((n - i) * random.next() < size - chosen) out[chosen++] = i;
  }
  return out;
}
