/**
 * The `segment` CLI's per-customer CSV (scripts/segment.ts documents its columns), written as bytes: each row
 * is formatted straight into a buffer, with no string built per row, and a full buffer is written to the file
 * while the next one is formatted (two buffers take turns). Cells come out exactly as the text forms the CLI
 * documents:
 *
 * - text cells (customer id, next best category) as csvTextCell (shared/csv.ts) has them; an id of printable
 *   ASCII without a quote, comma or semicolon that does not start with `=`, `+`, `-` or `@` is left as it is by
 *   csvTextCell, so it is copied without the call: for a result computed from a state, byte by byte from the
 *   state's set of customer ids, without a string;
 * - whole numbers as String() has them, money as centsText (two decimals), days as isoDay;
 * - probabilities and expectations as Number.prototype.toFixed has them (fixedScaled, below).
 *
 * Days (with the comma after them), categories and each combination of RFM segment, cluster and lifecycle
 * stage met (as one cell of three, commas included) are encoded once each. Whole numbers below 2^31 (nearly
 * every cell) are written with 32-bit integer arithmetic, two digits at a time.
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
/** 2^31: whole numbers below it are written with 32-bit integer arithmetic. */
const INT_LIMIT = 2147483648;

/** 10^d for the digits toFixed is asked for here. */
const POWERS = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];
/** Largest value (times 10^digits) the short path of fixedScaled takes: far below 2^53. */
const FAST_FIXED_LIMIT = 1e15;

/** "00" to "99": the two digits of d at 2d and 2d + 1. */
const PAIRS = new Uint8Array(200);
for (let d = 0; d < 100; d++) {
  PAIRS[2 * d] = ZERO + Math.floor(d / 10);
  PAIRS[2 * d + 1] = ZERO + (d % 10);
}

/**
 * The integer n for which value.toFixed(digits) (digits from 0 to 9) is n / 10^digits written with `digits`
 * decimals, for a value from 0 to FAST_FIXED_LIMIT / 10^digits; −1 for any other (the caller then calls
 * toFixed).
 *
 * toFixed gives n / 10^digits for the integer n nearest to the exact product value · 10^digits (the larger on
 * a tie). Below the limit every integer and half is a double, and rounding to doubles keeps order, so the
 * product p computed in doubles lies on the same side of each half as the exact product, or on the half
 * itself; there (and within a few ulps of it, a margin the argument does not need) the answer is left to
 * toFixed. p − ⌊p⌋ and n are exact below the limit.
 */
export function fixedScaled(value: number, digits: number): number {
  return digits > 9 ? -1 : scaledRounded(value, POWERS[digits] as number);
}

/** fixedScaled(value, digits) for scale = 10^digits. */
function scaledRounded(value: number, scale: number): number {
  if (!(value >= 0)) return -1;
  const p = value * scale;
  if (!(p < FAST_FIXED_LIMIT)) return -1;
  const floor = Math.floor(p);
  const rest = p - floor;
  if (Math.abs(rest - 0.5) <= Math.max(p, 1) * 2 ** -50) return -1;
  // + 0 turns the −0 of value −0 into 0.
  return (rest > 0.5 ? floor + 1 : floor) + 0;
}

/**
 * fixedScaled's n split into the whole part and the fraction's digits as a number (both exact below the
 * limit), or undefined where fixedScaled has −1.
 */
export function fixedDigits(value: number, digits: number): { whole: number; fraction: number } | undefined {
  const n = fixedScaled(value, digits);
  if (n < 0) return undefined;
  const scale = POWERS[digits] as number;
  const fraction = n % scale;
  return { whole: (n - fraction) / scale, fraction };
}

/** Writes the decimal digits of n, a whole number from 0 to 2^31 − 1, at `at`; returns the end. */
function intDigits(bytes: Uint8Array, at: number, n: number): number {
  if (n < 10) {
    bytes[at] = ZERO + n;
    return at + 1;
  }
  if (n < 100) {
    bytes[at] = PAIRS[2 * n] as number;
    bytes[at + 1] = PAIRS[2 * n + 1] as number;
    return at + 2;
  }
  let length = 3;
  for (let bound = 1000; length < 10 && n >= bound; bound *= 10) length++;
  const end = at + length;
  let to = end;
  let m = n;
  while (m >= 100) {
    const q = (m / 100) | 0;
    const pair = 2 * (m - 100 * q);
    bytes[--to] = PAIRS[pair + 1] as number;
    bytes[--to] = PAIRS[pair] as number;
    m = q;
  }
  if (m >= 10) {
    bytes[--to] = PAIRS[2 * m + 1] as number;
    bytes[--to] = PAIRS[2 * m] as number;
  } else {
    bytes[--to] = ZERO + m;
  }
  return end;
}

/** Writes n (from 0 to 10^count − 1) as exactly `count` digits, leading zeros included; returns the end. */
function paddedDigits(bytes: Uint8Array, at: number, n: number, count: number): number {
  let to = at + count;
  let m = n;
  for (let left = count; left >= 2; left -= 2) {
    const q = (m / 100) | 0;
    const pair = 2 * (m - 100 * q);
    bytes[--to] = PAIRS[pair + 1] as number;
    bytes[--to] = PAIRS[pair] as number;
    m = q;
  }
  if (to > at) bytes[--to] = ZERO + m;
  return at + count;
}

/** Writes the decimal digits of n, a whole number from 0 to 2^53 − 1; returns the end. */
function wholeDigits(bytes: Uint8Array, at: number, n: number): number {
  if (n < INT_LIMIT) return intDigits(bytes, at, n);
  // Both parts exact: % of doubles is, and so is the division of a multiple of 10^9 by it.
  const low = n % 1e9;
  return paddedDigits(bytes, intDigits(bytes, at, (n - low) / 1e9), low, 9);
}

/** Writes n as String() has it (`${n}`); returns the end. */
function numberCell(bytes: Uint8Array, at: number, n: number): number {
  if (n >= 0 && n < INT_LIMIT && (n | 0) === n) return intDigits(bytes, at, n | 0);
  if (Number.isSafeInteger(n)) {
    if (n >= 0) return wholeDigits(bytes, at, n);
    bytes[at] = MINUS;
    return wholeDigits(bytes, at + 1, -n);
  }
  return asciiCell(bytes, at, String(n));
}

/** Writes a string of ASCII characters; returns the end. */
function asciiCell(bytes: Uint8Array, at: number, s: string): number {
  for (let i = 0; i < s.length; i++) bytes[at + i] = s.charCodeAt(i);
  return at + s.length;
}

/** Writes centsText(cents); returns the end. */
function centsCell(bytes: Uint8Array, at: number, cents: number): number {
  let to = at;
  const small = cents | 0;
  if (small === cents && small !== -INT_LIMIT) {
    // −0 is written without a sign, as centsText has it.
    let abs = small;
    if (small < 0) {
      bytes[to++] = MINUS;
      abs = -small;
    }
    const whole = (abs / 100) | 0;
    const pair = 2 * (abs - 100 * whole);
    to = intDigits(bytes, to, whole);
    bytes[to] = DOT;
    bytes[to + 1] = PAIRS[pair] as number;
    bytes[to + 2] = PAIRS[pair + 1] as number;
    return to + 3;
  }
  if (!Number.isSafeInteger(cents)) return asciiCell(bytes, at, centsText(cents));
  if (cents < 0) bytes[to++] = MINUS;
  const abs = Math.abs(cents);
  const fraction = abs % 100;
  to = wholeDigits(bytes, to, (abs - fraction) / 100);
  bytes[to] = DOT;
  return paddedDigits(bytes, to + 1, fraction, 2);
}

/**
 * Writes value.toFixed(places), where scale is 10^places (both constants at each call, which lets the
 * compiler turn the divisions into multiplications); nothing for undefined or NaN (the CSV's empty cell);
 * returns the end.
 */
function fixedCell(
  bytes: Uint8Array,
  at: number,
  value: number | undefined,
  places: number,
  scale: number,
): number {
  if (value === undefined || Number.isNaN(value)) return at;
  const n = scaledRounded(value, scale);
  if (n < 0) return asciiCell(bytes, at, value.toFixed(places));
  let to: number;
  let fraction: number;
  if (n < INT_LIMIT) {
    // Exact: the quotient of two integers below 2^31 is nearer to its floor than half an ulp.
    const k = n | 0;
    const whole = (k / scale) | 0;
    fraction = k - whole * scale;
    to = intDigits(bytes, at, whole);
  } else {
    fraction = n % scale;
    to = wholeDigits(bytes, at, (n - fraction) / scale);
  }
  if (places === 0) return to;
  bytes[to] = DOT;
  return paddedDigits(bytes, to + 1, fraction, places);
}

/** A model's money value to the cent, halves away from zero; nothing for undefined or NaN. */
function moneyCell(bytes: Uint8Array, at: number, value: number | undefined): number {
  if (value === undefined || Number.isNaN(value)) return at;
  return centsCell(bytes, at, centsOfAmount(value));
}

/** Copies `source` to `at`; returns the end. */
function copyCell(bytes: Uint8Array, at: number, source: Uint8Array): number {
  const length = source.length;
  if (length > 32) bytes.set(source, at);
  else for (let i = 0; i < length; i++) bytes[at + i] = source[i] as number;
  return at + length;
}

/**
 * The buffer rows are formatted into, and the file it goes to: when it fills, its bytes are written while
 * rows go into the other buffer, whose own write, started when it last filled, is awaited first.
 */
class RowBuffer {
  bytes = Buffer.allocUnsafe(WRITE_BUFFER_BYTES);
  at = 0;
  private spare = Buffer.allocUnsafe(WRITE_BUFFER_BYTES);
  /** The write of the spare buffer's bytes, while it runs. */
  private pending: Promise<void> | undefined;

  constructor(private readonly file: FileHandle) {}

  /** Starts writing what is gathered and continues in the other buffer, which then has `room` bytes. */
  async turn(room: number): Promise<void> {
    await this.pending;
    this.pending = undefined;
    const full = this.bytes;
    const length = this.at;
    this.bytes = this.spare.length >= room ? this.spare : Buffer.allocUnsafe(room);
    this.spare = full;
    this.at = 0;
    if (length === 0) return;
    const pending = this.writeAll(full, length);
    // Awaited at the next turn or at the end; until then a failure must not count as unhandled.
    pending.catch(() => {});
    this.pending = pending;
  }

  /** Writes what is gathered and waits for every write. */
  async finish(): Promise<void> {
    await this.turn(0);
    await this.pending;
    this.pending = undefined;
  }

  private async writeAll(bytes: Buffer, length: number): Promise<void> {
    let from = 0;
    while (from < length) {
      const { bytesWritten } = await this.file.write(bytes, from, length - from);
      from += bytesWritten;
    }
  }
}

/** Most bytes a row takes besides its two text cells: 17 numbers of at most 25 characters, commas, ids. */
const ROW_BYTES = 1024;

/** Whether a customer id's bytes [start, end) are left as they are by csvTextCell (see the module header). */
function plainBytes(bytes: Uint8Array, start: number, end: number): boolean {
  const first = bytes[start];
  // = + - @
  if (first === 0x3d || first === 0x2b || first === 0x2d || first === 0x40) return false;
  for (let i = start; i < end; i++) {
    const c = bytes[i] as number;
    // Printable ASCII (no space) without " , ;
    if (c < 0x21 || c > 0x7e || c === 0x22 || c === 0x2c || c === 0x3b) return false;
  }
  return true;
}

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
  const comma = Uint8Array.of(COMMA);
  // The ids' bytes: entry s of the state's customer set is arena[start, ends[s]), after its length prefix
  // (a varint, bytes ≥ 0x80 but the last) at ends[s − 1] (0 for the first).
  const ids = result.state?.customers.parts();
  const arena = ids?.arena ?? empty;
  const ends = ids?.ends;
  const { stateIndex, firstPurchaseDay, recencyDays, frequency, monetaryCents, r, f, m, rfmSegment } = c;
  const { cluster, lifecycle, probabilityAlive, expectedPurchases, expectedPurchasesLow } = c;
  const { expectedPurchasesHigh, clv, clvLow, clvHigh } = c;
  let lastCategory: string | undefined;
  let categoryCell: Uint8Array = empty;
  let lastDay = Number.NaN;
  let dayCell: Uint8Array = empty;
  // The cells `rfm segment,cluster,lifecycle stage,` of each combination met, at
  // (rfmSegment · LIFECYCLE_STAGES.length + lifecycle) · clusterSlots + (cluster + 1, or 0 without clusters).
  let clusterSlots = 1;
  if (cluster !== undefined)
    for (let i = 0; i < cluster.length; i++)
      clusterSlots = Math.max(clusterSlots, (cluster[i] as number) + 2);
  const lifecycleCount = lifecycleIds.length;
  const segmentCells: (Uint8Array | undefined)[] = [];

  const header = encode(`${columns.join(",")}\n`);
  await out.turn(header.length);
  out.at = copyCell(out.bytes, 0, header);
  for (let i = 0; i < result.customerCount; i++) {
    const category = result.nextBestCategoryOf(i) ?? "";
    if (category !== lastCategory) {
      let cell = categories.get(category);
      if (cell === undefined) {
        cell = encode(csvTextCell(category));
        categories.set(category, cell);
      }
      categoryCell = cell;
      lastCategory = category;
    }
    let idStart = 0;
    let idEnd = 0;
    let id: string | undefined;
    if (ends !== undefined) {
      const s = stateIndex[i] as number;
      idStart = s === 0 ? 0 : (ends[s - 1] as number);
      while ((arena[idStart] as number) >= 0x80) idStart++;
      idStart++;
      idEnd = ends[s] as number;
      if (!plainBytes(arena, idStart, idEnd)) id = result.customerId(i);
    } else {
      id = result.customerId(i);
    }
    const idRoom = id === undefined ? idEnd - idStart : 6 * id.length + 8;
    if (out.at + ROW_BYTES + idRoom + categoryCell.length > out.bytes.length)
      await out.turn(ROW_BYTES + idRoom + categoryCell.length);
    const bytes = out.bytes;
    let at = out.at;
    if (id === undefined) {
      for (let j = idStart; j < idEnd; j++) bytes[at++] = arena[j] as number;
    } else if (ends === undefined && plainText(id)) {
      at = asciiCell(bytes, at, id);
    } else {
      at += bytes.write(csvTextCell(id), at, "utf8");
    }
    bytes[at++] = COMMA;
    const first = firstPurchaseDay[i] as number;
    if (first !== lastDay) {
      let cell = days.get(first);
      if (cell === undefined) {
        cell = encode(`${isoDay(first)},`);
        days.set(first, cell);
      }
      dayCell = cell;
      lastDay = first;
    }
    at = copyCell(bytes, at, dayCell);
    at = numberCell(bytes, at, recencyDays[i] as number);
    bytes[at++] = COMMA;
    at = numberCell(bytes, at, frequency[i] as number);
    bytes[at++] = COMMA;
    at = centsCell(bytes, at, monetaryCents[i] as number);
    bytes[at++] = COMMA;
    at = intDigits(bytes, at, r[i] as number);
    bytes[at++] = COMMA;
    at = intDigits(bytes, at, f[i] as number);
    bytes[at++] = COMMA;
    at = intDigits(bytes, at, m[i] as number);
    bytes[at++] = COMMA;
    const segment = rfmSegment[i] as number;
    const stage = lifecycle[i] as number;
    const slot = cluster === undefined ? 0 : (cluster[i] as number) + 1;
    const key = (segment * lifecycleCount + stage) * clusterSlots + slot;
    let segmentCell = segmentCells[key];
    if (segmentCell === undefined) {
      const clusterId = slot === 0 ? empty : (clusterIds[slot - 1] ?? empty);
      segmentCell = Buffer.concat([
        rfmIds[segment] as Uint8Array,
        comma,
        clusterId,
        comma,
        lifecycleIds[stage] as Uint8Array,
        comma,
      ]);
      segmentCells[key] = segmentCell;
    }
    at = copyCell(bytes, at, segmentCell);
    at = fixedCell(bytes, at, probabilityAlive?.[i], 6, 1e6);
    bytes[at++] = COMMA;
    at = fixedCell(bytes, at, expectedPurchases?.[i], 4, 1e4);
    bytes[at++] = COMMA;
    at = fixedCell(bytes, at, expectedPurchasesLow?.[i], 4, 1e4);
    bytes[at++] = COMMA;
    at = fixedCell(bytes, at, expectedPurchasesHigh?.[i], 4, 1e4);
    bytes[at++] = COMMA;
    at = moneyCell(bytes, at, clv?.[i]);
    bytes[at++] = COMMA;
    at = moneyCell(bytes, at, clvLow?.[i]);
    bytes[at++] = COMMA;
    at = moneyCell(bytes, at, clvHigh?.[i]);
    bytes[at++] = COMMA;
    at = copyCell(bytes, at, categoryCell);
    bytes[at++] = NEWLINE;
    out.at = at;
  }
  await out.finish();
}

/** Whether csvTextCell(text) is text itself for a reason checked here cheaply (see the module header). */
function plainText(text: string): boolean {
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
