/**
 * Transaction ingestion against a plain model of the data contract, on generated files of a few thousand
 * rows (long enough that rows are handled in several batches): every kind of rejected row, order lines,
 * customer mismatches, currencies, duplicates of orders held before the file, CSV and NDJSON, in any chunking.
 * The model validates field strings with regular expressions and keeps orders in a Map keyed by order id; it
 * shares no code with the engine.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ingestTransactions } from "../../../shared/engine/ingest";
import { AggregateState } from "../../../shared/engine/state";
import type { IngestReport, RowError } from "../../../shared/engine/types";
import { chunked } from "./byte-source";

const SEED = 7;
const COLUMNS = [
  "customer_id",
  "order_id",
  "order_date",
  "amount",
  "channel",
  "category",
  "quantity",
  "currency",
];

/** One generated line: its fields as the file holds them after unquoting, or a blank or ragged line. */
type Line = { kind: "row"; fields: string[] } | { kind: "blank" } | { kind: "ragged"; fields: string[] };

// ---- the model -------------------------------------------------------------------------------------------

interface ModelOrder {
  customer: string;
  day: number;
  cents: number;
  channel: string;
  category: string;
}

interface ModelState {
  orders: ModelOrder[];
  byId: Map<string, number>;
  customers: string[];
  currency: string | undefined;
}

const emptyModel = (): ModelState => ({ orders: [], byId: new Map(), customers: [], currency: undefined });

const trim = (s: string) => s.replace(/^[ \t]+/, "").replace(/[ \t]+$/, "");
const chars = (s: string) => [...s].length;

function modelDay(text: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})(Z|[+-]\d{2}:\d{2}))?$/.exec(text);
  if (m === null) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  if (y < 1000 || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d) return undefined;
  if (m[4] === undefined) return Date.UTC(y, mo - 1, d) / 86_400_000;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : Math.floor(ms / 86_400_000);
}

/** The data contract's limits in cents: a row's |amount|, a customer's and the dataset's sums of them. */
const MAX_ROW = 9_999_999_999_999;
const MAX_CUSTOMER = 99_999_999_999_999;
const MAX_DATASET = 999_999_999_999_999;

function modelCents(text: string): number | undefined {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text);
  if (m === null) return undefined;
  const decimals = m[3] ?? "";
  if (/[1-9]/.test(decimals.slice(2))) return undefined;
  const cents = Number(m[2]) * 100 + Number(decimals.slice(0, 2).padEnd(2, "0"));
  return m[1] === "-" ? 0 - cents : cents;
}

/**
 * Ingests lines into the model; returns the rejected rows (numbered by the file line each starts on:
 * `lineNumbers[i]` for lines[i]) and the report.
 */
function modelIngest(
  model: ModelState,
  lines: readonly Line[],
  ragged: string,
  lineNumbers: readonly number[],
) {
  const errors: { row: number; column?: string; code: string }[] = [];
  const report: IngestReport = {
    rowsRead: 0,
    rowsAccepted: 0,
    rowsRejected: 0,
    ordersAdded: 0,
    ordersDuplicate: 0,
    orderLinesMerged: 0,
  };
  const before = model.orders.length;
  const customerSums = new Map<string, number>();
  let datasetSum = 0;
  for (const o of model.orders) {
    customerSums.set(o.customer, (customerSums.get(o.customer) ?? 0) + Math.abs(o.cents));
    datasetSum += Math.abs(o.cents);
  }
  const countedOld = new Set<string>();
  /** Applies one line; false when it is rejected. */
  const handle = (line: Line, row: number): boolean => {
    if (line.kind === "blank") return true;
    report.rowsRead++;
    const reject = (column: string | undefined, code: string) => {
      report.rowsRejected++;
      errors.push(column === undefined ? { row, code } : { row, column, code });
      return false;
    };
    if (line.kind === "ragged") return reject(undefined, ragged);
    const [customer, order, date, amount, channel, category, quantity, currency] = line.fields.map(trim) as [
      string,
      string,
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    for (const [column, value] of [
      ["customer_id", customer],
      ["order_id", order],
    ] as const) {
      if (value === "") return reject(column, "MISSING_VALUE");
      if (chars(value) > 128) return reject(column, "TOO_LONG");
    }
    if (date === "") return reject("order_date", "MISSING_VALUE");
    const day = modelDay(date);
    if (day === undefined) return reject("order_date", "BAD_DATE");
    if (amount === "") return reject("amount", "MISSING_VALUE");
    const cents = modelCents(amount);
    if (cents === undefined) return reject("amount", "BAD_AMOUNT");
    if (Math.abs(cents) > MAX_ROW) return reject("amount", "AMOUNT_TOO_LARGE");
    if (chars(channel) > 128) return reject("channel", "TOO_LONG");
    if (chars(category) > 128) return reject("category", "TOO_LONG");
    if (quantity !== "" && !/^-?\d{1,15}$/.test(quantity)) return reject("quantity", "BAD_QUANTITY");
    const code = currency.toUpperCase();
    if (currency !== "") {
      if (!/^[A-Z]{3}$/.test(code)) return reject("currency", "BAD_CURRENCY");
      if (model.currency !== undefined && model.currency !== code)
        return reject("currency", "CURRENCY_MISMATCH");
    }
    const at = model.byId.get(order);
    // The sums of |amounts| the limits count: the stored orders' and each accepted line's; the customer's
    // limit first.
    const overLimits = (): boolean => {
      const abs = Math.abs(cents);
      if ((customerSums.get(customer) ?? 0) + abs > MAX_CUSTOMER) {
        reject("amount", "CUSTOMER_TOTAL_TOO_LARGE");
        return true;
      }
      if (datasetSum + abs > MAX_DATASET) {
        reject("amount", "DATASET_TOTAL_TOO_LARGE");
        return true;
      }
      customerSums.set(customer, (customerSums.get(customer) ?? 0) + abs);
      datasetSum += abs;
      return false;
    };
    if (at === undefined) {
      if (overLimits()) return false;
      model.byId.set(order, model.orders.length);
      model.orders.push({ customer, day, cents, channel, category });
      if (!model.customers.includes(customer)) model.customers.push(customer);
      if (currency !== "" && model.currency === undefined) model.currency = code;
      report.ordersAdded++;
    } else if (at >= before) {
      const first = model.orders[at] as ModelOrder;
      if (first.customer !== customer) return reject("customer_id", "ORDER_CUSTOMER_MISMATCH");
      if (overLimits()) return false;
      first.cents += cents;
      report.orderLinesMerged++;
    } else if (!countedOld.has(order)) {
      countedOld.add(order);
      report.ordersDuplicate++;
    }
    report.rowsAccepted++;
    return true;
  };
  lines.forEach((line, i) => {
    handle(line, lineNumbers[i] as number);
  });
  return { errors, report };
}

// ---- generated files -------------------------------------------------------------------------------------

/** Field values drawn with a seeded generator, valid most of the time and broken in every known way. */
function generate(seed: number, rows: number, orderIds: number, customerIds: number): Line[] {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
  const chance = (p: number) => next() < p;
  const customerOf = (n: number) =>
    n % 97 === 0
      ? `${"é".repeat(60)}${n}`
      : n % 89 === 0
        ? `Kunde "${n}"`
        : n % 7 === 0
          ? ` C${n}\t`
          : `C${n}`;
  const lines: Line[] = [];
  for (let i = 0; i < rows; i++) {
    if (i > 0 && chance(0.01)) {
      lines.push({ kind: "blank" });
      continue;
    }
    const orderNumber = 1 + Math.floor(next() * orderIds);
    // Lines of one order name its customer, except now and then.
    const customerNumber = chance(0.97) ? orderNumber % customerIds : Math.floor(next() * customerIds);
    let customer = customerOf(customerNumber);
    let order = `O${orderNumber}`;
    const y = 2023 + Math.floor(next() * 2);
    const m = 1 + Math.floor(next() * 12);
    const d = 1 + Math.floor(next() * 28);
    let date = `${y}-${String(m).padStart(2, "0")}-${String(d).padStart(2, "0")}`;
    if (chance(0.05))
      date = `${date}T${pick(["00:30:00Z", "23:30:00-02:00", "01:15:00+03:00", "12:00:00Z"])}`;
    const cents = Math.floor(next() * 200_000) - 20_000;
    const abs = Math.abs(cents);
    let amount = `${cents < 0 ? "-" : ""}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, "0")}`;
    if (chance(0.1)) amount = pick([`${Math.floor(abs / 100)}`, `${amount}0`, ` ${amount} `, `${amount}00`]);
    let channel = pick(["", "web", "app", "store", "Web Shop"]);
    let category = pick(["", "books", "vinyl"]);
    let quantity = pick(["", "1", "2", "-1", "12"]);
    let currency = pick(["", "", "", "EUR", "eur"]);
    if (chance(0.08)) {
      switch (Math.floor(next() * 16)) {
        case 0:
          customer = pick(["", "  "]);
          break;
        case 1:
          order = "";
          break;
        case 2:
          customer = "x".repeat(129);
          break;
        case 3:
          order = `${"ö".repeat(128)}${pick(["", "x"])}`;
          break;
        case 4:
          date = "";
          break;
        case 5:
          date = pick(["2023-02-29", "2024-13-01", "2024-04-31", "01/02/2024", "2024-1-5", "999-01-01"]);
          break;
        case 6:
          amount = "";
          break;
        case 7:
          amount = pick(["1e3", "1.234", "1,000", "abc", "-", ".5", "5.", "+5", "--1"]);
          break;
        case 8:
          channel = "w".repeat(129);
          break;
        case 9:
          category = "k".repeat(129);
          break;
        case 10:
          quantity = pick(["2.5", "x", "1e2"]);
          break;
        case 11:
          currency = pick(["EURO", "E1R", "€"]);
          break;
        case 12:
          currency = pick(["USD", "usd"]);
          break;
        case 13:
          if (i === 0) break;
          lines.push({ kind: "ragged", fields: [customer, order, date] });
          continue;
        case 14:
          order = `O${Math.floor(next() * orderIds) + 1}`;
          break;
        default:
          amount = pick([
            "0",
            "-0.00",
            "99999999999.99",
            "21474836.48",
            "10000000000000.01",
            "-99999999999999",
          ]);
      }
    }
    lines.push({
      kind: "row",
      fields: [customer, order, date, amount, channel, category, quantity, currency],
    });
  }
  return lines;
}

function csvField(value: string): string {
  return /[",\r\n]/.test(value) || /^[ \t]|[ \t]$/.test(value) || value.startsWith('"')
    ? `"${value.replaceAll('"', '""')}"`
    : value;
}

/**
 * The file line each generated line starts on in csvOf's file: the header is line 1, and a line whose quoted
 * values hold line breaks moves the lines after it down by as many.
 */
function csvLineNumbers(lines: readonly Line[]): number[] {
  let at = 2;
  return lines.map((line) => {
    const start = at;
    const text = line.kind === "blank" ? "" : line.fields.map(csvField).join(",");
    at += text.split("\n").length;
    return start;
  });
}

function csvOf(lines: readonly Line[], crlf: boolean): Buffer {
  const out = [COLUMNS.join(",")];
  for (const line of lines) out.push(line.kind === "blank" ? "" : line.fields.map(csvField).join(","));
  return Buffer.from(out.join(crlf ? "\r\n" : "\n") + (crlf ? "\r\n" : "\n"), "utf8");
}

function ndjsonOf(lines: readonly Line[]): Buffer {
  const out = lines.map((line) => {
    if (line.kind === "blank") return "";
    if (line.kind === "ragged") return "[1]";
    const object: Record<string, string> = {};
    // Empty optional values are left out now and then: an absent key and an empty string are both missing.
    line.fields.forEach((value, k) => {
      if (value !== "" || k < 4) object[COLUMNS[k] as string] = value;
    });
    return JSON.stringify(object);
  });
  return Buffer.from(`${out.join("\n")}\n`, "utf8");
}

// ---- the engine's side -----------------------------------------------------------------------------------

async function engineIngest(state: AggregateState, bytes: Buffer, format: "csv" | "ndjson", cuts: number[]) {
  const errors: RowError[] = [];
  const report = await ingestTransactions(
    chunked(bytes, cuts),
    { format, onRowError: (e) => errors.push(e) },
    state,
  );
  return {
    report,
    errors: errors.map(({ row, column, code }) => (column ? { row, column, code } : { row, code })),
  };
}

function ordersOf(state: AggregateState): ModelOrder[] {
  return Array.from({ length: state.orderCount }, (_, j) => ({
    customer: state.customerId(state.orderCustomer(j)),
    day: state.orderDay(j),
    cents: state.orderCents(j),
    channel: state.orderChannel(j) === 0 ? "" : state.channels.get(state.orderChannel(j) - 1),
    category: state.orderCategory(j) === 0 ? "" : state.categories.get(state.orderCategory(j) - 1),
  }));
}

function modelView(model: ModelState) {
  return {
    orders: model.orders.map((o) => ({ ...o, customer: trim(o.customer) })),
    customers: model.customers,
    currency: model.currency,
  };
}

function stateView(state: AggregateState) {
  return {
    orders: ordersOf(state),
    customers: Array.from({ length: state.customerCount }, (_, i) => state.customerId(i)),
    currency: state.currency,
  };
}

const fileArb = fc.record({
  seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
  rows: fc.integer({ min: 1, max: 3000 }),
  orderIds: fc.integer({ min: 1, max: 4000 }),
  customerIds: fc.integer({ min: 1, max: 800 }),
});

describe("transaction ingestion against the model", () => {
  it("gives the model's rejected rows, report, orders, customers and currency, over several files", async () => {
    const codesSeen = new Set<string>();
    await fc.assert(
      fc.asyncProperty(
        fc.array(fileArb, { minLength: 1, maxLength: 3 }),
        fc.constantFrom<"csv" | "ndjson">("csv", "ndjson"),
        fc.boolean(),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 20, size: "max" }),
        async (files, format, crlf, reload, cutSeeds) => {
          let state = new AggregateState();
          const model = emptyModel();
          for (const file of files) {
            const lines = generate(file.seed, file.rows, file.orderIds, file.customerIds);
            const bytes = format === "csv" ? csvOf(lines, crlf) : ndjsonOf(lines);
            const cuts = cutSeeds.map((c) => c % bytes.length);
            // NDJSON keeps every line on one line of the file (JSON escapes line breaks).
            const numbers = format === "csv" ? csvLineNumbers(lines) : lines.map((_, i) => i + 1);
            const expected = modelIngest(model, lines, format === "csv" ? "RAGGED_ROW" : "BAD_JSON", numbers);
            const actual = await engineIngest(state, bytes, format, cuts);
            expect(actual.errors).toEqual(expected.errors);
            for (const e of expected.errors) codesSeen.add(e.code);
            expect(actual.report).toEqual(expected.report);
            expect(stateView(state)).toEqual(modelView(model));
            if (reload) state = AggregateState.deserialize(state.serialize());
          }
        },
      ),
      { seed: SEED, numRuns: 40 },
    );
    // The generated files reach the row limit, so the comparison covers it (the sums' limits are reached in
    // limits.test.ts).
    expect(codesSeen).toContain("AMOUNT_TOO_LARGE");
  });

  it("rejects a currency other than the one an earlier row of the same batch set", async () => {
    const rows = ["c1,o1,2024-01-01,1,,,,eur", "c2,o2,2024-01-01,1,,,,USD", "c3,o3,2024-01-01,1,,,,EUR"];
    const text = `${COLUMNS.join(",")}\n${rows.join("\n")}\n`;
    const state = new AggregateState();
    const { errors, report } = await engineIngest(state, Buffer.from(text), "csv", []);
    // The USD row is on line 3 (line 1 is the header).
    expect(errors).toEqual([{ row: 3, column: "currency", code: "CURRENCY_MISMATCH" }]);
    expect(report.ordersAdded).toBe(2);
    expect(state.currency).toBe("EUR");
  });
});
