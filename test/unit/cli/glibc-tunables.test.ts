/**
 * `npm run segment` runs the engine with glibc's malloc asking for huge pages (scripts/glibc-tunables.ts): the
 * package script sets GLIBC_TUNABLES unless the environment sets it (even to nothing), and the benchmarks give
 * their engine children the same value.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { ENGINE_GLIBC_TUNABLES, glibcTunables } from "../../../scripts/glibc-tunables";
import { runProcess } from "../../support/node-process";

const root = resolve(import.meta.dirname, "../../..");
/** Only a hang takes this long. */
const HANG_MS = 300_000;
const COMMAND = "node scripts/launch.mjs scripts/segment.ts";

const scripts = (
  JSON.parse(readFileSync(resolve(root, "package.json"), "utf8")) as { scripts: Record<string, string> }
).scripts;

function sh(command: string, env: NodeJS.ProcessEnv) {
  return runProcess("sh", ["-c", command], { cwd: root, env });
}

function withoutTunables(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.GLIBC_TUNABLES;
  return env;
}

describe("the engine's glibc tunables", () => {
  it("npm run segment sets the engine's value unless the environment sets one", () => {
    expect(scripts.segment).toBe(`GLIBC_TUNABLES=\${GLIBC_TUNABLES-${ENGINE_GLIBC_TUNABLES}} ${COMMAND}`);
  });

  it("the script's prefix, run by sh as npm runs it, gives the process the value or keeps the environment's", {
    timeout: HANG_MS,
  }, async () => {
    const prefix = (scripts.segment as string).slice(0, -COMMAND.length);
    const probe = `${prefix}node -e 'process.stdout.write(process.env.GLIBC_TUNABLES ?? "unset")'`;
    expect((await sh(probe, withoutTunables())).stdout).toBe("glibc.malloc.hugetlb=1");
    expect((await sh(probe, { ...withoutTunables(), GLIBC_TUNABLES: "" })).stdout).toBe("");
    expect(
      (await sh(probe, { ...withoutTunables(), GLIBC_TUNABLES: "glibc.malloc.arena_max=2" })).stdout,
    ).toBe("glibc.malloc.arena_max=2");
  });

  it("npm run segment starts with them (its usage on --help)", { timeout: HANG_MS }, async () => {
    const outcome = await sh("npm run -s segment -- --help", withoutTunables());
    expect(outcome.code).toBe(0);
    expect(outcome.stdout).toMatch(/^usage: npm run segment/);
  });

  it("the benchmarks' children take the environment's value, else the engine's", () => {
    expect(glibcTunables({})).toBe(ENGINE_GLIBC_TUNABLES);
    expect(glibcTunables({ GLIBC_TUNABLES: "" })).toBe("");
    expect(glibcTunables({ GLIBC_TUNABLES: "glibc.malloc.arena_max=2" })).toBe("glibc.malloc.arena_max=2");
  });
});
