/** Byte sources for engine tests: a byte array fed in chunks cut at chosen positions. */

/** Yields `bytes` cut at the given offsets (any order, out-of-range and repeated cuts ignored). */
export async function* chunked(bytes: Uint8Array, cuts: readonly number[] = []): AsyncGenerator<Uint8Array> {
  const points = [...new Set(cuts.filter((c) => c > 0 && c < bytes.length))].sort((a, b) => a - b);
  let from = 0;
  for (const at of [...points, bytes.length]) {
    // A fresh copy per chunk, so no test depends on chunks sharing one buffer.
    yield Uint8Array.from(bytes.subarray(from, at));
    from = at;
  }
}

export function textSource(text: string, cuts: readonly number[] = []): AsyncGenerator<Uint8Array> {
  return chunked(Buffer.from(text, "utf8"), cuts);
}

/** Cuts every `size` bytes. */
export function everyN(length: number, size: number): number[] {
  const cuts: number[] = [];
  for (let at = size; at < length; at += size) cuts.push(at);
  return cuts;
}
