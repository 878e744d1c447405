/**
 * The `segment` CLI reads a plain CSV of --parallel-min-mb or more on every core: on the Online Retail file
 * (18 MB, with --parallel-min-mb 16) it reports the threads that read it, and writes the same per-customer CSV
 * and counts as for the same file gzipped, which is always read in one thread.
 */

import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, expect, it } from "vitest";
import { main, type SegmentSummaryLine } from "../../../scripts/segment";
import { PARALLEL_MIN_BYTES } from "../../../shared/engine/parallel";
import { sharedData } from "../../support/shared-data";

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "segment-parallel-"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function segment(input: string, out: string): Promise<SegmentSummaryLine> {
  let stdout = "";
  const code = await main(
    [input, "--out", out, "--as-of", "2011-12-10", "--k", "4", "--parallel-min-mb", "16"],
    {
      stdout: {
        write: (text: string) => {
          stdout += text;
        },
      },
      stderr: { write: () => {} },
    },
  );
  expect(code).toBe(0);
  return JSON.parse(stdout.trim().split("\n").pop() as string) as SegmentSummaryLine;
}

it("Online Retail: read on every core, the same output as the gzipped file read in one thread", async () => {
  const plain = sharedData("online-retail/online-retail-transactions.csv");
  const bytes = await readFile(plain);
  expect(bytes.length).toBeGreaterThanOrEqual(16 * 1048576);
  expect(bytes.length).toBeLessThan(PARALLEL_MIN_BYTES);
  const gzipped = join(dir, "online-retail.csv.gz");
  await writeFile(gzipped, gzipSync(bytes));

  const many = await segment(plain, join(dir, "plain.segments.csv"));
  const one = await segment(gzipped, join(dir, "gzip.segments.csv"));
  expect(many.readThreads).toBe(Math.min(availableParallelism(), 16));
  expect(one.readThreads).toBe(1);
  expect(many.rows).toEqual(one.rows);
  expect(many.orders).toBe(one.orders);
  expect(many.customersKnown).toBe(one.customersKnown);
  const a = await readFile(join(dir, "plain.segments.csv"));
  const b = await readFile(join(dir, "gzip.segments.csv"));
  expect(a.length).toBeGreaterThan(100_000);
  expect(a.equals(b)).toBe(true);
}, 600_000);
