import { type ParseArgsOptionsConfig, parseArgs } from "node:util";

/** One subcommand of the `troupe` command line (runtime/cli/run-cli.ts lists them). */
export interface CliCommand {
  /** What follows `troupe`: `dev`, `services`. */
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** The full help text (`troupe <name> --help`). */
  readonly usage: string;
  /** Runs the command with the arguments after its name; resolves with the exit code. */
  run(args: readonly string[]): Promise<number>;
}

/** Bad arguments: the CLI prints the message and the command's usage, and exits 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/**
 * The flags and positionals of a command's arguments, by Node's `parseArgs` (strict: an unknown
 * flag is an error); its errors become UsageError. `positionals` false refuses any.
 */
export function parseFlags<const O extends ParseArgsOptionsConfig>(
  args: readonly string[],
  options: O,
  positionals = true,
) {
  try {
    return parseArgs({ args: [...args], options, strict: true, allowPositionals: positionals });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

/** A port number from a flag; 0 means "any free port". */
export function parsePort(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const port = Number(text);
  if (!/^\d+$/.test(text) || !Number.isInteger(port) || port > 65_535) {
    throw new UsageError(`--${flag} must be a port number (0..65535), got "${text}"`);
  }
  return port;
}

/** A positive whole number of milliseconds from a flag. */
export function parseMs(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const ms = Number(text);
  if (!/^\d+$/.test(text) || ms <= 0)
    throw new UsageError(`--${flag} must be a positive number of milliseconds, got "${text}"`);
  return ms;
}

/** One of `choices` from a flag. */
export function parseChoice<T extends string>(
  flag: string,
  text: string | undefined,
  choices: readonly T[],
  fallback: T,
): T {
  if (text === undefined) return fallback;
  if (!(choices as readonly string[]).includes(text)) {
    throw new UsageError(`--${flag} must be one of ${choices.join(", ")}, got "${text}"`);
  }
  return text as T;
}
