/**
 * A file without the columns the data contract requires is refused with MISSING_COLUMNS, and the message
 * says what to do about it: which columns are missing, the headers the file does have, and the mapping (the
 * upload's `columns`, `npm run upload -- --columns`) that names a header for a column. With that mapping the
 * same file is read.
 */
import { describe, expect, it } from "vitest";
import { AggregateState, FileError, ingestCustomers, ingestTransactions } from "../../../shared/engine";
import { textSource } from "./byte-source";

async function fileErrorOf(promise: Promise<unknown>): Promise<FileError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(FileError);
  return error as FileError;
}

const GERMAN_CSV = "Kunde,Bestellung,Datum,Betrag\nK1,B1,2024-05-01,10.00\nK2,B2,2024-06-01,5.50\n";
const GERMAN_NDJSON =
  '{"Kunde":"K1","Bestellung":"B1","Datum":"2024-05-01","Betrag":"10.00"}\n' +
  '{"Kunde":"K2","Bestellung":"B2","Datum":"2024-06-01","Betrag":"5.50"}\n';
const MAPPING = { customer_id: "Kunde", order_id: "Bestellung", order_date: "Datum", amount: "Betrag" };

describe("MISSING_COLUMNS", () => {
  it.each([
    ["csv", GERMAN_CSV],
    ["ndjson", GERMAN_NDJSON],
  ] as const)("names the missing columns, the %s file's headers and the mapping", async (format, text) => {
    const error = await fileErrorOf(ingestTransactions(textSource(text), { format }, new AggregateState()));
    expect(error.code).toBe("MISSING_COLUMNS");
    expect(error.columns).toEqual(["customer_id", "order_id", "order_date", "amount"]);
    expect(error.message).toContain("lacks the columns customer_id, order_id, order_date, amount");
    expect(error.message).toContain('it has the columns "Kunde", "Bestellung", "Datum", "Betrag"');
    expect(error.message).toContain("--columns customer_id=<header>");
    expect(error.message).toContain('{"customer_id": "<header>"}');
  });

  it("reads the same file once the mapping names each header", async () => {
    for (const [format, text] of [
      ["csv", GERMAN_CSV],
      ["ndjson", GERMAN_NDJSON],
    ] as const) {
      const state = new AggregateState();
      const report = await ingestTransactions(textSource(text), { format, columns: MAPPING }, state);
      expect(report).toMatchObject({ rowsRead: 2, rowsAccepted: 2, rowsRejected: 0 });
      expect(state.customerCount).toBe(2);
    }
  });

  it("lists at most 20 headers, each cut at 64 characters, and counts the rest", async () => {
    const headers = Array.from({ length: 25 }, (_, i) => `h${i}`);
    headers[0] = "x".repeat(100);
    const error = await fileErrorOf(
      ingestTransactions(textSource(`${headers.join(",")}\n1\n`), { format: "csv" }, new AggregateState()),
    );
    expect(error.message).toContain(`"${"x".repeat(64)}…"`);
    expect(error.message).toContain('"h19" and 5 more');
    expect(error.message).not.toContain('"h20"');
  });

  it("names the headers of a customers file without its id column", async () => {
    const error = await fileErrorOf(
      ingestCustomers(textSource("Kunde,Stadt\nK1,Bonn\n"), { format: "csv" }, new AggregateState()),
    );
    expect(error.code).toBe("MISSING_COLUMNS");
    expect(error.message).toContain('it has the columns "Kunde", "Stadt"');
    expect(error.message).toContain("--columns customer_id=<header>");
  });
});
