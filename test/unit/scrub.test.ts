/**
 * Rewriting an uploaded file without some customers' rows: which rows go (hand-checked on small files),
 * that every other row is kept byte for byte, however the input is cut into chunks, and that ingesting the
 * rewritten file gives what ingesting the original and then removing the customers gives.
 */
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { AggregateState } from "../../shared/engine";
import { FileError } from "../../shared/engine/errors";
import { ingestCustomers, ingestTransactions } from "../../shared/engine/ingest";
import { customerHash, erasedAmong, type ScrubCounts, scrubText } from "../../shared/pipeline/scrub";
import { chunked, everyN, textSource } from "./engine/byte-source";

async function scrub(
  input: Uint8Array | string,
  options: Parameters<typeof scrubText>[1],
  ids: string[],
  cuts: number[] = [],
): Promise<{ text: string; counts: ScrubCounts }> {
  const bytes = typeof input === "string" ? Buffer.from(input, "utf8") : input;
  const counts: ScrubCounts = { rowsRemoved: 0, unreadableRows: 0 };
  const parts: Buffer[] = [];
  for await (const part of scrubText(chunked(bytes, cuts), options, new Set(ids), counts)) parts.push(part);
  return { text: Buffer.concat(parts).toString("utf8"), counts };
}

/** Orders (day:cents) and attributes per customer id: what a state says about each customer. */
function summary(
  state: AggregateState,
): Record<string, { orders: string[]; attributes: Record<string, string> }> {
  const out: Record<string, { orders: string[]; attributes: Record<string, string> }> = {};
  for (let i = 0; i < state.customerCount; i++) {
    out[state.customerId(i)] = { orders: [], attributes: state.attributesOf(i) };
  }
  for (let o = 0; o < state.orderCount; o++) {
    out[state.customerId(state.orderCustomer(o))]?.orders.push(`${state.orderDay(o)}:${state.orderCents(o)}`);
  }
  for (const entry of Object.values(out)) entry.orders.sort();
  return out;
}

const TRANSACTIONS = [
  "\uFEFFcustomer_id,order_id,order_date,amount,channel",
  "C1,O1,2025-01-01,10.00,web",
  '"  GONE ",O2,2025-01-02,20.00,"web, app"',
  'C2,O3,2025-01-03,30.00,"say ""hi"""',
  "GONE,O2,2025-01-02,5.00,web",
  'C3,O4,2025-01-04,40.00,"two\nlines"',
  "GONE,O5,2025-01-05",
  'C4,O6,2025-01-06,60.00,st"ore',
  "   ",
  "GONEX,O7,2025-01-07,70.00,web",
  "",
].join("\r\n");

describe("CSV", () => {
  it("leaves out exactly the customer's rows (trimmed, unquoted) and the unreadable ones, keeping the rest byte for byte", async () => {
    const { text, counts } = await scrub(TRANSACTIONS, { format: "csv" }, ["GONE"]);
    // Rows 2 and 4 are GONE's (row 2 quoted with spaces around the id); row 6 is ragged; "GONEX" is another id.
    expect(counts).toEqual({ rowsRemoved: 2, unreadableRows: 1 });
    expect(text).toBe(
      [
        "customer_id,order_id,order_date,amount,channel",
        "C1,O1,2025-01-01,10.00,web",
        'C2,O3,2025-01-03,30.00,"say ""hi"""',
        'C3,O4,2025-01-04,40.00,"two\nlines"',
        'C4,O6,2025-01-06,60.00,st"ore',
        "GONEX,O7,2025-01-07,70.00,web",
        "",
      ].join("\n"),
    );
  });

  it("gives the same output however the input is cut into chunks", async () => {
    const whole = await scrub(TRANSACTIONS, { format: "csv" }, ["GONE"]);
    const bytes = Buffer.from(TRANSACTIONS, "utf8");
    for (const size of [1, 2, 3, 7, 16]) {
      expect(await scrub(bytes, { format: "csv" }, ["GONE"], everyN(bytes.length, size))).toEqual(whole);
    }
  });

  it("finds the customer id column through the upload's mapping, matching the header without case", async () => {
    const input = "Kunde,Bestellung\nA,1\nB,2\nA,3\n";
    const { text, counts } = await scrub(input, { format: "csv", columns: { customer_id: "kunde" } }, ["A"]);
    expect(counts.rowsRemoved).toBe(2);
    expect(text).toBe("Kunde,Bestellung\nB,2\n");
  });

  it("reads gzip and refuses a file without the customer id column", async () => {
    const gz = gzipSync(Buffer.from("customer_id,x\nA,1\nB,2\n"));
    expect((await scrub(gz, { format: "csv", compression: "auto" }, ["B"])).text).toBe(
      "customer_id,x\nA,1\n",
    );
    await expect(scrub("id,x\nA,1\n", { format: "csv" }, ["A"])).rejects.toBeInstanceOf(FileError);
    await expect(scrub("customer_id,Customer_ID\nA,1\n", { format: "csv" }, ["A"])).rejects.toMatchObject({
      code: "DUPLICATE_COLUMNS",
    });
  });

  it("ingests to what the original gives with the customers removed", async () => {
    const original = new AggregateState();
    await ingestTransactions(textSource(TRANSACTIONS), { format: "csv" }, original);
    const rewritten = new AggregateState();
    const { text } = await scrub(TRANSACTIONS, { format: "csv" }, ["GONE"]);
    await ingestTransactions(textSource(text), { format: "csv" }, rewritten);
    expect(summary(rewritten)).toEqual(summary(original.withoutCustomers(["GONE"])));
    expect(summary(rewritten).GONE).toBeUndefined();
    expect(summary(original).GONE?.orders).toHaveLength(1);
  });

  it("keeps a customers file's attributes of everyone else", async () => {
    const input = 'customer_id,tier,note\nA,gold,"x, y"\nGONE,silver,secret\nB,,\n';
    const { text } = await scrub(input, { format: "csv" }, ["GONE"]);
    const original = new AggregateState();
    await ingestCustomers(textSource(input), { format: "csv" }, original);
    const rewritten = new AggregateState();
    await ingestCustomers(textSource(text), { format: "csv" }, rewritten);
    expect(summary(rewritten)).toEqual(summary(original.withoutCustomers(["GONE"])));
    expect(text).not.toContain("secret");
  });
});

describe("NDJSON", () => {
  const LINES = [
    '{"Kunde":"A","order_id":"1","order_date":"2025-01-01","amount":1}',
    '{"kunde":" GONE ","order_id":"2","order_date":"2025-01-01","amount":2}',
    "",
    "not json GONE",
    '{"Kunde":42,"order_id":"3","order_date":"2025-01-02","amount":3}',
    '{"Kunde":"B","order_id":"4","order_date":"2025-01-03","amount":4}\r',
  ];

  it("leaves out the customer's lines (mapped key, any case, numbers as text) and unreadable ones, keeping other lines as they were", async () => {
    const input = `${LINES.join("\n")}\n`;
    const options = { format: "ndjson" as const, columns: { customer_id: "Kunde" } };
    const gone = await scrub(input, options, ["GONE"]);
    expect(gone.counts).toEqual({ rowsRemoved: 1, unreadableRows: 1 });
    expect(gone.text).toBe(`${[LINES[0], LINES[4], LINES[5]?.replace("\r", "")].join("\n")}\n`);
    const number = await scrub(input, options, ["42"]);
    expect(number.counts.rowsRemoved).toBe(1);
    expect(number.text).not.toContain('"Kunde":42');
  });

  it("ingests to what the original gives with the customer removed, from gzip", async () => {
    const input = `${LINES.join("\n")}\n`;
    const options = { format: "ndjson" as const, columns: { customer_id: "Kunde" } };
    const { text } = await scrub(gzipSync(Buffer.from(input)), { ...options, compression: "gzip" }, ["GONE"]);
    const original = new AggregateState();
    await ingestTransactions(textSource(input), options, original);
    const rewritten = new AggregateState();
    await ingestTransactions(textSource(text), options, rewritten);
    expect(summary(rewritten)).toEqual(summary(original.withoutCustomers(["GONE"])));
    expect(Object.keys(summary(original))).toContain("GONE");
  });

  it("refuses a file whose first line is no object, as ingestion does", async () => {
    await expect(scrub("[1]\n{}\n", { format: "ndjson" }, ["A"])).rejects.toMatchObject({
      code: "NOT_NDJSON",
    });
  });
});

describe("hashes", () => {
  it("finds erased customers among those added since an index, by HMAC under the dataset's key", async () => {
    const salt = Buffer.alloc(32, 7).toString("base64");
    const state = new AggregateState();
    await ingestTransactions(
      textSource("customer_id,order_id,order_date,amount\nOLD,1,2025-01-01,1\n"),
      { format: "csv" },
      state,
    );
    const from = state.customerCount;
    await ingestTransactions(
      textSource(
        "customer_id,order_id,order_date,amount\nNEW,2,2025-01-01,1\nGONE,3,2025-01-01,1\nOLD,4,2025-01-01,1\n",
      ),
      { format: "csv" },
      state,
    );
    const hashes = new Set([customerHash(salt, "GONE"), customerHash(salt, "OLD")]);
    // OLD was in the state before: only customers added since `from` are checked.
    expect(erasedAmong(state, from, salt, hashes)).toEqual(["GONE"]);
    expect(erasedAmong(state, 0, salt, hashes).sort()).toEqual(["GONE", "OLD"]);
    // Another key gives other hashes.
    expect(erasedAmong(state, 0, Buffer.alloc(32, 8).toString("base64"), hashes)).toEqual([]);
    expect(customerHash(salt, "GONE")).toMatch(/^[0-9a-f]{64}$/);
  });
});
