/**
 * The `segment` CLI's per-customer CSV written as bytes (scripts/segment-csv.ts) against the writer it
 * replaced, kept here as the reference: one template string per row with toFixed, centsText, isoDay and
 * csvTextCell. The file must be the same byte for byte on the CDNOW demo file (clusters, value models and
 * intervals), on a synthetic file of the benchmark's generator, and on a file whose customer ids need quoting
 * or defusing and whose customers have next best categories; and the number formatting must be toFixed's on
 * values chosen to be hard for it (halves, values a hair off them, large and tiny values).
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
    ];
    const lines = makeCategorizedTransactions(600, 9).trimEnd().split("\n");
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
    expect(result.columns.clv).toBeUndefined();
    const written = (await expectSameFile(result, "odd.out.csv")).toString("utf8");
    expect(written).toContain("\n'=1+1,");
    expect(written).toContain(`"x;'=cmd"`);
    expect(written).toContain(`"say ""hi"""`);
    expect(written).toContain("\nZoë,");
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
