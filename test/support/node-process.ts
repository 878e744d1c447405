/** A child process run to its end, for tests of the CLI scripts and the launcher. */
import { spawn } from "node:child_process";

export interface NodeOutcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `command <args>` in `cwd` with exactly `env` until it exits, gathering its output. */
export function runProcess(
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
): Promise<NodeOutcome> {
  return new Promise((ok, fail) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("error", fail);
    child.on("close", (code) => ok({ code, stdout, stderr }));
  });
}

/**
 * Runs `node <args>` in `cwd` until it exits, gathering its output; `env` is added to this process's
 * environment, and Node's own warnings are silenced so that stderr holds only what the script writes.
 */
export function runNode(
  args: string[],
  options: { cwd: string; env?: Record<string, string> },
): Promise<NodeOutcome> {
  return runProcess(process.execPath, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env, NODE_NO_WARNINGS: "1" },
  });
}
