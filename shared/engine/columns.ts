/**
 * Per-customer columns carved out of one ArrayBuffer. A stage that makes a dozen arrays of a million entries
 * makes one allocation of some 40–70 MB instead of a dozen of 4–8 MB: the C library maps an allocation that
 * large on its own and gives it back to the system as soon as it is freed, where pieces of 4–8 MB come from
 * its heap and, once freed, stay part of the process's resident memory (some 60 MB in the benchmark's runs).
 *
 * Usage: declare every array first (doubles, then 32-bit, then bytes keeps each aligned), then allocate().
 */
export class ColumnBlock {
  private bytes = 0;
  private buffer: ArrayBuffer | undefined;
  private offset = 0;

  constructor(private readonly length: number) {}

  /** Reserves room for arrays of `count` elements of `size` bytes each; call before allocate(). */
  reserve(size: 1 | 4 | 8, count: number): this {
    this.bytes += size * count * this.length;
    return this;
  }

  allocate(): this {
    this.buffer = new ArrayBuffer(this.bytes);
    return this;
  }

  f64(): Float64Array<ArrayBuffer> {
    return new Float64Array(this.take(8), this.offset - 8 * this.length, this.length);
  }

  i32(): Int32Array<ArrayBuffer> {
    return new Int32Array(this.take(4), this.offset - 4 * this.length, this.length);
  }

  u32(): Uint32Array<ArrayBuffer> {
    return new Uint32Array(this.take(4), this.offset - 4 * this.length, this.length);
  }

  u8(): Uint8Array<ArrayBuffer> {
    return new Uint8Array(this.take(1), this.offset - this.length, this.length);
  }

  private take(size: number): ArrayBuffer {
    const buffer = this.buffer;
    if (buffer === undefined) throw new Error("ColumnBlock: allocate() before taking arrays");
    if (this.offset % size !== 0 || this.offset + size * this.length > this.bytes) {
      throw new Error("ColumnBlock: arrays taken out of order or beyond what was reserved");
    }
    this.offset += size * this.length;
    return buffer;
  }
}
