/**
 * Argument handling shared by the scripts in this folder, so that every one of them answers a user's mistake
 * the same way: `--help` (or `-h`) prints the usage on stdout and exits 0; an unknown option, a missing value
 * or a bad one prints one line on stderr saying what is wrong and exits 2; a file that cannot be read prints
 * one line and exits 1. None of these prints a stack trace; only a fault of the script itself does.
 */
import { stat } from "node:fs/promises";
import { type ParseArgsConfig, parseArgs } from "node:util";

type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig["options"]>;

/** A mistake on the command line: exit code 2. */
export class UsageError extends Error {}

/** A problem with an input the user named (a missing or unreadable file, a refused request): exit code 1. */
export class InputError extends Error {}

export interface Cli<O extends ParseArgsOptionsConfig> {
  /** The script's name as the messages start with it, e.g. `upload`. */
  name: string;
  /** The usage text `--help` prints; its first line is repeated after a usage error. */
  usage: string;
  options: O;
  allowPositionals?: boolean;
}

/** Where the helpers write; the process by default. */
export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

const HELP = { help: { type: "boolean", short: "h" } } as const;

/**
 * Parses `argv` strictly. Prints the usage and exits 0 on `--help`; throws {@link UsageError} for an unknown
 * option, an option without its value or a value given to a flag.
 */
export function parseCli<O extends ParseArgsOptionsConfig>(cli: Cli<O>, argv: readonly string[]) {
  let parsed: ReturnType<
    typeof parseArgs<{ options: O & typeof HELP; allowPositionals: boolean; strict: true }>
  >;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: { ...cli.options, ...HELP },
      allowPositionals: cli.allowPositionals ?? false,
      strict: true,
    });
  } catch (error) {
    throw new UsageError(firstSentence((error as Error).message));
  }
  return parsed;
}

/** What is wrong with the command line, from an error of `parseArgs`, in one line. */
export function parseErrorMessage(error: unknown): string {
  return firstSentence(error instanceof Error ? error.message : String(error));
}

/** Whether `argv` asks for help (`--help` or `-h`), whatever else it holds. */
export function wantsHelpIn(argv: readonly string[], options: ParseArgsOptionsConfig): boolean {
  try {
    const { values } = parseArgs({
      args: [...argv],
      options: { ...options, ...HELP },
      allowPositionals: true,
      strict: false,
    });
    return values.help === true;
  } catch {
    return false;
  }
}

/** Node's parse errors add advice about `--` after the first sentence; the first says what is wrong. */
function firstSentence(message: string): string {
  const end = message.search(/\.\s/);
  const first = end < 0 ? message : message.slice(0, end);
  return first.replace(/\.$/, "").replace(/^Unknown option/, "unknown option");
}

/** Whether `--help`/`-h` was given. */
export function wantsHelp(values: { help?: boolean | undefined }): boolean {
  return values.help === true;
}

/** A whole number from `min` to `max`, or a {@link UsageError} naming the option. */
export function wholeNumber(option: string, text: string, min: number, max: number): number {
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!(Number.isSafeInteger(n) && n >= min && n <= max))
    throw new UsageError(`--${option} must be a whole number from ${min} to ${max}, got "${text}"`);
  return n;
}

/** One of `allowed`, or a {@link UsageError} naming the option. */
export function oneOf<T extends string>(option: string, text: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(text))
    throw new UsageError(`--${option} must be ${allowed.join(" or ")}, got "${text}"`);
  return text as T;
}

/** A size such as 100k or 1m, or a {@link UsageError} naming the option. */
export function size(option: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)([km]?)$/i.exec(text.trim());
  if (!m) throw new UsageError(`--${option} must be a size such as 100k or 1m, got "${text}"`);
  const scale = { "": 1, k: 1e3, m: 1e6 }[(m[2] as string).toLowerCase()] as number;
  return Math.round(Number(m[1]) * scale);
}

/** Checks that `path` names a readable file, or throws an {@link InputError} with the system's code. */
export async function existingFile(path: string, what = "file"): Promise<void> {
  try {
    if (!(await stat(path)).isFile()) throw new InputError(`${what} ${path} is not a file`);
  } catch (error) {
    if (error instanceof InputError) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? "UNREADABLE";
    throw new InputError(`cannot read ${what} ${path} (${code})`);
  }
}

/**
 * Runs a script's body and turns a user's mistake into one line and an exit code: {@link UsageError} 2,
 * {@link InputError} 1. Anything else is a fault of the script and keeps its stack. The body may return an
 * exit code; `--help` is answered before it runs.
 */
export async function runCli<O extends ParseArgsOptionsConfig>(
  cli: Cli<O>,
  body: (parsed: ReturnType<typeof parseCli<O>>) => Promise<number | undefined> | number | undefined,
  argv: readonly string[] = process.argv.slice(2),
  io: CliIo = process,
): Promise<number> {
  let code: number;
  try {
    const parsed = parseCli(cli, argv);
    if (wantsHelp(parsed.values as { help?: boolean })) {
      io.stdout.write(cli.usage.endsWith("\n") ? cli.usage : `${cli.usage}\n`);
      code = 0;
    } else {
      code = (await body(parsed)) ?? 0;
    }
  } catch (error) {
    code = reportError(cli, error, io);
  }
  return code;
}

/** One line for a user's mistake (and its exit code); a stack for anything else (exit code 1). */
export function reportError(
  cli: Pick<Cli<ParseArgsOptionsConfig>, "name">,
  error: unknown,
  io: CliIo = process,
) {
  if (error instanceof UsageError) {
    io.stderr.write(`${cli.name}: ${error.message} (--help for usage)\n`);
    return 2;
  }
  if (error instanceof InputError) {
    io.stderr.write(`${cli.name}: ${error.message}\n`);
    return 1;
  }
  io.stderr.write(
    `${cli.name}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  return 1;
}

/**
 * For a script that parses at its top level: the parsed command line, or the process ends here (the usage
 * and exit code 0 on `--help`; one line and exit code 2 on a mistake).
 */
export function parseOrExit<O extends ParseArgsOptionsConfig>(
  cli: Cli<O>,
  argv: readonly string[] = process.argv.slice(2),
): ReturnType<typeof parseCli<O>> {
  try {
    const parsed = parseCli(cli, argv);
    if (wantsHelp(parsed.values as { help?: boolean })) {
      process.stdout.write(cli.usage.endsWith("\n") ? cli.usage : `${cli.usage}\n`);
      process.exit(0);
    }
    return parsed;
  } catch (error) {
    process.exit(reportError(cli, error));
  }
}

/** Runs a check of a parsed value; a {@link UsageError} it throws ends the process with exit code 2. */
export function checkOrExit<T>(cli: Pick<Cli<ParseArgsOptionsConfig>, "name">, check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (error instanceof UsageError || error instanceof InputError) process.exit(reportError(cli, error));
    throw error;
  }
}

/** {@link runCli} for a script's entry point: sets the process's exit code. */
export async function mainCli<O extends ParseArgsOptionsConfig>(
  cli: Cli<O>,
  body: (parsed: ReturnType<typeof parseCli<O>>) => Promise<number | undefined> | number | undefined,
): Promise<void> {
  process.exitCode = await runCli(cli, body);
}
