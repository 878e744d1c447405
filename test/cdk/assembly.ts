/**
 * The cloud assembly of `cdk synth`, run once per test run through the real CLI with the network made
 * unreachable. It is the only place the tests bundle functions and the dashboard: esbuild over every function
 * takes minutes on a busy 2-core machine, so the test files that look at bundled code (and synth-cli.test.ts,
 * which checks the run itself) share this one run instead of bundling again each. Template assertions build
 * the stack in process without bundling (see `synth` in ./synth), which changes only the assets' hashes.
 *
 * The run happens in whichever test process asks first; the others wait for its result. The directory it
 * writes to comes from the global setup (`cdkAssemblyRoot`), which removes it after the last test file.
 */
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { inject } from "vitest";
import { PROJECT_ROOT } from "../../infra/constructs/service-function";

/** The stack `cdk synth` writes with the default context. */
export const STACK = "segmentation-dev";

export interface CliSynth {
  /** The assembly directory (`-o` of the CLI). */
  outDir: string;
  /** Exit code of `cdk synth`. */
  code: number | null;
  stderr: string;
}

/** Only catches a hang: a run that neither finishes nor fails. */
const DEADLINE_MS = 15 * 60_000;

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<Omit<CliSynth, "outDir">> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: PROJECT_ROOT, env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stderr }));
  });
}

async function synthOffline(outDir: string): Promise<Omit<CliSynth, "outDir">> {
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
  return run("npx", ["--no-install", "cdk", "synth", "--quiet", "--no-notices", "-o", outDir], env);
}

let mine: Promise<CliSynth> | undefined;

/**
 * The result of this test run's `cdk synth`, running it if no test process has yet. The first caller takes
 * the lock (an atomic mkdir), runs the CLI and publishes the result with an atomic rename; later callers read
 * that file, waiting for it while the run is under way.
 */
export function cliSynth(): Promise<CliSynth> {
  mine ??= obtain();
  return mine;
}

async function obtain(): Promise<CliSynth> {
  const root = inject("cdkAssemblyRoot");
  const outDir = join(root, "cdk.out");
  const resultFile = join(root, "result.json");
  let owner = true;
  try {
    mkdirSync(join(root, "lock"));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    owner = false;
  }
  if (owner) {
    // A run that cannot start still publishes a result, so no other test file waits for it in vain.
    const result = await synthOffline(outDir).catch((error: unknown) => ({
      code: null,
      stderr: String(error),
    }));
    writeFileSync(`${resultFile}.tmp`, JSON.stringify(result));
    renameSync(`${resultFile}.tmp`, resultFile);
    return { outDir, ...result };
  }
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    try {
      return { outDir, ...(JSON.parse(readFileSync(resultFile, "utf8")) as Omit<CliSynth, "outDir">) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
    if (Date.now() > deadline) throw new Error(`no result from the shared cdk synth in ${root}`);
    await sleep(250);
  }
}

/** The synthesized template of the stack, as the CLI wrote it. */
// biome-ignore lint/suspicious/noExplicitAny: template JSON is read field by field and checked by the assertions.
export function cliTemplate(synth: CliSynth): Record<string, any> {
  return JSON.parse(readFileSync(join(synth.outDir, `${STACK}.template.json`), "utf8"));
}

/** The directory holding the bundled code of the function with this logical id. */
export function functionAssetDir(synth: CliSynth, functionLogicalId: string): string {
  const resource = cliTemplate(synth).Resources[functionLogicalId];
  if (!resource) throw new Error(`cdk synth wrote no resource ${functionLogicalId}`);
  const hash = String(resource.Properties?.Code?.S3Key).replace(/\.zip$/, "");
  const manifest = JSON.parse(readFileSync(join(synth.outDir, `${STACK}.assets.json`), "utf8")) as {
    files: Record<string, { source: { path: string } }>;
  };
  return join(synth.outDir, manifest.files[hash]?.source.path ?? "missing");
}
