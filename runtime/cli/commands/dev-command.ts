/** `troupe dev`: flags → DevOptions → runDev (runtime/cli/dev/run-dev.ts). */
import type { LogLevel } from "../../observability/logger.ts";
import { readEnv } from "../../platform/env.ts";
import { stdoutIsTerminal } from "../../platform/terminal.ts";
import { type CliCommand, parseChoice, parseFlags, parseMs, parsePort, UsageError } from "../command.ts";
import { type ActorRuntime, type DevOptions, defaultDevOptions } from "../dev/dev-options.ts";
import { runDev } from "../dev/run-dev.ts";

const d = defaultDevOptions;

export const devUsage = `Usage: troupe dev [options]

Runs the whole system locally, as troupe.json describes it (every key optional): a nats-server
with JetStream (store in the data folder, reused by the next run), the project's extra services
(troupe.json "services"), and every <actors>/<name>/main.ts as its own process (the gateway
last). Waits until every actor answers $SRV.PING and the gateway /readyz, then prints the URLs and
calls to try, taken from the contracts. Ctrl-C stops everything.

With --watch, an actor is restarted when a file it loads changes: a file of its own folder, or
one it imports from elsewhere (actors/shared, the generated contracts), which restarts every
actor that imports it. The others keep running. An actor that fails to start (a syntax error)
starts again at the next change.

Options:
  --port <n>              gateway port (default ${d.gatewayPort}; a free one when taken)
  --nats-port <n>         nats-server port (default ${d.natsPort}; a free one when taken)
  --service-port <s>=<n>  port of the troupe.json service s (0: a free one); repeatable
  --nats-url <urls>       use this NATS server instead of running one (default: $NATS_URL)
  --data-dir <dir>        where data is kept between runs (default ${d.dataDir})
  --actors-dir <dir>      where the actors are (default: troupe.json "actors", else actors)
  --runtime <name>        run actors on bun, deno or node (default ${d.runtime})
  --log-level <level>     debug, info, warn or error (default ${d.logLevel})
  --json-logs             show actors' JSON log lines as they are
  --no-color              no colours (also with NO_COLOR set, or when stdout is no terminal)
  --ready-timeout-ms <n>  how long startup may take (default ${d.readyTimeoutMs})
  --stop-grace-ms <n>     how long a process may drain before SIGKILL (default ${d.stopGraceMs})
  -w, --watch             restart an actor when a file it loads changes
  --no-auth               no NATS authentication (by default every process gets the credentials
                          its declaration derives, as \`troupe auth generate\` writes them)
  --no-tls                cleartext NATS (by default the server speaks TLS with a local CA)
  -h, --help              this help
`;

/** What the environment says, passed in so that parsing stays a pure function. */
export interface DevEnvironment {
  readonly natsUrl: string | undefined;
  readonly noColor: boolean;
  readonly terminal: boolean;
}

const FLAGS = {
  port: { type: "string" },
  "nats-port": { type: "string" },
  "service-port": { type: "string", multiple: true },
  "nats-url": { type: "string" },
  "data-dir": { type: "string" },
  "actors-dir": { type: "string" },
  runtime: { type: "string" },
  "log-level": { type: "string" },
  "json-logs": { type: "boolean" },
  "no-color": { type: "boolean" },
  "ready-timeout-ms": { type: "string" },
  "stop-grace-ms": { type: "string" },
  watch: { type: "boolean", short: "w" },
  "no-auth": { type: "boolean" },
  "no-tls": { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** The options of `troupe dev <args>`, or "help"; throws UsageError on bad arguments. */
export function parseDevArgs(args: readonly string[], env: DevEnvironment): Partial<DevOptions> | "help" {
  const { values } = parseFlags(args, FLAGS, false);
  if (values.help === true) return "help";
  return {
    gatewayPort: parsePort("port", values.port, d.gatewayPort),
    natsPort: parsePort("nats-port", values["nats-port"], d.natsPort),
    servicePorts: parseServicePorts(values["service-port"] ?? []),
    natsUrl: values["nats-url"] ?? env.natsUrl,
    dataDir: values["data-dir"] ?? d.dataDir,
    actorsDir: values["actors-dir"],
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
    watch: values.watch === true,
    auth: values["no-auth"] !== true,
    tls: values["no-tls"] !== true,
  };
}

/** `--service-port mail=0 --service-port db=5433` → `{ mail: 0, db: 5433 }`. */
function parseServicePorts(values: readonly string[]): Record<string, number> {
  const ports: Record<string, number> = {};
  for (const value of values) {
    const eq = value.indexOf("=");
    if (eq <= 0) throw new UsageError(`--service-port must be <name>=<port>, got "${value}"`);
    ports[value.slice(0, eq)] = parsePort("service-port", value.slice(eq + 1), 0);
  }
  return ports;
}

export const devCommand: CliCommand = {
  name: "dev",
  summary: "run nats-server, the project's services, every actor and the gateway locally",
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
