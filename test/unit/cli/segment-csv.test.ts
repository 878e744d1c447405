/**
 * The `segment` CLI's per-customer CSV written as bytes (scripts/segment-csv.ts) against the writer it
 * replaced, kept here as the reference: one template string per row with toFixed, centsText, isoDay and
 * csvTextCell. The file must be the same byte for byte on the CDNOW demo file (clusters, value models and
 * intervals), on a synthetic file of the benchmark's generator, and on a file whose customer ids need quoting
 * or defusing and whose customers have next best categories (ids copied from the state's bytes); on a result
 * without a state (ids as strings) whose every cell kind holds edge values (negative, −0, huge and fractional
 * cents, money halves, numbers past 2^31, empty value cells); and through a file that takes each write late
 * and in pieces, or fails one. The number formatting must be toFixed's on values chosen to be hard for it
 * (halves, values a hair off them, large and tiny values).
 */
import { createReadStream } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_SPEC, syntheticFile } from "../../../scripts/bench/generate";
import { main, OUTPUT_COLUMNS, writeCustomers } from "../../../scripts/segment";
import { fixedDigits, WRITE_BUFFER_BYTES, writeCustomerRows } from "../../../scripts/segment-csv";
import { csvTextCell } from "../../../shared/csv";
import {
  AggregateState,
  type ComputedSegmentation,
  type ComputeSettings,
  centsOfAmount,
  centsText,
  computeSegments,
  ingestTransactions,
  isoDay,
  LIFECYCLE_STAGES,
  RFM_SEGMENTS,
} from "../../../shared/engine";
import { FIXTURE_AS_OF, makeCategorizedTransactions } from "../../browser/fixture";

const CDNOW = "scripts/local/demo/cdnow-transactions.csv.gz";

/** The writer the CLI had before segment-csv.ts, as one string. */
function referenceCsv(result: ComputedSegmentation): string {
  const money = (value: number | undefined): string =>
    value === undefined || Number.isNaN(value) ? "" : centsText(centsOfAmount(value));
  const fixed = (value: number | undefined, digits: number): string =>
    value === undefined || Number.isNaN(value) ? "" : value.toFixed(digits);
  const c = result.columns;
  const clusterIds = result.clusters?.ids ?? [];
  const rfmIds = RFM_SEGMENTS.map((s) => s.id);
  const lifecycleIds = LIFECYCLE_STAGES.map((s) => s.id);
  const parts = [`${OUTPUT_COLUMNS.join(",")}\n`];
  for (let i = 0; i < result.customerCount; i++) {
    const cluster = c.cluster === undefined ? "" : clusterIds[c.cluster[i] as number];
    parts.push(
      `${csvTextCell(result.customerId(i))},${isoDay(c.firstPurchaseDay[i] as number)},${c.recencyDays[i]},` +
        `${c.frequency[i]},${centsText(c.monetaryCents[i] as number)},${c.r[i]},${c.f[i]},${c.m[i]},` +
        `${rfmIds[c.rfmSegment[i] as number]},${cluster},${lifecycleIds[c.lifecycle[i] as number]},` +
        `${fixed(c.probabilityAlive?.[i], 6)},${fixed(c.expectedPurchases?.[i], 4)},` +
        `${fixed(c.expectedPurchasesLow?.[i], 4)},${fixed(c.expectedPurchasesHigh?.[i], 4)},` +
        `${money(c.clv?.[i])},${money(c.clvLow?.[i])},${money(c.clvHigh?.[i])},` +
        `${csvTextCell(result.nextBestCategoryOf(i) ?? "")}\n`,
    );
  }
  return parts.join("");
}

async function segmentationOf(path: string, settings: ComputeSettings): Promise<ComputedSegmentation> {
  const state = new AggregateState();
  await ingestTransactions(createReadStream(path), { format: "csv" }, state);
  return computeSegments(state, settings);
}

/** A file handle that keeps what is written to it, in pieces as written. */
function collector(): { file: FileHandle; pieces: Buffer[]; text: () => string } {
  const pieces: Buffer[] = [];
  const file = {
    write: async (buffer: Buffer, offset: number, length: number) => {
      pieces.push(Buffer.from(buffer.subarray(offset, offset + length)));
      return { bytesWritten: length, buffer };
    },
  } as unknown as FileHandle;
  return { file, pieces, text: () => Buffer.concat(pieces).toString("utf8") };
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "segment-csv-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function expectSameFile(result: ComputedSegmentation, name: string): Promise<Buffer> {
  const path = join(dir, name);
  await writeCustomers(result, path);
  const written = await readFile(path);
  const reference = Buffer.from(referenceCsv(result), "utf8");
  expect(written.length).toBe(reference.length);
  expect(written.equals(reference)).toBe(true);
  return written;
}

describe("the per-customer CSV, byte for byte as the string writer had it", () => {
  it("on the CDNOW demo file: clusters, the value models' predictions and their intervals", async () => {
    const result = await segmentationOf(CDNOW, { asOf: "1998-07-01", clusters: { k: 4 } });
    expect(result.customerCount).toBe(23_570);
    expect(result.columns.clvLow).toBeDefined();
    expect(result.clusters?.k).toBe(4);
    const written = await expectSameFile(result, "cdnow.csv");
    // More than one buffer's worth, so the rows cross flushes.
    expect(written.length).toBeGreaterThan(2 * WRITE_BUFFER_BYTES);
  });

  it("on a synthetic file of the benchmark's generator", async () => {
    const data = syntheticFile(dir, { ...DEFAULT_SPEC, customers: 4000 });
    const result = await segmentationOf(data.path, { asOf: data.asOf, clusters: { k: 3 } });
    expect(result.customerCount).toBe(4000);
    expect(result.columns.probabilityAlive).toBeDefined();
    await expectSameFile(result, "synthetic.csv");
  });

  it("with ids that need quotes or defusing, non-ASCII ids, next best categories and no value models", async () => {
    const odd = [
      "=1+1",
      "+49 30 1234",
      "-7",
      "@sum",
      'say "hi"',
      "a,b",
      "x;=cmd",
      "two  words",
      "Zoë",
      "客户",
      "tab\there",
      "ok-id_1.2:3/4#",
      // 128 bytes and more: the state keeps their length in two bytes.
      `${"x".repeat(120)}-long-id`,
      "q,".repeat(64),
      "é".repeat(100),
    ];
    const lines = makeCategorizedTransactions(600, 9).trimEnd().split("\n");
    // A first customer whose only order is after the evaluation day: in the state, not in the result, so the
    // result's positions are not the state's indices.
    lines.splice(1, 0, "late-1,late-order,2025-09-30,12.00,Jazz");
    odd.forEach((id, k) => {
      const cell = `"${id.replace(/"/g, '""')}"`;
      lines.push(`${cell},odd-${k},2024-0${1 + (k % 5)}-1${k % 10},${10 + k}.25,Jazz`);
      lines.push(`${cell},odd-${k}b,2024-06-2${k % 10},-${3 + k}.50,Jazz`);
    });
    const path = join(dir, "odd.csv");
    await writeFile(path, `${lines.join("\n")}\n`);
    const result = await segmentationOf(path, { asOf: FIXTURE_AS_OF, clusters: false, value: false });
    const ids = new Set(Array.from({ length: result.customerCount }, (_, i) => result.customerId(i)));
    for (const id of odd) expect(ids.has(id), id).toBe(true);
    expect(ids.has("late-1")).toBe(false);
    expect(result.state?.customerId(0)).toBe("late-1");
    expect(result.columns.stateIndex[0]).toBe(1);
    expect(result.columns.clv).toBeUndefined();
    const written = (await expectSameFile(result, "odd.out.csv")).toString("utf8");
    expect(written).toContain("\n'=1+1,");
    expect(written).toContain(`"x;'=cmd"`);
    expect(written).toContain(`"say ""hi"""`);
    expect(written).toContain("\nZoë,");
    expect(written).toContain(`\n${"x".repeat(120)}-long-id,`);
    expect(written).toContain(`\n"${"q,".repeat(64)}",`);
  });

  it("on a result without a state, every cell kind at its edges", async () => {
    const result = edgeResult(97);
    const sink = collector();
    await writeCustomerRows(result, OUTPUT_COLUMNS, sink.file);
    const written = Buffer.concat(sink.pieces);
    expect(written.equals(Buffer.from(referenceCsv(result), "utf8"))).toBe(true);
    const text = written.toString("utf8");
    expect(text).toContain(",-21474836.48,");
    expect(text).toContain(",90071992547409.91,");
    expect(text).toContain(",4294967295,");
    expect(text).toContain(",-2147483648,");
    expect(text).toContain(',"a,b"\n');
    expect(text).toContain("\n'=1+1,");
  });

  it("through a file that takes each write late and in pieces: no buffer is reused before its write ends", async () => {
    // Some 2,300 rows of 130–260 bytes: several buffers.
    const result = edgeResult(2 * Math.ceil((3 * WRITE_BUFFER_BYTES) / 260));
    const pieces: Buffer[] = [];
    let writes = 0;
    const file = {
      write: (buffer: Buffer, offset: number, length: number) =>
        new Promise((done) => {
          writes++;
          // The bytes are taken when the write ends, after the writer has gone on formatting.
          setImmediate(() => {
            const n = Math.min(length, 100_003);
            pieces.push(Buffer.from(buffer.subarray(offset, offset + n)));
            done({ bytesWritten: n, buffer });
          });
        }),
    } as unknown as FileHandle;
    await writeCustomerRows(result, OUTPUT_COLUMNS, file);
    const written = Buffer.concat(pieces);
    expect(written.length).toBeGreaterThan(3 * WRITE_BUFFER_BYTES);
    expect(writes).toBeGreaterThan(30);
    expect(written.equals(Buffer.from(referenceCsv(result), "utf8"))).toBe(true);
  });

  it("rejects with the file's error when a write fails, after the writes it started have ended", async () => {
    const result = edgeResult(2 * Math.ceil((3 * WRITE_BUFFER_BYTES) / 260));
    let writes = 0;
    let running = 0;
    const failure = Object.assign(new Error("no space left on device"), { code: "ENOSPC" });
    const file = {
      write: (buffer: Buffer, _offset: number, length: number) => {
        writes++;
        const which = writes;
        running++;
        return new Promise((done, fail) =>
          setImmediate(() => {
            running--;
            if (which === 2) fail(failure);
            else done({ bytesWritten: length, buffer });
          }),
        );
      },
    } as unknown as FileHandle;
    await expect(writeCustomerRows(result, OUTPUT_COLUMNS, file)).rejects.toBe(failure);
    expect(writes).toBe(2);
    expect(running).toBe(0);
  });

  it("through the CLI, its value stage on a thread of its own: the reference's file of a one-thread computation", async () => {
    const out = join(dir, "cli.csv");
    let stdout = "";
    const code = await main(
      [CDNOW, "--out", out, "--as-of", "1998-07-01", "--k", "4", "--value-thread-min", "0"],
      {
        stdout: {
          write: (text: string) => {
            stdout += text;
          },
        },
        stderr: { write: () => true },
      },
    );
    expect(code).toBe(0);
    const summary = JSON.parse(stdout.trimEnd().split("\n").at(-1) as string);
    expect(summary.seconds.valueThread).toBeGreaterThan(0);
    const result = await segmentationOf(CDNOW, { asOf: "1998-07-01", clusters: { k: 4, seed: 1 } });
    expect((await readFile(out)).equals(Buffer.from(referenceCsv(result), "utf8"))).toBe(true);
  });
});

/**
 * A result of `count` customers without a state, its columns cycling through edge values of every cell
 * kind: ids that need quoting or defusing, days before 1970, negative and 2^31-and-beyond whole numbers,
 * cents negative, −0, past 2^31 and 2^53 and fractional, money at halves of a cent and huge, NaN, categories.
 */
function edgeResult(count: number): ComputedSegmentation {
  const ids = ["plain-1", "=1+1", "a,b", 'say "hi"', "Zoë", "-7", "two  words", "客户"];
  const days = [0, -1, -719468, 20_000, 2_932_896];
  const whole = [0, 7, -5, 99, 100, 2 ** 31 - 1, -(2 ** 31), 2 ** 31 - 2];
  const counts = [0, 1, 10, 2 ** 31, 2 ** 32 - 1, 12345];
  const cents = [
    0,
    -0,
    1,
    -1,
    99,
    -99,
    100,
    12345,
    -12345,
    2 ** 31 - 1,
    2 ** 31,
    -(2 ** 31),
    -(2 ** 31) - 1,
    2 ** 53 - 1,
    -(2 ** 53 - 1),
    2 ** 53 + 2,
    1e20,
    0.5,
    -2147483648 / 1,
  ];
  const money = [
    0,
    -0,
    0.005,
    -0.005,
    0.125,
    -0.125,
    2.675,
    1.005,
    123456.785,
    -99.995,
    1e10 + 0.005,
    2 ** 31 / 100,
    -(2 ** 31) / 100,
    21474836.47,
    90071992547409.91,
    1e15,
    1e17,
    1e21,
    1e300,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    Number.NaN,
    5e-324,
    -21474836.48,
  ];
  const fractions = [
    0,
    -0,
    0.5,
    0.00005,
    0.99999949999,
    0.1234565,
    12.34565,
    1e9 + 0.5,
    3e11,
    Number.NaN,
    1e21,
  ];
  const categories = ["Rock", undefined, "=cmd", "a,b", "Zoë"];
  const pick = <T>(list: readonly T[], i: number, step = 1): T => list[(i * step) % list.length] as T;
  const column = <A extends { [k: number]: number }>(
    make: new (n: number) => A,
    list: readonly number[],
    step: number,
  ) => {
    const a = new make(count);
    for (let i = 0; i < count; i++) a[i] = pick(list, i, step);
    return a;
  };
  const columns = {
    stateIndex: Uint32Array.from({ length: count }, (_, i) => i),
    firstPurchaseDay: column(Int32Array, days, 1),
    recencyDays: column(Int32Array, whole, 3),
    frequency: column(Uint32Array, counts, 5),
    monetaryCents: column(Float64Array, cents, 1),
    r: column(Uint8Array, [1, 2, 5, 0, 255], 1),
    f: column(Uint8Array, [3, 4, 5], 2),
    m: column(Uint8Array, [5, 1], 1),
    rfmSegment: column(
      Uint8Array,
      RFM_SEGMENTS.map((_, k) => k),
      7,
    ),
    lifecycle: column(
      Uint8Array,
      LIFECYCLE_STAGES.map((_, k) => k),
      3,
    ),
    cluster: column(Uint16Array, [0, 1, 2], 1),
    probabilityAlive: column(Float64Array, fractions, 1),
    expectedPurchases: column(Float64Array, fractions, 3),
    expectedPurchasesLow: column(Float64Array, fractions, 5),
    expectedPurchasesHigh: column(Float64Array, fractions, 7),
    clv: column(Float64Array, money, 1),
    clvLow: column(Float64Array, money, 5),
    clvHigh: column(Float64Array, money, 7),
  };
  return {
    customerCount: count,
    columns,
    clusters: { ids: ["cluster:c0", "cluster:c1", "cluster:c2"] },
    state: undefined,
    customerId: (i: number) => pick(ids, i, 1),
    nextBestCategoryOf: (i: number) => pick(categories, i, 3),
  } as unknown as ComputedSegmentation;
}

describe("toFixed's digits", () => {
  /** The bytes writeCustomerRows' number writer gives for each value, one per line. */
  async function written(values: readonly number[], places: number): Promise<string[]> {
    // A computation of one customer per value, the value in probabilityAlive (6 places) or clv's place.
    const sink = collector();
    const columns = {
      firstPurchaseDay: new Int32Array(values.length),
      recencyDays: new Int32Array(values.length),
      frequency: new Uint32Array(values.length),
      monetaryCents: new Float64Array(values.length),
      r: new Uint8Array(values.length),
      f: new Uint8Array(values.length),
      m: new Uint8Array(values.length),
      rfmSegment: new Uint8Array(values.length),
      lifecycle: new Uint8Array(values.length),
      [places === 6 ? "probabilityAlive" : "expectedPurchases"]: Float64Array.from(values),
    };
    const fake = {
      customerCount: values.length,
      columns,
      customerId: (i: number) => `c${i}`,
      nextBestCategoryOf: () => undefined,
    } as unknown as ComputedSegmentation;
    await writeCustomerRows(fake, OUTPUT_COLUMNS, sink.file);
    const cell = OUTPUT_COLUMNS.indexOf(places === 6 ? "probability_alive" : "expected_purchases");
    return sink
      .text()
      .trimEnd()
      .split("\n")
      .slice(1)
      .map((line) => line.split(",")[cell] as string);
  }

  /** Values next to x, a few ulps either side. */
  function around(x: number): number[] {
    const out = [x];
    const view = new Float64Array(1);
    const bits = new BigInt64Array(view.buffer);
    for (const step of [-3n, -2n, -1n, 1n, 2n, 3n]) {
      view[0] = x;
      bits[0] = (bits[0] as bigint) + step;
      if (view[0] >= 0) out.push(view[0] as number);
    }
    return out;
  }

  it.each([6, 4])(
    "writes toFixed(%i) of halves, values a hair off them, and of every scale",
    async (places) => {
      const values: number[] = [0, -0, 1, 0.5, 1e-7, 5e-7, 4.9999999e-7, 1e-300, 123456.789, 999999.99995];
      for (let k = 0; k < 2000; k++) {
        const half = (k * 7919 + 0.5) / 10 ** places;
        values.push(...around(half));
      }
      for (let e = -12; e <= 14; e++) values.push(...around(1.2345678901234567 * 10 ** e));
      values.push(Number.POSITIVE_INFINITY, -1.5, -0.00001, Number.NaN);
      const cells = await written(values, places);
      expect(cells).toEqual(values.map((v) => (Number.isNaN(v) ? "" : v.toFixed(places))));
      // Both paths were taken: the short one away from halves, toFixed itself within ulps of one.
      const fast = values.filter((v) => fixedDigits(v, places) !== undefined).length;
      expect(fast).toBeGreaterThan(100);
      expect(values.length - fast).toBeGreaterThan(1000);
    },
  );

  it("writes toFixed of any double from 0 to 10^9 (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.double({ min: 0, max: 1e9, noNaN: true }), { minLength: 1, maxLength: 400 }),
        fc.constantFrom(4, 6),
        async (values, places) => {
          expect(await written(values, places)).toEqual(values.map((v) => v.toFixed(places)));
        },
      ),
      { seed: 11, numRuns: 60 },
    );
  });
});
