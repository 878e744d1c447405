/**
 * An insertion-ordered set of byte strings with dense indices (an interner): customer ids, channel and
 * category values and attribute values are stored once each, back to back in one byte arena, and found
 * through an open-addressing hash table held in one typed array. No JavaScript string or object exists per
 * entry.
 *
 * A lookup costs about two cache misses: the table slot holds the entry's full hash, index and arena
 * offset side by side, and in the arena each entry's length prefix sits right before its bytes.
 */
import { hash32 } from "./hash";

const MIN_SLOTS = 16;
/** The table is rebuilt larger before its load passes this. */
const MAX_LOAD = 0.75;
/** Words per table slot: hash, index + 1 (0 = empty), arena offset of the entry's length prefix. */
const STRIDE = 3;

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
  /** Result of the last readEntry: where the entry's bytes start and end. */
  private entryStart = 0;
  private entryEnd = 0;

  get size(): number {
    return this.count;
  }

  /** Index of bytes [start, end), or -1. */
  find(buf: Uint8Array, start: number, end: number, hash = hash32(buf, start, end)): number {
    if (this.table === null) this.rebuild();
    const table = this.table as Uint32Array;
    const mask = this.mask;
    let slot = hash & mask;
    for (;;) {
      const at = slot * STRIDE;
      const index = table[at + 1] as number;
      if (index === 0) return -1;
      if (table[at] === hash && this.equalsAt(table[at + 2] as number, buf, start, end)) return index - 1;
      slot = (slot + 1) & mask;
    }
  }

  /** Index of bytes [start, end), added at the end when absent. */
  intern(buf: Uint8Array, start: number, end: number): number {
    const hash = hash32(buf, start, end);
    const found = this.find(buf, start, end, hash);
    return found >= 0 ? found : this.append(buf, start, end, hash);
  }

  /** Adds bytes without looking for them first (callers know they are absent). */
  append(buf: Uint8Array, start: number, end: number, hash = hash32(buf, start, end)): number {
    const index = this.count;
    const length = end - start;
    const offset = this.arenaLength;
    this.arena = grown(this.arena, offset + length + 5);
    let at = offset;
    let rest = length;
    while (rest >= 0x80) {
      this.arena[at++] = (rest & 0x7f) | 0x80;
      rest >>>= 7;
    }
    this.arena[at++] = rest;
    this.arena.set(buf.subarray(start, end), at);
    this.arenaLength = at + length;
    this.starts = grown(this.starts, index + 2);
    this.starts[index] = offset;
    this.starts[index + 1] = this.arenaLength;
    this.count = index + 1;
    if (this.table !== null) {
      if (this.count > (this.mask + 1) * MAX_LOAD) this.rebuild();
      else this.place(hash, index, offset);
    }
    return index;
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

  /** True when no two entries are equal (checked by building the table). */
  hasDistinctEntries(): boolean {
    return this.rebuild();
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

  private place(hash: number, index: number, offset: number): void {
    const table = this.table as Uint32Array;
    let slot = hash & this.mask;
    while (table[slot * STRIDE + 1] !== 0) slot = (slot + 1) & this.mask;
    const at = slot * STRIDE;
    table[at] = hash;
    table[at + 1] = index + 1;
    table[at + 2] = offset;
  }

  /** Builds the table for all entries; false if two entries are equal (the later one is left out). */
  private rebuild(): boolean {
    let slots = MIN_SLOTS;
    while (slots * MAX_LOAD < this.count + 1) slots *= 2;
    this.table = new Uint32Array(slots * STRIDE);
    this.mask = slots - 1;
    let distinct = true;
    for (let i = 0; i < this.count; i++) {
      const offset = this.starts[i] as number;
      this.readEntry(offset);
      const start = this.entryStart;
      const end = this.entryEnd;
      const hash = hash32(this.arena, start, end);
      if (this.find(this.arena, start, end, hash) >= 0) distinct = false;
      else this.place(hash, i, offset);
    }
    return distinct;
  }
}
