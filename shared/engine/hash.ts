/**
 * Byte-string hashes for the engine's hash tables.
 *
 * hash32 is MurmurHash3 (x86, 32-bit; Austin Appleby, public domain); hashKey, the same bits as a signed
 * integer, places customer ids and dictionary values, whose exact bytes are kept and compared.
 *
 * hash64 identifies an order by its order_id without keeping the id: two 32-bit lanes computed in one pass,
 * the first MurmurHash3 and the second the same block structure with xxHash32's primes and rotation, so
 * the lanes are independent for all but deliberately crafted inputs. With 64 bits, the chance that any two
 * of n distinct order ids collide is about n² / 2^65: 2.7e-6 for 10 million orders, 2.7e-4 for 100 million.
 * A collision would make the second order look like a re-upload of the first and skip it. Keeping the ids
 * instead would cost ~10–40 bytes per order (more than all the other per-order data together), which is
 * why the state keeps only the hash.
 */

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;
const P1 = 0x85ebca77;
const P2 = 0xc2b2ae3d;
const P3 = 0x27d4eb2f;
const SEED1 = 0x9747b28c;
const SEED2 = 0x5bd1e995;

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** fmix with a signed result: the same bits as fmix. */
function fmixSigned(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** The 1 to 3 bytes after the last whole block, little-endian. */
function tail(buf: Uint8Array, i: number, rest: number): number {
  let k = buf[i] as number;
  if (rest > 1) k |= (buf[i + 1] as number) << 8;
  if (rest > 2) k |= (buf[i + 2] as number) << 16;
  return k;
}

/** MurmurHash3 x86_32 of bytes [start, end), as an unsigned 32-bit integer. */
export function hash32(buf: Uint8Array, start: number, end: number, seed = SEED1): number {
  return hashKey(buf, start, end, seed) >>> 0;
}

/**
 * hash32 as a signed 32-bit integer, for the hash tables: V8 passes a signed 32-bit integer to a function as
 * it is, where an unsigned one of 2^31 or more is boxed in a new heap number on every call.
 */
export function hashKey(buf: Uint8Array, start: number, end: number, seed = SEED1): number {
  let h = seed | 0;
  let i = start;
  const blocks = end - ((end - start) & 3);
  while (i < blocks) {
    let k =
      (buf[i] as number) |
      ((buf[i + 1] as number) << 8) |
      ((buf[i + 2] as number) << 16) |
      ((buf[i + 3] as number) << 24);
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, C2);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
    i += 4;
  }
  const rest = end - i;
  if (rest > 0) {
    let k = tail(buf, i, rest);
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, C2);
  }
  return fmixSigned(h ^ (end - start));
}

/** Output of hash64: [high lane, low lane]. Reused across calls so hashing allocates nothing. */
export const HASH64 = new Uint32Array(2);

/** 64-bit hash of bytes [start, end), written to HASH64. */
export function hash64(buf: Uint8Array, start: number, end: number): void {
  let h1 = SEED1;
  let h2 = SEED2;
  let i = start;
  const blocks = end - ((end - start) & 3);
  while (i < blocks) {
    const w =
      (buf[i] as number) |
      ((buf[i + 1] as number) << 8) |
      ((buf[i + 2] as number) << 16) |
      ((buf[i + 3] as number) << 24);
    let k = Math.imul(w, C1);
    k = (k << 15) | (k >>> 17);
    h1 ^= Math.imul(k, C2);
    h1 = (h1 << 13) | (h1 >>> 19);
    h1 = (Math.imul(h1, 5) + 0xe6546b64) | 0;
    h2 = (h2 + Math.imul(w, P2)) | 0;
    h2 = (h2 << 13) | (h2 >>> 19);
    h2 = Math.imul(h2, P1);
    i += 4;
  }
  const rest = end - i;
  const t = rest > 0 ? tail(buf, i, rest) : 0;
  if (rest > 0) {
    let k = Math.imul(t, C1);
    k = (k << 15) | (k >>> 17);
    h1 ^= Math.imul(k, C2);
  }
  // The tail enters the second lane with its length, so "a" and "a\0" differ there too.
  h2 = (h2 + Math.imul(t + (rest << 24), P3)) | 0;
  h2 = (h2 << 17) | (h2 >>> 15);
  h2 = Math.imul(h2, P1);
  const len = end - start;
  HASH64[0] = fmix(h1 ^ len);
  HASH64[1] = fmix(Math.imul(h2 ^ len, P2) ^ Math.imul(len, P3));
}
