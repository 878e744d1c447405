/**
 * DynamoDB Local, the official AWS jar, run with Java on a free port.
 *
 * The jar comes from a pinned npm package that ships it (`amplify-dynamodb-simulator`), fetched with
 * `npm pack` so none of that package's own dependencies are installed. The tarball is checked against a
 * pinned integrity hash, the jar against a pinned SHA-256, and the result is cached under `.local/dynamodb/`.
 * Several processes may ask for the cache at once (test workers, the local service): each unpacks into its
 * own temporary directory and moves it into place with one atomic rename, so a reader never sees half a cache.
 *
 * Java runs under a small Node watchdog whose stdin is a pipe from this process. When this process ends
 * for any reason, even SIGKILL, the pipe closes and the watchdog stops Java, so no JVM outlives its owner.
 */
import { type ChildProcessByStdio, execFile, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import type { Readable, Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { EmulatorError } from "./errors";
import { freePort, isPortFree } from "./net";

const execFileAsync = promisify(execFile);

/** The npm package that carries the jar, pinned to one version (DynamoDB Local 1.25.1). */
export const DYNAMODB_LOCAL_PACKAGE = "amplify-dynamodb-simulator@2.9.30";
/** Subresource integrity of that package's tarball, as the npm registry publishes it. */
const PACKAGE_INTEGRITY =
  "sha512-xTeeRLvzEfqyd5lh3bH4c0kHvSHHmmhD5ZDsHFKAQ5g2Zl6JqlFdutaQhCLHzxEp6Ry1o7TB6niIoXuQAnSewQ==";
/** SHA-256 of the DynamoDBLocal.jar inside it, so a damaged cache is found and replaced. */
const JAR_SHA256 = "454305e9bc3e6ebcca5b62569869e31563b8d7e346474e94557b2600702146c7";
const MARKER_FILE = ".installed.json";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

/** Where the jar is cached unless the caller says otherwise: `<repo>/.local/dynamodb/` (git-ignored). */
export const DEFAULT_DYNAMODB_LOCAL_DIR = join(repoRoot, ".local", "dynamodb");

/** DynamoDB Local with `-sharedDb` accepts any credentials; these keep the SDK from looking for real ones. */
export const DYNAMODB_LOCAL_CREDENTIALS = { accessKeyId: "local", secretAccessKey: "local" } as const;

interface Marker {
  package: string;
  integrity: string;
  jarSha256: string;
  /** The checksum file the package ships: SHA-256 of the upstream AWS tarball the jar was taken from. */
  upstreamTarballSha256: string;
}

/**
 * Makes sure DynamoDB Local is unpacked and verified in `cacheDir` and returns that directory, which holds
 * `DynamoDBLocal.jar` and `DynamoDBLocal_lib/`. Does nothing but a checksum when the cache is already good.
 */
export async function ensureDynamoDbLocal(cacheDir: string = DEFAULT_DYNAMODB_LOCAL_DIR): Promise<string> {
  const dir = resolve(cacheDir);
  if (await isValidInstall(dir)) return dir;

  const parent = dirname(dir);
  await mkdir(parent, { recursive: true });
  // A sibling of the cache, so the final rename stays on one file system and is atomic.
  const work = await mkdtemp(join(parent, `.${basename(dir)}.tmp-`));
  try {
    const tarball = await packTarball(work);
    const unpacked = join(work, "emulator");
    await mkdir(unpacked);
    await run("tar", ["-xzf", tarball, "-C", unpacked, "--strip-components=2", "package/emulator"]);
    const upstream = (await readFile(join(unpacked, "sha256"), "utf8").catch(() => "")).trim();
    const jarSha256 = await sha256File(join(unpacked, "DynamoDBLocal.jar"));
    if (jarSha256 !== JAR_SHA256) {
      throw new EmulatorError(
        "DYNAMODB_LOCAL_VERIFY_FAILED",
        `DynamoDBLocal.jar from ${DYNAMODB_LOCAL_PACKAGE} has SHA-256 ${jarSha256}, expected ${JAR_SHA256}`,
      );
    }
    const marker: Marker = {
      package: DYNAMODB_LOCAL_PACKAGE,
      integrity: PACKAGE_INTEGRITY,
      jarSha256,
      upstreamTarballSha256: upstream,
    };
    await writeFile(join(unpacked, MARKER_FILE), `${JSON.stringify(marker, null, 2)}\n`);
    await moveIntoPlace(unpacked, dir, work);
    return dir;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function isValidInstall(dir: string): Promise<boolean> {
  try {
    const marker = JSON.parse(await readFile(join(dir, MARKER_FILE), "utf8")) as Partial<Marker>;
    if (marker.package !== DYNAMODB_LOCAL_PACKAGE || marker.jarSha256 !== JAR_SHA256) return false;
    if (!(await stat(join(dir, "DynamoDBLocal_lib"))).isDirectory()) return false;
    return (await sha256File(join(dir, "DynamoDBLocal.jar"))) === JAR_SHA256;
  } catch {
    return false;
  }
}

/**
 * Renames the finished directory onto the cache path. If another process got there first with a good
 * install, that one wins and ours is dropped; a bad one in the way is moved aside first.
 */
async function moveIntoPlace(ready: string, dir: string, work: string): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await rename(ready, dir);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "ENOTEMPTY" && code !== "EEXIST" && code !== "EPERM") throw error;
      if (await isValidInstall(dir)) return;
      const aside = join(work, `stale-${randomBytes(4).toString("hex")}`);
      await rename(dir, aside).catch(() => undefined);
    }
  }
  throw new EmulatorError("DYNAMODB_LOCAL_VERIFY_FAILED", `Could not put DynamoDB Local in place at ${dir}`);
}

async function packTarball(work: string): Promise<string> {
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync(
      npm,
      ["pack", DYNAMODB_LOCAL_PACKAGE, "--pack-destination", work, "--json", "--ignore-scripts"],
      { cwd: work, maxBuffer: 16 * 1024 * 1024, shell: process.platform === "win32" },
    ));
  } catch (error) {
    throw new EmulatorError(
      "DYNAMODB_LOCAL_DOWNLOAD_FAILED",
      `npm pack ${DYNAMODB_LOCAL_PACKAGE} failed: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const packed = parsePackOutput(stdout);
  const tarball = join(work, packed.filename);
  const integrity = `sha512-${await hashFile(tarball, "sha512", "base64")}`;
  if (integrity !== PACKAGE_INTEGRITY) {
    throw new EmulatorError(
      "DYNAMODB_LOCAL_VERIFY_FAILED",
      `${DYNAMODB_LOCAL_PACKAGE} tarball has integrity ${integrity}, expected ${PACKAGE_INTEGRITY}`,
    );
  }
  return tarball;
}

function parsePackOutput(stdout: string): { filename: string } {
  try {
    const parsed: unknown = JSON.parse(stdout);
    const first = Array.isArray(parsed) ? (parsed[0] as unknown) : undefined;
    if (first && typeof first === "object" && "filename" in first && typeof first.filename === "string") {
      return { filename: basename(first.filename) };
    }
  } catch {
    // fall through to the error below
  }
  throw new EmulatorError("DYNAMODB_LOCAL_DOWNLOAD_FAILED", "npm pack printed no tarball name");
}

async function run(command: string, args: string[]): Promise<void> {
  try {
    await execFileAsync(command, args, { maxBuffer: 16 * 1024 * 1024 });
  } catch (error) {
    throw new EmulatorError(
      "DYNAMODB_LOCAL_DOWNLOAD_FAILED",
      `${command} ${args.join(" ")} failed: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

function hashFile(path: string, algorithm: string, encoding: "hex" | "base64"): Promise<string> {
  return new Promise((ok, fail) => {
    const hash = createHash(algorithm);
    createReadStream(path)
      .on("error", fail)
      .on("data", (chunk) => hash.update(chunk))
      .on("end", () => ok(hash.digest(encoding)));
  });
}

const sha256File = (path: string) => hashFile(path, "sha256", "hex");

export interface DynamoDbLocalOptions {
  /** Port to listen on; a free one is chosen when omitted. */
  port?: number;
  /** Keep tables in this directory (`-dbPath`) across restarts; without it the data lives in memory. */
  dataDir?: string;
  /** Where the jar is cached; defaults to {@link DEFAULT_DYNAMODB_LOCAL_DIR}. */
  installDir?: string;
  /** How long to wait for the first successful ListTables; 60 s by default. */
  startTimeoutMs?: number;
}

export interface DynamoDbLocal {
  /** `http://127.0.0.1:<port>`, for the SDK's `endpoint`. */
  endpoint: string;
  port: number;
  /** Stops Java and waits for it to exit. Safe to call more than once. */
  stop(): Promise<void>;
}

/**
 * Starts DynamoDB Local (installing it first if needed) and resolves once it answers ListTables. Every
 * client sees the same tables whatever its region or credentials (`-sharedDb`).
 */
export async function startDynamoDbLocal(options: DynamoDbLocalOptions = {}): Promise<DynamoDbLocal> {
  const installDir = await ensureDynamoDbLocal(options.installDir);
  if (options.dataDir) await mkdir(options.dataDir, { recursive: true });
  // A port chosen here can be taken before Java binds it; only then is a fresh one worth a retry.
  const attempts = options.port === undefined ? 3 : 1;
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await freePort());
    try {
      // DynamoDB Local does not exit when its port is taken, and whoever holds the port would answer the
      // readiness check in its place, so a taken port has to be caught before Java starts.
      if (!(await isPortFree(port))) throw portTaken(port);
      return await launch(installDir, port, options);
    } catch (error) {
      const taken = error instanceof EmulatorError && error.code === "DYNAMODB_LOCAL_PORT_IN_USE";
      if (!taken || attempt >= attempts) throw error;
    }
  }
}

const portTaken = (port: number) =>
  new EmulatorError(
    "DYNAMODB_LOCAL_PORT_IN_USE",
    `DynamoDB Local cannot listen on port ${port}: it is in use`,
  );

/**
 * The watchdog: runs the command given after `--` and the directory to remove afterwards (or ""), forwards
 * SIGTERM/SIGINT to it, and stops it when its own stdin closes, which happens when the process that
 * started it is gone.
 */
const WATCHDOG = `
const { spawn } = require("node:child_process");
const { rmSync } = require("node:fs");
const [scratch, command, ...args] = process.argv.slice(1);
const child = spawn(command, args, { stdio: ["ignore", "inherit", "inherit"] });
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  child.kill("SIGTERM");
  setTimeout(() => child.kill("SIGKILL"), 5000).unref();
};
const exit = (code) => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
  process.exit(code);
};
child.on("error", (error) => { process.stderr.write("watchdog: " + error.code + " " + error.message + "\\n"); exit(127); });
child.on("exit", (code, signal) => exit(code ?? (signal ? 1 : 0)));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
process.stdin.on("end", stop);
process.stdin.on("error", stop);
process.stdin.resume();
`;

type Watchdog = ChildProcessByStdio<Writable, Readable, Readable>;
const running = new Set<Watchdog>();
let exitHookInstalled = false;

function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Synchronous on purpose: "exit" listeners cannot wait. The closed stdin pipe would do it too.
  process.on("exit", () => {
    for (const child of running) child.kill("SIGTERM");
  });
}

/**
 * The JIT's first tier only, and the serial collector: a short-lived local server on a small machine starts
 * in about a third of the time with them and spends about half the CPU on the same writes (50,000 items
 * written faster, not slower), since it never runs long enough for the optimizing compiler's work to pay
 * back, and its heap is small.
 */
const JVM_FLAGS = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"];

async function launch(
  installDir: string,
  port: number,
  options: DynamoDbLocalOptions,
): Promise<DynamoDbLocal> {
  const args = [
    ...JVM_FLAGS,
    `-Djava.library.path=${join(installDir, "DynamoDBLocal_lib")}`,
    "-jar",
    join(installDir, "DynamoDBLocal.jar"),
    "-port",
    String(port),
    "-sharedDb",
    ...(options.dataDir ? ["-dbPath", resolve(options.dataDir)] : ["-inMemory"]),
    "-disableTelemetry",
  ];
  // DynamoDB Local writes a metadata file into its working directory; one directory per instance keeps
  // concurrent instances from writing the same file and keeps the shared jar cache read-only. The watchdog
  // removes it once Java has exited, even if this process was killed.
  const scratch = options.dataDir ? undefined : await mkdtemp(join(tmpdir(), "dynamodb-local-"));
  const cwd = options.dataDir ? resolve(options.dataDir) : (scratch as string);
  const env = { ...process.env };
  // The watchdog is plain JavaScript; loaders a test runner or tsx put here would only slow it down.
  delete env.NODE_OPTIONS;
  const child: Watchdog = spawn(process.execPath, ["-e", WATCHDOG, "--", scratch ?? "", "java", ...args], {
    cwd,
    env,
    stdio: ["pipe", "pipe", "pipe"],
  });
  running.add(child);
  installExitHook();

  let output = "";
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-8000);
  };
  child.stdout.on("data", collect);
  child.stderr.on("data", collect);
  const exited = new Promise<void>((ok) => {
    child.once("exit", () => {
      running.delete(child);
      ok();
    });
  });
  // "close" comes after the last output, which an error message needs.
  const closed = new Promise<void>((ok) => child.once("close", () => ok()));
  // The pipe breaking when the watchdog dies must not become an unhandled error here.
  child.stdin.on("error", () => undefined);

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.stdin.end();
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
        await exited;
        clearTimeout(timer);
      }
      child.stdout.destroy();
      child.stderr.destroy();
      if (scratch) await rm(scratch, { recursive: true, force: true });
    })();
    return stopped;
  };

  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: "us-east-1",
    credentials: DYNAMODB_LOCAL_CREDENTIALS,
    maxAttempts: 1,
    requestHandler: { connectionTimeout: 1_000, requestTimeout: 2_000 },
  });
  const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
  try {
    for (;;) {
      // On a failed bind the JVM prints the exception and keeps running.
      if (/Failed to bind|BindException/.test(output)) throw portTaken(port);
      if (child.exitCode !== null || child.signalCode !== null) {
        await Promise.race([closed, new Promise((ok) => setTimeout(ok, 1_000))]);
        const javaMissing = output.includes("watchdog: ENOENT");
        throw new EmulatorError(
          javaMissing ? "JAVA_NOT_FOUND" : "DYNAMODB_LOCAL_START_FAILED",
          javaMissing
            ? "DynamoDB Local needs Java 17 or newer on the PATH (the `java` command was not found)"
            : `DynamoDB Local exited during start-up (code ${child.exitCode ?? child.signalCode}):\n${output.trim()}`,
        );
      }
      // The banner comes just before the bind; probing earlier could only reach some other listener.
      if (output.includes("CorsParams:")) {
        try {
          await client.send(new ListTablesCommand({ Limit: 1 }));
          if (/Failed to bind|BindException/.test(output)) throw portTaken(port);
          return { endpoint, port, stop };
        } catch (error) {
          if (error instanceof EmulatorError) throw error;
          // not listening yet
        }
      }
      if (Date.now() > deadline) {
        throw new EmulatorError(
          "DYNAMODB_LOCAL_START_TIMEOUT",
          `DynamoDB Local did not answer on ${endpoint} within ${options.startTimeoutMs ?? 60_000} ms:\n${output.trim()}`,
        );
      }
      await new Promise((ok) => setTimeout(ok, 100));
    }
  } catch (error) {
    await stop();
    throw error;
  } finally {
    client.destroy();
  }
}
