/**
 * An insertion-ordered set of byte strings with dense indices (an interner): customer ids, channel and
 * category values and attribute values are stored once each, back to back in one byte arena, and found
 * through an open-addressing hash table held in one typed array. No JavaScript string or object exists per
 * entry.
 *
 * A table slot is four words: the entry's hash with its low byte replaced by the entry's length (255 for
 * 255 bytes and more), its index + 1 (0 = empty slot), and then either the entry's bytes themselves, for
 * entries of up to 8 bytes, or the arena offset of its length prefix. Finding a short entry (most ids) thus
 * reads one slot and no arena, one cache miss; a longer one reads the arena too, where each entry's length
 * prefix sits right before its bytes.
 */
import { hashKey } from "./hash";

const MIN_SLOTS = 16;
/** The table is rebuilt larger before its load passes this. */
const MAX_LOAD = 0.75;
/** Words per table slot: key (hash and length), index + 1 (0 = empty), two words of bytes or the offset. */
const STRIDE = 4;
/** Entries of up to this many bytes are kept in their table slot as well. */
const INLINE_BYTES = 8;

/** The key word of a slot: the hash's top 24 bits and the length, capped at 255. */
function slotKey(hash: number, length: number): number {
  return ((hash & 0xffffff00) | (length < 255 ? length : 255)) >>> 0;
}

/** Bytes [from, from + 4) of [start, end), little-endian, zero past end. */
function word(buf: Uint8Array, start: number, end: number, from: number): number {
  let w = 0;
  for (let i = 0; i < 4 && start + from + i < end; i++) w |= (buf[start + from + i] as number) << (8 * i);
  return w >>> 0;
}

const utf8 = new TextDecoder("utf-8");
const encoder = new TextEncoder();

function grown<T extends Uint8Array | Uint32Array>(array: T, need: number): T {
  if (need <= array.length) return array;
  let size = Math.max(array.length, MIN_SLOTS);
  while (size < need) size = size < 1 << 20 ? size * 2 : Math.ceil(size * 1.5);
  const next = new (array.constructor as new (n: number) => T)(size);
  next.set(array);
  return next;
}

export class ByteSet {
  private count = 0;
  /** Entries as [length varint][bytes]. */
  private arena = new Uint8Array(256);
  private arenaLength = 0;
  /** Arena offset of entry i's length prefix; starts[count] = arenaLength. */
  private starts = new Uint32Array(MIN_SLOTS + 1);
  private table: Uint32Array | null = null;
  private mask = 0;
  /** A probe starts at slot hash >>> shift (the table has 2^(32 - shift) slots). */
  private shift = 28;
  /** Result of the last readEntry: where the entry's bytes start and end. */
  private entryStart = 0;
  private entryEnd = 0;

  get size(): number {
    return this.count;
  }

  /** Index of bytes [start, end), or -1. */
  find(buf: Uint8Array, start: number, end: number, hash = hashKey(buf, start, end)): number {
    if (this.table === null) this.rebuild();
    const table = this.table as Uint32Array;
    const mask = this.mask;
    const length = end - start;
    const key = slotKey(hash, length);
    let slot = hash >>> this.shift;
    if (length <= INLINE_BYTES) {
      const a = word(buf, start, end, 0);
      const b = word(buf, start, end, 4);
      for (;;) {
        const at = slot * STRIDE;
        const index = table[at + 1] as number;
        if (index === 0) return -1;
        if (table[at] === key && table[at + 2] === a && table[at + 3] === b) return index - 1;
        slot = (slot + 1) & mask;
      }
    }
    for (;;) {
      const at = slot * STRIDE;
      const index = table[at + 1] as number;
      if (index === 0) return -1;
      if (table[at] === key && this.equalsAt(table[at + 2] as number, buf, start, end)) return index - 1;
      slot = (slot + 1) & mask;
    }
  }

  /** Index of bytes [start, end), added at the end when absent. */
  intern(buf: Uint8Array, start: number, end: number, hash = hashKey(buf, start, end)): number {
    const found = this.find(buf, start, end, hash);
    return found >= 0 ? found : this.append(buf, start, end, hash);
  }

  /** Adds bytes without looking for them first (callers know they are absent). */
  append(buf: Uint8Array, start: number, end: number, hash = hashKey(buf, start, end)): number {
    const index = this.count;
    const length = end - start;
    const offset = this.arenaLength;
    if (offset + length + 5 > this.arena.length) this.arena = grown(this.arena, offset + length + 5);
    const arena = this.arena;
    let at = offset;
    let rest = length;
    while (rest >= 0x80) {
      arena[at++] = (rest & 0x7f) | 0x80;
      rest >>>= 7;
    }
    arena[at++] = rest;
    // Short entries (most ids) are copied byte by byte: no view of `buf` is made for them.
    if (length <= 32) for (let i = start, to = at; i < end; i++) arena[to++] = buf[i] as number;
    else arena.set(buf.subarray(start, end), at);
    this.arenaLength = at + length;
    if (index + 2 > this.starts.length) this.starts = grown(this.starts, index + 2);
    this.starts[index] = offset;
    this.starts[index + 1] = this.arenaLength;
    this.count = index + 1;
    if (this.table !== null) {
      if (this.count <= (this.mask + 1) * MAX_LOAD || this.grow())
        this.place(hash, index, offset, buf, start, end);
    }
    return index;
  }

  /**
   * Reads the table slot, and the arena bytes it points to, where find would start for each of the first
   * `count` hashes, and returns a value derived from them. Nothing is changed: the point is to bring those
   * cache lines in for a batch of lookups at once, since a loop of independent loads lets the processor wait
   * for many cache misses together where find, one key at a time, waits for them one after another.
   */
  touch(hashes: Int32Array, count: number): number {
    if (this.table === null) this.rebuild();
    const table = this.table as Uint32Array;
    const mask = this.mask;
    const shift = this.shift;
    let sum = 0;
    for (let i = 0; i < count; i++) sum ^= table[((hashes[i] as number) >>> shift) * STRIDE] as number;
    // The slots are in cache now. Where a probe meets a long entry with the same hash, read the start of its
    // bytes too.
    const arena = this.arena;
    for (let i = 0; i < count; i++) {
      const hash = hashes[i] as number;
      let slot = hash >>> shift;
      for (;;) {
        const at = slot * STRIDE;
        if (table[at + 1] === 0) break;
        const key = table[at] as number;
        if (((key ^ hash) & 0xffffff00) === 0) {
          if ((key & 0xff) > INLINE_BYTES) sum ^= arena[table[at + 2] as number] as number;
          break;
        }
        slot = (slot + 1) & mask;
      }
    }
    return sum;
  }

  internString(text: string): number {
    const bytes = encoder.encode(text);
    return this.intern(bytes, 0, bytes.length);
  }

  findString(text: string): number {
    const bytes = encoder.encode(text);
    return this.find(bytes, 0, bytes.length);
  }

  /** The entry as a string (entries are valid UTF-8: the engine checks text before interning it). */
  get(index: number): string {
    return utf8.decode(this.bytes(index));
  }

  /** A view of the entry's bytes; valid until the next append. */
  bytes(index: number): Uint8Array {
    this.readEntry(this.starts[index] as number);
    return this.arena.subarray(this.entryStart, this.entryEnd);
  }

  byteLengthOf(index: number): number {
    this.readEntry(this.starts[index] as number);
    return this.entryEnd - this.entryStart;
  }

  /** True when entry `index` equals bytes [start, end). */
  equals(index: number, buf: Uint8Array, start: number, end: number): boolean {
    return this.equalsAt(this.starts[index] as number, buf, start, end);
  }

  /** hashKey of every entry's bytes, in index order (the hash find and intern place it by). */
  entryHashes(): Int32Array {
    const out = new Int32Array(this.count);
    for (let i = 0; i < this.count; i++) {
      this.readEntry(this.starts[i] as number);
      out[i] = hashKey(this.arena, this.entryStart, this.entryEnd);
    }
    return out;
  }

  /** True when entry `index` equals entry `other` of set `from`. */
  equalsEntry(index: number, from: ByteSet, other: number): boolean {
    from.readEntry(from.starts[other] as number);
    return this.equalsAt(this.starts[index] as number, from.arena, from.entryStart, from.entryEnd);
  }

  /**
   * Appends entry `other` of set `from`, without looking for it first (callers know it is absent); `hash` is
   * its hashKey, needed only when this set has a table.
   */
  appendEntry(from: ByteSet, other: number, hash?: number): number {
    from.readEntry(from.starts[other] as number);
    const start = from.entryStart;
    const end = from.entryEnd;
    return this.append(
      from.arena,
      start,
      end,
      hash ?? (this.table === null ? 0 : hashKey(from.arena, start, end)),
    );
  }

  /** The set's parts for serialization: entry count, the offset after each entry, and the arena. */
  parts(): { count: number; ends: Uint32Array; arena: Uint8Array } {
    return {
      count: this.count,
      ends: this.starts.subarray(1, this.count + 1),
      arena: this.arena.subarray(0, this.arenaLength),
    };
  }

  /**
   * Rebuilds a set from serialized parts; undefined when they are inconsistent (an entry's length prefix
   * disagreeing with its end offset). Duplicate entries are detected when the table is first needed.
   */
  static fromParts(ends: Uint32Array, arena: Uint8Array): ByteSet | undefined {
    const set = new ByteSet();
    const count = ends.length;
    set.arena = new Uint8Array(arena.length);
    set.arena.set(arena);
    set.arenaLength = arena.length;
    set.starts = new Uint32Array(count + 1);
    set.starts.set(ends, 1);
    let offset = 0;
    for (let i = 0; i < count; i++) {
      const end = ends[i] as number;
      if (end > arena.length || offset >= end || !set.readEntry(offset) || set.entryEnd !== end)
        return undefined;
      offset = end;
    }
    if (offset !== arena.length) return undefined;
    set.count = count;
    return set;
  }

  /** Frees the hash table; it is rebuilt when next needed. */
  releaseTable(): void {
    this.table = null;
    this.mask = 0;
    this.shift = 28;
  }

  /** True when no two entries are equal (checked by building the table). */
  hasDistinctEntries(): boolean {
    return this.rebuild(true);
  }

  /** Decodes the length prefix at `offset` into entryStart/entryEnd; false when it runs off the arena. */
  private readEntry(offset: number): boolean {
    const arena = this.arena;
    let length = 0;
    let shift = 0;
    let at = offset;
    for (;;) {
      if (at >= this.arenaLength || shift > 28) return false;
      const b = arena[at++] as number;
      length += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) break;
      shift += 7;
    }
    this.entryStart = at;
    this.entryEnd = at + length;
    return this.entryEnd <= this.arenaLength;
  }

  private equalsAt(offset: number, buf: Uint8Array, start: number, end: number): boolean {
    const arena = this.arena;
    let at = offset;
    let length = arena[at++] as number;
    if (length >= 0x80) {
      this.readEntry(offset);
      at = this.entryStart;
      length = this.entryEnd - at;
    }
    if (length !== end - start) return false;
    for (let i = start; i < end; i++, at++) if (arena[at] !== buf[i]) return false;
    return true;
  }

  /** Puts entry `index`, whose bytes are buf[start, end) and start at `offset` in the arena, in the table. */
  private place(
    hash: number,
    index: number,
    offset: number,
    buf: Uint8Array,
    start: number,
    end: number,
  ): void {
    const table = this.table as Uint32Array;
    let slot = hash >>> this.shift;
    while (table[slot * STRIDE + 1] !== 0) slot = (slot + 1) & this.mask;
    const at = slot * STRIDE;
    const length = end - start;
    table[at] = slotKey(hash, length);
    table[at + 1] = index + 1;
    if (length <= INLINE_BYTES) {
      table[at + 2] = word(buf, start, end, 0);
      table[at + 3] = word(buf, start, end, 4);
    } else {
      table[at + 2] = offset;
    }
  }

  /**
   * Doubles the table; true when the entries in the old table were moved (the caller then places the entry
   * that made it grow), false when the table was rebuilt from all entries. Probes start at the top bits of the
   * hash, which the key word keeps up to 2^24 slots: up to there, the entries move from the old table to the
   * new without hashing their bytes again, in slot order (from just after an empty slot, so that every probe
   * sequence is met in its order), and land in the new table in about the same order, which keeps the writes
   * sequential.
   */
  private grow(): boolean {
    const old = this.table as Uint32Array;
    const oldSlots = this.mask + 1;
    const slots = oldSlots * 2;
    if (slots > 1 << 24) {
      this.rebuild();
      return false;
    }
    const table = new Uint32Array(slots * STRIDE);
    const mask = slots - 1;
    const shift = this.shift - 1;
    let empty = 0;
    while (old[empty * STRIDE + 1] !== 0) empty++;
    for (let j = 1; j <= oldSlots; j++) {
      const from = ((empty + j) & (oldSlots - 1)) * STRIDE;
      if (old[from + 1] === 0) continue;
      const key = old[from] as number;
      let slot = key >>> shift;
      while (table[slot * STRIDE + 1] !== 0) slot = (slot + 1) & mask;
      const to = slot * STRIDE;
      table[to] = key;
      table[to + 1] = old[from + 1] as number;
      table[to + 2] = old[from + 2] as number;
      table[to + 3] = old[from + 3] as number;
    }
    this.table = table;
    this.mask = mask;
    this.shift = shift;
    return true;
  }

  /**
   * Builds the table for all entries. With `check`, returns false if two entries are equal (the later one is
   * left out). Without, equal entries are all placed, which finds the same: a probe meets the earlier of two
   * equal entries first, since it was placed first.
   */
  private rebuild(check = false): boolean {
    let slots = MIN_SLOTS;
    while (slots * MAX_LOAD < this.count + 1) slots *= 2;
    this.table = new Uint32Array(slots * STRIDE);
    this.mask = slots - 1;
    this.shift = 32 - Math.log2(slots);
    let distinct = true;
    for (let i = 0; i < this.count; i++) {
      const offset = this.starts[i] as number;
      this.readEntry(offset);
      const start = this.entryStart;
      const end = this.entryEnd;
      const hash = hashKey(this.arena, start, end);
      if (check && this.find(this.arena, start, end, hash) >= 0) distinct = false;
      else this.place(hash, i, offset, this.arena, start, end);
    }
    return distinct;
  }
}
