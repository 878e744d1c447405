/**
 * The streaming CSV/NDJSON reader: property tests against csv-parse (the reference RFC 4180 parser) and
 * JSON.parse on generated files cut into random chunks, plain and gzip; fixed file-level and row-level
 * failures; and fuzzing with arbitrary bytes, which must only ever yield FileError.
 */
import { gzipSync } from "node:zlib";
import { parse } from "csv-parse/sync";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FileError } from "../../../shared/engine/errors";
import { ingestCustomers, ingestTransactions } from "../../../shared/engine/ingest";
import { readCsv, readNdjson, unescapeField } from "../../../shared/engine/reader";
import { AggregateState } from "../../../shared/engine/state";
import type { Compression, IngestReport, RowError } from "../../../shared/engine/types";
import { fuzzRuns, fuzzSeed } from "../../support/fuzz";
import { chunked, everyN, textSource } from "./byte-source";

// `npm run fuzz` raises the case counts and picks the seed (test/support/fuzz.ts).
const SEED = fuzzSeed(42);

interface CsvResult {
  header: string[] | undefined;
  rows: { row: number; fields: string[] }[];
  errors: RowError[];
}

async function readAllCsv(
  source: AsyncIterable<Uint8Array>,
  compression?: Compression,
  maxLineBytes?: number,
): Promise<CsvResult> {
  const result: CsvResult = { header: undefined, rows: [], errors: [] };
  await readCsv(
    source,
    compression,
    {
      header: (names) => {
        result.header = names;
      },
      record: (r) => {
        const fields: string[] = [];
        for (let k = 0; k < r.count; k++) {
          fields.push(unescapeField(r.buf, r.starts[k] as number, r.ends[k] as number, r.flags[k] as number));
        }
        result.rows.push({ row: r.row, fields });
      },
      rowError: (e) => result.errors.push(e),
    },
    maxLineBytes,
  );
  return result;
}

async function readAllNdjson(source: AsyncIterable<Uint8Array>, compression?: Compression) {
  const objects: { row: number; value: unknown }[] = [];
  const errors: RowError[] = [];
  await readNdjson(source, compression, {
    object: (value, row) => objects.push({ row, value }),
    rowError: (e) => errors.push(e),
  });
  return { objects, errors };
}

async function fileErrorOf(promise: Promise<unknown>): Promise<FileError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(FileError);
  return error as FileError;
}

// ---- generated CSV ---------------------------------------------------------------------------------------

const fieldText = fc
  .array(fc.constantFrom("a", "b", "Z", "7", " ", "\t", ",", '"', "\n", "\r\n", "\r", "é", "€", "😀"), {
    maxLength: 6,
  })
  .map((parts) => parts.join(""));

/** A field as it appears in the file; quoted when it must be, and sometimes when it need not be. */
function encodeField(value: string, quote: boolean, alone: boolean): string {
  // A lone field of only blanks would make a blank line, which the reader skips (and csv-parse drops).
  const must = /[",\r\n]/.test(value) || (alone && /^[ \t]*$/.test(value));
  return must || quote ? `"${value.replaceAll('"', '""')}"` : value;
}

const csvFile = fc
  .record({
    width: fc.integer({ min: 1, max: 4 }),
    rows: fc.array(
      fc.record({
        ragged: fc.integer({ min: -1, max: 8 }),
        fields: fc.array(fc.tuple(fieldText, fc.boolean()), { minLength: 6, maxLength: 6 }),
      }),
      { maxLength: 8 },
    ),
    header: fc.array(fc.tuple(fieldText, fc.boolean()), { minLength: 5, maxLength: 5 }),
    crlf: fc.boolean(),
    bom: fc.boolean(),
    finalNewline: fc.boolean(),
  })
  .map(({ width, rows, header, crlf, bom, finalNewline }) => {
    const eol = crlf ? "\r\n" : "\n";
    // The header must not be blank: give it at least one visible character.
    const names = header.slice(0, width).map(([v, q], i) => encodeField(`h${i}${v}`, q, width === 1));
    const lines = [names.join(",")];
    for (const row of rows) {
      // Mostly full rows; ragged = -1 or 0 drops or adds a field.
      const n = row.ragged === -1 ? Math.max(1, width - 1) : row.ragged === 0 ? width + 1 : width;
      lines.push(
        row.fields
          .slice(0, n)
          .map(([v, q]) => encodeField(v, q, n === 1))
          .join(","),
      );
    }
    // The file's line number where each data record starts: 1 + the line feeds before it, those inside
    // quoted fields included.
    const starts: number[] = [];
    let feeds = 0;
    lines.forEach((line, i) => {
      if (i > 0) starts.push(feeds + 1);
      feeds += line.split("\n").length; // its own line feeds and the one ending it
    });
    return { text: `${bom ? "\uFEFF" : ""}${lines.join(eol)}${finalNewline ? eol : ""}`, starts };
  });

const cutsFor = (maxLength: number) =>
  fc.array(fc.integer({ min: 1, max: Math.max(1, maxLength) }), { maxLength: 12 });

function reference(text: string): string[][] {
  return parse(text, { bom: true, relax_column_count: true, skip_empty_lines: true }) as string[][];
}

function expectMatchesReference(result: CsvResult, text: string, starts: number[]): void {
  const [header, ...records] = reference(text);
  expect(result.header).toEqual((header ?? []).map((name) => name.trim()));
  const width = header?.length ?? 0;
  const expectedRows: { row: number; fields: string[] }[] = [];
  const expectedErrors: number[] = [];
  expect(records).toHaveLength(starts.length);
  records.forEach((fields, i) => {
    const line = starts[i] as number;
    if (fields.length === width) expectedRows.push({ row: line, fields });
    else expectedErrors.push(line);
  });
  expect(result.rows).toEqual(expectedRows);
  expect(result.errors.map((e) => [e.row, e.code])).toEqual(expectedErrors.map((row) => [row, "RAGGED_ROW"]));
}

describe("CSV against csv-parse", () => {
  it("reads generated files cut into random chunks like the reference parser", async () => {
    await fc.assert(
      fc.asyncProperty(csvFile, cutsFor(400), async ({ text, starts }, cuts) => {
        const result = await readAllCsv(textSource(text, cuts));
        expectMatchesReference(result, text, starts);
      }),
      { seed: SEED, numRuns: fuzzRuns(300) },
    );
  });

  it("reads the same files gzip-compressed, cut anywhere, with auto detection and with gzip declared", async () => {
    await fc.assert(
      fc.asyncProperty(csvFile, cutsFor(300), fc.boolean(), async ({ text, starts }, cuts, declared) => {
        const gz = gzipSync(Buffer.from(text, "utf8"));
        const result = await readAllCsv(chunked(gz, cuts), declared ? "gzip" : "auto");
        expectMatchesReference(result, text, starts);
      }),
      { seed: SEED, numRuns: fuzzRuns(150) },
    );
  });

  it("cuts inside a multi-byte character, a CRLF, a doubled quote and the byte-order mark", async () => {
    const text = '\uFEFFid,"na""me"\r\n1,"😀 a ""quoted"" é"\r\n2,"x,\r\ny"\r\n';
    const bytes = Buffer.from(text, "utf8");
    for (let at = 1; at < bytes.length; at++) {
      const result = await readAllCsv(chunked(bytes, [at, at + 1, at + 3]));
      expect(result.header).toEqual(["id", 'na"me']);
      expect(result.rows).toEqual([
        // Lines: 1 header, 2 the first record, 3-4 the second (a quoted line break).
        { row: 2, fields: ["1", '😀 a "quoted" é'] },
        { row: 3, fields: ["2", "x,\r\ny"] },
      ]);
    }
  });
});

describe("CSV row problems", () => {
  it("reports a ragged row with its row number and goes on", async () => {
    const result = await readAllCsv(textSource("a,b\n1,2\n3\n4,5,6\n7,8\n"));
    // Line 1 is the header.
    expect(result.rows.map((r) => r.row)).toEqual([2, 5]);
    expect(result.errors).toEqual([
      expect.objectContaining({ row: 3, code: "RAGGED_ROW" }),
      expect.objectContaining({ row: 4, code: "RAGGED_ROW" }),
    ]);
  });

  it("skips blank lines but keeps counting them: a row is numbered by its line in the file", async () => {
    // Lines 1-2 blank, 3 header, 4 "1,2", 5-6 blank, 7 "3,4", 8 blank, 9 "5".
    const result = await readAllCsv(textSource("\n\na,b\n1,2\n\n  \n3,4\r\n\r\n5\n"));
    expect(result.rows).toEqual([
      { row: 4, fields: ["1", "2"] },
      { row: 7, fields: ["3", "4"] },
    ]);
    expect(result.errors).toEqual([expect.objectContaining({ row: 9, code: "RAGGED_ROW" })]);
  });

  it("numbers a record holding quoted line breaks by its first line, and the records after it by theirs", async () => {
    // Line 1 header; the record on line 2 runs to line 4; line 5 blank; line 6 a record whose quote spans
    // lines 6-7 (CRLF inside); line 8 ragged.
    const text = 'a,b\n1,"two\nthree\nfour"\n\n2,"x\r\ny"\n3\n';
    for (const cut of [1, 5, 9, 13, 100]) {
      const result = await readAllCsv(textSource(text, [cut, cut + 2]));
      expect(result.rows.map((r) => r.row)).toEqual([2, 6]);
      expect(result.errors).toEqual([expect.objectContaining({ row: 8, code: "RAGGED_ROW" })]);
    }
  });

  it("reports an unterminated quote at the end of the file on the row that opened it", async () => {
    const result = await readAllCsv(textSource('a,b\n1,2\n3,"never closed\n4,5\n'));
    expect(result.rows).toEqual([{ row: 2, fields: ["1", "2"] }]);
    expect(result.errors).toEqual([expect.objectContaining({ row: 3, code: "UNTERMINATED_QUOTE" })]);
  });

  it("reports text after a closing quote as BAD_QUOTE and keeps literal quotes inside unquoted fields", async () => {
    const result = await readAllCsv(textSource('a,b\n"x"y,1\n12" vinyl,2\n"ok",3\n'));
    expect(result.errors).toEqual([expect.objectContaining({ row: 2, code: "BAD_QUOTE" })]);
    expect(result.rows).toEqual([
      { row: 3, fields: ['12" vinyl', "2"] },
      { row: 4, fields: ["ok", "3"] },
    ]);
  });

  it("reports rows longer than the cap, wherever the chunks fall, and reads the rows after them", async () => {
    const long = `1,"${"x".repeat(100)}\n${"y".repeat(50)}"`;
    const text = `a,b\n1,short\n${long}\n${"z".repeat(300)},9\n2,after\n`;
    for (const size of [1, 7, 64, 1000]) {
      const cuts = Array.from({ length: Math.ceil(text.length / size) }, (_, i) => (i + 1) * size);
      const result = await readAllCsv(textSource(text, cuts), "auto", 80);
      // Line 2 "1,short", lines 3-4 the long quoted record, line 5 the long plain one, line 6 "2,after".
      expect(result.rows).toEqual([
        { row: 2, fields: ["1", "short"] },
        { row: 6, fields: ["2", "after"] },
      ]);
      expect(result.errors.map((e) => [e.row, e.code])).toEqual([
        [3, "LINE_TOO_LONG"],
        [5, "LINE_TOO_LONG"],
      ]);
    }
  });

  it("reads the same records and errors with chunks of every size, wherever a record runs over a chunk's end", async () => {
    // A record carried into the next chunk is joined with that chunk's first line only when it ends there:
    // quoted line breaks (the record goes on), CRLF cut between CR and LF, a blank line, a long row and a
    // chunk ending right on a line feed all meet a chunk's end at some size.
    const text =
      'a,b\r\n1,plain\r\n2,"two\nlines"\r\n\r\n3,"x\r\n\r\ny",\n' +
      `4,${"w".repeat(90)}\n5,"${"q".repeat(40)}\n${"r".repeat(45)}"\n6,"a""b"\n7,last`;
    const whole = await readAllCsv(textSource(text), "auto", 80);
    // Lines: 1 header, 2, 3-4, 5 blank, 6-8 a ragged record, 9 a long row, 10-11 a long quoted one, 12, 13.
    expect(whole.rows.map((r) => r.row)).toEqual([2, 3, 12, 13]);
    expect(whole.rows.map((r) => r.fields[1])).toEqual(["plain", "two\nlines", 'a"b', "last"]);
    expect(whole.errors.map((e) => [e.row, e.code])).toEqual([
      [6, "RAGGED_ROW"],
      [9, "LINE_TOO_LONG"],
      [10, "LINE_TOO_LONG"],
    ]);
    for (let size = 1; size <= text.length; size++) {
      const result = await readAllCsv(textSource(text, everyN(text.length, size)), "auto", 80);
      expect(result).toEqual(whole);
    }
  });

  it("applies the default 1 MiB cap to real rows", async () => {
    const text = `customer_id,order_id,order_date,amount\n${"c".repeat(1_100_000)},o1,2024-01-01,1\nc2,o2,2024-01-02,2\n`;
    const errors: RowError[] = [];
    const state = new AggregateState();
    const report = await ingestTransactions(
      textSource(text, [65536, 131072, 1_000_000]),
      { format: "csv", onRowError: (e) => errors.push(e) },
      state,
    );
    expect(errors).toEqual([expect.objectContaining({ row: 2, code: "LINE_TOO_LONG" })]);
    expect(report).toMatchObject({ rowsRead: 2, rowsAccepted: 1, rowsRejected: 1 });
  });
});

describe("file problems", () => {
  const transactions = (
    text: string | Uint8Array,
    compression?: Compression,
    format: "csv" | "ndjson" = "csv",
  ) =>
    ingestTransactions(
      typeof text === "string" ? textSource(text) : chunked(text),
      { format, ...(compression ? { compression } : {}) },
      new AggregateState(),
    );

  it.each([
    ["no bytes", ""],
    ["a byte-order mark only", "\uFEFF"],
    ["blank lines only", "\n \r\n\t\n"],
  ])("an empty file (%s) is EMPTY_FILE, in both formats", async (_what, text) => {
    expect((await fileErrorOf(transactions(text))).code).toBe("EMPTY_FILE");
    expect((await fileErrorOf(transactions(text, "auto", "ndjson"))).code).toBe("EMPTY_FILE");
  });

  it("a gzip declared upload that is not gzip is NOT_GZIP; a damaged or truncated gzip is BAD_GZIP", async () => {
    expect((await fileErrorOf(transactions("customer_id\n", "gzip"))).code).toBe("NOT_GZIP");
    const gz = gzipSync(Buffer.from("customer_id,order_id,order_date,amount\nc,o,2024-01-01,1\n".repeat(50)));
    expect((await fileErrorOf(transactions(gz.subarray(0, gz.length - 20)))).code).toBe("BAD_GZIP");
    const damaged = Uint8Array.from(gz);
    damaged[20] = (damaged[20] as number) ^ 0xff;
    damaged[21] = (damaged[21] as number) ^ 0xff;
    expect((await fileErrorOf(transactions(damaged))).code).toBe("BAD_GZIP");
  });

  it("a gzip file declared uncompressed, a file with NUL bytes, UTF-16 text and a non-UTF-8 header are BINARY_FILE", async () => {
    const gz = gzipSync(Buffer.from("customer_id,order_id,order_date,amount\n"));
    expect((await fileErrorOf(transactions(gz, "none"))).code).toBe("BINARY_FILE");
    expect(
      (await fileErrorOf(transactions(Uint8Array.from([0x50, 0x4b, 0x03, 0x04, 0, 0, 0x0a])))).code,
    ).toBe("BINARY_FILE");
    const utf16 = Buffer.concat([
      Buffer.from([0xff, 0xfe]),
      Buffer.from("customer_id,order_id\n", "utf16le"),
    ]);
    expect((await fileErrorOf(transactions(utf16))).code).toBe("BINARY_FILE");
    const latin1 = Buffer.from("customer_id,order_id,order_date,amount,pr\xe9nom\n", "latin1");
    expect((await fileErrorOf(transactions(latin1))).code).toBe("BINARY_FILE");
  });

  it("a header lacking required columns is MISSING_COLUMNS naming each of them", async () => {
    const error = await fileErrorOf(transactions("Customer_ID,date,amount\nc,2024-01-01,1\n"));
    expect(error.code).toBe("MISSING_COLUMNS");
    expect(error.columns).toEqual(["order_id", "order_date"]);
    expect(error.message).toContain("order_id");
    expect(error.message).toContain("order_date");
  });

  it("a gzip file failing at its header stops reading and closes the source", async () => {
    let returned = false;
    let pulled = 0;
    // Random digits, so the compressed file spans many chunks.
    const digits = Array.from(
      { length: 100_000 },
      (_, i) => `${(i * 7919) % 100_003},${(i * 104_729) % 9973}`,
    );
    const gz = gzipSync(Buffer.from(`id,amount\n${digits.join("\n")}\n`));
    const source: AsyncIterable<Uint8Array> = {
      [Symbol.asyncIterator]() {
        let at = 0;
        return {
          next: async () => {
            pulled++;
            if (at >= gz.length) return { done: true, value: undefined };
            const chunk = gz.subarray(at, at + 1000);
            at += 1000;
            return { done: false, value: chunk };
          },
          return: async () => {
            returned = true;
            return { done: true, value: undefined };
          },
        };
      },
    };
    expect(
      (await fileErrorOf(ingestTransactions(source, { format: "csv" }, new AggregateState()))).code,
    ).toBe("MISSING_COLUMNS");
    expect(returned).toBe(true);
    expect(pulled).toBeLessThan(Math.ceil(gz.length / 1000));
  });

  it("a mapped column that the header lacks is MISSING_COLUMNS too", async () => {
    const error = await fileErrorOf(
      ingestTransactions(
        textSource("customer_id,order_id,order_date,amount\n"),
        { format: "csv", columns: { channel: "Sales Channel" } },
        new AggregateState(),
      ),
    );
    expect(error.code).toBe("MISSING_COLUMNS");
    expect(error.columns).toEqual(["channel"]);
  });

  it("a header naming a used column twice is DUPLICATE_COLUMNS", async () => {
    const error = await fileErrorOf(transactions("customer_id,order_id,order_date,amount,Amount\n"));
    expect(error.code).toBe("DUPLICATE_COLUMNS");
  });

  it("a header that never ends or is garbled is NO_HEADER", async () => {
    expect((await fileErrorOf(transactions('customer_id,"order_id\n1,2\n'))).code).toBe("NO_HEADER");
    expect((await fileErrorOf(transactions('"customer_id"x,order_id\n'))).code).toBe("NO_HEADER");
  });

  it("NDJSON whose first line is not an object is NOT_NDJSON; later bad lines are BAD_JSON rows", async () => {
    expect((await fileErrorOf(transactions("customer_id,order_id\nc,o\n", "auto", "ndjson"))).code).toBe(
      "NOT_NDJSON",
    );
    expect((await fileErrorOf(transactions("[1,2]\n", "auto", "ndjson"))).code).toBe("NOT_NDJSON");
    const { objects, errors } = await readAllNdjson(textSource('{"a":1}\n\n{"a":\n[3]\n{"a":4}\r\n"x"\n'));
    expect(objects).toEqual([
      { row: 1, value: { a: 1 } },
      { row: 5, value: { a: 4 } },
    ]);
    expect(errors.map((e) => [e.row, e.code])).toEqual([
      [3, "BAD_JSON"],
      [4, "BAD_JSON"],
      [6, "BAD_JSON"],
    ]);
  });

  it("an error of the source stream itself is rethrown as it is, plain or gzip", async () => {
    const broken = new Error("connection reset");
    async function* failing(first: Uint8Array) {
      yield first.subarray(0, 40);
      throw broken;
    }
    const text = Buffer.from("customer_id,order_id,order_date,amount\nc,o,2024-01-01,1\n".repeat(20));
    for (const bytes of [text, gzipSync(text)]) {
      const error = await ingestTransactions(failing(bytes), { format: "csv" }, new AggregateState()).catch(
        (e) => e,
      );
      expect(error).toBe(broken);
    }
  });
});

describe("NDJSON", () => {
  const line = fc.oneof(
    {
      weight: 4,
      arbitrary: fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
    },
    { weight: 1, arbitrary: fc.constantFrom("", "   ", "\t") },
  );

  it("reads one object per line, any chunking, LF or CRLF, plain or gzip, skipping blank lines", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
        fc.array(line, { maxLength: 10 }),
        fc.boolean(),
        fc.boolean(),
        cutsFor(300),
        async (first, rest, crlf, gzip, cuts) => {
          const lines = [first, ...rest].map((l) => (typeof l === "string" ? l : JSON.stringify(l)));
          const text = lines.join(crlf ? "\r\n" : "\n");
          const bytes = Buffer.from(text, "utf8");
          const { objects, errors } = await readAllNdjson(chunked(gzip ? gzipSync(bytes) : bytes, cuts));
          expect(errors).toEqual([]);
          const expected = lines
            .map((l, i) => ({ row: i + 1, l }))
            .filter(({ l }) => l.trim() !== "")
            .map(({ row, l }) => ({ row, value: JSON.parse(l) as unknown }));
          expect(objects).toEqual(expected);
        },
      ),
      { seed: SEED, numRuns: fuzzRuns(200) },
    );
  });
});

describe("fuzzing", () => {
  const header = "customer_id,order_id,order_date,amount,channel\n";
  const bytes = fc.oneof(
    fc.uint8Array({ maxLength: 400 }),
    fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0]), b])),
    fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.concat([Buffer.from(header), b])),
    fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.concat([Buffer.from('{"customer_id":"c"}\n'), b])),
    fc
      .tuple(
        fc.string({
          unit: fc.constantFrom("a", "1", ",", '"', "\n", "\r", "-", ".", ":", "{", "}"),
          maxLength: 300,
        }),
        fc.boolean(),
      )
      .map(([s, gz]) => (gz ? gzipSync(Buffer.from(header + s)) : Buffer.from(header + s))),
  );

  it("arbitrary bytes yield a report or a FileError, never another error, in every format and mode", async () => {
    await fc.assert(
      fc.asyncProperty(
        bytes,
        cutsFor(400),
        fc.constantFrom<"csv" | "ndjson">("csv", "ndjson"),
        fc.constantFrom<Compression>("auto", "gzip", "none"),
        fc.boolean(),
        async (data, cuts, format, compression, customers) => {
          const state = new AggregateState();
          const options = { format, compression, onRowError: () => {} };
          const run = customers
            ? ingestCustomers(chunked(data, cuts), options, state)
            : ingestTransactions(chunked(data, cuts), options, state);
          let report: IngestReport | undefined;
          try {
            report = await run;
          } catch (error) {
            expect(error).toBeInstanceOf(FileError);
          }
          if (report) expect(report.rowsRead).toBe(report.rowsAccepted + report.rowsRejected);
        },
      ),
      { seed: SEED, numRuns: fuzzRuns(300) },
    );
  });
});
