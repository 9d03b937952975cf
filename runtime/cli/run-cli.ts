/**
 * The `troupe` command line: `troupe <command> [options]`. Commands are entries of a table, so
 * `troupe call`, `troupe events` … are one file and one line here each.
 * Exit codes: 0 done, 1 failed, 2 bad usage (unknown command or flag).
 */
import { TROUPE_VERSION } from "../version.ts";
import { type CliCommand, UsageError } from "./command.ts";
import { addCommand } from "./commands/add-command.ts";
import { authCommand } from "./commands/auth-command.ts";
import { buildCommand } from "./commands/build-command.ts";
import { callCommand } from "./commands/call-command.ts";
import { consumersCommand } from "./commands/consumers-command.ts";
import { dashboardCommand } from "./commands/dashboard-command.ts";
import { decodeCommand } from "./commands/decode-command.ts";
import { devCommand } from "./commands/dev-command.ts";
import { dlqCommand } from "./commands/dlq-command.ts";
import { doctorCommand } from "./commands/doctor-command.ts";
import { enqueueCommand } from "./commands/enqueue-command.ts";
import { infoCommand } from "./commands/info-command.ts";
import { lsCommand, servicesCommand } from "./commands/ls-command.ts";
import { newCommand } from "./commands/new-command.ts";
import { publishCommand } from "./commands/publish-command.ts";
import { routesCommand } from "./commands/routes-command.ts";
import { statsCommand } from "./commands/stats-command.ts";
import { streamsCommand } from "./commands/streams-command.ts";
import { tailCommand } from "./commands/tail-command.ts";

export const defaultCommands: readonly CliCommand[] = [
  newCommand,
  addCommand,
  devCommand,
  buildCommand,
  authCommand,
  // Services and calls (docs/adr/0023-the-troupe-cli.md)
  lsCommand,
  infoCommand,
  statsCommand,
  callCommand,
  routesCommand,
  doctorCommand,
  servicesCommand,
  // traffic and JetStream
  tailCommand,
  decodeCommand,
  publishCommand,
  enqueueCommand,
  streamsCommand,
  consumersCommand,
  dlqCommand,
  dashboardCommand,
];

/** The top-level help: every command with its summary. */
export function cliUsage(commands: readonly CliCommand[] = defaultCommands): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    "Usage: troupe <command> [options]",
    "",
    "Commands:",
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "`troupe <command> --help` describes a command; `troupe --version` prints the version.",
    "",
  ].join("\n");
}

/** Where the dispatcher's own messages go (console by default; tests collect them). */
export interface CliOutput {
  out(text: string): void;
  err(text: string): void;
}

const consoleOutput: CliOutput = { out: (text) => console.log(text), err: (text) => console.error(text) };

/** Runs `troupe <args>`; resolves with the exit code. */
export async function runCli(
  args: readonly string[],
  commands: readonly CliCommand[] = defaultCommands,
  io: CliOutput = consoleOutput,
): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined) {
    io.err(cliUsage(commands));
    return 2;
  }
  if (name === "help" || name === "--help" || name === "-h") {
    const command = commands.find((c) => c.name === rest[0]);
    io.out(command?.usage ?? cliUsage(commands));
    return 0;
  }
  if (name === "--version" || name === "-v") {
    io.out(`troupe ${TROUPE_VERSION}`);
    return 0;
  }
  const command = commands.find((c) => c.name === name);
  if (command === undefined) {
    io.err(`troupe: unknown command "${name}"\n\n${cliUsage(commands)}`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.err(`troupe ${command.name}: ${err.message}\n\n${command.usage}`);
    return 2;
  }
}
