/**
 * Ingestion: reads a transactions or customers file into an AggregateState, validating every row against
 * the data contract and reporting each rejected row (1-based data row, column, code, reason).
 *
 * Transactions: customer_id and order_id (required, at most 128 characters), order_date (ISO 8601, see
 * days.ts), amount (decimal to the cent, see fields.ts; negative for a return), and optional channel and
 * category (at most 128 characters), quantity (integer) and currency (a three-letter code, one per dataset).
 * Rows with the same order_id in one file are the lines of one order: their amounts are summed and the
 * order takes its customer, date, channel and category from its first line; a line naming another customer
 * is rejected (ORDER_CUSTOMER_MISMATCH). An order_id the state already held before this file is skipped whole
 * and counted as a duplicate, so uploading a file again changes nothing.
 *
 * Limits that keep every sum of money exact (integer cents below 2^53, see money.ts): a row whose |amount|
 * passes MAX_AMOUNT_CENTS is rejected AMOUNT_TOO_LARGE; a row that would bring its customer's sum of
 * |amounts| past MAX_CUSTOMER_CENTS is rejected CUSTOMER_TOTAL_TOO_LARGE, and one that would bring the
 * dataset's past MAX_DATASET_CENTS DATASET_TOTAL_TOO_LARGE (checked in that order, in row order). The sums
 * count each order already in the state by its |amount| and each line accepted from the file by its own;
 * they only grow, so a row accepted stays accepted whatever comes after it. Quantities are checked as whole
 * numbers of at most 15 digits and never summed.
 *
 * Future dates: with options.latestOrderDay, a row dated after that day is rejected FUTURE_DATE (the
 * pipeline passes the day after the processing day, so that a time zone ahead of UTC is not refused).
 *
 * Customers: customer_id plus any columns; values are kept as text (trimmed; empty = missing). A later row
 * for the same customer overwrites the columns its file has; in NDJSON, null clears a value and an absent
 * key leaves it, and arrays of plain values are joined with ";".
 *
 * Whole-file problems throw FileError. When an ingest throws, the state passed in may be partly modified
 * and must be discarded (reload it from its serialized form).
 */

import { isoDay, NO_DAY, parseDayBytes } from "./days";
import { FileError } from "./errors";
import { amountProblem, FieldBytes, parseCents, parseInteger } from "./fields";
import { HASH64, hash64, hashKey } from "./hash";
import { centsText } from "./money";
import { type CsvStats, FIELD_NESTED, type FieldRecord, readCsv, readNdjson } from "./reader";
import { type AggregateState, MAX_DICTIONARY_VALUES } from "./state";
import { type IngestReport, type ReaderOptions, type RowError, TRANSACTION_COLUMNS } from "./types";

export interface IngestOptions extends ReaderOptions {
  /** Called once per rejected row, in row order. */
  onRowError?: (error: RowError) => void;
  /**
   * About how many orders the file holds (say, its size / 40 bytes), to size hash tables up front; a hint
   * that only affects speed and memory.
   */
  expectedOrders?: number;
  /**
   * Called with the row of each transaction that brings a new customer into the state, in customer index
   * order (the sharded reader keeps each customer's first row with it).
   */
  onCustomerAdded?: (row: number) => void;
  /**
   * How many bytes at the start of the file are probed for NUL bytes (default 64 KiB). The sharded reader
   * probes the upload once and reads its rows regrouped with 0 here, so a row's place does not matter.
   */
  binaryProbeBytes?: number;
  /** Called with the row of each transaction that adds a new order, in order index order. */
  onOrderAdded?: (row: number) => void;
  /** Day number (days.ts) of the latest order_date accepted; later rows are rejected FUTURE_DATE. */
  latestOrderDay?: number;
  /**
   * Filled in when the ingest ends: the dataset's sum of |amounts| as the limits count it (see the module
   * header), in cents. The sharded reader adds up its buckets' to check the dataset limit.
   */
  totals?: { absoluteCents: number };
  /**
   * Orders another part of the upload holds (by order_id hash lanes, as signed integers): a line that would
   * add one is rejected as ORDER_CUSTOMER_MISMATCH, as it is when the whole upload is read in one piece.
   */
  isForeignOrder?: (hi: number, lo: number) => boolean;
  /** CSV only: filled in when the ingest ends with the lines read and the line breaks inside quoted fields. */
  csvStats?: CsvStats;
  /**
   * Collects each valid currency code the rows name (rows that reach the currency check, whatever the check
   * then decides): the parallel reader learns from it whether any row could meet another currency.
   */
  currencies?: Set<string>;
  /** Keeps the hash tables when the ingest ends (for a reader that goes on adding to the state). */
  keepTables?: boolean;
}

/*
 * The limits, in cents. Any sum of a dataset's amounts (a segment's revenue, a customer's spend, the
 * dataset's) is at most its sum of |amounts|, so with MAX_DATASET_CENTS = 10^15 − 1 every such sum is an
 * integer below 2^53 (exact in a double) and, as an amount, a decimal of at most 15 significant digits,
 * which a double (and so a JSON number) holds exactly: 9,999,999,999,999.99 at most.
 */
/** Largest |amount| of a row: 99,999,999,999.99. */
export const MAX_AMOUNT_CENTS = 1e13 - 1;
/** Largest sum of |amounts| of one customer: 999,999,999,999.99. */
export const MAX_CUSTOMER_CENTS = 1e14 - 1;
/** Largest sum of |amounts| of a dataset: 9,999,999,999,999.99. */
export const MAX_DATASET_CENTS = 1e15 - 1;

/** Longest id, channel or category, in characters (code points). */
export const MAX_ID_CHARS = 128;
/** Longest customer attribute value, in characters. */
export const MAX_ATTRIBUTE_CHARS = 4096;

const REQUIRED_TRANSACTION_COLUMNS = new Set(["customer_id", "order_id", "order_date", "amount"]);

// Canonical transaction column positions (TRANSACTION_COLUMNS order).
const CUSTOMER = 0;
const ORDER = 1;
const DATE = 2;
const AMOUNT = 3;
const CHANNEL = 4;
const CATEGORY = 5;
const QUANTITY = 6;
const CURRENCY = 7;

interface Counts {
  rowsRead: number;
  rowsAccepted: number;
  rowsRejected: number;
}

export function headerFor(options: ReaderOptions, canonical: string): string {
  const mapped = options.columns?.[canonical];
  return (typeof mapped === "string" ? mapped : canonical).trim();
}

/** Index of a header name: exact match first, then ignoring letter case; -1 when absent. */
export function findHeader(names: readonly string[], wanted: string): number {
  const exact = names.indexOf(wanted);
  if (exact >= 0) return exact;
  const lower = wanted.toLowerCase();
  return names.findIndex((name) => name.toLowerCase() === lower);
}

function checkDuplicates(names: readonly string[], used: readonly number[]): void {
  const seen = new Map<string, number>();
  const duplicates: string[] = [];
  names.forEach((name, i) => {
    const key = name.toLowerCase();
    if (name === "") return;
    const first = seen.get(key);
    if (first === undefined) seen.set(key, i);
    else if (used.includes(first) || used.includes(i)) duplicates.push(name);
  });
  if (duplicates.length > 0) {
    throw new FileError(
      "DUPLICATE_COLUMNS",
      `The header names ${duplicates.map((d) => JSON.stringify(d)).join(", ")} more than once`,
      duplicates,
    );
  }
}

/** Headers named in a MISSING_COLUMNS message, and the length each is cut to. */
const LISTED_HEADERS = 20;
const LISTED_HEADER_LENGTH = 64;

/**
 * The file lacks required columns: the message names them, the headers the file has, and the mapping that
 * renames a header to a column (the upload's `columns`), so that a file with other headers can be read.
 */
function missingColumns(
  missing: { canonical: string; header: string }[],
  found: readonly string[],
): FileError {
  const list = missing.map((m) =>
    m.header === m.canonical ? m.canonical : `${m.canonical} (as "${m.header}")`,
  );
  const named = found
    .slice(0, LISTED_HEADERS)
    .map((h) => JSON.stringify(h.length > LISTED_HEADER_LENGTH ? `${h.slice(0, LISTED_HEADER_LENGTH)}…` : h));
  const more = found.length > LISTED_HEADERS ? ` and ${found.length - LISTED_HEADERS} more` : "";
  const has = found.length === 0 ? "no columns" : `the columns ${named.join(", ")}${more}`;
  const example = missing[0] as { canonical: string };
  return new FileError(
    "MISSING_COLUMNS",
    `The file lacks the column${missing.length > 1 ? "s" : ""} ${list.join(", ")}; it has ${has}. ` +
      `Map a header of the file to each missing column with the upload's columns ` +
      `(e.g. {"${example.canonical}": "<header>"}; npm run upload -- --columns ${example.canonical}=<header>)`,
    missing.map((m) => m.canonical),
  );
}

/** Plain JSON values as field text; undefined for null/absent; FIELD_NESTED for objects. */
function jsonText(value: unknown, joinArrays: boolean): string | undefined | typeof FIELD_NESTED {
  if (value === null || value === undefined) return undefined;
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (joinArrays && Array.isArray(value) && value.every((v) => v === null || typeof v !== "object")) {
    return value
      .filter((v) => v !== null)
      .map(String)
      .join(";");
  }
  return FIELD_NESTED;
}

function ownValue(object: Record<string, unknown>, key: string): unknown {
  if (Object.hasOwn(object, key)) return object[key];
  const lower = key.toLowerCase();
  for (const k of Object.keys(object)) if (k.trim().toLowerCase() === lower) return object[k];
  return undefined;
}

/** Builds FieldRecords from NDJSON objects, so both formats share one validation path. */
class ObjectRecord {
  readonly record: FieldRecord = {
    row: 0,
    count: 0,
    buf: Buffer.alloc(1024),
    starts: new Int32Array(8),
    ends: new Int32Array(8),
    flags: new Uint8Array(8),
  };
  private used = 0;

  reset(row: number, count: number): void {
    const r = this.record;
    r.row = row;
    r.count = count;
    this.used = 0;
    if (r.starts.length < count) {
      r.starts = new Int32Array(count * 2);
      r.ends = new Int32Array(count * 2);
      r.flags = new Uint8Array(count * 2);
    }
  }

  set(k: number, value: string | undefined | typeof FIELD_NESTED): void {
    const r = this.record;
    r.flags[k] = 0;
    if (value === undefined || value === FIELD_NESTED) {
      r.starts[k] = 0;
      r.ends[k] = 0;
      if (value === FIELD_NESTED) r.flags[k] = FIELD_NESTED;
      return;
    }
    const need = this.used + Buffer.byteLength(value, "utf8");
    if (need > r.buf.length) {
      const grown = Buffer.alloc(Math.max(need, r.buf.length * 2));
      r.buf.copy(grown, 0, 0, this.used);
      r.buf = grown;
    }
    r.starts[k] = this.used;
    this.used += r.buf.write(value, this.used, "utf8");
    r.ends[k] = this.used;
  }
}

// ---- transactions ----------------------------------------------------------------------------------------

/**
 * Dictionary codes (channel or category) of values of up to 8 bytes, in a small direct-mapped cache keyed by
 * the bytes themselves: the few distinct values such columns hold are found without hashing them into the
 * state's dictionary. Codes never change during an ingest, so a cached code stays right.
 */
class ShortCodes {
  private static readonly SIZE = 64;
  private readonly lengths = new Int32Array(ShortCodes.SIZE).fill(-1);
  private readonly low = new Int32Array(ShortCodes.SIZE);
  private readonly high = new Int32Array(ShortCodes.SIZE);
  private readonly codes = new Int32Array(ShortCodes.SIZE);

  constructor(private readonly set: AggregateState["channels"]) {}

  /** Code (1-based) of an optional value, 0 when empty, -1 when the dictionary is full. */
  code(buf: Uint8Array, start: number, end: number): number {
    const length = end - start;
    if (length === 0) return 0;
    if (length > 8) return dictionaryCode(this.set, buf, start, end);
    let low = 0;
    let high = 0;
    for (let i = 0; i < length; i++) {
      const b = buf[start + i] as number;
      if (i < 4) low |= b << (8 * i);
      else high |= b << (8 * (i - 4));
    }
    const slot =
      (Math.imul(low ^ Math.imul(high, 0x9e3779b1) ^ length, 0x85ebca6b) >>> 26) & (ShortCodes.SIZE - 1);
    if (this.lengths[slot] === length && this.low[slot] === low && this.high[slot] === high)
      return this.codes[slot] as number;
    const code = dictionaryCode(this.set, buf, start, end);
    if (code > 0) {
      this.lengths[slot] = length;
      this.low[slot] = low;
      this.high[slot] = high;
      this.codes[slot] = code;
    }
    return code;
  }
}

/** Dictionary code (1-based) of a non-empty value, added when new; -1 when the dictionary is full. */
function dictionaryCode(
  set: AggregateState["channels"],
  buf: Uint8Array,
  start: number,
  end: number,
): number {
  const found = set.find(buf, start, end);
  if (found >= 0) return found + 1;
  if (set.size >= MAX_DICTIONARY_VALUES) return -1;
  return set.append(buf, start, end) + 1;
}

/** Rows validated before their batch goes through the hash tables. */
const BATCH = 256;

/**
 * Validated rows waiting for the hash-table phase: their order_id hash, customer id hash, day, cents and
 * currency, and copies of their customer id, channel and category bytes (the record's buffer is only valid
 * during its call). Going through the tables a batch at a time lets the cache misses of the batch's lookups
 * overlap (see ByteSet.touch); the rows are still applied one by one in row order, so the result is the same
 * as row at a time.
 */
class Batch {
  count = 0;
  readonly row = new Int32Array(BATCH);
  // Hashes are kept as signed 32-bit integers: V8 passes those to functions as they are, where an unsigned
  // value of 2^31 or more would be boxed in a new heap number on every call.
  readonly hi = new Int32Array(BATCH);
  readonly lo = new Int32Array(BATCH);
  readonly customerHash = new Int32Array(BATCH);
  readonly day = new Int32Array(BATCH);
  readonly cents = new Float64Array(BATCH);
  readonly currency: string[] = new Array<string>(BATCH).fill("");
  /**
   * Row i's customer id is bytes[bounds[4i], bounds[4i + 1]), its channel runs to bounds[4i + 2] and its
   * category to bounds[4i + 3].
   */
  readonly bounds = new Uint32Array(BATCH * 4);
  bytes = new Uint8Array(BATCH * 32);
  private used = 0;

  /** Copies the bytes of a field; returns where they end. */
  copy(field: FieldBytes): number {
    const length = field.end - field.start;
    let bytes = this.bytes;
    if (this.used + length > bytes.length) {
      bytes = new Uint8Array(Math.max(bytes.length * 2, this.used + length));
      bytes.set(this.bytes.subarray(0, this.used));
      this.bytes = bytes;
    }
    const src = field.buf;
    let at = this.used;
    for (let i = field.start; i < field.end; i++) bytes[at++] = src[i] as number;
    this.used = at;
    return at;
  }

  clear(): void {
    this.count = 0;
    this.used = 0;
  }
}

class TransactionIngest {
  readonly counts: Counts = { rowsRead: 0, rowsAccepted: 0, rowsRejected: 0 };
  ordersAdded = 0;
  ordersDuplicate = 0;
  orderLinesMerged = 0;
  /** Field index of each canonical column in the record, -1 when the file lacks it. */
  index = new Int32Array(TRANSACTION_COLUMNS.length).fill(-1);
  private readonly fields = TRANSACTION_COLUMNS.map(() => new FieldBytes());
  /** Orders below this index were in the state before this file. */
  private readonly firstNewOrder: number;
  /** Marks old orders already counted as duplicates in this file. */
  private seenOld: Uint8Array | null = null;
  private readonly currencyBytes = new Uint8Array(3);
  /** The last currency code added to `currencies`. */
  private lastNamed = "";
  /** See IngestOptions.currencies. */
  currencies: Set<string> | undefined;
  /** The last plain date (yyyy-mm-dd) parsed, and its day number; all zero bytes match no date. */
  private readonly lastDate = new Uint8Array(10);
  private lastDay = NO_DAY;
  private readonly batch = new Batch();
  private readonly channelCodes: ShortCodes;
  private readonly categoryCodes: ShortCodes;
  /** What the batch prefetches read; kept so that the reads are not optimized away. */
  touched = 0;
  /** Customers in the state before the row being applied. */
  private customersBefore: number;
  /**
   * Each customer's sum of |amounts| in cents, as the limits count them; null until the dataset's sum could
   * bring one past MAX_CUSTOMER_CENTS (a customer's sum is at most the dataset's), so that a file far below
   * the limits reads no per-customer sum at all. It is then worked out from the state and `mergedAbs`.
   */
  private customerCents: Float64Array | null = null;
  /**
   * While customerCents is null: how much each customer's sum of |amounts| exceeds the sum of its orders'
   * |amounts| (the lines of an order may cancel out: 5.00 and -5.00 count 10.00); allocated at the first
   * further line of an order.
   */
  private mergedExtra: Float64Array | null = null;
  /** The dataset's sum of |amounts|, in cents, as the limits count it. */
  datasetCents = 0;

  constructor(
    private readonly state: AggregateState,
    private readonly onRowError: ((error: RowError) => void) | undefined,
    private readonly onCustomerAdded: ((row: number) => void) | undefined,
    private readonly onOrderAdded: ((row: number) => void) | undefined,
    private readonly isForeignOrder: ((hi: number, lo: number) => boolean) | undefined,
    private readonly latestOrderDay: number | undefined,
  ) {
    this.firstNewOrder = state.orderCount;
    this.customersBefore = state.customerCount;
    for (let order = 0; order < state.orderCount; order++)
      this.datasetCents += Math.abs(state.orderCents(order));
    this.channelCodes = new ShortCodes(state.channels);
    this.categoryCodes = new ShortCodes(state.categories);
  }

  /**
   * Rejects a row that has not reached the batch. The rows before it are applied first, so that errors come
   * in row order.
   */
  reject(row: number, column: string | undefined, code: string, reason: string): void {
    this.flush();
    this.rejectApplied(row, column, code, reason);
  }

  private rejectApplied(row: number, column: string | undefined, code: string, reason: string): void {
    this.counts.rowsRejected++;
    if (this.onRowError)
      this.onRowError(column === undefined ? { row, code, reason } : { row, column, code, reason });
  }

  readerError = (error: RowError): void => {
    this.flush();
    this.counts.rowsRead++;
    this.counts.rowsRejected++;
    this.onRowError?.(error);
  };

  /** Checks a required or optional text column; true when the row may go on. */
  private text(record: FieldRecord, k: number, required: boolean): boolean {
    const column = TRANSACTION_COLUMNS[k] as string;
    const field = this.fields[k] as FieldBytes;
    const at = this.index[k] as number;
    if (at < 0) {
      field.start = field.end = 0;
      return true;
    }
    if ((record.flags[at] as number) & FIELD_NESTED) {
      this.reject(record.row, column, "BAD_VALUE", `${column} must be a string, not an object or array`);
      return false;
    }
    field.load(record, at);
    if (field.empty) {
      if (!required) return true;
      this.reject(record.row, column, "MISSING_VALUE", `${column} is required`);
      return false;
    }
    if (!field.isUtf8()) {
      this.reject(record.row, column, "BAD_ENCODING", `${column} is not valid UTF-8`);
      return false;
    }
    if (field.byteLength > MAX_ID_CHARS && field.charLength() > MAX_ID_CHARS) {
      this.reject(record.row, column, "TOO_LONG", `${column} is longer than ${MAX_ID_CHARS} characters`);
      return false;
    }
    return true;
  }

  record = (record: FieldRecord): void => {
    this.counts.rowsRead++;
    const row = record.row;
    const f = this.fields;
    if (!this.text(record, CUSTOMER, true) || !this.text(record, ORDER, true)) return;

    const dateAt = this.index[DATE] as number;
    const date = (f[DATE] as FieldBytes).load(record, dateAt);
    const dateNested = ((record.flags[dateAt] as number) & FIELD_NESTED) !== 0;
    if (date.empty && !dateNested) {
      this.reject(row, "order_date", "MISSING_VALUE", "order_date is required");
      return;
    }
    const day = dateNested ? NO_DAY : this.dayOf(date);
    if (day === NO_DAY) {
      this.reject(
        row,
        "order_date",
        "BAD_DATE",
        "order_date is not an ISO 8601 date (yyyy-mm-dd) or date-time",
      );
      return;
    }
    if (this.latestOrderDay !== undefined && day > this.latestOrderDay) {
      this.reject(
        row,
        "order_date",
        "FUTURE_DATE",
        `order_date is after ${isoDay(this.latestOrderDay)}, the latest date accepted (the day after processing)`,
      );
      return;
    }

    const amountAt = this.index[AMOUNT] as number;
    const amount = (f[AMOUNT] as FieldBytes).load(record, amountAt);
    const amountNested = ((record.flags[amountAt] as number) & FIELD_NESTED) !== 0;
    if (amount.empty && !amountNested) {
      this.reject(row, "amount", "MISSING_VALUE", "amount is required");
      return;
    }
    const cents = amountNested ? Number.NaN : parseCents(amount.buf, amount.start, amount.end);
    if (Number.isNaN(cents)) {
      const why = amountNested ? "it is not a number" : amountProblem;
      this.reject(row, "amount", "BAD_AMOUNT", `amount must be a decimal such as 12.50 or -3; ${why}`);
      return;
    }
    if (Math.abs(cents) > MAX_AMOUNT_CENTS) {
      this.reject(
        row,
        "amount",
        "AMOUNT_TOO_LARGE",
        `|amount| must be at most ${centsText(MAX_AMOUNT_CENTS)}`,
      );
      return;
    }

    if (!this.text(record, CHANNEL, false) || !this.text(record, CATEGORY, false)) return;
    const quantityAt = this.index[QUANTITY] as number;
    if (quantityAt >= 0) {
      const quantity = (f[QUANTITY] as FieldBytes).load(record, quantityAt);
      if (
        ((record.flags[quantityAt] as number) & FIELD_NESTED) !== 0 ||
        (!quantity.empty && Number.isNaN(parseInteger(quantity.buf, quantity.start, quantity.end)))
      ) {
        this.reject(row, "quantity", "BAD_QUANTITY", "quantity must be a whole number");
        return;
      }
    }
    let currency = "";
    const currencyAt = this.index[CURRENCY] as number;
    if (currencyAt >= 0) {
      const field = (f[CURRENCY] as FieldBytes).load(record, currencyAt);
      if (!field.empty) {
        currency = this.currencyCode(field, (record.flags[currencyAt] as number) & FIELD_NESTED);
        if (currency !== this.lastNamed && currency !== "") {
          this.lastNamed = currency;
          this.currencies?.add(currency);
        }
        if (currency === "") {
          this.reject(
            row,
            "currency",
            "BAD_CURRENCY",
            "currency must be a three-letter ISO 4217 code such as EUR",
          );
          return;
        }
        // The dataset's currency is set by the first order added with one: the batch may hold it.
        if (this.state.currency === undefined) this.flush();
        const known = this.state.currency;
        if (known !== undefined && known !== currency) {
          this.reject(
            row,
            "currency",
            "CURRENCY_MISMATCH",
            `The dataset's amounts are in ${known}, this row's in ${currency}`,
          );
          return;
        }
      }
    }

    const batch = this.batch;
    const i = batch.count;
    const order = f[ORDER] as FieldBytes;
    const customer = f[CUSTOMER] as FieldBytes;
    hash64(order.buf, order.start, order.end);
    batch.row[i] = row;
    batch.hi[i] = HASH64[0] as number;
    batch.lo[i] = HASH64[1] as number;
    batch.customerHash[i] = hashKey(customer.buf, customer.start, customer.end);
    batch.day[i] = day;
    batch.cents[i] = cents;
    batch.currency[i] = currency;
    const bounds = batch.bounds;
    const customerEnd = batch.copy(customer);
    bounds[4 * i] = customerEnd - customer.byteLength;
    bounds[4 * i + 1] = customerEnd;
    bounds[4 * i + 2] = batch.copy(f[CHANNEL] as FieldBytes);
    bounds[4 * i + 3] = batch.copy(f[CATEGORY] as FieldBytes);
    batch.count = i + 1;
    if (i + 1 === BATCH) this.flush();
  };

  /**
   * The day number of a date field. Files are mostly in date order, so a plain date the same as the last one
   * parsed is recognised by its bytes.
   */
  private dayOf(date: FieldBytes): number {
    const buf = date.buf;
    const start = date.start;
    const last = this.lastDate;
    if (date.end - start === 10) {
      let same = true;
      for (let i = 0; i < 10; i++) {
        if (buf[start + i] !== last[i]) {
          same = false;
          break;
        }
      }
      if (same) return this.lastDay;
      const day = parseDayBytes(buf, start, date.end);
      if (day !== NO_DAY) {
        for (let i = 0; i < 10; i++) last[i] = buf[start + i] as number;
        this.lastDay = day;
      }
      return day;
    }
    return parseDayBytes(buf, start, date.end);
  }

  /** Applies the batch's rows to the state, in row order. */
  flush(): void {
    const batch = this.batch;
    const n = batch.count;
    if (n === 0) return;
    const state = this.state;
    this.touched ^= state.touchOrders(batch.hi, n) ^ state.customers.touch(batch.customerHash, n);
    const bytes = batch.bytes;
    const bounds = batch.bounds;
    for (let i = 0; i < n; i++) {
      const row = batch.row[i] as number;
      const hi = batch.hi[i] as number;
      const lo = batch.lo[i] as number;
      const customerStart = bounds[4 * i] as number;
      const customerEnd = bounds[4 * i + 1] as number;
      const existing = state.lookupOrder(hi, lo);
      if (existing < 0 && this.isForeignOrder?.(hi, lo) === true) {
        this.rejectApplied(
          row,
          "customer_id",
          "ORDER_CUSTOMER_MISMATCH",
          "An earlier line of this order names another customer",
        );
        continue;
      }
      const cents = batch.cents[i] as number;
      const abs = Math.abs(cents);
      if (existing < 0) {
        // A customer's sum is at most the dataset's, so it is looked up only when it might pass its limit;
        // a new customer's is 0 and never does (MAX_AMOUNT_CENTS ≤ MAX_CUSTOMER_CENTS).
        if (this.datasetCents + abs > MAX_CUSTOMER_CENTS) {
          const known = state.customers.find(
            bytes,
            customerStart,
            customerEnd,
            batch.customerHash[i] as number,
          );
          if (known >= 0 && this.overCustomerLimit(row, known, abs)) continue;
        }
        if (this.overDatasetLimit(row, abs)) continue;
        const channelEnd = bounds[4 * i + 2] as number;
        const channel = this.channelCodes.code(bytes, customerEnd, channelEnd);
        const category = this.categoryCodes.code(bytes, channelEnd, bounds[4 * i + 3] as number);
        if (channel < 0 || category < 0) {
          const column = channel < 0 ? "channel" : "category";
          this.rejectApplied(
            row,
            column,
            "TOO_MANY_VALUES",
            `A dataset holds at most ${MAX_DICTIONARY_VALUES} distinct ${column} values`,
          );
          continue;
        }
        const customerIndex = state.customers.intern(
          bytes,
          customerStart,
          customerEnd,
          batch.customerHash[i] as number,
        );
        // Interning appends new customers, so an index past the known ones is a new customer.
        if (customerIndex >= this.customersBefore) {
          this.customersBefore = customerIndex + 1;
          this.onCustomerAdded?.(row);
        }
        // Interning may have looked up nothing in the order table, so the probe of lookupOrder still holds.
        state.addOrder(hi, lo, customerIndex, batch.day[i] as number, cents, channel, category);
        this.count(customerIndex, abs);
        const currency = batch.currency[i] as string;
        if (currency !== "" && state.currency === undefined) state.setCurrency(currency);
        this.ordersAdded++;
        this.onOrderAdded?.(row);
      } else if (existing >= this.firstNewOrder) {
        if (!state.customers.equals(state.orderCustomer(existing), bytes, customerStart, customerEnd)) {
          this.rejectApplied(
            row,
            "customer_id",
            "ORDER_CUSTOMER_MISMATCH",
            "An earlier line of this order names another customer",
          );
          continue;
        }
        const customer = state.orderCustomer(existing);
        if (this.overCustomerLimit(row, customer, abs) || this.overDatasetLimit(row, abs)) continue;
        if (this.customerCents === null) this.noteMergedLine(existing, customer, cents, abs);
        state.addOrderCents(existing, cents);
        this.count(customer, abs);
        this.orderLinesMerged++;
      } else {
        if (this.seenOld === null) this.seenOld = new Uint8Array(this.firstNewOrder);
        if (this.seenOld[existing] === 0) {
          this.seenOld[existing] = 1;
          this.ordersDuplicate++;
        }
      }
      this.counts.rowsAccepted++;
    }
    batch.clear();
  }

  private overCustomerLimit(row: number, customer: number, abs: number): boolean {
    if (this.datasetCents + abs <= MAX_CUSTOMER_CENTS) return false;
    const sums = this.customerCents ?? this.customerSums();
    const sum = customer < sums.length ? (sums[customer] as number) : 0;
    if (sum + abs <= MAX_CUSTOMER_CENTS) return false;
    this.rejectApplied(
      row,
      "amount",
      "CUSTOMER_TOTAL_TOO_LARGE",
      `The customer's amounts would add up to more than ${centsText(MAX_CUSTOMER_CENTS)} (sum of |amount|)`,
    );
    return true;
  }

  private overDatasetLimit(row: number, abs: number): boolean {
    if (this.datasetCents + abs <= MAX_DATASET_CENTS) return false;
    this.rejectApplied(
      row,
      "amount",
      "DATASET_TOTAL_TOO_LARGE",
      `The dataset's amounts would add up to more than ${centsText(MAX_DATASET_CENTS)} (sum of |amount|)`,
    );
    return true;
  }

  /** Counts an accepted line's |amount| in its customer's sum and the dataset's. */
  private count(customer: number, abs: number): void {
    this.datasetCents += abs;
    let sums = this.customerCents;
    if (sums === null) return;
    if (customer >= sums.length) {
      const grown = new Float64Array(Math.max(customer + 1, sums.length * 2));
      grown.set(sums);
      this.customerCents = sums = grown;
    }
    sums[customer] = (sums[customer] as number) + abs;
  }

  /**
   * Notes a further line of an order while customerCents is null; called before the line's cents are added
   * to the order. The customer's sum of |amounts| grows by |cents| where the sum of its orders' |amounts|
   * grows by |order + cents| - |order|; mergedExtra keeps the difference.
   */
  private noteMergedLine(order: number, customer: number, cents: number, abs: number): void {
    let extra = this.mergedExtra;
    if (extra === null || customer >= extra.length) {
      const grown = new Float64Array(
        Math.max(customer + 1, this.state.customerCount, 2 * (extra?.length ?? 0)),
      );
      if (extra !== null) grown.set(extra);
      this.mergedExtra = extra = grown;
    }
    const before = this.state.orderCents(order);
    extra[customer] = (extra[customer] as number) + abs + Math.abs(before) - Math.abs(before + cents);
  }

  /**
   * Starts keeping each customer's sum of |amounts|: its orders' |amounts| (the orders the state held before
   * this file count that way, and so does an order of one line) plus what its orders' lines added beyond.
   */
  private customerSums(): Float64Array {
    const state = this.state;
    const sums = new Float64Array(Math.max(16, state.customerCount));
    for (let order = 0; order < state.orderCount; order++) {
      const c = state.orderCustomer(order);
      sums[c] = (sums[c] as number) + Math.abs(state.orderCents(order));
    }
    const extra = this.mergedExtra;
    if (extra !== null)
      for (let c = 0; c < Math.min(extra.length, sums.length); c++)
        sums[c] = (sums[c] as number) + (extra[c] as number);
    this.customerCents = sums;
    this.mergedExtra = null;
    return sums;
  }

  private currencyCode(field: FieldBytes, nested: number): string {
    if (nested || field.byteLength !== 3) return "";
    for (let i = 0; i < 3; i++) {
      const c = (field.buf[field.start + i] as number) & 0xdf; // upper case
      if (c < 65 || c > 90) return "";
      this.currencyBytes[i] = c;
    }
    return String.fromCharCode(
      this.currencyBytes[0] as number,
      this.currencyBytes[1] as number,
      this.currencyBytes[2] as number,
    );
  }

  report(): IngestReport {
    return {
      ...this.counts,
      ordersAdded: this.ordersAdded,
      ordersDuplicate: this.ordersDuplicate,
      orderLinesMerged: this.orderLinesMerged,
    };
  }
}

/**
 * Reads a transactions file into the state (append semantics; for replace, pass state.withoutOrders() or a
 * new state). Throws FileError for a file that cannot be read as a whole.
 */
export async function ingestTransactions(
  source: AsyncIterable<Uint8Array>,
  options: IngestOptions,
  state: AggregateState,
): Promise<IngestReport> {
  const ingest = new TransactionIngest(
    state,
    options.onRowError,
    options.onCustomerAdded,
    options.onOrderAdded,
    options.isForeignOrder,
    options.latestOrderDay,
  );
  ingest.currencies = options.currencies;
  if (options.expectedOrders !== undefined && options.expectedOrders > 0) {
    state.reserveOrders(state.orderCount + Math.ceil(options.expectedOrders));
  }
  const wanted = TRANSACTION_COLUMNS.map((canonical) => ({
    canonical,
    header: headerFor(options, canonical),
    required: REQUIRED_TRANSACTION_COLUMNS.has(canonical) || typeof options.columns?.[canonical] === "string",
  }));

  if (options.format === "csv") {
    const csvSink = {
      header: (names: string[]) => {
        const missing: { canonical: string; header: string }[] = [];
        wanted.forEach((w, k) => {
          const at = findHeader(names, w.header);
          ingest.index[k] = at;
          if (at < 0 && w.required) missing.push(w);
        });
        if (missing.length > 0) throw missingColumns(missing, names);
        checkDuplicates(
          names,
          [...ingest.index].filter((i) => i >= 0),
        );
      },
      record: ingest.record,
      rowError: ingest.readerError,
    };
    const stats = await readCsv(source, options.compression, csvSink, undefined, options.binaryProbeBytes);
    if (options.csvStats !== undefined) Object.assign(options.csvStats, stats);
  } else {
    const builder = new ObjectRecord();
    let first = true;
    for (let k = 0; k < wanted.length; k++) ingest.index[k] = k;
    await readNdjson(source, options.compression, {
      object: (value, row) => {
        if (first) {
          first = false;
          const missing = wanted.filter((w) => w.required && ownValue(value, w.header) === undefined);
          if (missing.length > 0) throw missingColumns(missing, Object.keys(value));
        }
        builder.reset(row, wanted.length);
        for (const [k, w] of wanted.entries()) builder.set(k, jsonText(ownValue(value, w.header), false));
        ingest.record(builder.record);
      },
      rowError: ingest.readerError,
    });
  }
  ingest.flush();
  if (options.keepTables !== true) state.releaseTables();
  if (options.totals !== undefined) options.totals.absoluteCents = ingest.datasetCents;
  return ingest.report();
}

// ---- customers -------------------------------------------------------------------------------------------

class CustomerIngest {
  readonly counts: Counts = { rowsRead: 0, rowsAccepted: 0, rowsRejected: 0 };
  private readonly id = new FieldBytes();
  private readonly value = new FieldBytes();

  constructor(
    private readonly state: AggregateState,
    private readonly onRowError: ((error: RowError) => void) | undefined,
  ) {}

  reject(row: number, column: string, code: string, reason: string): void {
    this.counts.rowsRejected++;
    this.onRowError?.({ row, column, code, reason });
  }

  readerError = (error: RowError): void => {
    this.counts.rowsRead++;
    this.counts.rowsRejected++;
    this.onRowError?.(error);
  };

  /**
   * Ingests one record: field `idAt` is the customer id; `columns[k]` is the attribute read from field k
   * (null for fields that are not attributes).
   */
  ingest(
    record: FieldRecord,
    idAt: number,
    columns: readonly (ReturnType<AggregateState["attributeColumn"]> | null)[],
  ) {
    this.counts.rowsRead++;
    const row = record.row;
    const id = this.id.load(record, idAt);
    if ((record.flags[idAt] as number) & FIELD_NESTED) {
      this.reject(row, "customer_id", "BAD_VALUE", "customer_id must be a string, not an object or array");
      return;
    }
    if (id.empty) {
      this.reject(row, "customer_id", "MISSING_VALUE", "customer_id is required");
      return;
    }
    if (!id.isUtf8()) {
      this.reject(row, "customer_id", "BAD_ENCODING", "customer_id is not valid UTF-8");
      return;
    }
    if (id.byteLength > MAX_ID_CHARS && id.charLength() > MAX_ID_CHARS) {
      this.reject(row, "customer_id", "TOO_LONG", `customer_id is longer than ${MAX_ID_CHARS} characters`);
      return;
    }
    for (let k = 0; k < record.count; k++) {
      const column = columns[k];
      if (!column) continue;
      if ((record.flags[k] as number) & FIELD_NESTED) {
        this.reject(
          row,
          column.name,
          "BAD_VALUE",
          `${column.name} must be text, a number, a boolean or a list of them`,
        );
        return;
      }
      const value = this.value.load(record, k);
      if (!value.isUtf8()) {
        this.reject(row, column.name, "BAD_ENCODING", `${column.name} is not valid UTF-8`);
        return;
      }
      if (value.byteLength > MAX_ATTRIBUTE_CHARS && value.charLength() > MAX_ATTRIBUTE_CHARS) {
        this.reject(
          row,
          column.name,
          "TOO_LONG",
          `${column.name} is longer than ${MAX_ATTRIBUTE_CHARS} characters`,
        );
        return;
      }
    }
    const customer = this.state.customers.intern(id.buf, id.start, id.end);
    for (let k = 0; k < record.count; k++) {
      const column = columns[k];
      if (!column) continue;
      const value = this.value.load(record, k);
      column.setCode(customer, value.empty ? 0 : column.values.intern(value.buf, value.start, value.end) + 1);
    }
    this.counts.rowsAccepted++;
  }
}

/**
 * Reads a customers file into the state: customer_id (mapped through options.columns like transactions)
 * and every other column as an attribute. A columns entry other than customer_id renames an attribute:
 * `{ country: "Land" }` stores the file's "Land" column as "country". Throws FileError for a bad file.
 */
export async function ingestCustomers(
  source: AsyncIterable<Uint8Array>,
  options: IngestOptions,
  state: AggregateState,
): Promise<IngestReport> {
  const ingest = new CustomerIngest(state, options.onRowError);
  const idHeader = headerFor(options, "customer_id");
  // Header name (lower case) -> attribute name, for renamed attributes.
  const renamed = new Map<string, string>();
  for (const [name, header] of Object.entries(options.columns ?? {})) {
    if (name !== "customer_id" && typeof header === "string") renamed.set(header.trim().toLowerCase(), name);
  }
  const attributeName = (header: string) => renamed.get(header.toLowerCase()) ?? header;

  if (options.format === "csv") {
    let idAt = -1;
    let columns: (ReturnType<AggregateState["attributeColumn"]> | null)[] = [];
    await readCsv(source, options.compression, {
      header: (names) => {
        idAt = findHeader(names, idHeader);
        if (idAt < 0) throw missingColumns([{ canonical: "customer_id", header: idHeader }], names);
        const used = names.map((_, i) => i).filter((i) => names[i] !== "");
        checkDuplicates(
          names.map((name, i) => (i === idAt ? name : attributeName(name))),
          used,
        );
        columns = names.map((name, i) =>
          i === idAt || name === "" ? null : state.attributeColumn(attributeName(name)),
        );
      },
      record: (record) => ingest.ingest(record, idAt, columns),
      rowError: ingest.readerError,
    });
  } else {
    const builder = new ObjectRecord();
    let first = true;
    await readNdjson(source, options.compression, {
      object: (value, row) => {
        const idKey = Object.hasOwn(value, idHeader)
          ? idHeader
          : Object.keys(value).find((k) => k.trim().toLowerCase() === idHeader.toLowerCase());
        if (first) {
          first = false;
          if (idKey === undefined)
            throw missingColumns([{ canonical: "customer_id", header: idHeader }], Object.keys(value));
        }
        const keys = Object.keys(value).filter((k) => k !== idKey && k.trim() !== "");
        builder.reset(row, keys.length + 1);
        builder.set(0, jsonText(idKey === undefined ? undefined : value[idKey], false));
        const columns: (ReturnType<AggregateState["attributeColumn"]> | null)[] = [null];
        keys.forEach((key, i) => {
          builder.set(i + 1, jsonText(value[key], true));
          columns.push(state.attributeColumn(attributeName(key.trim())));
        });
        ingest.ingest(builder.record, 0, columns);
      },
      rowError: ingest.readerError,
    });
  }
  state.releaseTables();
  return { ...ingest.counts, ordersAdded: 0, ordersDuplicate: 0, orderLinesMerged: 0 };
}
