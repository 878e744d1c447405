/**
 * The parallel reader against ingestTransactions in one thread: on the CDNOW and Online Retail files and on
 * generated files with rejected rows, duplicates and orders whose lines fall on both sides of a range
 * boundary (many tiny ranges), and on customer and order ids whose 32-bit hashes collide across ranges, the
 * state serializes to the same bytes, the report counts are equal and the rejected rows come in the same
 * order with the same line numbers. Where a range read alone could decide
 * otherwise than a whole read, the reader gives way to one thread (and says why), with the same result;
 * a failing worker does too, so a bad file gives the one-thread read's FileError.
 *
 * Most cases start the worker bundled by esbuild (as the Lambda bundle and the benchmark do); one starts its
 * TypeScript source through tsx, as `npm run segment` does.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mulberry32 as random } from "../../../scripts/random";
import { FileError } from "../../../shared/engine/errors";
import { HASH64, hash64, hashKey } from "../../../shared/engine/hash";
import { type IngestOptions, ingestCustomers, ingestTransactions } from "../../../shared/engine/ingest";
import {
  ingestTransactionsParallel,
  type ParallelOptions,
  type RangeSource,
} from "../../../shared/engine/parallel";
import { AggregateState } from "../../../shared/engine/state";
import type { IngestReport, RowError } from "../../../shared/engine/types";
import { sharedData } from "../../support/shared-data";
import { chunked, everyN } from "./byte-source";

// A deadline that only catches a hang: workers start slowly on a busy machine.
const SLOW = 600_000;

let dir: string;
let workerUrl: URL;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "parallel-read-"));
  const outfile = join(dir, "ingest-worker.mjs");
  await build({
    entryPoints: [new URL("../../../shared/engine/parallel/worker.ts", import.meta.url).pathname],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outfile,
    logLevel: "silent",
  });
  workerUrl = pathToFileURL(outfile);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A byte array as a source: the workers are posted its bytes in chunks of `chunk` (no path given). */
function memorySource(bytes: Uint8Array, chunk = 4093): RangeSource {
  return {
    size: bytes.length,
    open: (start) => chunked(bytes.subarray(start), everyN(bytes.length - start, chunk)),
  };
}

/** The same bytes as a file the workers open themselves. */
function fileSource(bytes: Uint8Array): RangeSource {
  const path = join(dir, `f-${Math.random().toString(36).slice(2)}.csv`);
  writeFileSync(path, bytes);
  return { ...memorySource(bytes), path };
}

interface Read {
  state: AggregateState;
  report: IngestReport;
  errors: RowError[];
}

async function oneThread(bytes: Uint8Array, options: IngestOptions, state = new AggregateState()) {
  const errors: RowError[] = [];
  const report = await ingestTransactions(
    chunked(bytes, everyN(bytes.length, 65536)),
    { ...options, onRowError: (e) => errors.push(e) },
    state,
  );
  return { state, report, errors };
}

async function parallel(
  source: RangeSource,
  options: IngestOptions,
  settings: ParallelOptions,
  state = new AggregateState(),
) {
  const errors: RowError[] = [];
  const read = await ingestTransactionsParallel(
    source,
    { ...options, onRowError: (e) => errors.push(e) },
    state,
    { threads: 2, minBytes: 0, workerUrl, ...settings },
  );
  return { ...read, errors };
}

function expectSameRead(actual: Read, expected: Read): void {
  expect(actual.report).toEqual(expected.report);
  expect(actual.errors).toEqual(expected.errors);
  expect(actual.state.customerCount).toBe(expected.state.customerCount);
  expect(actual.state.orderCount).toBe(expected.state.orderCount);
  expect(Buffer.from(actual.state.serialize()).equals(Buffer.from(expected.state.serialize()))).toBe(true);
}

/**
 * Transactions with every kind of row: orders of 1–4 adjacent lines, lines of earlier orders repeated far
 * later (same customer: duplicates a whole read merges into the order), rejected rows of each row-level kind,
 * blank and space-only lines (before the header too, for even seeds), quoted fields with commas and doubled quotes, CRLF line ends, a byte-order mark
 * and one currency. `mismatch` adds lines that repeat an earlier order under another customer.
 */
function generated(seed: number, rows: number, options: { mismatch?: boolean; currencies?: string[] } = {}) {
  const next = random(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
  const lines: string[] = ["customer_id,order_id,order_date,amount,channel,category,currency"];
  const orders: { id: string; customer: string }[] = [];
  const currencies = options.currencies ?? ["EUR", ""];
  let o = 0;
  while (lines.length < rows) {
    const r = next();
    const customer = `C${Math.floor(next() * rows * 0.2)}`;
    const day = `2024-${String(1 + Math.floor(next() * 12)).padStart(2, "0")}-${String(1 + Math.floor(next() * 28)).padStart(2, "0")}`;
    const amount = (Math.floor(next() * 40000) / 100 - (next() < 0.05 ? 500 : 0)).toFixed(2);
    const channel = pick(["web", "app", "", '"store, high street"', "phone"]);
    const category = pick(["books", "music", "", '"say ""hi"""', "toys"]);
    const currency = pick(currencies);
    if (r < 0.7) {
      const id = `O${o++}`;
      orders.push({ id, customer });
      const count = 1 + Math.floor(next() * 4);
      for (let k = 0; k < count; k++)
        lines.push(`${customer},${id},${day},${amount},${channel},${category},${currency}`);
    } else if (r < 0.8 && orders.length > 0) {
      const earlier = pick(orders);
      const who = options.mismatch === true && next() < 0.3 ? `${earlier.customer}x` : earlier.customer;
      lines.push(`${who},${earlier.id},${day},${amount},${channel},,${currency}`);
    } else if (r < 0.83) {
      lines.push(next() < 0.5 ? "" : "   \t");
    } else {
      lines.push(
        pick([
          `${customer},B${o},2024-13-40,1.00,web,,`,
          `${customer},B${o},2024-02-03,12.345,web,,`,
          `,B${o},2024-02-03,1.00,web,,`,
          `${customer},B${o},2024-02-03,1.00`,
          `${customer},"B${o}"x,2024-02-03,1.00,web,,`,
          `${"L".repeat(200)},B${o},2024-02-03,1.00,web,,`,
          `${customer},B${o},2031-02-03,1.00,web,,`,
          `${customer},B${o},2024-02-03,1.00,web,,XX1`,
        ]),
      );
    }
  }
  // Blank lines before the header move every line number.
  if (seed % 2 === 0) lines.unshift("", "  ");
  const text = lines.map((line, i) => (i % 7 === 3 ? `${line}\r` : line)).join("\n");
  return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`${text}\n`, "utf8")]);
}

/** Two ids `${prefix}<n>` whose hashKey is the same (a search for a 32-bit birthday collision). */
function collidingIds(prefix: string): [string, string] {
  const seen = new Map<number, string>();
  for (let i = 0; ; i++) {
    const id = `${prefix}${i}`;
    const bytes = Buffer.from(id, "utf8");
    const hash = hashKey(bytes, 0, bytes.length);
    const other = seen.get(hash);
    if (other !== undefined) return [other, id];
    seen.set(hash, id);
  }
}

const CSV: IngestOptions = { format: "csv" };
/** 2025-12-31: rows dated later are rejected FUTURE_DATE. */
const LATEST = 20453;

describe("parallel read: the same state, counts and rejected rows as one thread", () => {
  it(
    "CDNOW master file, 9 ranges",
    async () => {
      const bytes = readFileSync(sharedData("cdnow/cdnow-master-transactions.csv"));
      const read = await parallel(fileSource(bytes), CSV, { ranges: 9 });
      expect(read.oneThread).toBeUndefined();
      expect(read.threads).toBe(2);
      expect(read.ranges).toBe(9);
      expectSameRead(read, await oneThread(bytes, CSV));
    },
    SLOW,
  );

  it(
    "Online Retail (repeated identical lines, cancellations, invoices across ranges), 13 ranges, posted bytes",
    async () => {
      const bytes = readFileSync(sharedData("online-retail/online-retail-transactions.csv"));
      const read = await parallel(memorySource(bytes, 1 << 16), CSV, { ranges: 13 });
      expect(read.oneThread).toBeUndefined();
      const expected = await oneThread(bytes, CSV);
      expect(expected.report.orderLinesMerged).toBeGreaterThan(0);
      expect(expected.state.currency).toBe("GBP");
      expectSameRead(read, expected);
    },
    SLOW,
  );

  it(
    "Online Retail into a state holding the customers file (its customers first, the file's after)",
    async () => {
      const bytes = readFileSync(sharedData("online-retail/online-retail-transactions.csv"));
      const customers = readFileSync(sharedData("online-retail/online-retail-customers.csv"));
      const withCustomers = async () => {
        const state = new AggregateState();
        await ingestCustomers(chunked(customers), CSV, state);
        return state;
      };
      const target = await withCustomers();
      const read = await parallel(fileSource(bytes), CSV, { ranges: 4 }, target);
      expect(read.oneThread).toBeUndefined();
      expect(read.state).toBe(target);
      expectSameRead(read, await oneThread(bytes, CSV, await withCustomers()));
    },
    SLOW,
  );

  it(
    "generated files with rejected rows, duplicates and orders on both sides of tiny ranges",
    async () => {
      for (const [seed, ranges] of [
        [1, 40],
        [2, 97],
        [3, 3],
      ] as const) {
        const bytes = generated(seed, 3000);
        const options: IngestOptions = { format: "csv", latestOrderDay: LATEST };
        const expected = await oneThread(bytes, options);
        const codes = new Set(expected.errors.map((e) => e.code));
        for (const code of ["BAD_DATE", "BAD_AMOUNT", "MISSING_VALUE", "RAGGED_ROW", "BAD_QUOTE"]) {
          expect(codes).toContain(code);
        }
        expect(codes).toContain("TOO_LONG");
        expect(codes).toContain("FUTURE_DATE");
        expect(codes).toContain("BAD_CURRENCY");
        expect(expected.report.orderLinesMerged).toBeGreaterThan(100);
        const read = await parallel(memorySource(bytes, 97 + seed), options, { ranges });
        expect(read.oneThread).toBeUndefined();
        expect(read.ranges).toBe(ranges);
        expectSameRead(read, expected);
      }
    },
    SLOW,
  );

  it(
    "ranges of several order blocks: the merged state takes the later range's blocks once copied",
    async () => {
      // 2^16 orders a block: about 316,000 orders in two ranges, so the second range's first blocks are
      // emptied and take the merged state's later orders (with channels and categories, and lines of orders
      // that started in the first range).
      const bytes = generated(31, 900_000);
      const expected = await oneThread(bytes, CSV);
      expect(expected.state.orderCount).toBeGreaterThan(4 * 65_536);
      expect(expected.report.orderLinesMerged).toBeGreaterThan(10_000);
      const read = await parallel(fileSource(bytes), CSV, { ranges: 2 });
      expect(read.oneThread).toBeUndefined();
      expectSameRead(read, expected);
      for (let order = 0; order < expected.state.orderCount; order += 997) {
        expect(read.state.orderChannel(order)).toBe(expected.state.orderChannel(order));
        expect(read.state.orderCustomer(order)).toBe(expected.state.orderCustomer(order));
      }
    },
    SLOW,
  );

  it(
    "appending to a state that holds orders: new orders go after them",
    async () => {
      const first = generated(7, 800);
      const second = Buffer.from(generated(8, 1500).toString("utf8").replaceAll(",O", ",P"), "utf8");
      const stateBefore = async () => (await oneThread(first, CSV)).state;
      const read = await parallel(fileSource(second), CSV, { ranges: 6 }, await stateBefore());
      expect(read.oneThread).toBeUndefined();
      expectSameRead(read, await oneThread(second, CSV, await stateBefore()));
    },
    SLOW,
  );

  it(
    "ids whose 32-bit hashes collide across ranges stay apart, and true repeats merge (2 and 3 ranges)",
    async () => {
      // Two customer ids with the same hashKey, and two order ids whose order_id hashes share the high lane
      // (hash64's high lane is hashKey's hash): the merge compares keys, then the ids' bytes or low lanes.
      const [customerA, customerB] = collidingIds("K");
      const [orderX, orderY] = collidingIds("Q");
      const lanes = (id: string) => {
        const bytes = Buffer.from(id, "utf8");
        hash64(bytes, 0, bytes.length);
        return [HASH64[0], HASH64[1]];
      };
      expect(lanes(orderX)[0]).toBe(lanes(orderY)[0]);
      expect(lanes(orderX)[1]).not.toBe(lanes(orderY)[1]);
      const filler = (from: number, count: number) =>
        Array.from(
          { length: count },
          (_, i) => `F${(from + i) % 37},G${from + i},2024-05-0${1 + (i % 9)},${i}.25`,
        );
      const lines = [
        "customer_id,order_id,order_date,amount",
        `${customerA},${orderX},2024-01-01,10.00`,
        ...filler(0, 120),
        `${customerB},${orderY},2024-02-01,5.50`,
        `${customerA},${orderX},2024-03-01,1.25`,
        `${customerB},P1,2024-03-02,2.00`,
        ...filler(1000, 120),
        `${customerB},${orderY},2024-04-01,0.75`,
      ];
      const bytes = Buffer.from(`${lines.join("\n")}\n`, "utf8");
      const expected = await oneThread(bytes, CSV);
      expect(expected.state.findCustomer(customerA)).toBeGreaterThanOrEqual(0);
      expect(expected.state.findCustomer(customerB)).toBeGreaterThanOrEqual(0);
      expect(expected.report.orderLinesMerged).toBe(2);
      for (const ranges of [2, 3]) {
        const read = await parallel(memorySource(bytes, 64), CSV, { ranges });
        expect(read.oneThread).toBeUndefined();
        expect(read.ranges).toBe(ranges);
        expectSameRead(read, expected);
      }
    },
    SLOW,
  );

  it(
    "the TypeScript worker through tsx, as a source run starts it",
    async () => {
      const bytes = generated(11, 2000);
      const errors: RowError[] = [];
      const read = await ingestTransactionsParallel(
        fileSource(bytes),
        { format: "csv", onRowError: (e) => errors.push(e) },
        new AggregateState(),
        { threads: 2, minBytes: 0, ranges: 5 },
      );
      expect(read.oneThread).toBeUndefined();
      expectSameRead({ ...read, errors }, await oneThread(bytes, CSV));
    },
    SLOW,
  );
});

describe("parallel read: what only a whole read can decide goes to one thread, with the same result", () => {
  const cases: [string, () => Uint8Array, string][] = [
    [
      "a quoted field holding a line break",
      () =>
        Buffer.from(
          `${generated(21, 600).toString()}C1,Q1,2024-01-02,"1.00",web,"two\nlines",EUR\n${generated(22, 600).toString().split("\n").slice(1).join("\n")}`,
        ),
      "QUOTED_LINE_BREAK",
    ],
    [
      "an order whose lines in two ranges name different customers",
      () => generated(23, 2000, { mismatch: true }),
      "ORDER_CUSTOMER",
    ],
    [
      "rows naming two currencies",
      () => generated(24, 2000, { currencies: ["EUR", "USD", ""] }),
      "CURRENCIES",
    ],
  ];
  for (const [name, make, reason] of cases) {
    it(
      name,
      async () => {
        const bytes = make();
        const read = await parallel(memorySource(bytes), CSV, { ranges: 23 });
        expect(read.oneThread).toBe(reason);
        expectSameRead(read, await oneThread(bytes, CSV));
      },
      SLOW,
    );
  }

  it(
    "appending a file that repeats an order the state holds (a re-upload)",
    async () => {
      const bytes = generated(31, 1200);
      const stateBefore = async () => (await oneThread(bytes.subarray(0, 9000), CSV)).state;
      const read = await parallel(fileSource(bytes), CSV, { ranges: 5 }, await stateBefore());
      expect(read.oneThread).toBe("KNOWN_ORDER");
      const expected = await oneThread(bytes, CSV, await stateBefore());
      expect(expected.report.ordersDuplicate).toBeGreaterThan(0);
      expectSameRead(read, expected);
    },
    SLOW,
  );

  it(
    "a worker that fails: the file is read in one thread, and a bad file gives that read's FileError",
    async () => {
      const bytes = generated(41, 1500);
      const read = await parallel(fileSource(bytes), CSV, { ranges: 4, failRange: 2 });
      expect(read.oneThread).toBe("WORKER_FAILED");
      expectSameRead(read, await oneThread(bytes, CSV));

      const errorOf = async (run: () => Promise<unknown>) => {
        try {
          await run();
        } catch (error) {
          return error;
        }
        throw new Error("expected the read to fail");
      };
      const bad: Uint8Array[] = [
        Buffer.concat([Buffer.from("customer_id,order_id,order_date,amount\n"), Buffer.alloc(5000, 0)]),
        Buffer.from(`customer,order_id,order_date,amount\n${"a,b,2024-01-01,1\n".repeat(500)}`),
        Buffer.from(`\uFEFF${"x".repeat(20)}`.repeat(1), "utf16le"),
      ];
      for (const file of bad) {
        const expected = await errorOf(() => oneThread(file, CSV));
        expect(expected).toBeInstanceOf(FileError);
        for (const failRange of [undefined, 1]) {
          const actual = await errorOf(() =>
            parallel(memorySource(file), CSV, {
              ranges: 3,
              ...(failRange === undefined ? {} : { failRange }),
            }),
          );
          expect(actual).toBeInstanceOf(FileError);
          expect((actual as FileError).code).toBe((expected as FileError).code);
          expect((actual as FileError).message).toBe((expected as FileError).message);
        }
      }
    },
    SLOW,
  );

  it(
    "a source that breaks mid-range: its error, as a one-thread read rethrows it",
    async () => {
      const bytes = generated(51, 3000);
      const broken = new Error("socket hang up");
      const source: RangeSource = {
        size: bytes.length,
        async *open(start) {
          yield* chunked(bytes.subarray(start, start + 3000), everyN(3000, 1000));
          if (start > 0) throw broken;
          yield bytes.subarray(start + 3000);
        },
      };
      await expect(
        ingestTransactionsParallel(source, CSV, new AggregateState(), {
          threads: 2,
          minBytes: 0,
          workerUrl,
          ranges: 3,
        }),
      ).rejects.toBe(broken);
    },
    SLOW,
  );

  it("small files, NDJSON and one thread are read in one thread", async () => {
    const bytes = generated(61, 300);
    const small = await parallel(memorySource(bytes), CSV, { minBytes: bytes.length + 1 });
    expect(small.oneThread).toBe("SMALL_FILE");
    const single = await parallel(memorySource(bytes), CSV, { threads: 1 });
    expect(single.oneThread).toBe("ONE_THREAD");
    const ndjson = Buffer.from('{"customer_id":"a","order_id":"1","order_date":"2024-01-01","amount":"1"}\n');
    const read = await parallel(memorySource(ndjson), { format: "ndjson" }, {});
    expect(read.oneThread).toBe("NOT_CSV");
    expect(read.report.ordersAdded).toBe(1);
  });
});
