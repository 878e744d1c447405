/**
 * The `segment` CLI's per-customer CSV (scripts/segment.ts documents its columns), written as bytes: each row
 * goes straight into one reused buffer, which is written to the file whenever it fills, so that no string is
 * built per row. Cells come out exactly as the text forms the CLI documents:
 *
 * - text cells (customer id, next best category) as csvTextCell (shared/csv.ts) has them; an id of printable
 *   ASCII without a quote, comma or semicolon that does not start with `=`, `+`, `-` or `@` is left as it is by
 *   csvTextCell, so it is copied without the call;
 * - whole numbers as String() has them, money as centsText (two decimals), days as isoDay;
 * - probabilities and expectations as Number.prototype.toFixed has them (fixedDigits, below).
 *
 * The segment, cluster and lifecycle ids, days and categories are encoded once each.
 */
import type { FileHandle } from "node:fs/promises";
import { csvTextCell } from "../shared/csv";
import {
  type ComputedSegmentation,
  centsOfAmount,
  centsText,
  isoDay,
  LIFECYCLE_STAGES,
  RFM_SEGMENTS,
} from "../shared/engine";

/** Bytes gathered before a write to the file. */
export const WRITE_BUFFER_BYTES = 1 << 20;

const COMMA = 0x2c;
const NEWLINE = 0x0a;
const DOT = 0x2e;
const MINUS = 0x2d;
const ZERO = 0x30;

/** 10^d for the digits toFixed is asked for here. */
const POWERS = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];
/** Largest value (times 10^digits) the short path of fixedDigits takes: far below 2^53. */
const FAST_FIXED_LIMIT = 1e15;

/**
 * The digits of value.toFixed(digits) (digits from 0 to 9), the same characters, for a value from 0 to
 * FAST_FIXED_LIMIT / 10^digits; undefined for any other (the caller then calls toFixed).
 *
 * toFixed gives n / 10^digits for the integer n nearest to the exact product value · 10^digits (the larger on
 * a tie). Below the limit every integer and half is a double, and rounding to doubles keeps order, so the
 * product p computed in doubles lies on the same side of each half as the exact product, or on the half
 * itself; there (and within a few ulps of it, a margin the argument does not need) the answer is left to
 * toFixed. p − ⌊p⌋, n, and n's split into whole and fractional parts are exact below the limit.
 */
export function fixedDigits(value: number, digits: number): { whole: number; fraction: number } | undefined {
  if (!(value >= 0) || digits > 9) return undefined;
  const scale = POWERS[digits] as number;
  const p = value * scale;
  if (!(p < FAST_FIXED_LIMIT)) return undefined;
  const floor = Math.floor(p);
  const rest = p - floor;
  if (Math.abs(rest - 0.5) <= Math.max(p, 1) * 2 ** -50) return undefined;
  const n = rest > 0.5 ? floor + 1 : floor;
  const fraction = n % scale;
  return { whole: (n - fraction) / scale, fraction };
}

/** Whether csvTextCell(text) is text itself for a reason checked here cheaply (see the module header). */
function plainCell(text: string): boolean {
  const first = text.charCodeAt(0);
  // = + - @
  if (first === 0x3d || first === 0x2b || first === 0x2d || first === 0x40) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // Printable ASCII (no space) without " , ;
    if (c < 0x21 || c > 0x7e || c === 0x22 || c === 0x2c || c === 0x3b) return false;
  }
  return true;
}

/** A reused buffer that rows are written into, and the file it is flushed to. */
class RowBuffer {
  bytes = Buffer.allocUnsafe(WRITE_BUFFER_BYTES);
  at = 0;

  constructor(private readonly file: FileHandle) {}

  /** Writes what is gathered when fewer than `room` bytes are left; grows for a row longer than the buffer. */
  async reserve(room: number): Promise<void> {
    if (this.at + room <= this.bytes.length) return;
    await this.flush();
    if (room > this.bytes.length) this.bytes = Buffer.allocUnsafe(room);
  }

  async flush(): Promise<void> {
    let from = 0;
    while (from < this.at) {
      const { bytesWritten } = await this.file.write(this.bytes, from, this.at - from);
      from += bytesWritten;
    }
    this.at = 0;
  }

  byte(b: number): void {
    this.bytes[this.at++] = b;
  }

  copy(source: Uint8Array): void {
    this.bytes.set(source, this.at);
    this.at += source.length;
  }

  /** A string of any characters, as UTF-8. */
  text(s: string): void {
    this.at += this.bytes.write(s, this.at, "utf8");
  }

  /** A string of ASCII characters. */
  ascii(s: string): void {
    const bytes = this.bytes;
    let at = this.at;
    for (let i = 0; i < s.length; i++) bytes[at++] = s.charCodeAt(i);
    this.at = at;
  }

  /** The decimal digits of a whole number from 0 to 2^53 − 1. */
  digits(n: number): void {
    if (n < 10) {
      this.bytes[this.at++] = ZERO + n;
      return;
    }
    let end = this.at;
    for (let m = n; m >= 1; m = Math.floor(m / 10)) end++;
    this.at = end;
    let m = n;
    while (m >= 10) {
      const q = Math.floor(m / 10);
      this.bytes[--end] = ZERO + (m - q * 10);
      m = q;
    }
    this.bytes[--end] = ZERO + m;
  }

  /** A number as String() writes it (`${n}`). */
  number(n: number): void {
    if (Number.isSafeInteger(n)) {
      if (n < 0) {
        this.byte(MINUS);
        this.digits(-n);
      } else {
        this.digits(n);
      }
    } else {
      this.ascii(String(n));
    }
  }

  /** centsText(cents). */
  cents(cents: number): void {
    if (!Number.isSafeInteger(cents)) {
      this.ascii(centsText(cents));
      return;
    }
    if (cents < 0) this.byte(MINUS);
    const abs = Math.abs(cents);
    const fraction = abs % 100;
    this.digits((abs - fraction) / 100);
    this.byte(DOT);
    if (fraction < 10) this.byte(ZERO);
    this.digits(fraction);
  }

  /** value.toFixed(places); nothing for undefined or NaN (the CSV's empty cell). */
  fixed(value: number | undefined, places: number): void {
    if (value === undefined || Number.isNaN(value)) return;
    const fast = fixedDigits(value, places);
    if (fast === undefined) {
      this.ascii(value.toFixed(places));
      return;
    }
    this.digits(fast.whole);
    if (places === 0) return;
    this.byte(DOT);
    const scale = POWERS[places] as number;
    for (let unit = scale / 10; unit >= 1; unit /= 10) {
      const d = Math.floor(fast.fraction / unit) % 10;
      this.byte(ZERO + d);
    }
  }

  /** A model's money value to the cent, halves away from zero; nothing for undefined or NaN. */
  money(value: number | undefined): void {
    if (value === undefined || Number.isNaN(value)) return;
    this.cents(centsOfAmount(value));
  }
}

/** Most bytes a row takes besides its two text cells: 17 numbers of at most 25 characters, commas, ids. */
const ROW_BYTES = 1024;

/**
 * Writes the header (`columns`, joined by commas) and one row per customer of `result` to `file`, in the
 * order of OUTPUT_COLUMNS (scripts/segment.ts).
 */
export async function writeCustomerRows(
  result: ComputedSegmentation,
  columns: readonly string[],
  file: FileHandle,
): Promise<void> {
  const out = new RowBuffer(file);
  const c = result.columns;
  const encode = (text: string) => Buffer.from(text, "utf8");
  const days = new Map<number, Uint8Array>();
  const categories = new Map<string, Uint8Array>();
  const clusterIds = (result.clusters?.ids ?? []).map(encode);
  const rfmIds = RFM_SEGMENTS.map((s) => encode(s.id));
  const lifecycleIds = LIFECYCLE_STAGES.map((s) => encode(s.id));
  const empty = new Uint8Array(0);
  out.text(`${columns.join(",")}\n`);
  for (let i = 0; i < result.customerCount; i++) {
    const id = result.customerId(i);
    const category = result.nextBestCategoryOf(i) ?? "";
    let categoryCell = categories.get(category);
    if (categoryCell === undefined) {
      categoryCell = encode(csvTextCell(category));
      categories.set(category, categoryCell);
    }
    await out.reserve(ROW_BYTES + 3 * 2 * id.length + 8 + categoryCell.length);
    if (plainCell(id)) out.ascii(id);
    else out.text(csvTextCell(id));
    out.byte(COMMA);
    const first = c.firstPurchaseDay[i] as number;
    let day = days.get(first);
    if (day === undefined) {
      day = encode(isoDay(first));
      days.set(first, day);
    }
    out.copy(day);
    out.byte(COMMA);
    out.number(c.recencyDays[i] as number);
    out.byte(COMMA);
    out.number(c.frequency[i] as number);
    out.byte(COMMA);
    out.cents(c.monetaryCents[i] as number);
    out.byte(COMMA);
    out.number(c.r[i] as number);
    out.byte(COMMA);
    out.number(c.f[i] as number);
    out.byte(COMMA);
    out.number(c.m[i] as number);
    out.byte(COMMA);
    out.copy(rfmIds[c.rfmSegment[i] as number] as Uint8Array);
    out.byte(COMMA);
    if (c.cluster !== undefined) out.copy(clusterIds[c.cluster[i] as number] ?? empty);
    out.byte(COMMA);
    out.copy(lifecycleIds[c.lifecycle[i] as number] as Uint8Array);
    out.byte(COMMA);
    out.fixed(c.probabilityAlive?.[i], 6);
    out.byte(COMMA);
    out.fixed(c.expectedPurchases?.[i], 4);
    out.byte(COMMA);
    out.fixed(c.expectedPurchasesLow?.[i], 4);
    out.byte(COMMA);
    out.fixed(c.expectedPurchasesHigh?.[i], 4);
    out.byte(COMMA);
    out.money(c.clv?.[i]);
    out.byte(COMMA);
    out.money(c.clvLow?.[i]);
    out.byte(COMMA);
    out.money(c.clvHigh?.[i]);
    out.byte(COMMA);
    out.copy(categoryCell);
    out.byte(NEWLINE);
  }
  await out.flush();
}
