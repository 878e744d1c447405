/**
 * The sharded computation against the single path: plan, partition (tiny ranges, so lines straddle range
 * ends and customers appear in many ranges), aggregate per bucket and merge give the result, counts and row
 * errors computeSegments and ingestTransactions give on the whole upload, customer by customer.
 */
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  watch,
  writeFileSync,
} from "node:fs";
import { tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { simulateRows } from "../../../scripts/bench/generate";
import { bucketsFor, chooseShuffle, runShardedLocal, shuffleBudget } from "../../../scripts/shard/local";
import { type ComputedSegmentation, computeSegments } from "../../../shared/engine/compute";
import { isoDay, parseDay } from "../../../shared/engine/days";
import { FileError } from "../../../shared/engine/errors";
import { ingestCustomers, ingestTransactions } from "../../../shared/engine/ingest";
import {
  aggregateBucket,
  aggregateContext,
  type BucketAggregate,
  mergePartials,
  ORDER_SLICES,
  type PartitionResult,
  PLAN_HEAD_BYTES,
  partitionRange,
  planShards,
  rangeReadStart,
} from "../../../shared/engine/shard";
import { encodePartial } from "../../../shared/engine/shard/partial";
import { AggregateState } from "../../../shared/engine/state";
import type { ComputeSettings, ReaderOptions, RowError } from "../../../shared/engine/types";
import { sharedData } from "../../support/shared-data";
import { chunked, everyN } from "./byte-source";

interface Run {
  rangeBytes: number;
  buckets: number;
  /** Chunk size the range readers are fed in. */
  chunk?: number;
  customers?: AggregateState;
  /** The latest order_date accepted, yyyy-mm-dd. */
  latestOrderDay?: string;
  /** Hand the merge its partials as loaders (as a store would) rather than bytes in memory. */
  loaders?: boolean;
}

async function sharded(bytes: Uint8Array, reader: ReaderOptions, settings: ComputeSettings, run: Run) {
  const plan = await planShards(bytes.subarray(0, PLAN_HEAD_BYTES), bytes.length, {
    reader,
    rangeBytes: run.rangeBytes,
    buckets: run.buckets,
  });
  const partitions: PartitionResult[] = [];
  for (const range of plan.ranges) {
    const from = bytes.subarray(rangeReadStart(plan, range.index));
    partitions.push(
      await partitionRange(chunked(from, everyN(from.length, run.chunk ?? 997)), plan, range.index),
    );
  }
  const context = aggregateContext(
    plan,
    partitions,
    settings,
    run.latestOrderDay === undefined ? {} : { latestOrderDay: run.latestOrderDay },
  );
  // Through JSON, as the steps pass it.
  const passed = JSON.parse(JSON.stringify(context));
  const partsOf = (b: number) => partitions.map((p) => p.parts[b] as Uint8Array);
  const aggregates: BucketAggregate[] = [];
  for (let b = plan.buckets - 1; b >= 0; b--) aggregates.push(await aggregateBucket(partsOf(b), passed, b));
  const merged = await mergePartials(
    aggregates.map((a) => (run.loaders === true ? async () => a.partial : a.partial)),
    settings,
    {
      ...(run.customers === undefined ? {} : { customers: run.customers }),
      // The order lists as streams of small chunks, as a store would hand them out.
      orders: Array.from({ length: ORDER_SLICES }, (_, slice) =>
        aggregates.map((a) => {
          const list = a.orders[slice] as Uint8Array;
          return () => chunked(list, everyN(list.length, 100));
        }),
      ),
      rebuild: async (b, foreignOrders) =>
        (await aggregateBucket(partsOf(b), JSON.parse(JSON.stringify(passed)), b, { foreignOrders })).partial,
    },
  );
  return { plan, partitions, merged };
}

async function single(
  bytes: Uint8Array,
  reader: ReaderOptions,
  settings: ComputeSettings,
  base?: AggregateState,
  latestOrderDay?: string,
) {
  const state = base ?? new AggregateState();
  const errors: RowError[] = [];
  const latest = latestOrderDay === undefined ? undefined : parseDay(latestOrderDay);
  const report = await ingestTransactions(
    chunked(bytes, everyN(bytes.length, 4096)),
    {
      ...reader,
      onRowError: (e) => errors.push(e),
      ...(latest === undefined ? {} : { latestOrderDay: latest }),
    },
    state,
  );
  return { state, errors, report, result: computeSegments(state, settings) };
}

const PER_CUSTOMER_COLUMNS = [
  "recencyDays",
  "frequency",
  "returns",
  "monetaryCents",
  "monetary",
  "firstPurchaseDay",
  "lastPurchaseDay",
  "previousPurchaseDay",
  "purchaseDays",
  "grossCents",
  "firstDayCents",
  "r",
  "f",
  "m",
  "rfmSegment",
  "lifecycle",
  "cluster",
  "probabilityAlive",
  "expectedPurchases",
  "clv",
] as const;

/** `threadTimings`: stages of `got` that ran on threads of their own, timed in a key of their own. */
function expectSame(
  got: ComputedSegmentation,
  want: ComputedSegmentation,
  threadTimings: string[] = [],
): void {
  expect(got.customerCount).toBe(want.customerCount);
  for (const name of PER_CUSTOMER_COLUMNS) {
    const a = got.columns[name];
    const b = want.columns[name];
    expect(a === undefined, name).toBe(b === undefined);
    if (a !== undefined && b !== undefined) expect(Array.from(a), name).toEqual(Array.from(b));
  }
  for (let i = 0; i < want.customerCount; i++) expect(got.customer(i)).toEqual(want.customer(i));
  expect(got.segments).toEqual(want.segments);
  expect(got.clusters).toEqual(want.clusters);
  expect(got.value).toEqual(want.value);
  expect(got.issues).toEqual(want.issues);
  expect(Object.keys(got.timings).sort()).toEqual([...Object.keys(want.timings), ...threadTimings].sort());
  expect(got.totalCents).toBe(want.totalCents);
  expect(got.totalOrders).toBe(want.totalOrders);
  expect(got.lifecycleWindows).toEqual(want.lifecycleWindows);
}

const CSV: ReaderOptions = { format: "csv" };

describe("sharded computation equals the single path", () => {
  it("on the CDNOW master file, with value model and clusters", async () => {
    const bytes = readFileSync(sharedData("cdnow/cdnow-master-transactions.csv"));
    const settings: ComputeSettings = { asOf: "1998-07-01", clusters: { k: 4 } };
    const want = await single(bytes, CSV, settings);
    const { plan, merged } = await sharded(bytes, CSV, settings, { rangeBytes: 40_000, buckets: 7 });
    expect(plan.ranges.length).toBeGreaterThan(40);
    expect(merged.report).toEqual(want.report);
    expect(merged.errors).toEqual(want.errors);
    expect(merged.orderCount).toBe(want.state.orderCount);
    expect(want.result.value).toBeDefined();
    expect(want.result.clusters).toBeDefined();
    expectSame(merged.result, want.result);
  }, 180_000);

  it("on the CDNOW master file upside down (each customer's orders latest first), with the value stage's holdout", async () => {
    const text = readFileSync(sharedData("cdnow/cdnow-master-transactions.csv"), "utf8");
    const [header, ...rows] = text.trimEnd().split("\n");
    const bytes = Buffer.from(`${header}\n${rows.reverse().join("\n")}\n`, "utf8");
    const settings: ComputeSettings = { asOf: "1998-07-01", clusters: { k: 4 } };
    const want = await single(bytes, CSV, settings);
    const { merged } = await sharded(bytes, CSV, settings, { rangeBytes: 100_000, buckets: 5 });
    // The holdout's figures come from each customer's purchase days as of the calibration end.
    expect(want.result.value?.validation).toBeTruthy();
    expect(merged.report).toEqual(want.report);
    expectSame(merged.result, want.result);
  }, 180_000);

  it("on generated data with order lines across ranges, returns, row errors and share and attribute rules", async () => {
    const { text, customers } = generated();
    const bytes = Buffer.from(text, "utf8");
    const settings: ComputeSettings = {
      asOf: "2023-06-20",
      clusters: { k: 3 },
      rules: [
        { id: "rule:web", name: "Web", rule: { field: "channel_share.web", op: "gte", value: 0.5 } },
        { id: "rule:books", name: "Books", rule: { field: "category_share.books", op: "gt", value: 0 } },
        { id: "rule:de", name: "DE", rule: { field: "attributes.country", op: "eq", value: "DE" } },
        { id: "rule:old", name: "Old", rule: { field: "attributes.age", op: "gte", value: 50 } },
        { id: "rule:fr", name: "FR", rule: { field: "segment", op: "in_segment", value: "attr:country:fr" } },
      ],
      attributeFamilies: [
        { attribute: "country", top: 2 },
        { attribute: "age", breaks: [30, 45, 60] },
      ],
      // Lookalikes read the spend shares, the attributes and a rule segment's members, as whole reads do.
      lookalikes: [
        { id: "lookalike:like-web", name: "Like web", seed: "rule:web", size: { percent: 20 } },
        {
          id: "lookalike:like-old",
          name: "Like old",
          seed: "rule:old",
          size: { top: 15 },
          attributes: ["country"],
        },
      ],
    } as ComputeSettings;
    const base = async () => {
      const state = new AggregateState();
      await ingestCustomers(chunked(Buffer.from(customers, "utf8")), CSV, state);
      return state;
    };
    const want = await single(bytes, CSV, settings, await base());
    // Every kind of row problem and of merge is present, so the comparison below covers them.
    const codes = new Set(want.errors.map((e) => e.code));
    for (const code of [
      "BAD_DATE",
      "MISSING_VALUE",
      "RAGGED_ROW",
      "BAD_QUOTE",
      "BAD_AMOUNT",
      "ORDER_CUSTOMER_MISMATCH",
    ])
      expect(codes, code).toContain(code);
    expect(want.report.orderLinesMerged).toBeGreaterThan(50);
    expect(want.result.columns.returns.some((r) => r > 0)).toBe(true);
    // The lookalike of a channel rule finds its channel share among the weightiest features.
    const like = want.result.segments.find((x) => x.id === "lookalike:like-web");
    expect(like?.size).toBeGreaterThan(0);
    expect(like?.lookalike?.features[0]?.name).toBe("channel_share.web");
    for (const [rangeBytes, buckets] of [
      [2_000, 5],
      [30_000, 1],
      [7_919, 13],
    ] as const) {
      const { merged, partitions } = await sharded(bytes, CSV, settings, {
        rangeBytes,
        buckets,
        chunk: 333,
        customers: await base(),
        // Partials in memory are gathered in position order, loaded ones scattered: both give the result.
        loaders: buckets === 13,
      });
      expect(partitions.reduce((n, p) => n + p.lines, 0)).toBe(text.split("\n").length - 2);
      expect(merged.report).toEqual(want.report);
      expect(merged.errors).toEqual(want.errors);
      expect(merged.currency).toBe("EUR");
      if (buckets > 1) expect(merged.rebuilt.length).toBeGreaterThan(0);
      expectSame(merged.result, want.result);
      // Rule memberships (shares and attributes) per customer.
      expect(merged.result.segments.filter((s) => s.family === "rule").map((s) => s.size)).toEqual(
        want.result.segments.filter((s) => s.family === "rule").map((s) => s.size),
      );
    }
    expect(want.result.segments.filter((s) => s.family === "rule").every((s) => s.size > 0)).toBe(true);
    // Attribute families (compared above with every segment and each customer's segments): top 2 of three
    // countries, other and unknown (the customers file names every other customer); four age bands.
    expect(want.result.segments.filter((s) => s.family === "attr").map((s) => s.id)).toEqual([
      ...["attr:country:de", "attr:country:fr", "attr:country:other", "attr:country:unknown"],
      ...[
        "attr:age:below-30",
        "attr:age:30-to-45",
        "attr:age:45-to-60",
        "attr:age:60-and-over",
        "attr:age:unknown",
      ],
    ]);
  }, 60_000);
});

describe("the local sharded runner (worker threads, buffers passed in memory)", () => {
  it("gives the single path's result on generated data, rebuilding the buckets of orders split across them", async () => {
    const { text } = generated();
    const dir = mkdtempSync(join(tmpdir(), "shard-local-"));
    try {
      const file = join(dir, "transactions.csv");
      writeFileSync(file, text);
      const settings: ComputeSettings = {
        asOf: "2023-06-20",
        clusters: { k: 3 },
        rules: [
          { id: "rule:web", name: "Web", rule: { field: "channel_share.web", op: "gte", value: 0.5 } },
          { id: "rule:books", name: "Books", rule: { field: "category_share.books", op: "gt", value: 0 } },
        ],
      } as ComputeSettings;
      const want = await single(Buffer.from(text, "utf8"), CSV, settings);
      const run = await runShardedLocal({
        file,
        settings,
        workers: 2,
        // 7 ranges asked for: the runner makes it 8, a multiple of the workers.
        rangeBytes: Math.ceil(Buffer.byteLength(text) / 7),
        buckets: 5,
        workerFile: fileURLToPath(new URL("../../../scripts/shard/worker.ts", import.meta.url)),
      });
      expect(run.plan.ranges.length).toBe(8);
      expect(run.merged.rebuilt.length).toBeGreaterThan(0);
      expect(run.merged.report).toEqual(want.report);
      expect(run.merged.errors).toEqual(want.errors);
      expect(run.merged.currency).toBe("EUR");
      expectSame(run.merged.result, want.result);
      expect(run.shuffleBytes).toBeGreaterThan(Buffer.byteLength(text) * 0.9);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 600_000);

  it("gives the single path's result on CDNOW, whose orders each stay in one bucket (the merge made during the check stands)", async () => {
    const file = sharedData("cdnow/cdnow-master-transactions.csv");
    const settings: ComputeSettings = { asOf: "1998-07-01", clusters: { k: 4 } };
    const want = await single(readFileSync(file), CSV, settings);
    const run = await runShardedLocal({
      file,
      settings,
      workers: 2,
      rangeBytes: 300_000,
      buckets: 6,
      workerFile: fileURLToPath(new URL("../../../scripts/shard/worker.ts", import.meta.url)),
    });
    expect(run.plan.ranges.length % 2).toBe(0);
    expect(run.merged.rebuilt).toEqual([]);
    expect(run.merged.report).toEqual(want.report);
    expect(run.merged.errors).toEqual(want.errors);
    expectSame(run.merged.result, want.result);
  }, 600_000);

  it("passes a file error of a worker on as the FileError a whole read throws", async () => {
    const dir = mkdtempSync(join(tmpdir(), "shard-local-"));
    try {
      const file = join(dir, "transactions.csv");
      writeFileSync(file, 'customer_id,order_id,order_date,amount\na,1,2024-01-01,"5\n"\nb,2,2024-01-02,5\n');
      await expect(
        runShardedLocal({
          file,
          settings: { asOf: "2024-03-01", clusters: false, value: false },
          workers: 2,
          rangeBytes: 16,
          buckets: 3,
          workerFile: fileURLToPath(new URL("../../../scripts/shard/worker.ts", import.meta.url)),
        }),
      ).rejects.toMatchObject({ name: "FileError", code: "UNSHARDABLE_FILE" });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 600_000);

  it("runs the merge's value stage on a thread of its own with the same result, holdout and intervals included", async () => {
    const file = sharedData("cdnow/cdnow-master-transactions.csv");
    const settings: ComputeSettings = { asOf: "1998-07-01", clusters: { k: 4 } };
    const want = await single(readFileSync(file), CSV, settings);
    const run = await runShardedLocal({
      file,
      settings,
      workers: 2,
      rangeBytes: 300_000,
      buckets: 6,
      valueThreadFrom: 0,
      workerFile: fileURLToPath(new URL("../../../scripts/shard/worker.ts", import.meta.url)),
    });
    // The thread gave the stage (a thread that gives none leaves it to the calling thread, untimed here).
    expect(run.merged.result.timings.valueThread).toBeGreaterThan(0);
    expect(want.result.value?.validation).toBeTruthy();
    expect(want.result.columns.clvLow).toBeDefined();
    for (const name of ["clvLow", "clvHigh", "expectedPurchasesLow", "expectedPurchasesHigh"] as const) {
      expect(Array.from(run.merged.result.columns[name] ?? []), name).toEqual(
        Array.from(want.result.columns[name] ?? []),
      );
    }
    expectSame(run.merged.result, want.result, ["valueThread"]);
  }, 600_000);
});

describe("the local sharded runner's buckets", () => {
  it("takes one bucket per 32 MB of upload, at least 16 and at most the plan's limit", () => {
    expect(bucketsFor(0)).toBe(16);
    expect(bucketsFor(16 * 32 * 1048576)).toBe(16);
    expect(bucketsFor(16 * 32 * 1048576 + 1)).toBe(17);
    // The benchmark's 10 M-customer file: 4,319,180,563 bytes, 128.7 times 32 MB.
    expect(bucketsFor(4_319_180_563)).toBe(129);
    expect(bucketsFor(1e15)).toBe(4096);
  });
});

describe("the local sharded runner's shuffle through files", () => {
  const workerFile = fileURLToPath(new URL("../../../scripts/shard/worker.ts", import.meta.url));

  it("picks files above the budget, memory up to it, and either when forced", () => {
    expect(chooseShuffle("auto", 1_000_001, 1_000_000)).toBe("files");
    expect(chooseShuffle("auto", 1_000_000, 1_000_000)).toBe("memory");
    expect(chooseShuffle("files", 10, 1_000_000)).toBe("files");
    expect(chooseShuffle("memory", 2_000_000, 1_000_000)).toBe("memory");
    // The default budget: a quarter of the machine at most.
    expect(shuffleBudget()).toBeGreaterThan(0);
    expect(shuffleBudget()).toBeLessThanOrEqual(totalmem() / 4);
  });

  it("gives the in-memory shuffle's result, rebuilt buckets included, and leaves no files", async () => {
    const { text } = generated();
    const dir = mkdtempSync(join(tmpdir(), "shard-files-"));
    try {
      const file = join(dir, "transactions.csv");
      writeFileSync(file, text);
      const tmp = join(dir, "tmp");
      mkdirSync(tmp);
      // A share rule keeps each customer's spend, which the single path's next best category reads too.
      const settings = {
        asOf: "2023-06-20",
        clusters: { k: 3 },
        rules: [{ id: "rule:web", name: "Web", rule: { field: "channel_share.web", op: "gte", value: 0.5 } }],
      } as ComputeSettings;
      const options = {
        file,
        settings,
        workers: 2,
        rangeBytes: Math.ceil(Buffer.byteLength(text) / 6),
        buckets: 5,
        tmpDir: tmp,
        workerFile,
      };
      const memory = await runShardedLocal({ ...options, shuffle: "memory" });
      const files = await runShardedLocal({ ...options, shuffle: "files" });
      expect([memory.shuffle, files.shuffle]).toEqual(["memory", "files"]);
      expect(files.merged.rebuilt.length).toBeGreaterThan(0);
      expect(files.merged.rebuilt).toEqual(memory.merged.rebuilt);
      expect(files.shuffleBytes).toBe(memory.shuffleBytes);
      expect(files.merged.report).toEqual(memory.merged.report);
      expect(files.merged.errors).toEqual(memory.merged.errors);
      expectSame(files.merged.result, memory.merged.result);
      const want = await single(Buffer.from(text, "utf8"), CSV, settings);
      expectSame(files.merged.result, want.result);
      expect(readdirSync(tmp)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 600_000);

  it("picks files for an upload over the budget, and removes them when the run fails", async () => {
    const dir = mkdtempSync(join(tmpdir(), "shard-files-"));
    try {
      // A quoted line break in the last range: its partition fails while the others write their parts.
      const rows = Array.from(
        { length: 400 },
        (_, i) => `c${i % 37},o${i},2024-01-${String((i % 28) + 1).padStart(2, "0")},5`,
      );
      const file = join(dir, "transactions.csv");
      writeFileSync(
        file,
        `customer_id,order_id,order_date,amount\n${rows.join("\n")}\nz,"9\n",2024-01-02,5\n`,
      );
      const tmp = join(dir, "tmp");
      mkdirSync(tmp);
      // The run's directory appears (and goes): the shuffle went through files.
      let seen = 0;
      const watcher = watch(tmp, () => {
        seen++;
      });
      try {
        await expect(
          runShardedLocal({
            file,
            settings: { asOf: "2024-03-01", clusters: false, value: false },
            workers: 2,
            rangeBytes: 1024,
            buckets: 3,
            // Auto (the default), the upload one byte over the budget.
            shuffleBudgetBytes: statSync(file).size - 1,
            tmpDir: tmp,
            workerFile,
          }),
        ).rejects.toMatchObject({ name: "FileError", code: "UNSHARDABLE_FILE" });
      } finally {
        watcher.close();
      }
      expect(seen).toBeGreaterThan(0);
      expect(readdirSync(tmp)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 600_000);
});

describe("uploads the sharded path refuses", () => {
  const settings: ComputeSettings = { asOf: "2024-03-01", clusters: false, value: false };
  const header = "customer_id,order_id,order_date,amount,channel,currency\n";
  const run = (text: string, reader: ReaderOptions = CSV) =>
    sharded(Buffer.from(text, "utf8"), reader, settings, { rangeBytes: 16, buckets: 3 });
  const code = async (promise: Promise<unknown>) => {
    try {
      await promise;
    } catch (error) {
      return error instanceof FileError ? error.code : String(error);
    }
    return "none";
  };

  it("a quoted line break", async () => {
    const text = `${header}a,1,2024-01-01,5,"we\nb",EUR\nb,2,2024-01-02,5,web,EUR\n`;
    expect(await code(run(text))).toBe("UNSHARDABLE_FILE");
    // The single path reads it as one record.
    expect((await single(Buffer.from(text), CSV, settings)).report.rowsAccepted).toBe(2);
  });

  it("rows in two currencies", async () => {
    expect(await code(run(`${header}a,1,2024-01-01,5,web,EUR\nb,2,2024-01-02,5,web,usd\n`))).toBe(
      "UNSHARDABLE_FILE",
    );
  });

  it("gzip and NDJSON", async () => {
    const text = `${header}a,1,2024-01-01,5,web,EUR\n`;
    await expect(
      planShards(gzipSync(text), gzipSync(text).length, { reader: CSV, buckets: 2 }),
    ).rejects.toMatchObject({ code: "UNSHARDABLE_FILE" });
    await expect(
      planShards(Buffer.from('{"a":1}\n'), 8, { reader: { format: "ndjson" }, buckets: 2 }),
    ).rejects.toMatchObject({ code: "UNSHARDABLE_FILE" });
  });

  it("the header errors of a whole read", async () => {
    expect(await code(run("customer_id,order_id,amount\na,1,5\n"))).toBe("MISSING_COLUMNS");
    expect(await code(run(""))).toBe("EMPTY_FILE");
    expect(await code(run("\n \n"))).toBe("EMPTY_FILE");
  });

  it("but reads a byte-order mark, blank lines and a last line with an unclosed quote as a whole read does", async () => {
    const text = `\uFEFF\n${header}a,1,2024-01-01,5,web,EUR\r\nb,2,2024-01-02,5,"we`;
    const want = await single(Buffer.from(text), CSV, settings);
    const { merged } = await run(text);
    expect(want.errors.map((e) => e.code)).toEqual(["UNTERMINATED_QUOTE"]);
    expect(merged.errors).toEqual(want.errors);
    expect(merged.report).toEqual(want.report);
    expectSame(merged.result, want.result);
  });
});

/** A partial written by hand: customers with their first row, totals and spend per channel. */
function handPartial(
  bucket: number,
  channels: string[],
  customers: {
    id: string;
    row: number;
    orders: number;
    cents: number;
    first: string;
    last: string;
    spend: [number, number][];
  }[],
  errors: RowError[],
): Uint8Array {
  const n = customers.length;
  const day = (d: string) => parseDay(d) as number;
  const ids = Buffer.from(customers.map((c) => c.id).join(""));
  let end = 0;
  const entries = customers.flatMap((c) => c.spend);
  let offset = 0;
  return encodePartial(
    {
      version: 1,
      bucket,
      customers: n,
      report: {
        rowsRead: n + errors.length,
        rowsAccepted: n,
        rowsRejected: errors.length,
        ordersAdded: n,
        ordersDuplicate: 0,
        orderLinesMerged: 0,
      },
      errors,
      currency: "EUR",
      channels,
      categories: [],
      channelEntries: entries.length,
      categoryEntries: 0,
      idBytes: ids.length,
      spend: true,
    },
    {
      firstRow: Float64Array.from(customers, (c) => c.row),
      monetaryCents: Float64Array.from(customers, (c) => c.cents),
      grossCents: Float64Array.from(customers, (c) => c.cents),
      firstDayCents: Float64Array.from(customers, (c) => c.cents / c.orders),
      frequency: Uint32Array.from(customers, (c) => c.orders),
      returns: new Uint32Array(n),
      firstPurchaseDay: Int32Array.from(customers, (c) => day(c.first)),
      lastPurchaseDay: Int32Array.from(customers, (c) => day(c.last)),
      previousPurchaseDay: Int32Array.from(customers, (c) => (c.orders > 1 ? day(c.first) : -2147483648)),
      purchaseDays: Uint32Array.from(customers, (c) => Math.min(c.orders, 2)),
      idEnds: Uint32Array.from(customers, (c) => {
        end += Buffer.byteLength(c.id);
        return end;
      }),
      idBytes: ids,
      channelOffsets: Uint32Array.from({ length: n + 1 }, (_, i) => {
        const at = offset;
        offset += customers[i]?.spend.length ?? 0;
        return at;
      }),
      channelCodes: Uint32Array.from(entries, (e) => e[0]),
      channelNet: Float64Array.from(entries, (e) => e[1]),
      categoryOffsets: new Uint32Array(n + 1),
      categoryCodes: new Uint32Array(0),
      categoryNet: new Float64Array(0),
    },
  );
}

describe("mergePartials", () => {
  it("merges hand-written partials in the order of first rows, with counts, errors and shares", async () => {
    const bad = (row: number): RowError => ({ row, column: "amount", code: "BAD_AMOUNT", reason: "bad" });
    // Bucket 0 knows channel web only (code 1); bucket 1 knows app (1) and web (2).
    const a = handPartial(
      0,
      ["web"],
      [
        {
          id: "x",
          row: 4,
          orders: 1,
          cents: 1000,
          first: "2024-01-05",
          last: "2024-01-05",
          spend: [[1, 1000]],
        },
        {
          id: "z",
          row: 9,
          orders: 2,
          cents: 5000,
          first: "2024-01-02",
          last: "2024-01-20",
          spend: [
            [0, 1000],
            [1, 4000],
          ],
        },
      ],
      [bad(5)],
    );
    const b = handPartial(
      1,
      ["app", "web"],
      [
        {
          id: "y",
          row: 2,
          orders: 3,
          cents: 400,
          first: "2024-01-01",
          last: "2024-01-30",
          spend: [
            [2, 300],
            [1, 100],
          ],
        },
        {
          id: "w",
          row: 7,
          orders: 1,
          cents: 2000,
          first: "2024-01-10",
          last: "2024-01-10",
          spend: [[1, 2000]],
        },
      ],
      [bad(1), bad(8)],
    );
    const settings = {
      asOf: "2024-02-01",
      clusters: false,
      value: false,
      rules: [{ id: "rule:web", name: "Web", rule: { field: "channel_share.web", op: "gte", value: 0.75 } }],
    } as ComputeSettings;
    const merged = await mergePartials([a, async () => b], settings);
    const r = merged.result;
    expect(Array.from({ length: r.customerCount }, (_, i) => r.customerId(i))).toEqual(["y", "x", "w", "z"]);
    expect(Array.from(r.columns.frequency)).toEqual([3, 1, 1, 2]);
    expect(Array.from(r.columns.monetary)).toEqual([4, 10, 20, 50]);
    expect(Array.from(r.columns.recencyDays)).toEqual([2, 27, 22, 12]);
    expect(merged.errors.map((e) => e.row)).toEqual([1, 5, 8]);
    expect(merged.report).toEqual({
      rowsRead: 7,
      rowsAccepted: 4,
      rowsRejected: 3,
      ordersAdded: 4,
      ordersDuplicate: 0,
      orderLinesMerged: 0,
    });
    expect(merged.currency).toBe("EUR");
    expect(r.totalCents).toBe(8400);
    // Web shares: y 300 / 400 = 0.75, x 1, w 0 (app only), z 4000 / 5000 = 0.8.
    expect(r.customer(0).segments).toContain("rule:web");
    expect(r.customer(1).segments).toContain("rule:web");
    expect(r.customer(2).segments).not.toContain("rule:web");
    expect(r.customer(3).segments).toContain("rule:web");
    // Monetary ranks 4 < 10 < 20 < 50 give increasing M scores; recency 2 is the most recent.
    expect(r.columns.m[0]).toBeLessThan(r.columns.m[1] as number);
    expect(r.columns.m[2]).toBeLessThan(r.columns.m[3] as number);
    expect(r.columns.r[0]).toBeGreaterThan(r.columns.r[1] as number);
  });

  it("partitions a source that reads every chunk into the same buffer as one that hands out fresh chunks", async () => {
    // Quoted lines and a last line without LF, so that lines straddle chunks and go through every path.
    const bytes = Buffer.from(
      `${generated().text.trimEnd()}\n"q,1",O-q1,2023-02-01,5.00,web\nz1,O-z1,2023-02-02,"7.50",app`,
      "utf8",
    );
    const plan = await planShards(bytes, bytes.length, {
      reader: CSV,
      rangeBytes: Math.ceil(bytes.length / 5),
      buckets: 7,
    });
    /** The source's bytes from `start` on, `size` at a time, every chunk in one Buffer (as the worker reads). */
    async function* reused(start: number, size: number): AsyncGenerator<Uint8Array> {
      const buffer = Buffer.alloc(size);
      for (let at = start; at < bytes.length; at += size) {
        const n = Math.min(size, bytes.length - at);
        buffer.set(bytes.subarray(at, at + n));
        yield buffer.subarray(0, n);
      }
    }
    for (const size of [61, 997]) {
      for (const range of plan.ranges) {
        const from = bytes.subarray(rangeReadStart(plan, range.index));
        const fresh = await partitionRange(chunked(from, everyN(from.length, size)), plan, range.index);
        const one = await partitionRange(reused(rangeReadStart(plan, range.index), size), plan, range.index);
        expect(one.lines).toBe(fresh.lines);
        expect(one.parts.map((p) => Buffer.from(p).toString("base64"))).toEqual(
          fresh.parts.map((p) => Buffer.from(p).toString("base64")),
        );
      }
    }
  });

  it("refuses share rules on partials built without spend", async () => {
    const text =
      "customer_id,order_id,order_date,amount,channel\na,1,2024-01-01,5,web\nb,2,2024-01-02,5,app\n";
    const bytes = Buffer.from(text);
    const plan = await planShards(bytes, bytes.length, { reader: CSV, buckets: 2 });
    const partition = await partitionRange(chunked(bytes.subarray(plan.dataStart)), plan, 0);
    const context = aggregateContext(plan, [partition], { asOf: "2024-02-01" });
    expect(context.spend).toBe(false);
    const partials = await Promise.all(
      [0, 1].map(
        async (b) => (await aggregateBucket([partition.parts[b] as Uint8Array], context, b)).partial,
      ),
    );
    const share = {
      asOf: "2024-02-01",
      rules: [{ id: "rule:web", name: "Web", rule: { field: "channel_share.web", op: "gte", value: 0.5 } }],
    } as ComputeSettings;
    await expect(mergePartials(partials, share)).rejects.toThrow(/without spend/);
    expect(aggregateContext(plan, [partition], share).spend).toBe(true);
  });

  it("rejects the rows past the amount limits and the future dates as a whole read does, with its line numbers", async () => {
    // Customers big1..big3 reach their limit (10^14 − 1 cents) after ten rows of 99,999,999,999.99 and 0.09;
    // the rows after that, a row past the row limit and rows dated after 2026-12-08 are rejected. The
    // dataset's sum stays within its limit, so every bucket's rows are the whole read's.
    const lines = ["customer_id,order_id,order_date,amount"];
    for (let k = 0; k < 12; k++) {
      for (let c = 1; c <= 3; c++) {
        const amount = k < 10 ? "99999999999.99" : k === 10 ? "0.09" : "0.01";
        lines.push(`big${c},b${c}-${k},2024-01-${String(k + 1).padStart(2, "0")},${amount}`);
      }
      lines.push(`small${k},s${k},2024-01-05,${k + 1}.25`);
    }
    lines.push("x,t1,2024-01-02,100000000000.00", "y,t2,2030-01-01,1.00", "z,t3,9999-12-31,1.00");
    lines.push("small1,t4,2026-12-08,2.00", "small2,t5,2026-12-09,2.00");
    const bytes = Buffer.from(`${lines.join("\n")}\n`);
    const settings: ComputeSettings = { asOf: "2024-02-01", clusters: false, value: false };
    const want = await single(bytes, CSV, settings, undefined, "2026-12-08");
    const codes = want.errors.map((e) => e.code);
    // Lines: 4 per k after the header (2-49), big rows of k = 11 on 46-48; then x 50, y 51, z 52, the
    // order of 2026-12-08 on 53 (accepted) and of 2026-12-09 on 54.
    expect(want.errors.filter((e) => e.code === "CUSTOMER_TOTAL_TOO_LARGE").map((e) => e.row)).toEqual([
      46, 47, 48,
    ]);
    expect(codes.filter((c) => c === "AMOUNT_TOO_LARGE")).toHaveLength(1);
    expect(want.errors.filter((e) => e.code === "FUTURE_DATE").map((e) => e.row)).toEqual([51, 52, 54]);
    for (const [rangeBytes, buckets] of [
      [200, 3],
      [1_000, 7],
    ] as const) {
      const { merged } = await sharded(bytes, CSV, settings, {
        rangeBytes,
        buckets,
        latestOrderDay: "2026-12-08",
      });
      expect(merged.errors).toEqual(want.errors);
      expect(merged.report).toEqual(want.report);
      expectSame(merged.result, want.result);
    }
  });

  it("refuses an upload whose amounts pass the dataset limit rather than reject other rows than a whole read", async () => {
    // 101 customers with one order of 99,999,999,999.99 each: a whole read rejects the 101st row.
    const lines = ["customer_id,order_id,order_date,amount"];
    for (let k = 0; k < 101; k++) lines.push(`c${k},o${k},2024-01-01,99999999999.99`);
    const bytes = Buffer.from(`${lines.join("\n")}\n`);
    const settings: ComputeSettings = { asOf: "2024-02-01", clusters: false, value: false };
    const want = await single(bytes, CSV, settings);
    expect(want.errors.map((e) => [e.row, e.code])).toEqual([[102, "DATASET_TOTAL_TOO_LARGE"]]);
    for (const buckets of [1, 4]) {
      await expect(sharded(bytes, CSV, settings, { rangeBytes: 500, buckets })).rejects.toMatchObject({
        code: "UNSHARDABLE_FILE",
      });
    }
  });

  it("puts a hand-worked pair of buckets back in the order of first appearance", async () => {
    // File lines: 1 header, 2 a, 3 b, 4 a (bad date), 5 c, 6 b, 7 d (return only), 8 e. Customers a and c hash to
    // some bucket, b and e to others; each bucket is aggregated on its own below.
    const header = "customer_id,order_id,order_date,amount";
    const rows = [
      "a,o1,2024-01-10,10.00",
      "b,o2,2024-01-11,20.00",
      "a,o3,2024-13-01,5.00",
      "c,o4,2024-01-12,30.00",
      "b,o5,2024-01-20,-5.00",
      "d,o6,2024-01-21,-3.00",
      "e,o7,2024-01-25,40.00",
    ];
    const text = `${header}\n${rows.join("\n")}\n`;
    const settings: ComputeSettings = { asOf: "2024-02-01", clusters: false, value: false };
    const { merged } = await sharded(Buffer.from(text), CSV, settings, { rangeBytes: 30, buckets: 4 });
    const result = merged.result;
    // d has a return only: not scored. Order of first appearance: a, b, c, e.
    expect(Array.from({ length: result.customerCount }, (_, i) => result.customerId(i))).toEqual([
      "a",
      "b",
      "c",
      "e",
    ]);
    const asOf = parseDay("2024-02-01") as number;
    expect(Array.from(result.columns.frequency)).toEqual([1, 1, 1, 1]);
    expect(Array.from(result.columns.returns)).toEqual([0, 1, 0, 0]);
    expect(Array.from(result.columns.monetaryCents)).toEqual([1000, 1500, 3000, 4000]);
    expect(Array.from(result.columns.recencyDays)).toEqual([
      asOf - (parseDay("2024-01-10") as number),
      asOf - (parseDay("2024-01-11") as number),
      asOf - (parseDay("2024-01-12") as number),
      asOf - (parseDay("2024-01-25") as number),
    ]);
    expect(result.customer(3).lastPurchase).toBe(isoDay(parseDay("2024-01-25") as number));
    expect(merged.errors).toEqual([
      { row: 4, column: "order_date", code: "BAD_DATE", reason: expect.any(String) },
    ]);
    expect(merged.report).toEqual({
      rowsRead: 7,
      rowsAccepted: 6,
      rowsRejected: 1,
      ordersAdded: 6,
      ordersDuplicate: 0,
      orderLinesMerged: 0,
    });
    // Monetary quintiles of 10, 15, 30, 40 (ties none): four customers take scores 1, 2, 4, 5 (rfm.ts spreads
    // n < 5 over the grid); the ranking alone is checked here.
    const m = Array.from(result.columns.m);
    expect(m[0]).toBeLessThan(m[1] as number);
    expect(m[1]).toBeLessThan(m[2] as number);
    expect(m[2]).toBeLessThan(m[3] as number);
  });
});

/**
 * A generated upload (the benchmark's generator, 300 customers) with lines of one order split across the
 * file, a second line naming another customer, bad rows, quoted and padded ids, blank and CRLF lines, and a
 * customers file for attribute rules.
 */
function generated(): { text: string; customers: string } {
  const spec = {
    customers: 300,
    seed: 7,
    start: "2023-01-01",
    days: 170,
    acquisitionDays: 120,
    r: 0.6,
    alpha: 6,
    a: 1,
    b: 8,
    medianOrderValue: 40,
    sigmaCustomer: 0.6,
    sigmaOrder: 0.35,
    returnRate: 0.05,
  };
  const rows = simulateRows(spec);
  const start = parseDay(spec.start) as number;
  const channels = ["web", "app", "store"];
  const categories = ["books", "music", "film", ""];
  const lines: string[] = ["customer_id,order_id,order_date,amount,channel,category,currency"];
  const later: string[] = [];
  for (let k = 0; k < rows.length; k++) {
    const c = rows.customer[k] as number;
    const cents = rows.cents[k] as number;
    const amount = (cents / 100).toFixed(2);
    const id = k % 17 === 0 ? `"C${c}"` : k % 23 === 0 ? `  C${c} ` : `C${c}`;
    const date = isoDay(start + (rows.day[k] as number));
    const line = `${id},O${k},${date},${amount},${channels[rows.channel[k] as number]},${categories[k % 4]},${k % 3 === 0 ? "eur" : "EUR"}`;
    lines.push(k % 29 === 0 ? `${line}\r` : line);
    // A second line of the same order, far later in the file.
    if (k % 11 === 0) later.push(`C${c},O${k},${date},1.25,app,music,`);
    // The same order id naming another customer: rejected.
    if (k % 97 === 0) later.push(`C${(c + 1) % spec.customers},O${k},${date},3.00,web,,EUR`);
    if (k % 53 === 0) lines.push("   ");
    if (k % 61 === 0) lines.push(`C${c},X${k},2023-02-30,1.00,web,,EUR`);
    if (k % 67 === 0) lines.push(`C${c},Y${k},2023-02-03,,web,,EUR`);
    if (k % 71 === 0) lines.push(`C${c},Z${k},2023-02-03,1.00,web`);
    if (k % 73 === 0) lines.push(`C${c},Q${k},2023-02-03,"1.00"x,web,,EUR`);
    if (k % 79 === 0) lines.push(`C${c},W${k},2023-02-03,1.0.0,web,,EUR`);
    if (k % 83 === 0) lines.push(`,V${k},2023-02-03,1.00,web,,EUR`);
    if (k % 89 === 0) lines.push(`"C${c}, with comma",U${k},2023-02-04,2.00,"st""ore",books,EUR`);
    // Orders after asOf, which the totals leave out.
    if (k % 31 === 0) lines.push(`C${c},F${k},2023-07-01,9.00,web,film,EUR`);
  }
  lines.push(...later);
  const customers = ["customer_id,country,age"];
  for (let c = 0; c < spec.customers + 5; c += 2) {
    customers.push(`C${c},${["DE", "FR", "NL"][c % 3]},${20 + ((c * 7) % 50)}`);
  }
  return { text: `${lines.join("\n")}\n`, customers: `${customers.join("\n")}\n` };
}
