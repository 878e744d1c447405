/**
 * `cdk synth` through the real CLI, with the network made unreachable: the app, its context and the
 * bundling of every function (local esbuild, no Docker) work offline and write a complete cloud assembly.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { HTTP_FUNCTIONS } from "../../shared/routes";
import { type CliSynth, cliSynth, STACK } from "./assembly";

interface LambdaResource {
  Type: string;
  Properties: { Runtime?: string; Code?: { S3Key?: string } };
}
let result: CliSynth;

// The run is shared with the other CDK test files that need bundled code (./assembly); whichever file
// starts first runs it.
beforeAll(async () => {
  result = await cliSynth();
});

describe("cdk synth (CLI, offline)", () => {
  it("exits 0 and writes the stack's template", () => {
    expect(result.code, result.stderr.slice(-2_000)).toBe(0);
    const template = JSON.parse(readFileSync(join(result.outDir, `${STACK}.template.json`), "utf8"));
    expect(Object.keys(template.Resources).length).toBeGreaterThan(0);
  });

  it("bundles every function into an ESM file with its source map", () => {
    const template = JSON.parse(readFileSync(join(result.outDir, `${STACK}.template.json`), "utf8"));
    const manifest = JSON.parse(readFileSync(join(result.outDir, `${STACK}.assets.json`), "utf8")) as {
      files: Record<string, { source: { path: string } }>;
    };
    const ours = Object.values(template.Resources as Record<string, LambdaResource>).filter(
      (r) => r.Type === "AWS::Lambda::Function" && r.Properties.Runtime === "nodejs22.x",
    );
    // The HTTP functions, compute, refresh and the sweeper of abandoned runs, the sharded runs' workers
    // and coordinator, and the webhook deliver function; CDK's own helper functions run other runtimes.
    expect(ours.length).toBe(HTTP_FUNCTIONS.length + 6);
    for (const fn of ours) {
      const hash = String(fn.Properties.Code?.S3Key).replace(/\.zip$/, "");
      const dir = join(result.outDir, manifest.files[hash]?.source.path ?? "missing");
      expect([existsSync(join(dir, "index.mjs")), existsSync(join(dir, "index.mjs.map"))], dir).toEqual([
        true,
        true,
      ]);
    }
  });
});
