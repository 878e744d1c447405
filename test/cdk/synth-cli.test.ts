/**
 * `cdk synth` through the real CLI, with the network made unreachable: the app, its context and the
 * bundling of every function (local esbuild, no Docker) work offline and write a complete cloud assembly.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../infra/constructs/service-function";
import { HTTP_FUNCTIONS } from "../../shared/routes";

const STACK = "segmentation-dev";

interface LambdaResource {
  Type: string;
  Properties: { Runtime?: string; Code?: { S3Key?: string } };
}
let outDir: string;
let result: { code: number | null; stderr: string; ms: number };

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<typeof result> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: PROJECT_ROOT, env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stderr, ms: Date.now() - started }));
  });
}

beforeAll(async () => {
  outDir = mkdtempSync(join(tmpdir(), "cdk-synth-"));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    // Any attempt to reach the network fails at once instead of succeeding or hanging.
    HTTPS_PROXY: "http://127.0.0.1:9",
    HTTP_PROXY: "http://127.0.0.1:9",
    NO_PROXY: "",
    npm_config_offline: "true",
    AWS_EC2_METADATA_DISABLED: "true",
    CDK_DISABLE_VERSION_CHECK: "1",
    CDK_DISABLE_CLI_TELEMETRY: "true",
  };
  for (const key of ["AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]) {
    delete env[key];
  }
  result = await run("npx", ["--no-install", "cdk", "synth", "--quiet", "--no-notices", "-o", outDir], env);
}, 300_000);

afterAll(() => {
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

describe("cdk synth (CLI, offline)", () => {
  it("exits 0 and writes the stack's template", () => {
    expect(result.code, result.stderr.slice(-2_000)).toBe(0);
    const template = JSON.parse(readFileSync(join(outDir, `${STACK}.template.json`), "utf8"));
    expect(Object.keys(template.Resources).length).toBeGreaterThan(0);
  });

  it("bundles every function into an ESM file with its source map", () => {
    const template = JSON.parse(readFileSync(join(outDir, `${STACK}.template.json`), "utf8"));
    const manifest = JSON.parse(readFileSync(join(outDir, `${STACK}.assets.json`), "utf8")) as {
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
      const dir = join(outDir, manifest.files[hash]?.source.path ?? "missing");
      expect([existsSync(join(dir, "index.mjs")), existsSync(join(dir, "index.mjs.map"))], dir).toEqual([
        true,
        true,
      ]);
    }
  });
});
