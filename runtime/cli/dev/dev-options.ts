import type { LogLevel } from "../../observability/logger.ts";

/** The JavaScript runtime each actor process runs on. */
export type ActorRuntime = "bun" | "deno" | "node";

/** What `troupe dev` runs and where (flags in runtime/cli/commands/dev-command.ts). */
export interface DevOptions {
  /** The project folder: actors are found and data kept relative to it. */
  readonly root: string;
  /** Every `<actorsDir>/<name>/main.ts` runs as one process. */
  readonly actorsDir: string;
  /** nats-server's store, saved mail, the dev JWT keys and the status file; kept between runs. */
  readonly dataDir: string;
  /** The gateway's port (GATEWAY_PORT); a free one when taken. */
  readonly gatewayPort: number;
  /** The nats-server's client port; a free one when taken. Not 4222, where another server may run. */
  readonly natsPort: number;
  /** The SMTP sink's port; a free one when taken. */
  readonly smtpPort: number;
  /** An existing NATS server to use instead of running one (comma-separated URLs). */
  readonly natsUrl: string | undefined;
  readonly runtime: ActorRuntime;
  /** TROUPE_LOG_LEVEL of every actor. */
  readonly logLevel: LogLevel;
  /** Show actors' JSON log lines as they are instead of `time level msg key=value`. */
  readonly jsonLogs: boolean;
  /** Colour the prefixes (only sensible on a terminal). */
  readonly color: boolean;
  /** How long startup may take until everything is discoverable and the gateway ready. */
  readonly readyTimeoutMs: number;
  /** How long a process may take to drain after SIGTERM before it is SIGKILLed. */
  readonly stopGraceMs: number;
}

export const defaultDevOptions: DevOptions = {
  root: ".",
  actorsDir: "actors",
  dataDir: ".troupe/dev",
  gatewayPort: 8080,
  natsPort: 4333,
  smtpPort: 2525,
  natsUrl: undefined,
  runtime: "bun",
  logLevel: "info",
  jsonLogs: false,
  color: false,
  readyTimeoutMs: 60_000,
  stopGraceMs: 15_000,
};

export function resolveDevOptions(partial: Partial<DevOptions>): DevOptions {
  const options: DevOptions = { ...defaultDevOptions, ...partial };
  for (const key of ["gatewayPort", "natsPort", "smtpPort"] as const) {
    const port = options[key];
    if (!Number.isInteger(port) || port < 0 || port > 65_535) {
      throw new RangeError(`${key} must be a port number in 0..65535, got ${port}`);
    }
  }
  for (const key of ["readyTimeoutMs", "stopGraceMs"] as const) {
    if (!Number.isFinite(options[key]) || options[key] <= 0) {
      throw new RangeError(`${key} must be a positive number of milliseconds, got ${options[key]}`);
    }
  }
  return options;
}
