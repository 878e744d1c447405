/**
 * Every segment's members of one committed version as bitsets, stored next to its other state
 * (`state/<tenant>/<dataset>/v<n>/membership.bin`) so that overlap answers (shared/api/overlap.ts) load one
 * object instead of paging through the table. Built from the version's outputs, which are what the table
 * holds, so the two cannot disagree.
 *
 * Positions are the customers in the order the members routes page them: by the UTF-8 bytes of their ids,
 * DynamoDB's order of sort keys. Layout: "MBS1", a u32 header length, the JSON header (count, segment ids,
 * byte length of the ids), zero padding to 8 bytes, then count + 1 u32 offsets into the ids, the ids as UTF-8,
 * and one bitset of ceil(count / 32) u32 words per segment in the header's order, each part padded to 8
 * bytes. Little-endian.
 */
import { wordsFor } from "../engine/overlap";
import { objectKeys } from "../store/keys";
import type { Outputs } from "./outputs";
import type { BlobStore } from "./ports";

const MAGIC = "MBS1";

export class MembershipError extends Error {}

interface Header {
  count: number;
  segments: string[];
  idBytes: number;
}

const pad8 = (n: number) => (n + 7) & ~7;

/** -1, 0 or 1 as the UTF-8 bytes of `a` sort before, with or after those of `b` (code point order). */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // UTF-16 puts surrogates (code points above U+FFFF) before U+E000–U+FFFF; UTF-8 puts them after.
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x < y ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/** Ids in UTF-8 byte order; the plain sort agrees with it unless an id has a code unit from U+D800 up. */
function sortedIds(ids: string[]): string[] {
  if (ids.some((id) => /[\ud800-\uffff]/.test(id))) return ids.sort(compareUtf8);
  return ids.sort();
}

const SEGMENTS_KEY = '"segments":[';

/**
 * The text of a stored view's `segments` array when it is the view's last key, as runs write it (viewOf in
 * ./outputs.ts); undefined for any other shape.
 */
function segmentsText(json: string): string | undefined {
  const at = json.lastIndexOf(SEGMENTS_KEY);
  if (at > 0 && json.endsWith("]}") && (json[at - 1] === "," || json[at - 1] === "{")) {
    return json.slice(at + SEGMENTS_KEY.length - 1, -1);
  }
  return undefined;
}

/** The ids in a `segments` array's text, or undefined when the text is not an array of strings. */
function parseSegments(text: string): string[] | undefined {
  try {
    const tail: unknown = JSON.parse(text);
    if (Array.isArray(tail) && tail.every((s) => typeof s === "string")) return tail;
  } catch {
    // Not an array after all.
  }
  return undefined;
}

/** The segment ids of a stored view, parsed whole. */
function segmentsOfWholeView(json: string): string[] {
  const view: unknown = JSON.parse(json);
  const segments = (view as { segments?: unknown }).segments;
  if (!Array.isArray(segments) || !segments.every((s) => typeof s === "string")) {
    throw new MembershipError("a view without segments");
  }
  return segments;
}

/**
 * The membership object of a version's outputs. `segmentIds` are the version's segments, so that a segment
 * nobody is in still has its (empty) bitset; segments only the views name are added after them.
 */
export function encodeMembership(outputs: Outputs, segmentIds: readonly string[]): Uint8Array {
  const ids = sortedIds([...outputs.keys()]);
  const count = ids.length;
  const index = new Map<string, number>();
  const order: string[] = [];
  for (const id of segmentIds) {
    if (!index.has(id)) {
      index.set(id, order.length);
      order.push(id);
    }
  }
  const bits: Uint32Array[] = order.map(() => new Uint32Array(wordsFor(count)));
  const indexOf = (segment: string): number => {
    let k = index.get(segment);
    if (k === undefined) {
      k = order.length;
      index.set(segment, k);
      order.push(segment);
      bits.push(new Uint32Array(wordsFor(count)));
    }
    return k;
  };
  // Customers share a few hundred combinations of segments at most: each array's text is parsed once.
  const combinations = new Map<string, number[]>();
  const offsets = new Uint32Array(count + 1);
  let idBytes = 0;
  for (let p = 0; p < count; p++) {
    const id = ids[p] as string;
    offsets[p] = idBytes;
    idBytes += Buffer.byteLength(id, "utf8");
    const json = outputs.get(id) as string;
    const text = segmentsText(json);
    let ks = text === undefined ? undefined : combinations.get(text);
    if (ks === undefined) {
      const fromText = text === undefined ? undefined : parseSegments(text);
      ks = (fromText ?? segmentsOfWholeView(json)).map(indexOf);
      // Only a text that parsed as the array is a safe key for the next view with the same text.
      if (text !== undefined && fromText !== undefined) combinations.set(text, ks);
    }
    for (const k of ks) {
      const words = bits[k] as Uint32Array;
      words[p >>> 5] = (words[p >>> 5] as number) | (1 << (p & 31));
    }
  }
  offsets[count] = idBytes;

  const header: Header = { count, segments: order, idBytes };
  const json = Buffer.from(JSON.stringify(header), "utf8");
  const wordBytes = wordsFor(count) * 4;
  const size =
    pad8(8 + json.length) + pad8(offsets.byteLength) + pad8(idBytes) + order.length * pad8(wordBytes);
  const out = Buffer.alloc(size);
  out.write(MAGIC, 0, "latin1");
  out.writeUInt32LE(json.length, 4);
  json.copy(out, 8);
  let at = pad8(8 + json.length);
  out.set(new Uint8Array(offsets.buffer), at);
  at += pad8(offsets.byteLength);
  for (const id of ids) at += out.write(id, at, "utf8");
  at = pad8(at);
  for (const words of bits) {
    out.set(new Uint8Array(words.buffer), at);
    at += pad8(wordBytes);
  }
  return out;
}

/** A decoded membership object: ids are read one at a time, bitsets only for the segments asked for. */
export class Membership {
  readonly count: number;
  readonly segmentIds: readonly string[];
  private readonly index: Map<string, number>;
  private readonly offsets: Uint32Array;
  private readonly ids: Buffer;
  private readonly bitsAt: number;
  private readonly bytes: Buffer;
  private readonly cache = new Map<string, Uint32Array>();

  constructor(bytes: Uint8Array) {
    const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (buffer.length < 8 || buffer.toString("latin1", 0, 4) !== MAGIC) {
      throw new MembershipError("not a membership object");
    }
    const length = buffer.readUInt32LE(4);
    if (8 + length > buffer.length) throw new MembershipError("truncated header");
    let header: Header;
    try {
      header = JSON.parse(buffer.toString("utf8", 8, 8 + length)) as Header;
    } catch {
      throw new MembershipError("bad header");
    }
    const { count, segments, idBytes } = header;
    if (
      !Number.isSafeInteger(count) ||
      count < 0 ||
      !Number.isSafeInteger(idBytes) ||
      idBytes < 0 ||
      !Array.isArray(segments) ||
      !segments.every((s) => typeof s === "string")
    ) {
      throw new MembershipError("bad header");
    }
    const at = pad8(8 + length);
    const offsetsEnd = at + (count + 1) * 4;
    const idsAt = pad8(offsetsEnd);
    const bitsAt = pad8(idsAt + idBytes);
    if (bitsAt + segments.length * pad8(wordsFor(count) * 4) > buffer.length) {
      throw new MembershipError("truncated object");
    }
    // A copy, so that the array is aligned whatever the offset of the bytes it came in.
    const offsets = new Uint32Array(count + 1);
    new Uint8Array(offsets.buffer).set(buffer.subarray(at, offsetsEnd));
    this.count = count;
    this.segmentIds = segments;
    this.index = new Map(segments.map((s, k) => [s, k]));
    this.offsets = offsets;
    this.ids = buffer.subarray(idsAt, idsAt + idBytes);
    this.bitsAt = bitsAt;
    this.bytes = buffer;
  }

  has(segmentId: string): boolean {
    return this.index.has(segmentId);
  }

  /** The segment's bitset over the positions; undefined for a segment the version does not have. */
  bits(segmentId: string): Uint32Array | undefined {
    const k = this.index.get(segmentId);
    if (k === undefined) return undefined;
    let words = this.cache.get(segmentId);
    if (!words) {
      const n = wordsFor(this.count);
      const start = this.bitsAt + k * pad8(n * 4);
      words = new Uint32Array(n);
      new Uint8Array(words.buffer).set(this.bytes.subarray(start, start + n * 4));
      this.cache.set(segmentId, words);
    }
    return words;
  }

  /** The customer id at a position. */
  id(position: number): string {
    return this.ids.toString("utf8", this.offsets[position], this.offsets[position + 1]);
  }

  /** The first position whose id sorts after `id` (UTF-8 byte order). */
  positionAfter(id: string): number {
    const wanted = Buffer.from(id, "utf8");
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const at = this.ids.subarray(this.offsets[mid], this.offsets[mid + 1]);
      if (Buffer.compare(at, wanted) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** Stores a version's membership object next to its state; the runs call it with the outputs' write. */
export async function writeMembership(
  blobs: Pick<BlobStore, "put">,
  tenantId: string,
  datasetId: string,
  version: number,
  outputs: Outputs,
  segmentIds: readonly string[],
): Promise<void> {
  await blobs.put(
    objectKeys.membership(tenantId, datasetId, version),
    encodeMembership(outputs, segmentIds),
    "application/octet-stream",
  );
}
