/**
 * scripts/launch.mjs, which `npm run segment` runs: it bundles a TypeScript entry once, runs the bundle with
 * plain node, and rebuilds it whenever a source changed, so it never runs stale code. Each launch is a process
 * of its own, in a scratch directory with a two-module entry, and then on the real segment CLI.
 */
import { mkdir, mkdtemp, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../../scripts/segment";
import { type NodeOutcome as Outcome, runNode } from "../../support/node-process";

const root = resolve(import.meta.dirname, "../../..");
const LAUNCHER = join(root, "scripts/launch.mjs");
/** A launch that has not exited by then hangs: a busy machine takes seconds to bundle, never minutes. */
const HANG_MS = 300_000;

function launch(cwd: string, args: string[]): Promise<Outcome> {
  return runNode([LAUNCHER, ...args], { cwd });
}

/** Identity of the bundle file: a rebuild writes a new file and renames it into place. */
async function bundleIdentity(dir: string): Promise<string> {
  const s = await stat(join(dir, "dist/entry.mjs"));
  return `${s.ino}:${s.mtimeMs}`;
}

const ENTRY = `import { greeting } from "./greeting";
export async function main(argv: readonly string[]): Promise<number> {
  if (argv[0] === "fail") throw new Error("boom");
  process.stdout.write(\`\${greeting(argv[0] ?? "")}\\n\`);
  return argv.length;
}
`;
const greetingModule = (word: string) =>
  `export function greeting(name: string): string {\n  return "${word}, " + name;\n}\n`;

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), "launch-"));
  await writeFile(join(scratch, "entry.ts"), ENTRY);
  await writeFile(join(scratch, "greeting.ts"), greetingModule("hello"));
  await mkdir(join(scratch, "node_modules"));
  await writeFile(join(scratch, "node_modules/.package-lock.json"), '{"lockfileVersion": 3}\n');
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe("launch.mjs on a scratch entry", () => {
  it("bundles on first launch, runs main and exits with the code it returns", {
    timeout: HANG_MS,
  }, async () => {
    const outcome = await launch(scratch, ["entry.ts", "ada", "x", "y"]);
    expect(outcome.stderr).toBe("");
    expect(outcome.stdout).toBe("hello, ada\n");
    expect(outcome.code).toBe(3);
    const bundle = await readFile(join(scratch, "dist/entry.mjs"), "utf8");
    expect(bundle).toContain("hello, ");
    const inputs = JSON.parse(await readFile(join(scratch, "dist/entry.inputs.json"), "utf8"));
    expect(Object.keys(inputs.inputs)).toEqual(expect.arrayContaining(["entry.ts", "greeting.ts"]));
  });

  it("reuses the bundle while no source changed", { timeout: HANG_MS }, async () => {
    const before = await bundleIdentity(scratch);
    const outcome = await launch(scratch, ["entry.ts", "bob"]);
    expect(outcome.stdout).toBe("hello, bob\n");
    expect(await bundleIdentity(scratch)).toBe(before);
  });

  it("rebuilds when an imported module changes, and runs the new code", { timeout: HANG_MS }, async () => {
    const before = await bundleIdentity(scratch);
    await writeFile(join(scratch, "greeting.ts"), greetingModule("good morning"));
    const outcome = await launch(scratch, ["entry.ts", "cy"]);
    expect(outcome.stdout).toBe("good morning, cy\n");
    expect(await bundleIdentity(scratch)).not.toBe(before);
  });

  it("rebuilds when a source is only touched", { timeout: HANG_MS }, async () => {
    const before = await bundleIdentity(scratch);
    const later = new Date(Date.now() + 5_000);
    await utimes(join(scratch, "entry.ts"), later, later);
    const outcome = await launch(scratch, ["entry.ts", "dee"]);
    expect(outcome.stdout).toBe("good morning, dee\n");
    expect(await bundleIdentity(scratch)).not.toBe(before);
  });

  it("rebuilds a bundle that was deleted", { timeout: HANG_MS }, async () => {
    await rm(join(scratch, "dist/entry.mjs"));
    const outcome = await launch(scratch, ["entry.ts", "eve"]);
    expect(outcome.stdout).toBe("good morning, eve\n");
    expect(outcome.code).toBe(1);
  });

  it("rebuilds after the packages were installed again", { timeout: HANG_MS }, async () => {
    const before = await bundleIdentity(scratch);
    // npm ci and npm install rewrite it; the packages' own files keep their tarballs' dates.
    await writeFile(
      join(scratch, "node_modules/.package-lock.json"),
      '{"lockfileVersion": 3, "packages": {}}\n',
    );
    const outcome = await launch(scratch, ["entry.ts", "fay"]);
    expect(outcome.stdout).toBe("good morning, fay\n");
    expect(await bundleIdentity(scratch)).not.toBe(before);
  });

  it("prints an error main throws with the script's name, exit 1", { timeout: HANG_MS }, async () => {
    const outcome = await launch(scratch, ["entry.ts", "fail"]);
    expect(outcome.code).toBe(1);
    expect(outcome.stderr).toMatch(/^entry: Error: boom\n\s+at /);
  });

  it("names what it needs when given no entry, exit 2", { timeout: HANG_MS }, async () => {
    const outcome = await launch(scratch, []);
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toBe("usage: node scripts/launch.mjs <entry.ts> [arguments]\n");
  });
});

describe("npm run segment", () => {
  let out: string;
  beforeAll(async () => {
    out = await mkdtemp(join(tmpdir(), "launch-segment-"));
  });
  afterAll(async () => {
    await rm(out, { recursive: true, force: true });
  });

  it("runs the launcher on scripts/segment.ts", async () => {
    const pkg = JSON.parse(await readFile(join(root, "package.json"), "utf8"));
    // After the glibc tunables it sets (glibc-tunables.test.ts).
    expect(pkg.scripts.segment).toMatch(
      /^(GLIBC_TUNABLES=\S+ )?node scripts\/launch\.mjs scripts\/segment\.ts$/,
    );
  });

  it("prints its usage on --help and exits 0", { timeout: HANG_MS }, async () => {
    const outcome = await launch(root, ["scripts/segment.ts", "--help"]);
    expect(outcome.code).toBe(0);
    expect(outcome.stdout).toMatch(/^usage: npm run segment -- /);
    expect(outcome.stderr).toBe("");
  });

  it("names a bad value in one line and exits 2", { timeout: HANG_MS }, async () => {
    const outcome = await launch(root, ["scripts/segment.ts", "x.csv", "--k", "0"]);
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toMatch(/^segment: --k [^\n]*\n$/);
  });

  it("writes what the CLI run in-process writes", { timeout: HANG_MS }, async () => {
    const args = (file: string) => [
      "test/fixtures/cli/transactions.csv",
      "--as-of",
      "2024-07-01",
      "--out",
      file,
    ];
    const launched = await launch(root, ["scripts/segment.ts", ...args(join(out, "launched.csv"))]);
    expect(launched.code).toBe(0);
    const ignore = { write: () => true };
    expect(await main(args(join(out, "in-process.csv")), { stdout: ignore, stderr: ignore })).toBe(0);
    const written = await readFile(join(out, "launched.csv"), "utf8");
    expect(written).toBe(await readFile(join(out, "in-process.csv"), "utf8"));
    expect(written.split("\n")[0]).toMatch(/^customer_id,/);
  });
});
