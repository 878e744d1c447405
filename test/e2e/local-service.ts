/**
 * Starts the local service the way a user does (`npm start`, here through tsx with its flags) in a child
 * process, waits for it to print that it is ready, and stops it with SIGINT as Ctrl-C would. The token it
 * prints (tenant demo, every scope) is the one the tests call the API with.
 *
 * Waiting has no total budget: the service reports its progress in its log (each start-up step, then the
 * demo's phases and share done), and only a log that stays silent for `quietMs` counts as a hang.
 *
 * The tables are in DynamoDB Local's memory (`--tables memory`), where writes take a fraction of the time,
 * unless `tables: "disk"` asks for `npm start`'s default: a test that restarts the service on the same data
 * directory and finds its tables there.
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
  /**
   * Waits until the demo dataset is served (or was already), while its loading keeps reporting progress;
   * rejects if it failed or fell silent for the hang window.
   */
  demo: () => Promise<string>;
  stop: () => Promise<number | null>;
}

const root = resolve(import.meta.dirname, "../..");

export async function startLocalService(
  options: {
    dataDir?: string;
    args?: string[];
    /** How long the log may stay silent before waiting counts it as a hang (5 minutes by default). */
    quietMs?: number;
    env?: Record<string, string>;
    /** Where DynamoDB Local keeps the tables: memory (default here) or disk, as `npm start` does. */
    tables?: "memory" | "disk";
  } = {},
) {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), "segmentation-e2e-")));
  const child: ChildProcess = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "scripts/local.ts",
      "--port",
      "0",
      "--data-dir",
      dataDir,
      "--tables",
      options.tables ?? "memory",
      ...(options.args ?? []),
    ],
    {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, LOG_LEVEL: "ERROR", ...options.env },
    },
  );
  let out = "";
  let heardAt = Date.now();
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
    heardAt = Date.now();
  });
  child.stderr?.on("data", (d: Buffer) => {
    out += d.toString();
    heardAt = Date.now();
  });
  const exited = new Promise<number | null>((ok) => child.on("exit", (code) => ok(code)));
  const quietMs = options.quietMs ?? 300_000;

  /** The first line matching `pattern`, waited for while the service keeps printing. */
  const waitForLine = async (pattern: RegExp, what: string): Promise<string> => {
    for (;;) {
      const found = out.split("\n").find((line) => pattern.test(line));
      if (found !== undefined) return found;
      if (child.exitCode !== null) throw new Error(`The local service exited before ${what}:\n${out}`);
      if (Date.now() - heardAt > quietMs) {
        child.kill("SIGKILL");
        throw new Error(`The local service printed nothing for ${quietMs / 1000} s before ${what}:\n${out}`);
      }
      await new Promise((ok) => setTimeout(ok, 100));
    }
  };
  await waitForLine(/^Ready\./, "it was ready");
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
    demo: async () => {
      const line = await waitForLine(
        /^Demo:\s+(ready|dataset \S+ already loaded|failed)/,
        "the demo was served",
      );
      if (/^Demo:\s+failed/.test(line)) throw new Error(`The demo failed to load:\n${out}`);
      return line;
    },
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGINT");
      return exited;
    },
  };
  return service;
}
