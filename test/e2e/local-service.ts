/**
 * Starts the local service the way a user does (`npm start`, here through tsx with its flags) in a child
 * process, waits for it to print that it is ready, and stops it with SIGINT as Ctrl-C would. The token it
 * prints (tenant demo, every scope) is the one the tests call the API with.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export interface LocalService {
  api: string;
  s3: string;
  dataDir: string;
  /** Access token of the local issuer for the tenant demo with every scope. */
  token: string;
  /** `{ authorization: "Bearer <token>" }`. */
  auth: Record<string, string>;
  output: () => string;
  stop: () => Promise<number | null>;
}

const root = resolve(import.meta.dirname, "../..");

export async function startLocalService(
  options: { dataDir?: string; args?: string[]; timeoutMs?: number; env?: Record<string, string> } = {},
) {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), "segmentation-e2e-")));
  const child: ChildProcess = spawn(
    process.execPath,
    ["--import", "tsx", "scripts/local.ts", "--port", "0", "--data-dir", dataDir, ...(options.args ?? [])],
    {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, LOG_LEVEL: "ERROR", ...options.env },
    },
  );
  let out = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((ok) => child.on("exit", (code) => ok(code)));

  const deadline = Date.now() + (options.timeoutMs ?? 90_000);
  while (!out.includes("Ready.")) {
    if (child.exitCode !== null) throw new Error(`The local service exited early:\n${out}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`The local service did not become ready:\n${out}`);
    }
    await new Promise((ok) => setTimeout(ok, 100));
  }
  const api = /API:\s+(\S+)/.exec(out)?.[1];
  const s3 = /S3:\s+(\S+)/.exec(out)?.[1];
  const token = /export TOKEN=(\S+)/.exec(out)?.[1];
  if (!api || !s3 || !token) throw new Error(`Could not read the service's addresses and token:\n${out}`);
  const service: LocalService = {
    api,
    s3,
    dataDir,
    token,
    auth: { authorization: `Bearer ${token}` },
    output: () => out,
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGINT");
      return exited;
    },
  };
  return service;
}
