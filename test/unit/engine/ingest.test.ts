/**
 * Ingestion of transactions and customers files: each validation error with its row and column, exact
 * amounts, order lines and duplicates, column mapping, NDJSON, and customer attributes.
 */
import { describe, expect, it } from "vitest";
import { dayNumber } from "../../../shared/engine/days";
import { ingestCustomers, ingestTransactions } from "../../../shared/engine/ingest";
import { AggregateState } from "../../../shared/engine/state";
import type { IngestReport, ReaderOptions, RowError } from "../../../shared/engine/types";
import { textSource } from "./byte-source";

async function transactions(
  text: string,
  options: Partial<ReaderOptions> = {},
  state = new AggregateState(),
) {
  const errors: RowError[] = [];
  const report = await ingestTransactions(
    textSource(text),
    { format: "csv", ...options, onRowError: (e) => errors.push(e) },
    state,
  );
  return { report, errors, state };
}

async function customers(text: string, options: Partial<ReaderOptions> = {}, state = new AggregateState()) {
  const errors: RowError[] = [];
  const report = await ingestCustomers(
    textSource(text),
    { format: "csv", ...options, onRowError: (e) => errors.push(e) },
    state,
  );
  return { report, errors, state };
}

/** Orders of a state as plain rows, for comparison. */
function orders(state: AggregateState) {
  return Array.from({ length: state.orderCount }, (_, j) => ({
    customer: state.customerId(state.orderCustomer(j)),
    day: state.orderDay(j),
    cents: state.orderCents(j),
    channel: state.orderChannel(j) === 0 ? null : state.channels.get(state.orderChannel(j) - 1),
    category: state.orderCategory(j) === 0 ? null : state.categories.get(state.orderCategory(j) - 1),
  }));
}

const HEADER = "customer_id,order_id,order_date,amount,channel,category,quantity,currency";

describe("transaction rows", () => {
  it("reports each invalid row once, with its row number, column and code, and keeps the valid ones", async () => {
    const rows = [
      "c1,o1,2024-01-01,10.00,web,books,1,EUR", // 1 ok
      ",o2,2024-01-01,1,,,,", // 2
      "c3,,2024-01-01,1,,,,", // 3
      `${"é".repeat(129)},o4,2024-01-01,1,,,,`, // 4: 129 characters
      `c5,${"x".repeat(129)},2024-01-01,1,,,,`, // 5
      "c6,o6,,1,,,,", // 6
      "c7,o7,2024-02-30,1,,,,", // 7
      "c8,o8,01/02/2024,1,,,,", // 8
      "c9,o9,2024-01-01,,,,,", // 9
      "c10,o10,2024-01-01,1e3,,,,", // 10
      "c11,o11,2024-01-01,1.234,,,,", // 11
      'c12,o12,2024-01-01,"1,000",,,,', // 12
      "c13,o13,2024-01-01,1,web", // 13 ragged
      "c14,o14,2024-01-01,1,,,2.5,", // 14
      "c15,o15,2024-01-01,1,,,,EURO", // 15
      "c16,o16,2024-01-01,1,,,,usd", // 16: other currency than the dataset's EUR
      `c17,o17,2024-01-01,1,${"w".repeat(129)},,,`, // 17
      `c18,o18,2024-01-01,1,,${"k".repeat(129)},,`, // 18
      "c1,o1,2024-01-01,5.00,web,books,1,EUR", // 19: a second line of o1
      "c2,o1,2024-01-01,5.00,web,books,1,EUR", // 20: o1 belongs to c1
      `${"é".repeat(128)},o21,2024-01-01,-5.5,,,-1,eur`, // 21 ok: 128 characters, a return
    ];
    const { report, errors, state } = await transactions(`${HEADER}\n${rows.join("\n")}\n`);
    // Each row's comment is its data row; the report gives the file's line, one more (line 1 is the header).
    expect(errors.map(({ row, column, code }) => ({ row, column, code }))).toEqual([
      { row: 3, column: "customer_id", code: "MISSING_VALUE" },
      { row: 4, column: "order_id", code: "MISSING_VALUE" },
      { row: 5, column: "customer_id", code: "TOO_LONG" },
      { row: 6, column: "order_id", code: "TOO_LONG" },
      { row: 7, column: "order_date", code: "MISSING_VALUE" },
      { row: 8, column: "order_date", code: "BAD_DATE" },
      { row: 9, column: "order_date", code: "BAD_DATE" },
      { row: 10, column: "amount", code: "MISSING_VALUE" },
      { row: 11, column: "amount", code: "BAD_AMOUNT" },
      { row: 12, column: "amount", code: "BAD_AMOUNT" },
      { row: 13, column: "amount", code: "BAD_AMOUNT" },
      { row: 14, column: undefined, code: "RAGGED_ROW" },
      { row: 15, column: "quantity", code: "BAD_QUANTITY" },
      { row: 16, column: "currency", code: "BAD_CURRENCY" },
      { row: 17, column: "currency", code: "CURRENCY_MISMATCH" },
      { row: 18, column: "channel", code: "TOO_LONG" },
      { row: 19, column: "category", code: "TOO_LONG" },
      { row: 21, column: "customer_id", code: "ORDER_CUSTOMER_MISMATCH" },
    ]);
    for (const e of errors) expect(e.reason.length).toBeGreaterThan(10);
    expect(report).toEqual({
      rowsRead: 21,
      rowsAccepted: 3,
      rowsRejected: 18,
      ordersAdded: 2,
      ordersDuplicate: 0,
      orderLinesMerged: 1,
    });
    expect(state.currency).toBe("EUR");
    expect(orders(state)).toEqual([
      { customer: "c1", day: dayNumber("2024-01-01"), cents: 1500, channel: "web", category: "books" },
      { customer: "é".repeat(128), day: dayNumber("2024-01-01"), cents: -550, channel: null, category: null },
    ]);
  });

  it("sums order lines exactly to the cent and takes an order's date and customer from its first line", async () => {
    const { state } = await transactions(
      [
        "customer_id,order_id,order_date,amount",
        "a,o1,2024-05-01,0.1",
        "a,o1,2024-05-02,0.2",
        "b,o2,2024-05-03T23:30:00-02:00,-5.5",
        "a,o1,2024-05-03,0.70",
        "b,o2,2024-05-03,-0.5",
      ].join("\r\n"),
    );
    expect(orders(state)).toEqual([
      { customer: "a", day: dayNumber("2024-05-01"), cents: 100, channel: null, category: null },
      { customer: "b", day: dayNumber("2024-05-04"), cents: -600, channel: null, category: null },
    ]);
  });

  it("keeps amounts beyond 32 bits exact, in lines and in sums", async () => {
    const { state } = await transactions(
      "customer_id,order_id,order_date,amount\na,o1,2024-05-01,21474836.47\na,o1,2024-05-01,0.01\nb,o2,2024-05-01,-99999999999.99\nb,o2,2024-05-01,99999999999.99\n",
    );
    expect(state.orderCents(0)).toBe(2147483648);
    expect(state.orderCents(1)).toBe(0);
    const back = AggregateState.deserialize(state.serialize());
    expect([back.orderCents(0), back.orderCents(1)]).toEqual([2147483648, 0]);
  });

  it("maps other header names, trims them and matches them without regard to letter case", async () => {
    const { report, state } = await transactions(
      ' Kunde ,"BESTELLUNG", Datum,Betrag,extra\nk1,b1,2024-01-02,3.50,x\n',
      { columns: { customer_id: "kunde", order_id: "Bestellung", order_date: "datum", amount: "betrag" } },
    );
    expect(report.rowsAccepted).toBe(1);
    expect(orders(state)).toEqual([
      { customer: "k1", day: dayNumber("2024-01-02"), cents: 350, channel: null, category: null },
    ]);
  });

  it("reads quoted ids with doubled quotes and trims spaces around values", async () => {
    const { state } = await transactions(
      'customer_id,order_id,order_date,amount\n" c ""1"" ",o1 , 2024-01-02 , 3 \n',
    );
    expect(state.customerId(0)).toBe('c "1"');
    expect(state.orderCents(0)).toBe(300);
  });

  it("reads NDJSON with the same rules, numbers included, and reports its own problems", async () => {
    const lines = [
      '{"customer_id":"c1","order_id":"o1","order_date":"2024-01-01","amount":12.5,"channel":"app"}',
      '{"customer_id":7,"order_id":"o2","order_date":"2024-01-01","amount":"-3"}',
      '{"customer_id":"c3","order_id":"o3","order_date":"2024-01-01","amount":1.005}',
      '{"customer_id":"c4","order_id":"o4","order_date":"2024-01-01","amount":{"v":1}}',
      '{"customer_id":{"id":1},"order_id":"o5","order_date":"2024-01-01","amount":1}',
      '{"customer_id":null,"order_id":"o6","order_date":"2024-01-01","amount":1}',
      "",
      "not json",
      '{"CUSTOMER_ID":"c9","order_id":"o9","order_date":"2024-01-01","amount":2}',
    ];
    const errors: RowError[] = [];
    const state = new AggregateState();
    const report = await ingestTransactions(
      textSource(lines.join("\n")),
      { format: "ndjson", onRowError: (e) => errors.push(e) },
      state,
    );
    expect(errors.map(({ row, column, code }) => ({ row, column, code }))).toEqual([
      { row: 3, column: "amount", code: "BAD_AMOUNT" },
      { row: 4, column: "amount", code: "BAD_AMOUNT" },
      { row: 5, column: "customer_id", code: "BAD_VALUE" },
      { row: 6, column: "customer_id", code: "MISSING_VALUE" },
      { row: 8, column: undefined, code: "BAD_JSON" },
    ]);
    expect(report).toMatchObject({ rowsRead: 8, rowsAccepted: 3, rowsRejected: 5 });
    expect(orders(state).map((o) => [o.customer, o.cents, o.channel])).toEqual([
      ["c1", 1250, "app"],
      ["7", -300, null],
      ["c9", 200, null],
    ]);
  });

  it("fails an NDJSON file whose first object lacks a required key", async () => {
    const error = await ingestTransactions(
      textSource('{"customer":"c1","order_id":"o1","order_date":"2024-01-01","amount":1}\n'),
      { format: "ndjson" },
      new AggregateState(),
    ).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "MISSING_COLUMNS", columns: ["customer_id"] });
  });
});

describe("orders across uploads", () => {
  const file =
    "customer_id,order_id,order_date,amount\na,o1,2024-01-01,1\na,o1,2024-01-01,2\nb,o2,2024-01-02,3\n";

  it("skips orders already in the state whole and counts each once", async () => {
    const state = new AggregateState();
    await transactions(file, {}, state);
    const { report } = await transactions(`${file}a,o3,2024-01-03,4\n`, {}, state);
    expect(report).toEqual<IngestReport>({
      rowsRead: 4,
      rowsAccepted: 4,
      rowsRejected: 0,
      ordersAdded: 1,
      ordersDuplicate: 2,
      orderLinesMerged: 0,
    });
    expect(orders(state).map((o) => o.cents)).toEqual([300, 300, 400]);
  });
});

describe("customers files", () => {
  it("keeps attributes as text, the later row winning, and rejects bad rows", async () => {
    const { report, errors, state } = await customers(
      [
        "customer_id,country,Age,interests",
        "c1,DE,34,books;music",
        "c2,FR,,",
        ",IT,50,",
        "c1,AT,35,",
        `${"x".repeat(129)},ES,1,`,
        "c3,PL",
      ].join("\n"),
    );
    // File lines: 1 header, 2 c1, 3 c2, 4 the missing id, 5 c1 again, 6 the long id, 7 ragged.
    expect(errors.map(({ row, column, code }) => ({ row, column, code }))).toEqual([
      { row: 4, column: "customer_id", code: "MISSING_VALUE" },
      { row: 6, column: "customer_id", code: "TOO_LONG" },
      { row: 7, column: undefined, code: "RAGGED_ROW" },
    ]);
    expect(report).toMatchObject({ rowsRead: 6, rowsAccepted: 3, rowsRejected: 3, ordersAdded: 0 });
    expect(state.attributeNames()).toEqual(["country", "Age", "interests"]);
    expect(state.attributesOf(state.findCustomer("c1"))).toEqual({ country: "AT", Age: "35" });
    expect(state.attributesOf(state.findCustomer("c2"))).toEqual({ country: "FR" });
    expect(state.customerCount).toBe(2);
  });

  it("a later file updates only its own columns, and customers without orders are not scored", async () => {
    const state = new AggregateState();
    await customers("customer_id,country,tier\nc1,DE,gold\nc2,FR,silver\n", {}, state);
    await customers("customer_id,tier\nc2,bronze\nc3,iron\n", {}, state);
    expect(state.attributesOf(state.findCustomer("c1"))).toEqual({ country: "DE", tier: "gold" });
    expect(state.attributesOf(state.findCustomer("c2"))).toEqual({ country: "FR", tier: "bronze" });
    expect(state.attributesOf(state.findCustomer("c3"))).toEqual({ tier: "iron" });
    expect(state.attribute("tier")?.values.size).toBe(4);
  });

  it("reads NDJSON customers: arrays joined with ';', null clears, an absent key keeps, objects are rejected", async () => {
    const errors: RowError[] = [];
    const state = new AggregateState();
    await ingestCustomers(
      textSource(
        [
          '{"customer_id":"c1","country":"DE","interests":["books","music"],"vip":true,"age":34}',
          '{"customer_id":"c1","country":null}',
          '{"customer_id":"c2","address":{"city":"Berlin"}}',
        ].join("\n"),
      ),
      { format: "ndjson", onRowError: (e) => errors.push(e) },
      state,
    );
    expect(errors.map(({ row, column, code }) => ({ row, column, code }))).toEqual([
      { row: 3, column: "address", code: "BAD_VALUE" },
    ]);
    expect(state.attributesOf(state.findCustomer("c1"))).toEqual({
      interests: "books;music",
      vip: "true",
      age: "34",
    });
    expect(state.findCustomer("c2")).toBe(-1);
  });

  it("renames attributes through the column mapping and fails a file without the id column", async () => {
    const { state } = await customers("Kunde,Land\nk1,DE\n", {
      columns: { customer_id: "kunde", country: "Land" },
    });
    expect(state.attributesOf(state.findCustomer("k1"))).toEqual({ country: "DE" });
    const error = await customers("id,country\n1,DE\n").catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "MISSING_COLUMNS", columns: ["customer_id"] });
  });
});
