/**
 * Every script of `package.json` as a user runs it, in a process of its own: `--help` prints the usage on
 * stdout and exits 0 (without starting anything); an unknown option, a bad value or a missing file prints one
 * line on stderr saying what is wrong, without a stack trace, and exits 2 (1 for a file that cannot be read).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type NodeOutcome as Outcome, runNode } from "../../support/node-process";

const root = resolve(import.meta.dirname, "../../..");
/** A script that has not exited by then hangs: a busy machine takes seconds to load one, never minutes. */
const HANG_MS = 300_000;

function run(script: string, args: string[], env: Record<string, string> = {}): Promise<Outcome> {
  return runNode(["--import", "tsx", join(root, script), ...args], { cwd: root, env: { TOKEN: "", ...env } });
}

/** One line naming the script, and no stack trace. */
function expectOneLine(outcome: Outcome, name: string, says: RegExp) {
  const lines = outcome.stderr.trimEnd().split("\n");
  expect(lines, outcome.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^${name}: `));
  expect(lines[0]).toMatch(says);
  expect(outcome.stderr).not.toMatch(/\n\s+at /);
}

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), "cli-scripts-"));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** Each npm script, the file it runs, the name its messages start with, and a bad value of one option. */
const SCRIPTS = [
  { npm: "start", file: "scripts/local.ts", name: "start", bad: ["--port", "eighty"], says: /--port/ },
  {
    npm: "upload",
    file: "scripts/upload.ts",
    name: "upload",
    bad: ["--dataset", "a/b", "x.csv"],
    says: /--dataset/,
  },
  { npm: "segment", file: "scripts/segment.ts", name: "segment", bad: ["x.csv", "--k", "0"], says: /--k/ },
  { npm: "token", file: "scripts/token.ts", name: "token", bad: ["--ttl", "0"], says: /--ttl/ },
  { npm: "bench", file: "scripts/bench.ts", name: "bench", bad: ["--sizes", "lots"], says: /--sizes/ },
  {
    npm: "bench:lookups",
    file: "scripts/bench/lookups.ts",
    name: "bench:lookups",
    bad: ["--only", "everything"],
    says: /--only/,
  },
  {
    npm: "bench:capacity",
    file: "scripts/bench/capacity.ts",
    name: "bench:capacity",
    bad: ["--model", "many"],
    says: /customers/,
  },
  { npm: "load", file: "scripts/load.ts", name: "load", bad: ["--concurrency", "0"], says: /--concurrency/ },
  {
    npm: "screenshots",
    file: "scripts/screenshots.ts",
    name: "screenshots",
    bad: ["--api", "http://127.0.0.1:9"],
    says: /--token/,
  },
] as const;

describe.concurrent.each(SCRIPTS)("npm run $npm", ({ file, name, bad, says }) => {
  it("prints its usage on --help and exits 0", { timeout: HANG_MS }, async () => {
    const outcome = await run(file, ["--help"]);
    expect(outcome.code).toBe(0);
    expect(outcome.stdout).toMatch(/^usage: /);
    expect(outcome.stderr).toBe("");
  });

  it("names an unknown option in one line and exits 2", { timeout: HANG_MS }, async () => {
    const outcome = await run(file, ["--no-such-option"]);
    expect(outcome.code).toBe(2);
    expectOneLine(outcome, name, /unknown option '--no-such-option'/);
    expect(outcome.stdout).toBe("");
  });

  it("names a bad value in one line and exits 2", { timeout: HANG_MS }, async () => {
    const outcome = await run(file, [...bad]);
    expect(outcome.code).toBe(2);
    expectOneLine(outcome, name, says);
  });
});

describe.concurrent("a file that does not exist", () => {
  it("upload: one line with the system's code, exit 1", { timeout: HANG_MS }, async () => {
    const outcome = await run("scripts/upload.ts", ["--dataset", "d", join(scratch, "missing.csv")], {
      TOKEN: "t",
    });
    expect(outcome.code).toBe(1);
    expectOneLine(outcome, "upload", /missing\.csv \(ENOENT\)/);
  });

  it("segment: one line with the system's code, exit 1", { timeout: HANG_MS }, async () => {
    const outcome = await run("scripts/segment.ts", [join(scratch, "missing.csv")]);
    expect(outcome.code).toBe(1);
    expectOneLine(outcome, "segment", /missing\.csv \(ENOENT\)/);
  });

  it("bench --report: one line with the system's code, exit 1", { timeout: HANG_MS }, async () => {
    const outcome = await run("scripts/bench.ts", ["--report", join(scratch, "missing.json")]);
    expect(outcome.code).toBe(1);
    expectOneLine(outcome, "bench", /missing\.json \(ENOENT\)/);
  });
});

describe.concurrent("upload's other mistakes", () => {
  it("refuses a file without --dataset, and --columns without pairs", { timeout: HANG_MS }, async () => {
    const noDataset = await run("scripts/upload.ts", ["x.csv"], { TOKEN: "t" });
    expect(noDataset.code).toBe(2);
    expectOneLine(noDataset, "upload", /--dataset is required/);
    const columns = await run("scripts/upload.ts", ["--dataset", "d", "--columns", "customer_id", "x.csv"], {
      TOKEN: "t",
    });
    expect(columns.code).toBe(2);
    expectOneLine(columns, "upload", /--columns takes <column>=<header> pairs/);
  });

  it("says where a token comes from when there is none", { timeout: HANG_MS }, async () => {
    const outcome = await run("scripts/upload.ts", ["--dataset", "d", "x.csv"]);
    expect(outcome.code).toBe(2);
    expectOneLine(outcome, "upload", /no token; pass --token or set TOKEN/);
  });
});
