/** `troupe dev`: flags → DevOptions → runDev (runtime/cli/dev/run-dev.ts). */
import { parseArgs } from "node:util";
import type { LogLevel } from "../../observability/logger.ts";
import { readEnv } from "../../platform/env.ts";
import { stdoutIsTerminal } from "../../platform/terminal.ts";
import { type CliCommand, parseChoice, parseMs, parsePort, UsageError } from "../command.ts";
import { type ActorRuntime, type DevOptions, defaultDevOptions } from "../dev/dev-options.ts";
import { runDev } from "../dev/run-dev.ts";

const d = defaultDevOptions;

export const devUsage = `Usage: troupe dev [options]

Runs the whole system locally: a nats-server with JetStream (store in the data folder, reused by
the next run), an SMTP sink, and every actors/<name>/main.ts as its own process (the gateway
last). Waits until every actor answers $SRV.PING and the gateway /readyz, then prints the URLs and
commands to try. Ctrl-C stops everything.

Options:
  --port <n>              gateway port (default ${d.gatewayPort}; a free one when taken)
  --nats-port <n>         nats-server port (default ${d.natsPort}; a free one when taken)
  --smtp-port <n>         SMTP sink port (default ${d.smtpPort}; a free one when taken)
  --nats-url <urls>       use this NATS server instead of running one (default: $NATS_URL)
  --data-dir <dir>        where data is kept between runs (default ${d.dataDir})
  --actors-dir <dir>      where the actors are (default ${d.actorsDir})
  --runtime <name>        run actors on bun, deno or node (default ${d.runtime})
  --log-level <level>     debug, info, warn or error (default ${d.logLevel})
  --json-logs             show actors' JSON log lines as they are
  --no-color              no colours (also with NO_COLOR set, or when stdout is no terminal)
  --ready-timeout-ms <n>  how long startup may take (default ${d.readyTimeoutMs})
  --stop-grace-ms <n>     how long a process may drain before SIGKILL (default ${d.stopGraceMs})
  -h, --help              this help
`;

/** What the environment says, passed in so that parsing stays a pure function. */
export interface DevEnvironment {
  readonly natsUrl: string | undefined;
  readonly noColor: boolean;
  readonly terminal: boolean;
}

/** The options of `troupe dev <args>`, or "help"; throws UsageError on bad arguments. */
export function parseDevArgs(args: readonly string[], env: DevEnvironment): Partial<DevOptions> | "help" {
  let values: ReturnType<typeof parse>["values"];
  try {
    values = parse(args).values;
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  if (values.help === true) return "help";
  return {
    gatewayPort: parsePort("port", values.port, d.gatewayPort),
    natsPort: parsePort("nats-port", values["nats-port"], d.natsPort),
    smtpPort: parsePort("smtp-port", values["smtp-port"], d.smtpPort),
    natsUrl: values["nats-url"] ?? env.natsUrl,
    dataDir: values["data-dir"] ?? d.dataDir,
    actorsDir: values["actors-dir"] ?? d.actorsDir,
    runtime: parseChoice<ActorRuntime>("runtime", values.runtime, ["bun", "deno", "node"], d.runtime),
    logLevel: parseChoice<LogLevel>(
      "log-level",
      values["log-level"],
      ["debug", "info", "warn", "error"],
      d.logLevel,
    ),
    jsonLogs: values["json-logs"] === true,
    color: env.terminal && !env.noColor && values["no-color"] !== true,
    readyTimeoutMs: parseMs("ready-timeout-ms", values["ready-timeout-ms"], d.readyTimeoutMs),
    stopGraceMs: parseMs("stop-grace-ms", values["stop-grace-ms"], d.stopGraceMs),
  };
}

function parse(args: readonly string[]) {
  return parseArgs({
    args: [...args],
    strict: true,
    allowPositionals: false,
    options: {
      port: { type: "string" },
      "nats-port": { type: "string" },
      "smtp-port": { type: "string" },
      "nats-url": { type: "string" },
      "data-dir": { type: "string" },
      "actors-dir": { type: "string" },
      runtime: { type: "string" },
      "log-level": { type: "string" },
      "json-logs": { type: "boolean" },
      "no-color": { type: "boolean" },
      "ready-timeout-ms": { type: "string" },
      "stop-grace-ms": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
}

export const devCommand: CliCommand = {
  name: "dev",
  summary: "run nats-server, the SMTP sink, every actor and the gateway locally",
  usage: devUsage,
  async run(args) {
    const parsed = parseDevArgs(args, {
      natsUrl: readEnv("NATS_URL"),
      noColor: readEnv("NO_COLOR") !== undefined,
      terminal: stdoutIsTerminal(),
    });
    if (parsed === "help") {
      console.log(devUsage);
      return 0;
    }
    return runDev(parsed);
  },
};
