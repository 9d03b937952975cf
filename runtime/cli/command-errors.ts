/**
 * The one way the inspection commands fail (docs/adr/0023-the-troupe-cli.md): one line on
 * stderr, `troupe <command>: <what went wrong>`, and exit code 1. A ConnectError shows its code
 * first (`troupe call: not_found: …`), so a script can tell a missing product from a timeout.
 * Bad usage stays a UsageError (exit 2, with the usage), which run-cli.ts reports.
 */
import { ConnectError } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import { UsageError } from "./command.ts";
import type { CommandIo } from "./command-io.ts";

/** A failure the command explains itself: its message is the whole story. */
export class CommandError extends Error {
  override name = "CommandError";
}

/** The one-line text of an error. */
export function errorLine(err: unknown): string {
  const text =
    err instanceof ConnectError
      ? `${codeToString(err.code)}: ${err.rawMessage}`
      : err instanceof Error
        ? err.message
        : String(err);
  return text.replace(/\s*[\r\n]+\s*/g, " ");
}

/** Runs a command's body; a failure becomes one line on stderr and exit code 1. */
export async function reportFailures(
  command: string,
  io: CommandIo,
  body: () => Promise<number>,
): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof UsageError) throw err;
    io.err(`troupe ${command}: ${errorLine(err)}`);
    return 1;
  }
}
